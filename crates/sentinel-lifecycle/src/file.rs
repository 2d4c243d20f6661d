//! `<data-dir>/lifecycle-policies.json`: read without locking (writes are
//! atomic renames), changed under an exclusive lock on
//! `lifecycle-policies.json.lock`, so `sentinel-registry policy ...` can
//! change it while the server runs.

use std::path::Path;

use sentinel_durable::{FileStamp, JsonFileError, VersionedJsonFile};
use sentinel_trust::RepositoryPattern;
use serde::{Deserialize, Serialize};

use crate::{ImmutabilityRule, LifecycleError, Quota, RetentionPolicy, Rules};

/// The on-disk format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;
/// The file's name inside the data directory.
const POLICY_FILE: &str = "lifecycle-policies.json";

/// The file as written and read (after its version). Flattened, the rules
/// ignore top-level keys they do not know, as this file always has.
#[derive(Default, Serialize, Deserialize)]
struct Document {
    #[serde(flatten)]
    rules: Rules,
}

/// The lifecycle policy file of a data directory and its lock file.
#[derive(Debug, Clone)]
pub struct LifecycleFile {
    file: VersionedJsonFile<Document>,
}

/// Replaces the rule of `rules` that is `same` as `rule`, or adds it.
fn upsert<T>(rules: &mut Vec<T>, rule: T, same: impl Fn(&T, &T) -> bool) {
    match rules.iter_mut().find(|held| same(held, &rule)) {
        Some(held) => *held = rule,
        None => rules.push(rule),
    }
}

/// Removes the rules `doomed` picks; [`LifecycleError::Unknown`] if none.
fn remove_where<T>(
    rules: &mut Vec<T>,
    doomed: impl Fn(&T) -> bool,
    kind: &'static str,
    key: String,
) -> Result<(), LifecycleError> {
    let before = rules.len();
    rules.retain(|rule| !doomed(rule));
    if rules.len() == before {
        Err(LifecycleError::Unknown { kind, key })
    } else {
        Ok(())
    }
}

