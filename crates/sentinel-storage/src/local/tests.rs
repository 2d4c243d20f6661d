//! Tests of the local-disk uploads: the file layout, cut backs, and the
//! limit on blocking jobs.

use std::sync::Arc;

use futures_util::StreamExt;
use sentinel_oci::{Digest, DigestAlgorithm};

use super::{LocalUploads, UploadJobs};
use crate::test_support::{Trickle, body, chunked, pattern, read_all, stalled_body, within};
use crate::{BlobStore, StorageError, StorageLocation, UploadProgress};

#[tokio::test]
async fn local_layout_is_content_addressed_and_parts_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
    let mut state = store.open_upload("c".into(), UploadProgress::default());
    state.append(body(&[b"ab"]), None).await.unwrap();
    state.append(body(&[b"cd"]), None).await.unwrap();
    assert!(state.check().await.unwrap().is_empty());
    let digest = Digest::sha256(b"abcd");
    state.commit(&digest).await.unwrap();
    assert_eq!(state.check().await.unwrap().len(), 1);
    let hex = digest.hex();
    let blob = dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
    assert_eq!(std::fs::read(blob).unwrap(), b"abcd");
    assert!(!dir.path().join("uploads/c").exists());
}

#[tokio::test]
async fn stored_blobs_can_be_made_durable_and_absent_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&StorageLocation::Local(dir.path().to_path_buf())).unwrap();
    let uploads = LocalUploads::new(dir.path().to_path_buf());
    let mut state = store.open_upload("m".into(), UploadProgress::default());
    state.append(body(&[b"durable"]), None).await.unwrap();
    let digest = Digest::sha256(b"durable");
    state.commit(&digest).await.unwrap();
    uploads.make_durable(&digest).await.unwrap();
    let absent = Digest::sha256(b"absent");
    assert!(matches!(
        uploads.make_durable(&absent).await,
        Err(StorageError::Missing(d)) if d == absent
    ));
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
        let mut state = store.open_upload("dropped".into(), UploadProgress::default());
        let write = state.append(stalled_body(b"some bytes"), None);
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
    let (objects, _) = StorageLocation::Local(dir.to_path_buf()).open().unwrap();
    let jobs = Arc::new(UploadJobs::new(jobs));
    let uploads = LocalUploads::with_jobs(dir.to_path_buf(), Arc::clone(&jobs), read_ahead);
    (BlobStore::with_uploads(objects, Arc::new(uploads)), jobs)
}

/// Reading that keeps stopping for room (a read-ahead far smaller than
/// the chunks) still stores every byte, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_read_ahead_still_stores_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _jobs) = limited_store(dir.path(), 4, 64 * 1024);
    let data = pattern(6 * 1024 * 1024 + 5, 7);
    let mut state = store.open_upload("narrow".into(), UploadProgress::default());
    within(
        std::time::Duration::from_secs(60),
        "a write with a small read-ahead",
        state.append(Trickle::new(&data), Some(data.len() as u64)),
    )
    .await
    .unwrap();
    let digest = Digest::sha256(&data);
    assert_eq!(state.digest(DigestAlgorithm::Sha256).await.unwrap(), digest);
    state.commit(&digest).await.unwrap();
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
    let mut state = store.open_upload("cut".into(), UploadProgress::default());
    state.append(body(&[b"first"]), None).await.unwrap();
    let before = state.progress().clone();
    // Enough for several batches and a background flush.
    let data = pattern(6 * 1024 * 1024, 3);

    let failing = chunked(&data, 64 * 1024).chain(futures_util::stream::iter([Err(
        std::io::Error::other("connection reset"),
    )]));
    let result = state.append(failing, None).await;
    assert!(matches!(result, Err(StorageError::Body(_))), "{result:?}");
    assert_eq!((length(), state.progress()), (5, &before));

    let declared = data.len() as u64 - 1;
    let result = state
        .append(chunked(&data, 64 * 1024), Some(declared))
        .await;
    assert!(
        matches!(result, Err(StorageError::LengthMismatch { .. })),
        "{result:?}"
    );
    assert_eq!((length(), state.progress()), (5, &before));

    let write = {
        let mut state = store.open_upload("cut".into(), state.progress().clone());
        let stalled = chunked(&data, 64 * 1024).chain(futures_util::stream::pending());
        tokio::spawn(async move { state.append(stalled, None).await })
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

    state.append(body(&[b" second"]), None).await.unwrap();
    let digest = state.digest(DigestAlgorithm::Sha256).await.unwrap();
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
    let mut state = store.open_upload("blocked".into(), UploadProgress::default());
    let result = state.append(counted, Some(data.len() as u64)).await;
    assert!(matches!(result, Err(StorageError::Io(_))), "{result:?}");
    assert_eq!(read.load(std::sync::atomic::Ordering::SeqCst), 20);
    assert_eq!(state.progress().offset, 0);
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
                let mut state = store.open_upload(format!("u{n}"), UploadProgress::default());
                for part in &parts {
                    state.append(Trickle::new(part), None).await.unwrap();
                }
                let whole = parts.concat();
                let digest = Digest::sha256(&whole);
                assert_eq!(
                    state.digest(DigestAlgorithm::Sha512).await.unwrap(),
                    Digest::of(DigestAlgorithm::Sha512, &whole)
                );
                state.commit(&digest).await.unwrap();
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
        let mut state = store.open_upload("stored".into(), UploadProgress::default());
        state
            .append(chunked(&stored, 16 * 1024), None)
            .await
            .unwrap();
        state.commit(&stored_digest).await.unwrap();

        let stalled: Vec<_> = (0..STALLED)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut state =
                        store.open_upload(format!("stalled-{n}"), UploadProgress::default());
                    let body = stalled_body(b"a few bytes");
                    state.append(body, Some(1 << 20)).await
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
                let mut state = store.open_upload("complete".into(), UploadProgress::default());
                state
                    .append(chunked(&data, 64 * 1024), Some(data.len() as u64))
                    .await
                    .unwrap();
                let digest = Digest::sha256(&data);
                state.commit(&digest).await.unwrap();
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
