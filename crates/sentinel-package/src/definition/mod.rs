//! Agent and stack definitions: parsing `agent.yaml` / `stack.yaml` and checking every field.

mod agent;
mod problems;
mod rules;
mod stack;
mod starter;
mod yaml;

pub use agent::{
    AgentDefinition, Compatibility, Dependency, HealthCheck, ModelSpec, Port, Protocol,
};
pub use problems::{DefinitionError, Problem};
pub use rules::{MAX_NAME_LEN, is_valid_package_name};
pub use stack::{Connection, MemberReference, MemberReferenceError, StackAgent, StackDefinition};
pub use starter::starter_agent_yaml;

use serde_norway::Value;

use crate::kind::PackageKind;
use problems::Problems;
use yaml::{Object, describe};

/// A validated definition of either kind.
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a program holds a handful of definitions; unboxed variants keep matching on them plain"
)]
pub enum Definition {
    /// The contents of `agent.yaml`.
    Agent(AgentDefinition),
    /// The contents of `stack.yaml`.
    Stack(StackDefinition),
}

impl Definition {
    /// Parses and validates a definition file of `kind`.
    ///
    /// `file_name` is only used in messages. Every problem is collected into the one error:
    /// YAML syntax errors with their line and column, unknown fields, wrong types and
    /// field rules, each naming the field path (e.g. `ports[1].port`).
    pub fn parse(
        kind: PackageKind,
        file_name: &str,
        yaml: &[u8],
    ) -> Result<Definition, DefinitionError> {
        let mut problems = Problems::new(file_name);
        let value: Value = match serde_norway::from_slice(yaml) {
            Ok(value) => value,
            Err(error) => {
                problems.file(syntax_message(&error));
                return Err(problems.into_error());
            }
        };
        let map = match &value {
            Value::Mapping(map) => map,
            Value::Null => {
                problems.file("is empty; it needs at least a name and a version");
                return Err(problems.into_error());
            }
            other => {
                problems.file(format!(
                    "expected a mapping of fields at the top level, found {}",
                    describe(other)
                ));
                return Err(problems.into_error());
            }
        };
        let root = Object::root(map);
        let definition = match kind {
            PackageKind::Agent => agent::check(&root, &mut problems).map(Definition::Agent),
            PackageKind::Stack => stack::check(&root, &mut problems).map(Definition::Stack),
        };
        problems.finish(definition)
    }

    /// Which kind of definition this is.
    pub fn kind(&self) -> PackageKind {
        match self {
            Definition::Agent(_) => PackageKind::Agent,
            Definition::Stack(_) => PackageKind::Stack,
        }
    }

    /// The package name.
    pub fn name(&self) -> &str {
        match self {
            Definition::Agent(agent) => &agent.name,
            Definition::Stack(stack) => &stack.name,
        }
    }

    /// The package version.
    pub fn version(&self) -> &semver::Version {
        match self {
            Definition::Agent(agent) => &agent.version,
            Definition::Stack(stack) => &stack.version,
        }
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        match self {
            Definition::Agent(agent) => agent.description.as_deref(),
            Definition::Stack(stack) => stack.description.as_deref(),
        }
    }

    /// The author, if any.
    pub fn author(&self) -> Option<&str> {
        match self {
            Definition::Agent(agent) => agent.author.as_deref(),
            Definition::Stack(stack) => stack.author.as_deref(),
        }
    }

    /// The license expression, if any.
    pub fn license(&self) -> Option<&str> {
        match self {
            Definition::Agent(agent) => agent.license.as_deref(),
            Definition::Stack(stack) => stack.license.as_deref(),
        }
    }

    /// The source URL, if any.
    pub fn source(&self) -> Option<&str> {
        match self {
            Definition::Agent(agent) => agent.source.as_deref(),
            Definition::Stack(stack) => stack.source.as_deref(),
        }
    }

    /// The agent's capabilities; empty for stacks.
    pub fn capabilities(&self) -> &[String] {
        match self {
            Definition::Agent(agent) => &agent.capabilities,
            Definition::Stack(_) => &[],
        }
    }

    /// The tags.
    pub fn tags(&self) -> &[String] {
        match self {
            Definition::Agent(agent) => &agent.tags,
            Definition::Stack(stack) => &stack.tags,
        }
    }
}

/// A YAML syntax error as one sentence with its line and column.
fn syntax_message(error: &serde_norway::Error) -> String {
    let text = error.to_string();
    match error.location() {
        Some(location) => {
            let suffix = format!(" at line {} column {}", location.line(), location.column());
            let detail = text.strip_suffix(&suffix).unwrap_or(&text);
            format!(
                "line {}, column {}: invalid YAML: {detail}",
                location.line(),
                location.column()
            )
        }
        None => format!("invalid YAML: {text}"),
    }
}
