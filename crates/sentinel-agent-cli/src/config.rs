//! The user's configuration file: a default registry, named profiles and the
//! registries that `pull` tries in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The file name inside the agent configuration directory.
pub const CONFIG_FILE_NAME: &str = "config.yaml";

/// The whole configuration file. Every field is optional; an absent file is
/// the same as an empty one.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Config {
    /// The registry for references that name none.
    pub default_registry: Option<String>,
    /// Named profiles, chosen with `--profile NAME`.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Registries that `pull` tries, highest priority first, for a
    /// reference that names no registry.
    #[serde(default)]
    pub registries: Vec<RegistryEntry>,
}

/// A named registry with the way to authenticate to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Profile {
    /// The registry: `host[:port]` or a URL (`http://` for plain HTTP).
    pub url: String,
    /// How to authenticate.
    #[serde(default)]
    pub auth: AuthMethod,
    /// Use plain HTTP even for a host that is not on loopback.
    #[serde(default)]
    pub insecure: bool,
}

/// How a profile authenticates. Secrets never live in the config file: they
/// are read from the environment variable the profile names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthMethod {
    /// The usual lookup: environment, `agent login`, Docker's config and helpers.
    #[default]
    Auto,
    /// Anonymous: never send credentials.
    None,
    /// A user name, with the password in an environment variable.
    Basic {
        /// The user name.
        username: String,
        /// The environment variable holding the password.
        password_env: String,
    },
    /// A registry token in an environment variable, sent as a bearer token.
    Token {
        /// The environment variable holding the token.
        token_env: String,
    },
}

/// One registry of the ordered pull list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RegistryEntry {
    /// The registry: `host[:port]` or a URL.
    pub url: String,
    /// Higher goes first; equal priorities keep the file's order.
    #[serde(default)]
    pub priority: i32,
}

impl Config {
    /// Reads the configuration from `path`; a missing file is an empty
    /// configuration.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_norway::from_str(&text)
            .with_context(|| format!("invalid configuration in {}", path.display()))?;
        config.check(path)?;
        Ok(config)
    }

    fn check(&self, path: &Path) -> anyhow::Result<()> {
        for (name, profile) in &self.profiles {
            if profile.url.trim().is_empty() {
                bail!("{}: profile {name:?} has an empty url", path.display());
            }
        }
        for (index, entry) in self.registries.iter().enumerate() {
            if entry.url.trim().is_empty() {
                bail!("{}: registries[{index}] has an empty url", path.display());
            }
        }
        Ok(())
    }

    /// The named profile, or an error naming the profiles there are.
    pub fn profile(&self, name: &str) -> anyhow::Result<&Profile> {
        self.profiles.get(name).with_context(|| {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            if known.is_empty() {
                format!("no profile named {name:?}: the configuration defines no profiles")
            } else {
                format!(
                    "no profile named {name:?}; the configuration defines: {}",
                    known.join(", ")
                )
            }
        })
    }

    /// The pull list, highest priority first (stable for equal priorities).
    pub fn registries_by_priority(&self) -> Vec<&RegistryEntry> {
        let mut entries: Vec<&RegistryEntry> = self.registries.iter().collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.priority));
        entries
    }
}

/// The agent configuration directory: `$AGENT_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/agent`, else `~/.config/agent`.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    sentinel_credentials::default_config_dir()
        .context("cannot find a configuration directory: set AGENT_CONFIG_DIR or HOME")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_configuration_parses() {
        let text = r#"
default_registry: localhost:5000
profiles:
  work:
    url: https://registry.example.com
    auth: { method: basic, username: alice, password_env: WORK_PASSWORD }
  ci:
    url: http://10.0.0.5:5000
    insecure: true
    auth: { method: token, token_env: CI_TOKEN }
  public:
    url: ghcr.io
    auth: { method: none }
registries:
  - url: localhost:5000
    priority: 1
  - url: ghcr.io
    priority: 10
"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.default_registry.as_deref(), Some("localhost:5000"));
        assert_eq!(
            config.profile("work").unwrap().auth,
            AuthMethod::Basic {
                username: "alice".into(),
                password_env: "WORK_PASSWORD".into()
            }
        );
        assert!(config.profile("ci").unwrap().insecure);
        assert_eq!(config.profile("public").unwrap().auth, AuthMethod::None);
        let order: Vec<&str> = config
            .registries_by_priority()
            .iter()
            .map(|entry| entry.url.as_str())
            .collect();
        assert_eq!(order, ["ghcr.io", "localhost:5000"]);
        let missing = config.profile("nope").unwrap_err().to_string();
        assert!(missing.contains("ci, public, work"), "{missing}");
    }

    #[test]
    fn a_missing_file_is_empty_and_a_typo_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        std::fs::write(&path, "default_regsitry: x\n").unwrap();
        let error = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(error.contains("default_regsitry"), "{error}");
    }
}
