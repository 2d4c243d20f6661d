//! Validation of agent.yaml and stack.yaml: every rule, with messages naming file and field.

use sentinel_package::{
    Definition, DefinitionError, MemberReference, PackageKind, Protocol, starter_agent_yaml,
};

const FULL_AGENT: &str = r#"
name: research-agent
version: 1.2.0-beta.1+build.5
description: Finds and summarises papers.
author: Ada Lovelace <ada@example.com>
license: MIT OR Apache-2.0
source: https://github.com/acme/research-agent
capabilities: [web-search, summarise]
model:
  provider: openai
  name: gpt-4o
  parameters:
    temperature: 0.2
    stop: ["\n\n"]
dependencies:
  - name: team/retriever
    version: ^1.2
ports:
  - name: http
    port: 8080
    protocol: http
  - name: metrics
    port: 9090
health_check:
  http: /healthz
  interval_seconds: 30
  timeout_seconds: 5
tags: [research, papers]
compatibility:
  runtimes: [python3.12]
  platforms: [linux/amd64, linux/arm64/v8]
entrypoint: [python, -m, research_agent]
"#;

const FULL_STACK: &str = r#"
name: research-team
version: 2.0.0
description: A researcher and a writer.
license: Apache-2.0
tags: [team]
agents:
  - name: researcher
    ref: team/researcher:1.2.0
    env:
      LOG_LEVEL: debug
  - name: writer.v2
    ref: registry.example.com/team/writer@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    depends_on: [researcher]
wiring:
  - from: researcher.http
    to: writer.v2
  - from: writer.v2
    to: researcher
"#;

fn agent(yaml: &str) -> Result<Definition, DefinitionError> {
    Definition::parse(PackageKind::Agent, "agent.yaml", yaml.as_bytes())
}

fn stack(yaml: &str) -> Result<Definition, DefinitionError> {
    Definition::parse(PackageKind::Stack, "stack.yaml", yaml.as_bytes())
}

/// Asserts that `result` failed with a problem on `field` whose message contains `needle`,
/// and that its Display names the file and the field.
fn assert_problem(result: Result<Definition, DefinitionError>, field: &str, needle: &str) {
    let error = result.expect_err("the definition must be refused");
    let found = error
        .problems()
        .iter()
        .any(|p| p.field.as_deref() == Some(field) && p.message.contains(needle));
    assert!(
        found,
        "no problem on {field:?} containing {needle:?} in:\n{error}"
    );
    let line = format!("{}: field {field:?}: ", error.file());
    assert!(error.to_string().contains(&line), "{error}");
}

fn agent_with(extra: &str) -> String {
    format!("name: demo\nversion: 1.0.0\n{extra}")
}

#[test]
fn a_complete_agent_parses() {
    let Definition::Agent(parsed) = agent(FULL_AGENT).unwrap() else {
        panic!("an agent definition");
    };
    assert_eq!(parsed.name, "research-agent");
    assert_eq!(parsed.version.to_string(), "1.2.0-beta.1+build.5");
    assert_eq!(
        parsed.ports[1].protocol,
        Protocol::Tcp,
        "tcp is the default"
    );
    assert_eq!(parsed.dependencies[0].version.to_string(), "^1.2");
    assert_eq!(
        parsed.model.as_ref().unwrap().parameters["temperature"],
        0.2
    );
    assert_eq!(
        parsed.compatibility.as_ref().unwrap().platforms[1],
        "linux/arm64/v8"
    );
    assert_eq!(parsed.entrypoint.as_ref().unwrap().len(), 3);

    let definition = Definition::Agent(parsed.clone());
    assert_eq!(definition.capabilities(), ["web-search", "summarise"]);
    assert_eq!(definition.license(), Some("MIT OR Apache-2.0"));
    assert_eq!(definition.kind(), PackageKind::Agent);

    let reserialised = serde_norway::to_string(&parsed).unwrap();
    assert_eq!(
        agent(&reserialised).unwrap(),
        definition,
        "serde and the validator agree"
    );
}

