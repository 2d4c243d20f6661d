//! `sentinel-registry policy set|list|remove` on a data directory, a
//! running server picking the changes up, and policies from the TOML
//! configuration. Authentication is off, so a policy applies to every read.

#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use process::Process;
use sentinel_signature::SigningKey;
use sha2::{Digest as _, Sha256};

fn run(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run sentinel-registry")
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let output = run(data_dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn fails(data_dir: &Path, args: &[&str]) -> String {
    let output = run(data_dir, args);
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Pushes a one-layer image to `repo:1`; returns its manifest's digest.
fn push_image(server: &Process, repo: &str) -> String {
    let http = reqwest::blocking::Client::new();
    let mut descriptors = Vec::new();
    for (bytes, media_type) in [
        (&b"{}"[..], "application/vnd.oci.image.config.v1+json"),
        (&b"layer"[..], "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let digest = sha256(bytes);
        let reply = http
            .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(reply.status(), 201);
        descriptors.push(serde_json::json!({
            "mediaType": media_type, "digest": digest, "size": bytes.len()
        }));
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptors[0],
        "layers": [descriptors[1]],
    }))
    .unwrap();
    let reply = http
        .put(server.url(&format!("/v2/{repo}/manifests/1")))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .unwrap();
    assert_eq!(reply.status(), 201);
    sha256(&manifest)
}

/// The status and body of `GET /v2/<repo>/manifests/1`.
fn pull(server: &Process, repo: &str) -> (u16, String) {
    let reply = reqwest::blocking::Client::new()
        .get(server.url(&format!("/v2/{repo}/manifests/1")))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap();
    (reply.status().as_u16(), reply.text().unwrap())
}

/// Waits until `pull` answers `status` (the server reloads the policy file
/// within a quarter of a second).
fn wait_for(server: &Process, repo: &str, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (got, body) = pull(server, repo);
        if got == status {
            return body;
        }
        assert!(Instant::now() < deadline, "still {got}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn policies_are_managed_from_the_command_line_and_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key_file = dir.path().join("acme.pub");
    let key = SigningKey::generate();
    std::fs::write(&key_file, key.public_key().to_pem()).unwrap();
    let key_path = key_file.to_str().unwrap();

    let set = ok(
        &data,
        &[
            "policy",
            "set",
            "acme/*",
            "--require-signature",
            "--key",
            key_path,
        ],
    );
    assert!(set.contains("acme/*: signatures required"), "{set}");
    assert!(set.contains(&key.id().to_string()), "{set}");
    let listed = ok(&data, &["policy", "list"]);
    assert!(listed.contains("acme/*"), "{listed}");
    assert!(listed.contains("yes"), "{listed}");
    let keyless = fails(&data, &["policy", "set", "acme/x", "--require-signature"]);
    assert!(keyless.contains("at least one trusted key"), "{keyless}");
    let malformed = fails(&data, &["policy", "set", "acme*", "--key", key_path]);
    assert!(
        malformed.contains("invalid repository pattern"),
        "{malformed}"
    );

    let server = Process::start(&data);
    push_image(&server, "acme/app");
    let refused = wait_for(&server, "acme/app", 403);
    assert!(
        refused.contains("acme/*: not signed by a trusted key"),
        "{refused}"
    );
    // Changed while the server runs: picked up without a restart.
    ok(&data, &["policy", "remove", "acme/*"]);
    wait_for(&server, "acme/app", 200);
    ok(
        &data,
        &[
            "policy",
            "set",
            "acme/app",
            "--require-signature",
            "--key",
            key_path,
        ],
    );
    let refused = wait_for(&server, "acme/app", 403);
    assert!(refused.contains("acme/app: not signed"), "{refused}");
    server.terminate();

    // The configuration file's policies: fixed, and winning.
    let config = dir.path().join("sentinel.toml");
    std::fs::write(
        &config,
        "[[signature-policy]]\nrepositories = \"conf/*\"\nrequire = true\nkeys = [\"acme.pub\"]\n",
    )
    .unwrap();
    let config_path = config.to_str().unwrap();
    let server = Process::start_with(&data, &["--config", config_path]);
    push_image(&server, "conf/app");
    let refused = wait_for(&server, "conf/app", 403);
    assert!(
        refused.contains("conf/*: not signed by a trusted key"),
        "{refused}"
    );
    let fixed = fails(
        &data,
        &[
            "policy",
            "set",
            "conf/*",
            "--key",
            key_path,
            "--config",
            config_path,
        ],
    );
    assert!(fixed.contains("set in the configuration file"), "{fixed}");
    let listed = ok(&data, &["policy", "list", "--config", config_path]);
    assert!(listed.contains("conf/*"), "{listed}");
    assert!(listed.contains("configuration"), "{listed}");
    server.terminate();
}
