//! Questions about packages (search, versions, one version, dependents,
//! popularity), deprecations, download counts, and rebuilding the catalogue
//! from the stored manifests.

use std::collections::HashSet;

use futures_util::StreamExt;
use semver::Version;
use sentinel_catalogue::{
    Day, Dependent, FacetedPage, PackageSummary, PackageVersion, PackageVersions, SearchPage,
    SearchQuery, Visible,
};
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;
use sentinel_package::versions::{VersionRequirement, latest};

use super::packages::{Packaged, packaged};
use super::{PageRequest, Registry, RegistryError};
use crate::clock::{now, rfc3339_seconds};

/// Which version of a package a request names.
#[derive(Clone, Debug)]
pub enum VersionChoice {
    /// The highest version that is neither a pre-release nor deprecated.
    Latest,
    /// The highest version meeting a requirement (an exact version is one).
    Requirement(VersionRequirement),
}

impl std::str::FromStr for VersionChoice {
    type Err = sentinel_package::versions::RequirementError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "latest" {
            return Ok(VersionChoice::Latest);
        }
        text.parse().map(VersionChoice::Requirement)
    }
}

impl VersionChoice {
    /// The version of `versions` this choice names; pre-releases match a
    /// requirement only when it names one or `prerelease` is set, and
    /// deprecated versions only when named exactly.
    pub fn resolve(&self, versions: &PackageVersions, prerelease: bool) -> Option<Version> {
        // Looked up once per candidate: a set, not a scan per version.
        let deprecated_set: HashSet<&Version> = versions
            .versions
            .iter()
            .filter(|info| info.deprecated.is_some())
            .map(|info| &info.version)
            .collect();
        let deprecated = |v: &Version| deprecated_set.contains(v);
        let all = versions.versions.iter().map(|info| &info.version);
        match self {
            VersionChoice::Latest => latest(all, deprecated).cloned(),
            VersionChoice::Requirement(requirement) => {
                requirement.highest(all, prerelease, deprecated).cloned()
            }
        }
    }
}

/// What a rebuild of the catalogue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reindexed {
    /// Manifests looked at.
    pub manifests: usize,
    /// Package entries read from their blobs and recorded.
    pub recorded: usize,
    /// Entries kept as they were (a quick rebuild only).
    pub kept: usize,
    /// Entries forgotten: their manifest is gone or untagged.
    pub forgotten: usize,
    /// Package manifests that fail validation (logged, not catalogued).
    pub invalid: usize,
}

/// What a rebuild did with one manifest.
enum Outcome {
    /// Its entry was there already (a quick rebuild).
    Kept,
    /// It was read and recorded.
    Recorded,
    /// A package that fails validation or lacks a blob.
    Invalid,
    /// Not a package, or untagged.
    NotCatalogued,
}

/// How many manifests a rebuild reads at once.
const REINDEX_CONCURRENCY: usize = 8;

/// Today, in days since the Unix epoch.
pub(crate) fn today() -> Day {
    u32::try_from(now() / 86_400).unwrap_or(u32::MAX)
}

