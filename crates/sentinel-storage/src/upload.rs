//! An upload in progress: what storage keeps of it between requests, and the
//! handle that appends to it and finishes it.
//!
//! [`BlobUpload`] is the one owner of an upload's bytes: it appends request
//! bodies, and its [`BlobUpload::commit`] does the whole finish (check the
//! digest, then reuse a stored copy of the blob or publish this one durably,
//! and report which), or [`BlobUpload::cancel`] drops the bytes. Underneath,
//! one [`UploadBackend`] per kind of storage does the work: one file on local
//! disk (`local`), or part objects on an object store (`parts`).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use sentinel_oci::{Digest, DigestAlgorithm, Digester};
use serde::{Deserialize, Serialize};

use crate::error::StorageError;

/// A request body's failure, whatever its type.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A request body, as the backends take it.
pub(crate) type UploadBody = BoxStream<'static, Result<Bytes, BodyError>>;

/// How far an upload has got, in storage's terms: everything needed to
/// continue it after a restart. Who the upload is for and when it last
/// changed are the caller's to record beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadProgress {
    /// Bytes received so far (the sum of `parts`).
    pub offset: u64,
    /// The size of each request body stored, in order; on an object store,
    /// part `n` is object `uploads/<id>/<n>`.
    pub parts: Vec<u64>,
    /// The saved sha256 state after the last part (`Digester::save`).
    pub hash_state: Vec<u8>,
}

impl Default for UploadProgress {
    /// An upload that holds nothing yet.
    fn default() -> Self {
        UploadProgress {
            offset: 0,
            parts: Vec::new(),
            hash_state: Digester::new(DigestAlgorithm::Sha256).save(),
        }
    }
}

/// An upload's bytes as found in storage, whether or not a session owns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    /// The upload's id: its name under `uploads/`.
    pub id: String,
    /// When its bytes last changed (for parts, the newest part).
    pub modified: SystemTime,
}

/// What committing an upload did with its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// They are now the blob, published in one atomic, durable step.
    Stored,
    /// The blob was stored already (and is now known durable); the upload's
    /// bytes were dropped.
    Reused,
}

/// The work behind [`BlobUpload`] on one kind of storage. Every method takes
/// the upload's id, which names its bytes, and (where it matters) its
/// progress so far.
#[async_trait]
pub(crate) trait UploadBackend: Send + Sync {
    /// Stores `body` after the upload's bytes and, once it is completely
    /// stored, advances `progress`. If the body fails midway, or its length
    /// differs from `expected`, nothing is stored and `progress` is
    /// unchanged. Returns the body's size.
    async fn append(
        &self,
        id: &str,
        progress: &mut UploadProgress,
        body: UploadBody,
        expected: Option<u64>,
    ) -> Result<u64, StorageError>;

    /// The digest of the upload's bytes under `algorithm`, read back from storage.
    async fn digest(
        &self,
        id: &str,
        progress: &UploadProgress,
        algorithm: DigestAlgorithm,
    ) -> Result<Digest, StorageError>;

    /// Whether blob `digest` is stored, made durable if it is: on local disk
    /// a crash may have come between a publishing rename and the sync of its
    /// directory.
    async fn holds(&self, digest: &Digest) -> Result<bool, StorageError>;

    /// Publishes the upload's bytes as blob `digest` (verified by the
    /// caller) in one atomic, durable step; then its bytes are gone from
    /// `uploads/`.
    async fn publish(
        &self,
        id: &str,
        progress: &UploadProgress,
        digest: &Digest,
    ) -> Result<(), StorageError>;

    /// Removes whatever upload `id` has stored; absent bytes are no error.
    async fn discard(&self, id: &str) -> Result<(), StorageError>;

    /// Every upload that has bytes in storage, with when they last changed.
    async fn stored(&self) -> Result<Vec<StoredUpload>, StorageError>;

    /// What is wrong with the upload's stored bytes (missing, or shorter
    /// than recorded), if anything.
    async fn check(&self, id: &str, progress: &UploadProgress)
    -> Result<Vec<String>, StorageError>;
}

