//! Owner-only files on disk: a private directory, an exclusive lock file and
//! atomic replacement of a file's content.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::CredentialError;

/// Mode of directories this crate creates (Unix).
#[cfg(unix)]
const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of files this crate creates (Unix).
#[cfg(unix)]
const PRIVATE_FILE_MODE: u32 = 0o600;

/// The directory holding `path`, `.` for a bare file name.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

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

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub(crate) struct ExclusiveLock {
    _file: File,
}

/// Opens (creating it owner-only if needed) `path` and blocks until this
/// process holds an exclusive lock on it. Closing the file releases it.
pub(crate) fn lock_exclusive(path: &Path) -> Result<ExclusiveLock, CredentialError> {
    let lock_error = |source| CredentialError::Lock {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    let file = options.open(path).map_err(lock_error)?;
    file.lock().map_err(lock_error)?;
    Ok(ExclusiveLock { _file: file })
}

/// Replaces the content of `path` with `bytes` atomically: a temporary file in
/// the same directory, owner-only from its creation, is written, flushed to
/// disk and renamed over `path`, and the directory is flushed. Readers see the
/// old content or the new, never a mix.
///
/// If the file being replaced was accessible to other users, a warning is
/// logged; the replacement is owner-only.
pub(crate) fn replace_private_file(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    let write_error = |source| CredentialError::WriteFile {
        path: path.to_owned(),
        source,
    };
    let dir = parent_dir(path);
    warn_if_shared(path);

    let mut builder = tempfile::Builder::new();
    builder.prefix(".credentials.").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(
        PRIVATE_FILE_MODE,
    ));
    let mut temporary = builder.tempfile_in(dir).map_err(write_error)?;
    temporary.write_all(bytes).map_err(write_error)?;
    temporary.as_file().sync_all().map_err(write_error)?;
    temporary
        .persist(path)
        .map_err(|error| write_error(error.error))?;
    sync_dir(dir).map_err(|source| CredentialError::WriteFile {
        path: dir.to_owned(),
        source,
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

/// Flushes a directory entry change (the rename) to disk.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for flushing on this platform; the rename's
/// durability is left to the file system.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
