//! The one error type of this crate: a human sentence that names the file,
//! registry or helper involved and never contains a secret.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why credentials could not be read, stored or obtained.
///
/// Messages name the file, registry or helper concerned. They never include
/// file contents or a helper's standard output, since either may hold secrets.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A credentials or config file exists but could not be read.
    #[error("could not read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// The agent credentials file (or its directory) could not be written.
    #[error("could not write {}: {source}", path.display())]
    WriteFile {
        /// The file or directory.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// The lock that serialises writers of the credentials file could not be taken.
    #[error("could not lock {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// A file is not JSON of the expected shape. Only the position is reported,
    /// because the parser's own message may quote a secret.
    #[error("{} could not be parsed: {problem} at line {line}, column {column}", path.display())]
    MalformedFile {
        /// The file.
        path: PathBuf,
        /// What kind of problem the parser met, in words.
        problem: &'static str,
        /// The line of the problem, from 1.
        line: usize,
        /// The column of the problem, from 1.
        column: usize,
    },
    /// One registry's entry in a file is present but unusable.
    #[error("the entry for {registry} in {} {reason}", path.display())]
    InvalidEntry {
        /// The file.
        path: PathBuf,
        /// The entry's key as written in the file.
        registry: String,
        /// What is wrong, completing the sentence.
        reason: &'static str,
    },
    /// A registry name reduces to nothing once the scheme and path are removed.
    #[error("{registry:?} does not name a registry host")]
    InvalidRegistry {
        /// The name as given.
        registry: String,
    },
    /// A helper name from a config file could not name a program safely.
    #[error(
        "credential helper name {helper:?} is not valid: it must be non-empty and contain no path separator"
    )]
    InvalidHelperName {
        /// The name as configured.
        helper: String,
    },
    /// No `docker-credential-<name>` executable is on the search path.
    #[error("credential helper {program} was not found on PATH")]
    HelperNotFound {
        /// The program name, `docker-credential-<name>`.
        program: String,
    },
    /// The helper could not be started or talked to.
    #[error("could not run credential helper {program}: {source}")]
    HelperIo {
        /// The program name.
        program: String,
        /// The underlying failure.
        source: io::Error,
    },
    /// The helper exited unsuccessfully for a reason other than "not found".
    #[error(
        "credential helper {program} failed ({status}){}",
        stderr.as_deref().map(|text| format!(": {text}")).unwrap_or_default()
    )]
    HelperFailed {
        /// The program name.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// Its trimmed standard error, when that is safe to show.
        stderr: Option<String>,
    },
    /// The helper did not finish in time and was killed.
    #[error("credential helper {program} did not answer within {} s and was stopped", timeout.as_secs_f64())]
    HelperTimedOut {
        /// The program name.
        program: String,
        /// The time it was allowed.
        timeout: Duration,
    },
    /// The helper succeeded but did not print the expected JSON.
    #[error("credential helper {program} printed something other than JSON credentials")]
    HelperOutput {
        /// The program name.
        program: String,
    },
}

impl CredentialError {
    /// Builds [`CredentialError::MalformedFile`] from a JSON error without
    /// keeping the parser's message, which may quote the file's content.
    pub(crate) fn malformed(path: PathBuf, error: &serde_json::Error) -> Self {
        let problem = match error.classify() {
            serde_json::error::Category::Syntax => "invalid JSON syntax",
            serde_json::error::Category::Eof => "unexpected end of file",
            serde_json::error::Category::Data => "a value of the wrong type",
            serde_json::error::Category::Io => "a read failure",
        };
        CredentialError::MalformedFile {
            path,
            problem,
            line: error.line(),
            column: error.column(),
        }
    }
}
