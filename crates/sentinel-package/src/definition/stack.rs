//! `stack.yaml`: a set of agents pulled by reference, how they start and how they connect.

use std::collections::{BTreeMap, BTreeSet};

use std::fmt;
use std::str::FromStr;

use sentinel_oci::{ImageReference, RepositoryName};
use serde::{Deserialize, Serialize};

use crate::versions::{VersionRequirement, split_requirement};
use serde_norway::Value;

use super::problems::Problems;
use super::rules::{self, Metadata};
use super::yaml::{Object, as_list, as_string};

/// The parsed, validated contents of `stack.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackDefinition {
    /// The stack's name: one OCI repository path component, at most 128 bytes.
    pub name: String,
    /// The stack's semantic version.
    pub version: semver::Version,
    /// One-sentence description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// An SPDX license expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Where the source lives: an absolute URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free labels for search, unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The agents of the stack; never empty.
    pub agents: Vec<StackAgent>,
    /// Connections between the agents; `connections` is accepted as another name for it.
    #[serde(default, alias = "connections", skip_serializing_if = "Vec::is_empty")]
    pub wiring: Vec<Connection>,
}

/// One agent of a stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackAgent {
    /// The agent's name within the stack, unique; the same grammar as package names.
    pub name: String,
    /// Which package to run: pinned by tag or digest, or the highest
    /// version meeting a requirement.
    #[serde(rename = "ref")]
    pub reference: MemberReference,
    /// Environment variables for the agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Agents of the stack that must start before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// Which package a stack member runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberReference {
    /// A tag or digest: `team/researcher:1.2.0`,
    /// `registry.example.com/team/researcher@sha256:...`.
    Pinned(ImageReference),
    /// The highest version meeting a requirement: `team/researcher:^1.2`.
    Requirement {
        /// The package, without tag or digest.
        package: ImageReference,
        /// The versions accepted.
        requirement: VersionRequirement,
    },
}

impl MemberReference {
    /// The registry the reference names, if any.
    pub fn registry(&self) -> Option<&str> {
        self.package().registry()
    }

    /// The repository.
    pub fn repository(&self) -> &RepositoryName {
        self.package().repository()
    }

    /// The reference itself when pinned; the package when a requirement.
    pub fn package(&self) -> &ImageReference {
        match self {
            MemberReference::Pinned(reference) => reference,
            MemberReference::Requirement { package, .. } => package,
        }
    }
}

/// Why a member reference is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberReferenceError {
    /// Not a reference.
    #[error("not a valid reference: {0}")]
    Reference(#[from] sentinel_oci::ImageReferenceError),
    /// A reference without tag or digest.
    #[error("names no tag, digest or version requirement")]
    Unpinned,
    /// What follows the last `:` is neither a tag nor a requirement.
    #[error(transparent)]
    Requirement(#[from] crate::versions::RequirementError),
}

impl FromStr for MemberReference {
    type Err = MemberReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some((base, tail)) = split_requirement(text) {
            let package: ImageReference = base.parse()?;
            if package.tag().is_some() || package.digest().is_some() {
                return Err(MemberReferenceError::Unpinned);
            }
            return Ok(MemberReference::Requirement {
                package,
                requirement: tail.parse()?,
            });
        }
        let reference: ImageReference = text.parse()?;
        if reference.tag().is_none() && reference.digest().is_none() {
            return Err(MemberReferenceError::Unpinned);
        }
        Ok(MemberReference::Pinned(reference))
    }
}

impl fmt::Display for MemberReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberReference::Pinned(reference) => write!(f, "{reference}"),
            MemberReference::Requirement {
                package,
                requirement,
            } => write!(f, "{package}:{requirement}"),
        }
    }
}

impl Serialize for MemberReference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MemberReference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A connection from an agent (or one of its ports) to another agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// `<agent>` or `<agent>.<port>`.
    pub from: String,
    /// `<agent>`.
    pub to: String,
}

const FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "author",
    "license",
    "source",
    "tags",
    "agents",
    "wiring",
    "connections",
];

