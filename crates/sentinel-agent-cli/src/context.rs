//! What every command needs: the configuration, the local store, and a
//! registry client with the right credentials for a reference.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use sentinel_client::{ClientOptions, RegistryClient, RegistryLocation, ResolvedReference};
use sentinel_credentials::{Credential, CredentialSources};
use sentinel_local_store::LocalStore;
use sentinel_workflows::{Trust, TrustFile};

use crate::cli::RemoteArgs;
use crate::config::{self, AuthMethod, Config, Profile};
use crate::exit::UsageError;

/// The user agent sent to registries.
const USER_AGENT: &str = concat!("sentinel-agent/", env!("CARGO_PKG_VERSION"));

/// Shared state of one `agent` invocation.
pub struct Context {
    config: Config,
    config_dir: PathBuf,
    store_root: Option<PathBuf>,
    interrupted: Arc<AtomicBool>,
}

/// The registry a command talks to when a reference names none, and the
/// profile that came with it.
#[derive(Clone)]
pub struct Target<'a> {
    /// The default registry as the user wrote it (host or URL).
    pub default_registry: Option<String>,
    /// The profile chosen with `--profile`.
    pub profile: Option<&'a Profile>,
}

impl Context {
    /// Loads the configuration from `config_file` or the default place.
    pub fn new(
        config_file: Option<PathBuf>,
        store_root: Option<PathBuf>,
        interrupted: Arc<AtomicBool>,
    ) -> anyhow::Result<Context> {
        let config_dir = config::config_dir()?;
        let config_path = config_file.unwrap_or_else(|| config_dir.join(config::CONFIG_FILE_NAME));
        let config = Config::load(&config_path)?;
        Ok(Context {
            config,
            config_dir,
            store_root,
            interrupted,
        })
    }

    /// The configuration file's contents.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The flag set when the user presses Ctrl-C.
    pub fn interrupted(&self) -> Arc<AtomicBool> {
        self.interrupted.clone()
    }

    /// Opens (creating when needed) the local store.
    pub fn store(&self) -> anyhow::Result<LocalStore> {
        let root = match &self.store_root {
            Some(root) => root.clone(),
            None => LocalStore::default_root().context(
                "cannot find a data directory for the local store: set AGENT_STORE or HOME",
            )?,
        };
        Ok(LocalStore::open(&root)?)
    }

    /// The default registry and profile for `remote`: `--registry`, then the
    /// profile's URL, then `AGENT_REGISTRY_URL` (read by clap into
    /// `--registry`), then the configuration's default.
    pub fn target<'a>(&'a self, remote: &RemoteArgs) -> anyhow::Result<Target<'a>> {
        let profile = match &remote.profile {
            Some(name) => Some(self.config.profile(name)?),
            None => None,
        };
        let default_registry = remote
            .registry
            .clone()
            .or_else(|| profile.map(|profile| profile.url.clone()))
            .or_else(|| self.config.default_registry.clone());
        Ok(Target {
            default_registry,
            profile,
        })
    }

    /// A client for the registry `reference` names, with the credentials
    /// found for it.
    pub fn client(
        &self,
        reference: &ResolvedReference,
        target: &Target<'_>,
    ) -> anyhow::Result<RegistryClient> {
        self.registry_client(reference.registry(), target)
    }

    /// A client for `registry` (a host[:port], or a URL giving the scheme),
    /// with the credentials found for it. The configured default's scheme
    /// and the profile apply when `registry` is the configured default
    /// (or the one chosen with --registry/--profile).
    pub fn registry_client(
        &self,
        registry: &str,
        target: &Target<'_>,
    ) -> anyhow::Result<RegistryClient> {
        let given = RegistryLocation::parse(registry)
            .map_err(|error| UsageError(format!("invalid registry {registry:?}: {error}")))?;
        let configured = target
            .default_registry
            .as_deref()
            .map(RegistryLocation::parse)
            .transpose()
            .map_err(|error| UsageError(format!("invalid registry: {error}")))?;
        let is_configured = configured
            .as_ref()
            .is_some_and(|location| location.host() == given.host());
        let location = match configured {
            Some(location) if is_configured && given.explicit_scheme().is_none() => location,
            _ => given,
        };
        let profile = target.profile.filter(|_| is_configured);
        let credential = self.credential_for(location.host(), profile)?;
        let options = ClientOptions {
            credential,
            insecure: profile.is_some_and(|profile| profile.insecure),
            user_agent: USER_AGENT.to_string(),
            ..ClientOptions::default()
        };
        Ok(RegistryClient::new(&location, options)?)
    }

    /// The credential for `registry`: the profile's method when one applies,
    /// else the environment, `agent login`, then Docker's config and helpers.
    pub fn credential_for(
        &self,
        registry: &str,
        profile: Option<&Profile>,
    ) -> anyhow::Result<Option<Credential>> {
        match profile.map(|profile| &profile.auth) {
            Some(AuthMethod::None) => return Ok(None),
            Some(AuthMethod::Basic {
                username,
                password_env,
            }) => {
                let password = std::env::var(password_env).map_err(|_| {
                    UsageError(format!(
                        "the profile's password variable {password_env} is not set"
                    ))
                })?;
                return Ok(Some(Credential::Basic {
                    username: username.clone(),
                    password,
                }));
            }
            Some(AuthMethod::Token { token_env }) => {
                let token = std::env::var(token_env).map_err(|_| {
                    UsageError(format!(
                        "the profile's token variable {token_env} is not set"
                    ))
                })?;
                return Ok(Some(Credential::Bearer { token }));
            }
            Some(AuthMethod::Auto) | None => {}
        }
        let sources = CredentialSources::from_process(&self.config_dir);
        Ok(sources
            .resolve(registry)?
            .map(|(credential, _origin)| credential))
    }

    /// The trust policy (`trust.yaml` in the configuration directory).
    pub fn trust(&self) -> anyhow::Result<Trust> {
        Ok(Trust::from_policy(TrustFile::load(&self.config_dir)?))
    }

    /// The agent configuration directory (where `agent login` saves).
    pub fn config_dir(&self) -> &std::path::Path {
        &self.config_dir
    }

    /// A context with an empty configuration and no credentials, for tests.
    #[cfg(test)]
    pub fn empty() -> Context {
        Context {
            config: Config::default(),
            config_dir: PathBuf::from("config"),
            store_root: None,
            interrupted: Arc::default(),
        }
    }
}
