//! The only file modes the format knows: 0644 and 0755. Everything platform-specific about
//! permissions lives here; on platforms without Unix modes the exec bit is not recorded.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// Whether a file has any execute bit set.
#[cfg(unix)]
pub(crate) fn is_executable(metadata: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

/// Whether a file has any execute bit set (never, where there are no Unix modes).
#[cfg(not(unix))]
pub(crate) fn is_executable(_metadata: &Metadata) -> bool {
    false
}

/// The tar mode of a file: 0755 when executable, 0644 otherwise.
pub(crate) fn tar_mode(executable: bool) -> u32 {
    if executable { 0o755 } else { 0o644 }
}

/// Creates a new file (never replacing one) with mode 0644 or 0755, less the umask.
pub(crate) fn create_new_file(path: &Path, executable: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(tar_mode(executable));
    }
    #[cfg(not(unix))]
    let _ = executable;
    options.open(path)
}

/// Creates `path` and its missing parents with mode 0755, less the umask.
pub(crate) fn create_dirs(path: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o755);
    }
    builder.create(path)
}

/// Gives a directory mode 0755 (temporary directories are created 0700).
pub(crate) fn make_dir_public(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Gives a file mode 0644 (temporary files are created 0600).
pub(crate) fn make_file_public(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// What a non-regular, non-directory, non-link file is, for messages.
#[cfg(unix)]
pub(crate) fn special_kind(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_socket() {
        "socket"
    } else if file_type.is_fifo() {
        "FIFO (named pipe)"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// What a non-regular, non-directory, non-link file is, for messages.
#[cfg(not(unix))]
pub(crate) fn special_kind(_file_type: &fs::FileType) -> &'static str {
    "special file"
}
