//! An exclusive lock on a lock file, across threads and processes.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{AtStep, DurableError, Step};
use crate::replace::FileMode;

/// Holds an exclusive lock on a lock file until dropped.
///
/// Each lock opens the file anew, so two locks in one process exclude each
/// other as two processes do. Closing the file releases the lock.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Opens `path` (creating it with `mode` if needed, never truncating it)
    /// and blocks until this caller holds an exclusive lock on it.
    pub fn acquire(path: &Path, mode: FileMode) -> Result<FileLock, DurableError> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        mode.apply(&mut options);
        let file = options.open(path).at(Step::Open, path)?;
        file.lock().at(Step::Lock, path)?;
        Ok(FileLock { _file: file })
    }
}