/// Checks the top-level mapping of `stack.yaml`, recording every problem.
pub(crate) fn check(root: &Object<'_>, problems: &mut Problems) -> Option<StackDefinition> {
    root.deny_unknown(FIELDS, problems);
    let Metadata {
        name,
        version,
        description,
        author,
        license,
        source,
    } = Metadata::check(root, problems);
    let tags = rules::label_list(root, "tags", problems);
    let (agents, names) = agents(root, problems);
    let wiring = wiring(root, &names, problems);
    let definition = StackDefinition {
        name: name?,
        version: version?,
        description,
        author,
        license,
        source,
        tags,
        agents,
        wiring,
    };
    problems.is_empty().then_some(definition)
}

/// An agent's place in the dependency graph, kept even when its other fields are invalid so
/// that references to it are not reported as unknown.
struct Node {
    name: String,
    depends_on: Vec<String>,
    path: String,
}

/// The complete agents, and the names of every agent whose name is valid.
fn agents(root: &Object<'_>, problems: &mut Problems) -> (Vec<StackAgent>, BTreeSet<String>) {
    let Some(items) = root
        .required("agents", problems)
        .and_then(|value| as_list(value, &root.path("agents"), problems))
    else {
        return (Vec::new(), BTreeSet::new());
    };
    if items.is_empty() {
        problems.field(&root.path("agents"), "must list at least one agent");
    }
    let mut agents = Vec::new();
    let mut nodes = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, value) in items {
        let Some(object) = Object::read(value, &path, problems) else {
            continue;
        };
        object.deny_unknown(&["name", "ref", "env", "depends_on"], problems);
        let name = object
            .required_string("name", problems)
            .and_then(|name| rules::package_name(name, &object.path("name"), problems));
        if let Some(name) = &name
            && !seen.insert(name.clone())
        {
            problems.field(
                &object.path("name"),
                format!("agent name {name:?} is used twice"),
            );
        }
        let reference = object.required_string("ref", problems).and_then(|text| {
            match text.parse::<MemberReference>() {
                Ok(reference) => Some(reference),
                Err(MemberReferenceError::Unpinned) => {
                    problems.field(
                        &object.path("ref"),
                        format!("{text:?} names no tag, digest or version requirement; pin a version (e.g. {text}:1.2.0) or accept a range (e.g. {text}:^1.2)"),
                    );
                    None
                }
                Err(error) => {
                    problems.field(
                        &object.path("ref"),
                        format!("{error} (expected e.g. team/researcher:1.2.0, team/researcher:^1.2 or registry.example.com/team/researcher@sha256:...)"),
                    );
                    None
                }
            }
        });
        let env = object
            .get("env")
            .map(|value| environment(value, &object.path("env"), problems))
            .unwrap_or_default();
        let depends_on: Vec<String> = object
            .list("depends_on", problems)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(item_path, value)| {
                as_string(value, &item_path, problems).map(str::to_owned)
            })
            .collect();
        let Some(name) = name else {
            continue;
        };
        nodes.push(Node {
            name: name.clone(),
            depends_on: depends_on.clone(),
            path: object.path("depends_on"),
        });
        if let Some(reference) = reference {
            agents.push(StackAgent {
                name,
                reference,
                env,
                depends_on,
            });
        }
    }
    check_dependencies(&nodes, problems);
    (agents, seen)
}

/// `env`: variable names `[A-Za-z_][A-Za-z0-9_]*` to string values.
fn environment(value: &Value, path: &str, problems: &mut Problems) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let Some(object) = Object::read(value, path, problems) else {
        return env;
    };
    for (key, value) in object.entries(problems) {
        let key_path = object.path(&key);
        let valid_key = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            problems.field(
                &key_path,
                format!("{key:?} is not an environment variable name: use letters, digits and '_', not starting with a digit"),
            );
            continue;
        }
        if let Some(text) = as_string(value, &key_path, problems) {
            env.insert(key, text.to_owned());
        }
    }
    env
}

