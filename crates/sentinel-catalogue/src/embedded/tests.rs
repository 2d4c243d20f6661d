//! The embedded catalogue: the shared suite, and what survives a reopen.

use semver::Version;
use sentinel_oci::{Digest, RepositoryName};

use super::EmbeddedCatalogue;
use crate::{BlobRef, Catalogue, PackageVersion, SearchQuery};

fn open(dir: &tempfile::TempDir) -> (EmbeddedCatalogue, super::Opened) {
    EmbeddedCatalogue::open(&dir.path().join("catalogue.redb")).unwrap()
}

#[tokio::test]
async fn embedded_catalogue_passes_the_shared_suite() {
    crate::suite::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (catalogue, _) = open(&dir);
        (catalogue, dir)
    })
    .await;
}

fn entry(version: &str) -> PackageVersion {
    let repository: RepositoryName = "team/planner".parse().unwrap();
    let seed = |what: &str| Digest::sha256(format!("{what} {version}").as_bytes());
    PackageVersion {
        repository,
        digest: seed("manifest"),
        kind: sentinel_package::PackageKind::Agent,
        name: "planner".to_owned(),
        version: Version::parse(version).unwrap(),
        tag: None,
        description: Some("plans".to_owned()),
        author: None,
        license: None,
        source: None,
        capabilities: vec!["planning".to_owned()],
        tags: Vec::new(),
        model: None,
        dependencies: Vec::new(),
        members: Vec::new(),
        ports: Vec::new(),
        config: BlobRef {
            digest: seed("config"),
            size: 1,
        },
        package: BlobRef {
            digest: seed("package"),
            size: 2,
        },
        file_name: format!("planner-{version}.agent.sntl"),
        created: None,
        pushed_at: 5,
        pushed_by: None,
        readme: Some("# Planner".to_owned()),
        definition: serde_json::json!({"name": "planner"}),
    }
}

#[tokio::test]
async fn everything_survives_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let repository: RepositoryName = "team/planner".parse().unwrap();
    {
        let (catalogue, opened) = open(&dir);
        assert!(!opened.clean, "a new file is not clean");
        assert!(opened.created);
        catalogue.record(entry("1.0.0")).await.unwrap();
        catalogue.record(entry("2.0.0")).await.unwrap();
        catalogue
            .set_deprecation(&repository, &Version::new(2, 0, 0), Some("old".to_owned()))
            .await
            .unwrap();
        catalogue.count_download(&repository, &entry("1.0.0").package.digest, 7);
        catalogue.close().await.unwrap();
    }
    let (catalogue, opened) = open(&dir);
    assert!(opened.clean);
    assert!(!opened.created);
    assert_eq!(opened.entries, 2);
    let listed = catalogue.versions(&repository).await.unwrap().unwrap();
    assert_eq!(listed.versions[0].deprecated.as_deref(), Some("old"));
    assert_eq!(listed.versions[1].downloads, 1);
    let full = catalogue
        .version(&repository, &Version::new(1, 0, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full, entry("1.0.0"));
    let query = SearchQuery {
        text: "planning".to_owned(),
        limit: 10,
        ..SearchQuery::default()
    };
    let page = catalogue.search(&query, &|_| true).await.unwrap();
    assert_eq!(page.packages[0].latest, Some(Version::new(1, 0, 0)));
    drop(catalogue);
    let (_, reopened) = open(&dir);
    assert!(!reopened.clean, "opened and not closed: not clean");
}

#[tokio::test]
async fn a_flush_makes_earlier_entries_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (catalogue, _) = open(&dir);
        catalogue.record(entry("1.0.0")).await.unwrap();
        catalogue.flush().await.unwrap();
        // Dropped without close: as after a crash once the flush returned.
    }
    let (catalogue, opened) = open(&dir);
    assert!(!opened.clean);
    assert_eq!(catalogue.entries().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_idle_flush_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalogue.redb");
    let (catalogue, _) = open(&dir);
    catalogue.record(entry("1.0.0")).await.unwrap();
    catalogue.flush().await.unwrap();
    let modified = || std::fs::metadata(&path).unwrap().modified().unwrap();
    let before = modified();
    std::thread::sleep(std::time::Duration::from_millis(20));
    catalogue.flush().await.unwrap();
    assert_eq!(modified(), before, "nothing counted or written: no write");
    // A counted download is written.
    let repository: RepositoryName = "team/planner".parse().unwrap();
    catalogue.count_download(&repository, &entry("1.0.0").package.digest, 3);
    catalogue.flush().await.unwrap();
    assert_ne!(modified(), before);
}
