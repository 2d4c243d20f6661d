//! The garbage collection soak test: 20 concurrent workers push, pull and
//! delete over real HTTP against the real server, sharing layers across
//! repositories (so blobs are deduplicated and mounted), while garbage
//! collection runs every 2.5 seconds with a 5-second grace period. It counts
//! `MANIFEST_BLOB_UNKNOWN` on pushes, `BLOB_UNKNOWN`/`MANIFEST_UNKNOWN` on
//! pulls of acknowledged tags, and digest mismatches: all must be 0. At the
//! end `fsck` must be clean and storage must hold exactly the blobs the
//! remaining tags use.
//!
//! `SENTINEL_SOAK_SECS` sets how long the load runs (default 60). It is
//! `#[ignore]`d in the everyday `cargo test`; CI runs it as its own step:
//! `cargo test -p sentinel-registry --test gc_soak -- --ignored`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sentinel_oci::Digest;

#[path = "support/process.rs"]
mod process;

use process::Process;

/// Concurrent workers.
const WORKERS: u64 = 20;
/// Repositories they share.
const REPOSITORIES: u64 = 5;
/// Layers shared by every worker's images.
const SHARED_LAYERS: u64 = 24;
/// The grace period the server runs with.
const GRACE_SECS: u64 = 5;
/// How often garbage collection runs.
const GC_EVERY: Duration = Duration::from_millis(2500);

/// What went wrong, counted by kind.
#[derive(Default)]
struct Counts {
    pushes: AtomicU64,
    pulls: AtomicU64,
    deletes: AtomicU64,
    mounts: AtomicU64,
    manifest_blob_unknown: AtomicU64,
    blob_unknown: AtomicU64,
    manifest_unknown: AtomicU64,
    digest_mismatch: AtomicU64,
    other_failures: AtomicU64,
}

/// A small xorshift generator: deterministic per worker.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Deterministic bytes for `seed`.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// Shared layer `n`.
fn shared_layer(n: u64) -> Vec<u8> {
    bytes(1_000_000 + n, 16 * 1024 + (n as usize) * 1024)
}

/// An acknowledged tag: its repository, tag, manifest bytes and blobs.
struct Live {
    repo: String,
    tag: String,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

/// The error code of an OCI error body, if any.
async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    body["errors"][0]["code"].as_str().unwrap_or("").to_owned()
}

/// Makes `data` a blob of `repo` the way clients do: HEAD, then a mount
/// from `other` (sometimes) or an upload.
async fn ensure_blob(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    other: &str,
    data: &[u8],
    try_mount: bool,
    counts: &Counts,
) -> bool {
    let digest = Digest::sha256(data);
    let Ok(head) = client
        .head(format!("{base}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
    else {
        return false;
    };
    if head.status() == 200 {
        return true;
    }
    if try_mount {
        let Ok(mounted) = client
            .post(format!(
                "{base}/v2/{repo}/blobs/uploads/?mount={digest}&from={other}"
            ))
            .send()
            .await
        else {
            return false;
        };
        if mounted.status() == 201 {
            counts.mounts.fetch_add(1, Ordering::Relaxed);
            return true;
        }
    }
    matches!(
        client
            .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
            .body(data.to_vec())
            .send()
            .await,
        Ok(response) if response.status() == 201
    )
}

/// Pushes an image of `blobs` (the first is the config) as `repo:tag`,
/// mounting from `other` at times (`(repo, other)` is `repos`); `Some` if
/// acknowledged.
async fn push(
    client: &reqwest::Client,
    base: &str,
    (repo, other): (&str, &str),
    tag: &str,
    blobs: Vec<Vec<u8>>,
    rng: &mut Rng,
    counts: &Counts,
) -> Option<Live> {
    for blob in &blobs {
        let try_mount = rng.below(3) == 0;
        if !ensure_blob(client, base, repo, other, blob, try_mount, counts).await {
            counts.other_failures.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    }
    let descriptor = |media_type: &str, blob: &Vec<u8>| serde_json::json!({"mediaType": media_type, "digest": Digest::sha256(blob), "size": blob.len()});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &blobs[0]),
        "layers": blobs[1..].iter().map(|b| descriptor("application/vnd.oci.image.layer.v1.tar", b)).collect::<Vec<_>>(),
    }))
    .expect("a manifest serialises");
    let response = client
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .ok()?;
    if response.status() == 201 {
        counts.pushes.fetch_add(1, Ordering::Relaxed);
        return Some(Live {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            manifest,
            blobs,
        });
    }
    match error_code(response).await.as_str() {
        "MANIFEST_BLOB_UNKNOWN" => counts.manifest_blob_unknown.fetch_add(1, Ordering::Relaxed),
        _ => counts.other_failures.fetch_add(1, Ordering::Relaxed),
    };
    None
}

