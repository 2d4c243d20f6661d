//! The package catalogue: what a registry knows of the agents and stacks it
//! stores.
//!
//! The registry records a [`PackageVersion`] for every tagged manifest that is
//! a Sentinel package and forgets it when the manifest goes; the catalogue
//! answers searches, version listings, dependents and popularity over them,
//! and keeps what is not derived from manifests: deprecations and download
//! counts.
//!
//! [`Catalogue`] is the trait; [`EmbeddedCatalogue`] implements it over a
//! redb file and an in-memory search index. Every implementation must pass
//! the shared suite in [`suite`] (feature `test-suite`).
//!
//! Entries are derived data: the registry can rebuild them from its
//! manifests at any time ([`Catalogue::entries`] says what is there, so a
//! rebuild only reads what is missing). Deprecations and downloads are not
//! derived and survive a rebuild.

mod embedded;
mod model;
mod search;
#[cfg(feature = "test-suite")]
pub mod suite;

use async_trait::async_trait;
use semver::Version;
use sentinel_oci::{Digest, RepositoryName};

pub use embedded::{EmbeddedCatalogue, Opened};
pub use model::{
    BlobRef, DependencyRef, Dependent, FacetedPage, Facets, Holding, MAX_CAPABILITY_FACETS,
    MAX_DOWNLOAD_DAYS, MAX_MODEL_FACETS, MAX_README_BYTES, MemberRef, ModelRef, PackageSummary,
    PackageVersion, PackageVersions, PortRef, SearchPage, SearchQuery, Sort, StoredPackage,
    VersionInfo,
};
pub use search::MAX_QUERY_TERMS;

/// A failure of the catalogue's storage.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The backing store failed.
    #[error("catalogue storage failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record cannot be decoded.
    #[error("catalogue record is corrupt: {0}")]
    Corrupt(String),
}

/// Decides whether the caller may see a repository.
pub type Visible<'a> = &'a (dyn Fn(&RepositoryName) -> bool + Send + Sync);

/// Days since the Unix epoch, the unit of download counts.
pub type Day = u32;

/// The package catalogue of a registry.
///
/// Writes are atomic. [`Catalogue::record`] and [`Catalogue::forget`] may be
/// lost in a crash (the registry rebuilds them from its manifests);
/// [`Catalogue::set_deprecation`] is durable when it returns; counted
/// downloads are durable once [`Catalogue::flush`] returns.
#[async_trait]
pub trait Catalogue: Send + Sync + 'static {
    /// Records `entry`, replacing any entry for the same repository and manifest digest.
    async fn record(&self, entry: PackageVersion) -> Result<(), CatalogueError>;

    /// Forgets the entry of manifest `digest` in `repository`; `false` if there was none.
    async fn forget(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, CatalogueError>;

    /// Every (repository, manifest digest) with an entry, in order.
    async fn entries(&self) -> Result<Vec<(RepositoryName, Digest)>, CatalogueError>;

    /// The packages matching `query` that `visible` admits.
    async fn search(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> Result<SearchPage, CatalogueError>;

    /// [`Catalogue::search`], with the [`Facets`] of every match: how many
    /// per kind, per capability and per model. One pass over the matches,
    /// as the search itself makes.
    async fn search_faceted(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> Result<FacetedPage, CatalogueError>;

    /// Downloads of the package in `repository` (every version, including
    /// versions since deleted) on each of the `days` days up to and
    /// including `today`, oldest first, one `(day, count)` per day, zero
    /// where there were none; `days` is capped at [`MAX_DOWNLOAD_DAYS`].
    /// Counts not yet flushed are not included.
    async fn daily_downloads(
        &self,
        repository: &RepositoryName,
        days: u32,
        today: Day,
    ) -> Result<Vec<(Day, u64)>, CatalogueError>;

    /// Every version of the package in `repository`; `None` if it has none.
    async fn versions(
        &self,
        repository: &RepositoryName,
    ) -> Result<Option<PackageVersions>, CatalogueError>;

    /// In brief, what `repository` holds: its package's name and kind, and
    /// the manifest of `version` if that version is catalogued; `None` if
    /// it holds no package. Cheap: what a push checks against.
    async fn holding(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Result<Option<Holding>, CatalogueError>;

    /// The entry of `version` of the package in `repository` (the most
    /// recently pushed, if two manifests carry the same version).
    async fn version(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Result<Option<PackageVersion>, CatalogueError>;

    /// Deprecates `version` with `message`, or lifts its deprecation with
    /// `None`; `false` if the package has no such version. Durable on return.
    async fn set_deprecation(
        &self,
        repository: &RepositoryName,
        version: &Version,
        message: Option<String>,
    ) -> Result<bool, CatalogueError>;

    /// The stack versions whose members name the agent in `repository`.
    async fn dependents(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Dependent>, CatalogueError>;

    /// The `limit` packages `visible` admits (of `kind`, if given) most
    /// downloaded in the `days` days up to and including `today`, with those
    /// downloads; packages without downloads in the period are left out.
    async fn popular(
        &self,
        days: u32,
        today: Day,
        kind: Option<sentinel_package::PackageKind>,
        limit: usize,
        visible: Visible<'_>,
    ) -> Result<Vec<PackageSummary>, CatalogueError>;

    /// Counts a download of blob `blob` from `repository` on `day`, if it is
    /// a catalogued package's `.sntl` file. Cheap: no I/O, no waiting.
    fn count_download(&self, repository: &RepositoryName, blob: &Digest, day: Day);

    /// A number that changes whenever an answer may change (an entry
    /// recorded or forgotten, a deprecation, downloads written), so that a
    /// caller may keep an answer until it does.
    fn generation(&self) -> u64;

    /// Makes the counted downloads, and every earlier write, durable.
    async fn flush(&self) -> Result<(), CatalogueError>;

    /// Flushes and records that the catalogue was closed cleanly, so the
    /// next open need not check it; called once, when the registry stops.
    async fn close(&self) -> Result<(), CatalogueError>;
}
