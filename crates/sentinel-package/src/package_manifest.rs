//! `sentinel.manifest.json`: the package's metadata and the inventory of its files.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::FORMAT_VERSION;
use crate::definition::{Definition, is_valid_package_name};
use crate::error::PackageError;
use crate::kind::PackageKind;
use crate::limits::UnpackLimits;
use crate::paths::{PACKAGE_MANIFEST_NAME, check_entry_path};
use crate::source::MAX_DEFINITION_BYTES;

/// The largest `sentinel.manifest.json` read, in bytes.
pub(crate) const MAX_PACKAGE_MANIFEST_BYTES: u64 = 32 * 1024 * 1024;

/// The contents of `sentinel.manifest.json`, the first entry of every package.
///
/// Serialised as compact JSON with the keys in the order of the fields below; optional
/// metadata is left out when absent or empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackageManifest {
    /// The format version, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The package kind.
    pub kind: PackageKind,
    /// The package name, as in the definition.
    pub name: String,
    /// The package version, as in the definition.
    pub version: String,
    /// The description, as in the definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The author, as in the definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The license, as in the definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The source URL, as in the definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The capabilities (agents only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// The tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The definition file's path: `agent.yaml` or `stack.yaml`.
    pub definition: String,
    /// Every regular file of the package except this manifest, sorted by path.
    pub files: Vec<FileEntry>,
}

/// One file of the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The `/`-separated path relative to the package root.
    pub path: String,
    /// The size in bytes.
    pub size: u64,
    /// The SHA-256 of the content: 64 lowercase hex digits, no prefix.
    pub sha256: String,
}

impl PackageManifest {
    /// The manifest for `definition` with the inventory `files` (already sorted by path).
    pub(crate) fn new(definition: &Definition, files: Vec<FileEntry>) -> Self {
        PackageManifest {
            format_version: FORMAT_VERSION,
            kind: definition.kind(),
            name: definition.name().to_owned(),
            version: definition.version().to_string(),
            description: definition.description().map(str::to_owned),
            author: definition.author().map(str::to_owned),
            license: definition.license().map(str::to_owned),
            source: definition.source().map(str::to_owned),
            capabilities: definition.capabilities().to_vec(),
            tags: definition.tags().to_vec(),
            definition: definition.kind().definition_file().to_owned(),
            files,
        }
    }

