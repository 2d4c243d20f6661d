//! Helpers for the storage tests: bodies, patterns, and the stores the
//! shared suite runs against.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use sentinel_oci::{Digest, DigestAlgorithm};

use crate::parts::PartUploads;
use crate::{BlobStore, BlobUpload, StorageLocation};

pub(crate) fn body(
    chunks: &[&'static [u8]],
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send + use<> {
    futures_util::stream::iter(
        chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c)))
            .collect::<Vec<_>>(),
    )
}

pub(crate) async fn read_all(
    store: &BlobStore,
    digest: &Digest,
    range: Option<Range<u64>>,
) -> Vec<u8> {
    let stream = store.read(digest, range).await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

/// Checks that the upload `state` holds exactly `expected` (its sha256
/// and sha512 digests), commits it, and reads it back.
pub(crate) async fn commits_exactly(store: &BlobStore, state: &BlobUpload, expected: &[u8]) {
    let digest = state.digest(DigestAlgorithm::Sha256).await.unwrap();
    assert_eq!(digest, Digest::sha256(expected));
    let sha512 = state.digest(DigestAlgorithm::Sha512).await.unwrap();
    assert_eq!(sha512, Digest::of(DigestAlgorithm::Sha512, expected));
    state.commit(&digest).await.unwrap();
    assert!(read_all(store, &digest, None).await == expected);
}

/// Every kind of store the shared suite runs against: local disk (one file
/// per upload), and part objects over object_store's in-memory and
/// local-file stores; each with the directory it lives in, if any.
pub(crate) fn stores() -> Vec<(BlobStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
    let memory = BlobStore::open(&"memory://".parse().unwrap()).unwrap();
    let files_dir = tempfile::tempdir().unwrap();
    let files: Arc<dyn object_store::ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(files_dir.path()).unwrap());
    let parts_on_files =
        BlobStore::with_uploads(Arc::clone(&files), Arc::new(PartUploads::new(files)));
    vec![
        (local, Some(dir)),
        (memory, None),
        (parts_on_files, Some(files_dir)),
    ]
}

/// A body that yields `first` and then never ends, like a client that
/// stopped sending.
pub(crate) fn stalled_body(
    first: &'static [u8],
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send {
    futures_util::stream::iter([Ok(Bytes::from_static(first))])
        .chain(futures_util::stream::pending())
}

/// `len` bytes that differ from their neighbours and from other offsets'.
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ ((i >> 9) as u8) ^ seed)
        .collect()
}

/// `data` as a body of `size`-byte chunks.
pub(crate) fn chunked(
    data: &[u8],
    size: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send + 'static + use<> {
    let chunks: Vec<_> = data
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(chunks)
}

/// Waits for `work`, failing the test if it takes longer than `limit`.
pub(crate) async fn within<T>(
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
pub(crate) struct Trickle {
    /// The chunks still to deliver.
    chunks: std::collections::VecDeque<Bytes>,
    /// How often it was polled.
    polls: usize,
}

impl Trickle {
    /// `data` in chunks whose sizes cycle from 1 byte to 1 MiB.
    pub(crate) fn new(data: &[u8]) -> Self {
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
