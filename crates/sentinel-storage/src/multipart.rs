//! A multipart write to an object store that is never left half done.
//!
//! An object store keeps the parts of a multipart upload that was neither
//! completed nor aborted, invisibly and (on S3) billed, until a lifecycle rule
//! removes them. [`MultipartWrite`] completes its upload with
//! [`MultipartWrite::finish`], or aborts it: explicitly with
//! [`MultipartWrite::abort`] after a failure, and by itself, on a task of its
//! own, when it is dropped unfinished (the request writing it was cancelled
//! because its client went away).

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::error::StorageError;

/// Bytes buffered before a part of a multipart write is sent to the backend.
/// S3 needs at least 5 MiB per part; larger parts mean fewer round trips.
const WRITE_CHUNK: usize = 8 * 1024 * 1024;
/// Multipart writes in flight at once per upload; with the chunk being filled,
/// this bounds an upload's memory to about 3 x [`WRITE_CHUNK`] = 24 MiB,
/// whatever the blob's size.
const WRITES_IN_FLIGHT: usize = 2;

/// A multipart upload of one object, aborted unless it is finished.
pub(crate) struct MultipartWrite {
    /// `None` once finished or aborted.
    writer: Option<WriteMultipart>,
    /// The object being written, for log lines.
    path: Path,
}

impl MultipartWrite {
    /// Starts a multipart upload of `path`.
    pub(crate) async fn start(store: &dyn ObjectStore, path: &Path) -> Result<Self, StorageError> {
        let upload = store.put_multipart(path).await?;
        Ok(MultipartWrite {
            writer: Some(WriteMultipart::new_with_chunk_size(upload, WRITE_CHUNK)),
            path: path.clone(),
        })
    }

    /// Appends `chunk`, first waiting while too many parts are in flight.
    pub(crate) async fn put(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let Some(writer) = self.writer.as_mut() else {
            // Only `finish` and `abort` empty the slot, and both consume `self`.
            return Ok(());
        };
        writer.wait_for_capacity(WRITES_IN_FLIGHT).await?;
        writer.put(chunk);
        Ok(())
    }

    /// Sends what is buffered and completes the upload, making the object
    /// visible. This runs on a task of its own, so the upload is completed
    /// (or, should completing fail, aborted) even if the caller is dropped
    /// while waiting for it.
    pub(crate) async fn finish(mut self) -> Result<(), StorageError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        tokio::spawn(writer.finish())
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
        Ok(())
    }

    /// Aborts the upload, deleting the parts sent so far (best effort: a
    /// failure is logged, since the caller is already handling another error).
    pub(crate) async fn abort(mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(error) = writer.abort().await
        {
            tracing::warn!(object = %self.path, %error, "could not abort a multipart upload");
        }
    }
}

impl Drop for MultipartWrite {
    /// Dropped unfinished: abort the upload on a task of its own.
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let path = self.path.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = writer.abort().await {
                        tracing::warn!(object = %path, %error, "could not abort a cancelled multipart upload");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(object = %path, "a cancelled multipart upload could not be aborted: no async runtime is running");
            }
        }
    }
}
