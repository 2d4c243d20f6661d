//! Writing and reading blobs: only verified content ever becomes visible.

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use common::{blob_files, ingest_leftovers, store};
use sentinel_local_store::{LocalStore, LocalStoreError};
use sentinel_oci::{Digest, DigestAlgorithm};

#[test]
fn a_written_blob_reads_back_under_its_digest() {
    let (_dir, store) = store();
    let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let digest = store.write_blob(&bytes).unwrap();
    assert_eq!(digest, Digest::sha256(&bytes));
    let path = store.blob_path(&digest);
    assert_eq!(
        path,
        store.root().join("blobs").join("sha256").join(digest.hex())
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(store.blob_size(&digest).unwrap(), Some(bytes.len() as u64));
    assert_eq!(store.read_blob(&digest, 1 << 20).unwrap(), bytes);
    let mut streamed = Vec::new();
    store
        .open_blob(&digest)
        .unwrap()
        .read_to_end(&mut streamed)
        .unwrap();
    assert_eq!(streamed, bytes);
    assert!(ingest_leftovers(&store).is_empty());
}

#[test]
fn a_writer_fed_in_small_pieces_commits_the_whole() {
    let (_dir, store) = store();
    let mut writer = store.begin_blob().unwrap();
    assert!(writer.temp_path().starts_with(store.root().join("ingest")));
    for chunk in [b"hello ".as_slice(), b"", b"layout ", b"world"] {
        writer.write_all(chunk).unwrap();
    }
    let expected = Digest::sha256(b"hello layout world");
    assert_eq!(writer.digest(), expected);
    assert_eq!(writer.commit(&expected, Some(18)).unwrap(), 18);
    assert_eq!(
        store.read_blob(&expected, 100).unwrap(),
        b"hello layout world"
    );
}

#[test]
fn a_digest_mismatch_leaves_nothing() {
    let (_dir, store) = store();
    let mut writer = store.begin_blob().unwrap();
    writer.write_all(b"actual content").unwrap();
    let temp = writer.temp_path().to_path_buf();
    let claimed = Digest::sha256(b"other content");
    let err = writer.commit(&claimed, None).unwrap_err();
    assert!(
        matches!(err, LocalStoreError::DigestMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&claimed.to_string()));
    assert!(!temp.exists());
    assert_eq!(store.blob_size(&claimed).unwrap(), None);
    assert_eq!(
        store.blob_size(&Digest::sha256(b"actual content")).unwrap(),
        None
    );
    assert!(blob_files(&store).is_empty());
    assert!(ingest_leftovers(&store).is_empty());
}

#[test]
fn a_size_mismatch_leaves_nothing() {
    let (_dir, store) = store();
    let mut writer = store.begin_blob().unwrap();
    writer.write_all(b"12345").unwrap();
    let digest = Digest::sha256(b"12345");
    let err = writer.commit(&digest, Some(6)).unwrap_err();
    assert!(
        matches!(
            err,
            LocalStoreError::SizeMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.blob_size(&digest).unwrap(), None);
    assert!(ingest_leftovers(&store).is_empty());
}

#[test]
fn a_dropped_writer_leaves_nothing() {
    let (_dir, store) = store();
    let mut writer = store.begin_blob().unwrap();
    writer.write_all(&vec![7u8; 300_000]).unwrap();
    let temp = writer.temp_path().to_path_buf();
    assert!(temp.exists());
    drop(writer);
    assert!(!temp.exists());
    assert!(ingest_leftovers(&store).is_empty());
    assert!(blob_files(&store).is_empty());
}

#[test]
fn a_sha512_digest_is_verified_and_stored_under_its_algorithm() {
    let (_dir, store) = store();
    let mut writer = store.begin_blob().unwrap();
    writer.write_all(b"five-twelve").unwrap();
    let expected = Digest::of(DigestAlgorithm::Sha512, b"five-twelve");
    writer.commit(&expected, Some(11)).unwrap();
    let path = store.blob_path(&expected);
    assert!(path.starts_with(store.root().join("blobs").join("sha512")));
    assert_eq!(fs::read(path).unwrap(), b"five-twelve");

    let mut writer = store.begin_blob().unwrap();
    writer.write_all(b"five-twelve?").unwrap();
    assert!(matches!(
        writer.commit(&expected, None),
        Err(LocalStoreError::DigestMismatch { .. })
    ));
}

#[test]
fn an_adopted_download_is_verified_and_moved_into_place() {
    let (_dir, store) = store();
    let temp = store.ingest_path();
    assert!(!temp.exists());
    fs::write(&temp, b"downloaded bytes").unwrap();
    let digest = Digest::sha256(b"downloaded bytes");
    assert_eq!(store.adopt_file(&temp, &digest).unwrap(), 16);
    assert!(!temp.exists());
    assert_eq!(store.read_blob(&digest, 100).unwrap(), b"downloaded bytes");
}

#[test]
fn a_mismatching_download_is_deleted() {
    let (_dir, store) = store();
    let temp = store.ingest_path();
    fs::write(&temp, b"tampered bytes").unwrap();
    let expected = Digest::sha256(b"downloaded bytes");
    let err = store.adopt_file(&temp, &expected).unwrap_err();
    assert!(
        matches!(err, LocalStoreError::DigestMismatch { .. }),
        "{err}"
    );
    assert!(!temp.exists());
    assert!(blob_files(&store).is_empty());
}

#[test]
fn adopting_a_file_outside_ingest_is_refused_and_leaves_it() {
    let (dir, store) = store();
    let outside = dir.path().join("elsewhere");
    fs::write(&outside, b"x").unwrap();
    let err = store
        .adopt_file(&outside, &Digest::sha256(b"x"))
        .unwrap_err();
    assert!(matches!(err, LocalStoreError::NotInIngest { .. }), "{err}");
    assert!(outside.exists());
}

#[test]
fn an_imported_file_is_copied_and_hashed() {
    let (dir, store) = store();
    let source = dir.path().join("package.tar");
    let bytes: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 256) as u8).collect();
    fs::write(&source, &bytes).unwrap();
    let (digest, size) = store.import_file(&source).unwrap();
    assert_eq!(digest, Digest::sha256(&bytes));
    assert_eq!(size, bytes.len() as u64);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(fs::read(&source).unwrap(), bytes);
}

