//! The registry's metadata index, behind one narrow trait.
//!
//! The index records which repositories exist, which blobs each repository
//! holds, the manifests (their exact bytes) and tags of each repository, the
//! referrers of each manifest and the state of upload sessions. Blob *content*
//! is not here: it lives in the content store (`sentinel-storage`).
//!
//! [`MetadataIndex`] is the whole contract. [`RedbIndex`] implements it on an
//! embedded, crash-safe [redb](https://docs.rs/redb) file; every
//! implementation must pass the shared suite in [`suite`] (feature
//! `test-suite`), which is how a future PostgreSQL implementation proves
//! itself equivalent.

mod redb_index;
#[cfg(feature = "test-suite")]
pub mod suite;

use async_trait::async_trait;
use sentinel_oci::{Descriptor, Digest, RepositoryName, Tag};
use sentinel_storage::UploadProgress;
use serde::{Deserialize, Serialize};

pub use redb_index::RedbIndex;

/// A failure of the index itself (as opposed to an absent entry, which is `None` or `false`).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A manifest names a blob or manifest the repository does not hold.
    #[error("the manifest references {0}, which this repository does not hold")]
    MissingReference(Digest),
    /// The underlying database failed.
    #[error("metadata index failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be decoded.
    #[error("corrupt metadata index record: {0}")]
    Corrupt(String),
}

/// A manifest to store: its identity, exact bytes, and what it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManifest {
    /// The digest of `body`.
    pub digest: Digest,
    /// The media type the manifest was pushed with.
    pub media_type: String,
    /// The exact bytes pushed.
    pub body: Vec<u8>,
    /// Blobs that must be held by the repository.
    pub blobs: Vec<Digest>,
    /// Manifests that must be held by the repository.
    pub manifests: Vec<Digest>,
    /// The manifest's subject, with the descriptor to list among its referrers.
    pub subject: Option<(Digest, Descriptor)>,
}

/// A stored manifest, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// The media type it was pushed with.
    pub media_type: String,
    /// The exact bytes pushed.
    pub body: Vec<u8>,
}

/// Which slice of a sorted listing to return (the spec's `n` and `last`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Return only entries that sort after this one.
    pub last: Option<String>,
    /// Return at most this many entries.
    pub limit: usize,
}

/// A slice of a sorted listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The entries, in lexical order.
    pub items: Vec<String>,
    /// Whether entries remain after the last one returned.
    pub more: bool,
}

/// An upload session, as the index records it: which repository it is for,
/// when it last changed, and how far its bytes have got in storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// The session id (a UUID), also the name of its bytes in storage.
    pub id: String,
    /// The repository the upload was started in.
    pub repository: String,
    /// When the session started or last received data, in seconds since the
    /// Unix epoch; sessions idle for too long are expired.
    pub updated_at: u64,
    /// How far its bytes have got, as storage reports it.
    #[serde(flatten)]
    pub progress: UploadProgress,
}

impl UploadSession {
    /// A new session `id` in `repository`, holding nothing yet, started at `now`.
    pub fn new(id: String, repository: &RepositoryName, now: u64) -> Self {
        UploadSession {
            id,
            repository: repository.to_string(),
            updated_at: now,
            progress: UploadProgress::default(),
        }
    }
}

/// An upload session as listed by [`MetadataIndex::uploads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUpload {
    /// The session's id.
    pub id: String,
    /// Its record; `None` if the record could not be decoded (the session's
    /// bytes are then known by its id alone).
    pub session: Option<UploadSession>,
}

/// The metadata index of a registry.
///
/// Every method is atomic: a reader sees a write completely or not at all, and
/// a write that returned `Ok` survives a crash of the process.
#[async_trait]
pub trait MetadataIndex: Send + Sync + 'static {
    /// The size of blob `digest` if at least one repository holds it.
    async fn blob(&self, digest: &Digest) -> Result<Option<u64>, IndexError>;

    /// Records that `repository` holds the blob `digest` of `size` bytes
    /// (creating the repository if needed). The blob must already be stored.
    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), IndexError>;

    /// The size of blob `digest` if `repository` holds it.
    async fn repository_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, IndexError>;

    /// [`MetadataIndex::link_blob`] and [`MetadataIndex::delete_upload`] of
    /// the session that uploaded it, in one transaction.
    async fn link_uploaded_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
        upload: &str,
    ) -> Result<(), IndexError>;

    /// Removes blob `digest` from `repository`; `false` if it was not there.
    async fn unlink_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, IndexError>;

    /// Stores `manifest` in `repository` and, if given, points `tag` at it.
    ///
    /// Fails with [`IndexError::MissingReference`] unless every blob and
    /// manifest it references is held by the repository; the check and the
    /// write are one transaction.
    async fn put_manifest(
        &self,
        repository: &RepositoryName,
        manifest: NewManifest,
        tag: Option<&Tag>,
    ) -> Result<(), IndexError>;

    /// The manifest `digest` of `repository`.
    async fn manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, IndexError>;

    /// The manifest `tag` points at in `repository`.
    async fn tagged_manifest(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<StoredManifest>, IndexError>;

    /// Deletes manifest `digest` from `repository`, with every tag pointing at
    /// it and its entry among its subject's referrers; `false` if absent.
    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, IndexError>;

    /// Deletes `tag` from `repository` (the manifest stays); `false` if absent.
    async fn delete_tag(&self, repository: &RepositoryName, tag: &Tag) -> Result<bool, IndexError>;

    /// A page of `repository`'s tags in lexical order; `None` if the repository is unknown.
    async fn tags(
        &self,
        repository: &RepositoryName,
        page: &PageRequest,
    ) -> Result<Option<Page>, IndexError>;

    /// Every blob `repository` holds, with its size, in digest order.
    async fn repository_blobs(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<(Digest, u64)>, IndexError>;

    /// The digest of every manifest `repository` holds, in digest order.
    async fn repository_manifests(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Digest>, IndexError>;

    /// The tags pointing at manifest `digest` of `repository`, in lexical order.
    async fn manifest_tags(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<Tag>, IndexError>;

    /// The descriptors of the manifests in `repository` whose subject is `subject`.
    async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>, IndexError>;

    /// A page of repository names in lexical order.
    async fn repositories(&self, page: &PageRequest) -> Result<Page, IndexError>;

    /// Creates or replaces the record of upload session `session.id`.
    async fn put_upload(&self, session: &UploadSession) -> Result<(), IndexError>;

    /// The record of upload session `id`; [`IndexError::Corrupt`] if it
    /// cannot be decoded.
    async fn upload(&self, id: &str) -> Result<Option<UploadSession>, IndexError>;

    /// Forgets upload session `id`; `false` if it was not there.
    async fn delete_upload(&self, id: &str) -> Result<bool, IndexError>;

    /// Every upload session, in id order.
    async fn uploads(&self) -> Result<Vec<ListedUpload>, IndexError>;
}
