//! `agent registry ping|health|metrics|logs|auth test` against the real
//! `sentinel-registry` in process (authentication off and on) and CNCF
//! Distribution (Debian's `docker-registry`: open, htpasswd, token auth) as
//! a child process, all on 127.0.0.1.
//!
//! Without `docker-registry` installed the Distribution tests print a line
//! saying they were skipped; with `SENTINEL_REQUIRE_INTEROP=1` (CI) they
//! fail instead.

mod common;
#[path = "support/distribution.rs"]
mod distribution;
#[path = "support/htpasswd.rs"]
mod htpasswd;
// Only the issuer itself is used here, not its record of requests.
#[allow(dead_code)]
#[path = "support/token_issuer.rs"]
mod token_issuer;

use common::{AgentHome, Run, admin_call, as_user, host};
use distribution::{Distribution, RegistryAuth};
use sentinel_conformance::{ADMIN_PASSWORD, TestRegistry};
use serde_json::{Value, json};
use token_issuer::TokenIssuer;

const USER: &str = "alice";
const PASSWORD: &str = "alice-password-1";

/// Standard output as JSON.
fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.describe()))
}

/// Pushes an agent to `host/team/app:1.0.0`, with credentials when given.
async fn push_one(home: &AgentHome, host: &str, credentials: Option<(&str, &str)>) {
    let dir = home.write_agent("app", "1.0.0");
    let reference = format!("{host}/{}/app:1.0.0", credentials.map_or("team", |c| c.0));
    let args = ["push", "--quiet", reference.as_str(), dir.to_str().unwrap()];
    let run = match credentials {
        Some((user, password)) => as_user(home, user, password, &args).await,
        None => home.run(&args).await,
    };
    assert_eq!(run.code, 0, "{}", run.describe());
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_without_authentication() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    push_one(&home, &host, None).await;

    // ping: plain HTTP, open, the API version header, a few round trips.
    let ping = home
        .ok(&["registry", "ping", &host, "--samples", "3"])
        .await;
    assert!(
        ping.stdout.contains("plain HTTP (no TLS)"),
        "{}",
        ping.stdout
    );
    assert!(ping.stdout.contains("200 (open"), "{}", ping.stdout);
    assert!(ping.stdout.contains("(3 samples)"), "{}", ping.stdout);
    let ping = json_of(
        &home
            .ok(&[
                "registry",
                "ping",
                &host,
                "--samples",
                "3",
                "--format",
                "json",
            ])
            .await,
    );
    assert_eq!(ping["status"], 200);
    assert_eq!(ping["scheme"], "http");
    assert_eq!(ping["api_version"], "registry/2.0");
    assert_eq!(ping["round_trips_ms"].as_array().unwrap().len(), 3);
    assert!(ping["min_ms"].as_f64().unwrap() <= ping["median_ms"].as_f64().unwrap());
    assert_eq!(ping["tls"], Value::Null);

    // The default registry comes from --registry like every other command.
    let by_flag = home
        .ok(&["registry", "ping", "--registry", &host, "--samples", "1"])
        .await;
    assert!(by_flag.stdout.contains(&host), "{}", by_flag.stdout);
    let nowhere = home.fails(&["registry", "ping"], 2).await;
    assert!(
        nowhere.stderr.contains("name a registry"),
        "{}",
        nowhere.stderr
    );

    // health: live, ready, each check with --detailed.
    let health = home.ok(&["registry", "health", &host, "--detailed"]).await;
    assert!(
        health.stdout.contains("ready      yes"),
        "{}",
        health.stdout
    );
    assert!(health.stdout.contains("CHECK"), "{}", health.stdout);
    assert!(health.stdout.contains("index"), "{}", health.stdout);
    let health = json_of(
        &home
            .ok(&["registry", "health", &host, "--format", "json"])
            .await,
    );
    assert_eq!(health["sentinel"], true);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["ready"], true);
    let checks: Vec<&str> = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert!(
        checks.contains(&"index") && checks.contains(&"blob_store"),
        "{checks:?}"
    );
    let yaml = home
        .ok(&["registry", "health", &host, "--format", "yaml"])
        .await;
    assert!(yaml.stdout.contains("sentinel: true"), "{}", yaml.stdout);

    // metrics: the push is counted; rates come from two samples.
    let metrics = json_of(
        &home
            .ok(&[
                "registry",
                "metrics",
                &host,
                "--interval",
                "200ms",
                "--format",
                "json",
            ])
            .await,
    );
    assert!(metrics["pushes"].as_u64().unwrap() >= 1, "{metrics}");
    assert!(metrics["requests"].as_u64().unwrap() > 0, "{metrics}");
    assert!(
        metrics["requests_per_second"].as_f64().is_some(),
        "{metrics}"
    );
    assert!(
        metrics["interval_seconds"].as_f64().unwrap() >= 0.2,
        "{metrics}"
    );
    assert!(metrics["version"].is_string(), "{metrics}");
    let totals = json_of(
        &home
            .ok(&[
                "registry",
                "metrics",
                &host,
                "--interval",
                "0s",
                "--format",
                "json",
            ])
            .await,
    );
    assert_eq!(totals["requests_per_second"], Value::Null);
    let table = home
        .ok(&["registry", "metrics", &host, "--interval", "0s"])
        .await;
    assert!(table.stdout.contains("pushes"), "{}", table.stdout);
    assert!(table.stdout.contains("totals only"), "{}", table.stdout);
    let series = json_of(
        &home
            .ok(&[
                "registry",
                "metrics",
                &host,
                "--metric",
                "sentinel_pushes_total",
                "--format",
                "json",
            ])
            .await,
    );
    assert_eq!(series["kind"], "counter");
    assert!(
        series["samples"][0]["value"].as_f64().unwrap() >= 1.0,
        "{series}"
    );
    let histogram = home
        .ok(&[
            "registry",
            "metrics",
            &host,
            "--metric",
            "sentinel_http_request_duration_seconds",
        ])
        .await;
    assert!(
        histogram.stdout.contains("_bucket{"),
        "{}",
        histogram.stdout
    );
    let missing = home
        .fails(
            &["registry", "metrics", &host, "--metric", "no_such_metric"],
            4,
        )
        .await;
    assert!(
        missing.stderr.contains("no metric named no_such_metric"),
        "{}",
        missing.stderr
    );

    // logs: no management API without authentication.
    let logs = home.fails(&["registry", "logs", &host], 13).await;
    assert!(
        logs.stderr
            .contains(&format!("{host} runs without authentication")),
        "{}",
        logs.stderr
    );

    // auth test: anonymous, and everything is open.
    let auth = json_of(
        &home
            .ok(&[
                "registry",
                "auth",
                "test",
                &host,
                "--repository",
                "team/app",
                "--format",
                "json",
            ])
            .await,
    );
    assert_eq!(auth["credential"], "anonymous");
    assert_eq!(auth["scheme"], "none");
    assert_eq!(auth["sentinel"], true);
    assert_eq!(auth["authentication_off"], true);
    assert_eq!(auth["granted"], json!(["pull", "push", "delete"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_with_authentication() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    let host = host(&registry);
    let body = json!({ "name": USER, "password": PASSWORD, "role": "publisher" });
    admin_call(&registry, reqwest::Method::POST, "/api/v1/users", body).await;
    let home = AgentHome::new();
    push_one(&home, &host, Some((USER, PASSWORD))).await;

    // ping announces the token flow, and needs no credentials.
    let ping = json_of(
        &home
            .ok(&["registry", "ping", &host, "--format", "json"])
            .await,
    );
    assert_eq!(ping["status"], 401);
    let schemes: Vec<&str> = ping["auth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|challenge| challenge["scheme"].as_str().unwrap())
        .collect();
    assert!(schemes.contains(&"bearer"), "{ping}");
    let table = home.ok(&["registry", "ping", &host]).await;
    assert!(
        table.stdout.contains("bearer realm=\"http://"),
        "{}",
        table.stdout
    );

    // health and metrics need no credentials (metrics-auth is off by default).
    let health = json_of(
        &home
            .ok(&["registry", "health", &host, "--format", "json"])
            .await,
    );
    assert_eq!(health["ready"], true);
    let metrics = json_of(
        &home
            .ok(&[
                "registry",
                "metrics",
                &host,
                "--interval",
                "0s",
                "--format",
                "json",
            ])
            .await,
    );
    assert!(metrics["pushes"].as_u64().unwrap() >= 1, "{metrics}");

    // logs: administrators only.
    let anonymous = home.fails(&["registry", "logs", &host], 3).await;
    assert!(
        anonymous.stderr.contains("authentication failed"),
        "{}",
        anonymous.stderr
    );
    let refused = as_user(&home, USER, PASSWORD, &["registry", "logs", &host]).await;
    assert_eq!(refused.code, 3, "{}", refused.describe());
    assert!(
        refused.stderr.contains("access denied"),
        "{}",
        refused.stderr
    );
    let admin = as_user(
        &home,
        "admin",
        ADMIN_PASSWORD,
        &[
            "registry", "logs", &host, "--level", "warn", "--since", "1h", "--format", "json",
        ],
    )
    .await;
    assert_eq!(admin.code, 0, "{}", admin.describe());
    assert!(json_of(&admin).is_array(), "{}", admin.stdout);
    let audit = as_user(
        &home,
        "admin",
        ADMIN_PASSWORD,
        &[
            "registry", "logs", &host, "--audit", "--user", USER, "--format", "yaml",
        ],
    )
    .await;
    assert_eq!(audit.code, 0, "{}", audit.describe());
    let table = as_user(&home, "admin", ADMIN_PASSWORD, &["registry", "logs", &host]).await;
    assert!(table.stdout.starts_with("TIME"), "{}", table.describe());

    // auth test: who the credential is and what it may do where.
    let alice = as_user(
        &home,
        USER,
        PASSWORD,
        &[
            "registry",
            "auth",
            "test",
            &host,
            "--repository",
            "alice/app",
            "--format",
            "json",
        ],
    )
    .await;
    let report = json_of(&alice);
    assert_eq!(report["credential"], "basic");
    assert_eq!(report["valid"], true);
    assert_eq!(report["user"], USER);
    assert_eq!(report["role"], "publisher");
    assert_eq!(report["admin"], false);
    assert_eq!(report["granted"], json!(["delete", "pull", "push"]));
    let elsewhere = as_user(
        &home,
        USER,
        PASSWORD,
        &["registry", "auth", "test", &host, "--repository", "bob/app"],
    )
    .await;
    assert_eq!(elsewhere.code, 0, "{}", elsewhere.describe());
    assert!(
        elsewhere
            .stdout
            .contains("bob/app: pull: no, push: no, delete: no"),
        "{}",
        elsewhere.stdout
    );
    let admin = json_of(
        &as_user(
            &home,
            "admin",
            ADMIN_PASSWORD,
            &["registry", "auth", "test", &host, "--format", "json"],
        )
        .await,
    );
    assert_eq!(admin["admin"], true);
    let wrong = as_user(
        &home,
        USER,
        "not-the-password",
        &["registry", "auth", "test", &host],
    )
    .await;
    assert_eq!(wrong.code, 3, "{}", wrong.describe());
    assert!(wrong.stderr.contains("were refused"), "{}", wrong.stderr);
    let nobody = home.fails(&["registry", "auth", "test", &host], 3).await;
    assert!(
        nobody.stderr.contains("authentication failed"),
        "{}",
        nobody.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_behind_authentication_take_the_saved_credentials() {
    let registry = TestRegistry::start_with(|settings| {
        settings.auth = Some(true);
        settings.metrics_auth = true;
    })
    .await;
    let host = host(&registry);
    let home = AgentHome::new();
    let anonymous = home.fails(&["registry", "metrics", &host], 3).await;
    assert!(
        anonymous.stderr.contains("authentication failed"),
        "{}",
        anonymous.stderr
    );
    let admin = as_user(
        &home,
        "admin",
        ADMIN_PASSWORD,
        &[
            "registry",
            "metrics",
            &host,
            "--interval",
            "0s",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(admin.code, 0, "{}", admin.describe());
    assert!(json_of(&admin)["requests"].as_u64().is_some());
    // Metrics are off: not the API this command needs.
    let off = TestRegistry::start_with(|settings| settings.metrics = false).await;
    let off = off.base_url().trim_start_matches("http://").to_string();
    let run = home.fails(&["registry", "metrics", &off], 13).await;
    assert!(
        run.stderr.contains("/metrics answered 404"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_not_ready_is_exit_12() {
    // No disk has this much free: the disk check fails, /readyz answers 503.
    let registry = TestRegistry::start_with(|settings| {
        settings.min_free_disk = sentinel_registry::DiskFloor::Bytes(u64::MAX);
    })
    .await;
    let host = host(&registry);
    let home = AgentHome::new();
    let run = home
        .fails(&["registry", "health", &host, "--detailed"], 12)
        .await;
    assert!(
        run.stderr.starts_with(&format!(
            "agent: {host} is not ready: failed checks: disk ("
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("ready      no"), "{}", run.stdout);
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);
    let json = home
        .fails(&["registry", "health", &host, "--format", "json"], 12)
        .await;
    let report = json_of(&json);
    assert_eq!(report["status"], "unavailable");
    assert_eq!(report["live"], true);
    assert_eq!(report["ready"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_or_silent_registry_is_exit_5() {
    // Nothing listens on port 1 of loopback: health cannot connect.
    let home = AgentHome::new();
    let down = home.fails(&["registry", "health", "127.0.0.1:1"], 5).await;
    assert!(
        down.stderr.contains("cannot connect to 127.0.0.1:1"),
        "{}",
        down.stderr
    );
    // A listener that never answers: --timeout ends the wait.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let hung = home
        .fails(&["registry", "health", &silent, "--timeout", "1s"], 5)
        .await;
    assert!(
        hung.stderr.contains("no answer within 1s"),
        "{}",
        hung.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    drop(listener);
}

/// Distribution in one of its authentication modes, with what a client needs.
struct Other {
    registry: Distribution,
    _issuer: Option<TokenIssuer>,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Open,
    Basic,
    Token,
}

impl Other {
    async fn start(mode: Mode) -> Option<Other> {
        let dir = tempfile::tempdir().unwrap();
        let (auth, issuer) = match mode {
            Mode::Open => (RegistryAuth::None, None),
            Mode::Basic => {
                let file = dir.path().join("htpasswd");
                htpasswd::write(&file, &[(USER, PASSWORD)]);
                let auth = RegistryAuth::Htpasswd {
                    realm: "test-realm".to_string(),
                    file,
                };
                (auth, None)
            }
            Mode::Token => {
                let issuer = TokenIssuer::start(&[(USER, PASSWORD)]).await;
                (issuer.registry_auth(), Some(issuer))
            }
        };
        let registry = Distribution::start(&auth).await?;
        Some(Other {
            registry,
            _issuer: issuer,
            _dir: dir,
        })
    }
}

async fn another_registry(mode: Mode) {
    let Some(other) = Other::start(mode).await else {
        return;
    };
    let host = other.registry.host();
    let home = AgentHome::new();
    let credentials = (mode != Mode::Open).then_some((USER, PASSWORD));
    let run = |args: Vec<String>| {
        let home = &home;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            match credentials {
                Some((user, password)) => as_user(home, user, password, &args).await,
                None => home.run(&args).await,
            }
        }
    };
    let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();

    let ping = run(args(&["registry", "ping", &host, "--format", "json"])).await;
    let ping = json_of(&ping);
    assert_eq!(ping["api_version"], "registry/2.0");
    let expected_scheme = match mode {
        Mode::Open => None,
        Mode::Basic => Some("basic"),
        Mode::Token => Some("bearer"),
    };
    assert_eq!(ping["status"], if mode == Mode::Open { 200 } else { 401 });
    assert_eq!(
        ping["auth"][0]["scheme"].as_str(),
        expected_scheme,
        "{ping}"
    );

    let health = run(args(&["registry", "health", &host, "--detailed"])).await;
    assert_eq!(health.code, 0, "{}", health.describe());
    assert!(
        health.stdout.contains(&format!(
            "{host} is not a Sentinel registry: /healthz answered 404"
        )),
        "{}",
        health.stdout
    );
    assert!(health.stdout.contains("Sentinel-only"), "{}", health.stdout);
    let health = json_of(&run(args(&["registry", "health", &host, "--format", "json"])).await);
    assert_eq!(health["sentinel"], false);
    assert_eq!(health["status"], "ok");
    assert_eq!(
        health["v2_status"],
        if mode == Mode::Open { 200 } else { 401 }
    );

    let metrics = run(args(&["registry", "metrics", &host])).await;
    assert_eq!(metrics.code, 13, "{}", metrics.describe());
    assert_eq!(
        metrics.stderr.trim_end(),
        format!("agent: {host} is not a Sentinel registry: /metrics answered 404")
    );
    let logs = run(args(&["registry", "logs", &host])).await;
    assert_eq!(logs.code, 13, "{}", logs.describe());
    assert!(
        logs.stderr.contains(&format!(
            "{host} is not a Sentinel registry: /api/v1/logs answered 404"
        )),
        "{}",
        logs.stderr
    );

    let auth = run(args(&[
        "registry",
        "auth",
        "test",
        &host,
        "--repository",
        "team/app",
        "--format",
        "json",
    ]))
    .await;
    let auth = json_of(&auth);
    assert_eq!(auth["valid"], true);
    assert_eq!(auth["sentinel"], false);
    assert_eq!(auth["admin"], Value::Null);
    match mode {
        Mode::Open => {
            assert_eq!(auth["scheme"], "none");
            assert_eq!(auth["granted"], json!(["pull", "push", "delete"]));
        }
        Mode::Basic => {
            assert_eq!(auth["scheme"], "basic");
            assert_eq!(auth["granted"], Value::Null);
            assert!(
                auth["access_note"].as_str().unwrap().contains("Basic"),
                "{auth}"
            );
        }
        Mode::Token => {
            assert_eq!(auth["scheme"], "bearer");
            // The test issuer grants pull and push, never delete: the
            // token's access claim tells.
            assert_eq!(auth["granted"], json!(["pull", "push"]));
            let table = as_user(
                &home,
                USER,
                PASSWORD,
                &[
                    "registry",
                    "auth",
                    "test",
                    &host,
                    "--repository",
                    "team/app",
                ],
            )
            .await;
            assert!(
                table
                    .stdout
                    .contains("team/app: pull: yes, push: yes, delete: no"),
                "{}",
                table.stdout
            );
        }
    }
    if mode != Mode::Open {
        let wrong = as_user(&home, USER, "wrong", &["registry", "auth", "test", &host]).await;
        assert_eq!(wrong.code, 3, "{}", wrong.describe());
        let nobody = home.fails(&["registry", "auth", "test", &host], 3).await;
        assert!(
            nobody.stderr.contains("authentication failed"),
            "{}",
            nobody.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_open() {
    another_registry(Mode::Open).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_with_htpasswd() {
    another_registry(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_with_token_auth() {
    another_registry(Mode::Token).await;
}

/// Sentinel serving HTTPS with a self-signed certificate for 127.0.0.1;
/// `agent` trusts it through `SSL_CERT_FILE`.
#[tokio::test(flavor = "multi_thread")]
async fn ping_over_https_shows_the_tls_version_and_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().expect("a certificate key");
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("certificate parameters for 127.0.0.1")
        .self_signed(&key)
        .expect("a self-signed certificate");
    let (cert, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certificate.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let settings = sentinel_registry::Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        tls_cert: Some(cert.clone()),
        tls_key: Some(key_file),
        ..sentinel_registry::Settings::default()
    };
    let server = sentinel_registry::Server::bind(settings)
        .await
        .expect("start the registry with TLS");
    let address = format!("https://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("serve over TLS");
    });

    let home = AgentHome::new();
    let ping = |format: &'static str| {
        let mut command = home.command(&[
            "registry",
            "ping",
            &address,
            "--samples",
            "2",
            "--format",
            format,
        ]);
        command.env("SSL_CERT_FILE", &cert);
        async move { Run::from(command.output().await.expect("run agent")) }
    };
    let table = ping("table").await;
    assert_eq!(table.code, 0, "{}", table.describe());
    assert!(table.stdout.contains("HTTPS, TLS 1.3"), "{}", table.stdout);
    assert!(table.stdout.contains("certificate"), "{}", table.stdout);
    let report = json_of(&ping("json").await);
    assert_eq!(report["scheme"], "https");
    assert_eq!(report["tls"]["version"], "TLS 1.3");
    assert!(
        report["tls"]["subject"].as_str().unwrap().contains("CN="),
        "{report}"
    );
    assert!(report["tls"]["days_left"].as_i64().unwrap() > 0, "{report}");
    assert!(
        report["tls"]["expires"].as_str().unwrap().ends_with('Z'),
        "{report}"
    );

    // Without the certificate trusted, the registry cannot be reached safely.
    let untrusted = home.run(&["registry", "ping", &address]).await;
    assert_eq!(untrusted.code, 5, "{}", untrusted.describe());

    let _ = stop.send(());
    task.await.unwrap();
}
