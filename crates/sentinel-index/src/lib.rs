//! The registry's metadata index, behind one narrow trait.
//!
//! The index records which repositories exist, which blobs each repository
//! holds, the manifests (their exact bytes) and tags of each repository, the
//! referrers of each manifest, the state of upload sessions and how many
//! bytes of distinct blobs each namespace holds. Blob *content*
//! is not here: it lives in the content store (`sentinel-storage`).
//!
//! [`MetadataIndex`] is the whole contract. [`RedbIndex`] implements it on an
//! embedded, crash-safe [redb](https://docs.rs/redb) file; every
//! implementation must pass the shared suite in [`suite`] (feature
//! `test-suite`), which is how a future PostgreSQL implementation proves
//! itself equivalent.

mod outbox;
mod redb_index;
#[cfg(feature = "test-suite")]
pub mod suite;

use async_trait::async_trait;
use sentinel_oci::{Descriptor, Digest, RepositoryName, Tag};
use sentinel_storage::UploadProgress;
use serde::{Deserialize, Serialize};

pub use outbox::{
    DELIVERY_HISTORY, DeliveryNext, DeliveryResult, EventOutbox, OutboxEvent, PendingDelivery,
};
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
    /// Linking a blob would take its namespace over the quota it was given.
    #[error(
        "namespace {namespace} is over its quota: linking {size} more bytes to the {usage} it holds would exceed its {quota}"
    )]
    QuotaExceeded {
        /// The namespace (first component of the repository name).
        namespace: String,
        /// Its quota in bytes.
        quota: u64,
        /// The bytes it holds.
        usage: u64,
        /// The size of the blob refused.
        size: u64,
    },
    /// A stored record could not be decoded.
    #[error("corrupt metadata index record: {0}")]
    Corrupt(String),
    /// The blob's bytes are being deleted by garbage collection: it cannot
    /// be linked until they are gone (then it is uploaded afresh).
    #[error("blob {0} is being deleted by garbage collection")]
    BlobDeleting(Digest),
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
    /// Events to append to the outbox in the same transaction (opaque
    /// bodies, see [`EventOutbox`]).
    pub events: Vec<Vec<u8>>,
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

/// What a garbage collection may delete in one repository, as a snapshot
/// found it ([`MetadataIndex::gc_candidates`]); [`MetadataIndex::collect`]
/// checks every entry again before deleting anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcCandidates {
    /// Manifests that were untagged, old, and kept by nothing kept.
    pub manifests: Vec<Digest>,
    /// Blob links that were old and referenced by no manifest outside
    /// `manifests`.
    pub blobs: Vec<Digest>,
}

/// What [`MetadataIndex::collect`] deleted (or, in a dry run, would delete)
/// from one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// The manifests deleted.
    pub manifests: Vec<Digest>,
    /// The blob links removed, with the blobs' sizes.
    pub blob_links: Vec<(Digest, u64)>,
    /// The blobs whose last link went: their bytes are now orphaned.
    pub orphaned: Vec<(Digest, u64)>,
}

/// A blob no repository holds any more, whose bytes are still stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanedBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes (0 if unknown: bytes a crashed upload may have left).
    pub size: u64,
    /// When its last link went, in seconds since the Unix epoch.
    pub since: u64,
}

