//! The registry's signature policy (issue 13, section 3): for repository
//! patterns (`acme/agent`, `acme/*`, `*`), the public keys the registry
//! trusts and whether a pull needs a signature by one of them.
//!
//! Policies come from two places: the TOML configuration (fixed while the
//! server runs) and the policy file `<data-dir>/signature-policies.json`,
//! which `sentinel-registry policy ...` and the management API change while
//! the server runs (atomic replace under a lock, like the users file).
//! [`Policies`] is the set in force: exactly one policy covers a repository,
//! the most specific one ([`RepositoryPattern`] says how they rank).
//!
//! Nothing here verifies a signature; the registry does that with
//! `sentinel-signature` against the keys [`Policies::covering`] names.

mod file;
mod pattern;
mod policies;

pub use file::PolicyFile;
pub use pattern::{PatternError, RepositoryPattern};
pub use policies::{Policies, PolicySource, SignaturePolicy};

use std::path::PathBuf;

/// Why a policy could not be read, changed or stored.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A repository pattern is malformed.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A trusted key is not an ed25519 public key in SPKI PEM.
    #[error("{what}: not a usable public key: {source}")]
    Key {
        /// Which key (a file name or the policy's pattern).
        what: String,
        /// What the key parser said.
        source: sentinel_signature::KeyError,
    },
    /// A policy that requires signatures names no key, so nothing could
    /// ever be pulled from its repositories.
    #[error("{0}: a policy that requires signatures needs at least one trusted key")]
    NoKeys(String),
    /// No policy has this pattern.
    #[error("no signature policy for {0}")]
    Unknown(String),
    /// The pattern's policy is set in the configuration file, which wins;
    /// change it there.
    #[error(
        "the signature policy for {0} is set in the configuration file: change it there (it wins over the policy file)"
    )]
    Configured(String),
    /// The policy file could not be read or written.
    #[error("cannot use the policy file {path}")]
    Store {
        /// The file (or its lock or directory).
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The policy file is not a policy file this build reads.
    #[error("corrupt policy file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads a public key (SPKI PEM) from `path`.
pub fn read_key_file(path: &std::path::Path) -> Result<sentinel_signature::PublicKey, TrustError> {
    let text = std::fs::read_to_string(path).map_err(|source| TrustError::Store {
        path: path.to_path_buf(),
        source,
    })?;
    sentinel_signature::PublicKey::from_pem(&text).map_err(|source| TrustError::Key {
        what: path.display().to_string(),
        source,
    })
}
