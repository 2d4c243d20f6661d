//! `agent configure retention|quota` against the real `sentinel-registry`
//! in process, with authentication on, on 127.0.0.1: an administrator sets
//! the rules, a publisher reads their own namespace's usage and may not
//! change anything.

mod common;

use common::{AgentHome, Run};
use sentinel_conformance::{ADMIN_PASSWORD, TestRegistry};
use serde_json::{Value, json};

const USER: &str = "alice";
const PASSWORD: &str = "alice-password-1";

/// `agent ARGS --registry HOST` as `user`.
async fn as_user(home: &AgentHome, host: &str, user: &str, password: &str, args: &[&str]) -> Run {
    let mut args = args.to_vec();
    args.extend(["--registry", host]);
    common::as_user(home, user, password, &args).await
}

/// `agent ARGS` as the administrator.
async fn as_admin(home: &AgentHome, args: &[&str]) -> Run {
    common::as_user(home, "admin", ADMIN_PASSWORD, args).await
}

/// Asserts `run` failed with `code` and one line on stderr containing `words`.
fn refused(run: Run, code: i32, words: &str) -> Run {
    assert_eq!(run.code, code, "{}", run.describe());
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(words), "{}", run.describe());
    run
}

fn json_of(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.describe());
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.describe()))
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_configure_quotas_and_retention_and_users_read_their_usage() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    let host = registry
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let created = reqwest::Client::new()
        .post(registry.url("/api/v1/users"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!({ "name": USER, "password": PASSWORD, "role": "publisher" }))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let home = AgentHome::new();
    let admin = |args: &'static [&'static str]| {
        let (home, host) = (&home, host.as_str());
        async move { as_user(home, host, "admin", ADMIN_PASSWORD, args).await }
    };
    let alice = |args: &'static [&'static str]| {
        let (home, host) = (&home, host.as_str());
        async move { as_user(home, host, USER, PASSWORD, args).await }
    };

    // alice pushes into her namespace.
    let dir = home.write_agent("app", "1.0.0");
    let reference = format!("{host}/{USER}/app:1.0.0");
    let pushed = as_user(
        &home,
        &host,
        USER,
        PASSWORD,
        &["push", "--quiet", &reference, dir.to_str().unwrap()],
    )
    .await;
    assert_eq!(pushed.code, 0, "{}", pushed.describe());

    let set = json_of(
        &admin(&[
            "configure",
            "quota",
            "set",
            "alice",
            "1MiB",
            "--format",
            "json",
        ])
        .await,
    );
    assert_eq!(set["quota"], 1 << 20);
    let used = set["usage"].as_u64().unwrap();
    assert!(used > 0, "{set}");
    let listed = json_of(&admin(&["configure", "quota", "list", "--format", "json"]).await);
    assert_eq!(
        listed,
        json!([{"namespace": "alice", "usage": used, "quota": 1 << 20, "source": "file"}])
    );
    let table = admin(&["configure", "quota", "list"]).await;
    assert!(
        table.stdout.contains("NAMESPACE") && table.stdout.contains("1.0 MiB"),
        "{}",
        table.describe()
    );

    // The registry may also be the last positional argument, as for every
    // `agent configure` command; a namespace where it goes is refused.
    let positional = json_of(
        &as_admin(
            &home,
            &["configure", "quota", "list", &host, "--format", "json"],
        )
        .await,
    );
    assert_eq!(positional, listed);
    let usage = json_of(
        &as_admin(
            &home,
            &[
                "configure",
                "quota",
                "usage",
                "alice",
                &host,
                "--format",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(usage["quota"], 1 << 20);
    let set_again = json_of(
        &as_admin(
            &home,
            &[
                "configure",
                "quota",
                "set",
                "alice",
                "1MiB",
                &host,
                "--format",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(set_again["quota"], 1 << 20);
    refused(
        as_admin(&home, &["configure", "quota", "list", "alice"]).await,
        2,
        "\"alice\" is not a registry",
    );

    // alice sees her own usage, but changes nothing.
    let usage =
        json_of(&alice(&["configure", "quota", "usage", "alice", "--format", "json"]).await);
    assert_eq!(usage["usage"].as_u64(), Some(used));
    let refused = alice(&["configure", "quota", "set", "alice", "1GiB"]).await;
    assert_eq!(refused.code, 3, "{}", refused.describe());
    assert!(
        refused.stderr.contains("only an administrator"),
        "{}",
        refused.stderr
    );
    let refused = alice(&["configure", "quota", "usage", "admin"]).await;
    assert_eq!(refused.code, 3, "{}", refused.describe());

    // agent registry metrics shows the namespace too.
    let metrics = as_user(
        &home,
        &host,
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
    let metrics = json_of(&metrics);
    assert_eq!(
        metrics["namespaces"],
        json!([{"namespace": "alice", "usage": used, "quota": 1 << 20}])
    );

    // Retention policies.
    let set = json_of(
        &admin(&[
            "configure",
            "retention",
            "set",
            "alice/*",
            "--keep-last",
            "2",
            "--keep-matching",
            ">=1.0.0",
            "--no-keep-signed",
            "--format",
            "json",
        ])
        .await,
    );
    assert_eq!(
        (set["keep_last"].as_u64(), set["keep_signed"].as_bool()),
        (Some(2), Some(false))
    );
    let listed = json_of(&admin(&["configure", "retention", "list", "--format", "json"]).await);
    assert_eq!(listed[0]["repositories"], "alice/*");
    let positional = json_of(
        &as_admin(
            &home,
            &["configure", "retention", "list", &host, "--format", "json"],
        )
        .await,
    );
    assert_eq!(positional, listed);
    assert_eq!(listed[0]["keep_matching"], ">=1.0.0");
    let empty = admin(&["configure", "retention", "set", "alice/*"]).await;
    assert_eq!(empty.code, 2, "{}", empty.describe());
    let refused = alice(&["configure", "retention", "list"]).await;
    assert_eq!(refused.code, 3, "{}", refused.describe());
    let removed = admin(&["configure", "retention", "remove", "alice/*"]).await;
    assert_eq!(removed.code, 0, "{}", removed.describe());
    let missing = admin(&["configure", "retention", "remove", "alice/*"]).await;
    assert_eq!(missing.code, 4, "{}", missing.describe());
    let removed = admin(&["configure", "quota", "remove", "alice"]).await;
    assert_eq!(removed.code, 0, "{}", removed.describe());
    let usage =
        json_of(&alice(&["configure", "quota", "usage", "alice", "--format", "json"]).await);
    assert_eq!(usage["quota"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_quotas_and_policies_are_usage_errors_before_anything_is_sent() {
    let home = AgentHome::new();
    // Nothing listens on port 1: a request sent would be exit 5.
    let nowhere = ["--registry", "127.0.0.1:1"];
    let cases: &[(&[&str], &str)] = &[
        (&["quota", "set", "acme", "10XB"], "invalid size \"10XB\""),
        (
            &["quota", "set", "Bad/ns", "1MB"],
            "invalid namespace \"Bad/ns\"",
        ),
        (
            &["quota", "usage", "Bad/ns"],
            "invalid namespace \"Bad/ns\"",
        ),
        (
            &["quota", "remove", "Bad/ns"],
            "invalid namespace \"Bad/ns\"",
        ),
        (
            &["retention", "set", "x/*", "--keep-matching", "garbage"],
            "--keep-matching \"garbage\"",
        ),
        (
            &["retention", "set", "Bad*", "--keep-last", "1"],
            "invalid repository pattern",
        ),
        (
            &["retention", "remove", "a/*/b"],
            "invalid repository pattern",
        ),
    ];
    for (command, words) in cases {
        let mut args = vec!["configure"];
        args.extend_from_slice(command);
        args.extend_from_slice(&nowhere);
        let run = refused(home.run(&args).await, 2, words);
        assert!(!run.stderr.contains("%2F"), "{}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_set_immutable_tags_and_run_retention() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    let host = common::host(&registry);
    let home = AgentHome::new();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let dir = home.write_agent("app", version);
        let reference = format!("{host}/team/app:{version}");
        let pushed = as_admin(
            &home,
            &["push", "--quiet", &reference, dir.to_str().unwrap()],
        )
        .await;
        assert_eq!(pushed.code, 0, "{}", pushed.describe());
    }

    // Immutability rules: set, list, refuse a bad tag pattern, remove.
    let set = json_of(
        &as_admin(
            &home,
            &[
                "configure",
                "immutable",
                "set",
                "team/*",
                "--tag",
                "release-*",
                "--tag",
                "v*",
                &host,
                "--format",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(set["repositories"], "team/*");
    assert_eq!(set["tags"], json!(["release-*", "v*"]));
    let listed = json_of(
        &as_admin(
            &home,
            &["configure", "immutable", "list", &host, "--format", "json"],
        )
        .await,
    );
    assert_eq!(
        listed,
        json!([{"repositories": "team/*", "tags": ["release-*", "v*"], "source": "file"}])
    );
    let table = as_admin(&home, &["configure", "immutable", "list", &host]).await;
    assert!(
        table.stdout.contains("team/*") && table.stdout.contains("release-*,v*"),
        "{}",
        table.describe()
    );
    refused(
        as_admin(
            &home,
            &[
                "configure",
                "immutable",
                "set",
                "team/*",
                "--tag",
                "no spaces",
                &host,
            ],
        )
        .await,
        2,
        "invalid tag pattern \"no spaces\"",
    );
    let removed = as_admin(
        &home,
        &["configure", "immutable", "remove", "team/*", &host],
    )
    .await;
    assert_eq!(removed.code, 0, "{}", removed.describe());
    refused(
        as_admin(
            &home,
            &["configure", "immutable", "remove", "team/*", &host],
        )
        .await,
        4,
        "team/*",
    );

    // Retention: a dry run lists what would go and deletes nothing; a run deletes it.
    let policy = as_admin(
        &home,
        &[
            "configure",
            "retention",
            "set",
            "team/app",
            "--keep-last",
            "1",
            "--no-keep-signed",
            &host,
        ],
    )
    .await;
    assert_eq!(policy.code, 0, "{}", policy.describe());
    let dry = as_admin(
        &home,
        &["configure", "retention", "run", "--dry-run", &host],
    )
    .await;
    assert_eq!(dry.code, 0, "{}", dry.describe());
    assert!(
        dry.stdout.contains("would remove 2 of 3 versions")
            && dry.stdout.contains("1.0.0")
            && dry.stdout.contains("1.1.0")
            && !dry.stdout.contains("1.2.0"),
        "{}",
        dry.stdout
    );
    let again = json_of(
        &as_admin(
            &home,
            &[
                "configure",
                "retention",
                "run",
                "--dry-run",
                &host,
                "--format",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(again["dry_run"], true);
    assert_eq!(again["removed"].as_array().map(Vec::len), Some(2));
    let run = as_admin(&home, &["configure", "retention", "run", &host]).await;
    assert_eq!(run.code, 0, "{}", run.describe());
    assert!(
        run.stdout.contains("removed 2 of 3 versions"),
        "{}",
        run.stdout
    );
    let after = json_of(
        &as_admin(
            &home,
            &[
                "configure",
                "retention",
                "run",
                "--dry-run",
                &host,
                "--format",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(after["removed"], json!([]));
    let gone = as_admin(
        &home,
        &["pull", "--no-extract", &format!("{host}/team/app:1.0.0")],
    )
    .await;
    assert_eq!(gone.code, 4, "{}", gone.describe());
}