/// The metadata index of a registry.
///
/// Every method is atomic: a reader sees a write completely or not at all, and
/// a write that returned `Ok` survives a crash of the process. The event
/// outbox ([`EventOutbox`]) is part of the contract.
#[async_trait]
pub trait MetadataIndex: EventOutbox + Send + Sync + 'static {
    /// The size of blob `digest` if at least one repository holds it.
    async fn blob(&self, digest: &Digest) -> Result<Option<u64>, IndexError>;

    /// Records that `repository` holds the blob `digest` of `size` bytes
    /// (creating the repository if needed). The blob must already be stored.
    ///
    /// The blob counts in the usage of the repository's namespace (see
    /// [`MetadataIndex::namespace_usage`]). With `limit`, a blob the
    /// namespace does not hold yet is refused with
    /// [`IndexError::QuotaExceeded`] if it would take the usage over
    /// `limit` bytes; the check and the link are one transaction.
    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
        limit: Option<u64>,
    ) -> Result<(), IndexError>;

    /// The size of blob `digest` if `repository` holds it.
    async fn repository_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, IndexError>;

    /// [`MetadataIndex::link_blob`] and [`MetadataIndex::delete_upload`] of
    /// the session that uploaded it, in one transaction; refused as a whole
    /// (the session stays) when `limit` refuses the link.
    async fn link_uploaded_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
        upload: &str,
        limit: Option<u64>,
    ) -> Result<(), IndexError>;

    /// Removes blob `digest` from `repository` (and from its namespace's
    /// usage, unless another repository of the namespace holds it);
    /// `false` if it was not there.
    async fn unlink_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, IndexError>;

    /// The bytes of the distinct blobs the repositories of `namespace` (the
    /// first component of their names) hold: a blob in two of them counts once.
    async fn namespace_usage(&self, namespace: &str) -> Result<u64, IndexError>;

    /// Every namespace holding at least one blob, with its usage, in name order.
    async fn namespace_usages(&self) -> Result<Vec<(String, u64)>, IndexError>;

    /// Stores `manifest` in `repository` and, if given, points `tag` at it;
    /// its `events` are appended to the outbox in the same transaction.
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
    /// If it was there, `events` are appended to the outbox in the same
    /// transaction.
    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        events: Vec<Vec<u8>>,
    ) -> Result<bool, IndexError>;

    /// Deletes `tag` from `repository` (the manifest stays); `false` if
    /// absent. If it was there, `events` are appended to the outbox in the
    /// same transaction.
    async fn delete_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        events: Vec<Vec<u8>>,
    ) -> Result<bool, IndexError>;

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

    /// Puts blob `digest` into `repository` if `from` holds it (without
    /// `from`: if any repository does), in one transaction, so the blob
    /// cannot lose its last link (and its bytes) in between; its size, or
    /// `None` if it was not held. `limit` is the quota of
    /// [`MetadataIndex::link_blob`].
    async fn mount_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
        limit: Option<u64>,
    ) -> Result<Option<u64>, IndexError>;

    /// Notes that a client looked at blob `digest` of `repository` at `now`
    /// (seconds since the Unix epoch): if its link time is older than
    /// `max_age` seconds, it becomes `now`, so a push that found the blob
    /// present has time to reference it. Writes nothing otherwise, and
    /// nothing if the repository does not hold the blob.
    async fn touch_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        now: u64,
        max_age: u64,
    ) -> Result<(), IndexError>;

    /// [`MetadataIndex::touch_blob`] for manifest `digest` of `repository`.
    async fn touch_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        now: u64,
        max_age: u64,
    ) -> Result<(), IndexError>;

    /// A snapshot of what garbage collection may delete in `repository` at
    /// `now`: the manifests neither tagged nor pushed (or touched) in the
    /// last `grace` seconds, nor kept by a kept manifest (as its child, its
    /// subject or its referrer), and the blob links as old that no kept
    /// manifest references.
    async fn gc_candidates(
        &self,
        repository: &RepositoryName,
        now: u64,
        grace: u64,
    ) -> Result<GcCandidates, IndexError>;

    /// Deletes, in one transaction, what of `candidates` is still garbage at
    /// `now`: it drops every manifest tagged or younger than `grace` seconds
    /// now, then, until nothing changes, every one with a parent, referrer
    /// or subject outside the remaining set; it deletes the rest, then every
    /// candidate blob link older than `grace` that no manifest of the
    /// repository references. Blobs whose last link goes become orphaned
    /// ([`MetadataIndex::orphaned_blobs`]). With `dry_run`, nothing is
    /// written and the answer says what would have gone.
    async fn collect(
        &self,
        repository: &RepositoryName,
        candidates: &GcCandidates,
        now: u64,
        grace: u64,
        dry_run: bool,
    ) -> Result<Collected, IndexError>;

    /// What [`MetadataIndex::collect`] would delete from `repository` at
    /// `now` right after manifests `retired` were deleted by digest (as
    /// retention deletes package versions before a collection): the
    /// deletion, the snapshot ([`MetadataIndex::gc_candidates`]) and the
    /// collection run in one transaction that is then aborted, so nothing
    /// is written. The answer's manifests leave out `retired`.
    async fn preview_collect(
        &self,
        repository: &RepositoryName,
        retired: &[Digest],
        now: u64,
        grace: u64,
    ) -> Result<Collected, IndexError>;

    /// Reserves blob `digest` for upload `upload` at `now`, before its bytes
    /// are committed to storage: garbage collection does not start deleting
    /// the bytes of a reserved digest. `false` (nothing reserved) while
    /// the digest's bytes are being deleted: wait and try again.
    async fn reserve_blob(
        &self,
        digest: &Digest,
        upload: &str,
        now: u64,
    ) -> Result<bool, IndexError>;

    /// Drops the reservation of `digest` by `upload` (an upload that failed);
    /// [`MetadataIndex::link_uploaded_blob`] drops it too.
    async fn release_blob(&self, digest: &Digest, upload: &str) -> Result<(), IndexError>;

    /// Drops every reservation made before `cutoff` (an upload that
    /// crashed between reserving and linking): a digest left held by no
    /// repository and no other reservation becomes orphaned, since its
    /// bytes may be stored. Returns how many reservations went.
    async fn expire_reservations(&self, cutoff: u64) -> Result<usize, IndexError>;

    /// Every orphaned blob, in digest order.
    async fn orphaned_blobs(&self) -> Result<Vec<OrphanedBlob>, IndexError>;

    /// Step one of deleting orphaned blobs' bytes, in one transaction: each
    /// of `digests` still orphaned, held by no repository and reserved by no
    /// upload is marked as being deleted (links and reservations of it are
    /// refused from then on); returns those, with their sizes.
    async fn begin_blob_deletions(
        &self,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, u64)>, IndexError>;

    /// Step three, once their bytes are gone from storage: forgets `digests`.
    async fn finish_blob_deletions(&self, digests: &[Digest]) -> Result<(), IndexError>;

    /// The blobs marked as being deleted, with their sizes: after a crash,
    /// their bytes may still be stored.
    async fn deleting_blobs(&self) -> Result<Vec<(Digest, u64)>, IndexError>;
}
