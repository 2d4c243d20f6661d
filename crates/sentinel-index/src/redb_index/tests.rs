//! Tests of the redb index: its encodings, the shared suite, and
//! recovery from I/O errors.

use super::records::{ManifestRecord, decode_manifest, encode_manifest, key};
use super::*;
use crate::{ListedUpload, MetadataIndex, UploadSession};
use sentinel_oci::{Digest, RepositoryName};
use sentinel_storage::UploadProgress;

#[test]
fn manifest_records_round_trip() {
    let record = ManifestRecord {
        media_type: "m".into(),
        blobs: vec![Digest::sha256(b"a")],
        manifests: vec![],
        subject: None,
    };
    let encoded = encode_manifest(&record, b"{}");
    let (decoded, body) = decode_manifest(&encoded).unwrap();
    assert_eq!(decoded.media_type, "m");
    assert_eq!(body, b"{}");
    assert!(decode_manifest(&encoded[..3]).is_err());
}

#[tokio::test]
async fn redb_index_passes_the_shared_suite() {
    crate::suite::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let index = RedbIndex::open(&dir.path().join("index.redb")).unwrap();
        (index, dir)
    })
    .await;
}

#[tokio::test]
async fn committed_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.redb");
    let repo: RepositoryName = "a/b".parse().unwrap();
    let digest = Digest::sha256(b"x");
    {
        let index = RedbIndex::open(&path).unwrap();
        index.link_blob(&repo, &digest, 1, None).await.unwrap();
    }
    let index = RedbIndex::open(&path).unwrap();
    assert_eq!(
        index.repository_blob(&repo, &digest).await.unwrap(),
        Some(1)
    );
}

/// A database file whose reads or writes can be made to fail, as a
/// failing disk would.
#[derive(Debug)]
struct FaultyFile {
    file: redb::backends::FileBackend,
    faults: Arc<Faults>,
}

#[derive(Debug, Default)]
struct Faults {
    reads: std::sync::atomic::AtomicBool,
    writes: std::sync::atomic::AtomicBool,
}

impl Faults {
    fn check(flag: &std::sync::atomic::AtomicBool, what: &str) -> std::io::Result<()> {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Err(std::io::Error::other(format!("injected {what} failure")))
        } else {
            Ok(())
        }
    }
}

impl redb::StorageBackend for FaultyFile {
    fn len(&self) -> std::io::Result<u64> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        Faults::check(&self.faults.reads, "read")?;
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        Faults::check(&self.faults.writes, "write")?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        Faults::check(&self.faults.writes, "write")?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        Faults::check(&self.faults.writes, "write")?;
        self.file.write(offset, data)
    }

    fn close(&self) -> std::io::Result<()> {
        self.file.close()
    }
}

/// Every open of an index over a [`FaultyFile`]: the thread it ran on.
type Opens = Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>;

/// An index on `path` whose file fails on demand. It reads without a
/// page cache, so every read reaches the file.
fn faulty_index(path: &Path) -> (RedbIndex, Arc<Faults>, Opens) {
    let faults = Arc::new(Faults::default());
    let opens = Opens::default();
    let opener = {
        let path = path.to_path_buf();
        let faults = Arc::clone(&faults);
        let opens = Arc::clone(&opens);
        move || {
            opens.lock().unwrap().push(std::thread::current().id());
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(backend)?;
            let faulty = FaultyFile {
                file: redb::backends::FileBackend::new(file).map_err(backend)?,
                faults: Arc::clone(&faults),
            };
            let db = redb::Builder::new()
                .set_cache_size(0)
                .create_with_backend(faulty)
                .map_err(backend)?;
            with_tables(db)
        }
    };
    let index = RedbIndex::with_opener(Arc::new(opener)).unwrap();
    (index, faults, opens)
}

#[tokio::test]
async fn a_read_that_meets_an_io_error_reopens_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.redb");
    let repo: RepositoryName = "a/b".parse().unwrap();
    let digest = Digest::sha256(b"x");
    RedbIndex::open(&path)
        .unwrap()
        .link_blob(&repo, &digest, 1, None)
        .await
        .unwrap();
    let (index, faults, opens) = faulty_index(&path);

    // The disk fails once the transaction has begun: a table read meets it.
    let failed = index
        .read(|txn| {
            faults
                .reads
                .store(true, std::sync::atomic::Ordering::SeqCst);
            let table = txn.open_table(BLOB_LINKS).map_err(backend)?;
            let link = key(&[repo.as_str(), digest.as_str()]);
            Ok(table.get(link.as_str()).map_err(backend)?.is_some())
        })
        .await;
    assert!(is_io_error(&failed.unwrap_err()));
    faults
        .reads
        .store(false, std::sync::atomic::Ordering::SeqCst);
    // The disk works again: so does the very next call, on a reopened handle.
    assert_eq!(
        index.repository_blob(&repo, &digest).await.unwrap(),
        Some(1)
    );
    assert_eq!(opens.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_database_is_reopened_once_and_off_the_async_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (index, faults, opens) = faulty_index(&dir.path().join("index.redb"));
    let repo: RepositoryName = "a/b".parse().unwrap();
    let digest = Digest::sha256(b"x");

    faults
        .writes
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(index.link_blob(&repo, &digest, 1, None).await.is_err());
    faults
        .writes
        .store(false, std::sync::atomic::Ordering::SeqCst);

    // Several readers find the handle gone at once: one reopen serves them all.
    let (a, b, c) = tokio::join!(
        index.blob(&digest),
        index.repository_blob(&repo, &digest),
        index.uploads()
    );
    assert_eq!(a.unwrap(), None);
    assert_eq!(b.unwrap(), None);
    assert!(c.unwrap().is_empty());
    index.link_blob(&repo, &digest, 1, None).await.unwrap();
    assert_eq!(index.blob(&digest).await.unwrap(), Some(1));

    let opens = opens.lock().unwrap();
    assert_eq!(opens.len(), 2, "one open at start, one reopen");
    // This test's runtime has one thread, this one: the reopen ran elsewhere.
    assert_ne!(opens[1], std::thread::current().id());
}

