//! Retention: the package versions no retention policy keeps are deleted,
//! each manifest by digest through [`Registry::delete_manifest`], so the
//! catalogue and the signature views follow as they do for any delete.
//!
//! A policy covers repositories by pattern (the most specific applies) and
//! applies to the versions the catalogue knows of the package each holds;
//! other manifests and tags of a repository are left alone. A version is
//! kept when any of its policy's rules keeps it: among the highest
//! `keep-last` versions, pushed within `keep-days` days, matching
//! `keep-matching`, signed by a key the signature policy trusts
//! (`keep-signed`), or named as a member by a stack version that is kept
//! (`keep-stack-members`: a stack version is kept when no policy covers its
//! repository, or when its own policy keeps it). A version whose tag an
//! immutability rule covers is never deleted. Blobs are not freed here:
//! that is garbage collection's, which runs retention first.

use std::collections::{HashMap, HashSet};

use semver::Version;
use sentinel_catalogue::VersionInfo;
use sentinel_lifecycle::{Lifecycle, RetentionPolicy};
use sentinel_oci::{Digest, Reference, RepositoryName};

use super::{Registry, RegistryError};
use crate::clock::now;

/// The actor the events of retention's deletions name.
const RETENTION_ACTOR: &str = "@retention";

/// A package version retention deletes (or, in a dry run, would delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredVersion {
    /// The repository.
    pub repository: RepositoryName,
    /// The version.
    pub version: Version,
    /// Its manifest.
    pub digest: Digest,
    /// The tag it was pushed under, if any.
    pub tag: Option<String>,
    /// When it was pushed, in seconds since the Unix epoch.
    pub pushed_at: u64,
}

/// What a retention run did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Whether nothing was deleted (a dry run).
    pub dry_run: bool,
    /// The versions looked at (those some policy covers).
    pub examined: usize,
    /// The versions kept.
    pub kept: usize,
    /// The versions deleted, or that would be.
    pub removed: Vec<RetiredVersion>,
    /// Versions whose deletion failed, with why (a run only).
    pub failed: Vec<(RetiredVersion, String)>,
}

/// One repository's catalogued versions and its policy.
struct Covered {
    repository: RepositoryName,
    policy: RetentionPolicy,
    versions: Vec<VersionInfo>,
}

