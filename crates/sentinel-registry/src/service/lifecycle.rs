//! The lifecycle rules in force (retention policies, tag immutability
//! rules, namespace quotas): those of the configuration over the lifecycle
//! policy file, which the management API and `sentinel-registry policy ...`
//! change while the server runs. Quotas and usage are here too; retention
//! runs are in `retention`, the immutability checks in `manifests`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use sentinel_durable::FileStamp;
use sentinel_lifecycle::{
    ImmutabilityRule, Lifecycle, LifecycleError, LifecycleFile, Quota, RepositoryPattern,
    RetentionPolicy, Rules, namespace_of,
};
use sentinel_oci::{Digest, RepositoryName};

use super::{Registry, RegistryError};

/// The lifecycle rules: where they come from and the set in force.
pub(crate) struct LifecycleRules {
    /// The rules of the configuration file (fixed while running).
    configured: Rules,
    /// The lifecycle policy file.
    file: LifecycleFile,
    /// The stamp of the file as last read.
    loaded: Mutex<Option<FileStamp>>,
    /// The rules in force.
    in_force: ArcSwap<Lifecycle>,
    /// When each namespace's last quota event was recorded (seconds), so a
    /// client retrying a refused push does not flood the webhooks.
    quota_events: Mutex<HashMap<String, u64>>,
}

/// A namespace's refusals within this many seconds of its last quota event
/// record no new one.
const QUOTA_EVENT_INTERVAL: u64 = 60;

impl LifecycleRules {
    /// The rules of the configuration, over the policy file in `data_dir`.
    pub(crate) fn new(
        configured: Rules,
        data_dir: &std::path::Path,
    ) -> Result<LifecycleRules, LifecycleError> {
        configured.validate()?;
        let file = LifecycleFile::new(data_dir);
        let stamp = file.stamp();
        let in_force = Lifecycle::new(configured.clone(), file.load()?);
        Ok(LifecycleRules {
            configured,
            file,
            loaded: Mutex::new(stamp),
            in_force: ArcSwap::from_pointee(in_force),
            quota_events: Mutex::default(),
        })
    }

    /// Makes `file` (the policy file's new content) the rules in force.
    fn install(&self, file: Rules) {
        self.in_force
            .store(Arc::new(Lifecycle::new(self.configured.clone(), file)));
    }
}

/// A namespace's quota and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceUsage {
    /// The namespace.
    pub namespace: String,
    /// The bytes of distinct blobs its repositories hold.
    pub usage: u64,
    /// Its quota in bytes, if it has one.
    pub quota: Option<u64>,
}

impl Registry {
    /// The lifecycle rules in force.
    pub fn lifecycle(&self) -> Arc<Lifecycle> {
        self.lifecycle.in_force.load_full()
    }

    /// Changes the policy file with `change` and installs the result; a
    /// rule the configuration sets (`configured`) is refused.
    fn change_lifecycle(
        &self,
        configured: bool,
        kind: &'static str,
        key: String,
        change: impl FnOnce(&LifecycleFile) -> Result<Rules, LifecycleError>,
    ) -> Result<(), LifecycleError> {
        if configured {
            return Err(LifecycleError::Configured { kind, key });
        }
        let rules = change(&self.lifecycle.file)?;
        self.lifecycle.install(rules);
        Ok(())
    }

    /// Sets the retention policy of `policy.repositories` in the policy file.
    pub fn set_retention_policy(&self, policy: RetentionPolicy) -> Result<(), LifecycleError> {
        let configured = self.lifecycle().configured_retention(&policy.repositories);
        let key = policy.repositories.to_string();
        self.change_lifecycle(configured, "retention policy", key, |file| {
            file.set_retention(policy)
        })
    }

    /// Removes the retention policy of `pattern` from the policy file.
    pub fn remove_retention_policy(
        &self,
        pattern: &RepositoryPattern,
    ) -> Result<(), LifecycleError> {
        let configured = self.lifecycle().configured_retention(pattern);
        self.change_lifecycle(
            configured,
            "retention policy",
            pattern.to_string(),
            |file| file.remove_retention(pattern),
        )
    }

    /// Sets the immutability rule of `rule.repositories` in the policy file.
    pub fn set_immutability_rule(&self, rule: ImmutabilityRule) -> Result<(), LifecycleError> {
        let configured = self.lifecycle().configured_immutability(&rule.repositories);
        let key = rule.repositories.to_string();
        self.change_lifecycle(configured, "immutability rule", key, |file| {
            file.set_immutability(rule)
        })
    }

    /// Removes the immutability rule of `pattern` from the policy file.
    pub fn remove_immutability_rule(
        &self,
        pattern: &RepositoryPattern,
    ) -> Result<(), LifecycleError> {
        let configured = self.lifecycle().configured_immutability(pattern);
        self.change_lifecycle(
            configured,
            "immutability rule",
            pattern.to_string(),
            |file| file.remove_immutability(pattern),
        )
    }

    /// Sets the quota of `quota.namespace` in the policy file.
    pub fn set_quota(&self, quota: Quota) -> Result<(), LifecycleError> {
        let configured = self.lifecycle().configured_quota(&quota.namespace);
        let key = quota.namespace.clone();
        self.change_lifecycle(configured, "quota", key, |file| file.set_quota(quota))
    }

