//! `<data-dir>/rate-limits.json`: the rate limits an administrator set
//! through the management API, so that they outlive a restart. Only the
//! running server writes it (by atomic replace); it is read at start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sentinel_durable::{FileMode, TempPath, replace_file, sync_dir, unique_temp_path};
use serde::{Deserialize, Serialize};

use super::{RateLimit, RateLimits};

/// The on-disk format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;
/// The file's name inside the data directory.
const LIMITS_FILE: &str = "rate-limits.json";

/// The file as written and read.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    per_address: RateLimit,
    per_user: RateLimit,
}

/// Why the limits file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LimitsFileError {
    /// Reading, writing or removing the file failed.
    #[error("cannot read or write {path}")]
    Io {
        /// The file (or its directory).
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file is not one this build wrote.
    #[error("{path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The limits file of a data directory.
#[derive(Debug, Clone)]
pub(crate) struct LimitsFile {
    directory: PathBuf,
    path: PathBuf,
}

impl LimitsFile {
    /// The limits file in `data_dir`; nothing is read or created yet.
    pub(crate) fn new(data_dir: &Path) -> LimitsFile {
        LimitsFile {
            directory: data_dir.to_path_buf(),
            path: data_dir.join(LIMITS_FILE),
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stored limits; `None` when there is no file.
    pub(crate) fn load(&self) -> Result<Option<RateLimits>, LimitsFileError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.io(&self.path, source)),
        };
        let corrupt = |reason: String| LimitsFileError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let document: Document =
            serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
        if document.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} is not the version {FORMAT_VERSION} this build reads",
                document.version
            )));
        }
        Ok(Some(RateLimits {
            per_address: document.per_address,
            per_user: document.per_user,
        }))
    }

    /// Replaces the file with `limits`, durably.
    pub(crate) fn store(&self, limits: &RateLimits) -> Result<(), LimitsFileError> {
        let document = Document {
            version: FORMAT_VERSION,
            per_address: limits.per_address,
            per_user: limits.per_user,
        };
        let mut bytes = serde_json::to_vec_pretty(&document)
            .map_err(|error| self.io(&self.path, io::Error::other(error)))?;
        bytes.push(b'\n');
        let temp = TempPath::new(unique_temp_path(
            &self.directory,
            ".rate-limits.json.",
            ".tmp",
        ));
        replace_file(temp, &self.path, &bytes, FileMode::OwnerOnly)
            .map_err(|error| self.io(&error.path, error.source))
    }

    /// Removes the file, durably; no file is fine.
    pub(crate) fn remove(&self) -> Result<(), LimitsFileError> {
        match fs::remove_file(&self.path) {
            Ok(()) => sync_dir(&self.directory).map_err(|source| self.io(&self.directory, source)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(self.io(&self.path, source)),
        }
    }

    fn io(&self, path: &Path, source: io::Error) -> LimitsFileError {
        LimitsFileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_round_trip_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = LimitsFile::new(dir.path());
        assert!(file.load().unwrap().is_none());
        let limits = RateLimits {
            per_address: RateLimit::new(600, 20),
            per_user: RateLimit::OFF,
        };
        file.store(&limits).unwrap();
        assert_eq!(file.load().unwrap(), Some(limits));
        file.remove().unwrap();
        file.remove().unwrap();
        assert!(file.load().unwrap().is_none());

        fs::write(file.path(), b"{\"version\": 9}").unwrap();
        assert!(matches!(file.load(), Err(LimitsFileError::Corrupt { .. })));
    }
}
