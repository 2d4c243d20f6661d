//! Moving a temporary file into place, and replacing a file's content atomically.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{AtStep, DurableError, Step};
use crate::temp::TempPath;
use crate::{parent_dir, sync_dir};

/// Who may read a file this crate creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// The platform's default (the process umask decides).
    Default,
    /// The owner only: mode 0600 on Unix, from the moment the file exists.
    OwnerOnly,
}

impl FileMode {
    /// Sets this mode on files `options` creates.
    pub(crate) fn apply(self, options: &mut OpenOptions) {
        #[cfg(unix)]
        if self == FileMode::OwnerOnly {
            std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
        }
        #[cfg(not(unix))]
        let _ = options;
    }
}

/// Renames `temp` to `target` and makes the rename durable by syncing
/// `target`'s directory.
pub fn rename_durably(temp: TempPath, target: &Path) -> Result<(), DurableError> {
    fs::rename(temp.path(), target).at(Step::Rename, target)?;
    temp.keep();
    let dir = parent_dir(target);
    sync_dir(dir).at(Step::SyncDir, dir)
}

/// Replaces `target` with `bytes` atomically: a reader sees either the old or
/// the new content, never a mix, and after a crash one of the two survives.
///
/// The content is written to `temp` (created new, with `mode`), flushed to
/// disk, renamed over `target`, and the directory is flushed. `temp` must be
/// on the same file system as `target`; on failure it is removed.
pub fn replace_file(
    temp: TempPath,
    target: &Path,
    bytes: &[u8],
    mode: FileMode,
) -> Result<(), DurableError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    mode.apply(&mut options);
    let mut file = options.open(temp.path()).at(Step::Create, temp.path())?;
    file.write_all(bytes).at(Step::Write, temp.path())?;
    file.sync_all().at(Step::Sync, temp.path())?;
    drop(file);
    rename_durably(temp, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileLock, unique_temp_path};

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.json");
        fs::write(&target, b"old").unwrap();
        let temp = TempPath::new(unique_temp_path(dir.path(), ".state.", ".tmp"));
        replace_file(temp, &target, b"new", FileMode::OwnerOnly).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_failed_replacement_names_its_step_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing").join("state.json");
        let temp = TempPath::new(dir.path().join("state.tmp"));
        let error = replace_file(temp, &target, b"x", FileMode::Default).unwrap_err();
        assert_eq!(error.step, Step::Rename);
        assert_eq!(error.path, target);
        assert!(error.to_string().starts_with("could not rename into place"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_lock_file_is_created_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let lock = FileLock::acquire(&path, FileMode::Default).unwrap();
        drop(lock);
        let _again = FileLock::acquire(&path, FileMode::OwnerOnly).unwrap();
        assert!(path.exists());
        assert_eq!(parent_dir(Path::new("bare")), Path::new("."));
    }
}
