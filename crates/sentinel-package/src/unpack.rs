//! Unpacking a package into a directory: extract into a hidden temporary directory beside
//! the target, verify everything, then rename it into place.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::definition::Definition;
use crate::error::PackageError;
use crate::fsmode;
use crate::kind::PackageKind;
use crate::limits::UnpackOptions;
use crate::read::{FileSink, read_stream};

/// What [`unpack`] extracted.
#[derive(Clone, Debug)]
pub struct UnpackSummary {
    /// The package kind.
    pub kind: PackageKind,
    /// The validated definition.
    pub definition: Definition,
    /// The number of files written.
    pub files: usize,
    /// The number of file bytes written.
    pub bytes: u64,
}

/// Unpacks the package read from `reader` into `target`, which must not exist or be an empty
/// directory.
///
/// Files go into a fresh hidden directory created next to `target` and are checked against
/// the inventory (sizes, hashes, order, limits) while they stream; only a package that passes
/// every check is renamed into place. On any failure or cancellation the temporary directory
/// is removed and `target` is left as it was. Files get mode 0644, or 0755 when the archive
/// marks them executable; directories get 0755.
pub fn unpack(
    reader: impl Read,
    target: &Path,
    options: &UnpackOptions,
) -> Result<UnpackSummary, PackageError> {
    let target_was_empty_dir = check_target(target)?;
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".sntl-unpack-")
        .tempdir_in(parent)
        .map_err(PackageError::io("create a temporary directory in", parent))?;
    let mut sink = DirectorySink {
        root: temp.path().to_path_buf(),
        current: None,
    };
    let (contents, totals) = read_stream(reader, options, Some(&mut sink))?;
    fsmode::make_dir_public(temp.path())
        .map_err(PackageError::io("set permissions on", temp.path()))?;
    if options.is_cancelled() {
        return Err(PackageError::Cancelled);
    }
    if target_was_empty_dir {
        fs::remove_dir(target).map_err(|_| PackageError::TargetNotEmpty {
            path: target.to_path_buf(),
        })?;
    }
    let extracted = temp.keep();
    if let Err(error) = fs::rename(&extracted, target) {
        let _ = fs::remove_dir_all(&extracted);
        return Err(PackageError::io("move the unpacked package to", target)(
            error,
        ));
    }
    Ok(UnpackSummary {
        kind: contents.kind,
        definition: contents.definition,
        files: totals.files,
        bytes: totals.bytes,
    })
}

/// `Ok(false)` when `target` does not exist, `Ok(true)` when it is an empty directory.
fn check_target(target: &Path) -> Result<bool, PackageError> {
    match fs::symlink_metadata(target) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(PackageError::io("inspect", target)(error)),
        Ok(metadata) if metadata.is_dir() => {
            let mut entries =
                fs::read_dir(target).map_err(PackageError::io("read the directory", target))?;
            if entries.next().is_some() {
                Err(PackageError::TargetNotEmpty {
                    path: target.to_path_buf(),
                })
            } else {
                Ok(true)
            }
        }
        Ok(_) => Err(PackageError::TargetNotDirectory {
            path: target.to_path_buf(),
        }),
    }
}

/// Writes extracted files under a root directory that only this process has written to.
struct DirectorySink {
    root: PathBuf,
    current: Option<(PathBuf, BufWriter<File>)>,
}

impl DirectorySink {
    /// `root` joined with the entry path, component by component, refusing anything but
    /// plain names (the reader has already refused them; this keeps the sink safe alone).
    fn destination(&self, path: &str) -> Result<PathBuf, PackageError> {
        let mut destination = self.root.clone();
        for component in path.split('/') {
            let mut parts = Path::new(component).components();
            match (parts.next(), parts.next()) {
                (Some(Component::Normal(name)), None) if name == component => {
                    destination.push(name)
                }
                _ => {
                    return Err(PackageError::UnsafePath {
                        path: path.to_owned(),
                        reason: "it has a component that is not a plain name on this platform",
                    });
                }
            }
        }
        Ok(destination)
    }
}

impl FileSink for DirectorySink {
    fn begin(&mut self, path: &str, executable: bool) -> Result<(), PackageError> {
        let destination = self.destination(path)?;
        if let Some(parent) = destination.parent() {
            fsmode::create_dirs(parent)
                .map_err(PackageError::io("create the directory", parent))?;
        }
        let file = fsmode::create_new_file(&destination, executable)
            .map_err(PackageError::io("create", &destination))?;
        self.current = Some((destination, BufWriter::with_capacity(64 * 1024, file)));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), PackageError> {
        if let Some((path, writer)) = &mut self.current {
            writer
                .write_all(bytes)
                .map_err(PackageError::io("write", &*path))?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), PackageError> {
        if let Some((path, mut writer)) = self.current.take() {
            writer.flush().map_err(PackageError::io("write", &path))?;
        }
        Ok(())
    }
}
