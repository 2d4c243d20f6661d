//! `<data-dir>/signature-policies.json`: read without locking (writes are
//! atomic renames), changed under an exclusive lock on
//! `signature-policies.json.lock`, so `sentinel-registry policy ...` can
//! change it while the server runs.

use std::path::Path;

use sentinel_durable::{FileStamp, JsonFileError, VersionedJsonFile};
use sentinel_signature::PublicKey;
use serde::{Deserialize, Serialize};

use crate::{RepositoryPattern, SignaturePolicy, TrustError};

/// The on-disk format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;
/// The file's name inside the data directory.
const POLICY_FILE: &str = "signature-policies.json";

/// The file as written and read (after its version).
#[derive(Default, Serialize, Deserialize)]
struct Document {
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

/// The policy file of a data directory and its lock file.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    file: VersionedJsonFile<Document>,
}

impl PolicyFile {
    /// The policy file in `data_dir`; nothing is read or created yet.
    pub fn new(data_dir: &Path) -> PolicyFile {
        PolicyFile {
            file: VersionedJsonFile::new(data_dir, POLICY_FILE, FORMAT_VERSION),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Reads the policies; a missing file holds none.
    pub fn load(&self) -> Result<Vec<SignaturePolicy>, TrustError> {
        match self.file.load()? {
            Some(document) => self.decode(document),
            None => Ok(Vec::new()),
        }
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
        self.file.update(|document| {
            let mut policies = self.decode(std::mem::take(document))?;
            change(&mut policies)?;
            *document = encode(&policies);
            Ok(policies)
        })
    }

    /// The file's current stamp, or `None` if it does not exist.
    pub fn stamp(&self) -> Option<FileStamp> {
        self.file.stamp()
    }

    /// The policies `document` holds; [`TrustError::Corrupt`] if one is not
    /// a policy this build accepts.
    fn decode(&self, document: Document) -> Result<Vec<SignaturePolicy>, TrustError> {
        let corrupt = |reason: String| TrustError::Corrupt {
            path: self.path().to_path_buf(),
            reason,
        };
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
}

/// The document holding `policies`.
fn encode(policies: &[SignaturePolicy]) -> Document {
    Document {
        policies: policies
            .iter()
            .map(|policy| StoredPolicy {
                repositories: policy.repositories.clone(),
                require_signature: policy.require_signature,
                keys: policy.keys.iter().map(PublicKey::to_pem).collect(),
            })
            .collect(),
    }
}

impl From<JsonFileError> for TrustError {
    fn from(error: JsonFileError) -> TrustError {
        match error {
            JsonFileError::Store { path, source } => TrustError::Store { path, source },
            JsonFileError::Corrupt { path, reason } => TrustError::Corrupt { path, reason },
        }
    }
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
        let key = SigningKey::generate().public_key();
        let policy = SignaturePolicy::new("acme/*".parse().unwrap(), true, vec![key]).unwrap();
        let stored = policy.clone();
        file.set(stored).unwrap();
        assert_eq!(file.load().unwrap(), vec![policy]);
        file.remove(&"acme/*".parse().unwrap()).unwrap();
        assert!(file.load().unwrap().is_empty());
        let missing = file.remove(&"acme/*".parse().unwrap()).unwrap_err();
        assert_eq!(missing.to_string(), "no signature policy for acme/*");
    }

    #[test]
    fn a_damaged_key_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = PolicyFile::new(dir.path());
        std::fs::write(
            file.path(),
            "{\"version\": 1, \"policies\": [{\"repositories\": \"acme/*\", \
             \"require-signature\": true, \"keys\": [\"not a key\"]}]}",
        )
        .unwrap();
        let error = file.load().unwrap_err();
        assert!(
            error.to_string().starts_with("corrupt policy file"),
            "{error}"
        );
        assert!(error.to_string().contains("acme/*: "), "{error}");
    }
}