    /// The inventory entry for `path`.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files
            .binary_search_by(|entry| entry.path.as_str().cmp(path))
            .ok()
            .map(|index| &self.files[index])
    }

    /// Parses and checks a manifest read from a package of `kind`, against `limits`.
    pub(crate) fn from_json(
        bytes: &[u8],
        kind: PackageKind,
        limits: &UnpackLimits,
    ) -> Result<Self, PackageError> {
        let manifest: PackageManifest =
            serde_json::from_slice(bytes).map_err(|error| invalid(error.to_string()))?;
        manifest.check(kind, limits)?;
        Ok(manifest)
    }

    fn check(&self, kind: PackageKind, limits: &UnpackLimits) -> Result<(), PackageError> {
        if self.format_version != FORMAT_VERSION {
            return Err(PackageError::UnsupportedFormatVersion {
                version: self.format_version,
            });
        }
        if self.kind != kind {
            return Err(invalid(format!(
                "it says kind {:?}, but the file starts with the {} magic",
                self.kind.as_str(),
                kind.as_str()
            )));
        }
        if self.definition != kind.definition_file() {
            return Err(invalid(format!(
                "the definition of a {kind} package is {}, not {:?}",
                kind.definition_file(),
                self.definition
            )));
        }
        if !is_valid_package_name(&self.name) {
            return Err(invalid(format!(
                "{:?} is not a valid package name",
                self.name
            )));
        }
        if semver::Version::parse(&self.version).is_err() {
            return Err(invalid(format!(
                "{:?} is not a semantic version",
                self.version
            )));
        }
        self.check_inventory(limits)
    }

    fn check_inventory(&self, limits: &UnpackLimits) -> Result<(), PackageError> {
        if self.files.len() as u64 > limits.max_entries {
            return Err(PackageError::EntryLimit {
                limit: limits.max_entries,
            });
        }
        let mut total: u64 = 0;
        for (index, entry) in self.files.iter().enumerate() {
            check_entry_path(&entry.path).map_err(|reason| PackageError::UnsafePath {
                path: entry.path.clone(),
                reason,
            })?;
            if entry.path == PACKAGE_MANIFEST_NAME {
                return Err(invalid("it lists itself".to_owned()));
            }
            if let Some(previous) = index.checked_sub(1).map(|i| &self.files[i]) {
                if previous.path == entry.path {
                    return Err(PackageError::DuplicateEntry {
                        path: entry.path.clone(),
                    });
                }
                if previous.path > entry.path {
                    return Err(invalid(format!(
                        "the files are not sorted by path: {:?} comes before {:?}",
                        previous.path, entry.path
                    )));
                }
            }
            let hex_ok = entry.sha256.len() == 64
                && entry
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex_ok {
                return Err(invalid(format!(
                    "the sha256 of {:?} is not 64 lowercase hex digits",
                    entry.path
                )));
            }
            if entry.size > limits.max_file_bytes {
                return Err(PackageError::FileSizeLimit {
                    path: entry.path.clone(),
                    size: entry.size,
                    limit: limits.max_file_bytes,
                });
            }
            total = total.saturating_add(entry.size);
            if total > limits.max_total_bytes {
                return Err(PackageError::TotalSizeLimit {
                    limit: limits.max_total_bytes,
                });
            }
        }
        match self.file(&self.definition) {
            None => {
                return Err(invalid(format!(
                    "it does not list the definition {}",
                    self.definition
                )));
            }
            Some(entry) if entry.size > MAX_DEFINITION_BYTES => {
                return Err(invalid(format!(
                    "the definition is {} bytes; the limit is {MAX_DEFINITION_BYTES}",
                    entry.size
                )));
            }
            Some(_) => {}
        }
        let paths: BTreeSet<&str> = self.files.iter().map(|entry| entry.path.as_str()).collect();
        for entry in &self.files {
            let mut ancestor = entry.path.as_str();
            while let Some((parent, _)) = ancestor.rsplit_once('/') {
                if paths.contains(parent) {
                    return Err(invalid(format!(
                        "{parent:?} is listed as a file but is also the directory of {:?}",
                        entry.path
                    )));
                }
                ancestor = parent;
            }
        }
        Ok(())
    }

    /// The `n`-th of the archive's entries after the manifest, in their order: the
    /// definition, then every other file by path. In O(log files), as it is asked for every
    /// entry of an archive.
    pub(crate) fn entry_at(&self, n: usize) -> Option<&FileEntry> {
        let Ok(definition) = self
            .files
            .binary_search_by(|entry| entry.path.as_str().cmp(&self.definition))
        else {
            // No definition listed (refused when the manifest is read): files by path.
            return self.files.get(n);
        };
        match n {
            0 => self.files.get(definition),
            n if n <= definition => self.files.get(n - 1),
            n => self.files.get(n),
        }
    }
}

fn invalid(reason: String) -> PackageError {
    PackageError::InvalidPackageManifest { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> FileEntry {
        FileEntry {
            path: path.to_owned(),
            size: 0,
            sha256: "0".repeat(64),
        }
    }

    #[test]
    fn entries_come_definition_first_then_by_path() {
        let manifest = PackageManifest {
            format_version: FORMAT_VERSION,
            kind: PackageKind::Agent,
            name: "a".to_owned(),
            version: "1.0.0".to_owned(),
            description: None,
            author: None,
            license: None,
            source: None,
            capabilities: Vec::new(),
            tags: Vec::new(),
            definition: "agent.yaml".to_owned(),
            files: ["README.md", "agent.yaml", "src/main.py", "zz"]
                .map(entry)
                .to_vec(),
        };
        let order: Vec<&str> = (0..5)
            .map_while(|n| manifest.entry_at(n))
            .map(|entry| entry.path.as_str())
            .collect();
        assert_eq!(order, ["agent.yaml", "README.md", "src/main.py", "zz"]);
        assert!(manifest.entry_at(4).is_none());
    }
}
