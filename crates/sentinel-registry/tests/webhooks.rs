//! Webhooks end to end: the real binary, real pushes over HTTP, and a real
//! HTTP receiver on loopback that fails, goes away, comes back on the same
//! port and is slow; the signature checked with an HMAC written here,
//! independently of the registry's.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

#[path = "support/process.rs"]
mod process;

use process::Process;

const SECRET: &str = "whsec_test-secret";

/// Fast retries so the tests run in seconds.
const FAST: &[&str] = &[
    "--webhook-backoff",
    "100",
    "--webhook-timeout",
    "1",
    "--webhook-retry-window",
    "60s",
];

/// `webhook add NAME --url URL --events EVENTS [extra]` with [`SECRET`].
fn add_webhook(data_dir: &Path, name: &str, url: &str, events: &str, extra: &[&str]) {
    let mut args = vec![
        "webhook",
        "add",
        name,
        "--url",
        url,
        "--events",
        events,
        "--secret-stdin",
    ];
    args.extend_from_slice(extra);
    process::command_ok(data_dir, &args, &format!("{SECRET}\n"));
}

/// HMAC-SHA256 (RFC 2104) from SHA-256 alone: a check of the registry's
/// signature that shares no code with it.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_key: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_key)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_key)
        .chain_update(inner)
        .finalize()
        .into()
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
    /// What the receiver answered (`None`: it stalled past the timeout).
    answered: Option<u16>,
}

impl Received {
    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("header {name} missing"))
    }

    /// Checks the signature with the independent HMAC.
    fn assert_signed(&self, secret: &str) {
        let timestamp = self.header("x-sentinel-timestamp");
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(&self.body);
        let expected = format!(
            "sha256={}",
            hex::encode(hmac_sha256(secret.as_bytes(), &message))
        );
        assert_eq!(self.header("x-sentinel-signature"), expected);
        let sent: u64 = timestamp.parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(sent) < 120, "timestamp {sent} is not now");
        assert_eq!(self.header("content-type"), "application/cloudevents+json");
        let event = self.event();
        assert_eq!(self.header("webhook-id"), event["id"].as_str().unwrap());
        assert_eq!(event["specversion"], "1.0");
        for attribute in ["id", "source", "type", "time", "datacontenttype"] {
            assert!(event[attribute].is_string(), "{attribute}: {event}");
        }
    }
}

/// What the receiver does next.
#[derive(Default)]
struct Behaviour {
    /// Answer 500 to this many more requests.
    fail: AtomicUsize,
    /// Stall the next request for 3 s (past the registry's 1 s timeout).
    stall_once: AtomicBool,
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Behaviour>,
}

async fn receive(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut record = Received {
        path: uri.path().to_owned(),
        headers,
        body,
        at: Instant::now(),
        answered: None,
    };
    let status = if shared.behaviour.stall_once.swap(false, Ordering::SeqCst) {
        shared.received.lock().unwrap().push(record);
        tokio::time::sleep(Duration::from_secs(3)).await;
        return (StatusCode::OK, [("connection", "close")]);
    } else if shared
        .behaviour
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        StatusCode::INTERNAL_SERVER_ERROR
    } else if record.path == "/gone" {
        StatusCode::GONE
    } else {
        StatusCode::NO_CONTENT
    };
    record.answered = Some(status.as_u16());
    shared.received.lock().unwrap().push(record);
    // One request per connection, so closing the listener takes it down.
    (status, [("connection", "close")])
}

