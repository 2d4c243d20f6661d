//! Crash safety of the real binary: `kill -9` at any point loses no
//! acknowledged push, and an interrupted upload continues after the restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use sentinel_oci::Digest;

/// The `sentinel-registry serve` process and its base URL.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    /// Starts the binary on a free loopback port and waits for its "listening" line.
    fn start(data_dir: &Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("SENTINEL_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sentinel-registry");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the server prints a listening line before exiting")
                .expect("read the server's output");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
            }
        };
        // Keep draining the output so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process { child, base }
    }

    /// Kills the process with SIGKILL: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().expect("kill -9 the server");
        self.child.wait().expect("reap the server");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn push_blob(client: &reqwest::Client, server: &Process, repo: &str, data: &[u8]) -> Digest {
    let digest = Digest::sha256(data);
    let response = client
        .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "monolithic push of {digest}");
    digest
}

#[tokio::test]
async fn acknowledged_pushes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Process::start(dir.path());
    let mut pushed = Vec::new();
    for n in 0..20u32 {
        let config = format!("{{\"n\":{n}}}").into_bytes();
        let layer: Vec<u8> = (0..50_000u32).map(|i| (i * 7 + n) as u8).collect();
        let config_digest = push_blob(&client, &server, "crash/test", &config).await;
        let layer_digest = push_blob(&client, &server, "crash/test", &layer).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
        });
        let body = serde_json::to_vec(&manifest).unwrap();
        let response = client
            .put(server.url(&format!("/v2/crash/test/manifests/t{n}")))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        pushed.push((format!("t{n}"), body, layer_digest, layer));
    }
    server.kill();

    let server = Process::start(dir.path());
    for (tag, manifest, layer_digest, layer) in &pushed {
        let got = client
            .get(server.url(&format!("/v2/crash/test/manifests/{tag}")))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "manifest {tag} after kill -9");
        assert_eq!(got.bytes().await.unwrap(), manifest.as_slice());
        let blob = client
            .get(server.url(&format!("/v2/crash/test/blobs/{layer_digest}")))
            .send()
            .await
            .unwrap();
        assert_eq!(blob.status(), 200);
        assert_eq!(blob.bytes().await.unwrap(), layer.as_slice());
    }
}

#[tokio::test]
async fn a_chunked_upload_continues_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let (first, second) = data.split_at(123_457);

    let server = Process::start(dir.path());
    let started = client
        .post(server.url("/v2/resume/me/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let patched = client
        .patch(server.url(&location))
        .header("content-range", format!("0-{}", first.len() - 1))
        .header("content-type", "application/octet-stream")
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    server.kill();

    let server = Process::start(dir.path());
    let status = client.get(server.url(&location)).send().await.unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(
        status.headers()["range"],
        format!("0-{}", first.len() - 1).as_str()
    );
    let patched = client
        .patch(server.url(&location))
        .header(
            "content-range",
            format!("{}-{}", first.len(), data.len() - 1),
        )
        .body(second.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    let digest = Digest::sha256(&data);
    let finished = client
        .put(server.url(&format!("{location}?digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
    let blob = client
        .get(server.url(&format!("/v2/resume/me/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(blob.bytes().await.unwrap(), data.as_slice());
}
