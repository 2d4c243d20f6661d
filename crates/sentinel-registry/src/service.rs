//! The registry's domain service: every operation of the distribution spec,
//! in terms of repositories, blobs, uploads and manifests, over the metadata
//! index and the blob store. The HTTP layer (`routes`) only translates
//! requests and responses; nothing here knows about HTTP.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::Stream;
use sentinel_index::{IndexError, MetadataIndex, NewManifest};
use sentinel_oci::{
    Digest, ManifestError, ParsedManifest, Reference, ReferrerDescriptor, RepositoryName,
};
use sentinel_storage::{BlobStore, BlobStream, StorageError};

pub use sentinel_index::{Page, PageRequest, StoredManifest};
pub use sentinel_storage::{StoredUpload, UploadState};
use std::collections::{HashMap, HashSet};
use std::sync::Weak;

use tokio::sync::{Mutex, OwnedMutexGuard};

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The repository does not hold the blob.
    #[error("blob {0} is not in this repository")]
    BlobUnknown(Digest),
    /// No such upload session in this repository.
    #[error("upload {0} is not known")]
    UploadUnknown(String),
    /// A chunk does not start where the upload ends.
    #[error("the chunk starts at byte {start} but the upload holds {offset} bytes")]
    RangeNotContiguous {
        /// Where the chunk claims to start.
        start: u64,
        /// Where the upload ends.
        offset: u64,
    },
    /// The body's length differs from what its headers declared.
    #[error("the body holds {actual} bytes but {declared} were declared")]
    LengthMismatch {
        /// Declared by `Content-Range` or `Content-Length`.
        declared: u64,
        /// Received.
        actual: u64,
    },
    /// The content hashes to another digest than the client gave.
    #[error("the content's digest is {actual}, not {expected}")]
    DigestMismatch {
        /// What the client said.
        expected: Digest,
        /// What the content hashes to.
        actual: Digest,
    },
    /// The manifest is not in the repository.
    #[error("manifest {0} is not in this repository")]
    ManifestUnknown(String),
    /// The manifest is malformed or of an unsupported type.
    #[error(transparent)]
    ManifestInvalid(#[from] ManifestError),
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error("the manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    ManifestTooLarge,
    /// The manifest references a blob or manifest the repository lacks.
    #[error("the manifest references {0}, which this repository does not hold")]
    ManifestBlobUnknown(Digest),
    /// The repository has never been pushed to.
    #[error("repository {0} is not known")]
    NameUnknown(RepositoryName),
    /// An internal task failed (a bug: it panicked).
    #[error("internal failure: {0}")]
    Internal(String),
    /// The request body ended before it was complete (the client went away).
    #[error(transparent)]
    BodyInterrupted(StorageError),
    /// The metadata index failed.
    #[error(transparent)]
    Index(IndexError),
    /// The blob store failed.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for RegistryError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Body(_) => RegistryError::BodyInterrupted(error),
            StorageError::LengthMismatch { declared, actual } => {
                RegistryError::LengthMismatch { declared, actual }
            }
            other => RegistryError::Storage(other),
        }
    }
}

impl From<IndexError> for RegistryError {
    fn from(error: IndexError) -> Self {
        match error {
            IndexError::MissingReference(digest) => RegistryError::ManifestBlobUnknown(digest),
            other => RegistryError::Index(other),
        }
    }
}

/// The outcome of storing a manifest.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, if it has one.
    pub subject: Option<Digest>,
}

/// A blob that a repository holds, as checked by [`Registry::blob`].
#[derive(Debug, Clone)]
pub struct HeldBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// The outcome of a mount request.
#[derive(Debug)]
pub enum MountOutcome {
    /// The blob is now in the repository.
    Mounted,
    /// The blob could not be mounted; a new upload session was opened instead.
    Session(UploadState),
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Runs `work` on its own task and waits for it. An upload step that holds a
/// session's lock must finish (or fail and clean up) even if the request that
/// started it is dropped because its client went away; dropped halfway, it
/// would free the lock while its writer thread still changes the file.
async fn to_completion<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, RegistryError>> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::spawn(work)
        .await
        .map_err(|e| RegistryError::Internal(e.to_string()))?
}

