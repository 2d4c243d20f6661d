//! A package's source directory: finding and parsing its definition, and listing the files
//! that go into the package.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::definition::Definition;
use crate::error::PackageError;
use crate::fsmode;
use crate::ignore::{IGNORE_FILE, IgnoreRules};
use crate::kind::PackageKind;
use crate::paths::{PACKAGE_MANIFEST_NAME, check_entry_path};

/// The largest definition file (`agent.yaml`, `stack.yaml`) accepted, in bytes.
pub const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// A package directory whose definition has been read and validated.
#[derive(Clone, Debug)]
pub struct SourceDir {
    /// The directory, as given.
    pub root: PathBuf,
    /// Which definition file it holds.
    pub kind: PackageKind,
    /// The validated definition.
    pub definition: Definition,
    /// The definition file's exact bytes.
    pub definition_bytes: Vec<u8>,
}

/// Reads and validates the definition of the package directory `dir`, which must hold exactly
/// one of `agent.yaml` and `stack.yaml` (a regular file, not a link).
pub fn load_dir(dir: &Path) -> Result<SourceDir, PackageError> {
    let mut found = Vec::new();
    for kind in PackageKind::ALL {
        let path = dir.join(kind.definition_file());
        match fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(PackageError::Symlink { path });
            }
            Ok(_) => found.push((kind, path)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(PackageError::io("inspect", path)(error)),
        }
    }
    let (kind, path) = match found.len() {
        0 => {
            fs::read_dir(dir).map_err(PackageError::io("read the directory", dir))?;
            return Err(PackageError::NoDefinition {
                dir: dir.to_path_buf(),
            });
        }
        1 => found.remove(0),
        _ => {
            return Err(PackageError::AmbiguousDefinition {
                dir: dir.to_path_buf(),
            });
        }
    };
    let definition_bytes = read_definition(&path)?;
    let definition = Definition::parse(kind, &path.display().to_string(), &definition_bytes)?;
    Ok(SourceDir {
        root: dir.to_path_buf(),
        kind,
        definition,
        definition_bytes,
    })
}

fn read_definition(path: &Path) -> Result<Vec<u8>, PackageError> {
    let file = fs::File::open(path).map_err(PackageError::io("open", path))?;
    let metadata = file.metadata().map_err(PackageError::io("inspect", path))?;
    if !metadata.is_file() {
        return Err(PackageError::UnsupportedName {
            path: path.to_path_buf(),
            reason: "the definition must be a regular file",
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_DEFINITION_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(PackageError::io("read", path))?;
    let size = bytes.len() as u64;
    if size > MAX_DEFINITION_BYTES {
        return Err(PackageError::DefinitionTooLarge {
            path: path.to_path_buf(),
            size: metadata.len().max(size),
            limit: MAX_DEFINITION_BYTES,
        });
    }
    Ok(bytes)
}

/// A regular file that goes into the package.
#[derive(Debug)]
pub(crate) struct SourceFile {
    /// The `/`-separated path relative to the root: the entry path.
    pub(crate) path: String,
    /// Where it is on disk.
    pub(crate) location: PathBuf,
    /// Its size when listed.
    pub(crate) size: u64,
    /// Whether any execute bit is set.
    pub(crate) executable: bool,
}

/// Reads `<root>/.sntlignore` when present.
pub(crate) fn load_ignore_rules(root: &Path) -> Result<IgnoreRules, PackageError> {
    let path = root.join(IGNORE_FILE);
    match fs::symlink_metadata(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(IgnoreRules::default()),
        Err(error) => Err(PackageError::io("inspect", path)(error)),
        Ok(metadata) if !metadata.is_file() => Err(PackageError::UnsupportedName {
            path,
            reason: ".sntlignore must be a regular file",
        }),
        Ok(_) => {
            let text = fs::read_to_string(&path).map_err(PackageError::io("read", &path))?;
            IgnoreRules::parse(&text).map_err(|(line, message)| PackageError::IgnorePattern {
                path,
                line,
                message,
            })
        }
    }
}

/// A package file or a package being written (`NAME.agent.sntl`,
/// `.NAME.agent.sntl.<random>.tmp`): never part of another package.
fn is_package_file(name: &str) -> bool {
    name.ends_with(".sntl")
        || (name.starts_with('.') && name.contains(".sntl.") && name.ends_with(".tmp"))
}

/// Every regular file under `root` that goes into the package, sorted by entry path (byte
/// order). Skips `.git` at any depth, packages (`*.sntl`, e.g. an earlier `agent pack`'s
/// output, and their temporary files), whatever `ignore` matches (the definition file always
/// stays), and the files in `excluded` (absolute paths under the same `root`).
pub(crate) fn list_files(
    root: &Path,
    definition_file: &str,
    ignore: &IgnoreRules,
    excluded: &[PathBuf],
) -> Result<Vec<SourceFile>, PackageError> {
    let mut files = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(PackageError::io("read the directory", &dir))?;
        for entry in entries {
            let entry = entry.map_err(PackageError::io("read the directory", &dir))?;
            let location = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(PackageError::NonUtf8Name { path: location });
            };
            if name == ".git" {
                continue;
            }
            let path = format!("{prefix}{name}");
            let file_type = entry
                .file_type()
                .map_err(PackageError::io("inspect", &location))?;
            let is_definition = path == definition_file;
            if !is_definition && ignore.is_ignored(&path, file_type.is_dir()) {
                continue;
            }
            if file_type.is_file() && is_package_file(&name) {
                continue;
            }
            if file_type.is_dir() {
                pending.push((location, format!("{path}/")));
            } else if file_type.is_symlink() {
                return Err(PackageError::Symlink { path: location });
            } else if file_type.is_file() {
                if excluded.contains(&location) {
                    continue;
                }
                if let Err(reason) = check_entry_path(&path) {
                    return Err(PackageError::UnsupportedName {
                        path: location,
                        reason,
                    });
                }
                if path == PACKAGE_MANIFEST_NAME {
                    return Err(PackageError::UnsupportedName {
                        path: location,
                        reason: "sentinel.manifest.json at the root is reserved for the package inventory",
                    });
                }
                let metadata = entry
                    .metadata()
                    .map_err(PackageError::io("inspect", &location))?;
                files.push(SourceFile {
                    path,
                    location,
                    size: metadata.len(),
                    executable: fsmode::is_executable(&metadata),
                });
            } else {
                return Err(PackageError::SpecialFile {
                    kind: fsmode::special_kind(&file_type),
                    path: location,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
