//! The search for a registry's credential across all sources, in order.

use std::path::{Path, PathBuf};

use crate::agent_store::AgentCredentialStore;
use crate::config_dir::default_docker_config_dir;
use crate::credential::{Credential, CredentialOrigin};
use crate::docker_config::DockerConfig;
use crate::environment::Environment;
use crate::error::CredentialError;
use crate::helper::HelperRunner;

/// Every place a credential may come from, consulted in this order by
/// [`CredentialSources::resolve`]: the environment, the agent's credentials
/// file, then Docker's `config.json` (its `credHelpers`, `auths` and
/// `credsStore`).
#[derive(Debug, Clone)]
pub struct CredentialSources {
    /// Credential environment variables.
    pub environment: Environment,
    /// The agent's own credentials file.
    pub agent_store: AgentCredentialStore,
    /// The directory holding Docker's `config.json`; `None` means Docker's
    /// configuration is not consulted.
    pub docker_config_dir: Option<PathBuf>,
}

impl CredentialSources {
    /// Sources as the running process sees them: its environment variables,
    /// `credentials.json` in `agent_config_dir`, and Docker's configuration in
    /// `$DOCKER_CONFIG` or `~/.docker`.
    pub fn from_process(agent_config_dir: &Path) -> Self {
        CredentialSources {
            environment: Environment::from_process(),
            agent_store: AgentCredentialStore::in_dir(agent_config_dir),
            docker_config_dir: default_docker_config_dir(),
        }
    }

    /// The first credential found for `registry` (a host, or any spelling
    /// [`normalize_registry_key`](crate::normalize_registry_key) accepts) and
    /// where it came from; `None` when no source has one, which means
    /// anonymous access. Credential helpers are found on the process `PATH`.
    pub fn resolve(
        &self,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialOrigin)>, CredentialError> {
        self.resolve_with(registry, &HelperRunner::from_process())
    }

    /// [`Self::resolve`] running credential helpers with `helpers`.
    fn resolve_with(
        &self,
        registry: &str,
        helpers: &HelperRunner,
    ) -> Result<Option<(Credential, CredentialOrigin)>, CredentialError> {
        if let Some(credential) = self.environment.credential_for(registry) {
            return Ok(Some((credential, CredentialOrigin::Environment)));
        }
        if let Some(credential) = self.agent_store.get(registry)? {
            return Ok(Some((credential, CredentialOrigin::AgentStore)));
        }
        let Some(dir) = &self.docker_config_dir else {
            return Ok(None);
        };
        match DockerConfig::load(dir)? {
            Some(config) => config.resolve(registry, helpers),
            None => Ok(None),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::helper::tests::FakeHelpers;

    struct Fixture {
        helpers: FakeHelpers,
        agent_dir: tempfile::TempDir,
        docker_dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                helpers: FakeHelpers::new(),
                agent_dir: tempfile::tempdir().unwrap(),
                docker_dir: tempfile::tempdir().unwrap(),
            }
        }

        fn sources(&self, environment: Environment) -> CredentialSources {
            CredentialSources {
                environment,
                agent_store: AgentCredentialStore::in_dir(self.agent_dir.path()),
                docker_config_dir: Some(self.docker_dir.path().to_owned()),
            }
        }

        fn docker_config(&self, json: &str) {
            std::fs::write(self.docker_dir.path().join("config.json"), json).unwrap();
        }

        fn resolve(
            &self,
            environment: Environment,
            registry: &str,
        ) -> Option<(Credential, CredentialOrigin)> {
            self.sources(environment)
                .resolve_with(registry, &self.helpers.runner())
                .unwrap()
        }
    }

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    fn docker_env() -> Environment {
        Environment {
            docker_username: Some("env-user".into()),
            docker_password: Some("env-pass".into()),
            ..Environment::default()
        }
    }