    /// Removes the quota of `namespace` from the policy file.
    pub fn remove_quota(&self, namespace: &str) -> Result<(), LifecycleError> {
        let configured = self.lifecycle().configured_quota(namespace);
        self.change_lifecycle(configured, "quota", namespace.to_owned(), |file| {
            file.remove_quota(namespace)
        })
    }

    /// Reads the lifecycle policy file again if another process changed it.
    pub fn reload_lifecycle_policies(&self) -> Result<bool, LifecycleError> {
        let rules = &self.lifecycle;
        let mut loaded = rules.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = rules.file.stamp();
        if stamp == *loaded {
            return Ok(false);
        }
        rules.install(rules.file.load()?);
        *loaded = stamp;
        Ok(true)
    }

    /// The quota of `repository`'s namespace, if it has one.
    pub(super) fn quota_of(&self, repository: &RepositoryName) -> Option<u64> {
        self.lifecycle().quota(namespace_of(repository.as_str()))
    }

    /// Refuses a new upload to `repository` when its namespace is at or over
    /// its quota, or when `declared` more bytes would take it over.
    pub(super) async fn check_quota(
        &self,
        repository: &RepositoryName,
        declared: Option<u64>,
    ) -> Result<(), RegistryError> {
        let Some(quota) = self.quota_of(repository) else {
            return Ok(());
        };
        let namespace = namespace_of(repository.as_str());
        let usage = self.index.namespace_usage(namespace).await?;
        let size = declared.unwrap_or(0);
        if usage >= quota || usage.saturating_add(size) > quota {
            let refused = RegistryError::QuotaExceeded {
                namespace: namespace.to_owned(),
                quota,
                usage,
                size,
            };
            self.quota_refused(repository, &refused).await;
            return Err(refused);
        }
        Ok(())
    }

    /// Records an `io.sentinel.quota.exceeded` event for the webhooks when
    /// `error` is a quota refusal of a push to `repository` (at most one per
    /// namespace a minute); failing to record it is only logged.
    pub(super) async fn quota_refused(&self, repository: &RepositoryName, error: &RegistryError) {
        let RegistryError::QuotaExceeded {
            namespace,
            quota,
            usage,
            size,
        } = error
        else {
            return;
        };
        let now = crate::clock::now();
        {
            let mut last = self
                .lifecycle
                .quota_events
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last
                .get(namespace)
                .is_some_and(|at| now.saturating_sub(*at) < QUOTA_EVENT_INTERVAL)
            {
                return;
            }
            last.retain(|_, at| now.saturating_sub(*at) < QUOTA_EVENT_INTERVAL);
            last.insert(namespace.clone(), now);
        }
        let mut details = serde_json::Map::new();
        details.insert("namespace".into(), namespace.clone().into());
        details.insert("quota".into(), (*quota).into());
        details.insert("usage".into(), (*usage).into());
        details.insert("size".into(), (*size).into());
        let data = sentinel_webhooks::EventData {
            repository: Some(repository.to_string()),
            details,
            ..sentinel_webhooks::EventData::default()
        };
        if let Err(error) = self
            .emit(
                sentinel_webhooks::EventKind::QUOTA_EXCEEDED,
                Some(namespace.clone()),
                data,
            )
            .await
        {
            tracing::warn!(%error, namespace, "could not record a quota event for the webhooks");
        }
    }

    /// Refuses blob `digest` of `size` bytes, about to be stored for
    /// `repository`, when no repository holds it yet (so it is new to the
    /// namespace too) and it would take the namespace over its quota. A
    /// blob stored already is left to the link's own check, which knows
    /// whether the namespace holds it.
    pub(super) async fn check_new_blob_quota(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), RegistryError> {
        if self.quota_of(repository).is_none() || self.index.blob(digest).await?.is_some() {
            return Ok(());
        }
        self.check_quota(repository, Some(size)).await
    }

    /// The usage and quota of `namespace`.
    pub async fn namespace_usage(&self, namespace: &str) -> Result<NamespaceUsage, RegistryError> {
        Ok(NamespaceUsage {
            namespace: namespace.to_owned(),
            usage: self.index.namespace_usage(namespace).await?,
            quota: self.lifecycle().quota(namespace),
        })
    }

    /// Every namespace that holds blobs or has a quota, by name.
    pub async fn namespace_usages(&self) -> Result<Vec<NamespaceUsage>, RegistryError> {
        let lifecycle = self.lifecycle();
        let mut out: Vec<NamespaceUsage> = self
            .index
            .namespace_usages()
            .await?
            .into_iter()
            .map(|(namespace, usage)| NamespaceUsage {
                quota: lifecycle.quota(&namespace),
                namespace,
                usage,
            })
            .collect();
        for (quota, _) in lifecycle.quotas() {
            if !out.iter().any(|u| u.namespace == quota.namespace) {
                out.push(NamespaceUsage {
                    namespace: quota.namespace.clone(),
                    usage: 0,
                    quota: Some(quota.bytes),
                });
            }
        }
        out.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        Ok(out)
    }
}
