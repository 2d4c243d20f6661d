//! The server's settings: built-in defaults, overridden by a TOML file, then
//! by `SENTINEL_*` environment variables and command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Whether clients must authenticate: `Some(true)` or `Some(false)` as
    /// configured; `None` turns it on when users exist and off otherwise.
    pub auth: Option<bool>,
    /// The token service name (`service` in challenges, `aud` in tokens).
    pub service: String,
    /// The registry's external URL (`https://registry.example.com`), from
    /// which the token realm is built; `None` derives it from each request's
    /// `Host` header and the listener's scheme.
    pub public_url: Option<String>,
    /// How long an issued access token is valid, in seconds.
    pub token_ttl: u64,
    /// PEM certificate chain for TLS; with `tls_key`, the server speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    pub tls_key: Option<PathBuf>,
    /// Requests per second allowed from one client address (0: no limit).
    pub rate_limit_per_address: u32,
    /// Requests per second allowed for one signed-in user (0: no limit).
    pub rate_limit_per_user: u32,
    /// Requests one client address, or one user, may send at once before
    /// its per-second rate holds it back (0: one second's worth, the rate
    /// itself).
    pub rate_limit_burst: u32,
    /// Failed logins per minute allowed for one user name from one address
    /// (3x from one address across names, 10x for one name across addresses)
    /// before further attempts are refused for a while (0: no limit).
    pub failed_logins_per_minute: u32,
    /// How long a request body may go without sending a byte before the
    /// request fails (408), in seconds; an upload session survives it.
    pub body_timeout: u64,
    /// How long a connection may take, in seconds, to send a request's line
    /// and headers once it has started one, and a new connection (with its
    /// TLS handshake) its first request.
    pub header_timeout: u64,
    /// How long a connection with no request in progress is kept open, in seconds.
    pub keep_alive_timeout: u64,
    /// Open connections at most; beyond them new ones wait to be accepted
    /// (0: half the open-files limit, which is raised to its hard limit at start).
    pub max_connections: usize,
    /// Open connections at most from one client address (IPv6: one /64);
    /// beyond them new ones are closed at once (0: no limit).
    pub max_connections_per_address: usize,
    /// Blob uploads (requests carrying blob bytes) in progress at most (0: no limit).
    pub max_uploads: usize,
    /// Blob uploads in progress at most from one client address (0: no limit).
    pub max_uploads_per_address: usize,
    /// Blob uploads in progress at most for one signed-in user (0: no limit).
    pub max_uploads_per_user: usize,
    /// MiB that manifest bodies being received may hold together; one client
    /// address or one user may hold a quarter of it (0: no limit).
    pub manifest_memory_mib: u64,
    /// A tag that is a semantic version, once it names a Sentinel package,
    /// cannot be moved to another manifest.
    pub immutable_versions: bool,
    /// Concurrent HTTP/2 streams (requests) per connection.
    pub http2_max_streams: u32,
    /// Signature policies of the configuration file (`[[signature-policy]]`):
    /// fixed while the server runs, and winning over the policy file.
    pub signature_policies: Vec<ConfiguredPolicy>,
    /// Retention policies, tag immutability rules and namespace quotas of
    /// the configuration file (`[[retention-policy]]`, `[[immutable-tags]]`,
    /// `[[quota]]`): fixed while the server runs, and winning over the
    /// lifecycle policy file.
    pub lifecycle: sentinel_lifecycle::Rules,
    /// Whether the web UI is served at `/`.
    pub ui: bool,
    /// Origins (`https://agents.example.com`) whose pages may call the
    /// package API `/v1/` from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Whether `/metrics` is served.
    pub metrics: bool,
    /// A separate address to serve `/metrics` on instead of `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Whether `/metrics` needs a signed-in user (authentication must be on).
    pub metrics_auth: bool,
    /// Free space below which local storage is not ready.
    pub min_free_disk: DiskFloor,
    /// How often, at most, the readiness checks run, in seconds; answers in
    /// between reuse the last result.
    pub readiness_interval: u64,
    /// Log events kept in memory for `/api/v1/logs` (and as many audit
    /// events for `/api/v1/audit`).
    pub log_events: usize,
    /// How often garbage collection runs while the server serves
    /// ([`Duration::ZERO`]: never; `sentinel-registry gc` runs it by hand).
    pub gc_interval: Duration,
    /// Garbage collection keeps manifests and blob links pushed, linked or
    /// looked at more recently than this, whatever references them.
    pub gc_grace: Duration,
    /// Seconds one webhook delivery attempt may take.
    pub webhook_timeout: u64,
    /// Seconds a webhook delivery is retried for before it is given up.
    pub webhook_retry_window: u64,
    /// Milliseconds of the first webhook retry's backoff ceiling; each
    /// retry doubles it (up to an hour) and waits a random time below it.
    pub webhook_backoff: u64,
}