/// Whether the stack member reference `reference` (`[host/]path:tag` or
/// `[host/]path@digest`) names `version`.
fn names(reference: &str, version: &VersionInfo) -> bool {
    if let Some((_, digest)) = reference.split_once('@') {
        return digest == version.digest.as_str();
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let Some((_, tag)) = last.split_once(':') else {
        return false;
    };
    version.tag.as_deref() == Some(tag)
        || sentinel_package::versions::tag_version(tag).as_ref() == Some(&version.version)
}

impl Registry {
    /// Applies the retention policies now: lists (`dry_run`) or deletes the
    /// package versions they do not keep.
    pub async fn apply_retention(&self, dry_run: bool) -> Result<RetentionReport, RegistryError> {
        self.apply_retention_at(now(), dry_run).await
    }

    /// [`Registry::apply_retention`] as if the time were `now` (seconds
    /// since the Unix epoch), which `keep-days` counts back from.
    pub async fn apply_retention_at(
        &self,
        now: u64,
        dry_run: bool,
    ) -> Result<RetentionReport, RegistryError> {
        let lifecycle = self.lifecycle();
        let mut report = RetentionReport {
            dry_run,
            ..RetentionReport::default()
        };
        if lifecycle.retention().next().is_none() {
            return Ok(report);
        }
        let covered = self.covered_versions(&lifecycle).await?;
        // What each policy's own rules keep, per repository.
        let mut kept: HashMap<RepositoryName, HashSet<Digest>> = HashMap::new();
        for repo in &covered {
            kept.insert(
                repo.repository.clone(),
                self.kept_by_rules(repo, now).await?,
            );
        }
        for repo in &covered {
            let kept_here = &kept[&repo.repository];
            let dependents = if repo.policy.keep_stack_members {
                self.catalogue.dependents(&repo.repository).await?
            } else {
                Vec::new()
            };
            let mut removed_digests = HashSet::new();
            for version in &repo.versions {
                report.examined += 1;
                let named_by_kept_stack = dependents.iter().any(|stack| {
                    // A stack no policy covers keeps all its versions.
                    let stack_kept = match covered.iter().find(|c| c.repository == stack.repository)
                    {
                        None => true,
                        Some(c) => c.versions.iter().any(|v| {
                            v.version == stack.version && kept[&c.repository].contains(&v.digest)
                        }),
                    };
                    stack_kept && names(&stack.reference, version)
                });
                let immutable = self
                    .index
                    .manifest_tags(&repo.repository, &version.digest)
                    .await?
                    .iter()
                    .any(|tag| {
                        lifecycle
                            .immutable_tag(repo.repository.as_str(), tag.as_str())
                            .is_some()
                    });
                if kept_here.contains(&version.digest) || named_by_kept_stack || immutable {
                    report.kept += 1;
                    continue;
                }
                if !removed_digests.insert(version.digest.clone()) {
                    continue;
                }
                report.removed.push(RetiredVersion {
                    repository: repo.repository.clone(),
                    version: version.version.clone(),
                    digest: version.digest.clone(),
                    tag: version.tag.clone(),
                    pushed_at: version.pushed_at,
                });
            }
        }
        if dry_run {
            return Ok(report);
        }
        let mut deleted = Vec::new();
        for retired in std::mem::take(&mut report.removed) {
            let reference = Reference::Digest(retired.digest.clone());
            match self
                .delete_manifest(&retired.repository, &reference, Some(RETENTION_ACTOR))
                .await
            {
                Ok(()) | Err(RegistryError::ManifestUnknown(_)) => {
                    tracing::info!(
                        repository = %retired.repository,
                        version = %retired.version,
                        digest = %retired.digest,
                        "retention deleted a package version"
                    );
                    deleted.push(retired);
                }
                Err(error) => {
                    let reason = crate::describe(&error);
                    tracing::warn!(repository = %retired.repository, version = %retired.version, error = %reason, "retention could not delete a package version");
                    report.failed.push((retired, reason));
                }
            }
        }
        report.removed = deleted;
        Ok(report)
    }

    /// Every catalogued repository a retention policy covers, with its
    /// versions and that policy.
    async fn covered_versions(&self, lifecycle: &Lifecycle) -> Result<Vec<Covered>, RegistryError> {
        let mut repositories: Vec<RepositoryName> = self
            .catalogue
            .entries()
            .await?
            .into_iter()
            .map(|(repository, _)| repository)
            .collect();
        repositories.dedup();
        let mut covered = Vec::new();
        for repository in repositories {
            let Some(policy) = lifecycle.retention_for(repository.as_str()) else {
                continue;
            };
            let Some(versions) = self.catalogue.versions(&repository).await? else {
                continue;
            };
            covered.push(Covered {
                repository,
                policy: policy.clone(),
                versions: versions.versions,
            });
        }
        Ok(covered)
    }

    /// The manifests of `repo`'s versions its policy's own rules keep (all
    /// but the stack rule, which needs every repository's answer first).
    async fn kept_by_rules(
        &self,
        repo: &Covered,
        now: u64,
    ) -> Result<HashSet<Digest>, RegistryError> {
        let policy = &repo.policy;
        let mut kept = HashSet::new();
        if let Some(last) = policy.keep_last {
            let mut versions: Vec<&Version> = repo.versions.iter().map(|v| &v.version).collect();
            versions.sort_by(|a, b| b.cmp(a));
            versions.dedup();
            let newest: HashSet<&Version> = versions.into_iter().take(last as usize).collect();
            kept.extend(
                repo.versions
                    .iter()
                    .filter(|v| newest.contains(&v.version))
                    .map(|v| v.digest.clone()),
            );
        }
        for version in &repo.versions {
            let recent = policy.keep_days.is_some_and(|days| {
                version.pushed_at.saturating_add(u64::from(days) * 86_400) >= now
            });
            if recent || policy.matching_keeps(&version.version) {
                kept.insert(version.digest.clone());
            }
        }
        if policy.keep_signed {
            for version in &repo.versions {
                if !kept.contains(&version.digest)
                    && self
                        .signatures(&repo.repository, &version.digest)
                        .await?
                        .iter()
                        .any(|signature| signature.trusted)
                {
                    kept.insert(version.digest.clone());
                }
            }
        }
        Ok(kept)
    }
}