#[test]
fn a_stack_member_may_accept_a_range_of_versions() {
    let yaml = "name: trip\nversion: 1.0.0\nagents:\n  - name: planner\n    ref: 'localhost:5000/team/planner:>=1.0, <2.0'\n  - name: booker\n    ref: 'team/booker:^1.2'\n";
    let Definition::Stack(parsed) = stack(yaml).unwrap() else {
        panic!("a stack definition");
    };
    let MemberReference::Requirement {
        package,
        requirement,
    } = &parsed.agents[0].reference
    else {
        panic!("a requirement");
    };
    assert_eq!(package.registry(), Some("localhost:5000"));
    assert_eq!(package.repository().as_str(), "team/planner");
    assert_eq!(requirement.to_string(), ">=1.0, <2.0");
    assert_eq!(parsed.agents[1].reference.to_string(), "team/booker:^1.2");
    let reserialised = serde_norway::to_string(&parsed).unwrap();
    assert_eq!(stack(&reserialised).unwrap(), Definition::Stack(parsed));
}

#[test]
fn a_complete_stack_parses() {
    let Definition::Stack(parsed) = stack(FULL_STACK).unwrap() else {
        panic!("a stack definition");
    };
    assert_eq!(parsed.agents.len(), 2);
    assert_eq!(
        parsed.agents[0].reference.package().tag().unwrap().as_str(),
        "1.2.0"
    );
    assert_eq!(
        parsed.agents[1].reference.registry(),
        Some("registry.example.com")
    );
    assert_eq!(parsed.wiring.len(), 2);
    let definition = Definition::Stack(parsed.clone());
    assert!(definition.capabilities().is_empty());
    let reserialised = serde_norway::to_string(&parsed).unwrap();
    assert_eq!(stack(&reserialised).unwrap(), definition);
}

#[test]
fn the_starter_agent_parses() {
    let definition = agent(&starter_agent_yaml("my-agent")).unwrap();
    assert_eq!(definition.name(), "my-agent");
    assert_eq!(definition.version().to_string(), "0.1.0");
    let numeric = agent(&starter_agent_yaml("123")).unwrap();
    assert_eq!(
        numeric.name(),
        "123",
        "the name is quoted, so digits stay a string"
    );
}

#[test]
fn the_starter_agents_commented_examples_parse_when_uncommented() {
    let uncommented: String = starter_agent_yaml("my-agent")
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with("  ")
                    || [
                        "author:",
                        "source:",
                        "model:",
                        "dependencies:",
                        "compatibility:",
                    ]
                    .iter()
                    .any(|field| rest.starts_with(field)) =>
            {
                rest
            }
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let Definition::Agent(parsed) = agent(&uncommented).unwrap() else {
        panic!("an agent definition");
    };
    assert!(parsed.model.is_some() && parsed.author.is_some() && parsed.source.is_some());
    assert_eq!(parsed.dependencies.len(), 1);
    assert_eq!(parsed.compatibility.unwrap().platforms.len(), 2);
}

#[test]
fn version_must_be_semver() {
    let error = agent("name: demo\nversion: 1.2\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "agent.yaml: field \"version\": \"1.2\" is not a semantic version (expected MAJOR.MINOR.PATCH, e.g. 1.2.0)"
    );
    assert_problem(
        agent("name: demo\nversion: v1.0.0\n"),
        "version",
        "not a semantic version",
    );
    assert_problem(
        agent("name: demo\nversion: [1]\n"),
        "version",
        "expected a string",
    );
}

#[test]
fn name_is_required_and_follows_the_grammar() {
    assert_problem(agent("version: 1.0.0\n"), "name", "is required");
    assert_problem(
        agent("name: My Agent\nversion: 1.0.0\n"),
        "name",
        "not a valid name",
    );
    assert_problem(
        agent("name: a--b\nversion: 1.0.0\n"),
        "name",
        "not a valid name",
    );
    let long = format!("name: {}\nversion: 1.0.0\n", "a".repeat(129));
    assert_problem(agent(&long), "name", "the limit is 128");
    assert_problem(agent("name: 42\nversion: 1.0.0\n"), "name", "quote it");
}