/// A length of time as the settings take it: `90s`, `10m`, `6h`, `1d`,
/// `1h 30m`, or `0` (also `off`) for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(pub Duration);

/// A length of time that [`Period`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a length of time (such as 90s, 10m, 6h, 1d or 0)")]
pub struct InvalidPeriod(String);

impl std::str::FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "0" | "off" => Ok(Period(Duration::ZERO)),
            trimmed => humantime::parse_duration(trimmed)
                .map(Period)
                .map_err(|_| InvalidPeriod(text.to_owned())),
        }
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A length of time in whole seconds, given as a number of seconds or as a
/// [`Period`] (`"24h"`).
fn seconds_or_period<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Seconds(u64),
        Text(String),
    }
    match Given::deserialize(deserializer)? {
        Given::Seconds(seconds) => Ok(Some(seconds)),
        Given::Text(text) => text
            .parse::<Period>()
            .map(|period| Some(period.0.as_secs()))
            .map_err(serde::de::Error::custom),
    }
}

/// A floor of free disk space: bytes, or a percentage of the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFloor {
    /// At least this many bytes free.
    Bytes(u64),
    /// At least this percentage (0 to 100) of the file system free.
    Percent(u8),
}

impl DiskFloor {
    /// Whether `available` bytes free of a file system of `total` bytes is
    /// below this floor.
    pub fn is_below(self, available: u64, total: u64) -> bool {
        match self {
            DiskFloor::Bytes(bytes) => available < bytes,
            DiskFloor::Percent(percent) => {
                u128::from(available) * 100 < u128::from(total) * u128::from(percent)
            }
        }
    }
}

/// A disk floor that is neither a size (`500MiB`, `1GiB`, `1073741824`) nor
/// a percentage (`5%`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a size (such as 1GiB, 500MiB or a number of bytes) or a percentage (such as 5%)"
)]
pub struct InvalidDiskFloor(String);

impl std::str::FromStr for DiskFloor {
    type Err = InvalidDiskFloor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDiskFloor(text.to_owned());
        let trimmed = text.trim();
        if let Some(percent) = trimmed.strip_suffix('%') {
            return match percent.trim().parse::<u8>() {
                Ok(p) if p <= 100 => Ok(DiskFloor::Percent(p)),
                _ => Err(invalid()),
            };
        }
        let digits = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(digits);
        let number: u64 = number.parse().map_err(|_| invalid())?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kib" => 10,
            "m" | "mib" => 20,
            "g" | "gib" => 30,
            "t" | "tib" => 40,
            _ => return Err(invalid()),
        };
        number
            .checked_mul(1 << shift)
            .map(DiskFloor::Bytes)
            .ok_or_else(invalid)
    }
}

