//! `auth.json` on disk: read without locking (writes are atomic renames),
//! changed under an exclusive lock on `auth.json.lock`.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

pub use sentinel_durable::FileStamp;
use sentinel_durable::{FileLock, FileMode, TempPath, replace_file, unique_temp_path};
use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::model::AuthState;

/// The on-disk format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;
/// The state file's name inside the data directory.
const STATE_FILE: &str = "auth.json";
/// The lock file's name inside the data directory.
const LOCK_FILE: &str = "auth.json.lock";

/// The state file as written: the state with a format version beside it.
#[derive(Serialize)]
struct Writing<'a> {
    version: u32,
    #[serde(flatten)]
    state: &'a AuthState,
}

/// The state file as read.
#[derive(Deserialize)]
struct Reading {
    version: u32,
    #[serde(flatten)]
    state: AuthState,
}

/// The auth state file `<data-dir>/auth.json` and its lock file.
#[derive(Debug, Clone)]
pub struct AuthStore {
    directory: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
}

impl AuthStore {
    /// The store in `data_dir`; nothing is read or created yet.
    pub fn new(data_dir: &Path) -> AuthStore {
        AuthStore {
            directory: data_dir.to_path_buf(),
            path: data_dir.join(STATE_FILE),
            lock_path: data_dir.join(LOCK_FILE),
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; a missing file is the empty state.
    pub fn load(&self) -> Result<AuthState, AuthError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(AuthState::default());
            }
            Err(source) => return Err(store_error(&self.path, source)),
        };
        let corrupt = |source| AuthError::Corrupt {
            path: self.path.clone(),
            source,
        };
        let reading: Reading = serde_json::from_reader(BufReader::new(file)).map_err(corrupt)?;
        if reading.version != FORMAT_VERSION {
            return Err(corrupt(serde::de::Error::custom(format!(
                "format version {} is not the version {FORMAT_VERSION} this build reads",
                reading.version
            ))));
        }
        Ok(reading.state)
    }

    /// Changes the state under an exclusive lock: loads it, applies `change`,
    /// and, if `change` succeeds, replaces the file atomically (temporary
    /// file with mode 0600 in the same directory, fsync, rename, fsync of the
    /// directory). Returns `change`'s value and the new state. If `change`
    /// fails, nothing is written.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut AuthState) -> Result<T, AuthError>,
    ) -> Result<(T, AuthState), AuthError> {
        fs::create_dir_all(&self.directory)
            .map_err(|source| store_error(&self.directory, source))?;
        let lock = self.lock()?;
        let mut state = self.load()?;
        let value = change(&mut state)?;
        self.write(&state)?;
        drop(lock);
        Ok((value, state))
    }

    /// The current state file's stamp, or `None` if it does not exist (or
    /// cannot be examined).
    pub fn stamp(&self) -> Option<FileStamp> {
        FileStamp::of(&self.path)
    }

    /// Opens the lock file and waits for an exclusive lock on it; the lock
    /// lasts as long as the returned guard.
    fn lock(&self) -> Result<FileLock, AuthError> {
        FileLock::acquire(&self.lock_path, FileMode::OwnerOnly)
            .map_err(|error| store_error(&error.path, error.source))
    }

    /// Replaces the state file with `state` (see [`AuthStore::update`]).
    fn write(&self, state: &AuthState) -> Result<(), AuthError> {
        let document = Writing {
            version: FORMAT_VERSION,
            state,
        };
        let mut bytes = serde_json::to_vec_pretty(&document)
            .map_err(|error| store_error(&self.path, io::Error::other(error)))?;
        bytes.push(b'\n');
        let temp = TempPath::new(unique_temp_path(&self.directory, ".auth.json.", ".tmp"));
        replace_file(temp, &self.path, &bytes, FileMode::OwnerOnly)
            .map_err(|error| store_error(&error.path, error.source))
    }
}

fn store_error(path: &Path, source: io::Error) -> AuthError {
    AuthError::Store {
        path: path.to_path_buf(),
        source,
    }
}
