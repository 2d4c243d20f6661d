//! Health, readiness, metrics and the logs API, against the real binary over
//! real HTTP on 127.0.0.1.
//!
//! The readiness faults (blob storage turned read-only, a full disk) mount a
//! small tmpfs, which needs root: without it they are skipped (a line on
//! stderr says so); with `SENTINEL_REQUIRE_INTEROP=1` (CI) they fail instead.

#[path = "support/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use process::Process;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

const ADMIN_PASSWORD: &str = "an-admin-password-for-tests";

/// The test under load measures latency: the tests run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `sentinel-registry user add NAME --role ROLE --password-stdin` on `data`.
fn add_user(data: &Path, name: &str, role: &str, password: &str) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--data-dir",
        ])
        .arg(data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A server with authentication on, an admin and a reader.
fn start_with_auth(dir: &Path, args: &[&str]) -> Process {
    add_user(dir, "admin", "admin", ADMIN_PASSWORD);
    add_user(dir, "reader", "reader", "a-reader-password");
    let mut all = vec!["--auth"];
    all.extend_from_slice(args);
    Process::start_with(dir, &all)
}

/// Pushes one blob and one manifest (tag `1`) to `repository`.
fn push(client: &reqwest::blocking::Client, base: &str, repository: &str, auth: Option<&str>) {
    let with = |request: reqwest::blocking::RequestBuilder| match auth {
        Some(value) => request.header("authorization", value),
        None => request,
    };
    let config = b"{}".to_vec();
    let digest = sha256(&config);
    let response = with(client.post(format!(
        "{base}/v2/{repository}/blobs/uploads/?digest={digest}"
    )))
    .body(config.clone())
    .send()
    .unwrap();
    assert_eq!(response.status(), 201);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{digest}","size":2}},"layers":[]}}"#
    );
    let response = with(client.put(format!("{base}/v2/{repository}/manifests/1")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// The value of the sample `name` (with its labels, exactly) in an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok())?
        })
}

#[test]
fn health_and_readiness_answer_without_authentication() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_auth(dir.path(), &["--min-free-disk", "1MiB"]);
    let client = reqwest::blocking::Client::new();
    for path in ["/healthz", "/health"] {
        let response = client.get(server.url(path)).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }
    for path in ["/readyz", "/ready"] {
        let response = client.get(server.url(path)).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().unwrap();
        assert_eq!(body["status"], "ok", "{body}");
        for check in ["index", "blob_store", "disk"] {
            assert_eq!(body["checks"][check]["ok"], true, "{body}");
            assert!(body["checks"][check]["latency_ms"].is_number(), "{body}");
            assert!(body["checks"][check]["error"].is_null(), "{body}");
        }
        let head = client.head(server.url(path)).send().unwrap();
        assert_eq!(head.status(), 200);
    }
    let data_dir = dir.path().to_string_lossy().into_owned();
    let text = client
        .get(server.url("/readyz"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!text.contains(&data_dir), "no paths in {text}");
}

