//! Which step of a durable write failed, and on which path.

use std::io;
use std::path::PathBuf;

/// A step of a durable write or of taking a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the temporary file.
    Create,
    /// Writing the content to the temporary file.
    Write,
    /// Flushing the temporary file to disk.
    Sync,
    /// Renaming the temporary file over the target.
    Rename,
    /// Flushing the target's directory to disk.
    SyncDir,
    /// Opening (or creating) a lock file.
    Open,
    /// Waiting for the lock on an open lock file.
    Lock,
}

impl Step {
    /// The step as a verb phrase completing "could not ...", e.g. "rename into place".
    pub fn action(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Write => "write",
            Step::Sync => "sync",
            Step::Rename => "rename into place",
            Step::SyncDir => "sync directory",
            Step::Open => "open lock file",
            Step::Lock => "lock",
        }
    }
}

/// Why a durable file operation failed: the step, the path it acted on and the I/O error.
#[derive(Debug, thiserror::Error)]
#[error("could not {} {}: {source}", step.action(), path.display())]
pub struct DurableError {
    /// The step that failed.
    pub step: Step,
    /// The file or directory the step acted on: the temporary file for
    /// [`Step::Create`], [`Step::Write`] and [`Step::Sync`], the target for
    /// [`Step::Rename`], the directory for [`Step::SyncDir`], the lock file
    /// for [`Step::Open`] and [`Step::Lock`].
    pub path: PathBuf,
    /// The underlying failure.
    #[source]
    pub source: io::Error,
}

/// Attaches a step and a path to an I/O result.
pub(crate) trait AtStep<T> {
    /// Turns an I/O error into a [`DurableError`] of `step` on `path`.
    fn at(self, step: Step, path: &std::path::Path) -> Result<T, DurableError>;
}

impl<T> AtStep<T> for io::Result<T> {
    fn at(self, step: Step, path: &std::path::Path) -> Result<T, DurableError> {
        self.map_err(|source| DurableError {
            step,
            path: path.to_owned(),
            source,
        })
    }
}
