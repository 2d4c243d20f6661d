//! `agent search` and `agent stack push|pull|search|versions`, against the
//! real `sentinel-registry` in process and, for search's fallback, CNCF
//! Distribution (Debian's `docker-registry`) as a child process, all on
//! 127.0.0.1.

mod common;
#[path = "support/distribution.rs"]
mod distribution;

use std::path::{Path, PathBuf};

use common::AgentHome;
use distribution::{Distribution, RegistryAuth};
use sentinel_conformance::TestRegistry;
use serde_json::Value;

fn host(registry: &TestRegistry) -> String {
    registry
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Writes a stack directory naming `members` (member name, ref).
fn write_stack(home: &AgentHome, name: &str, version: &str, members: &[(&str, &str)]) -> PathBuf {
    let dir = home.path().join("src").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut yaml =
        format!("name: {name}\nversion: {version}\ndescription: A test stack\nagents:\n");
    for (member, reference) in members {
        yaml.push_str(&format!("  - name: {member}\n    ref: '{reference}'\n"));
    }
    std::fs::write(dir.join("stack.yaml"), yaml).unwrap();
    std::fs::write(dir.join("README.md"), format!("# {name}\n")).unwrap();
    dir
}

async fn push_agent(home: &AgentHome, host: &str, name: &str, version: &str) {
    let dir = home.write_agent(name, version);
    home.ok(&[
        "push",
        "--quiet",
        &format!("{host}/team/{name}"),
        dir.to_str().unwrap(),
    ])
    .await;
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn search_finds_packages_by_word_and_filter() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let author = AgentHome::new();
    push_agent(&author, &host, "summariser", "1.0.0").await;
    push_agent(&author, &host, "summariser", "1.1.0").await;
    push_agent(&author, &host, "planner", "0.3.0").await;
    let stack = write_stack(&author, "trip", "1.0.0", &[("plan", "team/planner:^0.3")]);
    author
        .ok(&[
            "stack",
            "push",
            "--quiet",
            &format!("{host}/team/trip"),
            stack.to_str().unwrap(),
        ])
        .await;

    let reader = AgentHome::new();
    let found = reader
        .ok(&[
            "search",
            "summariser",
            "--registry",
            &host,
            "--format",
            "json",
        ])
        .await;
    let rows = json(&found.stdout);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["name"], "team/summariser");
    assert_eq!(rows[0]["latest"], "1.1.0");
    assert_eq!(rows[0]["kind"], "agent");

    let all = reader
        .ok(&[
            "search",
            "--registry",
            &host,
            "--format",
            "json",
            "--sort",
            "name",
        ])
        .await;
    let rows = json(&all.stdout);
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team/planner", "team/summariser", "team/trip"]);

    let stacks = reader
        .ok(&[
            "stack",
            "search",
            "",
            "--registry",
            &host,
            "--format",
            "json",
        ])
        .await;
    let rows = json(&stacks.stdout);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["name"], "team/trip");

    let capability = reader
        .ok(&[
            "search",
            "--capability",
            "summarise",
            "--kind",
            "stack",
            "--registry",
            &host,
        ])
        .await;
    assert_eq!(
        capability.stdout.lines().count(),
        1,
        "only the header: {}",
        capability.stdout
    );

    let table = reader.ok(&["search", "plan", "--registry", &host]).await;
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{}", table.stdout);
    assert!(lines[1].starts_with("team/planner"), "{}", table.stdout);

    // An unknown sort is refused by clap before anything is asked.
    let refused = reader
        .run(&["search", "x", "--sort", "random", "--registry", &host])
        .await;
    assert_eq!(refused.code, 2, "{}", refused.describe());
}

#[tokio::test]
async fn search_falls_back_to_an_open_catalog() {
    let Some(distribution) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    let host = distribution.host();
    let author = AgentHome::new();
    push_agent(&author, &host, "summariser", "1.0.0").await;
    push_agent(&author, &host, "planner", "1.0.0").await;
    let reader = AgentHome::new();
    let found = reader.ok(&["search", "summ", "--registry", &host]).await;
    assert!(
        found.stderr.contains("does not support search"),
        "{}",
        found.describe()
    );
    assert!(found.stdout.contains("team/summariser"), "{}", found.stdout);
    assert!(!found.stdout.contains("team/planner"), "{}", found.stdout);
}