#[test]
fn read_blob_refuses_blobs_over_the_limit() {
    let (_dir, store) = store();
    let digest = store.write_blob(&[1u8; 1000]).unwrap();
    assert_eq!(store.read_blob(&digest, 1000).unwrap().len(), 1000);
    let err = store.read_blob(&digest, 999).unwrap_err();
    assert!(
        matches!(
            err,
            LocalStoreError::BlobTooLarge {
                size: 1000,
                limit: 999,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn absent_blobs_are_reported_as_such() {
    let (_dir, store) = store();
    let digest = Digest::sha256(b"never written");
    assert_eq!(store.blob_size(&digest).unwrap(), None);
    let err = store.open_blob(&digest).unwrap_err();
    assert!(matches!(err, LocalStoreError::BlobNotFound { .. }), "{err}");
    assert!(err.to_string().contains(digest.hex()));
    assert!(matches!(
        store.read_blob(&digest, 10),
        Err(LocalStoreError::BlobNotFound { .. })
    ));
}

#[test]
fn open_removes_ingest_files_older_than_a_day_and_keeps_recent_ones() {
    let (_dir, store) = store();
    let root = store.root().to_path_buf();
    let old = store.ingest_path();
    let recent = store.ingest_path();
    fs::write(&old, b"abandoned").unwrap();
    fs::write(&recent, b"in progress").unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 60 * 60);
    File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    drop(store);
    let reopened = LocalStore::open(&root).unwrap();
    assert!(!old.exists());
    assert!(recent.exists());
    drop(reopened);
}

#[test]
fn a_verified_download_is_adopted_without_a_second_read_and_checked_for_size() {
    let (_dir, store) = store();
    let content = b"bytes a download hashed on the way in".to_vec();
    let digest = Digest::sha256(&content);

    let short = store.ingest_path();
    fs::write(&short, &content[..10]).unwrap();
    let error = store
        .adopt_verified_file(&short, &digest, content.len() as u64)
        .unwrap_err();
    assert!(
        matches!(error, LocalStoreError::SizeMismatch { .. }),
        "{error}"
    );
    assert!(!short.exists(), "the refused file is deleted");
    assert_eq!(store.blob_size(&digest).unwrap(), None);

    let complete = store.ingest_path();
    fs::write(&complete, &content).unwrap();
    store
        .adopt_verified_file(&complete, &digest, content.len() as u64)
        .unwrap();
    assert_eq!(
        store.blob_size(&digest).unwrap(),
        Some(content.len() as u64)
    );
    assert_eq!(store.read_blob(&digest, 1024).unwrap(), content);
    assert!(ingest_leftovers(&store).is_empty());
    assert_eq!(blob_files(&store).len(), 1);
}
