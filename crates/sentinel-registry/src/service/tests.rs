//! Tests of the service: session expiry, orphan sweeps, and the cleanup
//! of failed pushes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::Stream;
use sentinel_index::{MetadataIndex as _, RedbIndex};
use sentinel_oci::{Digest, RepositoryName};
use sentinel_storage::BlobStore;

use super::{Registry, RegistryError};

/// A registry on local storage under `dir`.
pub(crate) fn registry(dir: &std::path::Path) -> Registry {
    registry_and_index(dir).0
}

/// A registry on local storage under `dir`, and its index.
fn registry_and_index(dir: &std::path::Path) -> (Registry, RedbIndex) {
    let index = RedbIndex::open(&dir.join("index.redb")).unwrap();
    let blobs = BlobStore::open(&sentinel_storage::StorageLocation::Local(
        dir.join("storage"),
    ))
    .unwrap();
    let (guard, _released) = super::ReleaseGuard::new();
    let (catalogue, _) =
        sentinel_catalogue::EmbeddedCatalogue::open(&dir.join("catalogue.redb")).unwrap();
    let policy = super::PackagePolicy {
        immutable_versions: true,
        own_host: None,
    };
    let registry = Registry::new(
        Arc::new(index.clone()),
        blobs,
        Arc::new(catalogue),
        super::Rules {
            packages: policy,
            trust: super::Trust::new(Vec::new(), dir).unwrap(),
            lifecycle: super::LifecycleRules::new(sentinel_lifecycle::Rules::default(), dir)
                .unwrap(),
            events: super::Events::new(
                "http://127.0.0.1".to_owned(),
                dir,
                std::time::Duration::from_secs(1),
            )
            .unwrap(),
        },
        guard,
    );
    (registry, index)
}

#[tokio::test]
async fn idle_upload_sessions_expire_and_active_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let repository: RepositoryName = "a/b".parse().unwrap();
    let idle = registry.start_upload(&repository).await.unwrap();
    let chunk = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
    let mut idle = registry
        .append(&repository, &idle.id, Some(0), Some(1), chunk)
        .await
        .unwrap();
    idle.updated_at = 0;
    registry.index.put_upload(&idle).await.unwrap();
    let active = registry.start_upload(&repository).await.unwrap();

    let expired = registry
        .expire_uploads(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(expired, 1);
    assert!(matches!(
        registry.upload(&repository, &idle.id).await,
        Err(RegistryError::UploadUnknown(_))
    ));
    assert!(registry.upload(&repository, &active.id).await.is_ok());
    assert!(!dir.path().join("storage/uploads").join(&idle.id).exists());
}

fn chunk(bytes: &'static [u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    futures_util::stream::iter([Ok(Bytes::from_static(bytes))])
}

/// Sets the modification time of `path` to `age` ago.
fn age(path: &std::path::Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

fn upload_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir.join("storage/uploads")) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort_unstable();
    names
}

#[tokio::test]
async fn orphaned_upload_bytes_are_swept_once_past_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let repository: RepositoryName = "a/b".parse().unwrap();
    let live = registry.start_upload(&repository).await.unwrap();
    registry
        .append(&repository, &live.id, Some(0), Some(1), chunk(b"x"))
        .await
        .unwrap();
    let uploads = dir.path().join("storage/uploads");
    std::fs::write(uploads.join("orphan-old"), b"left by a crash").unwrap();
    std::fs::write(uploads.join("orphan-new"), b"a push in progress").unwrap();
    let hour = Duration::from_secs(60 * 60);
    age(&uploads.join("orphan-old"), 2 * hour);
    // A session's bytes stay however old they are: the session owns them.
    age(&uploads.join(&live.id), 2 * hour);

    assert_eq!(registry.sweep_orphaned_uploads(hour).await.unwrap(), 1);
    let mut expected = vec!["orphan-new".to_owned(), live.id.clone()];
    expected.sort_unstable();
    assert_eq!(upload_files(dir.path()), expected);

    assert_eq!(
        registry
            .sweep_orphaned_uploads(Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    assert_eq!(upload_files(dir.path()), vec![live.id.clone()]);
    // The session goes on as if nothing happened.
    registry
        .finish_upload(
            &repository,
            &live.id,
            &Digest::sha256(b"xy"),
            Some(1),
            Some(1),
            chunk(b"y"),
        )
        .await
        .unwrap();
    assert!(
        registry
            .blob(&repository, &Digest::sha256(b"xy"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_undecodable_session_expires_with_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, index) = registry_and_index(dir.path());
    let repository: RepositoryName = "a/b".parse().unwrap();
    let session = registry.start_upload(&repository).await.unwrap();
    registry
        .append(&repository, &session.id, Some(0), Some(1), chunk(b"x"))
        .await
        .unwrap();
    index
        .put_upload_record_bytes(&session.id, b"not an upload state")
        .await
        .unwrap();
    assert_eq!(
        registry
            .expire_uploads(Duration::from_secs(3600))
            .await
            .unwrap(),
        1
    );
    assert_eq!(registry.index.uploads().await.unwrap(), vec![]);
    assert_eq!(upload_files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_monolithic_push_that_fails_after_writing_leaves_no_upload_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let repository: RepositoryName = "a/b".parse().unwrap();
    // A file where the blob directory belongs: publishing fails after
    // the bytes were written and found to match their digest.
    std::fs::write(dir.path().join("storage/blobs"), b"in the way").unwrap();
    let result = registry
        .put_blob(
            &repository,
            &Digest::sha256(b"bytes"),
            None,
            chunk(b"bytes"),
        )
        .await;
    assert!(
        matches!(result, Err(RegistryError::Storage(_))),
        "{result:?}"
    );
    assert_eq!(upload_files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn pushing_a_blob_already_stored_links_that_copy() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let digest = Digest::sha256(b"shared");
    let first: RepositoryName = "a/b".parse().unwrap();
    registry
        .put_blob(&first, &digest, None, chunk(b"shared"))
        .await
        .unwrap();
    // As after a crash between publishing and linking: stored, not linked.
    registry.index.unlink_blob(&first, &digest).await.unwrap();
    let second: RepositoryName = "c/d".parse().unwrap();
    registry
        .put_blob(&second, &digest, None, chunk(b"shared"))
        .await
        .unwrap();
    let held = registry.blob(&second, &digest).await.unwrap();
    let bytes: Vec<Bytes> =
        futures_util::TryStreamExt::try_collect(registry.read_blob(&held, None).await.unwrap())
            .await
            .unwrap();
    assert_eq!(bytes.concat(), b"shared");
    assert_eq!(upload_files(dir.path()), Vec::<String>::new());
}

/// Stores `data` as a blob of `repository`.
async fn put(registry: &Registry, repository: &RepositoryName, data: &'static [u8]) -> Digest {
    let digest = Digest::sha256(data);
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(data))]);
    registry
        .put_blob(repository, &digest, None, body)
        .await
        .unwrap();
    digest
}

/// Pushes an image manifest of `config` and `layer` (stored already).
async fn push_image(
    registry: &Registry,
    repository: &RepositoryName,
    config: (&Digest, usize),
    layer: (&Digest, usize),
    tag: Option<&str>,
) -> Digest {
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.0, "size": layer.1}],
    }))
    .unwrap();
    let reference = match tag {
        Some(tag) => sentinel_oci::Reference::Tag(tag.parse().unwrap()),
        None => sentinel_oci::Reference::Digest(Digest::sha256(&body)),
    };
    registry
        .put_manifest(
            repository,
            &reference,
            Some("application/vnd.oci.image.manifest.v1+json"),
            Bytes::from(body),
            None,
        )
        .await
        .unwrap()
        .digest
}

