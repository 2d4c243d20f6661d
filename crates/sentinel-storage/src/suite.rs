//! The shared suite: every upload backend must pass these, through the
//! [`crate::BlobUpload`] handle.

use std::time::SystemTime;

use bytes::Bytes;
use sentinel_oci::{Digest, DigestAlgorithm};

use crate::test_support::{Trickle, body, commits_exactly, pattern, read_all, stores};
use crate::{Committed, StorageError, UploadProgress};

#[tokio::test]
async fn parts_commit_into_one_blob() {
    for (store, _dir) in stores() {
        for parts in [
            vec![],
            vec![&b"hello world"[..]],
            vec![&b"hello "[..], &b""[..], &b"wor"[..], &b"ld"[..]],
        ] {
            let mut state =
                store.open_upload(format!("u{}", parts.len()), UploadProgress::default());
            for part in &parts {
                state.append(body(&[part]), None).await.unwrap();
            }
            let expected: Vec<u8> = parts.concat();
            assert_eq!(state.progress().offset, expected.len() as u64);
            commits_exactly(&store, &state, &expected).await;
        }
    }
}

#[tokio::test]
async fn ranges_read_exact_bytes() {
    for (store, _dir) in stores() {
        let mut state = store.open_upload("r".into(), UploadProgress::default());
        state.append(body(&[b"0123456789"]), None).await.unwrap();
        let digest = Digest::sha256(b"0123456789");
        state.commit(&digest).await.unwrap();
        assert_eq!(read_all(&store, &digest, Some(2..5)).await, b"234");
        assert_eq!(read_all(&store, &digest, Some(9..10)).await, b"9");
        assert!(store.exists(&digest).await.unwrap());
        assert!(!store.exists(&Digest::sha256(b"other")).await.unwrap());
    }
}

#[tokio::test]
async fn an_interrupted_body_stores_nothing() {
    for (store, _dir) in stores() {
        let mut state = store.open_upload("i".into(), UploadProgress::default());
        state.append(body(&[b"first"]), None).await.unwrap();
        let before = state.progress().clone();
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let result = state.append(failing, None).await;
        assert!(matches!(result, Err(StorageError::Body(_))));
        assert_eq!(state.progress(), &before);
        // The upload continues as if the failed request never happened.
        state.append(body(&[b" second"]), None).await.unwrap();
        let digest = state.digest(DigestAlgorithm::Sha256).await.unwrap();
        assert_eq!(digest, Digest::sha256(b"first second"));
    }
}

