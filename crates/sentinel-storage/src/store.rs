//! The blob store: reading blobs, and writing them through upload parts.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload,
};
use sentinel_oci::{Digest, DigestAlgorithm, Digester};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::local::LocalUploads;
use crate::location::{StorageLocation, StorageLocationError};
use crate::multipart::MultipartWrite;
use crate::upload::{StoredUpload, UploadState};

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

    /// The directory of upload `id`'s parts.
    fn upload_prefix(id: &str) -> Path {
        Path::from_iter(["uploads", id])
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

    /// Makes stored blob `digest` durable: on local disk its bytes and the
    /// directory entries that lead to it are synced (a crash between a
    /// publishing rename and its directory sync may have left them
    /// unsynced); an object store is durable once a write returns, so there
    /// it does nothing. Fails with [`StorageError::Missing`] if a local blob
    /// is absent.
    pub async fn make_durable(&self, digest: &Digest) -> Result<(), StorageError> {
        match &self.local {
            Some(local) => local.make_durable(digest).await,
            None => Ok(()),
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
        // Dropped unfinished (this future cancelled), the write aborts itself.
        let mut writer: Option<MultipartWrite> = None;
        let mut written = 0u64;
        let outcome: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StorageError::Body(e.into()))?;
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
                let mut writer = MultipartWrite::start(self.store.as_ref(), &target).await?;
                let copied: Result<(), StorageError> = async {
                    for n in 0..parts {
                        let mut stream = self
                            .store
                            .get(&Self::part_path(&state.id, n))
                            .await?
                            .into_stream();
                        while let Some(chunk) = stream.next().await {
                            writer.put(chunk?).await?;
                        }
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
        self.discard(&state.id).await;
        Ok(())
    }

    /// Removes whatever upload `id` has stored: its file, or all of its
    /// parts (including any a failed request left past the recorded ones).
    /// Best effort: a leftover is garbage, never visible as a blob, and the
    /// orphan sweep finds it again; a failure is logged.
    pub async fn discard(&self, id: &str) {
        let removed = match &self.local {
            Some(local) => local.discard(id).await.map_err(StorageError::from),
            None => self.delete_parts(id).await,
        };
        if let Err(error) = removed {
            tracing::warn!(upload = %id, %error, "could not remove an upload's stored bytes");
        }
    }

    /// Deletes every object under `uploads/<id>/`.
    async fn delete_parts(&self, id: &str) -> Result<(), StorageError> {
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

    /// Every upload that has bytes in storage, whether or not a session
    /// still owns it, with when its bytes last changed. An object-store part
    /// appears only once its request completed, so uploads being written
    /// right now may be missing.
    pub async fn stored_uploads(&self) -> Result<Vec<StoredUpload>, StorageError> {
        if let Some(local) = &self.local {
            return Ok(local.stored_uploads().await?);
        }
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
    use object_store::MultipartUpload;
    use object_store::memory::InMemory;

    use super::*;
    use crate::local::{LocalUploads, UploadJobs};

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

    /// Checks that the upload `state` holds exactly `expected` (its sha256
    /// and sha512 digests), commits it, and reads it back.
    async fn commits_exactly(store: &BlobStore, state: &UploadState, expected: &[u8]) {
        let digest = store
            .upload_digest(state, DigestAlgorithm::Sha256)
            .await
            .unwrap();
        assert_eq!(digest, Digest::sha256(expected));
        let sha512 = store
            .upload_digest(state, DigestAlgorithm::Sha512)
            .await
            .unwrap();
        assert_eq!(sha512, Digest::of(DigestAlgorithm::Sha512, expected));
        store.commit(state, &digest).await.unwrap();
        assert!(read_all(store, &digest, None).await == expected);
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
                commits_exactly(&store, &state, &expected).await;
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

    #[tokio::test]
    async fn stored_blobs_can_be_made_durable_and_absent_ones_are_reported() {
        for (store, dir) in stores() {
            let mut state = UploadState::new("m".into(), "r".into(), 0);
            store
                .write_part(&mut state, body(&[b"durable"]), None)
                .await
                .unwrap();
            let digest = Digest::sha256(b"durable");
            store.commit(&state, &digest).await.unwrap();
            store.make_durable(&digest).await.unwrap();
            if dir.is_some() {
                let absent = Digest::sha256(b"absent");
                assert!(matches!(
                    store.make_durable(&absent).await,
                    Err(StorageError::Missing(d)) if d == absent
                ));
            }
        }
    }

    #[tokio::test]
    async fn stored_uploads_are_listed_until_discarded() {
        for (store, _dir) in stores() {
            assert_eq!(store.stored_uploads().await.unwrap(), vec![]);
            let before = SystemTime::now() - std::time::Duration::from_secs(5);
            for id in ["one", "two"] {
                let mut state = UploadState::new(id.into(), "r".into(), 0);
                store
                    .write_part(&mut state, body(&[b"ab"]), None)
                    .await
                    .unwrap();
                store
                    .write_part(&mut state, body(&[b"cd"]), None)
                    .await
                    .unwrap();
            }
            let listed = store.stored_uploads().await.unwrap();
            let mut ids: Vec<&str> = listed.iter().map(|u| u.id.as_str()).collect();
            ids.sort_unstable();
            assert_eq!(ids, ["one", "two"]);
            assert!(listed.iter().all(|u| u.modified >= before), "{listed:?}");
            store.discard("one").await;
            let listed = store.stored_uploads().await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].id, "two");
        }
    }

    #[tokio::test]
    async fn discarding_removes_parts_past_the_recorded_ones() {
        let store = BlobStore::open(&"memory://".parse().unwrap()).unwrap();
        let mut state = UploadState::new("s".into(), "r".into(), 0);
        store
            .write_part(&mut state, body(&[b"kept"]), None)
            .await
            .unwrap();
        // A part whose request completed but whose session never recorded it.
        store
            .store
            .put(
                &BlobStore::part_path("s", 1),
                PutPayload::from_static(b"stray"),
            )
            .await
            .unwrap();
        store.discard("s").await;
        assert_eq!(store.stored_uploads().await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn local_uploads_in_the_part_directory_layout_are_listed_and_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
        let parts = dir.path().join("uploads/old-layout");
        std::fs::create_dir_all(&parts).unwrap();
        std::fs::write(parts.join("0"), b"part").unwrap();
        let listed = store.stored_uploads().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, "old-layout");
        store.discard("old-layout").await;
        assert!(!parts.exists());
        assert_eq!(store.stored_uploads().await.unwrap(), vec![]);
    }

    /// A body that yields `first` and then never ends, like a client that
    /// stopped sending.
    fn stalled_body(
        first: &'static [u8],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter([Ok(Bytes::from_static(first))])
            .chain(futures_util::stream::pending())
    }

    #[test]
    fn a_dropped_local_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
        let file = dir.path().join("uploads/dropped");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut state = UploadState::new("dropped".into(), "r".into(), 0);
            let write = store.write_part(&mut state, stalled_body(b"some bytes"), None);
            let file_written = async {
                while !file.exists() {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            };
            tokio::select! {
                _ = write => panic!("a body that never ends cannot be stored"),
                () = file_written => {}
            }
            // The write future is dropped here, as when its request is cancelled.
        });
        // Dropping the runtime waits for its blocking threads, the writer among them.
        drop(runtime);
        assert!(!file.exists(), "the dropped write's file was left behind");
    }

    /// A local blob store under `dir` whose uploads run at most `jobs`
    /// blocking jobs at once and read at most `read_ahead` bytes ahead of
    /// them, and that job limit, to see how many ran.
    fn limited_store(
        dir: &std::path::Path,
        jobs: usize,
        read_ahead: usize,
    ) -> (BlobStore, Arc<UploadJobs>) {
        let mut store = BlobStore::open(&StorageLocation::Local(dir.to_path_buf())).unwrap();
        let jobs = Arc::new(UploadJobs::new(jobs));
        store.local = Some(LocalUploads::with_jobs(
            dir.to_path_buf(),
            Arc::clone(&jobs),
            read_ahead,
        ));
        (store, jobs)
    }

    /// `len` bytes that differ from their neighbours and from other offsets'.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ ((i >> 9) as u8) ^ seed)
            .collect()
    }

    /// `data` as a body of `size`-byte chunks.
    fn chunked(
        data: &[u8],
        size: usize,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send + 'static {
        let chunks: Vec<_> = data
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(chunks)
    }

    /// Waits for `work`, failing the test if it takes longer than `limit`.
    async fn within<T>(
        limit: std::time::Duration,
        what: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        match tokio::time::timeout(limit, work).await {
            Ok(value) => value,
            Err(_) => panic!("gave up after {limit:?} waiting for {what}"),
        }
    }

    /// A body that delivers chunks of uneven sizes, as a socket does, and
    /// before every third one has nothing ready (it wakes itself at once).
    struct Trickle {
        /// The chunks still to deliver.
        chunks: std::collections::VecDeque<Bytes>,
        /// How often it was polled.
        polls: usize,
    }

    impl Trickle {
        /// `data` in chunks whose sizes cycle from 1 byte to 1 MiB.
        fn new(data: &[u8]) -> Self {
            const SIZES: [usize; 7] = [1, 100, 65_536, 3_000, 1 << 20, 7, 300_000];
            let mut chunks = std::collections::VecDeque::new();
            let mut rest = data;
            for size in SIZES.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                chunks.push_back(Bytes::copy_from_slice(chunk));
                rest = tail;
            }
            Trickle { chunks, polls: 0 }
        }
    }

    impl Stream for Trickle {
        type Item = Result<Bytes, std::io::Error>;

        /// The next chunk, or, every third poll, nothing yet.
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            self.polls += 1;
            if self.polls.is_multiple_of(3) {
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            std::task::Poll::Ready(self.chunks.pop_front().map(Ok))
        }
    }

    /// Bodies of many MiB, arriving in uneven chunks with pauses, are stored
    /// byte for byte and hashed right, in either backend.
    #[tokio::test]
    async fn large_bodies_in_uneven_chunks_are_stored_exactly() {
        for (store, _dir) in stores() {
            // Many batches, crossing the flush interval twice, then a part
            // starting mid-file.
            let first = pattern(9 * 1024 * 1024 + 12_345, 1);
            let second = pattern(3 * 1024 * 1024 + 1, 2);
            let mut state = UploadState::new("big".into(), "r".into(), 0);
            for part in [&first, &second] {
                let written = store
                    .write_part(&mut state, Trickle::new(part), Some(part.len() as u64))
                    .await
                    .unwrap();
                assert_eq!(written, part.len() as u64);
            }
            assert_eq!(state.parts, [first.len() as u64, second.len() as u64]);
            commits_exactly(&store, &state, &[first, second].concat()).await;
        }
    }

    /// Reading that keeps stopping for room (a read-ahead far smaller than
    /// the chunks) still stores every byte, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_read_ahead_still_stores_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _jobs) = limited_store(dir.path(), 4, 64 * 1024);
        let data = pattern(6 * 1024 * 1024 + 5, 7);
        let mut state = UploadState::new("narrow".into(), "r".into(), 0);
        within(
            std::time::Duration::from_secs(60),
            "a write with a small read-ahead",
            store.write_part(&mut state, Trickle::new(&data), Some(data.len() as u64)),
        )
        .await
        .unwrap();
        let digest = Digest::sha256(&data);
        assert_eq!(
            store
                .upload_digest(&state, DigestAlgorithm::Sha256)
                .await
                .unwrap(),
            digest
        );
        store.commit(&state, &digest).await.unwrap();
        assert!(read_all(&store, &digest, None).await == data);
    }

    /// A body that fails, is too long, or whose write is dropped after
    /// several MiB (past a background flush) leaves the session's file as it
    /// was before the request, and the upload goes on from there.
    #[tokio::test]
    async fn a_failed_or_dropped_write_past_a_flush_cuts_the_file_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
        let file = dir.path().join("uploads/cut");
        let length = || std::fs::metadata(&file).unwrap().len();
        let mut state = UploadState::new("cut".into(), "r".into(), 0);
        store
            .write_part(&mut state, body(&[b"first"]), None)
            .await
            .unwrap();
        let before = state.clone();
        // Enough for several batches and a background flush.
        let data = pattern(6 * 1024 * 1024, 3);

        let failing = chunked(&data, 64 * 1024).chain(futures_util::stream::iter([Err(
            std::io::Error::other("connection reset"),
        )]));
        let result = store.write_part(&mut state, failing, None).await;
        assert!(matches!(result, Err(StorageError::Body(_))), "{result:?}");
        assert_eq!((length(), &state), (5, &before));

        let declared = data.len() as u64 - 1;
        let result = store
            .write_part(&mut state, chunked(&data, 64 * 1024), Some(declared))
            .await;
        assert!(
            matches!(result, Err(StorageError::LengthMismatch { .. })),
            "{result:?}"
        );
        assert_eq!((length(), &state), (5, &before));

        let write = {
            let store = store.clone();
            let mut state = state.clone();
            let stalled = chunked(&data, 64 * 1024).chain(futures_util::stream::pending());
            tokio::spawn(async move { store.write_part(&mut state, stalled, None).await })
        };
        let all_written = 5 + data.len() as u64;
        within(
            std::time::Duration::from_secs(30),
            "the stalled body's bytes to be written",
            async {
                while length() < all_written {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            },
        )
        .await;
        write.abort();
        assert!(write.await.unwrap_err().is_cancelled());
        within(
            std::time::Duration::from_secs(30),
            "the dropped write's bytes to be cut off",
            async {
                while length() != 5 {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            },
        )
        .await;

        store
            .write_part(&mut state, body(&[b" second"]), None)
            .await
            .unwrap();
        let digest = store
            .upload_digest(&state, DigestAlgorithm::Sha256)
            .await
            .unwrap();
        assert_eq!(digest, Digest::sha256(b"first second"));
        assert_eq!(length(), 12);
    }

    /// When writing fails (as on a full disk), the rest of the body is still
    /// read, so the client gets the error rather than a reset connection.
    #[tokio::test]
    async fn a_write_that_fails_still_reads_the_whole_body() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
        // A directory where the upload's file should be: opening it fails,
        // as writing to a full disk would.
        std::fs::create_dir_all(dir.path().join("uploads/blocked")).unwrap();
        let data = pattern(20 * 64 * 1024, 4);
        let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = {
            let read = Arc::clone(&read);
            chunked(&data, 64 * 1024).inspect(move |_| {
                read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let mut state = UploadState::new("blocked".into(), "r".into(), 0);
        let result = store
            .write_part(&mut state, counted, Some(data.len() as u64))
            .await;
        assert!(matches!(result, Err(StorageError::Io(_))), "{result:?}");
        assert_eq!(read.load(std::sync::atomic::Ordering::SeqCst), 20);
        assert_eq!(state.offset, 0);
    }

    /// Many uploads at once never run more blocking jobs than their limit,
    /// and still store every byte right.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uploads_stay_within_the_job_limit() {
        const UPLOADS: u8 = 12;
        const JOBS: usize = 2;
        let dir = tempfile::tempdir().unwrap();
        let (store, jobs) = limited_store(dir.path(), JOBS, 8 * 1024 * 1024);
        let uploads: Vec<_> = (0..UPLOADS)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let parts = [pattern(1536 * 1024, n), pattern(700 * 1024, !n)];
                    let mut state = UploadState::new(format!("u{n}"), "r".into(), 0);
                    for part in &parts {
                        store
                            .write_part(&mut state, Trickle::new(part), None)
                            .await
                            .unwrap();
                    }
                    let whole = parts.concat();
                    let digest = Digest::sha256(&whole);
                    assert_eq!(
                        store
                            .upload_digest(&state, DigestAlgorithm::Sha512)
                            .await
                            .unwrap(),
                        Digest::of(DigestAlgorithm::Sha512, &whole)
                    );
                    store.commit(&state, &digest).await.unwrap();
                    assert!(read_all(&store, &digest, None).await == whole);
                })
            })
            .collect();
        within(
            std::time::Duration::from_secs(60),
            "the uploads",
            futures_util::future::try_join_all(uploads),
        )
        .await
        .unwrap();
        let peak = jobs.peak();
        assert!((1..=JOBS).contains(&peak), "{peak} upload jobs ran at once");
    }

    /// Many uploads whose clients sent a few bytes and then nothing hold no
    /// blocking thread: on a runtime with a blocking pool of 8 threads, where
    /// each held thread would be one fewer, another upload and a blob read
    /// still complete promptly, the upload jobs never exceed their limit, and
    /// dropping the stalled writes removes their files.
    #[test]
    fn stalled_uploads_hold_no_blocking_thread() {
        const STALLED: usize = 600;
        const JOBS: usize = 3;
        let seconds = std::time::Duration::from_secs;
        let dir = tempfile::tempdir().unwrap();
        let (store, jobs) = limited_store(dir.path(), JOBS, 8 * 1024 * 1024);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let stored = pattern(300 * 1024, 5);
            let stored_digest = Digest::sha256(&stored);
            let mut state = UploadState::new("stored".into(), "r".into(), 0);
            store
                .write_part(&mut state, chunked(&stored, 16 * 1024), None)
                .await
                .unwrap();
            store.commit(&state, &stored_digest).await.unwrap();

            let stalled: Vec<_> = (0..STALLED)
                .map(|n| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let mut state = UploadState::new(format!("stalled-{n}"), "r".into(), 0);
                        let body = stalled_body(b"a few bytes");
                        store.write_part(&mut state, body, Some(1 << 20)).await
                    })
                })
                .collect();
            within(seconds(60), "every stalled upload's first bytes", async {
                while store.stored_uploads().await.unwrap().len() < STALLED {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
            .await;

            within(
                seconds(20),
                "an upload and a read beside the stalled ones",
                async {
                    let data = pattern(5 * 1024 * 1024 + 3, 6);
                    let mut state = UploadState::new("complete".into(), "r".into(), 0);
                    store
                        .write_part(
                            &mut state,
                            chunked(&data, 64 * 1024),
                            Some(data.len() as u64),
                        )
                        .await
                        .unwrap();
                    let digest = Digest::sha256(&data);
                    store.commit(&state, &digest).await.unwrap();
                    assert!(read_all(&store, &digest, None).await == data);
                    assert!(read_all(&store, &stored_digest, None).await == stored);
                },
            )
            .await;

            assert!(stalled.iter().all(|write| !write.is_finished()));
            for write in stalled {
                write.abort();
                assert!(write.await.unwrap_err().is_cancelled());
            }
            within(seconds(30), "the dropped writes' files to go", async {
                while !store.stored_uploads().await.unwrap().is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
            .await;
        });
        drop(runtime);
        let peak = jobs.peak();
        assert!((1..=JOBS).contains(&peak), "{peak} upload jobs ran at once");
        let left = std::fs::read_dir(dir.path().join("uploads"))
            .unwrap()
            .count();
        assert_eq!(left, 0, "files were left in uploads/");
    }

    /// An object store that reports, through a channel, whether the multipart
    /// upload it started was aborted: the channel's sender lives in the upload,
    /// so it is closed without a message if the upload is dropped unaborted.
    #[derive(Debug)]
    struct AbortWatcher {
        inner: InMemory,
        aborted: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    }

    #[derive(Debug)]
    struct WatchedUpload {
        inner: Box<dyn MultipartUpload>,
        aborted: Option<tokio::sync::oneshot::Sender<()>>,
    }

    #[async_trait::async_trait]
    impl MultipartUpload for WatchedUpload {
        fn put_part(&mut self, data: PutPayload) -> object_store::UploadPart {
            self.inner.put_part(data)
        }

        async fn complete(&mut self) -> object_store::Result<object_store::PutResult> {
            self.inner.complete().await
        }

        async fn abort(&mut self) -> object_store::Result<()> {
            if let Some(aborted) = self.aborted.take() {
                let _ = aborted.send(());
            }
            self.inner.abort().await
        }
    }

    impl AbortWatcher {
        /// A blob store over a watched in-memory object store, and the channel
        /// that hears whether the store's multipart upload was aborted.
        fn blob_store() -> (BlobStore, tokio::sync::oneshot::Receiver<()>) {
            let (aborted, was_aborted) = tokio::sync::oneshot::channel();
            let store = BlobStore {
                store: Arc::new(AbortWatcher {
                    inner: InMemory::new(),
                    aborted: std::sync::Mutex::new(Some(aborted)),
                }),
                local: None,
            };
            (store, was_aborted)
        }
    }

    impl std::fmt::Display for AbortWatcher {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "AbortWatcher({})", self.inner)
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for AbortWatcher {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: object_store::PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            let inner = self.inner.put_multipart_opts(location, opts).await?;
            let aborted = self.aborted.lock().unwrap().take();
            Ok(Box::new(WatchedUpload { inner, aborted }))
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            self.inner.get_opts(location, options).await
        }

        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_dropped_object_store_write_aborts_its_multipart_upload() {
        let (store, was_aborted) = AbortWatcher::blob_store();
        let mut state = UploadState::new("cut".into(), "r".into(), 0);
        {
            let write = store.write_part(&mut state, stalled_body(b"some bytes"), None);
            tokio::pin!(write);
            // The first chunk starts the multipart upload; then the body stalls.
            assert!(futures_util::poll!(write.as_mut()).is_pending());
            // The write is dropped here, as when its request is cancelled.
        }
        assert!(
            was_aborted.await.is_ok(),
            "the multipart upload was dropped without being aborted"
        );
        assert_eq!(state.offset, 0);
    }

    #[tokio::test]
    async fn a_failed_object_store_write_aborts_its_multipart_upload() {
        let (store, was_aborted) = AbortWatcher::blob_store();
        let mut state = UploadState::new("failed".into(), "r".into(), 0);
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let result = store.write_part(&mut state, failing, None).await;
        assert!(matches!(result, Err(StorageError::Body(_))));
        assert!(was_aborted.await.is_ok());
    }
}