impl<'de> Deserialize<'de> for DiskFloor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A signature policy as the configuration file gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredPolicy {
    /// The repositories covered: `NAME`, `NS/*` or `*`.
    pub repositories: String,
    /// Whether pulls need a signature by one of `keys`.
    #[serde(default)]
    pub require: bool,
    /// Files holding the trusted public keys (SPKI PEM); relative paths are
    /// relative to the configuration file.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("sentinel-data"),
            storage: None,
            log_format: LogFormat::Text,
            auth: None,
            service: "sentinel-registry".to_owned(),
            public_url: None,
            token_ttl: 300,
            tls_cert: None,
            tls_key: None,
            rate_limit_per_address: 0,
            rate_limit_per_user: 0,
            rate_limit_burst: 0,
            failed_logins_per_minute: 10,
            body_timeout: 60,
            header_timeout: 10,
            keep_alive_timeout: 60,
            max_connections: 0,
            max_connections_per_address: 256,
            max_uploads: 512,
            max_uploads_per_address: 64,
            max_uploads_per_user: 64,
            manifest_memory_mib: 64,
            http2_max_streams: 32,
            immutable_versions: true,
            signature_policies: Vec::new(),
            lifecycle: sentinel_lifecycle::Rules::default(),
            ui: true,
            cors_origins: Vec::new(),
            metrics: true,
            metrics_listen: None,
            metrics_auth: false,
            min_free_disk: DiskFloor::Bytes(1 << 30),
            readiness_interval: 2,
            log_events: 10_000,
            gc_interval: Duration::ZERO,
            gc_grace: crate::service::DEFAULT_GC_GRACE,
            webhook_timeout: 10,
            webhook_retry_window: 24 * 60 * 60,
            webhook_backoff: 1_000,
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
    /// See [`Settings::auth`].
    pub auth: Option<bool>,
    /// See [`Settings::service`].
    pub service: Option<String>,
    /// See [`Settings::public_url`].
    pub public_url: Option<String>,
    /// See [`Settings::token_ttl`].
    pub token_ttl: Option<u64>,
    /// See [`Settings::tls_cert`].
    pub tls_cert: Option<PathBuf>,
    /// See [`Settings::tls_key`].
    pub tls_key: Option<PathBuf>,
    /// See [`Settings::rate_limit_per_address`].
    pub rate_limit_per_address: Option<u32>,
    /// See [`Settings::rate_limit_per_user`].
    pub rate_limit_per_user: Option<u32>,
    /// See [`Settings::rate_limit_burst`].
    pub rate_limit_burst: Option<u32>,
    /// See [`Settings::failed_logins_per_minute`].
    pub failed_logins_per_minute: Option<u32>,
    /// See [`Settings::body_timeout`].
    pub body_timeout: Option<u64>,
    /// See [`Settings::header_timeout`].
    pub header_timeout: Option<u64>,
    /// See [`Settings::keep_alive_timeout`].
    pub keep_alive_timeout: Option<u64>,
    /// See [`Settings::max_connections`].
    pub max_connections: Option<usize>,
    /// See [`Settings::max_connections_per_address`].
    pub max_connections_per_address: Option<usize>,
    /// See [`Settings::max_uploads`].
    pub max_uploads: Option<usize>,
    /// See [`Settings::max_uploads_per_address`].
    pub max_uploads_per_address: Option<usize>,
    /// See [`Settings::max_uploads_per_user`].
    pub max_uploads_per_user: Option<usize>,
    /// See [`Settings::manifest_memory_mib`].
    pub manifest_memory_mib: Option<u64>,
    /// See [`Settings::http2_max_streams`].
    pub http2_max_streams: Option<u32>,
    /// See [`Settings::immutable_versions`].
    pub immutable_versions: Option<bool>,
    /// See [`Settings::signature_policies`].
    #[serde(rename = "signature-policy")]
    pub signature_policies: Option<Vec<ConfiguredPolicy>>,
    /// See [`Settings::lifecycle`].
    #[serde(rename = "retention-policy")]
    pub retention_policies: Option<Vec<sentinel_lifecycle::RetentionPolicy>>,
    /// See [`Settings::lifecycle`].
    #[serde(rename = "immutable-tags")]
    pub immutable_tags: Option<Vec<sentinel_lifecycle::ImmutabilityRule>>,
    /// See [`Settings::lifecycle`].
    #[serde(rename = "quota")]
    pub quotas: Option<Vec<sentinel_lifecycle::Quota>>,
    /// See [`Settings::ui`].
    pub ui: Option<bool>,
    /// See [`Settings::cors_origins`].
    pub cors_origins: Option<Vec<String>>,
    /// See [`Settings::metrics`].
    pub metrics: Option<bool>,
    /// See [`Settings::metrics_listen`].
    pub metrics_listen: Option<SocketAddr>,
    /// See [`Settings::metrics_auth`].
    pub metrics_auth: Option<bool>,
    /// See [`Settings::min_free_disk`].
    pub min_free_disk: Option<DiskFloor>,
    /// See [`Settings::readiness_interval`].
    pub readiness_interval: Option<u64>,
    /// See [`Settings::log_events`].
    pub log_events: Option<usize>,
    /// See [`Settings::gc_interval`].
    pub gc_interval: Option<Period>,
    /// See [`Settings::gc_grace`].
    pub gc_grace: Option<Period>,
    /// See [`Settings::webhook_timeout`].
    pub webhook_timeout: Option<u64>,
    /// See [`Settings::webhook_retry_window`]; the file gives a duration
    /// (`"24h"`) or a number of seconds.
    #[serde(default, deserialize_with = "seconds_or_period")]
    pub webhook_retry_window: Option<u64>,
    /// See [`Settings::webhook_backoff`].
    pub webhook_backoff: Option<u64>,
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
        let mut settings: PartialSettings =
            toml::from_str(&text).map_err(|source| SettingsError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        let base = path.parent().unwrap_or(Path::new(""));
        for policy in settings.signature_policies.iter_mut().flatten() {
            for key in &mut policy.keys {
                *key = base.join(&*key);
            }
        }
        Ok(settings)
    }

