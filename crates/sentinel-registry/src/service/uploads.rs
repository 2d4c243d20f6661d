//! Upload sessions: the service drives each upload's [`BlobUpload`] handle
//! (which owns its bytes in storage) and records the session in the index
//! between requests.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use sentinel_index::IndexError;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_storage::{BlobUpload, UploadProgress};

use super::{Registry, RegistryError, UploadSession, now};

/// A request body as the service reads it: chunks of bytes, any of which
/// may fail to arrive, that can move to the task storing them.
pub trait BodyStream:
    Stream<Item = Result<Bytes, <Self as BodyStream>::Error>> + Unpin + Send + 'static
{
    /// Why a chunk failed to arrive.
    type Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static;
}

impl<S, E> BodyStream for S
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Error = E;
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

/// How long a commit waits between attempts to reserve a digest whose bytes
/// garbage collection is deleting (one storage delete: milliseconds, or a
/// few retries on an object store).
const RESERVE_RETRY: Duration = Duration::from_millis(50);
/// How many attempts a commit makes before answering that the blob is busy.
const RESERVE_ATTEMPTS: u32 = 200;

/// A fresh upload id.
fn new_upload_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Appends `body` to `upload`, which must end where the client says the
/// chunk starts (`start`, from `Content-Range`); `length` is how long the
/// client says the body is. Returns how many bytes were stored.
async fn append_at<S, E>(
    upload: &mut BlobUpload,
    start: Option<u64>,
    length: Option<u64>,
    body: S,
) -> Result<u64, RegistryError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let offset = upload.progress().offset;
    if let Some(start) = start
        && start != offset
    {
        return Err(RegistryError::RangeNotContiguous { start, offset });
    }
    Ok(upload.append(body, length).await?)
}

impl Registry {
    /// Makes `upload` blob `digest` of `repository`: reserves the digest
    /// (so garbage collection cannot start deleting its bytes), commits the
    /// bytes to storage, then links the blob, drops the reservation and the
    /// upload's session (if it has one) in one transaction. While the
    /// digest's bytes are being deleted the reservation waits, boundedly,
    /// for the deletion to end. See docs/gc.md.
    pub(super) async fn commit_blob(
        &self,
        upload: &BlobUpload,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let id = upload.id();
        // Refused before the bytes become a blob when they would take the
        // namespace over its quota; the link checks again, atomically.
        self.check_new_blob_quota(repository, digest, upload.progress().offset)
            .await?;
        let mut reserved = false;
        for _ in 0..RESERVE_ATTEMPTS {
            if self.index.reserve_blob(digest, id, now()).await? {
                reserved = true;
                break;
            }
            tokio::time::sleep(RESERVE_RETRY).await;
        }
        if !reserved {
            return Err(RegistryError::BlobBeingDeleted(digest.clone()));
        }
        let linked = async {
            match upload.commit(digest).await {
                Ok(committed) => {
                    tracing::debug!(upload = %id, %digest, ?committed, "upload committed")
                }
                Err(e) => return Err(RegistryError::from(e)),
            }
            let limit = self.quota_of(repository);
            self.index
                .link_uploaded_blob(repository, digest, upload.progress().offset, id, limit)
                .await?;
            Ok(())
        }
        .await;
        if linked.is_err()
            && let Err(error) = self.index.release_blob(digest, id).await
        {
            // The reservation expires on its own (see docs/gc.md).
            tracing::warn!(%error, %digest, "could not release a blob reservation");
        }
        linked
    }

    /// Opens an upload session in `repository`; refused while the
    /// repository's namespace is at or over its quota.
    pub async fn start_upload(
        &self,
        repository: &RepositoryName,
    ) -> Result<UploadSession, RegistryError> {
        self.check_quota(repository, None).await?;
        let session = UploadSession::new(new_upload_id(), repository, now());
        self.index.put_upload(&session).await?;
        Ok(session)
    }

