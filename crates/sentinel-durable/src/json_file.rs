//! A versioned JSON document in a data directory that several processes
//! share: read without a lock (every write is an atomic rename), changed
//! under an exclusive lock on a `.lock` sibling, and noticed by another
//! process through its [`FileStamp`] without being read.

use std::fmt;
use std::fs;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::de::value::{MapAccessDeserializer, StringDeserializer};
use serde::de::{
    DeserializeOwned, DeserializeSeed, IgnoredAny, IntoDeserializer, MapAccess, Visitor,
};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{FileLock, FileMode, TempPath, replace_file, unique_temp_path};

/// The key of the format version in the file's top-level object.
const VERSION_KEY: &str = "version";

/// Why a [`VersionedJsonFile`] could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum JsonFileError {
    /// The file, its lock file or its directory could not be read, locked,
    /// created or written.
    #[error("cannot use {}", path.display())]
    Store {
        /// The file, its lock file, its directory or the temporary file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file is not JSON, not a document of the expected shape, or of a
    /// format version this build does not read.
    #[error("corrupt {}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Identifies one version of a file without reading it: a replacement by
/// another process changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now, or `None` if it does not exist
    /// (or cannot be examined).
    pub fn of(path: &Path) -> Option<FileStamp> {
        let metadata = fs::metadata(path).ok()?;
        Some(FileStamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            inode: inode(&metadata),
        })
    }
}

/// The JSON file `<data-dir>/<name>` holding one document of type `D` as
/// `{"version": <format version>, <D's fields>...}`, and its lock file
/// `<name>.lock`.
///
/// `D` must serialize as a JSON object (a struct or a map); it does not
/// carry the version itself. The file and its lock file are created
/// readable by their owner only, as they may hold secrets. Written as
/// pretty JSON followed by a newline, through a temporary file
/// `.<name>.<random>.tmp` renamed into place.
pub struct VersionedJsonFile<D> {
    directory: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    name: String,
    format_version: u32,
    document: PhantomData<fn() -> D>,
}

impl<D> Clone for VersionedJsonFile<D> {
    fn clone(&self) -> Self {
        VersionedJsonFile {
            directory: self.directory.clone(),
            path: self.path.clone(),
            lock_path: self.lock_path.clone(),
            name: self.name.clone(),
            format_version: self.format_version,
            document: PhantomData,
        }
    }
}

impl<D> fmt::Debug for VersionedJsonFile<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionedJsonFile")
            .field("path", &self.path)
            .field("format_version", &self.format_version)
            .finish_non_exhaustive()
    }
}

impl<D: Serialize + DeserializeOwned> VersionedJsonFile<D> {
    /// The file `name` in `data_dir`, whose documents are of
    /// `format_version`; nothing is read or created yet.
    pub fn new(data_dir: &Path, name: &str, format_version: u32) -> Self {
        VersionedJsonFile {
            directory: data_dir.to_path_buf(),
            path: data_dir.join(name),
            lock_path: data_dir.join(format!("{name}.lock")),
            name: name.to_owned(),
            format_version,
            document: PhantomData,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The document in the file, or `None` if there is no file. Takes no
    /// lock: a writer replaces the file whole, so this reads the old
    /// document or the new one.
    ///
    /// A file whose format version is not this file's is
    /// [`JsonFileError::Corrupt`], whatever the rest of it holds.
    pub fn load(&self) -> Result<Option<D>, JsonFileError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.store_error(&self.path, source)),
        };
        let corrupt = |reason: String| JsonFileError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let probe: VersionProbe =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if probe.version != self.format_version {
            return Err(corrupt(format!(
                "format version {} is not the version {} this build reads",
                probe.version, self.format_version
            )));
        }
        let WithoutVersion(document) =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(document))
    }

    /// Changes the document under the exclusive lock: loads it (a missing
    /// file holds `D::default()`), applies `change` and, if it succeeds,
    /// replaces the file atomically and durably, then returns what `change`
    /// returned. If `change` fails, nothing is written.
    ///
    /// Creates the data directory if it is missing.
    pub fn update<T, E>(&self, change: impl FnOnce(&mut D) -> Result<T, E>) -> Result<T, E>
    where
        D: Default,
        E: From<JsonFileError>,
    {
        fs::create_dir_all(&self.directory)
            .map_err(|source| self.store_error(&self.directory, source))?;
        let _lock = FileLock::acquire(&self.lock_path, FileMode::OwnerOnly)
            .map_err(|error| self.store_error(&error.path, error.source))?;
        let mut document = self.load()?.unwrap_or_default();
        let changed = change(&mut document)?;
        self.write(&document)?;
        Ok(changed)
    }

    /// The file's current stamp, or `None` if it does not exist.
    pub fn stamp(&self) -> Option<FileStamp> {
        FileStamp::of(&self.path)
    }

    fn write(&self, document: &D) -> Result<(), JsonFileError> {
        let versioned = Versioned {
            version: self.format_version,
            document,
        };
        let mut bytes = serde_json::to_vec_pretty(&versioned)
            .map_err(|error| self.store_error(&self.path, io::Error::other(error)))?;
        bytes.push(b'\n');
        let prefix = format!(".{}.", self.name);
        let temp = TempPath::new(unique_temp_path(&self.directory, &prefix, ".tmp"));
        replace_file(temp, &self.path, &bytes, FileMode::OwnerOnly)
            .map_err(|error| self.store_error(&error.path, error.source))
    }

    fn store_error(&self, path: &Path, source: io::Error) -> JsonFileError {
        JsonFileError::Store {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The document as written: the version first, then the document's fields.
#[derive(Serialize)]
struct Versioned<'a, D> {
    version: u32,
    #[serde(flatten)]
    document: &'a D,
}

/// The version of a file, read before its document so that a file of
/// another version is reported as such whatever its shape.
#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

/// A document read from an object whose `version` key is skipped: `D` sees
/// every other key, so its own rules (`deny_unknown_fields`, required
/// fields) and the parser's error positions apply as if it were the file.
struct WithoutVersion<D>(D);

impl<'de, D: Deserialize<'de>> Deserialize<'de> for WithoutVersion<D> {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        deserializer.deserialize_map(WithoutVersionVisitor(PhantomData))
    }
}

