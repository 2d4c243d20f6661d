//! `agent configure permission|visibility|rate-limit` against the real
//! Sentinel server over HTTP on loopback, with authentication on: grants and
//! visibility decide who may pull, rate limits change live and survive a
//! restart, and callers who may not are refused with exit code 3. Every
//! `agent configure` command, against a registry without authentication or
//! with no registry at all, is refused the same way.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use common::{AgentHome, Run, admin_call, as_user, host};
use sentinel_conformance::{ADMIN_PASSWORD, TestRegistry};
use serde_json::{Value, json};

/// Authentication failed or access denied (docs/agent-cli.md).
const AUTH: i32 = 3;
/// A bad argument.
const USAGE: i32 = 2;
/// Not found.
const NOT_FOUND: i32 = 4;
/// The registry lacks the Sentinel API the command needs.
const UNSUPPORTED: i32 = 13;

/// Requests in each burst of the rate-limit test.
const BURST: usize = 30;

async fn start() -> TestRegistry {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    for user in ["alice", "bob"] {
        let body = json!({ "name": user, "password": format!("{user}-password-1") });
        admin_call(&registry, reqwest::Method::POST, "/api/v1/users", body).await;
    }
    registry
}

async fn as_alice(home: &AgentHome, args: &[&str]) -> Run {
    as_user(home, "alice", "alice-password-1", args).await
}

async fn as_bob(home: &AgentHome, args: &[&str]) -> Run {
    as_user(home, "bob", "bob-password-1", args).await
}

async fn as_admin(home: &AgentHome, args: &[&str]) -> Run {
    as_user(home, "admin", ADMIN_PASSWORD, args).await
}

fn succeeded(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}", run.describe());
    run
}

fn refused(run: Run, code: i32, words: &str) -> Run {
    assert_eq!(run.code, code, "{}", run.describe());
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(words), "{}", run.stderr);
    run
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.describe()))
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_and_visibility_decide_who_pulls() {
    let registry = start().await;
    let host = host(&registry);
    let repository = format!("{host}/alice/planner");
    let reference = format!("{repository}:1.0.0");
    let alice = AgentHome::new();
    let dir = alice.write_agent("planner", "1.0.0");
    succeeded(
        as_alice(
            &alice,
            &["push", "--quiet", &reference, dir.to_str().unwrap()],
        )
        .await,
    );
    let bob = AgentHome::new();
    let pull = ["pull", "--no-extract", reference.as_str()];

    // Private by default: bob may not pull until alice grants him read.
    refused(as_bob(&bob, &pull).await, AUTH, "");
    let granted = succeeded(
        as_alice(
            &alice,
            &[
                "configure",
                "permission",
                "add",
                &repository,
                "--user",
                "bob",
                "--permission",
                "read",
            ],
        )
        .await,
    );
    assert_eq!(
        granted.stdout.trim(),
        "granted read on alice/planner to bob"
    );
    succeeded(as_bob(&bob, &pull).await);
    let listed = json_of(&succeeded(
        as_alice(
            &alice,
            &[
                "configure",
                "permission",
                "list",
                &repository,
                "--format",
                "json",
            ],
        )
        .await,
    ));
    assert_eq!(listed["visibility"], "private");
    assert_eq!(listed["grants"], json!({ "bob": "read" }));
    let table =
        succeeded(as_alice(&alice, &["configure", "permission", "list", &repository]).await);
    assert!(table.stdout.contains("bob"), "{}", table.stdout);

    // Bob may pull, not administer; an unknown user and a mismatched
    // permission are refused with their own codes.
    refused(
        as_bob(
            &bob,
            &[
                "configure",
                "permission",
                "add",
                &repository,
                "--user",
                "bob",
                "--permission",
                "admin",
            ],
        )
        .await,
        AUTH,
        "only an administrator of repository alice/planner",
    );
    refused(
        as_alice(
            &alice,
            &[
                "configure",
                "permission",
                "add",
                &repository,
                "--user",
                "carol",
                "--permission",
                "read",
            ],
        )
        .await,
        NOT_FOUND,
        "carol",
    );
    refused(
        as_alice(
            &alice,
            &[
                "configure",
                "permission",
                "remove",
                &repository,
                "--user",
                "bob",
                "--permission",
                "write",
            ],
        )
        .await,
        USAGE,
        "bob's grant on alice/planner is read, not write",
    );
    refused(
        as_alice(&alice, &["configure", "permission", "list", &reference]).await,
        USAGE,
        "names a tag or digest",
    );

    // Removing the grant takes bob's pull away again.
    succeeded(
        as_alice(
            &alice,
            &[
                "configure",
                "permission",
                "remove",
                &repository,
                "--user",
                "bob",
            ],
        )
        .await,
    );
    refused(as_bob(&bob, &pull).await, AUTH, "");

    // Visibility: public lets anyone pull, private takes it back.
    let anonymous = AgentHome::new();
    refused(anonymous.run(&pull).await, AUTH, "");
    let public =
        succeeded(as_alice(&alice, &["configure", "visibility", &repository, "public"]).await);
    assert_eq!(public.stdout.trim(), "alice/planner is now public");
    anonymous.ok(&pull).await;
    refused(
        as_bob(&bob, &["configure", "visibility", &repository, "private"]).await,
        AUTH,
        "only an administrator of repository alice/planner",
    );
    succeeded(as_alice(&alice, &["configure", "visibility", &repository, "private"]).await);
    refused(AgentHome::new().run(&pull).await, AUTH, "");
}