    /// `self` where set, else `below`.
    pub fn over(self, below: PartialSettings) -> PartialSettings {
        PartialSettings {
            listen: self.listen.or(below.listen),
            data_dir: self.data_dir.or(below.data_dir),
            storage: self.storage.or(below.storage),
            log_format: self.log_format.or(below.log_format),
            auth: self.auth.or(below.auth),
            service: self.service.or(below.service),
            public_url: self.public_url.or(below.public_url),
            token_ttl: self.token_ttl.or(below.token_ttl),
            tls_cert: self.tls_cert.or(below.tls_cert),
            tls_key: self.tls_key.or(below.tls_key),
            rate_limit_per_address: self.rate_limit_per_address.or(below.rate_limit_per_address),
            rate_limit_per_user: self.rate_limit_per_user.or(below.rate_limit_per_user),
            rate_limit_burst: self.rate_limit_burst.or(below.rate_limit_burst),
            failed_logins_per_minute: self
                .failed_logins_per_minute
                .or(below.failed_logins_per_minute),
            body_timeout: self.body_timeout.or(below.body_timeout),
            header_timeout: self.header_timeout.or(below.header_timeout),
            keep_alive_timeout: self.keep_alive_timeout.or(below.keep_alive_timeout),
            max_connections: self.max_connections.or(below.max_connections),
            max_connections_per_address: self
                .max_connections_per_address
                .or(below.max_connections_per_address),
            max_uploads: self.max_uploads.or(below.max_uploads),
            max_uploads_per_address: self
                .max_uploads_per_address
                .or(below.max_uploads_per_address),
            max_uploads_per_user: self.max_uploads_per_user.or(below.max_uploads_per_user),
            manifest_memory_mib: self.manifest_memory_mib.or(below.manifest_memory_mib),
            http2_max_streams: self.http2_max_streams.or(below.http2_max_streams),
            immutable_versions: self.immutable_versions.or(below.immutable_versions),
            signature_policies: self.signature_policies.or(below.signature_policies),
            retention_policies: self.retention_policies.or(below.retention_policies),
            immutable_tags: self.immutable_tags.or(below.immutable_tags),
            quotas: self.quotas.or(below.quotas),
            ui: self.ui.or(below.ui),
            cors_origins: self.cors_origins.or(below.cors_origins),
            metrics: self.metrics.or(below.metrics),
            metrics_listen: self.metrics_listen.or(below.metrics_listen),
            metrics_auth: self.metrics_auth.or(below.metrics_auth),
            min_free_disk: self.min_free_disk.or(below.min_free_disk),
            readiness_interval: self.readiness_interval.or(below.readiness_interval),
            log_events: self.log_events.or(below.log_events),
            gc_interval: self.gc_interval.or(below.gc_interval),
            gc_grace: self.gc_grace.or(below.gc_grace),
            webhook_timeout: self.webhook_timeout.or(below.webhook_timeout),
            webhook_retry_window: self.webhook_retry_window.or(below.webhook_retry_window),
            webhook_backoff: self.webhook_backoff.or(below.webhook_backoff),
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
            auth: self.auth.or(defaults.auth),
            service: self.service.unwrap_or(defaults.service),
            public_url: self.public_url.or(defaults.public_url),
            token_ttl: self.token_ttl.unwrap_or(defaults.token_ttl),
            tls_cert: self.tls_cert.or(defaults.tls_cert),
            tls_key: self.tls_key.or(defaults.tls_key),
            rate_limit_per_address: self
                .rate_limit_per_address
                .unwrap_or(defaults.rate_limit_per_address),
            rate_limit_per_user: self
                .rate_limit_per_user
                .unwrap_or(defaults.rate_limit_per_user),
            rate_limit_burst: self.rate_limit_burst.unwrap_or(defaults.rate_limit_burst),
            failed_logins_per_minute: self
                .failed_logins_per_minute
                .unwrap_or(defaults.failed_logins_per_minute),
            body_timeout: self.body_timeout.unwrap_or(defaults.body_timeout),
            header_timeout: self.header_timeout.unwrap_or(defaults.header_timeout),
            keep_alive_timeout: self
                .keep_alive_timeout
                .unwrap_or(defaults.keep_alive_timeout),
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            max_connections_per_address: self
                .max_connections_per_address
                .unwrap_or(defaults.max_connections_per_address),
            max_uploads: self.max_uploads.unwrap_or(defaults.max_uploads),
            max_uploads_per_address: self
                .max_uploads_per_address
                .unwrap_or(defaults.max_uploads_per_address),
            max_uploads_per_user: self
                .max_uploads_per_user
                .unwrap_or(defaults.max_uploads_per_user),
            manifest_memory_mib: self
                .manifest_memory_mib
                .unwrap_or(defaults.manifest_memory_mib),
            http2_max_streams: self.http2_max_streams.unwrap_or(defaults.http2_max_streams),
            immutable_versions: self
                .immutable_versions
                .unwrap_or(defaults.immutable_versions),
            signature_policies: self
                .signature_policies
                .unwrap_or(defaults.signature_policies),
            lifecycle: sentinel_lifecycle::Rules {
                retention: self.retention_policies.unwrap_or_default(),
                immutable_tags: self.immutable_tags.unwrap_or_default(),
                quotas: self.quotas.unwrap_or_default(),
            },
            ui: self.ui.unwrap_or(defaults.ui),
            cors_origins: self.cors_origins.unwrap_or(defaults.cors_origins),
            metrics: self.metrics.unwrap_or(defaults.metrics),
            metrics_listen: self.metrics_listen.or(defaults.metrics_listen),
            metrics_auth: self.metrics_auth.unwrap_or(defaults.metrics_auth),
            min_free_disk: self.min_free_disk.unwrap_or(defaults.min_free_disk),
            readiness_interval: self
                .readiness_interval
                .unwrap_or(defaults.readiness_interval),
            log_events: self.log_events.unwrap_or(defaults.log_events),
            gc_interval: self.gc_interval.map_or(defaults.gc_interval, |p| p.0),
            gc_grace: self.gc_grace.map_or(defaults.gc_grace, |p| p.0),
            webhook_timeout: self.webhook_timeout.unwrap_or(defaults.webhook_timeout),
            webhook_retry_window: self
                .webhook_retry_window
                .unwrap_or(defaults.webhook_retry_window),
            webhook_backoff: self.webhook_backoff.unwrap_or(defaults.webhook_backoff),
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
    fn authentication_settings_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(
            &file,
            "auth = true\nservice = \"registry.example\"\npublic-url = \"https://registry.example\"\n\
             token-ttl = 60\ntls-cert = \"cert.pem\"\ntls-key = \"key.pem\"\n\
             rate-limit-per-address = 100\nrate-limit-per-user = 50\nrate-limit-burst = 200\nfailed-logins-per-minute = 0\n",
        )
        .unwrap();
        let settings = PartialSettings::from_file(&file).unwrap().resolve();
        assert_eq!(settings.auth, Some(true));
        assert_eq!(settings.service, "registry.example");
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://registry.example")
        );
        assert_eq!(settings.token_ttl, 60);
        assert_eq!(settings.tls_cert, Some(PathBuf::from("cert.pem")));
        assert_eq!(settings.tls_key, Some(PathBuf::from("key.pem")));
        assert_eq!(settings.rate_limit_per_address, 100);
        assert_eq!(settings.rate_limit_per_user, 50);
        assert_eq!(settings.rate_limit_burst, 200);
        assert_eq!(settings.failed_logins_per_minute, 0);
        let defaults = PartialSettings::default().resolve();
        assert_eq!(defaults.auth, None, "on only when users exist");
        assert_eq!(defaults.failed_logins_per_minute, 10);
    }