#[test]
fn unknown_fields_are_errors_with_suggestions() {
    assert_problem(
        agent(&agent_with("verison: 1.0.0\n")),
        "verison",
        "did you mean \"version\"",
    );
    assert_problem(
        agent(&agent_with("colour: red\n")),
        "colour",
        "expected one of",
    );
    assert_problem(
        agent(&agent_with(
            "ports:\n  - name: http\n    port: 80\n    proto: tcp\n",
        )),
        "ports[0].proto",
        "did you mean \"protocol\"",
    );
    assert_problem(
        stack("name: s\nversion: 1.0.0\nagents: []\nagent: []\n"),
        "agent",
        "did you mean",
    );
}

#[test]
fn metadata_fields() {
    assert_problem(
        agent(&agent_with("description: '  '\n")),
        "description",
        "blank",
    );
    assert_problem(
        agent(&agent_with("license: MIT; rm -rf\n")),
        "license",
        "SPDX",
    );
    assert_problem(
        agent(&agent_with("source: not a url\n")),
        "source",
        "absolute URL",
    );
    assert_problem(
        agent(&agent_with("author: [a, b]\n")),
        "author",
        "expected a string",
    );
    assert!(
        agent(&agent_with(
            "license: LicenseRef-proprietary\nsource: git://host/x\n"
        ))
        .is_ok()
    );
}

#[test]
fn label_lists() {
    assert_problem(
        agent(&agent_with("capabilities: [a, a]\n")),
        "capabilities[1]",
        "listed twice",
    );
    assert_problem(
        agent(&agent_with("tags: [web search]\n")),
        "tags[0]",
        "not a valid label",
    );
    assert_problem(agent(&agent_with("tags: web\n")), "tags", "expected a list");
    assert_problem(
        agent(&agent_with("capabilities: ['']\n")),
        "capabilities[0]",
        "not a valid label",
    );
}

#[test]
fn model_rules() {
    assert_problem(
        agent(&agent_with("model:\n  name: gpt\n")),
        "model.provider",
        "is required",
    );
    assert_problem(
        agent(&agent_with("model: gpt-4o\n")),
        "model",
        "expected a mapping",
    );
    assert_problem(
        agent(&agent_with(
            "model:\n  provider: p\n  name: n\n  parameters:\n    t: !weird 1\n",
        )),
        "model.parameters.t",
        "cannot be a model parameter",
    );
}

#[test]
fn dependency_rules() {
    assert_problem(
        agent(&agent_with(
            "dependencies:\n  - name: Team/X\n    version: ^1\n",
        )),
        "dependencies[0].name",
        "repository path",
    );
    assert_problem(
        agent(&agent_with(
            "dependencies:\n  - name: team/x\n    version: one\n",
        )),
        "dependencies[0].version",
        "semver requirement",
    );
    assert_problem(
        agent(&agent_with(
            "dependencies:\n  - name: x\n    version: '1'\n  - name: x\n    version: '2'\n",
        )),
        "dependencies[1].name",
        "listed twice",
    );
    assert_problem(
        agent(&agent_with("dependencies:\n  - name: x\n")),
        "dependencies[0].version",
        "is required",
    );
}

#[test]
fn port_rules() {
    let ports = |body: &str| agent(&agent_with(&format!("ports:\n{body}")));
    assert_problem(
        ports("  - name: a\n    port: 0\n"),
        "ports[0].port",
        "from 1 to 65535",
    );
    assert_problem(
        ports("  - name: a\n    port: 70000\n"),
        "ports[0].port",
        "from 1 to 65535",
    );
    assert_problem(
        ports("  - name: a\n    port: 80.5\n"),
        "ports[0].port",
        "whole number",
    );
    assert_problem(
        ports("  - name: a\n    port: '80'\n"),
        "ports[0].port",
        "whole number",
    );
    assert_problem(
        ports("  - name: a\n    port: 80\n    protocol: sctp\n"),
        "ports[0].protocol",
        "tcp, udp, http or grpc",
    );
    assert_problem(
        ports("  - name: A b\n    port: 80\n"),
        "ports[0].name",
        "not a valid port name",
    );
    assert_problem(
        ports("  - name: a\n    port: 80\n  - name: a\n    port: 81\n"),
        "ports[1].name",
        "used twice",
    );
    assert_problem(
        ports("  - name: a\n    port: 80\n  - name: b\n    port: 80\n"),
        "ports[1].port",
        "port 80 is used twice",
    );
}

