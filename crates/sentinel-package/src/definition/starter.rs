//! The commented `agent.yaml` that `agent init` writes.

/// A valid, commented `agent.yaml` for a new agent called `name`, for `agent init`.
///
/// `name` should satisfy [`crate::is_valid_package_name`]; the result then parses.
pub fn starter_agent_yaml(name: &str) -> String {
    format!(
        r#"# agent.yaml: the definition of a Sentinel agent.
# Every field is described in docs/package-format.md. Unknown fields are an
# error, so a misspelt field name is reported instead of ignored.

# Required. Lowercase letters and digits, separated by single '.', '_' or '-'.
name: "{name}"
# Required. A semantic version: MAJOR.MINOR.PATCH, optionally -prerelease and +build.
version: 0.1.0
description: "What this agent does, in one sentence."
# author: "Your Name <you@example.com>"
# An SPDX license expression, e.g. MIT or "MIT OR Apache-2.0".
license: Apache-2.0
# source: https://github.com/your-org/{name}

# Labels that say what the agent can do, and free tags for search.
capabilities:
  - chat
tags: []

# The model the agent runs on.
# model:
#   provider: openai
#   name: gpt-4o
#   parameters:
#     temperature: 0.2

# Other agents this one needs: a repository path and a semver requirement.
# dependencies:
#   - name: team/retriever
#     version: "^1.2"

# Ports the agent listens on (protocol: tcp, udp, http or grpc).
ports:
  - name: http
    port: 8080
    protocol: http

# How a runtime checks the agent is alive: an HTTP path or a command.
health_check:
  http: /healthz
  interval_seconds: 30
  timeout_seconds: 5

# compatibility:
#   runtimes: [python3.12]
#   platforms: [linux/amd64, linux/arm64]

# The command that starts the agent.
entrypoint: ["python", "-m", "agent"]
"#
    )
}
