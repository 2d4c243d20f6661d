//! The exclusive lock on `<root>/.lock` that serialises every change to
//! `index.json` and every garbage collection, across threads and processes.

use std::fs::File;

use crate::error::{IoContext, LayoutError};
use crate::paths::LayoutPaths;

/// Holds the store lock until dropped.
///
/// Each guard opens the lock file anew, so two guards in one process exclude
/// each other as two processes do.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Blocks until this caller holds the lock.
    pub(crate) fn acquire(paths: &LayoutPaths) -> Result<Self, LayoutError> {
        let path = paths.lock();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at("open lock file", &path)?;
        file.lock().at("lock", &path)?;
        // Closing the file releases the lock.
        Ok(StoreLock { _file: file })
    }
}
