//! What a refusal of Sentinel's management API means, one way for every
//! `agent configure` workflow (grants, visibility, rate limits, webhooks,
//! retention, immutability rules, quotas):
//!
//! - a 404 from a registry without the management API (another registry,
//!   or Sentinel with authentication off) is [`WorkflowError::Unsupported`],
//!   saying which and how to get there; on a Sentinel registry that signs
//!   the caller in, it is something that does not exist
//!   ([`WorkflowError::NotFound`], or the client's not-found error);
//! - a 400 or 409 (a change the registry finds invalid, or in conflict with
//!   its configuration file) is [`WorkflowError::Usage`] with the registry's
//!   message;
//! - anything else (a caller who may not, no connection) is the client's
//!   error as it is.

use sentinel_client::{ClientError, ManagementApi, RegistryClient};

use crate::error::WorkflowError;

/// What a management request is for, in the words its errors use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Purpose {
    /// What the request does, after "to": `change grants`, `manage webhooks`.
    pub(crate) doing: &'static str,
    /// The `sentinel-registry` subcommand that does the same on the
    /// server's machine: `repo`, `webhook`, `policy quota`.
    pub(crate) on_server: &'static str,
}

/// The error to show for a management request for `purpose` that failed
/// with `error` (see the module's documentation).
pub(crate) async fn explained(
    client: &RegistryClient,
    error: ClientError,
    purpose: Purpose,
) -> WorkflowError {
    let registry = client.registry();
    match error {
        ClientError::NotFound { .. } | ClientError::Registry { status: 404, .. } => {
            match client.management_api().await {
                Ok(ManagementApi::AuthenticationOff) => WorkflowError::Unsupported(format!(
                    "{registry} runs without authentication, so it has no management API to {} over HTTP: start it with --auth, or use `sentinel-registry {}` on the server's machine",
                    purpose.doing, purpose.on_server
                )),
                Ok(ManagementApi::Absent) => WorkflowError::Unsupported(format!(
                    "{registry} is not a Sentinel registry: it has no management API to {}",
                    purpose.doing
                )),
                Ok(ManagementApi::SignedIn { .. }) | Err(_) => match error {
                    ClientError::Registry { message, .. } => WorkflowError::NotFound(message),
                    other => WorkflowError::Client(other),
                },
            }
        }
        ClientError::Registry {
            status: 400 | 409,
            message,
            ..
        } => WorkflowError::Usage(message),
        other => WorkflowError::Client(other),
    }
}
