//! The blob store: reading blobs, and writing them through upload parts.

use std::io::SeekFrom;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};
use sentinel_oci::{Digest, DigestAlgorithm, Digester};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::local::LocalUploads;
use crate::location::{StorageLocation, StorageLocationError};
use crate::upload::UploadState;

/// Bytes buffered before a part of a multipart write is sent to the backend.
/// S3 needs at least 5 MiB per part; larger parts mean fewer round trips.
const WRITE_CHUNK: usize = 8 * 1024 * 1024;
/// Multipart writes in flight at once per upload; with the chunk being filled,
/// this bounds an upload's memory to about 3 x [`WRITE_CHUNK`] = 24 MiB,
/// whatever the blob's size.
const WRITES_IN_FLIGHT: usize = 2;
/// The largest object S3's CopyObject (which `rename` uses there) accepts;
/// bigger single-part uploads are published by a streamed multipart copy.
const MAX_SERVER_SIDE_COPY: u64 = 5 * 1024 * 1024 * 1024;
/// Read buffer for blobs served from local files.
const READ_BUFFER: usize = 256 * 1024;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend failed (I/O error, full disk, network, permissions).
    #[error("storage backend failure")]
    Backend(#[from] object_store::Error),
    /// Reading a local file failed.
    #[error("storage I/O failure")]
    Io(#[from] std::io::Error),
    /// The request body failed before it ended (the client went away).
    #[error("the request body was interrupted")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A blob the index knows is absent from storage.
    #[error("blob {0} is missing from storage")]
    Missing(Digest),
    /// The body's length differs from the length the client declared.
    #[error("the body holds {actual} bytes but {declared} were declared")]
    LengthMismatch {
        /// Declared (by `Content-Range`).
        declared: u64,
        /// Received (at least; reading stops once past `declared`).
        actual: u64,
    },
    /// A saved hash state could not be restored.
    #[error("upload {0} has a corrupt hash state")]
    CorruptState(String),
}

/// Fails with [`StorageError::LengthMismatch`] once `received` bytes can no
/// longer match the `declared` length: as soon as they pass it, or, when the
/// body has `ended`, if they differ from it.
pub(crate) fn check_declared(
    declared: Option<u64>,
    received: u64,
    ended: bool,
) -> Result<(), StorageError> {
    match declared {
        Some(declared) if received > declared || (ended && received != declared) => {
            Err(StorageError::LengthMismatch {
                declared,
                actual: received,
            })
        }
        _ => Ok(()),
    }
}

/// A blob's bytes, or a range of them.
pub type BlobStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Content-addressed blob storage over an [`ObjectStore`].
///
/// Blobs are read through the object store whatever the backend. Uploads on
/// local disk take a faster path (one file per session, see `local.rs`);
/// elsewhere they are part objects.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    local: Option<LocalUploads>,
}

impl BlobStore {
    /// Opens the store at `location`.
    pub fn open(location: &StorageLocation) -> Result<Self, StorageLocationError> {
        let (store, local_root) = location.open()?;
        Ok(BlobStore {
            store,
            local: local_root.map(LocalUploads::new),
        })
    }

    /// Where blob `digest` is stored.
    fn blob_path(digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from_iter(["blobs", digest.algorithm().as_str(), &hex[..2], hex])
    }

    /// Where part `n` of upload `id` is stored.
    fn part_path(id: &str, n: usize) -> Path {
        Path::from_iter(["uploads", id, &n.to_string()])
    }

    /// Streams blob `digest`, or the byte `range` of it (which must lie inside the blob).
    pub async fn read(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<BlobStream, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&Self::blob_path(digest), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StorageError::Missing(digest.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let range = result.range.clone();
        Ok(match result.payload {
            GetResultPayload::File(file, _) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(SeekFrom::Start(range.start)).await?;
                let reader = file.take(range.end - range.start);
                tokio_util::io::ReaderStream::with_capacity(reader, READ_BUFFER).boxed()
            }
            GetResultPayload::Stream(stream) => stream.map_err(std::io::Error::other).boxed(),
        })
    }