/// Sends `BURST` requests to `/v2/` at once-ish (one after another, each
/// bounded in time) and counts the 429s.
async fn too_many_of_a_burst(registry: &TestRegistry) -> usize {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut refused = 0;
    for _ in 0..BURST {
        let status = client
            .get(registry.url("/v2/"))
            .send()
            .await
            .unwrap()
            .status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    refused
}

async fn limits(home: &AgentHome, registry: &TestRegistry, extra: &[&str]) -> Value {
    let host = host(registry);
    let mut args = vec!["configure", "rate-limit", host.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    json_of(&succeeded(as_admin(home, &args).await))
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_change_live_and_survive_a_restart() {
    let registry = start().await;
    let admin = AgentHome::new();
    let shown = limits(&admin, &registry, &[]).await;
    assert_eq!(shown["per_address"]["requests_per_minute"], 0);
    assert_eq!(shown["source"], "settings");

    // Only an administrator may see or change them.
    let host = host(&registry);
    refused(
        as_bob(
            &AgentHome::new(),
            &[
                "configure",
                "rate-limit",
                &host,
                "--requests-per-minute",
                "60",
            ],
        )
        .await,
        AUTH,
        "only an administrator may change rate limits",
    );
    refused(
        as_bob(&AgentHome::new(), &["configure", "rate-limit", &host]).await,
        AUTH,
        "only an administrator may see the rate limits",
    );
    assert_eq!(too_many_of_a_burst(&registry).await, 0, "no limit yet");

    // 60 a minute in bursts of 5 per address: most of a burst is refused at once.
    let changed = limits(
        &admin,
        &registry,
        &[
            "--requests-per-minute",
            "60",
            "--burst-size",
            "5",
            "--per",
            "address",
        ],
    )
    .await;
    assert_eq!(
        changed["per_address"],
        json!({ "requests_per_minute": 60, "burst_size": 5 })
    );
    assert_eq!(changed["per_user"]["requests_per_minute"], 0);
    assert_eq!(changed["source"], "file");
    let refused_now = too_many_of_a_burst(&registry).await;
    assert!(
        refused_now >= BURST - 10,
        "{refused_now} of {BURST} refused"
    );

    // A restart keeps the change.
    let registry = registry.restart().await;
    let kept = limits(&admin, &registry, &[]).await;
    assert_eq!(kept["per_address"], changed["per_address"]);
    assert_eq!(kept["source"], "file");
    let table =
        succeeded(as_admin(&admin, &["configure", "rate-limit", &self::host(&registry)]).await);
    assert!(
        table.stdout.contains("60 requests per minute, bursts of 5"),
        "{}",
        table.stdout
    );
    let refused_after_restart = too_many_of_a_burst(&registry).await;
    assert!(
        refused_after_restart >= BURST - 10,
        "{refused_after_restart} of {BURST} refused"
    );

    // A reset returns to the settings (once the bucket has a request again).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reset = limits(&admin, &registry, &["--reset"]).await;
    assert_eq!(reset["source"], "settings");
    assert_eq!(reset["per_address"]["requests_per_minute"], 0);
    assert_eq!(too_many_of_a_burst(&registry).await, 0, "no limit again");
    let again = registry.restart().await;
    assert_eq!(limits(&admin, &again, &[]).await["source"], "settings");
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_refusals_name_the_flags() {
    let registry = start().await;
    let host = host(&registry);
    let admin = AgentHome::new();
    // The per-user limit is off, so a burst for it alone needs a rate: the
    // registry refuses, in the words of the flags.
    let run = refused(
        as_admin(
            &admin,
            &[
                "configure",
                "rate-limit",
                &host,
                "--burst-size",
                "5",
                "--per",
                "user",
            ],
        )
        .await,
        USAGE,
        "--requests-per-minute",
    );
    assert!(
        !run.stderr.contains("requests_per_minute"),
        "{}",
        run.stderr
    );
    // A burst with no rate at all is refused before anything is sent
    // (nothing listens on port 1).
    let run = refused(
        admin
            .run(&[
                "configure",
                "rate-limit",
                "127.0.0.1:1",
                "--requests-per-minute",
                "0",
                "--burst-size",
                "5",
            ])
            .await,
        USAGE,
        "--requests-per-minute",
    );
    assert!(run.stderr.contains("--burst-size"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_authentication_every_configure_command_has_no_management_api() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let repository = format!("{host}/alice/planner");
    let home = AgentHome::new();
    let commands: &[&[&str]] = &[
        &["quota", "set", "foo", "1MB", "--registry", &host],
        &["quota", "list", "--registry", &host],
        &["quota", "usage", "foo", "--registry", &host],
        &["quota", "remove", "foo", "--registry", &host],
        &["retention", "list", "--registry", &host],
        &[
            "retention",
            "set",
            "x/*",
            "--keep-last",
            "1",
            "--registry",
            &host,
        ],
        &["retention", "remove", "x/*", "--registry", &host],
        &["retention", "run", "--dry-run", &host],
        &["immutable", "list", &host],
        &["immutable", "set", "x/*", "--tag", "v*", &host],
        &["immutable", "remove", "x/*", &host],
        &["webhook", "list", &host],
        &["rate-limit", &host],
        &["permission", "list", &repository],
        &["visibility", "alice/planner", "public", "--registry", &host],
    ];
    let expected = format!("{host} runs without authentication, so it has no management API");
    for command in commands {
        let mut args = vec!["configure"];
        args.extend_from_slice(command);
        let run = refused(home.run(&args).await, UNSUPPORTED, &expected);
        assert!(
            run.stderr.contains("`sentinel-registry "),
            "{command:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn configure_with_no_registry_given_is_a_usage_error() {
    let home = AgentHome::new();
    let commands: &[&[&str]] = &[
        &[
            "permission",
            "add",
            "alice/ret",
            "--user",
            "bob",
            "--permission",
            "read",
        ],
        &["permission", "list", "alice/ret"],
        &["visibility", "alice/ret", "public"],
        &["rate-limit"],
        &["webhook", "list"],
        &["quota", "list"],
        &["quota", "usage", "alice"],
        &["retention", "list"],
    ];
    for command in commands {
        let mut args = vec!["configure"];
        args.extend_from_slice(command);
        let run = refused(home.run(&args).await, USAGE, "no registry given");
        assert!(
            run.stderr.contains("--registry")
                && run.stderr.contains("default_registry")
                && !run.stderr.contains("docker.io"),
            "{command:?}: {}",
            run.stderr
        );
    }
}
