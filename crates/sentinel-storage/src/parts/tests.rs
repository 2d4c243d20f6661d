//! Tests of the object-store uploads: stray parts, and multipart uploads
//! that are never left behind.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};

use super::PartUploads;
use crate::test_support::{body, stalled_body};
use crate::{BlobStore, StorageError, UploadProgress};

#[tokio::test]
async fn discarding_removes_parts_past_the_recorded_ones() {
    let objects: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = BlobStore::with_uploads(
        Arc::clone(&objects),
        Arc::new(PartUploads::new(Arc::clone(&objects))),
    );
    let mut state = store.open_upload("s".into(), UploadProgress::default());
    state.append(body(&[b"kept"]), None).await.unwrap();
    // A part whose request completed but whose session never recorded it.
    objects
        .put(
            &PartUploads::part_path("s", 1),
            PutPayload::from_static(b"stray"),
        )
        .await
        .unwrap();
    store.discard("s").await;
    assert_eq!(store.stored_uploads().await.unwrap(), vec![]);
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
        let objects: Arc<dyn ObjectStore> = Arc::new(AbortWatcher {
            inner: InMemory::new(),
            aborted: std::sync::Mutex::new(Some(aborted)),
        });
        let uploads = Arc::new(PartUploads::new(Arc::clone(&objects)));
        let store = BlobStore::with_uploads(objects, uploads);
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
    let mut state = store.open_upload("cut".into(), UploadProgress::default());
    {
        let write = state.append(stalled_body(b"some bytes"), None);
        tokio::pin!(write);
        // The first chunk starts the multipart upload; then the body stalls.
        assert!(futures_util::poll!(write.as_mut()).is_pending());
        // The write is dropped here, as when its request is cancelled.
    }
    assert!(
        was_aborted.await.is_ok(),
        "the multipart upload was dropped without being aborted"
    );
    assert_eq!(state.progress().offset, 0);
}

#[tokio::test]
async fn a_failed_object_store_write_aborts_its_multipart_upload() {
    let (store, was_aborted) = AbortWatcher::blob_store();
    let mut state = store.open_upload("failed".into(), UploadProgress::default());
    let failing = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("connection reset")),
    ]);
    let result = state.append(failing, None).await;
    assert!(matches!(result, Err(StorageError::Body(_))));
    assert!(was_aborted.await.is_ok());
}