#[tokio::test]
async fn garbage_collection_frees_the_bytes_of_what_nothing_references() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let repository: RepositoryName = "gc/app".parse().unwrap();
    let config = put(&registry, &repository, b"{}").await;
    let kept_layer = put(&registry, &repository, b"kept layer").await;
    let loose_layer = put(&registry, &repository, b"loose layer bytes").await;
    push_image(
        &registry,
        &repository,
        (&config, 2),
        (&kept_layer, 10),
        Some("v1"),
    )
    .await;
    let loose = push_image(
        &registry,
        &repository,
        (&config, 2),
        (&loose_layer, 17),
        None,
    )
    .await;

    // Within the grace period nothing goes.
    let young = registry
        .collect_garbage(super::GcOptions::new(false, Duration::from_secs(3600)), &[])
        .await
        .unwrap();
    assert_eq!((young.manifests_deleted, young.blobs_deleted), (0, 0));

    let dry = registry
        .collect_garbage(super::GcOptions::new(true, Duration::ZERO), &[])
        .await
        .unwrap();
    assert_eq!(
        (
            dry.manifests_deleted,
            dry.blob_links_removed,
            dry.blobs_deleted,
            dry.bytes_freed
        ),
        (1, 1, 1, 17)
    );
    assert!(registry.blobs.exists(&loose_layer).await.unwrap());

    let report = registry
        .collect_garbage(super::GcOptions::new(false, Duration::ZERO), &[])
        .await
        .unwrap();
    assert_eq!(
        (
            report.manifests_deleted,
            report.blob_links_removed,
            report.blobs_deleted,
            report.bytes_freed
        ),
        (1, 1, 1, 17)
    );
    assert_eq!(registry.last_gc_report(), Some(report));
    assert!(!registry.blobs.exists(&loose_layer).await.unwrap());
    assert!(registry.blobs.exists(&kept_layer).await.unwrap());
    assert!(registry.blobs.exists(&config).await.unwrap());
    assert!(matches!(
        registry
            .manifest(&repository, &sentinel_oci::Reference::Digest(loose))
            .await,
        Err(RegistryError::ManifestUnknown(_))
    ));
    // The deleted blob can be pushed again, bytes and all.
    put(&registry, &repository, b"loose layer bytes").await;
    assert!(registry.blobs.exists(&loose_layer).await.unwrap());
}

#[tokio::test]
async fn a_commit_waits_for_the_deletion_of_its_digest_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, index) = registry_and_index(dir.path());
    let repository: RepositoryName = "gc/app".parse().unwrap();
    let digest = put(&registry, &repository, b"contended").await;
    assert!(index.unlink_blob(&repository, &digest).await.unwrap());
    assert_eq!(
        index
            .begin_blob_deletions(std::slice::from_ref(&digest))
            .await
            .unwrap(),
        vec![(digest.clone(), 9)]
    );
    // A mount of the blob finds nothing to mount.
    assert!(matches!(
        registry.mount(&repository, &digest, None).await.unwrap(),
        super::MountOutcome::Session(_)
    ));
    let pushing = {
        let registry = registry.clone();
        let repository = repository.clone();
        tokio::spawn(async move { put(&registry, &repository, b"contended").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !pushing.is_finished(),
        "the commit waits while the bytes are deleted"
    );
    registry.blobs.delete(&digest).await.unwrap();
    index
        .finish_blob_deletions(std::slice::from_ref(&digest))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), pushing)
        .await
        .unwrap()
        .unwrap();
    assert!(registry.blobs.exists(&digest).await.unwrap());
    assert_eq!(registry.blob(&repository, &digest).await.unwrap().size, 9);
}