#[tokio::test]
async fn stack_pull_extracts_its_agents_and_follows_its_lock() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let author = AgentHome::new();
    push_agent(&author, &host, "planner", "1.2.0").await;
    push_agent(&author, &host, "planner", "1.4.0").await;
    push_agent(&author, &host, "planner", "2.0.0").await;
    push_agent(&author, &host, "booker", "0.9.0").await;
    let stack = write_stack(
        &author,
        "trip",
        "1.0.0",
        &[("plan", "team/planner:^1.2"), ("book", "team/booker:0.9.0")],
    );
    let pushed = author
        .ok(&[
            "stack",
            "push",
            "--quiet",
            &format!("{host}/team/trip"),
            stack.to_str().unwrap(),
        ])
        .await;
    assert!(
        pushed.stdout.contains("team/trip:1.0.0@sha256:"),
        "{}",
        pushed.stdout
    );
    // An agent is refused by stack push, before anything is sent.
    let agent = author.write_agent("lonely", "1.0.0");
    author
        .fails(
            &[
                "stack",
                "push",
                &format!("{host}/team/lonely"),
                agent.to_str().unwrap(),
            ],
            2,
        )
        .await;

    let user = AgentHome::new();
    let out = user.path().join("trip");
    let out_text = out.to_str().unwrap();
    let pulled = user
        .ok(&[
            "stack",
            "pull",
            &format!("{host}/team/trip"),
            "-d",
            out_text,
            "--extract-agents",
        ])
        .await;
    assert!(pulled.stdout.contains("plan = "), "{}", pulled.stdout);
    assert_eq!(
        file_names(&out),
        ["README.md", "agents", "stack.lock", "stack.yaml"]
    );
    assert_eq!(file_names(&out.join("agents")), ["book", "plan"]);
    let plan = std::fs::read_to_string(out.join("agents/plan/agent.yaml")).unwrap();
    assert!(plan.contains("version: 1.4.0"), "the highest ^1.2: {plan}");
    let lock = std::fs::read_to_string(out.join("stack.lock")).unwrap();
    assert!(lock.contains("ref: team/planner:^1.2"), "{lock}");
    assert!(lock.contains("version: 1.4.0"), "{lock}");

    // A newer match appears; the lock keeps the pull where it was.
    push_agent(&author, &host, "planner", "1.5.0").await;
    user.ok(&[
        "stack",
        "pull",
        &format!("{host}/team/trip"),
        "-d",
        out_text,
        "--extract-agents",
    ])
    .await;
    let plan = std::fs::read_to_string(out.join("agents/plan/agent.yaml")).unwrap();
    assert!(plan.contains("version: 1.4.0"), "locked: {plan}");
    assert_eq!(
        std::fs::read_to_string(out.join("stack.lock")).unwrap(),
        lock
    );

    // --update resolves afresh and rewrites the lock.
    user.ok(&[
        "stack",
        "pull",
        &format!("{host}/team/trip"),
        "-d",
        out_text,
        "--extract-agents",
        "--update",
    ])
    .await;
    let plan = std::fs::read_to_string(out.join("agents/plan/agent.yaml")).unwrap();
    assert!(plan.contains("version: 1.5.0"), "updated: {plan}");
    assert!(
        std::fs::read_to_string(out.join("stack.lock"))
            .unwrap()
            .contains("version: 1.5.0")
    );
    // Nothing is left beside the directory.
    assert_eq!(
        file_names(user.path())
            .iter()
            .filter(|n| n.contains("partial"))
            .count(),
        0
    );

    // A directory holding something else is not replaced.
    let busy = user.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    user.fails(
        &[
            "stack",
            "pull",
            &format!("{host}/team/trip"),
            "-d",
            busy.to_str().unwrap(),
            "--extract-agents",
        ],
        2,
    )
    .await;
    assert_eq!(file_names(&busy), ["keep.txt"]);

    // An agent is not a stack.
    user.fails(&["stack", "pull", &format!("{host}/team/booker:0.9.0")], 2)
        .await;

    // Versions of a stack, and a stack pulled without its agents.
    let versions = user
        .ok(&[
            "stack",
            "versions",
            &format!("{host}/team/trip"),
            "--format",
            "json",
        ])
        .await;
    assert_eq!(json(&versions.stdout)[0]["version"], "1.0.0");
    let plain = user.path().join("plain");
    user.ok(&[
        "stack",
        "pull",
        &format!("{host}/team/trip"),
        "-d",
        plain.to_str().unwrap(),
    ])
    .await;
    assert_eq!(file_names(&plain), ["README.md", "stack.yaml"]);
}

#[tokio::test]
async fn a_name_alone_pulls_the_latest_version_when_there_is_no_latest_tag() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let author = AgentHome::new();
    push_agent(&author, &host, "planner", "1.0.0").await;
    push_agent(&author, &host, "planner", "1.1.0").await;
    push_agent(&author, &host, "planner", "2.0.0-rc.1").await;
    let user = AgentHome::new();
    let pulled = user
        .ok(&["pull", "--no-extract", &format!("{host}/team/planner")])
        .await;
    assert!(
        pulled.stdout.contains("to 1.1.0"),
        "the highest version that is not a pre-release: {}",
        pulled.stdout
    );
    user.fails(&["pull", &format!("{host}/team/nothing")], 4)
        .await;
}
