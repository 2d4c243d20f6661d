//! The server's settings: built-in defaults, overridden by a TOML file, then
//! by `SENTINEL_*` environment variables and command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The directory for the metadata index and, unless `storage` says
    /// otherwise, the blobs.
    pub data_dir: PathBuf,
    /// Where blobs are stored: a directory or an object store URL
    /// (`s3://bucket/prefix`, `gs://..`, `az://..`); `None` means `<data_dir>/storage`.
    pub storage: Option<String>,
    /// The log line format.
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("sentinel-data"),
            storage: None,
            log_format: LogFormat::Text,
        }
    }
}

/// Settings given explicitly (flags, environment or a file); unset fields keep
/// the value from the layer below.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartialSettings {
    /// See [`Settings::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Settings::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`Settings::storage`].
    pub storage: Option<String>,
    /// See [`Settings::log_format`].
    pub log_format: Option<LogFormat>,
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("invalid config file {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: toml::de::Error,
    },
}

impl PartialSettings {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| SettingsError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// `self` where set, else `below`.
    pub fn over(self, below: PartialSettings) -> PartialSettings {
        PartialSettings {
            listen: self.listen.or(below.listen),
            data_dir: self.data_dir.or(below.data_dir),
            storage: self.storage.or(below.storage),
            log_format: self.log_format.or(below.log_format),
        }
    }

    /// The final settings, with defaults for whatever is still unset.
    pub fn resolve(self) -> Settings {
        let defaults = Settings::default();
        Settings {
            listen: self.listen.unwrap_or(defaults.listen),
            data_dir: self.data_dir.unwrap_or(defaults.data_dir),
            storage: self.storage.or(defaults.storage),
            log_format: self.log_format.unwrap_or(defaults.log_format),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_5000_with_local_data() {
        let settings = PartialSettings::default().resolve();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(settings.data_dir, PathBuf::from("sentinel-data"));
        assert_eq!(settings.storage, None);
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:6000\"\ndata-dir = \"/srv/sentinel\"\nlog-format = \"json\"\n",
        )
        .unwrap();
        let from_file = PartialSettings::from_file(&file).unwrap();
        let flags = PartialSettings {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..PartialSettings::default()
        };
        let settings = flags.over(from_file).resolve();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(settings.data_dir, PathBuf::from("/srv/sentinel"));
        assert_eq!(settings.log_format, LogFormat::Json);
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:1\"\n").unwrap();
        let error = PartialSettings::from_file(&file).unwrap_err();
        let message = crate::error::describe(&error);
        assert!(message.contains("listn"), "{message}");
    }
}
