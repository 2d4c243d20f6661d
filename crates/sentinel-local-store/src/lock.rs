//! The exclusive lock on `<root>/.lock` that serialises every change to
//! `index.json` and every garbage collection, across threads and processes.

use sentinel_durable::{FileLock, FileMode};

use crate::error::LocalStoreError;
use crate::paths::LayoutPaths;

/// Holds the store lock until dropped.
///
/// Each guard opens the lock file anew, so two guards in one process exclude
/// each other as two processes do.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _lock: FileLock,
}

impl StoreLock {
    /// Blocks until this caller holds the lock.
    pub(crate) fn acquire(paths: &LayoutPaths) -> Result<Self, LocalStoreError> {
        let lock = FileLock::acquire(&paths.lock(), FileMode::Default)?;
        // Closing the file releases the lock.
        Ok(StoreLock { _lock: lock })
    }
}