impl LifecycleFile {
    /// The policy file in `data_dir`; nothing is read or created yet.
    pub fn new(data_dir: &Path) -> LifecycleFile {
        LifecycleFile {
            file: VersionedJsonFile::new(data_dir, POLICY_FILE, FORMAT_VERSION),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Reads the rules; a missing file holds none.
    pub fn load(&self) -> Result<Rules, LifecycleError> {
        let rules = self.file.load()?.unwrap_or_default().rules;
        self.check(&rules)?;
        Ok(rules)
    }

    /// Sets (adds or replaces) the retention policy of `policy.repositories`.
    pub fn set_retention(&self, policy: RetentionPolicy) -> Result<Rules, LifecycleError> {
        policy.validate()?;
        self.update(|rules| {
            upsert(&mut rules.retention, policy, |a, b| {
                a.repositories == b.repositories
            });
            Ok(())
        })
    }

    /// Removes the retention policy of `pattern`.
    pub fn remove_retention(&self, pattern: &RepositoryPattern) -> Result<Rules, LifecycleError> {
        self.update(|rules| {
            remove_where(
                &mut rules.retention,
                |rule| rule.repositories == *pattern,
                "retention policy",
                pattern.to_string(),
            )
        })
    }

    /// Sets (adds or replaces) the immutability rule of `rule.repositories`.
    pub fn set_immutability(&self, rule: ImmutabilityRule) -> Result<Rules, LifecycleError> {
        rule.validate()?;
        self.update(|rules| {
            upsert(&mut rules.immutable_tags, rule, |a, b| {
                a.repositories == b.repositories
            });
            Ok(())
        })
    }

    /// Removes the immutability rule of `pattern`.
    pub fn remove_immutability(
        &self,
        pattern: &RepositoryPattern,
    ) -> Result<Rules, LifecycleError> {
        self.update(|rules| {
            remove_where(
                &mut rules.immutable_tags,
                |rule| rule.repositories == *pattern,
                "immutability rule",
                pattern.to_string(),
            )
        })
    }

    /// Sets (adds or replaces) the quota of `quota.namespace`.
    pub fn set_quota(&self, quota: Quota) -> Result<Rules, LifecycleError> {
        quota.validate()?;
        self.update(|rules| {
            upsert(&mut rules.quotas, quota, |a, b| a.namespace == b.namespace);
            Ok(())
        })
    }

    /// Removes the quota of `namespace`.
    pub fn remove_quota(&self, namespace: &str) -> Result<Rules, LifecycleError> {
        self.update(|rules| {
            remove_where(
                &mut rules.quotas,
                |rule| rule.namespace == namespace,
                "quota",
                namespace.to_owned(),
            )
        })
    }

    /// Changes the rules under the exclusive lock: loads them, applies
    /// `change` and, if it succeeds, replaces the file atomically. Returns
    /// the new rules; if `change` fails, nothing is written.
    fn update(
        &self,
        change: impl FnOnce(&mut Rules) -> Result<(), LifecycleError>,
    ) -> Result<Rules, LifecycleError> {
        self.file.update(|document| {
            self.check(&document.rules)?;
            change(&mut document.rules)?;
            Ok(document.rules.clone())
        })
    }

    /// The file's current stamp, or `None` if it does not exist.
    pub fn stamp(&self) -> Option<FileStamp> {
        self.file.stamp()
    }

    /// Checks the rules read from the file: [`LifecycleError::Corrupt`] if
    /// one is not a rule this build accepts.
    fn check(&self, rules: &Rules) -> Result<(), LifecycleError> {
        rules.validate().map_err(|e| LifecycleError::Corrupt {
            path: self.path().to_path_buf(),
            reason: e.to_string(),
        })
    }
}

impl From<JsonFileError> for LifecycleError {
    fn from(error: JsonFileError) -> LifecycleError {
        match error {
            JsonFileError::Store { path, source } => LifecycleError::Store { path, source },
            JsonFileError::Corrupt { path, reason } => LifecycleError::Corrupt { path, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = LifecycleFile::new(dir.path());
        assert_eq!(file.load().unwrap(), Rules::default());
        let retention = RetentionPolicy {
            repositories: "acme/*".parse().unwrap(),
            keep_last: Some(3),
            keep_days: None,
            keep_matching: Some(">=1.0.0".parse().unwrap()),
            keep_stack_members: true,
            keep_signed: false,
        };
        file.set_retention(retention.clone()).unwrap();
        file.set_immutability(ImmutabilityRule {
            repositories: "acme/*".parse().unwrap(),
            tags: vec!["release-*".parse().unwrap()],
        })
        .unwrap();
        file.set_quota(Quota {
            namespace: "acme".into(),
            bytes: 100,
        })
        .unwrap();
        let rules = file
            .set_quota(Quota {
                namespace: "acme".into(),
                bytes: 200,
            })
            .unwrap();
        assert_eq!(rules.quotas.len(), 1);
        assert_eq!(file.load().unwrap(), rules);
        assert_eq!(rules.retention, vec![retention]);
        file.remove_quota("acme").unwrap();
        let missing = file.remove_quota("acme").unwrap_err();
        assert_eq!(missing.to_string(), "no quota for acme");
        file.remove_retention(&"acme/*".parse().unwrap()).unwrap();
        file.remove_immutability(&"acme/*".parse().unwrap())
            .unwrap();
        assert_eq!(file.load().unwrap(), Rules::default());
    }

    #[test]
    fn a_damaged_rule_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = LifecycleFile::new(dir.path());
        std::fs::write(
            file.path(),
            "{\"version\": 1, \"quotas\": [{\"namespace\": \"Bad\", \"bytes\": 1}]}",
        )
        .unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, LifecycleError::Corrupt { .. }), "{error}");
        assert!(
            file.set_quota(Quota {
                namespace: "acme".into(),
                bytes: 1,
            })
            .is_err()
        );
    }
}