#[test]
fn metrics_count_a_push_and_a_pull_and_can_be_turned_off() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let client = reqwest::blocking::Client::new();
    let base = server.base().to_owned();
    push(&client, &base, "team/app", None);
    let pulled = client
        .get(server.url("/v2/team/app/manifests/1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap();
    assert_eq!(pulled.status(), 200);
    let response = client.get(server.url("/metrics")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().unwrap();
    assert_eq!(sample(&text, "sentinel_pushes_total"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "sentinel_pulls_total"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"sentinel_http_request_duration_seconds_count{api="oci",endpoint="manifest",method="PUT",status="201"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, r#"sentinel_http_received_bytes_total{api="oci"}"#).unwrap() > 100.0,
        "{text}"
    );
    assert!(text.contains("sentinel_build_info{version=\""), "{text}");
    assert!(!text.contains("team/app"), "no repository names in {text}");
    drop(server);

    let off = Process::start_with(dir.path(), &["--metrics=false"]);
    let response = client.get(off.url("/metrics")).send().unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn metrics_on_their_own_address_and_behind_authentication() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_auth(
        dir.path(),
        &["--metrics-auth", "--metrics-listen", "127.0.0.1:0"],
    );
    let line = server
        .startup_line("metrics on ")
        .expect("the server says where the metrics are");
    let metrics_base = line
        .split("metrics on ")
        .nth(1)
        .unwrap()
        .trim_end_matches("/metrics")
        .to_owned();
    let client = reqwest::blocking::Client::new();
    assert_eq!(
        client.get(server.url("/metrics")).send().unwrap().status(),
        404,
        "not on the main address"
    );
    let url = format!("{metrics_base}/metrics");
    let anonymous = client.get(&url).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    let wrong = client
        .get(&url)
        .header("authorization", basic("reader", "wrong"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let reader = client
        .get(&url)
        .header("authorization", basic("reader", "a-reader-password"))
        .send()
        .unwrap();
    assert_eq!(reader.status(), 200);
    let text = reader.text().unwrap();
    // The anonymous and the wrong password both carried (or lacked)
    // credentials as counted: one refusal had an Authorization header.
    assert!(
        sample(&text, "sentinel_auth_failures_total").unwrap() >= 1.0,
        "{text}"
    );
}

#[test]
fn logs_and_audit_are_for_administrators_and_filtered() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_auth(dir.path(), &[]);
    let client = reqwest::blocking::Client::new();
    let admin = basic("admin", ADMIN_PASSWORD);
    let base = server.base().to_owned();
    push(&client, &base, "admin/app", Some(&admin));
    // A failed login: a warning in the audit trail.
    let refused = client
        .get(server.url("/api/v1/whoami"))
        .header("authorization", basic("reader", "wrong"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);

    let get = |path: &str, auth: &str| {
        let response = client
            .get(server.url(path))
            .header("authorization", auth)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().unwrap())
    };
    let (status, _) = get("/api/v1/logs", &basic("reader", "a-reader-password"));
    assert_eq!(status, 403, "readers may not read the logs");
    let (status, _) = get("/api/v1/audit", &basic("reader", "a-reader-password"));
    assert_eq!(status, 403, "nor the audit trail");
    let anonymous = client.get(server.url("/api/v1/logs")).send().unwrap();
    assert_eq!(anonymous.status(), 401);

    let (status, body) = get("/api/v1/audit?action=push&since=1h", &admin);
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["fields"]["user"], "admin");
    assert_eq!(events[0]["fields"]["repository"], "admin/app");
    assert_eq!(events[0]["target"], "sentinel::audit");
    assert!(events[0]["time"].as_str().unwrap().ends_with('Z'));
    let (_, body) = get("/api/v1/audit?user=reader", &admin);
    let events = body["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e["fields"]["action"] == "login-failed"),
        "{body}"
    );
    assert!(!events.is_empty(), "{body}");
    let (_, body) = get("/api/v1/audit?repository=nothing/here", &admin);
    assert_eq!(body["events"], serde_json::json!([]));
    let last = get("/api/v1/audit", &admin).1["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["sequence"]
        .as_u64()
        .unwrap();
    let (_, body) = get(&format!("/api/v1/audit?after={last}"), &admin);
    assert_eq!(body["events"], serde_json::json!([]), "nothing newer yet");

    let (status, body) = get("/api/v1/logs?level=info&limit=5", &admin);
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 5, "{body}");
    assert!(
        events.iter().all(|e| e["target"] != "sentinel::access"),
        "no access lines: {body}"
    );
    let (_, body) = get("/api/v1/logs?level=error", &admin);
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["level"] == "error"),
        "{body}"
    );
    let (status, _) = get("/api/v1/logs?since=yesterday", &admin);
    assert_eq!(status, 400);
}

/// Runs `command`; whether it succeeded.
fn run(command: &str, args: &[&str]) -> bool {
    Command::new(command)
        .args(args)
        .status()
        .is_ok_and(|status| status.success())
}

/// A small tmpfs mounted at a fresh directory, unmounted when dropped; `None`
/// (or a failure, with `SENTINEL_REQUIRE_INTEROP=1`) where mounting is not
/// allowed.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let path_text = path.to_str().unwrap();
        if run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                path_text,
            ],
        ) {
            return Some(Tmpfs { path, _dir: dir });
        }
        if std::env::var("SENTINEL_REQUIRE_INTEROP").is_ok_and(|v| v == "1") {
            panic!("cannot mount a tmpfs (root is needed), and SENTINEL_REQUIRE_INTEROP=1");
        }
        eprintln!("skipped: cannot mount a tmpfs (run as root to test readiness faults)");
        None
    }

    /// Remounts read-only (`ro`) or read-write (`rw`); a remount to `ro`
    /// fails while a file is open for writing, so it is tried a few times.
    fn remount(&self, mode: &str) {
        let options = format!("remount,{mode}");
        for _ in 0..20 {
            if run("mount", &["-o", &options, self.path.to_str().unwrap()]) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cannot remount the tmpfs {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Polls `/readyz` until it answers `status`, for at most `within`; the body.
fn ready_becomes(server: &Process, status: u16, within: Duration) -> serde_json::Value {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + within;
    loop {
        let response = client.get(server.url("/readyz")).send().unwrap();
        let answered = response.status().as_u16();
        let body: serde_json::Value = response.json().unwrap();
        if answered == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {answered} after {within:?}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn readiness_fails_while_blob_storage_is_read_only_and_recovers() {
    let _alone = alone();
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let storage = disk.path.join("storage");
    let server = Process::start_with(
        data.path(),
        &[
            "--storage",
            storage.to_str().unwrap(),
            "--readiness-interval",
            "1",
            "--min-free-disk",
            "1MiB",
        ],
    );
    let interval = Duration::from_secs(1);
    ready_becomes(&server, 200, interval);
    disk.remount("ro");
    // Within one interval (plus the check itself and the poll).
    let body = ready_becomes(&server, 503, interval + Duration::from_millis(500));
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["blob_store"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["index"]["ok"], true, "{body}");
    let error = body["checks"]["blob_store"]["error"].as_str().unwrap();
    assert!(!error.contains('/'), "no paths: {error}");
    disk.remount("rw");
    ready_becomes(&server, 200, interval + Duration::from_millis(500));
}

#[test]
fn readiness_fails_while_the_disk_is_full_and_recovers() {
    let _alone = alone();
    let Some(disk) = Tmpfs::mount("24m") else {
        return;
    };
    let data = disk.path.join("data");
    let server = Process::start_with(
        &data,
        &["--readiness-interval", "1", "--min-free-disk", "8MiB"],
    );
    let interval = Duration::from_secs(1);
    ready_becomes(&server, 200, interval);
    // Fill the disk until less than the floor is free.
    let filler = disk.path.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 20 << 20]);
    let body = ready_becomes(&server, 503, interval + Duration::from_millis(500));
    assert_eq!(body["checks"]["disk"]["ok"], false, "{body}");
    let error = body["checks"]["disk"]["error"].as_str().unwrap();
    assert!(error.contains("below the floor"), "{error}");
    std::fs::remove_file(&filler).unwrap();
    ready_becomes(&server, 200, interval + Duration::from_millis(500));
}

/// Starts an upload of `length` bytes that sends a few and then nothing.
async fn stalled_upload(addr: &str, n: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let digest = sha256(format!("never sent {n}").as_bytes());
    let head = format!(
        "POST /v2/load/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\nabcd"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[test]
fn health_and_metrics_answer_promptly_under_load() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start_with(
        dir.path(),
        &[
            "--max-uploads",
            "0",
            "--max-uploads-per-address",
            "0",
            "--max-connections-per-address",
            "0",
            "--body-timeout",
            "60",
        ],
    );
    let base = server.base().to_owned();
    push(&reqwest::blocking::Client::new(), &base, "load/app", None);
    let addr = base.trim_start_matches("http://").to_owned();
    // The load runs on its own threads; the probes are timed from this one.
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stalled = load.block_on(async {
        let mut stalled = Vec::new();
        for n in 0..600 {
            stalled.push(stalled_upload(&addr, n).await);
        }
        stalled
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..32)
        .map(|_| {
            let client = reqwest::Client::new();
            let url = format!("{base}/v2/load/app/manifests/1");
            let stop = std::sync::Arc::clone(&stop);
            load.spawn(async move {
                let mut done = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let response = client
                        .get(&url)
                        .header("accept", "application/vnd.oci.image.manifest.v1+json")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    let _ = response.bytes().await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let client = reqwest::blocking::Client::new();
    let mut times: Vec<(&str, Duration)> = Vec::new();
    for round in 0..20 {
        for path in ["/healthz", "/readyz", "/metrics"] {
            let started = Instant::now();
            let response = client.get(format!("{base}{path}")).send().unwrap();
            let status = response.status();
            let text = response.text().unwrap();
            times.push((path, started.elapsed()));
            assert_eq!(status, 200, "{path}: {text}");
            if path == "/metrics" && round == 19 {
                let uploads = sample(&text, "sentinel_uploads_in_progress").unwrap();
                assert!(uploads >= 500.0, "{uploads} uploads in progress");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let requests: u32 = busy
        .into_iter()
        .map(|task| load.block_on(task).unwrap())
        .sum();
    drop(stalled);
    assert!(requests > 32, "the busy clients were busy: {requests}");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let mut taken: Vec<Duration> = times
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, t)| *t)
            .collect();
        taken.sort();
        let p95 = taken[taken.len() * 95 / 100 - 1];
        let slowest = taken[taken.len() - 1];
        eprintln!(
            "{path} under load: p95 {p95:?}, slowest {slowest:?} ({requests} busy requests meanwhile)"
        );
        assert!(p95 < Duration::from_millis(100), "{path}: {taken:?}");
        assert!(slowest < Duration::from_millis(500), "{path}: {taken:?}");
    }
}
