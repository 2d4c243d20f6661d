//! Helpers shared by the integration tests: stores in temp dirs and tiny
//! images built by hand.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use sentinel_local_store::LocalStore;
use sentinel_oci::{Digest, media_types};
use serde_json::json;

/// A fresh temp dir and a store opened at `<tmp>/store`.
pub fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

/// A tiny OCI image, stored blob by blob.
pub struct TinyImage {
    pub config: Digest,
    pub layer: Digest,
    pub manifest: Digest,
    pub manifest_bytes: Vec<u8>,
    /// The layer's one file, `hello.txt`.
    pub file_content: Vec<u8>,
}

/// A gzip'd tar holding `hello.txt` with `content`, and the digest of the tar itself.
pub fn layer_tar_gz(content: &[u8]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", content).unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = Digest::sha256(&tar);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// The manifest of an image with `config` and `layers` (each `(digest, size, media type)`).
pub fn manifest_json(config: (&Digest, u64), layers: &[(&Digest, u64, &str)]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(d, size, media_type)| json!({"mediaType": media_type, "digest": d.to_string(), "size": size}))
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config.0.to_string(), "size": config.1},
        "layers": layers,
    }))
    .unwrap()
}

/// Stores a runnable linux/amd64 image whose layer holds `hello.txt` with `content`.
pub fn put_tiny_image(store: &LocalStore, content: &[u8]) -> TinyImage {
    let (layer_bytes, diff_id) = layer_tar_gz(content);
    let config_bytes = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))
    .unwrap();
    let config = store.write_blob(&config_bytes).unwrap();
    let layer = store.write_blob(&layer_bytes).unwrap();
    let manifest_bytes = manifest_json(
        (&config, config_bytes.len() as u64),
        &[(
            &layer,
            layer_bytes.len() as u64,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )],
    );
    let manifest = store
        .put_manifest(&manifest_bytes, media_types::OCI_MANIFEST)
        .unwrap();
    TinyImage {
        config,
        layer,
        manifest,
        manifest_bytes,
        file_content: content.to_vec(),
    }
}

/// Names `digest` `name` with no extra annotations.
pub fn name(store: &LocalStore, name: &str, digest: &Digest) {
    store.set_name(name, digest, BTreeMap::new()).unwrap();
}

/// The files directly in `dir`, by name.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The blob files under `blobs/sha256`.
pub fn blob_files(store: &LocalStore) -> Vec<String> {
    files_in(&store.root().join("blobs").join("sha256"))
}

/// The files in `ingest/` other than open stores' leases.
pub fn ingest_leftovers(store: &LocalStore) -> Vec<String> {
    files_in(&store.root().join("ingest"))
        .into_iter()
        .filter(|n| !n.starts_with("lease-"))
        .collect()
}
