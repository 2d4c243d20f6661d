//! Garbage collection: orphans go, anything an entry reaches stays.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use common::{blob_files, name, put_tiny_image, store};
use sentinel_local_store::{GcReport, LocalStore};
use sentinel_oci::media_types;
use serde_json::json;

#[test]
fn removing_a_name_deletes_its_blobs_but_keeps_shared_ones() {
    let (_dir, store) = store();
    // Two images share one layer; each has its own config.
    let layer = store.write_blob(b"shared layer").unwrap();
    let image = |config_bytes: &[u8]| {
        let config = store.write_blob(config_bytes).unwrap();
        let manifest = common::manifest_json(
            (&config, config_bytes.len() as u64),
            &[(&layer, 12, "application/vnd.oci.image.layer.v1.tar")],
        );
        let digest = store
            .put_manifest(&manifest, media_types::OCI_MANIFEST)
            .unwrap();
        (config, digest)
    };
    let (config_a, manifest_a) = image(br#"{"a":1}"#);
    let (config_b, manifest_b) = image(br#"{"b":2}"#);
    name(&store, "example.com/a:1", &manifest_a);
    name(&store, "example.com/b:1", &manifest_b);

    assert!(store.remove_name("example.com/a:1").unwrap());
    assert!(!store.remove_name("example.com/a:1").unwrap());
    assert!(
        store.blob_size(&config_a).unwrap().is_some(),
        "kept until a collection"
    );
    store.garbage_collect().unwrap();
    for gone in [&config_a, &manifest_a] {
        assert_eq!(store.blob_size(gone).unwrap(), None, "{gone}");
    }
    for kept in [&layer, &config_b, &manifest_b] {
        assert!(store.blob_size(kept).unwrap().is_some(), "{kept}");
    }

    assert!(store.remove_name("example.com/b:1").unwrap());
    store.garbage_collect().unwrap();
    assert!(blob_files(&store).is_empty());
}

#[test]
fn a_collection_removes_orphans_and_reports_them() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"kept");
    name(&store, "example.com/kept:1", &image.manifest);
    let orphan = store.write_blob(&[9u8; 4096]).unwrap();
    let unrelated = store.root().join("blobs").join("sha256").join("README");
    fs::write(&unrelated, b"not a blob").unwrap();

    let report = store.garbage_collect().unwrap();
    assert_eq!(
        report,
        GcReport {
            blobs_removed: 1,
            bytes_freed: 4096,
            blobs_in_use: 0
        }
    );
    assert_eq!(store.blob_size(&orphan).unwrap(), None);
    for kept in [&image.config, &image.layer, &image.manifest] {
        assert!(store.blob_size(kept).unwrap().is_some());
    }
    assert!(unrelated.exists());
    assert_eq!(store.garbage_collect().unwrap(), GcReport::default());
}

#[test]
fn untagged_entries_and_index_children_are_reachable() {
    let (_dir, store) = store();
    let child = put_tiny_image(&store, b"child of an index");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": [{"mediaType": media_types::OCI_MANIFEST,
                       "digest": child.manifest.to_string(),
                       "size": child.manifest_bytes.len()}],
    }))
    .unwrap();
    let index = store.put_manifest(&index, media_types::OCI_INDEX).unwrap();
    name(&store, "example.com/multi:1", &index);
    let by_digest = put_tiny_image(&store, b"pulled by digest");
    store.add_unnamed(&by_digest.manifest).unwrap();

    assert_eq!(store.garbage_collect().unwrap().blobs_removed, 0);
    for kept in [
        &index,
        &child.manifest,
        &child.config,
        &child.layer,
        &by_digest.manifest,
        &by_digest.layer,
    ] {
        assert!(store.blob_size(kept).unwrap().is_some(), "{kept}");
    }

    assert_eq!(store.remove_digest(&by_digest.manifest).unwrap(), 1);
    store.garbage_collect().unwrap();
    assert_eq!(store.blob_size(&by_digest.layer).unwrap(), None);
    assert!(store.blob_size(&child.layer).unwrap().is_some());
    assert!(store.remove_name("example.com/multi:1").unwrap());
    store.garbage_collect().unwrap();
    assert!(blob_files(&store).is_empty());
}

