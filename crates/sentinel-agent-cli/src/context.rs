//! What every command needs: the configuration, the local store, and a
//! registry client with the right credentials for a reference.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use sentinel_client::{ClientOptions, ImageReference, RegistryClient, RegistryLocation};
use sentinel_credentials::{Credential, CredentialSources};
use sentinel_layout::LayoutStore;
use sentinel_workflows::{BoxError, Registries};

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
    pub fn store(&self) -> anyhow::Result<LayoutStore> {
        let root = match &self.store_root {
            Some(root) => root.clone(),
            None => LayoutStore::default_root().context(
                "cannot find a data directory for the local store: set AGENT_STORE or HOME",
            )?,
        };
        Ok(LayoutStore::open(&root)?)
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
        reference: &ImageReference,
        target: &Target<'_>,
    ) -> anyhow::Result<RegistryClient> {
        let registry = reference.registry();
        // The scheme and the profile apply when the registry is the one the
        // user configured as the default (or chose with --registry/--profile).
        let configured = target
            .default_registry
            .as_deref()
            .map(RegistryLocation::parse)
            .transpose()
            .map_err(|error| UsageError(format!("invalid registry: {error}")))?;
        let is_configured = configured
            .as_ref()
            .is_some_and(|location| location.host() == registry);
        let location = match configured {
            Some(location) if is_configured => location,
            _ => RegistryLocation::parse(registry)
                .map_err(|error| UsageError(format!("invalid registry {registry:?}: {error}")))?,
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

    /// The agent configuration directory (where `agent login` saves).
    pub fn config_dir(&self) -> &std::path::Path {
        &self.config_dir
    }

    /// The registries of a command, from its `--registry` and `--profile`,
    /// worked out each time a workflow asks (so a bad `--profile` fails
    /// only a command that needs a registry).
    pub fn remote<'a>(&'a self, args: &'a RemoteArgs) -> Remote<'a> {
        Remote {
            context: self,
            target: Chosen::Args(args),
        }
    }

    /// The registries of `target`, already worked out.
    pub fn remote_for<'a>(&'a self, target: Target<'a>) -> Remote<'a> {
        Remote {
            context: self,
            target: Chosen::Fixed(target),
        }
    }

    /// Where `agent pull` looks for `text`: the registry it names, the
    /// default registry, or else the configured registries by priority.
    pub fn pull_candidates<'a>(&'a self, text: &str, target: Target<'a>) -> Vec<Remote<'a>> {
        if names_registry(text)
            || target.default_registry.is_some()
            || self.config.registries.is_empty()
        {
            return vec![self.remote_for(target)];
        }
        self.config
            .registries_by_priority()
            .into_iter()
            .map(|entry| {
                // Each entry's URL (with its scheme) is the registry its client uses.
                self.remote_for(Target {
                    default_registry: Some(entry.url.clone()),
                    profile: None,
                })
            })
            .collect()
    }
}

/// Whether a reference's first component is a registry host, by docker's
/// rule: it holds a `.` or a `:`, or is `localhost`.
fn names_registry(text: &str) -> bool {
    match text.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

/// The registries a workflow reaches, as the configuration, the flags and
/// the credential sources say.
pub struct Remote<'a> {
    context: &'a Context,
    target: Chosen<'a>,
}

/// How a [`Remote`] finds its target.
enum Chosen<'a> {
    /// From the flags, when first needed.
    Args(&'a RemoteArgs),
    /// Already chosen.
    Fixed(Target<'a>),
}

impl Remote<'_> {
    fn target(&self) -> anyhow::Result<Target<'_>> {
        match &self.target {
            Chosen::Args(args) => self.context.target(args),
            Chosen::Fixed(target) => Ok(target.clone()),
        }
    }
}

impl Registries for Remote<'_> {
    fn default_registry(&self) -> Result<Option<String>, BoxError> {
        let target = self.target().map_err(Passed::boxed)?;
        Ok(target.default_registry)
    }

    fn client(&self, reference: &ImageReference) -> Result<RegistryClient, BoxError> {
        let target = self.target().map_err(Passed::boxed)?;
        self.context
            .client(reference, &target)
            .map_err(Passed::boxed)
    }
}

/// A CLI error passed through a workflow. Its source is the error it
/// carries, so the chain the exit code and the message are read from goes on
/// exactly as if the error had never left the CLI.
#[derive(Debug)]
struct Passed(anyhow::Error);

impl Passed {
    fn boxed(error: anyhow::Error) -> BoxError {
        Box::new(Passed(error))
    }
}

impl std::fmt::Display for Passed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl std::error::Error for Passed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;
    use sentinel_workflows::WorkflowError;

    #[test]
    fn an_error_passed_through_a_workflow_keeps_its_code_and_its_words() {
        let context = Context {
            config: Config::default(),
            config_dir: PathBuf::from("config"),
            store_root: None,
            interrupted: Arc::default(),
        };
        let remote = context.remote_for(Target {
            default_registry: Some("http://".to_string()),
            profile: None,
        });
        let reference = ImageReference::parse("localhost:5000/me/hello:1", None).unwrap();
        let direct = remote
            .target()
            .and_then(|target| context.client(&reference, &target));
        let direct = direct.err().unwrap();
        let failure = Registries::client(&remote, &reference).err().unwrap();
        let passed = anyhow::Error::new(WorkflowError::Registries(failure));
        assert_eq!(exit::code_for(&direct), exit::USAGE);
        assert_eq!(exit::code_for(&passed), exit::USAGE);
        assert_eq!(exit::describe(&passed), exit::describe(&direct));
    }

    #[test]
    fn the_registry_component_is_recognised_like_docker_does() {
        assert!(names_registry("localhost:5000/me/hello:1.0.0"));
        assert!(names_registry("localhost/me/hello"));
        assert!(names_registry("ghcr.io/team/agent"));
        assert!(!names_registry("team/agent:1.0"));
        assert!(!names_registry("hello"));
    }
}