    /// Docker config with a helper, an auths entry (u:p) and a store for ghcr.io.
    const FULL_DOCKER_CONFIG: &str = r#"{
        "credHelpers": {"ghcr.io": "hosthelper"},
        "auths": {"ghcr.io": {"auth": "dTpw"}},
        "credsStore": "store"
    }"#;

    #[test]
    fn sources_are_consulted_in_order() {
        let fixture = Fixture::new();
        fixture.helpers.add(
            "hosthelper",
            r#"printf '%s' '{"Username":"helper-user","Secret":"helper-pass"}'"#,
        );
        fixture.helpers.add(
            "store",
            r#"printf '%s' '{"Username":"store-user","Secret":"store-pass"}'"#,
        );
        fixture.docker_config(FULL_DOCKER_CONFIG);
        let store = AgentCredentialStore::in_dir(fixture.agent_dir.path());
        store
            .save("ghcr.io", &basic("agent-user", "agent-pass"))
            .unwrap();

        assert_eq!(
            fixture.resolve(docker_env(), "ghcr.io"),
            Some((basic("env-user", "env-pass"), CredentialOrigin::Environment))
        );
        assert_eq!(
            fixture.resolve(Environment::default(), "ghcr.io"),
            Some((
                basic("agent-user", "agent-pass"),
                CredentialOrigin::AgentStore
            ))
        );

        store.erase("ghcr.io").unwrap();
        assert_eq!(
            fixture.resolve(Environment::default(), "ghcr.io"),
            Some((
                basic("helper-user", "helper-pass"),
                CredentialOrigin::Helper("hosthelper".into())
            ))
        );

        fixture
            .helpers
            .add("hosthelper", "echo 'credentials not found'; exit 1");
        assert_eq!(
            fixture.resolve(Environment::default(), "ghcr.io"),
            Some((basic("u", "p"), CredentialOrigin::DockerConfig))
        );

        assert_eq!(
            fixture.resolve(Environment::default(), "quay.io"),
            Some((
                basic("store-user", "store-pass"),
                CredentialOrigin::Helper("store".into())
            ))
        );
    }

    #[test]
    fn nothing_anywhere_is_none() {
        let fixture = Fixture::new();
        assert_eq!(fixture.resolve(Environment::default(), "ghcr.io"), None);
        fixture.docker_config(r#"{"auths": {"quay.io": {"auth": "dTpw"}}}"#);
        assert_eq!(fixture.resolve(Environment::default(), "ghcr.io"), None);
    }

    #[test]
    fn docker_config_is_skipped_when_not_configured() {
        let fixture = Fixture::new();
        fixture.docker_config(r#"{"auths": {"ghcr.io": {"auth": "dTpw"}}}"#);
        let mut sources = fixture.sources(Environment::default());
        sources.docker_config_dir = None;
        assert_eq!(
            sources
                .resolve_with("ghcr.io", &fixture.helpers.runner())
                .unwrap(),
            None
        );
    }

    #[test]
    fn scoped_token_falls_through_for_other_registries() {
        let fixture = Fixture::new();
        fixture.docker_config(r#"{"auths": {"ghcr.io": {"auth": "dTpw"}}}"#);
        let environment = Environment {
            registry_token: Some("agent-token".into()),
            registry_url: Some("https://agents.example.com".into()),
            ..Environment::default()
        };
        assert_eq!(
            fixture.resolve(environment.clone(), "agents.example.com"),
            Some((
                Credential::Bearer {
                    token: "agent-token".into()
                },
                CredentialOrigin::Environment
            ))
        );
        assert_eq!(
            fixture.resolve(environment, "ghcr.io"),
            Some((basic("u", "p"), CredentialOrigin::DockerConfig))
        );
    }

    #[test]
    fn docker_hub_names_resolve_to_the_same_entries() {
        let fixture = Fixture::new();
        fixture.docker_config(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}}"#);
        let store = AgentCredentialStore::in_dir(fixture.agent_dir.path());
        for registry in ["registry-1.docker.io", "docker.io", "index.docker.io"] {
            assert_eq!(
                fixture.resolve(Environment::default(), registry),
                Some((basic("u", "p"), CredentialOrigin::DockerConfig)),
                "{registry}"
            );
        }
        store.save("docker.io", &basic("hub", "pw")).unwrap();
        assert_eq!(
            fixture.resolve(Environment::default(), "registry-1.docker.io"),
            Some((basic("hub", "pw"), CredentialOrigin::AgentStore))
        );
    }

    #[test]
    fn malformed_docker_config_is_an_error_naming_the_file() {
        let fixture = Fixture::new();
        fixture.docker_config(r#"{"auths": {"ghcr.io": {"auth": "SECRETSECRET"#);
        let error = fixture
            .sources(Environment::default())
            .resolve_with("ghcr.io", &fixture.helpers.runner())
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("config.json"), "{message}");
        assert!(!message.contains("SECRETSECRET"), "{message}");
    }
}
