//! The registry's lifecycle rules (issue 15, section 3): what it keeps,
//! what it never moves, and how much each namespace may store.
//!
//! - [`RetentionPolicy`]: for a repository pattern, which package versions
//!   to keep (the last N, those pushed in the last D days, those matching a
//!   semver requirement, and what a kept stack references or a trusted key
//!   signed); the registry deletes the rest when retention runs.
//! - [`ImmutabilityRule`]: for a repository pattern, tag patterns
//!   (`release-*`, `v*`) whose tags, once they name a manifest, are never
//!   moved or deleted.
//! - [`Quota`]: the bytes of distinct blobs a namespace (the first
//!   component of a repository name: a user or an organisation) may hold.
//!
//! Rules come from the TOML configuration (fixed while the server runs) and
//! from `<data-dir>/lifecycle-policies.json` ([`LifecycleFile`]), which
//! `sentinel-registry policy ...` and the management API change while the
//! server runs; [`Lifecycle`] is the set in force, where the
//! configuration's rule wins for a pattern or namespace both name. Patterns
//! are the signature policies' ([`RepositoryPattern`]): for one
//! repository, the most specific rule applies alone.

mod file;
mod rules;

pub use file::LifecycleFile;
pub use rules::{
    ImmutabilityRule, Lifecycle, Quota, RetentionPolicy, RuleSource, Rules, TagPattern,
    human_bytes, namespace_of, parse_size,
};
pub use sentinel_trust::{PatternError, RepositoryPattern};

use std::path::PathBuf;

/// Why a rule could not be read, changed or stored.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A repository pattern is malformed.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A rule is malformed (a tag pattern, a namespace, a policy keeping nothing).
    #[error("{0}")]
    Invalid(String),
    /// No rule has this pattern or namespace.
    #[error("no {kind} for {key}")]
    Unknown {
        /// Which kind of rule.
        kind: &'static str,
        /// The pattern or namespace asked for.
        key: String,
    },
    /// The rule is set in the configuration file, which wins; change it there.
    #[error(
        "the {kind} for {key} is set in the configuration file: change it there (it wins over the policy file)"
    )]
    Configured {
        /// Which kind of rule.
        kind: &'static str,
        /// Its pattern or namespace.
        key: String,
    },
    /// The file could not be read or written.
    #[error("cannot use the lifecycle policy file {path}")]
    Store {
        /// The file (or its lock or directory).
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not one this build reads.
    #[error("corrupt lifecycle policy file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}
