//! Garbage collection as an operator runs it: `POST`/`GET /api/v1/gc` on the
//! admin socket of the running server, the metrics it counts into, and
//! `sentinel-registry gc` offline when no server runs.

#[path = "support/process.rs"]
mod process;

use std::process::Command;

use axum::http::{Method, StatusCode};
use process::Process;
use sentinel_oci::Digest;
use sentinel_registry::admin;

/// Pushes an untagged image with a layer of its own to `repo`; returns the
/// layer's digest.
async fn push_untagged(client: &reqwest::Client, server: &Process, repo: &str, seed: u8) -> Digest {
    let layer = vec![seed; 4096];
    let config = format!("{{\"seed\":{seed}}}").into_bytes();
    for blob in [&layer, &config] {
        let digest = Digest::sha256(blob);
        let response = client
            .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::sha256(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let response = client
        .put(server.url(&format!(
            "/v2/{repo}/manifests/{}",
            Digest::sha256(&manifest)
        )))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    Digest::sha256(&layer)
}

#[tokio::test]
async fn gc_runs_through_the_admin_socket_and_offline() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Process::start(dir.path());
    let (status, _) = admin::request(dir.path(), Method::GET, "/api/v1/gc", None)
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no report before the first run"
    );
    let layer = push_untagged(&client, &server, "gc/one", 1).await;

    // Within the default grace period (1h), nothing goes.
    let (status, report) = admin::request(dir.path(), Method::POST, "/api/v1/gc", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["manifests_deleted"], 0);

    let (status, report) = admin::request(
        dir.path(),
        Method::POST,
        "/api/v1/gc?dry_run=true&grace=0s",
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["manifests_deleted"], 1);
    assert_eq!(report["blobs_deleted"], 2);
    let blob = client
        .get(server.url(&format!("/v2/gc/one/blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), 200, "a dry run deletes nothing");

    let (status, report) = admin::request(dir.path(), Method::POST, "/api/v1/gc?grace=0s", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["manifests_deleted"], 1);
    assert_eq!(report["blob_links_removed"], 2);
    assert_eq!(report["blobs_deleted"], 2);
    assert_eq!(report["bytes_freed"], 4096 + 10);
    let (_, last) = admin::request(dir.path(), Method::GET, "/api/v1/gc", None)
        .await
        .unwrap();
    assert_eq!(last, report);
    let blob = client
        .get(server.url(&format!("/v2/gc/one/blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), 404);

    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("sentinel_gc_runs_total 2"), "{metrics}");
    assert!(
        metrics.contains("sentinel_gc_freed_bytes_total 4106"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sentinel_gc_deleted_manifests_total 1"),
        "{metrics}"
    );

    let (status, body) = admin::request(dir.path(), Method::POST, "/api/v1/gc?dry_run=maybe", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // With the server stopped, the subcommand collects by itself.
    let second = push_untagged(&client, &server, "gc/two", 2).await;
    server.terminate();
    let output = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(["gc", "--grace", "0s", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("deleted 1 manifests, 2 blob links, 2 blobs"),
        "{printed}"
    );
    let hex = second.hex().to_owned();
    let stored = dir
        .path()
        .join("storage/blobs/sha256")
        .join(&hex[..2])
        .join(&hex);
    assert!(!stored.exists(), "the offline run freed the bytes");
}

/// The `.sntl` file of agent `name` at `version`.
fn package(name: &str, version: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agent.yaml"),
        format!("name: {name}\nversion: {version}\n"),
    )
    .unwrap();
    let mut sntl = Vec::new();
    sentinel_package::pack(dir.path(), &mut sntl).unwrap();
    sntl
}

/// The figures `sentinel-registry gc` printed of what was retired and
/// deleted (or, in a dry run, would be).
fn printed_figures(output: &std::process::Output) -> String {
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = printed
        .find("; ")
        .unwrap_or_else(|| panic!("no figures in {printed:?}"))
        + 2;
    let end = printed[start..]
        .find(");")
        .unwrap_or_else(|| panic!("no figures in {printed:?}"));
    printed[start..start + end + 1]
        .replace("would retire", "retired")
        .replace("would delete", "deleted")
}

#[tokio::test]
async fn a_dry_run_counts_what_retention_would_free() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Process::start(dir.path());
    for version in ["0.1.0", "0.2.0", "0.3.0", "1.0.0", "1.1.0"] {
        let published = client
            .put(server.url("/v1/packages/publish?repository=alice/ret"))
            .body(package("ret", version))
            .send()
            .await
            .unwrap();
        assert_eq!(published.status(), 201, "{version}");
    }
    let (status, body) = admin::request(
        dir.path(),
        Method::PUT,
        "/api/v1/retention-policies/alice/*",
        Some(serde_json::json!({"keep_last": 2})),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, dry) = admin::request(
        dir.path(),
        Method::POST,
        "/api/v1/gc?dry_run=true&grace=0s",
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["versions_retired"], 3, "{dry}");
    assert_eq!(dry["manifests_deleted"], 3, "{dry}");
    // Each retired version has a layer of its own (its agent.yaml).
    assert!(dry["blob_links_removed"].as_u64().unwrap() >= 3, "{dry}");
    assert!(dry["blobs_deleted"].as_u64().unwrap() >= 3, "{dry}");
    let expected = format!(
        "retired 3 package versions; deleted 3 manifests, {} blob links, {} blobs ({} bytes)",
        dry["blob_links_removed"], dry["blobs_deleted"], dry["bytes_freed"]
    );

    // The command line says the same, through the running server...
    let online = process::command(dir.path(), &["gc", "--dry-run", "--grace", "0s"], "");
    assert_eq!(printed_figures(&online), expected);
    let tags: serde_json::Value = client
        .get(server.url("/v2/alice/ret/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        tags["tags"].as_array().unwrap().len(),
        5,
        "a dry run retires nothing"
    );
    server.terminate();

    // ...and offline; and the real run does what the dry runs said.
    let offline = process::command(dir.path(), &["gc", "--dry-run", "--grace", "0s"], "");
    assert_eq!(printed_figures(&offline), expected);
    let real = process::command(dir.path(), &["gc", "--grace", "0s"], "");
    assert_eq!(printed_figures(&real), expected);
}
