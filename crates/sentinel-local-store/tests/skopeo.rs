//! The store is an image layout other tools read: skopeo, driven for real.
//!
//! Skipped (with a message) when `skopeo` is not on PATH; with
//! `SENTINEL_REQUIRE_INTEROP=1`, as CI sets after installing it, a missing
//! skopeo fails the test instead.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{name, put_tiny_image, store};
use sentinel_local_store::LocalStore;
use serde_json::Value;

const NAME: &str = "localhost:5000/me/hello:0.1.0";

/// Runs skopeo with `args`; `None` if skopeo is not installed.
fn skopeo(args: &[&str]) -> Option<Output> {
    match Command::new("skopeo").args(args).output() {
        Ok(output) => Some(output),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("could not run skopeo: {e}"),
    }
}

fn succeeded(output: Output, what: &str) -> Vec<u8> {
    assert!(
        output.status.success(),
        "skopeo {what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn oci_ref(root: &Path, name: &str) -> String {
    format!("oci:{}:{name}", root.display())
}

#[test]
fn skopeo_reads_and_copies_a_stored_image_by_its_full_reference() {
    let Some(version) = skopeo(&["--version"]) else {
        let required = std::env::var("SENTINEL_REQUIRE_INTEROP").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "skopeo is not on PATH and SENTINEL_REQUIRE_INTEROP=1"
        );
        eprintln!("skipped: skopeo is not on PATH");
        return;
    };
    println!("{}", String::from_utf8_lossy(&version.stdout).trim());
    let (dir, store) = store();
    let image = put_tiny_image(&store, b"hello from the layout\n");
    name(&store, NAME, &image.manifest);
    name(&store, "docker.io/team/x:1.0", &image.manifest);
    let source = oci_ref(store.root(), NAME);

    let raw = succeeded(
        skopeo(&["inspect", "--raw", &source]).unwrap(),
        "inspect --raw",
    );
    assert_eq!(raw, image.manifest_bytes);

    let inspected: Value = serde_json::from_slice(&succeeded(
        skopeo(&["inspect", &source]).unwrap(),
        "inspect",
    ))
    .unwrap();
    assert_eq!(inspected["Digest"], image.manifest.to_string());
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Layers"][0], image.layer.to_string());

    // A copy into a second layout, which this crate then opens and reads.
    let copy_root = dir.path().join("copy");
    succeeded(
        skopeo(&[
            "copy",
            "--insecure-policy",
            &source,
            &oci_ref(&copy_root, "example.com/copied:2"),
        ])
        .unwrap(),
        "copy",
    );
    let copy = LocalStore::open(&copy_root).unwrap();
    let entry = copy.find("example.com/copied:2").unwrap().unwrap();
    assert_eq!(entry.digest, image.manifest);
    assert_eq!(
        copy.read_blob(&image.layer, 1 << 20).unwrap(),
        store.read_blob(&image.layer, 1 << 20).unwrap()
    );

    // A name that is not in the index is an error, not some other image.
    let missing = skopeo(&[
        "inspect",
        "--raw",
        &oci_ref(store.root(), "localhost:5000/me/hello:9"),
    ])
    .unwrap();
    assert!(!missing.status.success());
}
