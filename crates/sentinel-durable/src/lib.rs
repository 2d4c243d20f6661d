//! Durable files, written once for every crate that keeps state on disk.
//!
//! - [`sync_dir`] makes a directory's entries (a rename, a new file) durable,
//!   and [`create_dir_durably`] creates a directory path whose entries are.
//! - [`TempPath`] is a temporary file that removes itself unless kept, and
//!   [`unique_temp_path`] names one that no other writer will pick.
//! - [`rename_durably`] moves a temporary file into place and syncs its
//!   directory; [`replace_file`] writes, syncs and renames in one step, so a
//!   reader sees the old content or the new, never a mix.
//! - [`FileLock`] holds an exclusive lock on a lock file until dropped.
//! - [`VersionedJsonFile`] is a JSON document in a data directory that
//!   processes share: read without a lock, changed under one, replaced
//!   atomically, and its [`FileStamp`] tells when another process changed it.
//!
//! The steps that can fail report which step and which path in a
//! [`DurableError`] (a [`JsonFileError`] for a [`VersionedJsonFile`]), so
//! each caller can word the failure in its own error type.

mod error;
mod json_file;
mod lock;
mod replace;
mod temp;

pub use error::{DurableError, Step};
pub use json_file::{FileStamp, JsonFileError, VersionedJsonFile};
pub use lock::FileLock;
pub use replace::{FileMode, rename_durably, replace_file};
pub use temp::{TempPath, unique_temp_path};

use std::io;
use std::path::Path;

/// The directory holding `path`: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a directory's entries (a rename, a new or removed file) durable.
///
/// On platforms that cannot open a directory as a file this does nothing:
/// the rename is as durable as the file system makes it.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Creates `dir` and any missing parents, durably (each new entry's parent is synced).
pub fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durably(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}
