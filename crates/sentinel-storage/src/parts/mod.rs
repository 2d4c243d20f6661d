//! Uploads on an object store: one part object per request body.
//!
//! Object stores cannot append, so each request body becomes an object of
//! its own, `uploads/<id>/<n>`, written as a multipart upload that is only
//! completed once the whole body has arrived. Publishing renames a single
//! part into place (a server-side copy), or streams the parts into one
//! multipart upload of the blob: either way the blob appears complete or
//! not at all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sentinel_oci::{Digest, DigestAlgorithm, Digester};

use crate::error::{StorageError, check_declared};
use crate::multipart::MultipartWrite;
use crate::store::blob_path;
use crate::upload::{StoredUpload, UploadBackend, UploadBody, UploadProgress};

#[cfg(test)]
mod tests;

/// The largest object S3's CopyObject (which `rename` uses there) accepts;
/// bigger single-part uploads are published by a streamed multipart copy.
const MAX_SERVER_SIDE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// Uploads kept as part objects in an object store.
#[derive(Clone)]
pub(crate) struct PartUploads {
    /// The object store.
    store: Arc<dyn ObjectStore>,
}

impl PartUploads {
    /// Uploads kept in `store`.
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        PartUploads { store }
    }

    /// Where part `n` of upload `id` is stored.
    fn part_path(id: &str, n: usize) -> Path {
        Path::from_iter(["uploads", id, &n.to_string()])
    }

    /// The directory of upload `id`'s parts.
    fn upload_prefix(id: &str) -> Path {
        Path::from_iter(["uploads", id])
    }

    /// The bytes of upload `id`'s first `count` parts, in order.
    fn read_parts<'a>(
        &'a self,
        id: &'a str,
        count: usize,
    ) -> impl Stream<Item = Result<Bytes, StorageError>> + Send + 'a {
        futures_util::stream::iter(0..count)
            .then(move |n| async move { self.store.get(&Self::part_path(id, n)).await })
            .map_ok(|part| part.into_stream())
            .try_flatten()
            .map_err(StorageError::from)
    }
}

#[async_trait]
impl UploadBackend for PartUploads {
    async fn append(
        &self,
        id: &str,
        progress: &mut UploadProgress,
        mut body: UploadBody,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let mut hasher = Digester::restore(DigestAlgorithm::Sha256, &progress.hash_state)
            .ok_or_else(|| StorageError::CorruptState(id.to_owned()))?;
        let path = Self::part_path(id, progress.parts.len());
        // Dropped unfinished (this future cancelled), the write aborts itself.
        let mut writer: Option<MultipartWrite> = None;
        let mut written = 0u64;
        let outcome: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(StorageError::Body)?;
                if chunk.is_empty() {
                    continue;
                }
                let target = match &mut writer {
                    Some(writer) => writer,
                    None => writer.insert(MultipartWrite::start(self.store.as_ref(), &path).await?),
                };
                hasher.update(&chunk);
                written += chunk.len() as u64;
                check_declared(expected, written, false)?;
                target.put(chunk).await?;
            }
            check_declared(expected, written, true)
        }
        .await;
        match (outcome, writer) {
            (Err(e), Some(writer)) => {
                writer.abort().await;
                Err(e)
            }
            (Err(e), None) => Err(e),
            (Ok(()), None) => Ok(0),
            (Ok(()), Some(writer)) => {
                writer.finish().await?;
                progress.offset += written;
                progress.parts.push(written);
                progress.hash_state = hasher.save();
                Ok(written)
            }
        }
    }

    async fn digest(
        &self,
        id: &str,
        progress: &UploadProgress,
        algorithm: DigestAlgorithm,
    ) -> Result<Digest, StorageError> {
        let mut hasher = Digester::new(algorithm);
        let mut parts = std::pin::pin!(self.read_parts(id, progress.parts.len()));
        while let Some(chunk) = parts.next().await {
            hasher.update(&chunk?);
        }
        Ok(hasher.finish())
    }

    async fn holds(&self, digest: &Digest) -> Result<bool, StorageError> {
        // An object store is durable once a write returns.
        match self.store.head(&blob_path(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn publish(
        &self,
        id: &str,
        progress: &UploadProgress,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let target = blob_path(digest);
        // On S3 a rename is a server-side copy, which has a size limit.
        let renameable = progress.offset <= MAX_SERVER_SIDE_COPY;
        match progress.parts.len() {
            0 => {
                self.store.put(&target, PutPayload::default()).await?;
            }
            1 if renameable => {
                self.store.rename(&Self::part_path(id, 0), &target).await?;
            }
            parts => {
                let mut writer = MultipartWrite::start(self.store.as_ref(), &target).await?;
                let copied: Result<(), StorageError> = async {
                    let mut chunks = std::pin::pin!(self.read_parts(id, parts));
                    while let Some(chunk) = chunks.next().await {
                        writer.put(chunk?).await?;
                    }
                    Ok(())
                }
                .await;
                match copied {
                    Ok(()) => writer.finish().await?,
                    Err(e) => {
                        writer.abort().await;
                        return Err(e);
                    }
                }
            }
        }
        crate::upload::discard(self, id).await;
        Ok(())
    }

    /// Deletes every object under `uploads/<id>/`, including parts a failed
    /// request left past the recorded ones.
    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        let parts: Vec<Path> = self
            .store
            .list(Some(&Self::upload_prefix(id)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for part in parts {
            match self.store.delete(&part).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn stored(&self) -> Result<Vec<StoredUpload>, StorageError> {
        let mut uploads: BTreeMap<String, SystemTime> = BTreeMap::new();
        let mut listing = self.store.list(Some(&Path::from("uploads")));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            // `uploads/<id>/<n>`: the id is the second segment.
            let Some(id) = meta.location.parts().nth(1) else {
                continue;
            };
            let modified = SystemTime::from(meta.last_modified);
            uploads
                .entry(id.as_ref().to_owned())
                .and_modify(|newest| *newest = (*newest).max(modified))
                .or_insert(modified);
        }
        Ok(uploads
            .into_iter()
            .map(|(id, modified)| StoredUpload { id, modified })
            .collect())
    }

    async fn check(
        &self,
        id: &str,
        progress: &UploadProgress,
    ) -> Result<Vec<String>, StorageError> {
        let mut problems = Vec::new();
        for (n, expected) in progress.parts.iter().enumerate() {
            match self.store.head(&Self::part_path(id, n)).await {
                Ok(meta) if meta.size == *expected => {}
                Ok(meta) => problems.push(format!(
                    "part {n} holds {} bytes, {expected} recorded",
                    meta.size
                )),
                Err(object_store::Error::NotFound { .. }) => {
                    problems.push(format!("part {n} is missing"))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(problems)
    }
}