    /// Whether blob `digest` is stored. Blobs appear only complete (by atomic
    /// rename or completed multipart upload), so a stored blob is a whole one.
    pub async fn exists(&self, digest: &Digest) -> Result<bool, StorageError> {
        match self.store.head(&Self::blob_path(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `body` as the next part of the upload and, once it is completely
    /// stored, advances `state` (offset, parts, hash state). If the body fails
    /// midway, or its length differs from `expected`, nothing is stored and
    /// `state` is unchanged. Returns the part's size.
    pub async fn write_part<S, E>(
        &self,
        state: &mut UploadState,
        body: S,
        expected: Option<u64>,
    ) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(local) = &self.local {
            return local.write_part(state, body, expected).await;
        }
        let mut hasher = Digester::restore(DigestAlgorithm::Sha256, &state.hash_state)
            .ok_or_else(|| StorageError::CorruptState(state.id.clone()))?;
        let path = Self::part_path(&state.id, state.parts.len());
        let mut body = body;
        let mut writer: Option<WriteMultipart> = None;
        let mut written = 0u64;
        let outcome: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StorageError::Body(e.into()))?;
                if chunk.is_empty() {
                    continue;
                }
                let target = match &mut writer {
                    Some(writer) => writer,
                    None => writer.insert(WriteMultipart::new_with_chunk_size(
                        self.store.put_multipart(&path).await?,
                        WRITE_CHUNK,
                    )),
                };
                target.wait_for_capacity(WRITES_IN_FLIGHT).await?;
                hasher.update(&chunk);
                written += chunk.len() as u64;
                check_declared(expected, written, false)?;
                target.put(chunk);
            }
            check_declared(expected, written, true)
        }
        .await;
        match (outcome, writer) {
            (Err(e), Some(writer)) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(upload = %state.id, error = %abort, "could not abort a failed part");
                }
                Err(e)
            }
            (Err(e), None) => Err(e),
            (Ok(()), None) => Ok(0),
            (Ok(()), Some(writer)) => {
                writer.finish().await?;
                state.offset += written;
                state.parts.push(written);
                state.hash_state = hasher.save();
                Ok(written)
            }
        }
    }

    /// The digest of everything the upload holds, under `algorithm`. sha256
    /// comes from the saved state; any other algorithm re-reads the parts.
    pub async fn upload_digest(
        &self,
        state: &UploadState,
        algorithm: DigestAlgorithm,
    ) -> Result<Digest, StorageError> {
        if algorithm == DigestAlgorithm::Sha256 {
            return Digester::restore(algorithm, &state.hash_state)
                .map(Digester::finish)
                .ok_or_else(|| StorageError::CorruptState(state.id.clone()));
        }
        if let Some(local) = &self.local {
            return local.digest(state, algorithm).await;
        }
        let mut hasher = Digester::new(algorithm);
        for n in 0..state.parts.len() {
            let mut stream = self
                .store
                .get(&Self::part_path(&state.id, n))
                .await?
                .into_stream();
            while let Some(chunk) = stream.next().await {
                hasher.update(&chunk?);
            }
        }
        Ok(hasher.finish())
    }

    /// Publishes the upload's bytes as blob `digest` (which the caller has
    /// verified) in one atomic step, then removes the parts.
    pub async fn commit(&self, state: &UploadState, digest: &Digest) -> Result<(), StorageError> {
        if let Some(local) = &self.local {
            return local.commit(state, digest).await;
        }
        let target = Self::blob_path(digest);
        // On S3 a rename is a server-side copy, which has a size limit.
        let renameable = state.offset <= MAX_SERVER_SIDE_COPY;
        match state.parts.len() {
            0 => {
                self.store.put(&target, PutPayload::default()).await?;
            }
            1 if renameable => {
                self.store
                    .rename(&Self::part_path(&state.id, 0), &target)
                    .await?;
            }
            parts => {
                let mut writer = WriteMultipart::new_with_chunk_size(
                    self.store.put_multipart(&target).await?,
                    WRITE_CHUNK,
                );
                let copied: Result<(), StorageError> = async {
                    for n in 0..parts {
                        let mut stream = self
                            .store
                            .get(&Self::part_path(&state.id, n))
                            .await?
                            .into_stream();
                        while let Some(chunk) = stream.next().await {
                            writer.wait_for_capacity(WRITES_IN_FLIGHT).await?;
                            writer.put(chunk?);
                        }
                    }
                    Ok(())
                }
                .await;
                match copied {
                    Ok(()) => {
                        writer.finish().await?;
                    }
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(e);
                    }
                }
            }
        }
        self.discard(state).await;
        Ok(())
    }

    /// Removes whatever the upload still has stored (best effort: a leftover
    /// is garbage, never visible as a blob).
    pub async fn discard(&self, state: &UploadState) {
        if let Some(local) = &self.local {
            return local.discard(state).await;
        }
        for n in 0..state.parts.len() {
            match self.store.delete(&Self::part_path(&state.id, n)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(upload = %state.id, part = n, error = %e, "could not remove an upload part")
                }
            }
        }
    }

    /// What is wrong with an upload's stored bytes (a part or file missing,
    /// or shorter than recorded), if anything.
    pub async fn check_upload(&self, state: &UploadState) -> Result<Vec<String>, StorageError> {
        if let Some(local) = &self.local {
            return Ok(local.check(state).await?.into_iter().collect());
        }
        let mut problems = Vec::new();
        for (n, expected) in state.parts.iter().enumerate() {
            match self.store.head(&Self::part_path(&state.id, n)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c)))
                .collect::<Vec<_>>(),
        )
    }

    async fn read_all(store: &BlobStore, digest: &Digest, range: Option<Range<u64>>) -> Vec<u8> {
        let stream = store.read(digest, range).await.unwrap();
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        chunks.concat()
    }

    fn stores() -> Vec<(BlobStore, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let local = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
        let memory = BlobStore::open(&"memory://".parse().unwrap()).unwrap();
        vec![(local, Some(dir)), (memory, None)]
    }

    #[tokio::test]
    async fn parts_commit_into_one_blob() {
        for (store, _dir) in stores() {
            for parts in [
                vec![],
                vec![&b"hello world"[..]],
                vec![&b"hello "[..], &b""[..], &b"wor"[..], &b"ld"[..]],
            ] {
                let mut state = UploadState::new(format!("u{}", parts.len()), "r".into(), 0);
                for part in &parts {
                    store
                        .write_part(&mut state, body(&[part]), None)
                        .await
                        .unwrap();
                }
                let expected: Vec<u8> = parts.concat();
                assert_eq!(state.offset, expected.len() as u64);
                let digest = store
                    .upload_digest(&state, DigestAlgorithm::Sha256)
                    .await
                    .unwrap();
                assert_eq!(digest, Digest::sha256(&expected));
                let sha512 = store
                    .upload_digest(&state, DigestAlgorithm::Sha512)
                    .await
                    .unwrap();
                assert_eq!(sha512, Digest::of(DigestAlgorithm::Sha512, &expected));
                store.commit(&state, &digest).await.unwrap();
                assert_eq!(read_all(&store, &digest, None).await, expected);
            }
        }
    }

    #[tokio::test]
    async fn ranges_read_exact_bytes() {
        for (store, _dir) in stores() {
            let mut state = UploadState::new("r".into(), "r".into(), 0);
            store
                .write_part(&mut state, body(&[b"0123456789"]), None)
                .await
                .unwrap();
            let digest = Digest::sha256(b"0123456789");
            store.commit(&state, &digest).await.unwrap();
            assert_eq!(read_all(&store, &digest, Some(2..5)).await, b"234");
            assert_eq!(read_all(&store, &digest, Some(9..10)).await, b"9");
            assert!(store.exists(&digest).await.unwrap());
            assert!(!store.exists(&Digest::sha256(b"other")).await.unwrap());
        }
    }

    #[tokio::test]
    async fn an_interrupted_body_stores_nothing() {
        for (store, _dir) in stores() {
            let mut state = UploadState::new("i".into(), "r".into(), 0);
            store
                .write_part(&mut state, body(&[b"first"]), None)
                .await
                .unwrap();
            let before = state.clone();
            let failing = futures_util::stream::iter(vec![
                Ok(Bytes::from_static(b"partial")),
                Err(std::io::Error::other("connection reset")),
            ]);
            let result = store.write_part(&mut state, failing, None).await;
            assert!(matches!(result, Err(StorageError::Body(_))));
            assert_eq!(state, before);
            // The upload continues as if the failed request never happened.
            store
                .write_part(&mut state, body(&[b" second"]), None)
                .await
                .unwrap();
            let digest = store
                .upload_digest(&state, DigestAlgorithm::Sha256)
                .await
                .unwrap();
            assert_eq!(digest, Digest::sha256(b"first second"));
        }
    }

    #[tokio::test]
    async fn a_body_of_the_wrong_length_stores_nothing() {
        for (store, _dir) in stores() {
            let mut state = UploadState::new("l".into(), "r".into(), 0);
            for (declared, chunks) in [(3, &[&b"ab"[..], &b"cd"[..]][..]), (9, &[&b"abcd"[..]][..])]
            {
                let result = store
                    .write_part(&mut state, body(chunks), Some(declared))
                    .await;
                assert!(
                    matches!(result, Err(StorageError::LengthMismatch { .. })),
                    "{result:?}"
                );
                assert_eq!(state.offset, 0);
            }
            store
                .write_part(&mut state, body(&[b"abcd"]), Some(4))
                .await
                .unwrap();
            assert_eq!(state.parts, vec![4]);
        }
    }

    #[tokio::test]
    async fn missing_blobs_are_reported() {
        for (store, _dir) in stores() {
            let digest = Digest::sha256(b"absent");
            assert!(
                matches!(store.read(&digest, None).await, Err(StorageError::Missing(d)) if d == digest)
            );
        }
    }

    #[tokio::test]
    async fn local_layout_is_content_addressed_and_parts_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
        let mut state = UploadState::new("c".into(), "r".into(), 0);
        store
            .write_part(&mut state, body(&[b"ab"]), None)
            .await
            .unwrap();
        store
            .write_part(&mut state, body(&[b"cd"]), None)
            .await
            .unwrap();
        assert!(store.check_upload(&state).await.unwrap().is_empty());
        let digest = Digest::sha256(b"abcd");
        store.commit(&state, &digest).await.unwrap();
        assert_eq!(store.check_upload(&state).await.unwrap().len(), 1);
        let hex = digest.hex();
        let blob = dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
        assert_eq!(std::fs::read(blob).unwrap(), b"abcd");
        assert!(!dir.path().join("uploads/c").exists());
    }
}
