//! Naming manifests in `index.json`, finding them, and the layout's files.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{name, put_tiny_image, store};
use sentinel_local_store::{CONTAINERD_NAME_ANNOTATION, LocalStore, LocalStoreError};
use sentinel_oci::annotations::REF_NAME;
use sentinel_oci::{Digest, media_types};
use serde_json::{Value, json};

const NAME: &str = "localhost:5000/me/hello:0.1.0";

fn index_json(store: &LocalStore) -> Value {
    serde_json::from_slice(&fs::read(store.root().join("index.json")).unwrap()).unwrap()
}

#[test]
fn a_new_store_is_a_valid_empty_layout() {
    let (_dir, store) = store();
    let marker: Value =
        serde_json::from_slice(&fs::read(store.root().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(marker, json!({"imageLayoutVersion": "1.0.0"}));
    assert!(store.root().join("blobs").join("sha256").is_dir());
    let index = index_json(&store);
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], media_types::OCI_INDEX);
    assert_eq!(index["manifests"], json!([]));
    assert!(store.entries().unwrap().is_empty());
}

#[test]
fn a_named_manifest_is_an_index_entry_per_the_image_spec() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"hi");
    let extra = BTreeMap::from([(
        "org.opencontainers.image.created".to_owned(),
        "2025-01-01T00:00:00Z".to_owned(),
    )]);
    store.set_name(NAME, &image.manifest, extra).unwrap();

    let bytes = fs::read(store.root().join("index.json")).unwrap();
    // An independent parser of the image-spec's index.
    let parsed: oci_spec::image::ImageIndex = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed.schema_version(), 2);
    assert_eq!(
        parsed
            .media_type()
            .as_ref()
            .map(|m| m.to_string())
            .as_deref(),
        Some(media_types::OCI_INDEX)
    );
    let index: Value = serde_json::from_slice(&bytes).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(entry["digest"], image.manifest.to_string());
    assert_eq!(entry["size"], image.manifest_bytes.len());
    assert_eq!(entry["annotations"][REF_NAME], NAME);
    assert_eq!(entry["annotations"][CONTAINERD_NAME_ANNOTATION], NAME);
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.created"],
        "2025-01-01T00:00:00Z"
    );

    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name.as_deref(), Some(NAME));
    assert_eq!(entries[0].digest, image.manifest);
    assert_eq!(entries[0].size, image.manifest_bytes.len() as u64);
    assert_eq!(
        entries[0].artifact_type.as_deref(),
        Some("application/vnd.oci.image.config.v1+json")
    );
}

#[test]
fn setting_an_existing_name_moves_it() {
    let (_dir, store) = store();
    let first = put_tiny_image(&store, b"one");
    let second = put_tiny_image(&store, b"two");
    name(&store, NAME, &first.manifest);
    name(&store, "docker.io/team/x:1.0", &first.manifest);
    name(&store, NAME, &second.manifest);
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].name.as_deref(), Some(NAME));
    assert_eq!(entries[0].digest, second.manifest);
    assert_eq!(entries[1].digest, first.manifest);
}

#[test]
fn unnamed_entries_keep_manifests_pulled_by_digest() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"by digest");
    store.add_unnamed(&image.manifest).unwrap();
    store.add_unnamed(&image.manifest).unwrap();
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, None);
    assert!(!entries[0].annotations.contains_key(REF_NAME));

    // A name now keeps it, so the untagged entry goes.
    name(&store, NAME, &image.manifest);
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name.as_deref(), Some(NAME));
    store.add_unnamed(&image.manifest).unwrap();
    assert_eq!(store.entries().unwrap().len(), 1);
}

