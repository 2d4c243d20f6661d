//! The credential value handed to the HTTP client, and where it came from.

use std::fmt;

/// Placeholder printed instead of a secret.
const REDACTED: &str = "<redacted>";

/// A secret-bearing registry credential.
///
/// `Debug` and `Display` never print the secret: they show the username (when
/// there is one) and `<redacted>` in place of the password or token, so a
/// credential can appear in logs and error reports safely.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A username and password, sent as HTTP Basic authentication or exchanged
    /// for a bearer token at the registry's token endpoint.
    Basic {
        /// The account name.
        username: String,
        /// The password or access token used as a password.
        password: String,
    },
    /// An OAuth2 refresh token, as stored by `docker login` under
    /// `identitytoken`; exchanged at the registry's token endpoint with
    /// `grant_type=refresh_token`. The username may be empty.
    IdentityToken {
        /// The account name, or empty when the source did not name one.
        username: String,
        /// The refresh token.
        token: String,
    },
    /// A registry token sent as-is: `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = format_args!("{REDACTED}");
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &redacted)
                .finish(),
            Credential::IdentityToken { username, .. } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("token", &redacted)
                .finish(),
            Credential::Bearer { .. } => {
                f.debug_struct("Bearer").field("token", &redacted).finish()
            }
        }
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                write!(f, "username and password for {username:?}")
            }
            Credential::IdentityToken { username, .. } if username.is_empty() => {
                f.write_str("identity token")
            }
            Credential::IdentityToken { username, .. } => {
                write!(f, "identity token for {username:?}")
            }
            Credential::Bearer { .. } => f.write_str("bearer token"),
        }
    }
}

/// Where a resolved credential was found, for messages such as
/// "using credentials from the docker config.json".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialOrigin {
    /// `AGENT_REGISTRY_TOKEN`, or `DOCKER_USERNAME` with `DOCKER_PASSWORD`.
    Environment,
    /// The agent's own `credentials.json`.
    AgentStore,
    /// An entry in `auths` of Docker's `config.json`.
    DockerConfig,
    /// A Docker credential helper, by its short name (`ecr-login` for the
    /// program `docker-credential-ecr-login`).
    Helper(String),
}

impl fmt::Display for CredentialOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialOrigin::Environment => f.write_str("environment"),
            CredentialOrigin::AgentStore => f.write_str("agent credentials file"),
            CredentialOrigin::DockerConfig => f.write_str("docker config.json"),
            CredentialOrigin::Helper(name) => {
                write!(
                    f,
                    "credential helper {}",
                    crate::helper::helper_program(name)
                )
            }
        }
    }
}