#[tokio::test]
async fn a_body_of_the_wrong_length_stores_nothing() {
    for (store, _dir) in stores() {
        let mut state = store.open_upload("l".into(), UploadProgress::default());
        for (declared, chunks) in [(3, &[&b"ab"[..], &b"cd"[..]][..]), (9, &[&b"abcd"[..]][..])] {
            let result = state.append(body(chunks), Some(declared)).await;
            assert!(
                matches!(result, Err(StorageError::LengthMismatch { .. })),
                "{result:?}"
            );
            assert_eq!(state.progress().offset, 0);
        }
        state.append(body(&[b"abcd"]), Some(4)).await.unwrap();
        assert_eq!(state.progress().parts, vec![4]);
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
async fn stored_uploads_are_listed_until_discarded() {
    for (store, _dir) in stores() {
        assert_eq!(store.stored_uploads().await.unwrap(), vec![]);
        let before = SystemTime::now() - std::time::Duration::from_secs(5);
        for id in ["one", "two"] {
            let mut state = store.open_upload(id.into(), UploadProgress::default());
            state.append(body(&[b"ab"]), None).await.unwrap();
            state.append(body(&[b"cd"]), None).await.unwrap();
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

/// Bodies of many MiB, arriving in uneven chunks with pauses, are stored
/// byte for byte and hashed right, in either backend.
#[tokio::test]
async fn large_bodies_in_uneven_chunks_are_stored_exactly() {
    for (store, _dir) in stores() {
        // Many batches, crossing the flush interval twice, then a part
        // starting mid-file.
        let first = pattern(9 * 1024 * 1024 + 12_345, 1);
        let second = pattern(3 * 1024 * 1024 + 1, 2);
        let mut state = store.open_upload("big".into(), UploadProgress::default());
        for part in [&first, &second] {
            let written = state
                .append(Trickle::new(part), Some(part.len() as u64))
                .await
                .unwrap();
            assert_eq!(written, part.len() as u64);
        }
        assert_eq!(
            state.progress().parts,
            [first.len() as u64, second.len() as u64]
        );
        commits_exactly(&store, &state, &[first, second].concat()).await;
    }
}

/// Committing an upload whose blob is stored already keeps the stored copy
/// and drops the upload's bytes.
#[tokio::test]
async fn committing_a_blob_already_stored_reuses_it() {
    for (store, _dir) in stores() {
        let digest = Digest::sha256(b"durable");
        for (id, committed) in [("first", Committed::Stored), ("second", Committed::Reused)] {
            let mut upload = store.open_upload(id.into(), UploadProgress::default());
            upload.append(body(&[b"durable"]), None).await.unwrap();
            assert_eq!(upload.commit(&digest).await.unwrap(), committed);
        }
        assert_eq!(read_all(&store, &digest, None).await, b"durable");
        assert_eq!(store.stored_uploads().await.unwrap(), vec![]);
    }
}

/// Committing an upload as a digest its bytes do not have fails, stores no
/// blob, and drops the upload's bytes.
#[tokio::test]
async fn a_digest_mismatch_discards_the_upload() {
    for (store, _dir) in stores() {
        let mut upload = store.open_upload("wrong".into(), UploadProgress::default());
        upload.append(body(&[b"actual"]), None).await.unwrap();
        let claimed = Digest::sha256(b"claimed");
        let result = upload.commit(&claimed).await;
        assert!(
            matches!(&result, Err(StorageError::DigestMismatch { actual, .. }) if *actual == Digest::sha256(b"actual")),
            "{result:?}"
        );
        assert!(!store.exists(&claimed).await.unwrap());
        assert_eq!(store.stored_uploads().await.unwrap(), vec![]);
    }
}

#[tokio::test]
async fn small_blobs_are_read_whole_and_capped() {
    for (store, _dir) in stores() {
        let mut digests = Vec::new();
        for (id, bytes) in [("a", &b"definition"[..]), ("b", &b"package bytes"[..])] {
            let mut state = store.open_upload(id.into(), UploadProgress::default());
            state.append(body(&[bytes]), None).await.unwrap();
            let digest = Digest::sha256(bytes);
            state.commit(&digest).await.unwrap();
            digests.push(digest);
        }
        let read = store
            .read_small(&[(digests[0].clone(), 10), (digests[1].clone(), 13)])
            .await
            .unwrap();
        assert_eq!(read, vec![&b"definition"[..], &b"package bytes"[..]]);
        // A size too small reads one byte past it; too large, the whole blob.
        let read = store
            .read_small(&[(digests[1].clone(), 4), (digests[0].clone(), 99)])
            .await
            .unwrap();
        assert_eq!(read, vec![&b"packa"[..], &b"definition"[..]]);
        let absent = Digest::sha256(b"absent");
        let result = store
            .read_small(&[(digests[0].clone(), 10), (absent.clone(), 1)])
            .await;
        assert!(matches!(result, Err(StorageError::Missing(d)) if d == absent));
    }
}

#[tokio::test]
async fn the_probe_leaves_nothing_and_usage_counts_blobs_only() {
    for (store, _dir) in stores() {
        store.probe().await.unwrap();
        assert_eq!(store.usage().await.unwrap(), crate::StoredBlobs::default());
        let mut state = store.open_upload("p".into(), UploadProgress::default());
        state.append(body(&[b"0123456789"]), None).await.unwrap();
        state.commit(&Digest::sha256(b"0123456789")).await.unwrap();
        let mut pending = store.open_upload("q".into(), UploadProgress::default());
        pending
            .append(body(&[b"not a blob yet"]), None)
            .await
            .unwrap();
        store.probe().await.unwrap();
        let usage = store.usage().await.unwrap();
        assert_eq!((usage.objects, usage.bytes), (1, 10));
    }
}