#[test]
fn health_check_rules() {
    let check = |body: &str| agent(&agent_with(&format!("health_check:\n{body}")));
    assert_problem(
        check("  interval_seconds: 5\n"),
        "health_check",
        "exactly one",
    );
    assert_problem(
        check("  http: /h\n  command: [true]\n"),
        "health_check",
        "exactly one",
    );
    assert_problem(
        check("  http: healthz\n"),
        "health_check.http",
        "start it with '/'",
    );
    assert_problem(check("  command: []\n"), "health_check.command", "empty");
    assert_problem(
        check("  http: /h\n  interval_seconds: 0\n"),
        "health_check.interval_seconds",
        "from 1",
    );
    assert_problem(
        check("  http: /h\n  interval_seconds: 5\n  timeout_seconds: 10\n"),
        "health_check.timeout_seconds",
        "longer than interval_seconds",
    );
    assert!(check("  command: [curl, -f, localhost]\n  interval_seconds: 10\n").is_ok());
}

#[test]
fn compatibility_and_entrypoint_rules() {
    assert_problem(
        agent(&agent_with("compatibility:\n  platforms: [linux]\n")),
        "compatibility.platforms[0]",
        "os/arch",
    );
    assert_problem(
        agent(&agent_with("compatibility:\n  platforms: [Linux/AMD64]\n")),
        "compatibility.platforms[0]",
        "os/arch",
    );
    assert_problem(
        agent(&agent_with("entrypoint: []\n")),
        "entrypoint",
        "empty",
    );
    assert_problem(
        agent(&agent_with("entrypoint: ['', x]\n")),
        "entrypoint[0]",
        "blank",
    );
    assert_problem(
        agent(&agent_with("entrypoint: python\n")),
        "entrypoint",
        "expected a list",
    );
}

#[test]
fn yaml_syntax_errors_give_line_and_column() {
    let error = agent("name: demo\nversion: 1.0.0\nports: [\n  - a: b\n").unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("agent.yaml: line "), "{text}");
    assert!(text.contains(", column "), "{text}");
    assert_eq!(error.problems().len(), 1);
    assert!(error.problems()[0].field.is_none());

    let duplicate = agent("name: a\nname: b\nversion: 1.0.0\n").unwrap_err();
    let text = duplicate.to_string();
    assert!(
        text.contains("line ") && text.contains("duplicate entry"),
        "{text}"
    );
}

#[test]
fn the_top_level_must_be_a_non_empty_mapping() {
    assert!(agent("").unwrap_err().to_string().contains("is empty"));
    assert!(
        agent("- a\n- b\n")
            .unwrap_err()
            .to_string()
            .contains("expected a mapping")
    );
    assert!(
        agent("just text")
            .unwrap_err()
            .to_string()
            .contains("found a string")
    );
}

#[test]
fn all_problems_are_collected() {
    let yaml = "name: Bad Name\nversion: 1.2\nlicense: '!!'\nports:\n  - name: http\n    port: 0\nhealth_check: {}\nunknown: 1\n";
    let error = agent(yaml).unwrap_err();
    let fields: Vec<Option<&str>> = error
        .problems()
        .iter()
        .map(|p| p.field.as_deref())
        .collect();
    for field in [
        "unknown",
        "name",
        "version",
        "license",
        "ports[0].port",
        "health_check",
    ] {
        assert!(
            fields.contains(&Some(field)),
            "{field} missing from:\n{error}"
        );
    }
    let text = error.to_string();
    assert_eq!(text.lines().count(), error.problems().len());
    assert!(
        text.lines()
            .all(|line| line.starts_with("agent.yaml: field \"")),
        "{text}"
    );
}

