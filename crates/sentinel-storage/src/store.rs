//! The blob store: reading blobs, and the uploads that write them.

use std::io::SeekFrom;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt};
use sentinel_oci::Digest;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::StorageError;
use crate::local::LocalUploads;
use crate::location::{StorageLocation, StorageLocationError};
use crate::parts::PartUploads;
use crate::upload::{BlobUpload, StoredUpload, UploadBackend, UploadProgress, discard};

/// Read buffer for blobs served from local files.
const READ_BUFFER: usize = 256 * 1024;

/// What [`BlobStore::usage`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredBlobs {
    /// Blobs stored.
    pub objects: u64,
    /// Their bytes together.
    pub bytes: u64,
}

/// A blob's bytes, or a range of them.
pub type BlobStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Where blob `digest` is stored.
pub(crate) fn blob_path(digest: &Digest) -> Path {
    let hex = digest.hex();
    Path::from_iter(["blobs", digest.algorithm().as_str(), &hex[..2], hex])
}

/// Content-addressed blob storage over an [`ObjectStore`].
///
/// Blobs are read through the object store whatever the backend. Uploads on
/// local disk take a faster path (one file per session, see `local`);
/// elsewhere they are part objects (see `parts`).
#[derive(Clone)]
pub struct BlobStore {
    /// Where blobs are read from.
    store: Arc<dyn ObjectStore>,
    /// Where uploads are written.
    uploads: Arc<dyn UploadBackend>,
    /// The storage root, when blobs are files on local disk.
    local_root: Option<Arc<std::path::Path>>,
}

impl BlobStore {
    /// Opens the store at `location`.
    pub fn open(location: &StorageLocation) -> Result<Self, StorageLocationError> {
        let (store, local_root) = location.open()?;
        let uploads: Arc<dyn UploadBackend> = match &local_root {
            Some(root) => Arc::new(LocalUploads::new(root.clone())),
            None => Arc::new(PartUploads::new(Arc::clone(&store))),
        };
        Ok(BlobStore {
            store,
            uploads,
            local_root: local_root.map(Arc::from),
        })
    }

    /// A store reading blobs from `store` and writing uploads through `uploads`.
    #[cfg(test)]
    pub(crate) fn with_uploads(
        store: Arc<dyn ObjectStore>,
        uploads: Arc<dyn UploadBackend>,
    ) -> Self {
        BlobStore {
            store,
            uploads,
            local_root: None,
        }
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
        let result = match self.store.get_opts(&blob_path(digest), options).await {
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

    /// Small blobs read whole: for each `(digest, size)`, the blob's bytes,
    /// at most `size + 1` of them (so that a caller comparing the length with
    /// `size` sees a longer blob too). On local disk all of them are read in
    /// one trip to the blocking pool; elsewhere, one after another.
    pub async fn read_small(&self, blobs: &[(Digest, u64)]) -> Result<Vec<Bytes>, StorageError> {
        if let Some(root) = &self.local_root {
            let root = Arc::clone(root);
            let blobs = blobs.to_vec();
            return tokio::task::spawn_blocking(move || {
                blobs
                    .iter()
                    .map(|(digest, size)| read_small_file(&root, digest, *size))
                    .collect()
            })
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))?;
        }
        let mut read = Vec::with_capacity(blobs.len());
        for (digest, size) in blobs {
            let mut stream = self.read(digest, None).await?;
            let cap = usize::try_from(size.saturating_add(1)).unwrap_or(usize::MAX);
            let mut collected = bytes::BytesMut::new();
            while let Some(chunk) = stream.next().await {
                collected.extend_from_slice(&chunk?);
                if collected.len() >= cap {
                    collected.truncate(cap);
                    break;
                }
            }
            read.push(collected.freeze());
        }
        Ok(read)
    }

    /// Whether blob `digest` is stored. Blobs appear only complete (by atomic
    /// rename or completed multipart upload), so a stored blob is a whole one.
    pub async fn exists(&self, digest: &Digest) -> Result<bool, StorageError> {
        match self.store.head(&blob_path(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes blob `digest`'s bytes; `false` if there were none (deleting
    /// twice is harmless). Only garbage collection calls this, once the
    /// index says nothing may link the blob until it is done.
    pub async fn delete(&self, digest: &Digest) -> Result<bool, StorageError> {
        match self.store.delete(&blob_path(digest)).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The handle on upload `id` at `progress` (for a new upload, the
    /// default progress, which holds nothing).
    pub fn open_upload(&self, id: String, progress: UploadProgress) -> BlobUpload {
        BlobUpload::new(Arc::clone(&self.uploads), id, progress)
    }

    /// Removes whatever upload `id` has stored, known by its id alone: its
    /// file, or all of its parts (including any a failed request left past
    /// the recorded ones). Best effort: a leftover is garbage, never visible
    /// as a blob, and the orphan sweep finds it again; a failure is logged.
    pub async fn discard(&self, id: &str) {
        discard(self.uploads.as_ref(), id).await;
    }

    /// Checks that the store takes a small write, gives the same bytes back
    /// and deletes them, under `probes/`, a prefix that holds neither blobs
    /// nor uploads. Each probe writes its own object, so registries sharing
    /// a bucket do not race.
    pub async fn probe(&self) -> Result<(), StorageError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = Path::from_iter(["probes", &format!("{}-{nanos}", std::process::id())]);
        let written = Bytes::from_static(b"sentinel readiness probe");
        self.store.put(&path, written.clone().into()).await?;
        let read = self.store.get(&path).await;
        let deleted = self.store.delete(&path).await;
        let read = read?.bytes().await?;
        deleted?;
        if read != written {
            return Err(StorageError::ProbeMismatch);
        }
        Ok(())
    }

    /// How many blobs are stored and their bytes together, found by listing
    /// every object under `blobs/` (one listing request per thousand blobs
    /// on an object store, a directory walk on local disk).
    pub async fn usage(&self) -> Result<StoredBlobs, StorageError> {
        let mut listing = self.store.list(Some(&Path::from("blobs")));
        let mut usage = StoredBlobs::default();
        while let Some(object) = listing.next().await {
            usage.objects += 1;
            usage.bytes += object?.size;
        }
        Ok(usage)
    }

    /// The directory blobs are stored in, when they are files on local disk.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// Every upload that has bytes in storage, whether or not a session
    /// still owns it, with when its bytes last changed. An object-store part
    /// appears only once its request completed, so uploads being written
    /// right now may be missing.
    pub async fn stored_uploads(&self) -> Result<Vec<StoredUpload>, StorageError> {
        self.uploads.stored().await
    }
}

/// Up to `size + 1` bytes of blob `digest`, a file under `root`.
fn read_small_file(
    root: &std::path::Path,
    digest: &Digest,
    size: u64,
) -> Result<Bytes, StorageError> {
    use std::io::Read;
    let path = root.join(blob_path(digest).as_ref());
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StorageError::Missing(digest.clone()));
        }
        Err(e) => return Err(e.into()),
    };
    let cap = size.saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(cap).unwrap_or(0).min(1 << 20));
    file.take(cap).read_to_end(&mut bytes)?;
    Ok(Bytes::from(bytes))
}