/// A webhook receiver on 127.0.0.1 that can go down and come back on the same port.
struct Receiver {
    port: u16,
    shared: Shared,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut receiver = Receiver {
            port,
            shared: Shared::default(),
            task: None,
        };
        receiver.serve(listener);
        receiver
    }

    /// A receiver not listening yet, on a port that was free a moment ago.
    async fn down() -> Receiver {
        let mut receiver = Receiver::start().await;
        receiver.stop().await;
        receiver
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(self.shared.clone());
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    eprintln!("rebinding {}: {error}", self.port);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("cannot listen on {} again: {error}", self.port),
            }
        };
        self.serve(listener);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) until `done` holds for what was received.
    async fn wait_until(
        &self,
        limit: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting; received: {:#?}",
                received.iter().map(Received::event).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Delivered events (answered 2xx) of `event_type` at `path`.
fn delivered<'a>(received: &'a [Received], path: &str, event_type: &str) -> Vec<&'a Received> {
    received
        .iter()
        .filter(|r| r.path == path && r.answered.is_some_and(|s| (200..300).contains(&s)))
        .filter(|r| r.event()["type"] == event_type)
        .collect()
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Pushes a small image to `repo:tag`; returns the manifest's digest.
async fn push(client: &reqwest::Client, server: &Process, repo: &str, tag: &str) -> String {
    let config = format!("{{\"tag\":\"{tag}\"}}").into_bytes();
    let config_digest = sha256_digest(&config);
    let response = client
        .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={config_digest}")))
        .body(config.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [],
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let response = client
        .put(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "push {repo}:{tag}");
    sha256_digest(&body)
}

#[tokio::test]
async fn every_event_reaches_a_flaky_receiver_signed_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    receiver.shared.behaviour.fail.store(3, Ordering::SeqCst);
    add_webhook(dir.path(), "ci", &receiver.url("/hook"), "push,delete", &[]);
    let server = Process::start_with(dir.path(), FAST);
    let client = reqwest::Client::new();

    let mut tags = Vec::new();
    let mut digests = HashMap::new();
    for n in 0..4 {
        let tag = format!("v{n}");
        digests.insert(tag.clone(), push(&client, &server, "team/app", &tag).await);
        tags.push(tag);
    }
    // The first answers are 500s: those events are retried while the receiver
    // is up, so the gaps checked below are the backoff's alone (an attempt
    // refused while the receiver is down doubles the next wait, unrecorded).
    receiver
        .wait_until(Duration::from_secs(60), |received| {
            delivered(received, "/hook", "io.sentinel.manifest.pushed").len() >= 4
        })
        .await;
    // The receiver goes away for a while: pushes go on, and their events wait.
    receiver.stop().await;
    for n in 4..7 {
        let tag = format!("v{n}");
        digests.insert(tag.clone(), push(&client, &server, "team/app", &tag).await);
        tags.push(tag);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // It comes back on the same port, slow once (past the 1 s timeout).
    receiver
        .shared
        .behaviour
        .stall_once
        .store(true, Ordering::SeqCst);
    receiver.restart().await;
    let response = client
        .delete(server.url("/v2/team/app/manifests/v0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let response = client
        .delete(server.url(&format!("/v2/team/app/manifests/{}", digests["v1"])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let received = receiver
        .wait_until(Duration::from_secs(60), |received| {
            let pushed: HashSet<String> =
                delivered(received, "/hook", "io.sentinel.manifest.pushed")
                    .iter()
                    .map(|r| r.event()["data"]["tag"].as_str().unwrap().to_owned())
                    .collect();
            tags.iter().all(|t| pushed.contains(t))
                && !delivered(received, "/hook", "io.sentinel.tag.deleted").is_empty()
                && !delivered(received, "/hook", "io.sentinel.manifest.deleted").is_empty()
        })
        .await;

    for request in &received {
        request.assert_signed(SECRET);
    }
    for event in delivered(&received, "/hook", "io.sentinel.manifest.pushed") {
        let event = event.event();
        let tag = event["data"]["tag"].as_str().unwrap();
        assert_eq!(event["data"]["repository"], "team/app");
        assert_eq!(event["data"]["digest"], digests[tag].as_str());
        assert_eq!(
            event["data"]["media_type"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(event["subject"], format!("team/app:{tag}"));
        assert!(
            event["source"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
    }
    let deleted = delivered(&received, "/hook", "io.sentinel.tag.deleted")[0].event();
    assert_eq!(deleted["data"]["tag"], "v0");
    assert_eq!(deleted["data"]["digest"], digests["v0"].as_str());
    let deleted = delivered(&received, "/hook", "io.sentinel.manifest.deleted")[0].event();
    assert_eq!(deleted["data"]["digest"], digests["v1"].as_str());
    assert_eq!(deleted["data"]["tags"], serde_json::json!(["v1"]));
    assert_eq!(deleted["subject"], format!("team/app@{}", digests["v1"]));

    // The failed attempts were retried with the same id, spaced by the backoff.
    let mut by_id: HashMap<String, Vec<&Received>> = HashMap::new();
    for request in &received {
        by_id
            .entry(request.event()["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(request);
    }
    let retried: Vec<&Vec<&Received>> = by_id
        .values()
        .filter(|attempts| attempts.iter().any(|r| r.answered == Some(500)))
        .collect();
    assert!(!retried.is_empty(), "the first answers were 500s");
    for attempts in &retried {
        assert!(attempts.len() >= 2, "a failed event was retried");
        assert!(attempts.last().unwrap().answered.is_some_and(|s| s < 300));
        for pair in attempts.windows(2) {
            let gap = pair[1].at - pair[0].at;
            // Full jitter below a ceiling of 100 ms doubled per attempt (at
            // most 400 ms here), plus the sender's polling and this machine.
            assert!(gap < Duration::from_secs(5), "retried after {gap:?}");
        }
    }
    // The stalled request timed out and was sent again.
    let stalled = received
        .iter()
        .find(|r| r.answered.is_none())
        .expect("a stalled request");
    let id = stalled.event()["id"].as_str().unwrap().to_owned();
    assert!(by_id[&id].iter().any(|r| r.answered == Some(204)));
    server.terminate();
}

#[tokio::test]
async fn an_event_of_an_acknowledged_push_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::down().await;
    add_webhook(dir.path(), "ci", &receiver.url("/hook"), "push", &[]);
    let server = Process::start_with(dir.path(), FAST);
    let client = reqwest::Client::new();
    let digest = push(&client, &server, "crash/app", "1.0").await;
    server.kill();

    let server = Process::start_with(dir.path(), FAST);
    receiver.restart().await;
    let received = receiver
        .wait_until(Duration::from_secs(30), |received| {
            !delivered(received, "/hook", "io.sentinel.manifest.pushed").is_empty()
        })
        .await;
    let event = delivered(&received, "/hook", "io.sentinel.manifest.pushed")[0].event();
    assert_eq!(event["data"]["digest"], digest.as_str());
    assert_eq!(event["data"]["tag"], "1.0");
    server.terminate();
}

#[tokio::test]
async fn patterns_filter_and_pulls_are_delivered_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    add_webhook(
        dir.path(),
        "team-pushes",
        &receiver.url("/team"),
        "push",
        &["--repository", "team/*"],
    );
    add_webhook(dir.path(), "pulls", &receiver.url("/pulls"), "pull", &[]);
    let server = Process::start_with(dir.path(), FAST);
    let client = reqwest::Client::new();
    push(&client, &server, "team/app", "1").await;
    push(&client, &server, "other/app", "1").await;
    const PULLS: usize = 30;
    for _ in 0..PULLS {
        for repo in ["team/app", "other/app"] {
            let response = client
                .get(server.url(&format!("/v2/{repo}/manifests/1")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    }
    let response = client
        .head(server.url("/v2/team/app/manifests/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let received = receiver
        .wait_until(Duration::from_secs(30), |received| {
            delivered(received, "/pulls", "io.sentinel.manifest.pulled").len() >= 2 * PULLS
                && !delivered(received, "/team", "io.sentinel.manifest.pushed").is_empty()
        })
        .await;
    // Give stragglers (a HEAD counted by mistake, a push of other/app) a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = [received, receiver.received()].concat();
    let mut seen = HashSet::new();
    let unique: Vec<&Received> = received
        .iter()
        .filter(|r| seen.insert(r.event()["id"].as_str().unwrap().to_owned()))
        .collect();
    let pushes: Vec<Value> = unique
        .iter()
        .filter(|r| r.path == "/team")
        .map(|r| r.event())
        .collect();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["data"]["repository"], "team/app");
    let pulls: Vec<Value> = unique
        .iter()
        .filter(|r| r.path == "/pulls")
        .map(|r| r.event())
        .collect();
    assert_eq!(pulls.len(), 2 * PULLS, "one event per GET, none for HEAD");
    assert!(
        pulls
            .iter()
            .all(|e| e["type"] == "io.sentinel.manifest.pulled")
    );
    assert!(pulls.iter().all(|e| e["data"]["tag"] == "1"));
    server.terminate();
}

#[tokio::test]
async fn a_dead_receiver_does_not_slow_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::down().await;
    // Only pushes to hooked/* have a webhook (whose receiver is dead);
    // pushes to plain/* are the baseline, measured in turn with them so
    // that whatever else loads the machine weighs on both alike.
    add_webhook(
        dir.path(),
        "dead",
        &receiver.url("/hook"),
        "all",
        &["--repository", "hooked/*"],
    );
    let server = Process::start_with(dir.path(), FAST);
    let client = reqwest::Client::new();
    const ROUNDS: usize = 21;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for n in 0..ROUNDS + 2 {
        for (repo, times) in [("plain/app", &mut without), ("hooked/app", &mut with)] {
            let started = Instant::now();
            push(&client, &server, repo, &format!("t{n}")).await;
            // The first rounds warm up.
            if n >= 2 {
                times.push(started.elapsed());
            }
        }
    }
    without.sort();
    with.sort();
    let (without, with) = (without[ROUNDS / 2], with[ROUNDS / 2]);
    eprintln!("median push: {without:?} without webhooks, {with:?} with a dead receiver");
    assert!(
        with < without * 2 + Duration::from_millis(5),
        "a push took {with:?} with a dead receiver, {without:?} without"
    );
    assert!(receiver.received().is_empty());
    // The webhook was in force: its attempts failed, and the metrics say so.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = client
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("sentinel_webhook_deliveries_total{result=\"failed\"}") {
            assert!(metrics.contains("sentinel_webhook_pending_deliveries"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed delivery counted: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.terminate();
}

#[tokio::test]
async fn webhooks_are_managed_over_the_api_by_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    process::command_ok(
        dir.path(),
        &["user", "add", "root", "--role", "admin", "--password-stdin"],
        "root-password\n",
    );
    process::command_ok(
        dir.path(),
        &[
            "user",
            "add",
            "rita",
            "--role",
            "reader",
            "--password-stdin",
        ],
        "rita-password\n",
    );
    let receiver = Receiver::start().await;
    let mut args = FAST.to_vec();
    args.push("--auth");
    let server = Process::start_with(dir.path(), &args);
    let client = reqwest::Client::new();
    let api = |path: &str| server.url(&format!("/api/v1/webhooks{path}"));
    let admin =
        |request: reqwest::RequestBuilder| request.basic_auth("root", Some("root-password"));

    let created = admin(client.post(api("")))
        .json(&serde_json::json!({
            "name": "ci",
            "url": receiver.url("/hook"),
            "events": "push,delete",
            "repositories": "team/*",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["repositories"], "team/*");

    let listed: Value = admin(client.get(api("")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["webhooks"][0]["name"], "ci");
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never listed"
    );

    let refused = client
        .get(api(""))
        .basic_auth("rita", Some("rita-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let invalid = admin(client.post(api("")))
        .json(&serde_json::json!({"name": "x", "url": "ftp://x/", "events": "push"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);

    let tested = admin(client.post(api("/ci/test"))).send().await.unwrap();
    assert_eq!(tested.status(), 200);
    let tested: Value = tested.json().await.unwrap();
    assert_eq!(tested["status"], 204, "{tested}");
    assert_eq!(tested["delivered"], true);
    let ping = receiver.received()[0].clone();
    ping.assert_signed(&secret);
    assert_eq!(ping.event()["type"], "io.sentinel.ping");

    // A receiver that answers 410 Gone disables its webhook.
    let updated = admin(client.put(api("/ci")))
        .json(&serde_json::json!({"url": receiver.url("/gone")}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let response = client
        .post(server.url("/v2/team/app/blobs/uploads/?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"))
        .basic_auth("root", Some("root-password"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "size": 5},
        "layers": [],
    });
    let response = client
        .put(server.url("/v2/team/app/manifests/1"))
        .basic_auth("root", Some("root-password"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hook: Value = admin(client.get(api("/ci")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if hook["enabled"] == false {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook stayed enabled: {hook}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let history: Value = admin(client.get(api("/ci/deliveries")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deliveries = history["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{history}");
    assert_eq!(deliveries[0]["status"], 410, "newest first: {history}");
    assert_eq!(deliveries[0]["type"], "io.sentinel.manifest.pushed");
    assert_eq!(deliveries[1]["type"], "io.sentinel.ping");
    assert!(deliveries[0]["latency_ms"].is_u64());

    let removed = admin(client.delete(api("/ci"))).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    let gone = admin(client.get(api("/ci"))).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    server.terminate();
}

#[tokio::test]
async fn the_subcommands_test_a_webhook_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    add_webhook(dir.path(), "ci", &receiver.url("/hook"), "push", &[]);
    let listed = process::command_ok(dir.path(), &["webhook", "list"], "");
    assert!(
        listed.contains("ci") && listed.contains(&receiver.url("/hook")),
        "{listed}"
    );
    assert!(
        !listed.contains(SECRET),
        "list never shows secrets: {listed}"
    );

    let server = Process::start_with(dir.path(), FAST);
    let data_dir = dir.path().to_owned();
    let tested = tokio::task::spawn_blocking(move || {
        process::command_ok(&data_dir, &["webhook", "test", "ci"], "")
    })
    .await
    .unwrap();
    assert!(
        tested.contains("204") && tested.contains("io.sentinel.ping"),
        "{tested}"
    );
    receiver.received()[0].assert_signed(SECRET);
    let data_dir = dir.path().to_owned();
    let history = tokio::task::spawn_blocking(move || {
        process::command_ok(&data_dir, &["webhook", "deliveries", "ci"], "")
    })
    .await
    .unwrap();
    assert_eq!(
        history.lines().count(),
        2,
        "a header and the ping: {history}"
    );

    process::command_ok(dir.path(), &["webhook", "remove", "ci"], "");
    server.terminate();
    // Without the server, test says so and fails.
    let offline = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(["webhook", "deliveries", "ci", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!offline.status.success());
    let stderr = String::from_utf8_lossy(&offline.stderr);
    assert!(stderr.contains("needs the running server"), "{stderr}");
}

#[tokio::test]
async fn quota_refusals_and_garbage_collections_reach_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    add_webhook(dir.path(), "ops", &receiver.url("/ops"), "quota,gc", &[]);
    process::command_ok(dir.path(), &["policy", "quota", "set", "tiny", "10"], "");
    let server = Process::start_with(dir.path(), FAST);
    let client = reqwest::Client::new();

    // A monolithic upload over the namespace's quota, refused twice: one
    // event (a retrying client does not flood the webhook).
    let blob = vec![7u8; 100];
    for _ in 0..2 {
        let response = client
            .post(server.url(&format!(
                "/v2/tiny/app/blobs/uploads/?digest={}",
                sha256_digest(&blob)
            )))
            .header("Content-Type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    let (status, report) = sentinel_registry::admin::request(
        dir.path(),
        axum::http::Method::POST,
        "/api/v1/gc?grace=0s",
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{report}");

    let received = receiver
        .wait_until(Duration::from_secs(30), |received| {
            !delivered(received, "/ops", "io.sentinel.quota.exceeded").is_empty()
                && !delivered(received, "/ops", "io.sentinel.gc.completed").is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = [received, receiver.received()].concat();
    let mut seen = HashSet::new();
    let unique: Vec<Value> = received
        .iter()
        .map(Received::event)
        .filter(|event| seen.insert(event["id"].as_str().unwrap().to_owned()))
        .collect();
    let quota: Vec<&Value> = unique
        .iter()
        .filter(|e| e["type"] == "io.sentinel.quota.exceeded")
        .collect();
    assert_eq!(quota.len(), 1, "{quota:?}");
    assert_eq!(quota[0]["subject"], "tiny");
    assert_eq!(quota[0]["data"]["repository"], "tiny/app");
    assert_eq!(quota[0]["data"]["quota"], 10);
    assert_eq!(quota[0]["data"]["size"], 100);
    let gc: Vec<&Value> = unique
        .iter()
        .filter(|e| e["type"] == "io.sentinel.gc.completed")
        .collect();
    assert_eq!(gc.len(), 1, "{gc:?}");
    assert_eq!(gc[0]["data"]["dry_run"], false);
    assert!(gc[0]["data"]["versions_retired"].is_u64(), "{}", gc[0]);
    server.terminate();
}

#[tokio::test]
async fn a_webhook_removed_and_added_again_at_once_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver
        .shared
        .behaviour
        .fail
        .store(usize::MAX, Ordering::SeqCst);
    add_webhook(dir.path(), "openhook", &receiver.url("/old"), "push", &[]);
    let server = Process::start_with(dir.path(), FAST);
    let client = reqwest::Client::new();
    push(&client, &server, "me/plain", "a1").await;
    receiver
        .wait_until(Duration::from_secs(10), |r| {
            r.iter().filter(|r| r.path == "/old").count() >= 2
        })
        .await;

    // Removed and added again under its name before the server looks.
    process::command_ok(dir.path(), &["webhook", "remove", "openhook"], "");
    process::command_ok(
        dir.path(),
        &[
            "webhook",
            "add",
            "openhook",
            "--url",
            &receiver.url("/new"),
            "--events",
            "push",
            "--secret-stdin",
        ],
        "whsec_new\n",
    );
    // The server reads the file again within a quarter of a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    receiver.shared.behaviour.fail.store(0, Ordering::SeqCst);
    push(&client, &server, "me/plain", "a2").await;
    receiver
        .wait_until(Duration::from_secs(10), |r| {
            !delivered(r, "/new", "io.sentinel.manifest.pushed").is_empty()
        })
        .await;
    // Long enough for the old event's next retry (the backoff is 100 ms,
    // doubling), had it been handed over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = receiver.received();
    let at_new: Vec<&Received> = received.iter().filter(|r| r.path == "/new").collect();
    assert_eq!(
        at_new.len(),
        1,
        "only what happened after the new webhook was added: {:#?}",
        at_new.iter().map(|r| r.event()).collect::<Vec<_>>()
    );
    assert_eq!(at_new[0].event()["data"]["tag"], "a2");
    at_new[0].assert_signed("whsec_new");

    let data_dir = dir.path().to_owned();
    let history = tokio::task::spawn_blocking(move || {
        process::command_ok(&data_dir, &["webhook", "deliveries", "openhook"], "")
    })
    .await
    .unwrap();
    assert_eq!(
        history.lines().count(),
        2,
        "a header and the new webhook's one delivery: {history}"
    );
    assert!(!history.contains(" 500 "), "{history}");
    server.terminate();
}

#[tokio::test]
async fn the_subcommands_enable_disable_and_report_a_failed_ping() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let down = Receiver::down().await;
    add_webhook(dir.path(), "ci", &receiver.url("/hook"), "push", &[]);
    add_webhook(dir.path(), "dead", &down.url("/hook"), "push", &[]);

    // No pattern: every repository.
    let listed = process::command_ok(dir.path(), &["webhook", "list"], "");
    let line = listed.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(line.contains(" yes ") && line.contains("(all)"), "{listed}");
    process::command_ok(dir.path(), &["webhook", "disable", "ci"], "");
    let listed = process::command_ok(dir.path(), &["webhook", "list"], "");
    let line = listed.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(line.contains(" no "), "{listed}");
    process::command_ok(dir.path(), &["webhook", "enable", "ci"], "");
    let listed = process::command_ok(dir.path(), &["webhook", "list"], "");
    let line = listed.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(line.contains(" yes "), "{listed}");

    let server = Process::start_with(dir.path(), FAST);
    // A ping that is not delivered: exit 1 (2 is for bad usage).
    let data_dir = dir.path().to_owned();
    let failed = tokio::task::spawn_blocking(move || {
        process::command(&data_dir, &["webhook", "test", "dead"], "")
    })
    .await
    .unwrap();
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    assert!(String::from_utf8_lossy(&failed.stderr).contains("not delivered"));

    // The history's columns line up with its header.
    let data_dir = dir.path().to_owned();
    let history = tokio::task::spawn_blocking(move || {
        process::command_ok(&data_dir, &["webhook", "deliveries", "dead"], "")
    })
    .await
    .unwrap();
    let mut lines = history.lines();
    let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
    for column in ["STATUS", "ATTEMPT", "EVENT", "TYPE", "ERROR"] {
        let at = header.find(column).unwrap();
        let starts = row.as_bytes()[at - 1] == b' ' && row.as_bytes()[at] != b' ';
        assert!(starts, "{column} is not aligned:\n{history}");
    }
    let latency_end = header.find("LATENCY").unwrap() + "LATENCY".len();
    assert_eq!(&row[latency_end - 2..latency_end], "ms", "{history}");
    server.terminate();
}
