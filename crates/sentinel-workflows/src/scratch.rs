//! Files in the local store's scratch area.

use std::path::{Path, PathBuf};

use sentinel_layout::LayoutStore;

/// A fresh path in the store's scratch area, removed when dropped (success
/// moves the file into the store first, so the removal then finds nothing).
pub(crate) struct ScratchFile(PathBuf);

impl ScratchFile {
    /// A new scratch path in `store`.
    pub fn new(store: &LayoutStore) -> ScratchFile {
        ScratchFile(store.ingest_path())
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
