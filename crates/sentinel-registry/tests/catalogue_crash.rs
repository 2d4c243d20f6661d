//! The package catalogue with the real binary: rebuilt on start after a
//! `kill -9` (the catalogue was not closed cleanly) or when its file is
//! gone (data from before the catalogue), and rebuilt by
//! `sentinel-registry reindex` with the server stopped, deprecations kept.

use std::path::Path;
use std::process::Command;

use sentinel_oci::Digest;
use sentinel_package::oci::{BlobRef, build_manifest};
use sentinel_package::versions::version_tag;
use sentinel_package::{default_file_name, pack};

#[path = "support/process.rs"]
mod process;

use process::Process;

/// Packs an agent `name` at `version` and pushes it to `repo` under its
/// version tag, as `agent push` does; returns the manifest's digest.
async fn push_agent(
    client: &reqwest::Client,
    server: &Process,
    repo: &str,
    version: &str,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let definition = format!("name: planner\nversion: {version}\ndescription: Plans trips.\n");
    std::fs::write(dir.path().join("agent.yaml"), definition).unwrap();
    std::fs::write(dir.path().join("README.md"), "# planner\n").unwrap();
    let mut sntl = Vec::new();
    let summary = pack(dir.path(), &mut sntl).unwrap();
    for blob in [&summary.definition_bytes, &sntl] {
        let digest = Digest::sha256(blob);
        let response = client
            .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let manifest = build_manifest(
        &summary.definition,
        &BlobRef {
            digest: Digest::sha256(&summary.definition_bytes),
            size: summary.definition_bytes.len() as u64,
        },
        &BlobRef {
            digest: summary.digest.clone(),
            size: summary.size,
        },
        &default_file_name(&summary.definition),
        "2026-01-01T00:00:00Z",
    );
    let tag = version_tag(summary.definition.version());
    let response = client
        .put(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    Digest::sha256(&manifest).to_string()
}

/// `GET /v1/packages/{repo}/versions` as JSON.
async fn versions(client: &reqwest::Client, server: &Process, repo: &str) -> serde_json::Value {
    let response = client
        .get(server.url(&format!("/v1/packages/{repo}/versions")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The (version, digest, deprecated) rows of a versions answer.
fn rows(versions: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["version"].as_str().unwrap().to_owned(),
                row["digest"].as_str().unwrap().to_owned(),
                row["deprecated"].clone(),
            )
        })
        .collect()
}

/// Deprecates `version` of `repo`.
async fn deprecate(client: &reqwest::Client, server: &Process, repo: &str, version: &str) {
    let response = client
        .post(server.url(&format!("/v1/packages/{repo}/{version}/deprecate")))
        .json(&serde_json::json!({"message": "do not use"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Runs `sentinel-registry reindex` on `data_dir`: its exit code and output.
fn reindex(data_dir: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(["reindex", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run reindex");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn the_catalogue_is_rebuilt_on_start_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Process::start(dir.path());
    let one = push_agent(&client, &server, "team/planner", "1.0.0").await;
    let two = push_agent(&client, &server, "team/planner", "2.0.0").await;
    deprecate(&client, &server, "team/planner", "2.0.0").await;
    let deleted = push_agent(&client, &server, "team/planner", "3.0.0").await;
    let response = client
        .delete(server.url(&format!("/v2/team/planner/manifests/{deleted}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let before = rows(&versions(&client, &server, "team/planner").await);
    server.kill();

    let server = Process::start(dir.path());
    assert!(
        server.started_saying("not closed cleanly"),
        "the start after a crash checks the catalogue"
    );
    let after = rows(&versions(&client, &server, "team/planner").await);
    assert_eq!(after, before);
    assert_eq!(
        after,
        [
            ("2.0.0".to_owned(), two, serde_json::json!("do not use")),
            ("1.0.0".to_owned(), one, serde_json::Value::Null),
        ]
    );
    server.terminate();
}

#[tokio::test]
async fn a_missing_catalogue_is_built_from_the_manifests_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Process::start(dir.path());
    let one = push_agent(&client, &server, "team/planner", "1.0.0").await;
    server.terminate();
    std::fs::remove_file(dir.path().join("catalogue.redb")).expect("the catalogue's file");

    let server = Process::start(dir.path());
    assert!(server.started_saying("a new package catalogue: filling it from the stored manifests"));
    let after = rows(&versions(&client, &server, "team/planner").await);
    assert_eq!(after, [("1.0.0".to_owned(), one, serde_json::Value::Null)]);
    let found: serde_json::Value = client
        .get(server.url("/v1/packages/search?q=trips"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1, "{found}");
    server.terminate();
}

#[tokio::test]
async fn reindex_rebuilds_the_catalogue_and_keeps_deprecations() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Process::start(dir.path());
    push_agent(&client, &server, "team/planner", "1.0.0").await;
    push_agent(&client, &server, "team/planner", "1.1.0").await;
    push_agent(&client, &server, "team/other", "0.1.0").await;
    deprecate(&client, &server, "team/planner", "1.1.0").await;
    let before = rows(&versions(&client, &server, "team/planner").await);

    // Refused while the server holds the data.
    let (code, output) = reindex(dir.path());
    assert_ne!(code, 0, "reindex with the server running: {output}");
    assert!(output.contains("still running"), "{output}");

    server.terminate();
    let server = Process::start(dir.path());
    assert!(
        !server.started_saying("not closed cleanly"),
        "a clean stop needs no check at the next start"
    );
    server.terminate();
    let (code, output) = reindex(dir.path());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("3 packages catalogued"), "{output}");

    let server = Process::start(dir.path());
    let after = rows(&versions(&client, &server, "team/planner").await);
    assert_eq!(after, before);
    assert_eq!(after[0].2, "do not use");
    assert_eq!(
        versions(&client, &server, "team/planner").await["latest"],
        "1.0.0"
    );
    server.terminate();
}
