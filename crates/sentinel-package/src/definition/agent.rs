//! `agent.yaml`: the definition of one agent, and its validation.

use std::collections::{BTreeMap, BTreeSet};

use sentinel_oci::RepositoryName;
use serde::{Deserialize, Serialize};
use serde_norway::Value;

use super::problems::Problems;
use super::rules::{self, Metadata};
use super::yaml::{Object, as_integer, as_string, describe};

/// The parsed, validated contents of `agent.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDefinition {
    /// The agent's name: one OCI repository path component, at most 128 bytes.
    pub name: String,
    /// The agent's semantic version.
    pub version: semver::Version,
    /// One-sentence description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who wrote it, e.g. `Ada Lovelace <ada@example.com>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// An SPDX license expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Where the source lives: an absolute URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the agent can do, as unique labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// The model the agent runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSpec>,
    /// Other agents this one needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Network ports the agent listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// How a runtime checks the agent is alive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Free labels for search, unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Where the agent runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<Compatibility>,
    /// The command that starts the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
}

/// The model an agent runs on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Who serves the model, e.g. `openai`, `anthropic`, `ollama`.
    pub provider: String,
    /// The model's name at that provider.
    pub name: String,
    /// Provider-specific settings such as `temperature`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

/// Another agent this one depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The dependency's repository path, e.g. `team/retriever`.
    pub name: String,
    /// The versions accepted, as a semver requirement such as `^1.2`.
    pub version: semver::VersionReq,
}

/// A port the agent listens on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// The port's name, referred to by stack wiring (`agent.port`).
    pub name: String,
    /// The port number, 1 to 65535.
    pub port: u16,
    /// The protocol spoken on it; `tcp` when absent.
    #[serde(default)]
    pub protocol: Protocol,
}

/// The protocol of a [`Port`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Raw TCP.
    #[default]
    Tcp,
    /// Raw UDP.
    Udp,
    /// HTTP over TCP.
    Http,
    /// gRPC over HTTP/2.
    Grpc,
}

impl Protocol {
    /// The protocol's name as written in `agent.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        }
    }

    const ALL: [Protocol; 4] = [Protocol::Tcp, Protocol::Udp, Protocol::Http, Protocol::Grpc];
}

/// How a runtime checks that the agent is alive: exactly one of `http` and `command`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// An HTTP path, starting with `/`, that answers 2xx when healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// A command that exits 0 when healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Seconds between checks, 1 to 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u32>,
    /// Seconds before one check counts as failed, 1 to 3600, at most the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

/// Where an agent runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compatibility {
    /// Agent runtimes it works with, as unique labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtimes: Vec<String>,
    /// Platforms as `os/arch[/variant]`, e.g. `linux/amd64`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

const FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "author",
    "license",
    "source",
    "capabilities",
    "model",
    "dependencies",
    "ports",
    "health_check",
    "tags",
    "compatibility",
    "entrypoint",
];

/// Checks the top-level mapping of `agent.yaml`, recording every problem.
pub(crate) fn check(root: &Object<'_>, problems: &mut Problems) -> Option<AgentDefinition> {
    root.deny_unknown(FIELDS, problems);
    let Metadata {
        name,
        version,
        description,
        author,
        license,
        source,
    } = Metadata::check(root, problems);
    let definition = AgentDefinition {
        name: name.unwrap_or_default(),
        version: version.unwrap_or_else(|| semver::Version::new(0, 0, 0)),
        description,
        author,
        license,
        source,
        capabilities: rules::label_list(root, "capabilities", problems),
        model: root
            .get("model")
            .and_then(|value| model(value, &root.path("model"), problems)),
        dependencies: dependencies(root, problems),
        ports: ports(root, problems),
        health_check: root
            .get("health_check")
            .and_then(|value| health_check(value, &root.path("health_check"), problems)),
        tags: rules::label_list(root, "tags", problems),
        compatibility: root
            .get("compatibility")
            .and_then(|value| compatibility(value, &root.path("compatibility"), problems)),
        entrypoint: root
            .get("entrypoint")
            .and_then(|value| rules::command(value, &root.path("entrypoint"), problems)),
    };
    (problems.is_empty()).then_some(definition)
}

fn model(value: &Value, path: &str, problems: &mut Problems) -> Option<ModelSpec> {
    let object = Object::read(value, path, problems)?;
    object.deny_unknown(&["provider", "name", "parameters"], problems);
    let provider = object
        .required("provider", problems)
        .and_then(|value| rules::label(value, &object.path("provider"), problems));
    let name = object
        .required("name", problems)
        .and_then(|value| rules::label(value, &object.path("name"), problems));
    let mut parameters = BTreeMap::new();
    if let Some(value) = object.get("parameters") {
        let parameters_path = object.path("parameters");
        if let Some(map) = Object::read(value, &parameters_path, problems) {
            for (key, value) in map.entries(problems) {
                let key_path = map.path(&key);
                match serde_json::to_value(value) {
                    Ok(json) if !contains_tag(value) => {
                        parameters.insert(key, json);
                    }
                    _ => problems.field(
                        &key_path,
                        format!(
                            "{} cannot be a model parameter: use strings, numbers, booleans, lists and mappings with string keys",
                            describe(value)
                        ),
                    ),
                }
            }
        }
    }
    Some(ModelSpec {
        provider: provider?,
        name: name?,
        parameters,
    })
}

/// Whether a YAML tree holds a `!tag`, which has no JSON form.
fn contains_tag(value: &Value) -> bool {
    match value {
        Value::Tagged(_) => true,
        Value::Sequence(items) => items.iter().any(contains_tag),
        Value::Mapping(map) => map.iter().any(|(k, v)| contains_tag(k) || contains_tag(v)),
        _ => false,
    }
}

