//! Crash safety of garbage collection with the real binary: `kill -9` while
//! a collection of many objects runs, at several points, never costs a
//! tagged image a byte; after the restart the next collection finishes what
//! the killed one started, `fsck` is clean, and storage holds only what
//! tagged images use.

use std::path::Path;
use std::process::Command;

use sentinel_oci::Digest;

#[path = "support/process.rs"]
mod process;

use process::Process;

/// `serve` with every pushed object old enough to collect at once.
const SERVE: &[&str] = &["--gc-grace", "0s"];

/// Deterministic bytes for `seed`.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

async fn push_blob(client: &reqwest::Client, server: &Process, repo: &str, data: &[u8]) -> Digest {
    let digest = Digest::sha256(data);
    let response = client
        .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "push of {digest}");
    digest
}

/// An image manifest of one config and one layer.
fn image(config: &[u8], layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::sha256(layer), "size": layer.len()}],
    }))
    .unwrap()
}

/// Pushes `config`, `layer` and their manifest to `repo` under `reference`.
async fn push_image(
    client: &reqwest::Client,
    server: &Process,
    repo: &str,
    reference: Option<&str>,
    config: &[u8],
    layer: &[u8],
) -> Vec<u8> {
    push_blob(client, server, repo, config).await;
    push_blob(client, server, repo, layer).await;
    let manifest = image(config, layer);
    let reference = reference.map_or_else(|| Digest::sha256(&manifest).to_string(), str::to_owned);
    let response = client
        .put(server.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "manifest {repo}:{reference}");
    manifest
}

/// Pushes `count` untagged images with layers of their own (and one layer
/// shared with a tagged image) across six repositories.
async fn push_garbage(
    client: &reqwest::Client,
    server: &Process,
    round: u64,
    count: u64,
    shared: &[u8],
) {
    for n in 0..count {
        let repo = format!("junk/r{}", n % 6);
        let config = format!("{{\"junk\":{round},\"n\":{n}}}").into_bytes();
        let layer = if n == 0 {
            shared.to_vec()
        } else {
            bytes(round * 10_000 + n, 20_000)
        };
        push_image(client, server, &repo, None, &config, &layer).await;
    }
}

/// Runs `sentinel-registry gc` against the server on `data_dir`.
fn gc_command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"));
    command
        .args(["gc", "--data-dir"])
        .arg(data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// Files under `dir`, recursively.
fn files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|entry| {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                files(&entry.path())
            } else {
                1
            }
        })
        .sum()
}

/// A tagged image: its tag, manifest, config and layer bytes.
type Tagged = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// Every tagged image pulls whole and byte for byte.
async fn check_tagged(client: &reqwest::Client, server: &Process, images: &[Tagged]) {
    for (tag, manifest, config, layer) in images {
        let got = client
            .get(server.url(&format!("/v2/keep/app/manifests/{tag}")))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "manifest {tag}");
        assert_eq!(got.bytes().await.unwrap(), manifest.as_slice());
        for blob in [config, layer] {
            let digest = Digest::sha256(blob);
            let got = client
                .get(server.url(&format!("/v2/keep/app/blobs/{digest}")))
                .send()
                .await
                .unwrap();
            assert_eq!(got.status(), 200, "blob {digest} of {tag}");
            assert_eq!(
                got.bytes().await.unwrap(),
                blob.as_slice(),
                "bytes of {digest}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_gc_costs_no_tagged_image_a_byte() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = Process::start_with(dir.path(), SERVE);
    let mut tagged = Vec::new();
    for n in 0..8u64 {
        let config = format!("{{\"keep\":{n}}}").into_bytes();
        let layer = bytes(n + 1, 30_000);
        let manifest = push_image(
            &client,
            &server,
            "keep/app",
            Some(&format!("v{n}")),
            &config,
            &layer,
        )
        .await;
        tagged.push((format!("v{n}"), manifest, config, layer));
    }
    let shared = tagged[0].3.clone();
    // How long a whole collection of one round's garbage takes here, so
    // the kills land inside collections however fast the machine is.
    push_garbage(&client, &server, 99, 48, &shared).await;
    let timed = std::time::Instant::now();
    let whole = gc_command(dir.path()).output().unwrap();
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let whole = timed.elapsed();
    let mut interrupted = 0;
    for (round, share) in [0.1f64, 0.25, 0.4, 0.6, 0.8].into_iter().enumerate() {
        push_garbage(&client, &server, round as u64, 48, &shared).await;
        let gc = gc_command(dir.path()).spawn().unwrap();
        std::thread::sleep(whole.mul_f64(share));
        server.kill();
        let output = gc.wait_with_output().unwrap();
        if !output.status.success() {
            interrupted += 1;
        }
        server = Process::start_with(dir.path(), SERVE);
        check_tagged(&client, &server, &tagged).await;
    }
    // Most kills land in the middle of a collection (one that had not yet
    // reached the server runs offline after the kill, to its end).
    assert!(
        interrupted >= 3,
        "only {interrupted} collections were interrupted"
    );
    // The next collection finishes what the killed ones left.
    let finished = gc_command(dir.path()).output().unwrap();
    assert!(
        finished.status.success(),
        "gc: {}",
        String::from_utf8_lossy(&finished.stderr)
    );
    check_tagged(&client, &server, &tagged).await;
    server.terminate();
    let fsck = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(["fsck", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&fsck.stdout);
    assert!(fsck.status.success(), "fsck: {report}");
    // Eight layers and eight configs are all storage holds.
    assert_eq!(
        files(&dir.path().join("storage").join("blobs")),
        16,
        "{report}"
    );
}