/// Hands the object's entries, but `version`, to `D`.
struct WithoutVersionVisitor<D>(PhantomData<D>);

impl<'de, D: Deserialize<'de>> Visitor<'de> for WithoutVersionVisitor<D> {
    type Value = WithoutVersion<D>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        D::deserialize(MapAccessDeserializer::new(SkipVersion(map))).map(WithoutVersion)
    }
}

/// The entries of a map but its `version` entry.
struct SkipVersion<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipVersion<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.0.next_key::<String>()? {
            if key == VERSION_KEY {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            let key: StringDeserializer<A::Error> = key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

#[cfg(unix)]
fn inode(metadata: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    metadata.ino()
}

#[cfg(not(unix))]
fn inode(_metadata: &fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A document like the registry's: a list under one key.
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Names {
        names: Vec<String>,
    }

    fn names_file(dir: &Path) -> VersionedJsonFile<Names> {
        VersionedJsonFile::new(dir, "names.json", 1)
    }

    fn add(file: &VersionedJsonFile<Names>, name: &str) -> Result<usize, JsonFileError> {
        file.update(|document| {
            document.names.push(name.to_owned());
            Ok(document.names.len())
        })
    }

    #[test]
    fn a_missing_file_holds_nothing_and_has_no_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let file = names_file(dir.path());
        assert_eq!(file.path(), dir.path().join("names.json"));
        assert!(file.load().unwrap().is_none());
        assert!(file.stamp().is_none());
    }

    #[test]
    fn a_document_round_trips_in_the_versioned_layout() {
        let dir = tempfile::tempdir().unwrap();
        let file = names_file(dir.path());
        assert_eq!(add(&file, "a").unwrap(), 1);
        assert_eq!(add(&file, "b").unwrap(), 2);
        let expected = Names {
            names: vec!["a".into(), "b".into()],
        };
        assert_eq!(file.load().unwrap(), Some(expected));
        assert_eq!(
            fs::read_to_string(file.path()).unwrap(),
            "{\n  \"version\": 1,\n  \"names\": [\n    \"a\",\n    \"b\"\n  ]\n}\n"
        );
        let mut entries: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        entries.sort();
        assert_eq!(entries, ["names.json", "names.json.lock"]);
    }

    #[test]
    fn a_failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = names_file(dir.path());
        add(&file, "a").unwrap();
        let stamp = file.stamp();
        let refused: Result<(), JsonFileError> = file.update(|document| {
            document.names.clear();
            Err(JsonFileError::Corrupt {
                path: PathBuf::new(),
                reason: "refused".into(),
            })
        });
        assert!(refused.is_err());
        assert_eq!(file.load().unwrap().unwrap().names, ["a"]);
        assert_eq!(file.stamp(), stamp);
    }

    #[test]
    fn another_format_version_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let file = names_file(dir.path());
        fs::write(file.path(), "{\"version\": 9, \"other\": true}").unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, JsonFileError::Corrupt { .. }), "{error}");
        assert!(
            error
                .to_string()
                .ends_with("format version 9 is not the version 1 this build reads"),
            "{error}"
        );
        assert!(add(&file, "a").is_err());
    }

    #[test]
    fn the_document_keeps_its_own_rules() {
        let dir = tempfile::tempdir().unwrap();
        let file = names_file(dir.path());
        for (content, reason) in [
            ("not json", "expected ident at line 1 column 2"),
            (
                "{\"names\": []}",
                "missing field `version` at line 1 column 13",
            ),
            (
                "{\"version\": 1}",
                "missing field `names` at line 1 column 14",
            ),
            (
                "{\"version\": 1, \"names\": [], \"extra\": 1}",
                "unknown field `extra`, expected `names` at line 1 column 35",
            ),
        ] {
            fs::write(file.path(), content).unwrap();
            let error = file.load().unwrap_err();
            match error {
                JsonFileError::Corrupt { reason: got, .. } => assert_eq!(got, reason, "{content}"),
                other => panic!("{content}: {other}"),
            }
        }
    }

    #[test]
    fn concurrent_updates_lose_no_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(names_file(dir.path()));
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let file = Arc::clone(&file);
                std::thread::spawn(move || {
                    for round in 0..10 {
                        add(&file, &format!("{thread}-{round}")).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut names = file.load().unwrap().unwrap().names;
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 80);
    }

    #[test]
    fn the_stamp_changes_with_each_update() {
        let dir = tempfile::tempdir().unwrap();
        let file = names_file(dir.path());
        add(&file, "a").unwrap();
        let first = file.stamp().unwrap();
        assert_eq!(file.stamp(), Some(first));
        // Same length as before: the new inode (a rename) tells them apart.
        file.update(|document| {
            document.names[0] = "b".into();
            Ok::<_, JsonFileError>(())
        })
        .unwrap();
        assert_ne!(file.stamp(), Some(first));
    }

    #[cfg(unix)]
    #[test]
    fn the_file_and_its_lock_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = names_file(dir.path());
        add(&file, "a").unwrap();
        for path in [file.path(), &dir.path().join("names.json.lock")] {
            let mode = fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }
}
