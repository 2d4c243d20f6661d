//! The client against the real `sentinel-registry`, started in-process on
//! `127.0.0.1:0` with a temporary data directory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use sentinel_client::{
    BlobPush, ClientError, ClientOptions, ErrorKind, NoProgress, RegistryClient, RegistryLocation,
    RetryPolicy, TransferProgress,
};
use sentinel_oci::{Digest, media_types};
use serde_json::json;
use tokio::sync::oneshot;

const CHUNK: u64 = 64 * 1024;

struct Registry {
    host: String,
    data_dir: PathBuf,
    _temp: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
}

impl Registry {
    async fn start() -> Registry {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let settings = sentinel_registry::Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            ..sentinel_registry::Settings::default()
        };
        let server = sentinel_registry::Server::bind(settings).await.unwrap();
        let host = server.local_addr().to_string();
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Registry {
            host,
            data_dir,
            _temp: temp,
            _shutdown: shutdown,
        }
    }

    fn client(&self) -> RegistryClient {
        let options = ClientOptions {
            chunk_size: CHUNK,
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(20),
            },
            ..ClientOptions::default()
        };
        RegistryClient::new(&RegistryLocation::parse(&self.host).unwrap(), options).unwrap()
    }

    /// The stored file of a blob, as the local storage lays it out.
    fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.data_dir
            .join("storage/blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }
}

/// Bytes that differ from one position to the next, so an offset error shows in the digest.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / 251) as u8).wrapping_add(seed))
        .collect()
}

fn write_blob(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Digest) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    (path, Digest::sha256(bytes))
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(char, u64)>>,
}

impl Recorder {
    fn advanced_total(&self) -> u64 {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(kind, _)| *kind == '+')
            .map(|(_, n)| n)
            .sum()
    }
}

impl TransferProgress for Recorder {
    fn advanced(&self, bytes: u64) {
        self.events.lock().unwrap().push(('+', bytes));
    }
    fn restarted_at(&self, offset: u64) {
        self.events.lock().unwrap().push(('@', offset));
    }
}

fn temp_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn blobs_push_chunked_skip_mount_and_pull_verified() {
    let registry = Registry::start().await;
    let client = registry.client();
    let work = tempfile::tempdir().unwrap();
    let content = pattern(5 * CHUNK as usize + 1234, 7);
    let (path, digest) = write_blob(work.path(), "layer", &content);
    let size = content.len() as u64;

    let progress = Recorder::default();
    let pushed = client
        .push_blob_file("team/a", &digest, size, &path, None, &progress)
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 0 });
    assert_eq!(progress.advanced_total(), size);
    assert_eq!(
        client.blob_exists("team/a", &digest).await.unwrap(),
        Some(size)
    );
    assert_eq!(std::fs::read(registry.blob_file(&digest)).unwrap(), content);

    let again = client
        .push_blob_file("team/a", &digest, size, &path, None, &NoProgress)
        .await
        .unwrap();
    assert_eq!(again, BlobPush::AlreadyPresent);

    assert_eq!(client.blob_exists("team/b", &digest).await.unwrap(), None);
    let mounted = client
        .push_blob_file("team/b", &digest, size, &path, Some("team/a"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(mounted, BlobPush::Mounted);
    assert_eq!(
        client.blob_exists("team/b", &digest).await.unwrap(),
        Some(size)
    );

    let dest = work.path().join("out/pulled");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let progress = Recorder::default();
    let written = client
        .pull_blob_to_file("team/b", &digest, Some(size), &dest, &progress)
        .await
        .unwrap();
    assert_eq!(written, size);
    assert_eq!(progress.advanced_total(), size);
    assert_eq!(std::fs::read(&dest).unwrap(), content);
    assert_eq!(temp_entries(dest.parent().unwrap()), ["pulled"]);

    // A blob no larger than a chunk goes up in one PUT.
    let small = pattern(1000, 3);
    let (small_path, small_digest) = write_blob(work.path(), "small", &small);
    let pushed = client
        .push_blob_file(
            "team/a",
            &small_digest,
            1000,
            &small_path,
            None,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 0 });
    let bytes = client
        .pull_blob_bytes("team/a", &small_digest, 1000)
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), small.as_slice());
    let too_small = client
        .pull_blob_bytes("team/a", &small_digest, 999)
        .await
        .unwrap_err();
    assert!(
        matches!(too_small, ClientError::TooLarge { .. }),
        "{too_small}"
    );

    // The size given must be the file's.
    let error = client
        .push_blob_file("team/a", &small_digest, 999, &small_path, None, &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Integrity);

    let missing = Digest::sha256(b"never pushed");
    let error = client
        .pull_blob_to_file(
            "team/a",
            &missing,
            None,
            &work.path().join("missing"),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(
        error.to_string(),
        format!("blob {missing} not found in {}", registry.host)
    );
    assert!(!work.path().join("missing").exists());
}

