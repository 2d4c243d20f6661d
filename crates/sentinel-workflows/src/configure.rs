//! What `agent configure` changes on a Sentinel registry through its
//! management API: a repository's grants ([`grant`], [`revoke`],
//! [`repository_settings`]) and visibility ([`set_visibility`]), and the
//! server's request rate limits ([`rate_limits`], [`change_rate_limits`],
//! [`reset_rate_limits`]).
//!
//! A caller who may not is refused by the registry ([`ClientError::Denied`],
//! with the registry's one-line reason); the other refusals mean what
//! [`management`](crate::management) says: a registry without the
//! management API is [`WorkflowError::Unsupported`], an unknown user
//! [`WorkflowError::NotFound`], a change the registry finds invalid
//! [`WorkflowError::Usage`].

use sentinel_client::{
    Access, RateLimitChange, RateLimits, RegistryClient, RepositorySettings, Visibility,
};

use crate::error::{Result, WorkflowError};
use crate::management::{Purpose, explained};
use crate::registries::{self, Registries};

/// Grants and visibility, as `sentinel-registry repo` changes them on the server.
const GRANTS: Purpose = Purpose {
    doing: "change grants",
    on_server: "repo",
};
const VISIBILITY: Purpose = Purpose {
    doing: "change visibility",
    on_server: "repo",
};
const SETTINGS: Purpose = Purpose {
    doing: "show repository settings",
    on_server: "repo show",
};
/// The rate limits, as `sentinel-registry rate-limit` changes them on the server.
const SHOW_RATE_LIMITS: Purpose = Purpose {
    doing: "show rate limits",
    on_server: "rate-limit",
};
const RATE_LIMITS: Purpose = Purpose {
    doing: "change rate limits",
    on_server: "rate-limit",
};

/// The visibility and grants of the repository `text` names
/// (`[registry/]repository`).
pub async fn repository_settings(
    registries: &dyn Registries,
    text: &str,
) -> Result<RepositorySettings> {
    let (client, repository) = repository(registries, text)?;
    settings(&client, &repository).await
}

/// Grants `user` `access` to the repository `text` names, replacing any
/// grant the user had; returns the repository's settings after the change.
pub async fn grant(
    registries: &dyn Registries,
    text: &str,
    user: &str,
    access: Access,
) -> Result<RepositorySettings> {
    let (client, repository) = repository(registries, text)?;
    if let Err(error) = client.grant(&repository, user, access).await {
        return Err(explained(&client, error, GRANTS).await);
    }
    settings(&client, &repository).await
}

/// Removes the grant of `user` on the repository `text` names (when
/// `expected` is given, only if the grant is that one); returns the
/// repository's settings after the change.
pub async fn revoke(
    registries: &dyn Registries,
    text: &str,
    user: &str,
    expected: Option<Access>,
) -> Result<RepositorySettings> {
    let (client, repository) = repository(registries, text)?;
    if let Some(expected) = expected {
        let before = settings(&client, &repository).await?;
        match before.grants.get(user) {
            None => {
                return Err(WorkflowError::NotFound(format!(
                    "{user} has no grant on {repository}"
                )));
            }
            Some(held) if held != expected.as_str() => {
                return Err(WorkflowError::Usage(format!(
                    "{user}'s grant on {repository} is {held}, not {}",
                    expected.as_str()
                )));
            }
            Some(_) => {}
        }
    }
    if let Err(error) = client.revoke_grant(&repository, user).await {
        return Err(explained(&client, error, GRANTS).await);
    }
    settings(&client, &repository).await
}

/// Sets who may pull the repository `text` names; returns its settings
/// after the change.
pub async fn set_visibility(
    registries: &dyn Registries,
    text: &str,
    visibility: Visibility,
) -> Result<RepositorySettings> {
    let (client, repository) = repository(registries, text)?;
    if let Err(error) = client.set_visibility(&repository, visibility).await {
        return Err(explained(&client, error, VISIBILITY).await);
    }
    settings(&client, &repository).await
}

/// The registry's request rate limits in force.
pub async fn rate_limits(client: &RegistryClient) -> Result<RateLimits> {
    match client.rate_limits().await {
        Ok(limits) => Ok(limits),
        Err(error) => Err(explained(client, error, SHOW_RATE_LIMITS).await),
    }
}

/// Changes the registry's request rate limits while it runs; returns those
/// now in force. What can be refused without asking is; the registry's
/// refusals name the fields as the flags do (`--requests-per-minute`).
pub async fn change_rate_limits(
    client: &RegistryClient,
    change: RateLimitChange,
) -> Result<RateLimits> {
    if change.requests_per_minute.is_none() && change.burst_size.is_none() {
        return Err(WorkflowError::Usage(
            "give --requests-per-minute, --burst-size or both".to_owned(),
        ));
    }
    if change.requests_per_minute == Some(0) && change.burst_size.is_some_and(|burst| burst > 0) {
        return Err(WorkflowError::Usage(
            "--burst-size needs a rate: give --requests-per-minute above 0 (0 is no limit)"
                .to_owned(),
        ));
    }
    match client.set_rate_limits(change).await {
        Ok(limits) => Ok(limits),
        Err(error) => Err(in_flags(explained(client, error, RATE_LIMITS).await)),
    }
}

/// A refused rate-limit change in the words of the flags: the registry
/// names the fields of its API (`requests_per_minute`, `burst_size`).
fn in_flags(error: WorkflowError) -> WorkflowError {
    match error {
        WorkflowError::Usage(message) => WorkflowError::Usage(
            message
                .replace("requests_per_minute", "--requests-per-minute")
                .replace("burst_size", "--burst-size"),
        ),
        other => other,
    }
}

/// Returns the registry to the rate limits of its settings.
pub async fn reset_rate_limits(client: &RegistryClient) -> Result<RateLimits> {
    match client.reset_rate_limits().await {
        Ok(limits) => Ok(limits),
        Err(error) => Err(explained(client, error, RATE_LIMITS).await),
    }
}

/// The client and repository of `text`, which must name no tag or digest.
fn repository(registries: &dyn Registries, text: &str) -> Result<(RegistryClient, String)> {
    let reference = registries::reference(registries, text)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(WorkflowError::Usage(format!(
            "{text} names a tag or digest; give the repository alone, e.g. {}",
            reference.repository()
        )));
    }
    let client = registries::client(registries, &reference)?;
    Ok((client, reference.repository().to_owned()))
}

async fn settings(client: &RegistryClient, repository: &str) -> Result<RepositorySettings> {
    match client.repository_settings(repository).await {
        Ok(settings) => Ok(settings),
        Err(error) => Err(explained(client, error, SETTINGS).await),
    }
}