/// A data directory written before upload sessions were typed records holds
/// them as the JSON of the storage crate's old `UploadState`: they read as
/// the same sessions, and an undecodable one is reported, not fatal.
#[tokio::test]
async fn upload_sessions_in_the_old_encoding_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let index = RedbIndex::open(&dir.path().join("index.redb")).unwrap();
    let old = br#"{"id":"u1","repository":"a/b","offset":5,"parts":[2,3],"hash_state":[7,0,255],"updated_at":1700000000}"#;
    index.put_upload_record_bytes("u1", old).await.unwrap();
    index
        .put_upload_record_bytes("u2", b"not an upload state")
        .await
        .unwrap();
    let expected = UploadSession {
        id: "u1".into(),
        repository: "a/b".into(),
        updated_at: 1_700_000_000,
        progress: UploadProgress {
            offset: 5,
            parts: vec![2, 3],
            hash_state: vec![7, 0, 255],
        },
    };
    assert_eq!(index.upload("u1").await.unwrap(), Some(expected.clone()));
    assert!(matches!(
        index.upload("u2").await,
        Err(IndexError::Corrupt(_))
    ));
    assert_eq!(
        index.uploads().await.unwrap(),
        vec![
            ListedUpload {
                id: "u1".into(),
                session: Some(expected.clone()),
            },
            ListedUpload {
                id: "u2".into(),
                session: None,
            },
        ]
    );
    // Written back, it keeps the same fields, so an older server reads it too.
    index.put_upload(&expected).await.unwrap();
    let written: serde_json::Value = index
        .read(|txn| {
            let table = txn.open_table(UPLOADS).map_err(records::backend)?;
            let record = table.get("u1").map_err(records::backend)?.unwrap();
            Ok(serde_json::from_slice(record.value()).unwrap())
        })
        .await
        .unwrap();
    assert_eq!(
        written,
        serde_json::from_slice::<serde_json::Value>(old).unwrap()
    );
}

#[tokio::test]
async fn reverse_references_are_built_for_an_older_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.redb");
    let repo: RepositoryName = "a/b".parse().unwrap();
    let layer = Digest::sha256(b"layer");
    {
        let index = RedbIndex::open(&path).unwrap();
        index.link_blob(&repo, &layer, 1, None).await.unwrap();
        let body = b"{\"m\":1}".to_vec();
        let manifest = crate::NewManifest {
            digest: Digest::sha256(&body),
            media_type: "m".into(),
            body,
            blobs: vec![layer.clone()],
            manifests: vec![],
            subject: None,
            events: Vec::new(),
        };
        let tag = "t".parse().unwrap();
        index
            .put_manifest(&repo, manifest, Some(&tag))
            .await
            .unwrap();
        // As an index written before reverse references existed.
        let db = index.current().unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(BLOB_REFS).unwrap();
        txn.open_table(SCHEMA)
            .unwrap()
            .remove("reverse_refs")
            .unwrap();
        txn.commit().unwrap();
    }
    let index = RedbIndex::open(&path).unwrap();
    let far = u64::MAX / 2;
    let candidates = index.gc_candidates(&repo, far, 1).await.unwrap();
    assert!(candidates.manifests.is_empty());
    assert!(candidates.blobs.is_empty());
    // Even a snapshot that names the blob cannot unlink it: the probe sees
    // the rebuilt reference.
    let forced = crate::GcCandidates {
        manifests: vec![],
        blobs: vec![layer.clone()],
    };
    let collected = index.collect(&repo, &forced, far, 1, false).await.unwrap();
    assert!(collected.blob_links.is_empty());
}

#[tokio::test]
async fn usage_is_built_on_open_for_an_index_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.redb");
    let digest = Digest::sha256(b"x");
    {
        let index = RedbIndex::open(&path).unwrap();
        for repo in ["acme/a", "acme/b", "other/c"] {
            let repo: RepositoryName = repo.parse().unwrap();
            index.link_blob(&repo, &digest, 7, None).await.unwrap();
        }
    }
    {
        // What an index written before the usage tables looks like.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(usage::NAMESPACE_BLOBS).unwrap();
        txn.delete_table(usage::NAMESPACE_USAGE).unwrap();
        txn.open_table(SCHEMA)
            .unwrap()
            .remove(usage::USAGE_SCHEMA)
            .unwrap();
        txn.commit().unwrap();
    }
    let index = RedbIndex::open(&path).unwrap();
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 7);
    assert_eq!(
        index.namespace_usages().await.unwrap(),
        vec![("acme".to_owned(), 7), ("other".to_owned(), 7)]
    );
    let repo: RepositoryName = "acme/a".parse().unwrap();
    assert!(index.unlink_blob(&repo, &digest).await.unwrap());
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 7);
}
