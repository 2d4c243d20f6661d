//! Owner-only files on disk: a private directory, an exclusive lock file and
//! atomic replacement of a file's content.

use std::fs;
use std::path::Path;

pub(crate) use sentinel_durable::parent_dir;
use sentinel_durable::{FileLock, FileMode, Step, TempPath, replace_file, unique_temp_path};

use crate::error::CredentialError;

/// Mode of directories this crate creates (Unix).
#[cfg(unix)]
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each with mode 0700 on Unix. An
/// existing directory is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CredentialError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder
        .create(dir)
        .map_err(|source| CredentialError::WriteFile {
            path: dir.to_owned(),
            source,
        })
}

/// Opens (creating it owner-only if needed) `path` and blocks until this
/// process holds an exclusive lock on it, released when the lock is dropped.
pub(crate) fn lock_exclusive(path: &Path) -> Result<FileLock, CredentialError> {
    FileLock::acquire(path, FileMode::OwnerOnly).map_err(|error| CredentialError::Lock {
        path: path.to_owned(),
        source: error.source,
    })
}

/// Replaces the content of `path` with `bytes` atomically: a temporary file in
/// the same directory, owner-only from its creation, is written, flushed to
/// disk and renamed over `path`, and the directory is flushed. Readers see the
/// old content or the new, never a mix.
///
/// If the file being replaced was accessible to other users, a warning is
/// logged; the replacement is owner-only.
pub(crate) fn replace_private_file(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    let dir = parent_dir(path);
    warn_if_shared(path);
    let temp = TempPath::new(unique_temp_path(dir, ".credentials.", ".tmp"));
    replace_file(temp, path, bytes, FileMode::OwnerOnly).map_err(|error| {
        // Every step but the directory sync is reported against the file.
        let path = match error.step {
            Step::SyncDir => error.path,
            _ => path.to_owned(),
        };
        CredentialError::WriteFile {
            path,
            source: error.source,
        }
    })
}

/// Logs a warning when an existing file grants any access to group or others.
#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "credentials file was accessible to other users; its mode is now 600"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}
