//! Crash safety of the real binary: `kill -9` at any point loses no
//! acknowledged push, and an interrupted upload continues after the restart.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sentinel_oci::Digest;

#[path = "support/process.rs"]
mod process;

use process::Process;

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

/// Runs `sentinel-registry fsck` on `data_dir` and returns its exit code and report.
fn fsck(data_dir: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(["fsck", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run fsck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Deterministic, incompressible-looking bytes.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// What the workers saw acknowledged before the kill.
#[derive(Default)]
struct Acknowledged {
    /// (repository, digest, bytes) of every blob that got its 201.
    blobs: Vec<(String, Digest, Vec<u8>)>,
    /// (repository, tag, bytes) of every manifest that got its 201.
    manifests: Vec<(String, String, Vec<u8>)>,
    /// (repository, location, bytes acknowledged, whole blob) of chunked
    /// uploads caught between chunks.
    sessions: Vec<(String, String, usize, Vec<u8>)>,
}

/// One worker: pushes blobs (monolithic and chunked) and manifests until the
/// server goes away or `rounds` are done.
async fn push_until_killed(
    base: String,
    worker: u64,
    rounds: u64,
    acknowledged: Arc<Mutex<Acknowledged>>,
    progress: Arc<AtomicUsize>,
) {
    let client = reqwest::Client::new();
    let repo = format!("load/w{worker}");
    for round in 0..rounds {
        let len = 1 + ((worker * 7919 + round * 104_729) % (3 * 1024 * 1024)) as usize;
        let data = pseudo_random(worker * 1000 + round, len);
        let digest = Digest::sha256(&data);
        if round % 2 == 0 {
            let Ok(response) = client
                .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
                .body(data.clone())
                .send()
                .await
            else {
                return;
            };
            if response.status() != 201 {
                return;
            }
        } else {
            let Ok(started) = client
                .post(format!("{base}/v2/{repo}/blobs/uploads/"))
                .send()
                .await
            else {
                return;
            };
            let location = started.headers()["location"].to_str().unwrap().to_owned();
            let cut = len / 2;
            let mut sent = 0;
            for (start, end) in [(0, cut), (cut, len)] {
                if start == end {
                    continue;
                }
                let Ok(patched) = client
                    .patch(format!("{base}{location}"))
                    .header("content-range", format!("{start}-{}", end - 1))
                    .body(data[start..end].to_vec())
                    .send()
                    .await
                else {
                    let mut ack = acknowledged.lock().unwrap();
                    if sent > 0 {
                        ack.sessions
                            .push((repo.clone(), location.clone(), sent, data.clone()));
                    }
                    return;
                };
                assert_eq!(patched.status(), 202, "chunk {start}-{end} of {location}");
                sent = end;
            }
            let Ok(finished) = client
                .put(format!("{base}{location}?digest={digest}"))
                .send()
                .await
            else {
                let mut ack = acknowledged.lock().unwrap();
                ack.sessions.push((repo.clone(), location, sent, data));
                return;
            };
            assert_eq!(finished.status(), 201);
        }
        acknowledged
            .lock()
            .unwrap()
            .blobs
            .push((repo.clone(), digest.clone(), data.clone()));
        progress.fetch_add(1, Ordering::SeqCst);

        let config = format!("{{\"worker\":{worker},\"round\":{round}}}").into_bytes();
        let config_digest = Digest::sha256(&config);
        let Ok(response) = client
            .post(format!(
                "{base}/v2/{repo}/blobs/uploads/?digest={config_digest}"
            ))
            .body(config.clone())
            .send()
            .await
        else {
            return;
        };
        if response.status() != 201 {
            return;
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len}],
        }))
        .unwrap();
        let tag = format!("r{round}");
        let Ok(response) = client
            .put(format!("{base}/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
        else {
            return;
        };
        if response.status() != 201 {
            return;
        }
        acknowledged
            .lock()
            .unwrap()
            .manifests
            .push((repo.clone(), tag, manifest));
        progress.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_pushes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let progress = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..12)
        .map(|worker| {
            tokio::spawn(push_until_killed(
                server.base().to_owned(),
                worker,
                40,
                Arc::clone(&acknowledged),
                Arc::clone(&progress),
            ))
        })
        .collect();
    // Kill once plenty has been acknowledged, with every worker mid-push.
    let deadline = Instant::now() + Duration::from_secs(120);
    while progress.load(Ordering::SeqCst) < 80 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for worker in workers {
        worker
            .await
            .expect("a worker finishes once the server is gone");
    }
    let acknowledged = Arc::try_unwrap(acknowledged)
        .ok()
        .expect("workers are done")
        .into_inner()
        .unwrap();
    assert!(
        acknowledged.blobs.len() >= 20,
        "enough pushes before the kill"
    );

    let server = Process::start(dir.path());
    let client = reqwest::Client::new();
    for (repo, digest, data) in &acknowledged.blobs {
        let response = client
            .get(server.url(&format!("/v2/{repo}/blobs/{digest}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "acknowledged blob {repo}@{digest}");
        assert!(
            response.bytes().await.unwrap() == data.as_slice(),
            "bytes of {digest}"
        );
    }
    for (repo, tag, manifest) in &acknowledged.manifests {
        let response = client
            .get(server.url(&format!("/v2/{repo}/manifests/{tag}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "acknowledged manifest {repo}:{tag}");
        assert_eq!(response.bytes().await.unwrap(), manifest.as_slice());
    }
    // A chunked upload caught by the kill is resumable from where the server
    // says it is, or cleanly unknown.
    for (repo, location, acknowledged_bytes, data) in &acknowledged.sessions {
        let status = client.get(server.url(location)).send().await.unwrap();
        if status.status() == 404 {
            continue;
        }
        assert_eq!(status.status(), 204, "session {location}");
        let range = status.headers()["range"].to_str().unwrap().to_owned();
        let held: usize = range.split('-').nth(1).unwrap().parse::<usize>().unwrap() + 1;
        assert!(held >= *acknowledged_bytes, "{location} holds {range}");
        let digest = Digest::sha256(data);
        if held < data.len() {
            let patched = client
                .patch(server.url(location))
                .header("content-range", format!("{held}-{}", data.len() - 1))
                .body(data[held..].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(patched.status(), 202);
        }
        let finished = client
            .put(server.url(&format!("{location}?digest={digest}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            finished.status(),
            201,
            "finishing {location} after the restart"
        );
        let blob = client
            .get(server.url(&format!("/v2/{repo}/blobs/{digest}")))
            .send()
            .await
            .unwrap();
        assert!(blob.bytes().await.unwrap() == data.as_slice());
    }
    server.terminate();
    let (code, report) = fsck(dir.path());
    assert_eq!(code, 0, "fsck after kill -9:\n{report}");
    assert!(report.contains(" 0 errors, 0 warnings"), "{report}");
}

#[tokio::test]
async fn fsck_reports_damaged_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let client = reqwest::Client::new();
    let digest = push_blob(&client, &server, "damage/me", b"original bytes").await;
    server.terminate();
    assert_eq!(fsck(dir.path()).0, 0);
    let hex = digest.hex();
    let path = dir
        .path()
        .join("storage/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    std::fs::write(&path, b"damaged bytes!").unwrap();
    let (code, report) = fsck(dir.path());
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!("blob {digest}: its bytes hash to")),
        "{report}"
    );
}

/// Sets the modification time of `path` to `age` ago.
fn age(path: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

#[tokio::test]
async fn upload_bytes_left_by_a_crash_are_deleted_at_the_next_start_once_old() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let client = reqwest::Client::new();
    push_blob(&client, &server, "left/over", b"kept").await;
    server.kill();
    // What a monolithic push cut by the kill leaves: bytes under uploads/
    // that no session owns (it never has one). One from long ago, one recent.
    let uploads = dir.path().join("storage/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let old = uploads.join("0b6a3a1e-5f0e-4c47-9a8e-0d6f8f1e2a11");
    let recent = uploads.join("7c2d9b4f-1e3a-4d5b-8c6f-2a9e0b1d3c44");
    std::fs::write(&old, b"half a push").unwrap();
    std::fs::write(&recent, b"half another push").unwrap();
    age(&old, Duration::from_secs(2 * 60 * 60));

    let (code, report) = fsck(dir.path());
    assert_eq!(code, 0, "leftovers are no damage:\n{report}");
    assert!(
        report.contains("2 orphaned uploads: 0 errors, 0 warnings"),
        "{report}"
    );

    let server = Process::start(dir.path());
    // The start-up sweep runs before the first request is served.
    let response = client.get(server.url("/v2/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        !old.exists(),
        "bytes an hour old that no session owns are deleted"
    );
    assert!(
        recent.exists(),
        "recent bytes may belong to a push in progress"
    );
    server.terminate();
}