/// Every `depends_on` entry names another agent of the stack, and the graph has no cycle.
fn check_dependencies(nodes: &[Node], problems: &mut Problems) {
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.name.as_str(), i))
        .collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for dependency in &node.depends_on {
            if !seen.insert(dependency) {
                problems.field(&node.path, format!("{dependency:?} is listed twice"));
            } else if dependency == &node.name {
                problems.field(
                    &node.path,
                    format!("agent {dependency:?} depends on itself"),
                );
            } else if let Some(&target) = index.get(dependency.as_str()) {
                edges[i].push(target);
            } else {
                problems.field(
                    &node.path,
                    format!("{dependency:?} is not an agent of this stack"),
                );
            }
        }
    }
    let mut reported = BTreeSet::new();
    for cycle in find_cycles(&edges) {
        let mut members = cycle.clone();
        members.sort_unstable();
        if reported.insert(members) {
            let first = cycle[0];
            let names: Vec<&str> = cycle
                .iter()
                .chain(std::iter::once(&first))
                .map(|&i| nodes[i].name.as_str())
                .collect();
            problems.field(
                &nodes[first].path,
                format!("dependency cycle: {}", names.join(" -> ")),
            );
        }
    }
}

/// Every cycle met by a depth-first search from each node in order, each starting at the
/// node where the search entered it.
fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnPath,
        Done,
    }
    let mut state = vec![State::New; edges.len()];
    let mut cycles = Vec::new();
    for start in 0..edges.len() {
        if state[start] != State::New {
            continue;
        }
        let mut path = vec![start];
        let mut next_edge = vec![0usize];
        state[start] = State::OnPath;
        while let Some(&node) = path.last() {
            let depth = path.len() - 1;
            if let Some(&target) = edges[node].get(next_edge[depth]) {
                next_edge[depth] += 1;
                match state[target] {
                    State::New => {
                        state[target] = State::OnPath;
                        path.push(target);
                        next_edge.push(0);
                    }
                    State::OnPath => {
                        if let Some(position) = path.iter().position(|&n| n == target) {
                            cycles.push(path[position..].to_vec());
                        }
                    }
                    State::Done => {}
                }
            } else {
                state[node] = State::Done;
                path.pop();
                next_edge.pop();
            }
        }
    }
    cycles
}

fn wiring(root: &Object<'_>, names: &BTreeSet<String>, problems: &mut Problems) -> Vec<Connection> {
    let key = match (
        root.get("wiring").is_some(),
        root.get("connections").is_some(),
    ) {
        (true, true) => {
            problems.field(
                &root.path("connections"),
                "\"wiring\" and \"connections\" are the same field; use only one",
            );
            return Vec::new();
        }
        (false, true) => "connections",
        _ => "wiring",
    };
    let mut connections = Vec::new();
    for (path, value) in root.list(key, problems).unwrap_or_default() {
        let Some(object) = Object::read(value, &path, problems) else {
            continue;
        };
        object.deny_unknown(&["from", "to"], problems);
        let from = object.required_string("from", problems).and_then(|from| {
            match split_endpoint(from, names) {
                Some((_, Some(port))) if !rules::is_valid_port_name(port) => {
                    problems.field(
                        &object.path("from"),
                        format!("{port:?} in {from:?} is not a valid port name"),
                    );
                    None
                }
                Some(_) => Some(from.to_owned()),
                None => {
                    problems.field(
                        &object.path("from"),
                        format!("{from:?} does not name an agent of this stack (write <agent> or <agent>.<port>)"),
                    );
                    None
                }
            }
        });
        let to = object.required_string("to", problems).and_then(|to| {
            if names.contains(to) {
                Some(to.to_owned())
            } else {
                problems.field(
                    &object.path("to"),
                    format!("{to:?} is not an agent of this stack"),
                );
                None
            }
        });
        if let (Some(from), Some(to)) = (from, to) {
            connections.push(Connection { from, to });
        }
    }
    connections
}

/// Splits `<agent>` or `<agent>.<port>`: the whole text when it names an agent (agent names
/// may contain dots), else the part before the last `.` when that names one.
pub(crate) fn split_endpoint<'a>(
    text: &'a str,
    agents: &BTreeSet<String>,
) -> Option<(&'a str, Option<&'a str>)> {
    if agents.contains(text) {
        return Some((text, None));
    }
    let (agent, port) = text.rsplit_once('.')?;
    agents.contains(agent).then_some((agent, Some(port)))
}
