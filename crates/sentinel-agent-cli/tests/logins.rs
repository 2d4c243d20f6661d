//! What `agent login` saves works for every API of a Sentinel registry
//! (`/v2/`, the package API, the management API), whether it is the
//! identity token a password login earns or a personal access token given
//! with `--token` or `AGENT_REGISTRY_TOKEN`.

mod common;

use std::process::Stdio;

use common::{AgentHome, Run};
use sentinel_conformance::{ADMIN_PASSWORD, TestRegistry};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

const USER: &str = "alice";
const PASSWORD: &str = "alice-password-1";

fn host(registry: &TestRegistry) -> String {
    registry
        .base_url()
        .trim_start_matches("http://")
        .to_string()
}

/// A management API call as the bootstrap admin; returns the JSON answer.
async fn admin_call(registry: &TestRegistry, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(registry.url(path))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// `agent login HOST --username alice --password-stdin`.
async fn login_with_password(home: &AgentHome, host: &str) -> Run {
    let mut child = home
        .command(&["login", host, "--username", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    Run::from(child.wait_with_output().await.unwrap())
}

/// Pushes `alice/NAME:1.0.0`, searches, and asks who the credential is,
/// with `env` set: every API answers as alice.
async fn use_every_api(home: &AgentHome, host: &str, name: &str, env: &[(&str, &str)]) {
    let dir = home.write_agent(name, "1.0.0");
    let reference = format!("{host}/{USER}/{name}:1.0.0");
    let run = |args: Vec<String>| {
        let mut command = home.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        for (key, value) in env {
            command.env(key, value);
        }
        async move { Run::from(command.output().await.unwrap()) }
    };
    let pushed = run(vec![
        "push".into(),
        "--quiet".into(),
        reference.clone(),
        dir.to_str().unwrap().into(),
    ])
    .await;
    assert_eq!(pushed.code, 0, "push: {}", pushed.describe());
    let searched = run(vec![
        "search".into(),
        name.into(),
        "--registry".into(),
        host.into(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(searched.code, 0, "search: {}", searched.describe());
    assert!(searched.stdout.contains(name), "{}", searched.stdout);
    let tested = run(vec![
        "registry".into(),
        "auth".into(),
        "test".into(),
        host.into(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(tested.code, 0, "auth test: {}", tested.describe());
    let answer: Value = serde_json::from_str(&tested.stdout).unwrap();
    assert_eq!(answer["sentinel"], true, "{answer}");
    assert_eq!(answer["user"], USER, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_login_and_a_token_login_open_every_api() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    let host = host(&registry);
    admin_call(
        &registry,
        "/api/v1/users",
        json!({ "name": USER, "password": PASSWORD, "role": "publisher" }),
    )
    .await;
    let token = admin_call(
        &registry,
        "/api/v1/tokens",
        json!({ "name": "ci", "user": USER }),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A password login keeps an identity token in place of the password.
    let home = AgentHome::new();
    let login = login_with_password(&home, &host).await;
    assert_eq!(login.code, 0, "{}", login.describe());
    use_every_api(&home, &host, "by-password", &[]).await;

    // A personal access token given to login.
    let home = AgentHome::new();
    home.ok(&["login", &host, "--token", &token]).await;
    use_every_api(&home, &host, "by-token", &[]).await;

    // A personal access token in the environment, without a login.
    let home = AgentHome::new();
    use_every_api(&home, &host, "by-env", &[("AGENT_REGISTRY_TOKEN", &token)]).await;
}
