//! `agent versions`, version requirements in `agent pull`, and `agent push
//! --visibility`, against the real `sentinel-registry` in process and CNCF
//! Distribution (Debian's `docker-registry`) as a child process, both on
//! 127.0.0.1.
//!
//! Without `docker-registry` installed its tests print a line saying they
//! were skipped; with `SENTINEL_REQUIRE_INTEROP=1` (CI) they fail instead.

mod common;
#[path = "support/distribution.rs"]
mod distribution;

use common::{AgentHome, admin_call, as_user, host};
use distribution::{Distribution, RegistryAuth};
use sentinel_conformance::TestRegistry;
use serde_json::{Value, json};

/// The tags pushed for `team/planner`, in push order: versions with a
/// pre-release, a `v` prefix and build metadata, and two tags that are not
/// versions.
const TAGS: &[(&str, &str)] = &[
    ("1.2.0", "1.2.0"),
    ("v1.10.0", "1.10.0"),
    ("2.0.0-rc.1", "2.0.0-rc.1"),
    ("1.9.0", "1.9.0"),
    ("1.2.5_build.7", "1.2.5+build.7"),
    ("latest", "1.9.0"),
    ("stable", "1.9.0"),
];

/// The version tags, newest first.
const NEWEST_FIRST: &[&str] = &["2.0.0-rc.1", "v1.10.0", "1.9.0", "1.2.5_build.7", "1.2.0"];

/// Pushes every tag of [`TAGS`] to `host/team/planner`, each from an agent
/// of the version it names.
async fn push_planner(home: &AgentHome, host: &str) {
    for (tag, version) in TAGS {
        let dir = home.write_agent("planner", version);
        home.ok(&[
            "push",
            "--quiet",
            &format!("{host}/team/planner:{tag}"),
            dir.to_str().unwrap(),
        ])
        .await;
    }
}

/// `agent versions --format json` as a list of rows.
async fn json_rows(home: &AgentHome, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["versions", "--format", "json"];
    all.extend_from_slice(args);
    let run = home.ok(&all).await;
    serde_json::from_str::<Vec<Value>>(&run.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", run.stdout))
}

fn tags_of(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|row| row["tag"].as_str().unwrap().to_string())
        .collect()
}