/// Removes upload `id`'s bytes through `backend`. Best effort: a leftover
/// is garbage, never visible as a blob, and the orphan sweep finds it again;
/// a failure is logged.
pub(crate) async fn discard(backend: &dyn UploadBackend, id: &str) {
    if let Err(error) = backend.discard(id).await {
        tracing::warn!(upload = %id, %error, "could not remove an upload's stored bytes");
    }
}

/// One upload's bytes in storage, and how far they go: appended to request
/// by request, then committed as a blob or cancelled. Dropping the handle
/// leaves the bytes where they are, for a later handle with the same
/// progress to go on with.
pub struct BlobUpload {
    /// The storage doing the work.
    backend: Arc<dyn UploadBackend>,
    /// The upload's id (a UUID): the name of its bytes under `uploads/`.
    id: String,
    /// How far it has got.
    progress: UploadProgress,
}

impl std::fmt::Debug for BlobUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobUpload")
            .field("id", &self.id)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl BlobUpload {
    /// Upload `id` at `progress`, through `backend`.
    pub(crate) fn new(
        backend: Arc<dyn UploadBackend>,
        id: String,
        progress: UploadProgress,
    ) -> Self {
        BlobUpload {
            backend,
            id,
            progress,
        }
    }

    /// The upload's id (the name of its bytes in storage).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How far the upload has got (to record between requests).
    pub fn progress(&self) -> &UploadProgress {
        &self.progress
    }

    /// Stores `body` as the upload's next bytes and, once it is completely
    /// stored, advances the progress. If the body fails midway, or its
    /// length differs from `expected`, nothing is stored and the progress is
    /// unchanged. Returns the body's size.
    pub async fn append<S, E>(
        &mut self,
        body: S,
        expected: Option<u64>,
    ) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BodyError> + 'static,
    {
        let body = body.map_err(Into::into).boxed();
        self.backend
            .append(&self.id, &mut self.progress, body, expected)
            .await
    }

    /// The digest of everything the upload holds, under `algorithm`: sha256
    /// from the saved hash state; any other algorithm reads the bytes back.
    pub(crate) async fn digest(&self, algorithm: DigestAlgorithm) -> Result<Digest, StorageError> {
        if algorithm == DigestAlgorithm::Sha256 {
            return Digester::restore(algorithm, &self.progress.hash_state)
                .map(Digester::finish)
                .ok_or_else(|| StorageError::CorruptState(self.id.clone()));
        }
        self.backend
            .digest(&self.id, &self.progress, algorithm)
            .await
    }

    /// Finishes the upload as blob `digest`: checks that its bytes hash to
    /// `digest` (if not, discards them and fails with
    /// [`StorageError::DigestMismatch`]); then keeps the copy of the blob
    /// already stored, if there is one, or else publishes these bytes in one
    /// atomic, durable step. Either way the blob is durable when this
    /// returns. Each step can be retried: if publishing fails, the bytes
    /// stay, for [`BlobUpload::cancel`] or another try.
    pub async fn commit(&self, digest: &Digest) -> Result<Committed, StorageError> {
        let actual = self.digest(digest.algorithm()).await?;
        if &actual != digest {
            discard(self.backend.as_ref(), &self.id).await;
            return Err(StorageError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        // Stored already (by another upload, or by an earlier try of this one
        // that died before its caller recorded it): keep that one copy.
        if self.backend.holds(digest).await? {
            discard(self.backend.as_ref(), &self.id).await;
            return Ok(Committed::Reused);
        }
        self.backend
            .publish(&self.id, &self.progress, digest)
            .await?;
        Ok(Committed::Stored)
    }

    /// Abandons the upload, removing its bytes (best effort: a leftover is
    /// found again by the orphan sweep; a failure is logged).
    pub async fn cancel(self) {
        discard(self.backend.as_ref(), &self.id).await;
    }

    /// What is wrong with the upload's stored bytes (a part or file missing,
    /// or shorter than recorded), if anything.
    pub async fn check(&self) -> Result<Vec<String>, StorageError> {
        self.backend.check(&self.id, &self.progress).await
    }
}