    #[test]
    fn gc_periods_come_from_the_file_and_read_like_durations() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(&file, "gc-interval = \"6h\"\ngc-grace = \"1h 30m\"\n").unwrap();
        let settings = PartialSettings::from_file(&file).unwrap().resolve();
        assert_eq!(settings.gc_interval, Duration::from_secs(6 * 3600));
        assert_eq!(settings.gc_grace, Duration::from_secs(90 * 60));
        let defaults = PartialSettings::default().resolve();
        assert_eq!(defaults.gc_interval, Duration::ZERO, "off unless asked for");
        assert_eq!(defaults.gc_grace, Duration::from_secs(3600));
        assert_eq!("off".parse::<Period>().unwrap(), Period(Duration::ZERO));
        assert_eq!("0".parse::<Period>().unwrap(), Period(Duration::ZERO));
        assert_eq!(
            "90s".parse::<Period>().unwrap(),
            Period(Duration::from_secs(90))
        );
        assert!("soon".parse::<Period>().is_err());
        std::fs::write(&file, "gc-interval = \"weekly\"\n").unwrap();
        assert!(PartialSettings::from_file(&file).is_err());
    }

    #[test]
    fn the_webhook_retry_window_is_a_duration_or_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        for (text, seconds) in [("\"90m\"", 90 * 60), ("\"1d\"", 86_400), ("3600", 3600)] {
            std::fs::write(&file, format!("webhook-retry-window = {text}\n")).unwrap();
            let settings = PartialSettings::from_file(&file).unwrap().resolve();
            assert_eq!(settings.webhook_retry_window, seconds, "{text}");
        }
        std::fs::write(&file, "webhook-retry-window = \"soon\"\n").unwrap();
        assert!(PartialSettings::from_file(&file).is_err());
        let defaults = PartialSettings::default().resolve();
        assert_eq!(defaults.webhook_retry_window, 24 * 60 * 60);
    }

    #[test]
    fn connection_and_upload_limits_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(
            &file,
            "body-timeout = 30\nheader-timeout = 5\nkeep-alive-timeout = 20\n\
             max-connections = 900\nmax-connections-per-address = 0\nmax-uploads = 100\n\
             max-uploads-per-address = 0\nmax-uploads-per-user = 8\n\
             manifest-memory-mib = 16\nhttp2-max-streams = 100\n",
        )
        .unwrap();
        let settings = PartialSettings::from_file(&file).unwrap().resolve();
        assert_eq!(
            (
                settings.body_timeout,
                settings.header_timeout,
                settings.keep_alive_timeout
            ),
            (30, 5, 20)
        );
        assert_eq!(
            (
                settings.max_connections,
                settings.max_connections_per_address
            ),
            (900, 0)
        );
        assert_eq!(
            (
                settings.max_uploads,
                settings.max_uploads_per_address,
                settings.max_uploads_per_user
            ),
            (100, 0, 8)
        );
        assert_eq!(settings.manifest_memory_mib, 16);
        assert_eq!(settings.http2_max_streams, 100);
        let defaults = PartialSettings::default().resolve();
        assert_eq!(
            (
                defaults.body_timeout,
                defaults.header_timeout,
                defaults.keep_alive_timeout
            ),
            (60, 10, 60)
        );
        assert_eq!(
            (
                defaults.max_connections,
                defaults.max_connections_per_address
            ),
            (0, 256)
        );
        assert_eq!(
            (
                defaults.max_uploads,
                defaults.max_uploads_per_address,
                defaults.max_uploads_per_user
            ),
            (512, 64, 64)
        );
        assert_eq!(
            (defaults.manifest_memory_mib, defaults.http2_max_streams),
            (64, 32)
        );
    }

    #[test]
    fn signature_policies_come_from_the_file_with_keys_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(
            &file,
            "[[signature-policy]]\nrepositories = \"acme/*\"\nrequire = true\nkeys = [\"keys/acme.pub\"]\n\n\
             [[signature-policy]]\nrepositories = \"*\"\n",
        )
        .unwrap();
        let settings = PartialSettings::from_file(&file).unwrap().resolve();
        assert_eq!(
            settings.signature_policies,
            vec![
                ConfiguredPolicy {
                    repositories: "acme/*".into(),
                    require: true,
                    keys: vec![dir.path().join("keys/acme.pub")],
                },
                ConfiguredPolicy {
                    repositories: "*".into(),
                    require: false,
                    keys: vec![],
                },
            ]
        );
    }

    #[test]
    fn lifecycle_rules_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(
            &file,
            "[[retention-policy]]\nrepositories = \"acme/*\"\nkeep-last = 5\nkeep-matching = \">=1.0.0\"\n\n\
             [[immutable-tags]]\nrepositories = \"acme/*\"\ntags = [\"release-*\", \"v*\"]\n\n\
             [[quota]]\nnamespace = \"acme\"\nbytes = \"10GiB\"\n\n\
             [[quota]]\nnamespace = \"bob\"\nbytes = 1000\n",
        )
        .unwrap();
        let settings = PartialSettings::from_file(&file).unwrap().resolve();
        let rules = &settings.lifecycle;
        assert_eq!(rules.retention.len(), 1);
        assert_eq!(rules.retention[0].keep_last, Some(5));
        assert!(rules.retention[0].keep_signed && rules.retention[0].keep_stack_members);
        assert_eq!(rules.immutable_tags[0].tags.len(), 2);
        assert_eq!(
            rules.quotas.iter().map(|q| q.bytes).collect::<Vec<_>>(),
            vec![10 << 30, 1000]
        );
        assert_eq!(
            PartialSettings::default().resolve().lifecycle,
            sentinel_lifecycle::Rules::default()
        );
    }

    #[test]
    fn observability_settings_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(
            &file,
            "metrics = false\nmetrics-listen = \"127.0.0.1:9100\"\nmetrics-auth = true\n\
             min-free-disk = \"5%\"\nreadiness-interval = 5\nlog-events = 100\n",
        )
        .unwrap();
        let settings = PartialSettings::from_file(&file).unwrap().resolve();
        assert!(!settings.metrics);
        assert_eq!(
            settings.metrics_listen,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert!(settings.metrics_auth);
        assert_eq!(settings.min_free_disk, DiskFloor::Percent(5));
        assert_eq!((settings.readiness_interval, settings.log_events), (5, 100));
        let defaults = PartialSettings::default().resolve();
        assert!(defaults.metrics && !defaults.metrics_auth);
        assert_eq!(defaults.min_free_disk, DiskFloor::Bytes(1 << 30));
    }

    #[test]
    fn disk_floors_are_sizes_or_percentages() {
        assert_eq!("1GiB".parse(), Ok(DiskFloor::Bytes(1 << 30)));
        assert_eq!("500 MiB".parse(), Ok(DiskFloor::Bytes(500 << 20)));
        assert_eq!("4096".parse(), Ok(DiskFloor::Bytes(4096)));
        assert_eq!("5%".parse(), Ok(DiskFloor::Percent(5)));
        for bad in ["", "5 parsecs", "101%", "-1", "99999999999T"] {
            assert!(bad.parse::<DiskFloor>().is_err(), "{bad}");
        }
        assert!(DiskFloor::Percent(10).is_below(9, 100));
        assert!(!DiskFloor::Percent(10).is_below(10, 100));
        assert!(DiskFloor::Bytes(10).is_below(9, 100));
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:1\"\n").unwrap();
        let error = PartialSettings::from_file(&file).unwrap_err();
        let message = crate::describe(&error);
        assert!(message.contains("listn"), "{message}");
    }
}
