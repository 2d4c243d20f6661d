//! Temporary files that clean up after themselves.

use std::fs;
use std::path::{Path, PathBuf};

/// A temporary file that is removed when dropped, unless it has been kept.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    keep: bool,
}

impl TempPath {
    /// Takes charge of removing `path`.
    pub fn new(path: PathBuf) -> Self {
        TempPath { path, keep: false }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the file in place: it has been renamed to its final name.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep {
            // Nothing can be reported from a destructor; the caller's own
            // sweep (if any) removes a file left behind.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A path in `dir` named `{prefix}{random}{suffix}`, which no other writer picks.
pub fn unique_temp_path(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{prefix}{}{suffix}", uuid::Uuid::new_v4().simple()))
}