    /// The session of upload `id` in `repository`.
    pub async fn upload(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<UploadSession, RegistryError> {
        let unknown = || RegistryError::UploadUnknown(id.to_owned());
        let session = match self.index.upload(id).await {
            // A record that cannot be read is no session to go on with.
            Err(IndexError::Corrupt(_)) => return Err(unknown()),
            found => found?.ok_or_else(unknown)?,
        };
        if session.repository != repository.as_str() {
            return Err(unknown());
        }
        Ok(session)
    }

    /// The handle on `session`'s bytes in storage.
    pub(super) fn upload_handle(&self, session: &UploadSession) -> BlobUpload {
        self.blobs
            .open_upload(session.id.clone(), session.progress.clone())
    }

    /// Appends `body` to upload `id`. `start` is where the client says the
    /// chunk begins (from `Content-Range`) and `length` how long it says it
    /// is. The new progress is recorded in the index (a PATCH the client
    /// will build on).
    pub async fn append(
        &self,
        repository: &RepositoryName,
        id: &str,
        start: Option<u64>,
        length: Option<u64>,
        body: impl BodyStream,
    ) -> Result<UploadSession, RegistryError> {
        let this = self.clone();
        let repository = repository.clone();
        let id = id.to_owned();
        to_completion(async move {
            let _guard = this.lock_upload(&id).await;
            let mut session = this.upload(&repository, &id).await?;
            let mut upload = this.upload_handle(&session);
            if append_at(&mut upload, start, length, body).await? > 0 {
                session.updated_at = now();
                session.progress = upload.progress().clone();
                this.index.put_upload(&session).await?;
            }
            Ok(session)
        })
        .await
    }

    /// Appends `body` (possibly empty) to upload `id`, checks the whole upload
    /// against `digest`, and makes it blob `digest` of `repository`. On a
    /// digest mismatch the upload is discarded.
    ///
    /// The last chunk's progress is never recorded: a crash before the blob
    /// is linked leaves the previous, still valid, session. Each step can be
    /// retried: if the process dies after publishing but before linking, the
    /// client's retry finds the blob stored and links it.
    pub async fn finish_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
        digest: &Digest,
        start: Option<u64>,
        length: Option<u64>,
        body: impl BodyStream,
    ) -> Result<(), RegistryError> {
        let this = self.clone();
        let repository = repository.clone();
        let id = id.to_owned();
        let digest = digest.clone();
        to_completion(async move {
            let _guard = this.lock_upload(&id).await;
            let session = this.upload(&repository, &id).await?;
            let mut upload = this.upload_handle(&session);
            append_at(&mut upload, start, length, body).await?;
            match this.commit_blob(&upload, &repository, &digest).await {
                // The upload's bytes are gone: so goes its session.
                Err(mismatch @ RegistryError::DigestMismatch { .. }) => {
                    this.index.delete_upload(&id).await?;
                    Err(mismatch)
                }
                // Over the quota: the bytes and the session go. Refused
                // before the commit, nothing was stored; refused by the link
                // (another push took the room meanwhile), the stored blob is
                // linked nowhere new, and garbage collection's.
                Err(refused @ RegistryError::QuotaExceeded { .. }) => {
                    this.quota_refused(&repository, &refused).await;
                    upload.cancel().await;
                    this.index.delete_upload(&id).await?;
                    Err(refused)
                }
                other => other,
            }
        })
        .await
    }

    /// Stores `body` as blob `digest` of `repository` in one request;
    /// `declared` is the body's length, if the client said it. Refused
    /// before anything is stored when the namespace is over its quota or
    /// `declared` bytes would take it over, and before the bytes become a
    /// blob when what arrived would.
    pub async fn put_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        declared: Option<u64>,
        body: impl BodyStream,
    ) -> Result<(), RegistryError> {
        if self.quota_of(repository).is_some() && self.index.blob(digest).await?.is_none() {
            self.check_quota(repository, declared).await?;
        }
        let this = self.clone();
        let repository = repository.clone();
        let digest = digest.clone();
        // Run to completion, so a failure is always cleaned up below even if
        // the client goes away meanwhile.
        to_completion(async move {
            // An upload that is never recorded in the index: nothing can
            // resume it, so whatever fails, the bytes it stored are garbage
            // at once.
            let mut upload = this
                .blobs
                .open_upload(new_upload_id(), UploadProgress::default());
            let stored = async {
                upload.append(body, None).await?;
                this.commit_blob(&upload, &repository, &digest).await
            }
            .await;
            if stored.is_err() {
                upload.cancel().await;
            }
            stored
        })
        .await
    }

    /// Abandons upload `id`.
    pub async fn cancel_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<(), RegistryError> {
        let _guard = self.lock_upload(id).await;
        let session = self.upload(repository, id).await?;
        self.upload_handle(&session).cancel().await;
        self.index.delete_upload(id).await?;
        Ok(())
    }
}
