//! Login: check a credential against a registry before anything keeps it.

use sentinel_client::{ClientError, ClientOptions, Credential, RegistryClient, RegistryLocation};

use crate::error::{Result, WorkflowError};

/// Checks `credential` against the registry at `location` (over plain HTTP
/// when `insecure`), and returns what to keep: the identity token the
/// registry issued in place of a password, else the credential as given.
pub async fn check_credential(
    location: &RegistryLocation,
    credential: Credential,
    insecure: bool,
) -> Result<Credential> {
    let client = RegistryClient::new(
        location,
        ClientOptions {
            credential: Some(credential.clone()),
            insecure,
            ..ClientOptions::default()
        },
    )?;
    let outcome = match client.check_login().await {
        Ok(outcome) => outcome,
        Err(error @ ClientError::AuthenticationFailed { .. }) => {
            return Err(WorkflowError::CredentialsRefused(error));
        }
        Err(error) => return Err(error.into()),
    };
    Ok(match (outcome.identity_token, credential) {
        (Some(token), Credential::Basic { username, .. }) => {
            Credential::IdentityToken { username, token }
        }
        (_, credential) => credential,
    })
}