impl Registry {
    /// The packages matching `query` that `visible` admits.
    pub async fn search_packages(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> Result<SearchPage, RegistryError> {
        Ok(self.catalogue.search(query, visible).await?)
    }

    /// [`Registry::search_packages`] with how many of all the matches are
    /// of each kind and have each capability.
    pub async fn search_packages_faceted(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> Result<FacetedPage, RegistryError> {
        Ok(self.catalogue.search_faceted(query, visible).await?)
    }

    /// Downloads of the package in `repository` on each of the last `days`
    /// days (today included, at most a year), oldest first.
    pub async fn daily_downloads(
        &self,
        repository: &RepositoryName,
        days: u32,
    ) -> Result<Vec<(Day, u64)>, RegistryError> {
        Ok(self
            .catalogue
            .daily_downloads(repository, days, today())
            .await?)
    }

    /// Whether `repository` holds a catalogued package. Cheap.
    pub async fn holds_package(&self, repository: &RepositoryName) -> Result<bool, RegistryError> {
        let any = Version::new(0, 0, 0);
        Ok(self.catalogue.holding(repository, &any).await?.is_some())
    }

    /// Every version of the package in `repository`.
    pub async fn package_versions(
        &self,
        repository: &RepositoryName,
    ) -> Result<Option<PackageVersions>, RegistryError> {
        Ok(self.catalogue.versions(repository).await?)
    }

    /// The catalogue entry of `version` of the package in `repository`.
    pub async fn package_version(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Result<Option<PackageVersion>, RegistryError> {
        Ok(self.catalogue.version(repository, version).await?)
    }

    /// Deprecates (`Some(message)`) or undeprecates a version; `false` if
    /// there is no such version.
    pub async fn deprecate(
        &self,
        repository: &RepositoryName,
        version: &Version,
        message: Option<String>,
    ) -> Result<bool, RegistryError> {
        Ok(self
            .catalogue
            .set_deprecation(repository, version, message)
            .await?)
    }

    /// The stack versions naming the agent in `repository`.
    pub async fn dependents(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Dependent>, RegistryError> {
        Ok(self.catalogue.dependents(repository).await?)
    }

    /// The most downloaded packages of the last `days` days.
    pub async fn popular(
        &self,
        days: u32,
        kind: Option<PackageKind>,
        limit: usize,
        visible: Visible<'_>,
    ) -> Result<Vec<PackageSummary>, RegistryError> {
        Ok(self
            .catalogue
            .popular(days, today(), kind, limit, visible)
            .await?)
    }

    /// A number that changes whenever a package answer may change: an
    /// answer made at one generation holds while it stays.
    pub fn catalogue_generation(&self) -> u64 {
        self.catalogue.generation()
    }

    /// Counts a download of blob `digest` from `repository` (nothing if it
    /// is not a package's `.sntl` file). No I/O.
    pub fn count_download(&self, repository: &RepositoryName, digest: &Digest) {
        self.catalogue.count_download(repository, digest, today());
    }

    /// Writes counted downloads; failures are logged (counts are lost).
    pub async fn flush_downloads(&self) {
        if let Err(error) = self.catalogue.flush().await {
            tracing::warn!(%error, "could not write download counts");
        }
    }

    /// Writes what the catalogue holds in memory and marks it closed
    /// cleanly; the registry is stopping.
    pub async fn close_catalogue(&self) -> Result<(), RegistryError> {
        Ok(self.catalogue.close().await?)
    }

    /// Brings the catalogue in step with the stored manifests: every tagged
    /// package manifest gets an entry, and entries of manifests gone or
    /// untagged are forgotten. A quick rebuild keeps the entries already
    /// there (a manifest's content never changes); a full one reads every
    /// package again. Deprecations and download counts are kept.
    pub async fn reindex(&self, full: bool) -> Result<Reindexed, RegistryError> {
        let existing: HashSet<(RepositoryName, Digest)> =
            self.catalogue.entries().await?.into_iter().collect();
        let mut seen: HashSet<(RepositoryName, Digest)> = HashSet::new();
        let mut done = Reindexed::default();
        let mut page = PageRequest {
            last: None,
            limit: 1000,
        };
        loop {
            let repositories = self.index.repositories(&page).await?;
            let mut keys = Vec::new();
            for name in &repositories.items {
                let Ok(repository) = name.parse::<RepositoryName>() else {
                    continue;
                };
                for digest in self.index.repository_manifests(&repository).await? {
                    keys.push((repository.clone(), digest));
                }
            }
            // Reading packages is I/O and parsing: a few at once keep both
            // cores busy; the catalogue's writes queue behind one another.
            let existing = &existing;
            let mut outcomes = futures_util::stream::iter(keys)
                .map(|key| async move {
                    let outcome = self.reindex_one(&key, full, existing).await;
                    (key, outcome)
                })
                .buffer_unordered(REINDEX_CONCURRENCY);
            while let Some((key, outcome)) = outcomes.next().await {
                done.manifests += 1;
                if done.manifests.is_multiple_of(1000) {
                    tracing::info!(
                        manifests = done.manifests,
                        recorded = done.recorded,
                        kept = done.kept,
                        "rebuilding the package catalogue"
                    );
                }
                match outcome? {
                    Outcome::Kept => done.kept += 1,
                    Outcome::Recorded => done.recorded += 1,
                    Outcome::Invalid => {
                        done.invalid += 1;
                        continue;
                    }
                    Outcome::NotCatalogued => continue,
                }
                seen.insert(key);
            }
            match (repositories.items.last(), repositories.more) {
                (Some(last), true) => page.last = Some(last.clone()),
                _ => break,
            }
        }
        for (repository, digest) in existing.difference(&seen) {
            if self.catalogue.forget(repository, digest).await? {
                done.forgotten += 1;
            }
        }
        self.catalogue.flush().await?;
        Ok(done)
    }

    /// Catalogues one manifest if it is a tagged package.
    async fn reindex_one(
        &self,
        (repository, digest): &(RepositoryName, Digest),
        full: bool,
        existing: &HashSet<(RepositoryName, Digest)>,
    ) -> Result<Outcome, RegistryError> {
        if self
            .index
            .manifest_tags(repository, digest)
            .await?
            .is_empty()
        {
            return Ok(Outcome::NotCatalogued);
        }
        if !full && existing.contains(&(repository.clone(), digest.clone())) {
            return Ok(Outcome::Kept);
        }
        let Some(manifest) = self.index.manifest(repository, digest).await? else {
            return Ok(Outcome::NotCatalogued);
        };
        let artifact = match packaged(&manifest.body) {
            Ok(Packaged::Yes(artifact)) => artifact,
            Ok(Packaged::No) => return Ok(Outcome::NotCatalogued),
            Err(error) => {
                tracing::warn!(%repository, %digest, %error, "a stored package manifest is invalid; not catalogued");
                return Ok(Outcome::Invalid);
            }
        };
        let created = artifact.annotations.get(sentinel_oci::annotations::CREATED);
        let pushed_at = created.and_then(|c| rfc3339_seconds(c)).unwrap_or_else(now);
        match self
            .check_package(repository, digest, artifact, None, None)
            .await
        {
            Ok(entry) => {
                self.catalogue
                    .record(PackageVersion { pushed_at, ..entry })
                    .await?;
                Ok(Outcome::Recorded)
            }
            Err(RegistryError::PackageInvalid(error)) => {
                tracing::warn!(%repository, %digest, %error, "a stored package is invalid; not catalogued");
                Ok(Outcome::Invalid)
            }
            Err(RegistryError::ManifestBlobUnknown(blob) | RegistryError::BlobUnknown(blob)) => {
                tracing::warn!(%repository, %digest, %blob, "a stored package lacks a blob; not catalogued");
                Ok(Outcome::Invalid)
            }
            Err(other) => Err(other),
        }
    }
}