#[test]
fn remove_digest_removes_every_entry_for_it() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"many names");
    name(&store, "example.com/x:1", &image.manifest);
    name(&store, "example.com/x:latest", &image.manifest);
    let other = put_tiny_image(&store, b"other");
    name(&store, "example.com/y:1", &other.manifest);
    assert_eq!(store.remove_digest(&image.manifest).unwrap(), 2);
    assert_eq!(store.remove_digest(&image.manifest).unwrap(), 0);
    let names: Vec<_> = store
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec![Some("example.com/y:1".to_owned())]);
    store.garbage_collect().unwrap();
    assert_eq!(store.blob_size(&image.layer).unwrap(), None);
}

#[test]
fn a_subject_does_not_keep_its_target() {
    let (_dir, store) = store();
    let target = put_tiny_image(&store, b"signed image");
    let signature_config = store.write_blob(b"{}").unwrap();
    let mut signature: serde_json::Value =
        serde_json::from_slice(&common::manifest_json((&signature_config, 2), &[])).unwrap();
    signature["subject"] = json!({"mediaType": media_types::OCI_MANIFEST,
                                  "digest": target.manifest.to_string(),
                                  "size": target.manifest_bytes.len()});
    let signature = store
        .put_manifest(
            &serde_json::to_vec(&signature).unwrap(),
            media_types::OCI_MANIFEST,
        )
        .unwrap();
    store
        .set_name("example.com/sig:1", &signature, BTreeMap::new())
        .unwrap();
    store.garbage_collect().unwrap();
    assert!(store.blob_size(&signature_config).unwrap().is_some());
    assert_eq!(store.blob_size(&target.manifest).unwrap(), None);
}

#[test]
fn blobs_written_while_another_store_is_open_survive_its_collection() {
    let (_dir, writer) = store();
    let collector = LocalStore::open(writer.root()).unwrap();
    // The writer stores the parts of an image it has not named yet.
    let image = put_tiny_image(&writer, b"in flight");

    let report = collector.garbage_collect().unwrap();
    assert_eq!(report.blobs_removed, 0);
    assert_eq!(report.blobs_in_use, 3);
    name(&writer, "example.com/in-flight:1", &image.manifest);

    // Once the writer is gone, its unnamed leftovers are fair game.
    let leftover = writer.write_blob(b"abandoned").unwrap();
    drop(writer);
    let report = collector.garbage_collect().unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert_eq!(collector.blob_size(&leftover).unwrap(), None);
    assert!(collector.blob_size(&image.layer).unwrap().is_some());
}

#[test]
fn an_old_blob_another_store_relies_on_survives_its_collection() {
    let (_dir, collector) = store();
    let old = collector.write_blob(b"layer fetched long ago").unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 60 * 60);
    File::options()
        .write(true)
        .open(collector.blob_path(&old))
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    // Another store finds the blob present and so skips fetching it.
    let puller = LocalStore::open(collector.root()).unwrap();
    assert!(puller.blob_size(&old).unwrap().is_some());
    let report = collector.garbage_collect().unwrap();
    assert_eq!(report.blobs_in_use, 1);
    assert!(collector.blob_size(&old).unwrap().is_some());
    drop(puller);
    assert_eq!(collector.garbage_collect().unwrap().blobs_removed, 1);
}

#[test]
fn an_unparseable_reachable_manifest_stops_the_collection() {
    let (_dir, store) = store();
    let image = put_tiny_image(&store, b"x");
    name(&store, "example.com/x:1", &image.manifest);
    let orphan = store.write_blob(b"orphan").unwrap();
    // Corrupt the named manifest in place: its references are now unknown.
    fs::write(store.blob_path(&image.manifest), b"garbage").unwrap();
    assert!(store.garbage_collect().is_err());
    assert!(store.blob_size(&orphan).unwrap().is_some());
    assert!(store.blob_size(&image.layer).unwrap().is_some());
}

#[test]
fn a_lease_left_by_a_dead_process_is_removed() {
    let (_dir, store) = store();
    let stale = store.root().join("ingest").join("lease-deadprocess");
    fs::write(&stale, b"").unwrap();
    let orphan = store.write_blob(b"orphan").unwrap();
    // Nobody holds the stale lease's lock, so it protects nothing.
    let report = store.garbage_collect().unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert!(!stale.exists());
    assert_eq!(store.blob_size(&orphan).unwrap(), None);
}