/// Everything `agent versions` and a requirement pull must do on `host`,
/// whichever registry it is: the order, `latest`, `--all`, the formats,
/// resolution, and the errors with their exit codes.
async fn versions_and_requirements(host: &str) {
    let author = AgentHome::new();
    push_planner(&author, host).await;
    let package = format!("{host}/team/planner");

    let reader = AgentHome::new();
    let rows = json_rows(&reader, &[&package]).await;
    assert_eq!(tags_of(&rows), NEWEST_FIRST);
    let latest: Vec<&str> = rows
        .iter()
        .filter(|row| row["latest"] == json!(true))
        .map(|row| row["tag"].as_str().unwrap())
        .collect();
    assert_eq!(latest, ["v1.10.0"], "the highest that is not a pre-release");
    assert_eq!(rows[1]["version"], "1.10.0");
    assert_eq!(rows[3]["version"], "1.2.5+build.7");

    let all = json_rows(&reader, &["--all", &package]).await;
    let mut expected: Vec<&str> = NEWEST_FIRST.to_vec();
    expected.extend(["latest", "stable"]);
    assert_eq!(tags_of(&all), expected);
    assert_eq!(all[5]["version"], Value::Null);

    let table = reader.ok(&["versions", &package]).await;
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("VERSION"), "{}", table.stdout);
    assert_eq!(lines.len(), 1 + NEWEST_FIRST.len(), "{}", table.stdout);
    assert!(lines[1].starts_with("2.0.0-rc.1"), "{}", table.stdout);
    assert!(
        lines[2].contains("v1.10.0") && lines[2].ends_with("latest"),
        "{}",
        table.stdout
    );
    let yaml = reader.ok(&["versions", "--format", "yaml", &package]).await;
    assert!(yaml.stdout.contains("tag: v1.10.0"), "{}", yaml.stdout);

    // A requirement in place of a tag: the highest match, stored under its tag.
    let pulled = reader
        .ok(&["pull", "--no-extract", &format!("{package}:^1.2")])
        .await;
    assert!(
        pulled
            .stdout
            .contains(&format!("Resolved {package}:^1.2 to 1.10.0")),
        "{}",
        pulled.stdout
    );
    assert!(
        pulled.stdout.contains(&format!("pulled {package}:v1.10.0")),
        "{}",
        pulled.stdout
    );
    let images = reader.ok(&["images"]).await;
    assert!(
        images.stdout.contains(&format!("{package}:v1.10.0")),
        "{}",
        images.stdout
    );
    let range = reader
        .ok(&["pull", "--no-extract", &format!("{package}:>=1.0, <1.9")])
        .await;
    assert!(
        range.stdout.contains("to 1.2.5+build.7"),
        "{}",
        range.stdout
    );
    assert!(
        range
            .stdout
            .contains(&format!("pulled {package}:1.2.5_build.7")),
        "{}",
        range.stdout
    );
    let tilde = reader
        .ok(&["pull", "-d", "planner-1.9", &format!("{package}:~1.9")])
        .await;
    assert!(tilde.stdout.contains("to 1.9.0"), "{}", tilde.stdout);
    let definition = std::fs::read_to_string(reader.path().join("planner-1.9/agent.yaml")).unwrap();
    assert!(definition.contains("version: 1.9.0"), "{definition}");
    let pre = reader
        .ok(&[
            "pull",
            "--quiet",
            "--no-extract",
            &format!("{package}:>=2.0.0-rc.1"),
        ])
        .await;
    assert!(
        pre.stdout
            .starts_with(&format!("{package}:2.0.0-rc.1@sha256:")),
        "a requirement naming a pre-release matches it: {}",
        pre.stdout
    );

    // No match: the requirement and the highest versions seen; exit 4.
    let none = reader.fails(&["pull", &format!("{package}:^3")], 4).await;
    assert!(
        none.stderr.contains(&format!(
            "no version of {package} matches ^3 (highest: 2.0.0-rc.1, 1.10.0, 1.9.0)"
        )),
        "{}",
        none.stderr
    );
    // A malformed requirement: a clean refusal, exit 2.
    let malformed = reader.fails(&["pull", &format!("{package}:^^1")], 2).await;
    assert!(
        malformed.stderr.contains("not a version requirement"),
        "{}",
        malformed.stderr
    );
    // A package that does not exist: exit 4, for both commands.
    reader
        .fails(&["versions", &format!("{host}/team/absent")], 4)
        .await;
    reader
        .fails(&["pull", &format!("{host}/team/absent:^1")], 4)
        .await;
    // versions takes a package, not a tag.
    reader
        .fails(&["versions", &format!("{package}:1.2.0")], 2)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_versions_and_requirements() {
    let registry = TestRegistry::start().await;
    versions_and_requirements(&host(&registry)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_versions_and_requirements() {
    let Some(registry) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    versions_and_requirements(&registry.host()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requirements_resolve_over_the_configured_registries() {
    let first = TestRegistry::start().await;
    let second = TestRegistry::start().await;
    let (first, second) = (host(&first), host(&second));
    let author = AgentHome::new();
    for (registry, version) in [(&first, "1.1.0"), (&second, "1.4.0"), (&second, "2.0.0")] {
        let dir = author.write_agent("planner", version);
        author
            .ok(&[
                "push",
                "--quiet",
                &format!("{registry}/team/planner:{version}"),
                dir.to_str().unwrap(),
            ])
            .await;
    }
    let reader = AgentHome::new();
    std::fs::create_dir_all(reader.config_dir()).unwrap();
    std::fs::write(
        reader.config_dir().join("config.yaml"),
        format!(
            "registries:\n  - {{ url: \"{first}\", priority: 10 }}\n  - {{ url: \"{second}\", priority: 1 }}\n"
        ),
    )
    .unwrap();
    // The first registry has a match: it wins, as for a tag.
    let from_first = reader
        .ok(&["pull", "--no-extract", "team/planner:^1"])
        .await;
    assert!(
        from_first
            .stdout
            .contains(&format!("pulled {first}/team/planner:1.1.0")),
        "{}",
        from_first.stdout
    );
    // Only the second has one: a registry without a match is a miss.
    let from_second = reader
        .ok(&["pull", "--no-extract", "team/planner:^2"])
        .await;
    assert!(
        from_second
            .stdout
            .contains(&format!("pulled {second}/team/planner:2.0.0")),
        "{}",
        from_second.stdout
    );
    let none = reader.fails(&["pull", "team/planner:^3"], 4).await;
    assert!(
        none.stderr
            .contains("team/planner:^3 not found in any configured registry")
            && none.stderr.contains("highest: 2.0.0, 1.4.0"),
        "{}",
        none.stderr
    );
    let versions = json_rows(&reader, &["team/planner"]).await;
    assert_eq!(
        tags_of(&versions),
        ["1.1.0"],
        "the first registry that has it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn visibility_is_set_on_sentinel_after_the_push() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    let host = host(&registry);
    for user in ["alice", "bob"] {
        let body = json!({ "name": user, "password": format!("{user}-password-1") });
        admin_call(&registry, reqwest::Method::POST, "/api/v1/users", body).await;
    }
    let alice = AgentHome::new();
    let dir = alice.write_agent("planner", "1.0.0");
    let dir = dir.to_str().unwrap();
    let anonymous = AgentHome::new();
    let reference = format!("{host}/alice/planner:1.0.0");

    // Private by default: an anonymous pull is refused.
    let pushed = as_user(
        &alice,
        "alice",
        "alice-password-1",
        &["push", &reference, dir],
    )
    .await;
    assert_eq!(pushed.code, 0, "{}", pushed.describe());
    anonymous
        .fails(&["pull", "--no-extract", &reference], 3)
        .await;

    let public = as_user(
        &alice,
        "alice",
        "alice-password-1",
        &["push", "--public", &reference, dir],
    )
    .await;
    assert_eq!(public.code, 0, "{}", public.describe());
    assert!(
        public.stdout.contains("visibility: public"),
        "{}",
        public.stdout
    );
    anonymous.ok(&["pull", "--no-extract", &reference]).await;

    let private = as_user(
        &alice,
        "alice",
        "alice-password-1",
        &["push", "--visibility", "private", &reference, dir],
    )
    .await;
    assert_eq!(private.code, 0, "{}", private.describe());
    AgentHome::new()
        .fails(&["pull", "--no-extract", &reference], 3)
        .await;

    // Bob may push there, not administer it: the push happens, and he is told
    // that the visibility was not set.
    admin_call(
        &registry,
        reqwest::Method::PUT,
        "/api/v1/repositories/alice/planner/grants/bob",
        json!({ "access": "write" }),
    )
    .await;
    let bob = AgentHome::new();
    let bob_dir = bob.write_agent("planner", "1.1.0");
    let refused = as_user(
        &bob,
        "bob",
        "bob-password-1",
        &[
            "push",
            "--public",
            &format!("{host}/alice/planner:1.1.0"),
            bob_dir.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(refused.code, 3, "{}", refused.describe());
    assert!(
        refused.stderr.starts_with(&format!(
            "agent: pushed {host}/alice/planner:1.1.0, but its visibility was not set to public: access denied"
        )),
        "{}",
        refused.stderr
    );
    let rows = json_rows_as(&alice, "alice", &format!("{host}/alice/planner")).await;
    assert_eq!(
        tags_of(&rows),
        ["1.1.0", "1.0.0"],
        "the push itself happened"
    );

    // No credentials at all: refused before anything is pushed.
    let nobody = AgentHome::new();
    let nobody_dir = nobody.write_agent("planner", "1.2.0");
    let unauthenticated = nobody
        .fails(
            &[
                "push",
                "--public",
                &format!("{host}/alice/planner:1.2.0"),
                nobody_dir.to_str().unwrap(),
            ],
            3,
        )
        .await;
    assert!(
        unauthenticated.stderr.contains("authentication failed"),
        "{}",
        unauthenticated.stderr
    );
}

/// `agent versions --format json` as `user`.
async fn json_rows_as(home: &AgentHome, user: &str, package: &str) -> Vec<Value> {
    let run = as_user(
        home,
        user,
        &format!("{user}-password-1"),
        &["versions", "--format", "json", package],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.describe());
    serde_json::from_str(&run.stdout).unwrap()
}

/// `--public` where no visibility can be set: refused, exit 2, nothing pushed.
async fn assert_visibility_refused_before_pushing(host: &str, expected: &str) {
    let home = AgentHome::new();
    let dir = home.write_agent("planner", "1.0.0");
    let refused = home
        .fails(
            &[
                "push",
                "--public",
                &format!("{host}/team/planner:1.0.0"),
                dir.to_str().unwrap(),
            ],
            2,
        )
        .await;
    assert!(
        refused.stderr.contains(expected) && refused.stderr.contains("nothing was pushed"),
        "{}",
        refused.stderr
    );
    home.fails(&["versions", &format!("{host}/team/planner")], 4)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn visibility_is_refused_on_distribution_before_pushing() {
    let Some(registry) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    assert_visibility_refused_before_pushing(&registry.host(), "has no Sentinel management API")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn visibility_is_refused_on_sentinel_without_authentication() {
    let registry = TestRegistry::start().await;
    assert_visibility_refused_before_pushing(&host(&registry), "runs without authentication").await;
}
