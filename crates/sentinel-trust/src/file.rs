//! `<data-dir>/signature-policies.json`: read without locking (writes are
//! atomic renames), changed under an exclusive lock on
//! `signature-policies.json.lock`, so `sentinel-registry policy ...` can
//! change it while the server runs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sentinel_durable::{FileLock, FileMode, TempPath, replace_file, unique_temp_path};
use sentinel_signature::PublicKey;
use serde::{Deserialize, Serialize};

use crate::{RepositoryPattern, SignaturePolicy, TrustError};

/// The on-disk format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;
/// The file's name inside the data directory.
const POLICY_FILE: &str = "signature-policies.json";
/// The lock file's name inside the data directory.
const LOCK_FILE: &str = "signature-policies.json.lock";

/// The file as written and read.
#[derive(Serialize, Deserialize)]
struct Document {
    version: u32,
    policies: Vec<StoredPolicy>,
}

/// One policy as stored: keys as SPKI PEM text.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct StoredPolicy {
    repositories: RepositoryPattern,
    require_signature: bool,
    keys: Vec<String>,
}

/// Identifies one version of the file, to notice changes made by another
/// process without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// The policy file of a data directory and its lock file.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    directory: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
}

impl PolicyFile {
    /// The policy file in `data_dir`; nothing is read or created yet.
    pub fn new(data_dir: &Path) -> PolicyFile {
        PolicyFile {
            directory: data_dir.to_path_buf(),
            path: data_dir.join(POLICY_FILE),
            lock_path: data_dir.join(LOCK_FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the policies; a missing file holds none.
    pub fn load(&self) -> Result<Vec<SignaturePolicy>, TrustError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(self.store_error(&self.path, source)),
        };
        let corrupt = |reason: String| TrustError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let document: Document =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if document.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} is not the version {FORMAT_VERSION} this build reads",
                document.version
            )));
        }
        document
            .policies
            .into_iter()
            .map(|stored| {
                let keys = stored
                    .keys
                    .iter()
                    .map(|pem| PublicKey::from_pem(pem))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| corrupt(format!("{}: {e}", stored.repositories)))?;
                SignaturePolicy::new(stored.repositories, stored.require_signature, keys)
                    .map_err(|e| corrupt(e.to_string()))
            })
            .collect()
    }

    /// Sets (adds or replaces) the policy of `policy.repositories`;
    /// returns the policies now in the file.
    pub fn set(&self, policy: SignaturePolicy) -> Result<Vec<SignaturePolicy>, TrustError> {
        self.update(|policies| {
            match policies
                .iter_mut()
                .find(|held| held.repositories == policy.repositories)
            {
                Some(held) => *held = policy,
                None => policies.push(policy),
            }
            Ok(())
        })
    }

    /// Removes the policy of `pattern`; returns the policies now in the file.
    pub fn remove(&self, pattern: &RepositoryPattern) -> Result<Vec<SignaturePolicy>, TrustError> {
        self.update(|policies| {
            let before = policies.len();
            policies.retain(|held| held.repositories != *pattern);
            if policies.len() == before {
                Err(TrustError::Unknown(pattern.to_string()))
            } else {
                Ok(())
            }
        })
    }

    /// Changes the policies under the exclusive lock: loads them, applies
    /// `change` and, if it succeeds, replaces the file atomically. Returns
    /// the new policies; if `change` fails, nothing is written.
    fn update(
        &self,
        change: impl FnOnce(&mut Vec<SignaturePolicy>) -> Result<(), TrustError>,
    ) -> Result<Vec<SignaturePolicy>, TrustError> {
        fs::create_dir_all(&self.directory)
            .map_err(|source| self.store_error(&self.directory, source))?;
        let _lock = FileLock::acquire(&self.lock_path, FileMode::OwnerOnly)
            .map_err(|error| self.store_error(&error.path, error.source))?;
        let mut policies = self.load()?;
        change(&mut policies)?;
        self.write(&policies)?;
        Ok(policies)
    }

    /// The file's current stamp, or `None` if it does not exist.
    pub fn stamp(&self) -> Option<FileStamp> {
        let metadata = fs::metadata(&self.path).ok()?;
        Some(FileStamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            inode: inode(&metadata),
        })
    }

    fn write(&self, policies: &[SignaturePolicy]) -> Result<(), TrustError> {
        let document = Document {
            version: FORMAT_VERSION,
            policies: policies
                .iter()
                .map(|policy| StoredPolicy {
                    repositories: policy.repositories.clone(),
                    require_signature: policy.require_signature,
                    keys: policy.keys.iter().map(PublicKey::to_pem).collect(),
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&document)
            .map_err(|error| self.store_error(&self.path, io::Error::other(error)))?;
        bytes.push(b'\n');
        let temp = TempPath::new(unique_temp_path(
            &self.directory,
            ".signature-policies.json.",
            ".tmp",
        ));
        replace_file(temp, &self.path, &bytes, FileMode::OwnerOnly)
            .map_err(|error| self.store_error(&error.path, error.source))
    }

    fn store_error(&self, path: &Path, source: io::Error) -> TrustError {
        TrustError::Store {
            path: path.to_path_buf(),
            source,
        }
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
    use sentinel_signature::SigningKey;

    #[test]
    fn policies_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = PolicyFile::new(dir.path());
        assert!(file.load().unwrap().is_empty());
        assert!(file.stamp().is_none());
        let key = SigningKey::generate().public_key();
        let policy = SignaturePolicy::new("acme/*".parse().unwrap(), true, vec![key]).unwrap();
        let stored = policy.clone();
        file.set(stored).unwrap();
        let first = file.stamp();
        assert_eq!(file.load().unwrap(), vec![policy]);
        file.remove(&"acme/*".parse().unwrap()).unwrap();
        assert!(file.load().unwrap().is_empty());
        assert_ne!(file.stamp(), first);
        let missing = file.remove(&"acme/*".parse().unwrap()).unwrap_err();
        assert_eq!(missing.to_string(), "no signature policy for acme/*");
    }

    #[test]
    fn a_damaged_file_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = PolicyFile::new(dir.path());
        std::fs::write(file.path(), "{\"version\": 9, \"policies\": []}").unwrap();
        let error = file.load().unwrap_err();
        assert!(error.to_string().contains("format version 9"), "{error}");
    }
}