fn dependencies(root: &Object<'_>, problems: &mut Problems) -> Vec<Dependency> {
    let mut seen = BTreeSet::new();
    let mut dependencies = Vec::new();
    for (path, value) in root.list("dependencies", problems).unwrap_or_default() {
        let Some(object) = Object::read(value, &path, problems) else {
            continue;
        };
        object.deny_unknown(&["name", "version"], problems);
        let name = object.required_string("name", problems).and_then(|name| {
            if name.parse::<RepositoryName>().is_ok() {
                Some(name.to_owned())
            } else {
                problems.field(
                    &object.path("name"),
                    format!("{name:?} is not a repository path (e.g. team/retriever)"),
                );
                None
            }
        });
        let version = object.required("version", problems).and_then(|value| {
            let text = match value {
                Value::Number(number) => number.to_string(),
                other => as_string(other, &object.path("version"), problems)?.to_owned(),
            };
            match semver::VersionReq::parse(&text) {
                Ok(requirement) => Some(requirement),
                Err(_) => {
                    problems.field(
                        &object.path("version"),
                        format!(
                            "{text:?} is not a semver requirement (e.g. ^1.2, >=1.0.0, <2.0.0)"
                        ),
                    );
                    None
                }
            }
        });
        if let Some(name) = &name
            && !seen.insert(name.clone())
        {
            problems.field(&object.path("name"), format!("{name:?} is listed twice"));
        }
        if let (Some(name), Some(version)) = (name, version) {
            dependencies.push(Dependency { name, version });
        }
    }
    dependencies
}

fn ports(root: &Object<'_>, problems: &mut Problems) -> Vec<Port> {
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    let mut ports = Vec::new();
    for (path, value) in root.list("ports", problems).unwrap_or_default() {
        let Some(object) = Object::read(value, &path, problems) else {
            continue;
        };
        object.deny_unknown(&["name", "port", "protocol"], problems);
        let name = object.required_string("name", problems).and_then(|name| {
            if rules::is_valid_port_name(name) {
                Some(name.to_owned())
            } else {
                problems.field(
                    &object.path("name"),
                    format!("{name:?} is not a valid port name: use 1 to 63 lowercase letters, digits and single '-' (e.g. http)"),
                );
                None
            }
        });
        let number = object
            .required("port", problems)
            .and_then(|value| as_integer(value, &object.path("port"), 1, 65535, problems))
            .and_then(|number| u16::try_from(number).ok());
        let protocol = match object.string("protocol", problems) {
            None => Some(Protocol::default()),
            Some(text) => {
                let protocol = Protocol::ALL.into_iter().find(|p| p.as_str() == text);
                if protocol.is_none() {
                    problems.field(
                        &object.path("protocol"),
                        format!("{text:?} is not a protocol: use tcp, udp, http or grpc"),
                    );
                }
                protocol
            }
        };
        if let Some(name) = &name
            && !names.insert(name.clone())
        {
            problems.field(
                &object.path("name"),
                format!("port name {name:?} is used twice"),
            );
        }
        if let Some(number) = number
            && !numbers.insert(number)
        {
            problems.field(&object.path("port"), format!("port {number} is used twice"));
        }
        if let (Some(name), Some(port), Some(protocol)) = (name, number, protocol) {
            ports.push(Port {
                name,
                port,
                protocol,
            });
        }
    }
    ports
}

fn health_check(value: &Value, path: &str, problems: &mut Problems) -> Option<HealthCheck> {
    let object = Object::read(value, path, problems)?;
    object.deny_unknown(
        &["http", "command", "interval_seconds", "timeout_seconds"],
        problems,
    );
    let http = object.string("http", problems).and_then(|http| {
        if http.starts_with('/') && !http.chars().any(char::is_whitespace) {
            Some(http.to_owned())
        } else {
            problems.field(
                &object.path("http"),
                format!("{http:?} is not an HTTP path: start it with '/' and leave out spaces (e.g. /healthz)"),
            );
            None
        }
    });
    let command = object
        .get("command")
        .and_then(|value| rules::command(value, &object.path("command"), problems));
    let has_http = object.get("http").is_some();
    let has_command = object.get("command").is_some();
    if has_http == has_command {
        problems.field(path, "set exactly one of \"http\" and \"command\"");
    }
    let seconds = |key: &str, max: u64, problems: &mut Problems| {
        object
            .get(key)
            .and_then(|value| as_integer(value, &object.path(key), 1, max, problems))
            .and_then(|n| u32::try_from(n).ok())
    };
    let interval_seconds = seconds("interval_seconds", 86_400, problems);
    let timeout_seconds = seconds("timeout_seconds", 3_600, problems);
    if let (Some(interval), Some(timeout)) = (interval_seconds, timeout_seconds)
        && timeout > interval
    {
        problems.field(
            &object.path("timeout_seconds"),
            format!("{timeout} is longer than interval_seconds ({interval})"),
        );
    }
    Some(HealthCheck {
        http,
        command,
        interval_seconds,
        timeout_seconds,
    })
}

fn compatibility(value: &Value, path: &str, problems: &mut Problems) -> Option<Compatibility> {
    let object = Object::read(value, path, problems)?;
    object.deny_unknown(&["runtimes", "platforms"], problems);
    let runtimes = rules::label_list(&object, "runtimes", problems);
    let mut platforms = Vec::new();
    let mut seen = BTreeSet::new();
    for (item_path, value) in object.list("platforms", problems).unwrap_or_default() {
        if let Some(platform) = rules::platform(value, &item_path, problems) {
            if !seen.insert(platform.clone()) {
                problems.field(&item_path, format!("{platform:?} is listed twice"));
            }
            platforms.push(platform);
        }
    }
    Some(Compatibility {
        runtimes,
        platforms,
    })
}