#[test]
fn stack_agents_rules() {
    assert_problem(stack("name: s\nversion: 1.0.0\n"), "agents", "is required");
    assert_problem(
        stack("name: s\nversion: 1.0.0\nagents: []\n"),
        "agents",
        "at least one",
    );
    let agents = |body: &str| stack(&format!("name: s\nversion: 1.0.0\nagents:\n{body}"));
    assert_problem(
        agents("  - name: a\n    ref: 'x:1'\n  - name: a\n    ref: 'y:1'\n"),
        "agents[1].name",
        "used twice",
    );
    assert_problem(
        agents("  - name: a\n    ref: Team/X:1\n"),
        "agents[0].ref",
        "not a valid reference",
    );
    assert_problem(
        agents("  - name: a\n    ref: team/x\n"),
        "agents[0].ref",
        "no tag, digest or version requirement",
    );
    assert_problem(
        agents("  - name: a\n    ref: 'team/x:^^1'\n"),
        "agents[0].ref",
        "is not a version requirement",
    );
    assert_problem(
        agents("  - name: a\n    ref: team/x@sha256:12\n"),
        "agents[0].ref",
        "not a valid reference",
    );
    assert_problem(agents("  - name: a\n"), "agents[0].ref", "is required");
    assert_problem(
        agents("  - name: a\n    ref: 'x:1'\n    env:\n      1BAD: x\n"),
        "agents[0].env.1BAD",
        "environment variable",
    );
    assert_problem(
        agents("  - name: a\n    ref: 'x:1'\n    env:\n      PORT: 8080\n"),
        "agents[0].env.PORT",
        "quote it",
    );
}

#[test]
fn stack_dependencies_rules() {
    let agents = |body: &str| stack(&format!("name: s\nversion: 1.0.0\nagents:\n{body}"));
    assert_problem(
        agents("  - name: a\n    ref: 'x:1'\n    depends_on: [ghost]\n"),
        "agents[0].depends_on",
        "not an agent",
    );
    assert_problem(
        agents("  - name: a\n    ref: 'x:1'\n    depends_on: [a]\n"),
        "agents[0].depends_on",
        "depends on itself",
    );
    let cycle = agents(
        "  - name: a\n    ref: 'x:1'\n    depends_on: [b]\n  - name: b\n    ref: 'x:1'\n    depends_on: [c]\n  - name: c\n    ref: 'x:1'\n    depends_on: [a]\n",
    );
    assert_problem(
        cycle.clone(),
        "agents[0].depends_on",
        "dependency cycle: a -> b -> c -> a",
    );
    assert_eq!(
        cycle.unwrap_err().problems().len(),
        1,
        "a cycle is reported once"
    );
    let diamond = agents(
        "  - name: a\n    ref: 'x:1'\n    depends_on: [b, c]\n  - name: b\n    ref: 'x:1'\n    depends_on: [d]\n  - name: c\n    ref: 'x:1'\n    depends_on: [d]\n  - name: d\n    ref: 'x:1'\n",
    );
    assert!(
        diamond.is_ok(),
        "a diamond is not a cycle: {:?}",
        diamond.err()
    );
    let bad_ref_is_still_an_agent =
        agents("  - name: a\n    ref: team/x\n  - name: b\n    ref: 'x:1'\n    depends_on: [a]\n");
    let error = bad_ref_is_still_an_agent.unwrap_err();
    assert_eq!(error.problems().len(), 1, "only the ref is wrong:\n{error}");
}

#[test]
fn stack_wiring_rules() {
    let base = "name: s\nversion: 1.0.0\nagents:\n  - name: a\n    ref: 'x:1'\n  - name: b.c\n    ref: 'y:1'\n";
    let wired = |body: &str| stack(&format!("{base}{body}"));
    assert!(wired("wiring:\n  - from: a.http\n    to: b.c\n  - from: b.c\n    to: a\n").is_ok());
    assert!(
        wired("connections:\n  - from: b.c.grpc\n    to: a\n").is_ok(),
        "connections is another name for wiring"
    );
    assert_problem(
        wired("wiring:\n  - from: z.http\n    to: a\n"),
        "wiring[0].from",
        "does not name an agent",
    );
    assert_problem(
        wired("wiring:\n  - from: a\n    to: ghost\n"),
        "wiring[0].to",
        "not an agent",
    );
    assert_problem(
        wired("wiring:\n  - from: a.Bad_Port\n    to: b.c\n"),
        "wiring[0].from",
        "not a valid port name",
    );
    assert_problem(
        wired("wiring: []\nconnections: []\n"),
        "connections",
        "use only one",
    );
    assert_problem(
        wired("wiring:\n  - from: a\n"),
        "wiring[0].to",
        "is required",
    );
}