#[test]
fn find_by_name_digest_and_prefix() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"find me");
    name(&store, NAME, &image.manifest);
    let hex = image.manifest.hex();

    let by_name = store.find(NAME).unwrap().unwrap();
    assert_eq!(by_name.digest, image.manifest);
    let by_digest = store.find(image.manifest.as_str()).unwrap().unwrap();
    assert_eq!(by_digest.name.as_deref(), Some(NAME));
    assert_eq!(
        store.find(&hex[..12]).unwrap().unwrap().digest,
        image.manifest
    );
    assert_eq!(
        store
            .find(&format!("sha256:{}", &hex[..20]))
            .unwrap()
            .unwrap()
            .digest,
        image.manifest
    );
    assert_eq!(store.find(&hex[..11]).unwrap(), None);
    assert_eq!(store.find("localhost:5000/me/hello:9.9.9").unwrap(), None);
    assert_eq!(
        store.find(Digest::sha256(b"absent").as_str()).unwrap(),
        None
    );
}

#[test]
fn an_ambiguous_prefix_is_an_error() {
    let (_dir, store) = store();
    // No two real digests share 12 hex digits, so index.json is edited to
    // give two entries digests that do (find reads only index.json).
    let a = put_tiny_image(&store, b"a");
    let b = put_tiny_image(&store, b"b");
    name(&store, "x/a:1", &a.manifest);
    name(&store, "x/b:1", &b.manifest);
    let mut index = index_json(&store);
    let shared = format!("sha256:{}{}", "0123456789ab", &a.manifest.hex()[12..]);
    let other = format!("sha256:{}{}", "0123456789ab", &b.manifest.hex()[12..]);
    index["manifests"][0]["digest"] = json!(shared);
    index["manifests"][1]["digest"] = json!(other);
    fs::write(
        store.root().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let err = store.find("0123456789ab").unwrap_err();
    assert!(
        matches!(err, LocalStoreError::AmbiguousPrefix { count: 2, .. }),
        "{err}"
    );
    assert_eq!(
        store.find(&shared[7..30]).unwrap().unwrap().name.as_deref(),
        Some("x/a:1")
    );
}

#[test]
fn a_manifest_with_a_missing_blob_is_refused() {
    let (_dir, store) = store();
    let config = store.write_blob(b"{}").unwrap();
    let missing = Digest::sha256(b"layer never stored");
    let manifest = common::manifest_json(
        (&config, 2),
        &[(&missing, 18, "application/vnd.oci.image.layer.v1.tar+gzip")],
    );
    let err = store
        .put_manifest(&manifest, media_types::OCI_MANIFEST)
        .unwrap_err();
    assert!(
        matches!(&err, LocalStoreError::MissingReference { missing: m, .. } if *m == missing),
        "{err}"
    );
    let digest = Digest::sha256(&manifest);
    assert_eq!(store.blob_size(&digest).unwrap(), None);

    // Written as a plain blob, it still cannot be named.
    store.write_blob(&manifest).unwrap();
    let err = store.set_name(NAME, &digest, BTreeMap::new()).unwrap_err();
    assert!(
        matches!(err, LocalStoreError::MissingReference { .. }),
        "{err}"
    );
    let err = store.add_unnamed(&digest).unwrap_err();
    assert!(
        matches!(err, LocalStoreError::MissingReference { .. }),
        "{err}"
    );
    assert!(store.entries().unwrap().is_empty());
}

#[test]
fn an_index_needs_its_child_manifests() {
    let (_dir, store) = store();
    let child = put_tiny_image(&store, b"child");
    let absent = Digest::sha256(b"absent child");
    let index_of = |children: &[(&Digest, usize)]| {
        let manifests: Vec<_> = children
            .iter()
            .map(|(d, size)| json!({"mediaType": media_types::OCI_MANIFEST, "digest": d.to_string(), "size": size,
                                    "platform": {"architecture": "amd64", "os": "linux"}}))
            .collect();
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media_types::OCI_INDEX, "manifests": manifests}))
            .unwrap()
    };
    let size = child.manifest_bytes.len();
    let err = store
        .put_manifest(
            &index_of(&[(&child.manifest, size), (&absent, 10)]),
            media_types::OCI_INDEX,
        )
        .unwrap_err();
    assert!(
        matches!(err, LocalStoreError::MissingReference { .. }),
        "{err}"
    );
    let index = store
        .put_manifest(
            &index_of(&[(&child.manifest, size)]),
            media_types::OCI_INDEX,
        )
        .unwrap();
    name(&store, NAME, &index);
    assert_eq!(
        store.find(NAME).unwrap().unwrap().media_type,
        media_types::OCI_INDEX
    );
}

