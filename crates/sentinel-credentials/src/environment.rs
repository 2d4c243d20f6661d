//! Credentials from environment variables, read once into a plain struct so
//! tests can supply values without touching the process environment.

use std::fmt;

use crate::credential::Credential;
use crate::registry_key::normalize_registry_key;

/// Bearer token for the agent's registry.
pub const AGENT_REGISTRY_TOKEN: &str = "AGENT_REGISTRY_TOKEN";
/// Registry that [`AGENT_REGISTRY_TOKEN`] is restricted to, when set.
pub const AGENT_REGISTRY_URL: &str = "AGENT_REGISTRY_URL";
/// Username for any registry, used together with [`DOCKER_PASSWORD`].
pub const DOCKER_USERNAME: &str = "DOCKER_USERNAME";
/// Password for any registry, used together with [`DOCKER_USERNAME`].
pub const DOCKER_PASSWORD: &str = "DOCKER_PASSWORD";

/// The credential-related environment variables.
///
/// `Debug` redacts the token and the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `AGENT_REGISTRY_TOKEN`: a bearer token.
    pub registry_token: Option<String>,
    /// `AGENT_REGISTRY_URL`: the registry the token belongs to; when unset the
    /// token is offered to any registry.
    pub registry_url: Option<String>,
    /// `DOCKER_USERNAME`.
    pub docker_username: Option<String>,
    /// `DOCKER_PASSWORD`.
    pub docker_password: Option<String>,
}

impl Environment {
    /// Reads the variables from the process environment. A variable that is
    /// empty or not valid UTF-8 counts as unset.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the struct from any name-to-value lookup.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name| lookup(name).filter(|value| !value.is_empty());
        Environment {
            registry_token: get(AGENT_REGISTRY_TOKEN),
            registry_url: get(AGENT_REGISTRY_URL),
            docker_username: get(DOCKER_USERNAME),
            docker_password: get(DOCKER_PASSWORD),
        }
    }

    /// The credential these variables give for `registry`, if any: the agent
    /// token first (when it applies to this registry), then the Docker
    /// username and password.
    pub(crate) fn credential_for(&self, registry: &str) -> Option<Credential> {
        let token_applies = self
            .registry_url
            .as_deref()
            .is_none_or(|url| normalize_registry_key(url) == normalize_registry_key(registry));
        if let Some(token) = self.registry_token.as_ref().filter(|_| token_applies) {
            return Some(Credential::Bearer {
                token: token.clone(),
            });
        }
        match (&self.docker_username, &self.docker_password) {
            (Some(username), Some(password)) => Some(Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("Environment")
            .field("registry_token", &redact(&self.registry_token))
            .field("registry_url", &self.registry_url)
            .field("docker_username", &self.docker_username)
            .field("docker_password", &redact(&self.docker_password))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn reads_variables_and_treats_empty_as_unset() {
        let environment = env(&[
            (AGENT_REGISTRY_TOKEN, "tok"),
            (AGENT_REGISTRY_URL, ""),
            (DOCKER_USERNAME, "bob"),
            (DOCKER_PASSWORD, "pw"),
        ]);
        assert_eq!(environment.registry_token.as_deref(), Some("tok"));
        assert_eq!(environment.registry_url, None);
        assert_eq!(environment.docker_username.as_deref(), Some("bob"));
        assert_eq!(environment.docker_password.as_deref(), Some("pw"));
    }

    #[test]
    fn token_without_url_applies_to_any_registry() {
        let environment = env(&[(AGENT_REGISTRY_TOKEN, "tok")]);
        assert_eq!(
            environment.credential_for("ghcr.io"),
            Some(Credential::Bearer {
                token: "tok".into()
            })
        );
    }

    #[test]
    fn token_with_url_applies_only_to_that_registry() {
        let environment = env(&[
            (AGENT_REGISTRY_TOKEN, "tok"),
            (AGENT_REGISTRY_URL, "https://agents.example.com/"),
            (DOCKER_USERNAME, "bob"),
            (DOCKER_PASSWORD, "pw"),
        ]);
        assert_eq!(
            environment.credential_for("agents.example.com"),
            Some(Credential::Bearer {
                token: "tok".into()
            })
        );
        assert_eq!(
            environment.credential_for("ghcr.io"),
            Some(Credential::Basic {
                username: "bob".into(),
                password: "pw".into()
            })
        );
    }

    #[test]
    fn username_without_password_gives_nothing() {
        let environment = env(&[(DOCKER_USERNAME, "bob")]);
        assert_eq!(environment.credential_for("ghcr.io"), None);
    }

    #[test]
    fn debug_redacts_token_and_password() {
        let environment = env(&[
            (AGENT_REGISTRY_TOKEN, "s3cret-token"),
            (DOCKER_USERNAME, "bob"),
            (DOCKER_PASSWORD, "s3cret-pass"),
        ]);
        let shown = format!("{environment:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("bob"), "{shown}");
    }
}