/// Where an upload's state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// In the index: a chunked upload that may span requests and restarts.
    Persisted,
    /// Only in the request that carries the whole blob.
    InMemory,
}

/// A fresh upload session for `repository`.
fn new_session(repository: &RepositoryName) -> UploadState {
    UploadState::new(
        uuid::Uuid::new_v4().to_string(),
        repository.to_string(),
        now(),
    )
}

/// The registry: repositories of blobs and manifests.
#[derive(Clone)]
pub struct Registry {
    pub(crate) index: Arc<dyn MetadataIndex>,
    pub(crate) blobs: BlobStore,
    /// One lock per upload session in use, so two requests never append to
    /// the same session at once while different sessions never wait on each other.
    upload_locks: Arc<std::sync::Mutex<HashMap<String, Weak<Mutex<()>>>>>,
    /// Dropped with the last clone: tells the server the index is closed.
    _release: Arc<crate::ReleaseGuard>,
}

impl Registry {
    /// A registry over `index` and `blobs`; `release` is dropped with the last clone.
    pub(crate) fn new(
        index: Arc<dyn MetadataIndex>,
        blobs: BlobStore,
        release: crate::ReleaseGuard,
    ) -> Self {
        Registry {
            index,
            blobs,
            upload_locks: Arc::default(),
            _release: Arc::new(release),
        }
    }

    async fn lock_upload(&self, id: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .upload_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.retain(|_, lock| lock.strong_count() > 0);
            match locks.get(id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(Mutex::new(()));
                    locks.insert(id.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    // ---- blobs -------------------------------------------------------------

    /// Blob `digest`, if `repository` holds it.
    pub async fn blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<HeldBlob, RegistryError> {
        let size = self
            .index
            .repository_blob(repository, digest)
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown(digest.clone()))?;
        Ok(HeldBlob {
            digest: digest.clone(),
            size,
        })
    }

    /// The bytes of a held blob, or the `range` of them (which lies inside it).
    pub async fn read_blob(
        &self,
        blob: &HeldBlob,
        range: Option<Range<u64>>,
    ) -> Result<BlobStream, RegistryError> {
        match self.blobs.read(&blob.digest, range).await {
            Err(StorageError::Missing(digest)) => {
                tracing::error!(%digest, "the index lists a blob that storage lacks; push it again to repair");
                Err(RegistryError::BlobUnknown(digest))
            }
            other => Ok(other?),
        }
    }

    /// Removes blob `digest` from `repository`. Its bytes stay in storage
    /// (other repositories may hold it); reclaiming them is garbage collection.
    pub async fn delete_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if self.index.unlink_blob(repository, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown(digest.clone()))
        }
    }

