//! The agent's own credentials file, `credentials.json` in its config dir.
//!
//! Format: `{"auths": {"<registry>": ENTRY}}` where the registry key is in
//! [`normalize_registry_key`] form and ENTRY is one of
//! `{"username", "password"}`, `{"username", "identity_token"}` or
//! `{"token"}`. Other top-level fields are kept when the file is rewritten.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::credential::Credential;
use crate::error::CredentialError;
use crate::private_file::{create_private_dir, lock_exclusive, parent_dir, replace_private_file};
use crate::registry_key::normalize_registry_key;

/// Name of the credentials file in the agent config dir.
pub const CREDENTIALS_FILE_NAME: &str = "credentials.json";
/// Name of the lock file that serialises writers, next to the credentials file.
pub const CREDENTIALS_LOCK_FILE_NAME: &str = "credentials.lock";

/// The agent's credentials file: read, and changed under an exclusive lock
/// with atomic, owner-only (0600 in a 0700 directory) writes, so concurrent
/// `agent login` runs never lose each other's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCredentialStore {
    path: PathBuf,
}

/// The whole file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    #[serde(default)]
    auths: BTreeMap<String, StoredEntry>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// One registry's entry. Which fields are present decides the credential kind.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl AgentCredentialStore {
    /// A store kept in the file at `path` (normally `.../credentials.json`).
    pub fn new(path: PathBuf) -> Self {
        AgentCredentialStore { path }
    }

    /// The store in `credentials.json` inside the agent config dir `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self::new(dir.join(CREDENTIALS_FILE_NAME))
    }

    /// The path of the credentials file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored credential for `registry` (any spelling that normalises to
    /// the same key), or `None` when there is none or no file yet.
    pub fn get(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let key = normalize_registry_key(registry);
        let Some(file) = self.read()? else {
            return Ok(None);
        };
        let found = file
            .auths
            .iter()
            .find(|(stored_key, _)| normalize_registry_key(stored_key) == key);
        found
            .map(|(stored_key, entry)| entry.to_credential(&self.path, stored_key))
            .transpose()
    }

    /// Stores `credential` for `registry`, replacing any entry for the same
    /// registry. Creates the directory (0700) and file (0600) when needed.
    pub fn save(&self, registry: &str, credential: &Credential) -> Result<(), CredentialError> {
        let key = normalize_registry_key(registry);
        if key.is_empty() {
            return Err(CredentialError::InvalidRegistry {
                registry: registry.to_owned(),
            });
        }
        self.update(|file| {
            file.remove_registry(&key);
            file.auths.insert(key, StoredEntry::from(credential));
            ((), true)
        })
    }

    /// Removes the entry for `registry`; `true` if there was one.
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialError> {
        if !self.file_exists()? {
            return Ok(false);
        }
        let key = normalize_registry_key(registry);
        self.update(|file| {
            let removed = file.remove_registry(&key) > 0;
            (removed, removed)
        })
    }

    /// Removes every entry; returns how many there were.
    pub fn erase_all(&self) -> Result<usize, CredentialError> {
        if !self.file_exists()? {
            return Ok(0);
        }
        self.update(|file| {
            let removed = file.auths.len();
            file.auths.clear();
            (removed, removed > 0)
        })
    }

    /// The registries with a stored credential, normalised and sorted.
    pub fn registries(&self) -> Result<Vec<String>, CredentialError> {
        let Some(file) = self.read()? else {
            return Ok(Vec::new());
        };
        let mut registries: Vec<String> = file
            .auths
            .keys()
            .map(|key| normalize_registry_key(key))
            .collect();
        registries.sort();
        registries.dedup();
        Ok(registries)
    }

    /// Reads and parses the file; `None` when it does not exist.
    fn read(&self) -> Result<Option<StoreFile>, CredentialError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CredentialError::ReadFile {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| CredentialError::malformed(self.path.clone(), &error))
    }

    fn file_exists(&self) -> Result<bool, CredentialError> {
        self.path
            .try_exists()
            .map_err(|source| CredentialError::ReadFile {
                path: self.path.clone(),
                source,
            })
    }

    /// Read-modify-write under the exclusive lock. `change` returns its result
    /// and whether it changed the file; an unchanged file is not rewritten.
    fn update<R>(
        &self,
        change: impl FnOnce(&mut StoreFile) -> (R, bool),
    ) -> Result<R, CredentialError> {
        let dir = parent_dir(&self.path);
        create_private_dir(dir)?;
        let _lock = lock_exclusive(&dir.join(CREDENTIALS_LOCK_FILE_NAME))?;
        let mut file = self.read()?.unwrap_or_default();
        let (result, changed) = change(&mut file);
        if changed {
            let mut bytes =
                serde_json::to_vec_pretty(&file).map_err(|error| CredentialError::WriteFile {
                    path: self.path.clone(),
                    source: io::Error::other(error),
                })?;
            bytes.push(b'\n');
            replace_private_file(&self.path, &bytes)?;
        }
        Ok(result)
    }
}

impl StoreFile {
    /// Removes every entry whose key normalises to `key`; returns how many.
    fn remove_registry(&mut self, key: &str) -> usize {
        let before = self.auths.len();
        self.auths
            .retain(|stored_key, _| normalize_registry_key(stored_key) != key);
        before - self.auths.len()
    }
}

impl From<&Credential> for StoredEntry {
    fn from(credential: &Credential) -> Self {
        match credential.clone() {
            Credential::Basic { username, password } => StoredEntry {
                username: Some(username),
                password: Some(password),
                ..StoredEntry::default()
            },
            Credential::IdentityToken { username, token } => StoredEntry {
                username: Some(username),
                identity_token: Some(token),
                ..StoredEntry::default()
            },
            Credential::Bearer { token } => StoredEntry {
                token: Some(token),
                ..StoredEntry::default()
            },
        }
    }
}

impl StoredEntry {
    fn to_credential(&self, path: &Path, key: &str) -> Result<Credential, CredentialError> {
        let entry = (
            self.username.clone(),
            self.password.clone(),
            self.identity_token.clone(),
            self.token.clone(),
        );
        match entry {
            (Some(username), Some(password), None, None) => {
                Ok(Credential::Basic { username, password })
            }
            (username, None, Some(token), None) => Ok(Credential::IdentityToken {
                username: username.unwrap_or_default(),
                token,
            }),
            (None, None, None, Some(token)) => Ok(Credential::Bearer { token }),
            _ => Err(CredentialError::InvalidEntry {
                path: path.to_owned(),
                registry: key.to_owned(),
                reason: "must hold exactly one of: username and password, username and identity_token, or token",
            }),
        }
    }
}