#[tokio::test]
async fn manifests_tags_referrers_and_catalog() {
    let registry = Registry::start().await;
    let client = registry.client();
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
    let config_digest = Digest::sha256(&config);
    assert_eq!(
        client
            .push_blob_bytes("me/hello", &config_digest, config.clone())
            .await
            .unwrap(),
        BlobPush::Uploaded { resumed: 0 }
    );
    assert_eq!(
        client
            .push_blob_bytes("me/hello", &config_digest, config.clone())
            .await
            .unwrap(),
        BlobPush::AlreadyPresent
    );
    let wrong = client
        .push_blob_bytes("me/hello", &Digest::sha256(b"other"), config.clone())
        .await
        .unwrap_err();
    assert!(matches!(wrong, ClientError::DigestMismatch { .. }));

    let layer = Bytes::from(pattern(3000, 1));
    let layer_digest = Digest::sha256(&layer);
    client
        .push_blob_bytes("me/hello", &layer_digest, layer.clone())
        .await
        .unwrap();

    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest = Bytes::from(manifest);
    let digest = client
        .put_manifest(
            "me/hello",
            "0.1.0",
            media_types::OCI_MANIFEST,
            manifest.clone(),
        )
        .await
        .unwrap();
    assert_eq!(digest, Digest::sha256(&manifest));
    client
        .put_manifest(
            "me/hello",
            "latest",
            media_types::OCI_MANIFEST,
            manifest.clone(),
        )
        .await
        .unwrap();

    for reference in ["0.1.0", digest.as_str()] {
        let fetched = client.get_manifest("me/hello", reference).await.unwrap();
        assert_eq!(fetched.bytes, manifest);
        assert_eq!(fetched.digest, digest);
        assert_eq!(fetched.media_type, media_types::OCI_MANIFEST);
    }
    let head = client
        .head_manifest("me/hello", "0.1.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.digest, digest);
    assert_eq!(head.size, manifest.len() as u64);
    assert_eq!(head.media_type, media_types::OCI_MANIFEST);
    assert_eq!(
        client.head_manifest("me/hello", "nope").await.unwrap(),
        None
    );

    let missing = client.get_manifest("me/hello", "nope").await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(
        missing.to_string(),
        format!("manifest me/hello:nope not found in {}", registry.host)
    );

    let mut tags = client.list_tags("me/hello").await.unwrap();
    tags.sort();
    assert_eq!(tags, ["0.1.0", "latest"]);
    let missing_repo = client.list_tags("me/nothing").await.unwrap_err();
    assert_eq!(missing_repo.kind(), ErrorKind::NotFound);

    // A signature-like artifact whose subject is the manifest.
    let empty = Bytes::from_static(b"{}");
    let empty_digest = Digest::sha256(&empty);
    client
        .push_blob_bytes("me/hello", &empty_digest, empty.clone())
        .await
        .unwrap();
    let artifact = Bytes::from(
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2}],
            "subject": {"mediaType": media_types::OCI_MANIFEST, "digest": digest, "size": manifest.len()},
        }))
        .unwrap(),
    );
    let artifact_digest = Digest::sha256(&artifact);
    client
        .put_manifest(
            "me/hello",
            artifact_digest.as_str(),
            media_types::OCI_MANIFEST,
            artifact.clone(),
        )
        .await
        .unwrap();
    let referrers = client.referrers("me/hello", &digest, None).await.unwrap();
    assert_eq!(referrers.len(), 1);
    assert_eq!(referrers[0].digest, artifact_digest);
    assert_eq!(
        referrers[0].artifact_type.as_deref(),
        Some("application/vnd.example.signature")
    );
    let filtered = client
        .referrers(
            "me/hello",
            &digest,
            Some("application/vnd.example.signature"),
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    let none = client
        .referrers("me/hello", &digest, Some("application/vnd.example.sbom"))
        .await
        .unwrap();
    assert!(none.is_empty());

    // A digest reference must match the bytes before anything is sent.
    let error = client
        .put_manifest(
            "me/hello",
            digest.as_str(),
            media_types::OCI_MANIFEST,
            artifact,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::DigestMismatch { .. }));

    assert_eq!(client.catalog().await.unwrap(), ["me/hello"]);

    client
        .delete_manifest("me/hello", artifact_digest.as_str())
        .await
        .unwrap();
    assert_eq!(
        client
            .head_manifest("me/hello", artifact_digest.as_str())
            .await
            .unwrap(),
        None
    );
    let again = client
        .delete_manifest("me/hello", artifact_digest.as_str())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NotFound);

    let invalid = client.get_manifest("Me/Hello", "latest").await.unwrap_err();
    assert_eq!(invalid.kind(), ErrorKind::Usage);
}

#[tokio::test]
async fn corrupted_blob_fails_verification_and_leaves_no_file() {
    let registry = Registry::start().await;
    let client = registry.client();
    let work = tempfile::tempdir().unwrap();
    let content = pattern(2 * CHUNK as usize, 9);
    let (path, digest) = write_blob(work.path(), "layer", &content);
    client
        .push_blob_file(
            "team/a",
            &digest,
            content.len() as u64,
            &path,
            None,
            &NoProgress,
        )
        .await
        .unwrap();

    // Flip one byte behind the registry's back, keeping the length.
    let stored = registry.blob_file(&digest);
    let mut corrupted = std::fs::read(&stored).unwrap();
    corrupted[1000] ^= 0xff;
    std::fs::write(&stored, &corrupted).unwrap();

    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let dest = out.join("layer");
    let error = client
        .pull_blob_to_file(
            "team/a",
            &digest,
            Some(content.len() as u64),
            &dest,
            &NoProgress,
        )
        .await
        .unwrap_err();
    match &error {
        ClientError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, &digest);
            assert_eq!(actual, &Digest::sha256(&corrupted));
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert_eq!(error.kind(), ErrorKind::Integrity);
    assert!(
        temp_entries(&out).is_empty(),
        "left behind: {:?}",
        temp_entries(&out)
    );

    let error = client
        .pull_blob_bytes("team/a", &digest, 10 * CHUNK)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::DigestMismatch { .. }));
}