#[test]
fn names_outside_the_ref_name_grammar_are_refused() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"x");
    for bad in ["", "me/my__agent:1", "a//b", "has space:1", "trailing-:1"] {
        let err = store
            .set_name(bad, &image.manifest, BTreeMap::new())
            .unwrap_err();
        assert!(
            matches!(err, LocalStoreError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    assert!(store.entries().unwrap().is_empty());
}

#[test]
fn naming_an_absent_manifest_or_a_non_manifest_is_refused() {
    let (_dir, store) = store();
    let err = store
        .set_name(NAME, &Digest::sha256(b"nothing"), BTreeMap::new())
        .unwrap_err();
    assert!(matches!(err, LocalStoreError::BlobNotFound { .. }), "{err}");
    let not_json = store.write_blob(b"not a manifest").unwrap();
    let err = store
        .set_name(NAME, &not_json, BTreeMap::new())
        .unwrap_err();
    assert!(
        matches!(err, LocalStoreError::InvalidManifest { .. }),
        "{err}"
    );
    let err = store
        .put_manifest(b"{\"schemaVersion\": 1}", media_types::OCI_MANIFEST)
        .unwrap_err();
    assert!(
        matches!(err, LocalStoreError::InvalidManifest { .. }),
        "{err}"
    );
}

#[test]
fn fields_other_tools_wrote_survive_a_rewrite() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"kept");
    store.add_unnamed(&image.manifest).unwrap();
    let mut index = index_json(&store);
    index["annotations"] = json!({"com.example.note": "top"});
    index["manifests"][0]["platform"] = json!({"architecture": "arm64", "os": "linux"});
    fs::write(
        store.root().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    name(&store, NAME, &put_tiny_image(&store, b"other").manifest);
    let index = index_json(&store);
    assert_eq!(index["annotations"]["com.example.note"], "top");
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "arm64");
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
}

#[test]
fn reopening_keeps_everything() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"persist");
    name(&store, NAME, &image.manifest);
    let root = store.root().to_path_buf();
    drop(store);
    let store = LocalStore::open(&root).unwrap();
    assert_eq!(store.find(NAME).unwrap().unwrap().digest, image.manifest);
    assert_eq!(
        store.read_blob(&image.layer, 1 << 20).unwrap().len() as u64,
        store.blob_size(&image.layer).unwrap().unwrap()
    );
}

#[test]
fn an_unknown_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    fs::write(
        dir.path().join("index.json"),
        br#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    let err = LocalStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, LocalStoreError::UnsupportedLayoutVersion { version, .. } if version == "2.0.0"),
        "{err}"
    );
    assert!(err.to_string().contains("oci-layout"));
    // Nothing was added to the layout it refused.
    assert!(!dir.path().join(".lock").exists());
    assert!(!dir.path().join("ingest").exists());
    assert!(!dir.path().join("blobs").exists());
}

#[test]
fn a_directory_of_other_files_is_not_turned_into_a_store() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    let err = LocalStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, LocalStoreError::NotALayout { .. }), "{err}");
    assert!(!dir.path().join("oci-layout").exists());
    assert!(!dir.path().join("index.json").exists());
}

#[test]
fn a_layout_that_lost_its_index_is_reported() {
    let (_dir, store) = store();
    let root = store.root().to_path_buf();
    drop(store);
    fs::remove_file(root.join("index.json")).unwrap();
    let err = LocalStore::open(&root).unwrap_err();
    assert!(matches!(err, LocalStoreError::MissingIndex { .. }), "{err}");
}

#[test]
fn a_layout_written_by_another_tool_opens() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion": "1.0.0"}"#,
    )
    .unwrap();
    fs::write(
        dir.path().join("index.json"),
        br#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    assert!(store.entries().unwrap().is_empty());
    let image = put_tiny_image(&store, b"into a foreign layout");
    name(&store, NAME, &image.manifest);
    assert_eq!(index_json(&store)["mediaType"], media_types::OCI_INDEX);
}
