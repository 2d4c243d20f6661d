//! `agent configure webhook add|list|remove|test` against the real
//! `sentinel-registry` in process, with a real receiver on 127.0.0.1.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::{AgentHome, Run};
use sentinel_conformance::{ADMIN_PASSWORD, TestRegistry};
use serde_json::{Value, json};

fn host(registry: &TestRegistry) -> String {
    registry
        .base_url()
        .trim_start_matches("http://")
        .to_string()
}

/// `agent ARGS` as `user`, with `stdin`.
async fn as_user(home: &AgentHome, user: &str, password: &str, args: &[&str], stdin: &str) -> Run {
    use tokio::io::AsyncWriteExt as _;
    let mut child = home
        .command(args)
        .env("DOCKER_USERNAME", user)
        .env("DOCKER_PASSWORD", password)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run agent");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    Run::from(child.wait_with_output().await.expect("wait for agent"))
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.describe()))
}

/// A receiver answering 204 to everything, keeping the bodies and signatures.
async fn receiver() -> (String, Arc<Mutex<Vec<(HeaderMap, Bytes)>>>) {
    let received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let kept = Arc::clone(&received);
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let kept = Arc::clone(&kept);
        async move {
            kept.lock().unwrap().push((headers, body));
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_configured_by_administrators() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    let host = host(&registry);
    let created = reqwest::Client::new()
        .post(registry.url("/api/v1/users"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!({"name": "alice", "password": "alice-password-1", "role": "publisher"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let (url, received) = receiver().await;
    let home = AgentHome::new();
    let admin = |args: Vec<String>, stdin: &'static str| {
        let home = &home;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            as_user(home, "admin", ADMIN_PASSWORD, &args, stdin).await
        }
    };
    let args = |list: &[&str]| -> Vec<String> { list.iter().map(|s| (*s).to_owned()).collect() };

    let added = admin(
        args(&[
            "configure",
            "webhook",
            "add",
            "--name",
            "ci",
            "--url",
            &url,
            "--events",
            "push,pull",
            "--repository",
            "team/*",
            "--secret-stdin",
            &host,
            "--format",
            "json",
        ]),
        "my-secret\n",
    )
    .await;
    assert_eq!(added.code, 0, "{}", added.describe());
    let added = json_of(&added);
    assert_eq!(added["name"], "ci");
    assert_eq!(added["repositories"], "team/*");

    let listed = admin(args(&["configure", "webhook", "list", &host]), "").await;
    assert_eq!(listed.code, 0, "{}", listed.describe());
    assert!(
        listed.stdout.contains("ci") && listed.stdout.contains(&url),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.contains("manifest.pushed"),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("my-secret"));

    let tested = admin(args(&["configure", "webhook", "test", "ci", &host]), "").await;
    assert_eq!(tested.code, 0, "{}", tested.describe());
    assert!(tested.stdout.contains("204"), "{}", tested.stdout);
    let (headers, body) = received.lock().unwrap()[0].clone();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["type"], "io.sentinel.ping");
    assert!(
        headers["x-sentinel-signature"]
            .to_str()
            .unwrap()
            .starts_with("sha256=")
    );

    // A package pushed and pulled: published and pulled events, with the package.
    let publish = admin(
        args(&[
            "configure",
            "webhook",
            "add",
            "--name",
            "packages",
            "--url",
            &url,
            "--events",
            "publish,pull",
            &host,
        ]),
        "",
    )
    .await;
    assert_eq!(publish.code, 0, "{}", publish.describe());
    assert!(
        publish.stdout.contains("secret (shown once): whsec_"),
        "{}",
        publish.stdout
    );
    let dir = home.write_agent("app", "1.0.0");
    let reference = format!("{host}/team/app:1.0.0");
    let pushed = admin(
        args(&["push", "--quiet", &reference, dir.to_str().unwrap()]),
        "",
    )
    .await;
    assert_eq!(pushed.code, 0, "{}", pushed.describe());
    let pulled = admin(args(&["pull", "--no-extract", "--quiet", &reference]), "").await;
    assert_eq!(pulled.code, 0, "{}", pulled.describe());
    let key = admin(args(&["key", "generate", "--name", "ci"]), "").await;
    assert_eq!(key.code, 0, "{}", key.describe());
    let signed = admin(args(&["sign", "--key", "ci", &reference]), "").await;
    assert_eq!(signed.code, 0, "{}", signed.describe());
    let types = |received: &[(HeaderMap, Bytes)]| -> Vec<Value> {
        received
            .iter()
            .map(|(_, body)| serde_json::from_slice::<Value>(body).unwrap())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let events = loop {
        let events = types(&received.lock().unwrap());
        let published = events
            .iter()
            .any(|e| e["type"] == "io.sentinel.package.published");
        let pulled = events
            .iter()
            .any(|e| e["type"] == "io.sentinel.manifest.pulled");
        if published && pulled {
            break events;
        }
        assert!(std::time::Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let published = events
        .iter()
        .find(|e| e["type"] == "io.sentinel.package.published")
        .unwrap();
    assert_eq!(published["subject"], "team/app@1.0.0");
    assert_eq!(
        published["data"]["package"],
        json!({"name": "app", "kind": "agent"})
    );
    assert_eq!(published["data"]["version"], "1.0.0");
    assert_eq!(published["data"]["actor"], "admin");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "io.sentinel.manifest.pushed")
    );

    // Bad input is a usage error; a publisher may not; unknown names are not found.
    let invalid = admin(
        args(&[
            "configure",
            "webhook",
            "add",
            "--name",
            "x",
            "--url",
            "ftp://x/",
            "--events",
            "push",
            &host,
        ]),
        "",
    )
    .await;
    assert_eq!(invalid.code, 2, "{}", invalid.describe());
    let denied = as_user(
        &home,
        "alice",
        "alice-password-1",
        &["configure", "webhook", "list", &host],
        "",
    )
    .await;
    assert_eq!(denied.code, 3, "{}", denied.describe());
    let removed = admin(args(&["configure", "webhook", "remove", "ci", &host]), "").await;
    assert_eq!(removed.code, 0, "{}", removed.describe());
    let missing = admin(args(&["configure", "webhook", "test", "ci", &host]), "").await;
    assert_eq!(missing.code, 4, "{}", missing.describe());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_without_authentication_has_no_webhooks_to_configure() {
    let registry = TestRegistry::start().await;
    let home = AgentHome::new();
    let run = home
        .fails(&["configure", "webhook", "list", &host(&registry)], 13)
        .await;
    assert!(
        run.stderr.contains("sentinel-registry webhook"),
        "{}",
        run.describe()
    );
}