    /// Puts blob `digest`, which the registry already stores, into `repository`.
    ///
    /// With `from`, the blob must be in that repository. Without it, any
    /// repository that holds the blob will do (the spec's automatic content
    /// discovery): knowing a digest is taken as having its content.
    pub async fn mount(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> Result<MountOutcome, RegistryError> {
        let size = match from {
            Some(from) => self.index.repository_blob(from, digest).await?,
            None => self.index.blob(digest).await?,
        };
        match size {
            Some(size) => {
                self.index.link_blob(repository, digest, size).await?;
                Ok(MountOutcome::Mounted)
            }
            None => Ok(MountOutcome::Session(self.start_upload(repository).await?)),
        }
    }

    // ---- uploads -----------------------------------------------------------

    /// Opens an upload session in `repository`.
    pub async fn start_upload(
        &self,
        repository: &RepositoryName,
    ) -> Result<UploadState, RegistryError> {
        let state = new_session(repository);
        self.index.put_upload(&state.id, &state.encode()).await?;
        Ok(state)
    }

    /// The state of upload `id` in `repository`.
    pub async fn upload(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<UploadState, RegistryError> {
        let unknown = || RegistryError::UploadUnknown(id.to_owned());
        let bytes = self.index.upload(id).await?.ok_or_else(unknown)?;
        let state = UploadState::decode(&bytes).ok_or_else(unknown)?;
        if state.repository != repository.as_str() {
            return Err(unknown());
        }
        Ok(state)
    }

    /// Appends `body` to upload `id`. `start` is where the client says the
    /// chunk begins (from `Content-Range`) and `length` how long it says it is.
    pub async fn append<S, E>(
        &self,
        repository: &RepositoryName,
        id: &str,
        start: Option<u64>,
        length: Option<u64>,
        body: S,
    ) -> Result<UploadState, RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        let this = self.clone();
        let repository = repository.clone();
        let id = id.to_owned();
        to_completion(async move {
            let _guard = this.lock_upload(&id).await;
            let mut state = this.upload(&repository, &id).await?;
            this.append_locked(&mut state, start, length, body, true)
                .await?;
            Ok(state)
        })
        .await
    }

    /// Appends `body` to the locked session `state`. With `persist`, the new
    /// state is recorded in the index (a PATCH the client will build on);
    /// without it (the last chunk, about to be published), it is not: a crash
    /// before publishing leaves the previous, still valid, state.
    async fn append_locked<S, E>(
        &self,
        state: &mut UploadState,
        start: Option<u64>,
        length: Option<u64>,
        body: S,
        persist: bool,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(start) = start
            && start != state.offset
        {
            return Err(RegistryError::RangeNotContiguous {
                start,
                offset: state.offset,
            });
        }
        let mut next = state.clone();
        let written = self.blobs.write_part(&mut next, body, length).await?;
        if written > 0 {
            next.updated_at = now();
            if persist {
                self.index.put_upload(&next.id, &next.encode()).await?;
            }
            *state = next;
        }
        Ok(())
    }

    /// Appends `body` (possibly empty) to upload `id`, checks the whole upload
    /// against `digest`, and makes it blob `digest` of `repository`. On a
    /// digest mismatch the upload is discarded.
    pub async fn finish_upload<S, E>(
        &self,
        repository: &RepositoryName,
        id: &str,
        digest: &Digest,
        start: Option<u64>,
        length: Option<u64>,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        let this = self.clone();
        let repository = repository.clone();
        let id = id.to_owned();
        let digest = digest.clone();
        to_completion(async move {
            let _guard = this.lock_upload(&id).await;
            let mut state = this.upload(&repository, &id).await?;
            this.append_locked(&mut state, start, length, body, false)
                .await?;
            this.publish(&repository, &state, &digest, Session::Persisted)
                .await
        })
        .await
    }

    /// Stores `body` as blob `digest` of `repository` in one request.
    pub async fn put_blob<S, E>(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        let this = self.clone();
        let repository = repository.clone();
        let digest = digest.clone();
        // Run to completion, so a failure is always cleaned up below even if
        // the client goes away meanwhile.
        to_completion(async move {
            // A session that never enters the index: nothing can resume it,
            // so whatever fails, the bytes it stored are garbage at once.
            let mut state = new_session(&repository);
            let stored = async {
                this.blobs.write_part(&mut state, body, None).await?;
                this.publish(&repository, &state, &digest, Session::InMemory)
                    .await
            }
            .await;
            if stored.is_err() {
                this.blobs.discard(&state.id).await;
            }
            stored
        })
        .await
    }

    /// Verifies an upload against `digest`, publishes it as a blob and links it
    /// into `repository`, then forgets the session. Each step can be retried:
    /// if the process dies after publishing but before linking, the client's
    /// retry finds the blob stored and links it.
    async fn publish(
        &self,
        repository: &RepositoryName,
        state: &UploadState,
        digest: &Digest,
        session: Session,
    ) -> Result<(), RegistryError> {
        let actual = self.blobs.upload_digest(state, digest.algorithm()).await?;
        if &actual != digest {
            self.blobs.discard(&state.id).await;
            if session == Session::Persisted {
                self.index.delete_upload(&state.id).await?;
            }
            return Err(RegistryError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        // Stored already (by this or another repository, or by an earlier try
        // of this upload that died before its link): keep that one copy. A
        // crash may have come between its publishing rename and the sync of
        // its directory, so make it durable before the index links it.
        let stored = self.blobs.exists(digest).await?
            && match self.blobs.make_durable(digest).await {
                Ok(()) => true,
                // Gone since it was seen: store this upload's copy instead.
                Err(StorageError::Missing(_)) => false,
                Err(e) => return Err(e.into()),
            };
        if stored {
            self.blobs.discard(&state.id).await;
        } else {
            self.blobs.commit(state, digest).await?;
        }
        match session {
            Session::Persisted => {
                self.index
                    .link_uploaded_blob(repository, digest, state.offset, &state.id)
                    .await?
            }
            Session::InMemory => {
                self.index
                    .link_blob(repository, digest, state.offset)
                    .await?
            }
        }
        Ok(())
    }

    /// Abandons upload `id`.
    pub async fn cancel_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<(), RegistryError> {
        let _guard = self.lock_upload(id).await;
        self.upload(repository, id).await?;
        self.blobs.discard(id).await;
        self.index.delete_upload(id).await?;
        Ok(())
    }

    /// Abandons every upload session idle for longer than `max_idle`, and any
    /// whose state cannot be read; returns how many went.
    pub async fn expire_uploads(&self, max_idle: Duration) -> Result<usize, RegistryError> {
        let cutoff = now().saturating_sub(max_idle.as_secs());
        let mut expired = 0;
        for (id, listed) in self.index.uploads().await? {
            let fresh =
                matches!(UploadState::decode(&listed), Some(state) if state.updated_at >= cutoff);
            if fresh {
                continue;
            }
            // Decide again under the session's lock: a request may have
            // touched it since the listing.
            let _guard = self.lock_upload(&id).await;
            let Some(bytes) = self.index.upload(&id).await? else {
                continue;
            };
            if matches!(UploadState::decode(&bytes), Some(state) if state.updated_at >= cutoff) {
                continue;
            }
            // An undecodable state goes too, and its bytes with it: they are
            // found by the session's id alone.
            self.blobs.discard(&id).await;
            self.index.delete_upload(&id).await?;
            expired += 1;
        }
        Ok(expired)
    }

    /// Uploads with bytes in storage but no session in the index (left by a
    /// crash, or by a failure whose cleanup failed too), among those whose
    /// bytes have not changed for `grace`.
    ///
    /// A monolithic push writes bytes without ever having a session, so only
    /// a `grace` longer than any pause in a push keeps one in progress off the
    /// list; [`Duration::ZERO`] lists every orphan (for `fsck`, which runs
    /// with the server stopped).
    pub async fn orphaned_uploads(
        &self,
        grace: Duration,
    ) -> Result<Vec<StoredUpload>, RegistryError> {
        // Storage first, then the index: a session started in between has no
        // bytes in the first listing, and is in the second.
        let stored = self.blobs.stored_uploads().await?;
        let sessions: HashSet<String> = self
            .index
            .uploads()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
        Ok(stored
            .into_iter()
            .filter(|upload| !sessions.contains(&upload.id) && upload.modified <= cutoff)
            .collect())
    }

    /// Deletes the bytes of every upload [`Registry::orphaned_uploads`] lists
    /// for `grace`; returns how many uploads went.
    pub async fn sweep_orphaned_uploads(&self, grace: Duration) -> Result<usize, RegistryError> {
        let orphans = self.orphaned_uploads(grace).await?;
        for orphan in &orphans {
            self.blobs.discard(&orphan.id).await;
        }
        Ok(orphans.len())
    }

    // ---- manifests ---------------------------------------------------------

    /// The manifest `reference` points at in `repository`.
    pub async fn manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<StoredManifest, RegistryError> {
        let found = match reference {
            Reference::Digest(digest) => self.index.manifest(repository, digest).await?,
            Reference::Tag(tag) => self.index.tagged_manifest(repository, tag).await?,
        };
        found.ok_or_else(|| RegistryError::ManifestUnknown(reference.to_string()))
    }

    /// Validates and stores manifest `body`, sent with `content_type`, under
    /// `reference` (a tag, or the digest it must hash to).
    pub async fn put_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<PushedManifest, RegistryError> {
        if body.len() > MAX_MANIFEST_BYTES {
            return Err(RegistryError::ManifestTooLarge);
        }
        let parsed = ParsedManifest::parse(content_type, &body)?;
        let (digest, tag) = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &body);
                if &actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        expected: expected.clone(),
                        actual,
                    });
                }
                (actual, None)
            }
            Reference::Tag(tag) => (Digest::sha256(&body), Some(tag)),
        };
        let subject = parsed.subject.clone();
        let descriptor: Option<ReferrerDescriptor> = subject
            .as_ref()
            .map(|_| parsed.referrer_descriptor(digest.clone(), body.len() as u64));
        let manifest = NewManifest {
            digest: digest.clone(),
            media_type: parsed.kind.media_type().to_owned(),
            body: body.to_vec(),
            blobs: parsed.blobs,
            manifests: parsed.manifests,
            subject: subject.clone().zip(descriptor),
        };
        self.index.put_manifest(repository, manifest, tag).await?;
        Ok(PushedManifest { digest, subject })
    }

    /// Deletes a tag (the manifest stays) or a manifest by digest (with its tags).
    pub async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let deleted = match reference {
            Reference::Digest(digest) => self.index.delete_manifest(repository, digest).await?,
            Reference::Tag(tag) => self.index.delete_tag(repository, tag).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(RegistryError::ManifestUnknown(reference.to_string()))
        }
    }

    // ---- listings ----------------------------------------------------------

    /// A page of `repository`'s tags.
    pub async fn tags(
        &self,
        repository: &RepositoryName,
        page: &PageRequest,
    ) -> Result<Page, RegistryError> {
        self.index
            .tags(repository, page)
            .await?
            .ok_or_else(|| RegistryError::NameUnknown(repository.clone()))
    }

    /// A page of repository names.
    pub async fn catalog(&self, page: &PageRequest) -> Result<Page, RegistryError> {
        Ok(self.index.repositories(page).await?)
    }

    /// The manifests of `repository` whose subject is `subject`, optionally
    /// only those of `artifact_type`.
    pub async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerDescriptor>, RegistryError> {
        let mut referrers = self.index.referrers(repository, subject).await?;
        if let Some(wanted) = artifact_type {
            referrers.retain(|r| r.artifact_type.as_deref() == Some(wanted));
        }
        Ok(referrers)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A registry on local storage under `dir`.
    pub(crate) fn registry(dir: &std::path::Path) -> Registry {
        let index = sentinel_index::RedbIndex::open(&dir.join("index.redb")).unwrap();
        let blobs = BlobStore::open(&sentinel_storage::StorageLocation::Local(
            dir.join("storage"),
        ))
        .unwrap();
        let (guard, _released) = crate::ReleaseGuard::new();
        Registry::new(Arc::new(index), blobs, guard)
    }

    #[tokio::test]
    async fn idle_upload_sessions_expire_and_active_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let repository: RepositoryName = "a/b".parse().unwrap();
        let idle = registry.start_upload(&repository).await.unwrap();
        let chunk = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
        let mut idle = registry
            .append(&repository, &idle.id, Some(0), Some(1), chunk)
            .await
            .unwrap();
        idle.updated_at = 0;
        registry
            .index
            .put_upload(&idle.id, &idle.encode())
            .await
            .unwrap();
        let active = registry.start_upload(&repository).await.unwrap();

        let expired = registry
            .expire_uploads(Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(expired, 1);
        assert!(matches!(
            registry.upload(&repository, &idle.id).await,
            Err(RegistryError::UploadUnknown(_))
        ));
        assert!(registry.upload(&repository, &active.id).await.is_ok());
        assert!(!dir.path().join("storage/uploads").join(&idle.id).exists());
    }

    fn chunk(bytes: &'static [u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter([Ok(Bytes::from_static(bytes))])
    }

    /// Sets the modification time of `path` to `age` ago.
    fn age(path: &std::path::Path, age: Duration) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
    }

    fn upload_files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(dir.join("storage/uploads")) {
            Ok(entries) => entries
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort_unstable();
        names
    }

    #[tokio::test]
    async fn orphaned_upload_bytes_are_swept_once_past_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let repository: RepositoryName = "a/b".parse().unwrap();
        let live = registry.start_upload(&repository).await.unwrap();
        registry
            .append(&repository, &live.id, Some(0), Some(1), chunk(b"x"))
            .await
            .unwrap();
        let uploads = dir.path().join("storage/uploads");
        std::fs::write(uploads.join("orphan-old"), b"left by a crash").unwrap();
        std::fs::write(uploads.join("orphan-new"), b"a push in progress").unwrap();
        let hour = Duration::from_secs(60 * 60);
        age(&uploads.join("orphan-old"), 2 * hour);
        // A session's bytes stay however old they are: the session owns them.
        age(&uploads.join(&live.id), 2 * hour);

        assert_eq!(registry.sweep_orphaned_uploads(hour).await.unwrap(), 1);
        let mut expected = vec!["orphan-new".to_owned(), live.id.clone()];
        expected.sort_unstable();
        assert_eq!(upload_files(dir.path()), expected);

        assert_eq!(
            registry
                .sweep_orphaned_uploads(Duration::ZERO)
                .await
                .unwrap(),
            1
        );
        assert_eq!(upload_files(dir.path()), vec![live.id.clone()]);
        // The session goes on as if nothing happened.
        registry
            .finish_upload(
                &repository,
                &live.id,
                &Digest::sha256(b"xy"),
                Some(1),
                Some(1),
                chunk(b"y"),
            )
            .await
            .unwrap();
        assert!(
            registry
                .blob(&repository, &Digest::sha256(b"xy"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn an_undecodable_session_expires_with_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let repository: RepositoryName = "a/b".parse().unwrap();
        let session = registry.start_upload(&repository).await.unwrap();
        registry
            .append(&repository, &session.id, Some(0), Some(1), chunk(b"x"))
            .await
            .unwrap();
        registry
            .index
            .put_upload(&session.id, b"not an upload state")
            .await
            .unwrap();
        assert_eq!(
            registry
                .expire_uploads(Duration::from_secs(3600))
                .await
                .unwrap(),
            1
        );
        assert_eq!(registry.index.uploads().await.unwrap(), vec![]);
        assert_eq!(upload_files(dir.path()), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_monolithic_push_that_fails_after_writing_leaves_no_upload_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let repository: RepositoryName = "a/b".parse().unwrap();
        // A file where the blob directory belongs: publishing fails after
        // the bytes were written and found to match their digest.
        std::fs::write(dir.path().join("storage/blobs"), b"in the way").unwrap();
        let result = registry
            .put_blob(&repository, &Digest::sha256(b"bytes"), chunk(b"bytes"))
            .await;
        assert!(
            matches!(result, Err(RegistryError::Storage(_))),
            "{result:?}"
        );
        assert_eq!(upload_files(dir.path()), Vec::<String>::new());
    }

    #[tokio::test]
    async fn pushing_a_blob_already_stored_links_that_copy() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let digest = Digest::sha256(b"shared");
        let first: RepositoryName = "a/b".parse().unwrap();
        registry
            .put_blob(&first, &digest, chunk(b"shared"))
            .await
            .unwrap();
        // As after a crash between publishing and linking: stored, not linked.
        registry.index.unlink_blob(&first, &digest).await.unwrap();
        let second: RepositoryName = "c/d".parse().unwrap();
        registry
            .put_blob(&second, &digest, chunk(b"shared"))
            .await
            .unwrap();
        let held = registry.blob(&second, &digest).await.unwrap();
        let bytes: Vec<Bytes> =
            futures_util::TryStreamExt::try_collect(registry.read_blob(&held, None).await.unwrap())
                .await
                .unwrap();
        assert_eq!(bytes.concat(), b"shared");
        assert_eq!(upload_files(dir.path()), Vec::<String>::new());
    }
}