/// Pulls `live` whole and checks every byte.
async fn pull(client: &reqwest::Client, base: &str, live: &Live, counts: &Counts) {
    let Ok(response) = client
        .get(format!("{base}/v2/{}/manifests/{}", live.repo, live.tag))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
    else {
        counts.other_failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if response.status() != 200 {
        match error_code(response).await.as_str() {
            "MANIFEST_UNKNOWN" => counts.manifest_unknown.fetch_add(1, Ordering::Relaxed),
            _ => counts.other_failures.fetch_add(1, Ordering::Relaxed),
        };
        return;
    }
    if response.bytes().await.ok().as_deref() != Some(live.manifest.as_slice()) {
        counts.digest_mismatch.fetch_add(1, Ordering::Relaxed);
        return;
    }
    for blob in &live.blobs {
        let digest = Digest::sha256(blob);
        let Ok(response) = client
            .get(format!("{base}/v2/{}/blobs/{digest}", live.repo))
            .send()
            .await
        else {
            counts.other_failures.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if response.status() != 200 {
            match error_code(response).await.as_str() {
                "BLOB_UNKNOWN" => counts.blob_unknown.fetch_add(1, Ordering::Relaxed),
                _ => counts.other_failures.fetch_add(1, Ordering::Relaxed),
            };
            return;
        }
        match response.bytes().await {
            Ok(got) if Digest::sha256(&got) == digest => {}
            Ok(_) => {
                counts.digest_mismatch.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                counts.other_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    counts.pulls.fetch_add(1, Ordering::Relaxed);
}

/// Deletes `live` by tag, or by digest (the manifest and its tag).
async fn delete(
    client: &reqwest::Client,
    base: &str,
    live: &Live,
    by_digest: bool,
    counts: &Counts,
) {
    let reference = if by_digest {
        Digest::sha256(&live.manifest).to_string()
    } else {
        live.tag.clone()
    };
    match client
        .delete(format!("{base}/v2/{}/manifests/{reference}", live.repo))
        .send()
        .await
    {
        Ok(response) if response.status() == 202 => {
            counts.deletes.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            counts.other_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One worker until `deadline`; returns the tags it leaves acknowledged.
async fn work(base: String, worker: u64, deadline: Instant, counts: Arc<Counts>) -> Vec<Live> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    let mut rng = Rng(worker * 7919 + 17);
    let mut live: Vec<Live> = Vec::new();
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        let op = rng.below(10);
        if op < 5 || live.is_empty() {
            let repo = format!("soak/r{}", rng.below(REPOSITORIES));
            let other = format!("soak/r{}", rng.below(REPOSITORIES));
            let config = format!("{{\"worker\":{worker},\"round\":{round}}}").into_bytes();
            let mut blobs = vec![config, shared_layer(rng.below(SHARED_LAYERS))];
            if rng.below(2) == 0 {
                blobs.push(bytes(worker * 1_000_000 + round, 8 * 1024));
            }
            let tag = format!("w{worker}-{round}");
            if let Some(pushed) = push(
                &client,
                &base,
                (&repo, &other),
                &tag,
                blobs,
                &mut rng,
                &counts,
            )
            .await
            {
                live.push(pushed);
            }
        } else if op < 8 {
            let which = rng.below(live.len() as u64) as usize;
            pull(&client, &base, &live[which], &counts).await;
        } else if op == 8 {
            // A blob uploaded and never referenced: garbage after the grace.
            let repo = format!("soak/r{}", rng.below(REPOSITORIES));
            let data = bytes(worker * 1_000_000 + 500_000 + round, 4 * 1024);
            let digest = Digest::sha256(&data);
            let _ = client
                .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
                .body(data)
                .send()
                .await;
        } else {
            let which = rng.below(live.len() as u64) as usize;
            let gone = live.swap_remove(which);
            delete(&client, &base, &gone, rng.below(2) == 0, &counts).await;
        }
    }
    live
}

/// `sentinel-registry gc` against the server on `data_dir`.
fn gc(data_dir: &Path) -> bool {
    Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(["gc", "--data-dir"])
        .arg(data_dir)
        .output()
        .map(|output| {
            eprintln!("gc: {}", String::from_utf8_lossy(&output.stdout).trim());
            output.status.success()
        })
        .unwrap_or(false)
}

/// Files under `dir`, recursively.
fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(files(&entry.path()));
            } else {
                out.insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a minute of load: CI runs it as its own step"]
async fn gc_under_load_never_loses_an_acknowledged_byte() {
    let seconds: u64 = std::env::var("SENTINEL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let grace = format!("{GRACE_SECS}s");
    let server = Process::start_with(dir.path(), &["--gc-grace", &grace]);
    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            tokio::spawn(work(
                server.base().to_owned(),
                worker,
                deadline,
                Arc::clone(&counts),
            ))
        })
        .collect();
    let collector = {
        let data_dir = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let (mut runs, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                std::thread::sleep(GC_EVERY);
                runs += 1;
                if !gc(&data_dir) {
                    failed += 1;
                }
            }
            (runs, failed)
        })
    };
    let mut live = Vec::new();
    for worker in workers {
        live.extend(worker.await.unwrap());
    }
    let (gc_runs, gc_failed) = collector.await.unwrap();
    // Every tag still acknowledged pulls whole after the load.
    let client = reqwest::Client::new();
    for tag in &live {
        pull(&client, server.base(), tag, &counts).await;
    }
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "soak: {seconds}s, {} pushes, {} pulls, {} deletes, {} mounts, {gc_runs} gc runs ({gc_failed} failed), {} live tags; \
         manifest blob unknown {}, blob unknown {}, manifest unknown {}, digest mismatches {}, other failures {}",
        load(&counts.pushes),
        load(&counts.pulls),
        load(&counts.deletes),
        load(&counts.mounts),
        live.len(),
        load(&counts.manifest_blob_unknown),
        load(&counts.blob_unknown),
        load(&counts.manifest_unknown),
        load(&counts.digest_mismatch),
        load(&counts.other_failures),
    );
    assert_eq!(
        load(&counts.manifest_blob_unknown),
        0,
        "MANIFEST_BLOB_UNKNOWN on pushes"
    );
    assert_eq!(
        load(&counts.blob_unknown),
        0,
        "BLOB_UNKNOWN on pulls of acknowledged tags"
    );
    assert_eq!(
        load(&counts.manifest_unknown),
        0,
        "MANIFEST_UNKNOWN on acknowledged tags"
    );
    assert_eq!(load(&counts.digest_mismatch), 0, "digest mismatches");
    assert_eq!(load(&counts.other_failures), 0, "other failures");
    assert_eq!(gc_failed, 0, "garbage collection runs that failed");
    assert!(gc_runs >= 2, "only {gc_runs} gc runs");
    assert!(load(&counts.pushes) > 0 && load(&counts.deletes) > 0 && load(&counts.mounts) > 0);

    // Once everything deleted is older than the grace period, one run
    // frees its bytes: storage holds exactly what the live tags use.
    tokio::time::sleep(Duration::from_secs(GRACE_SECS + 1)).await;
    assert!(gc(dir.path()));
    let expected: BTreeSet<String> = live
        .iter()
        .flat_map(|tag| {
            tag.blobs
                .iter()
                .map(|blob| Digest::sha256(blob).hex().to_owned())
        })
        .collect();
    let stored = files(&dir.path().join("storage").join("blobs"));
    assert_eq!(stored, expected, "stored blobs against what live tags use");
    for tag in &live {
        pull(&client, server.base(), tag, &counts).await;
    }
    assert_eq!(
        load(&counts.blob_unknown) + load(&counts.digest_mismatch),
        0
    );
    server.terminate();
    let fsck = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(["fsck", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
}
