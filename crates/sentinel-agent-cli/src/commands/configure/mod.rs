//! `agent configure ...`: a Sentinel registry's settings, changed through
//! its management API. One module per subgroup; each parses its arguments,
//! calls its workflow and prints the answer: `permission` and `visibility`
//! (a repository's grants and who may pull it), `rate-limit` (the request
//! rate limits), `webhook` (where events go), `retention` (retention
//! policies, and running them), `immutable` (tag immutability rules) and
//! `quota` (namespace quotas and usage).

pub mod immutable;
mod permission;
pub mod quota;
mod rate_limit;
pub mod retention;
mod visibility;
mod webhook;

use clap::Args;
use sentinel_client::RegistryClient;

use crate::cli::{ConfigureCommand, RegistryTarget, RemoteArgs};
use crate::context::Context;
use crate::exit::UsageError;
use crate::remote::{Remote, names_registry};

pub(crate) use super::registry::print_structured;

/// Runs an `agent configure` subcommand.
pub async fn run(context: &Context, command: ConfigureCommand) -> anyhow::Result<()> {
    match command {
        ConfigureCommand::Permission(command) => permission::run(context, command).await,
        ConfigureCommand::Visibility(args) => visibility::run(context, args).await,
        ConfigureCommand::RateLimit(args) => rate_limit::run(context, args).await,
        ConfigureCommand::Webhook(command) => webhook::run(context, command).await,
        ConfigureCommand::Retention(command) => retention::run(context, command).await,
        ConfigureCommand::Immutable(command) => immutable::run(context, command).await,
        ConfigureCommand::Quota(command) => quota::run(context, command).await,
    }
}

/// Arguments of the `remove` subcommands of `retention` and `immutable`.
#[derive(Debug, Args)]
pub struct PatternArgs {
    /// The pattern, exactly as set.
    pub pattern: String,
    /// The registry.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// A client of the registry a configure command that names no repository
/// talks to (rate-limit, webhook, retention, quota): the positional
/// REGISTRY, else `--registry`, the profile's, `AGENT_REGISTRY_URL`, the
/// configured default. A positional REGISTRY must look like one, as docker
/// tells a registry from a namespace (`quota list alice` is a mistake, not
/// a host named alice).
fn client(context: &Context, target: &RegistryTarget) -> anyhow::Result<RegistryClient> {
    if let Some(address) = &target.address
        && !is_registry_address(address)
    {
        return Err(UsageError(format!(
            "{address:?} is not a registry: give REGISTRY as host.domain[:port], host:port, localhost or a URL, after the command's other arguments"
        ))
        .into());
    }
    let chosen = context.target(&target.remote)?;
    let address = target
        .address
        .clone()
        .or_else(|| chosen.default_registry.clone())
        .ok_or_else(|| {
            UsageError(
                "no registry given: name one as REGISTRY or with --registry, or set default_registry in the configuration"
                    .to_string(),
            )
        })?;
    context.registry_client(&address, &chosen)
}

/// The registries of a configure command about the repository `reference`
/// (`[registry/]repository`): REF's host, else `--registry`, the
/// profile's, `AGENT_REGISTRY_URL`, the configured default. The management
/// API is Sentinel's, so a REF naming no registry with no default is a
/// usage error, not a request to docker.io.
fn repository_remote<'a>(
    context: &'a Context,
    reference: &str,
    remote: &RemoteArgs,
) -> anyhow::Result<Remote<'a>> {
    let target = context.target(remote)?;
    if target.default_registry.is_none() && !names_registry(reference) {
        return Err(UsageError(format!(
            "no registry given: name one with --registry or REF's host (registry.example.com/{reference}), or set default_registry in the configuration"
        ))
        .into());
    }
    Ok(Remote::fixed(context, target))
}

/// Whether `text` names a registry: a URL, or a host that docker's rule
/// takes for one (a `.` or `:` in it, or `localhost`).
fn is_registry_address(text: &str) -> bool {
    text.contains("://") || sentinel_oci::looks_like_registry(text)
}

#[cfg(test)]
mod tests {
    use super::is_registry_address;

    #[test]
    fn a_registry_address_is_told_from_a_name() {
        for registry in [
            "registry.example.com",
            "127.0.0.1:5000",
            "localhost",
            "[::1]:5000",
            "https://registry",
        ] {
            assert!(is_registry_address(registry), "{registry}");
        }
        for name in ["alice", "team-1", ""] {
            assert!(!is_registry_address(name), "{name}");
        }
    }
}
