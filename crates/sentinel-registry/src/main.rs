//! `sentinel-registry`: the command line of the Sentinel registry server.

mod lifecycle_policy;
mod manage;
mod webhook_command;

use std::io::{BufRead as _, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use sentinel_registry::admin::{self, AdminError};
use sentinel_registry::{
    DiskFloor, EventLog, GcReport, LogFormat, PartialSettings, Period, Server, Settings,
};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// jemalloc rather than the system allocator: with its background thread
/// (and the decay set in `.cargo/config.toml`) it gives memory freed after a
/// burst of requests back to the system within seconds, where glibc's malloc
/// keeps much of it in its arenas for good.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// An OCI registry for AI agents (and any other OCI content).
#[derive(Parser)]
#[command(name = "sentinel-registry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the OCI Distribution API (defaults: 127.0.0.1:5000, ./sentinel-data).
    Serve(Box<ServeArgs>),
    /// Check the stored data: every blob is read back and hashed, every
    /// manifest re-hashed and its references looked up, every tag resolved.
    /// Run it while the server is stopped. Exits 1 if damage is found.
    Fsck(DataArgs),
    /// Rebuild the package catalogue (search, versions) from the stored
    /// manifests, reading every package again; deprecations and download
    /// counts are kept. Run it while the server is stopped.
    Reindex(DataArgs),
    /// Collect garbage: delete manifests nothing references (untagged, in no
    /// kept index, no kept referrer's subject) and blobs no manifest
    /// references, once older than the grace period, and free their bytes.
    /// Asks the running server (through its admin socket) or, when none
    /// runs on the data directory, does it itself. See docs/gc.md.
    Gc(GcArgs),
    /// Manage users (the server may be running: it picks changes up at once).
    #[command(subcommand)]
    User(manage::UserCommand),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(manage::TokenCommand),
    /// Manage organisations and their members.
    #[command(subcommand)]
    Org(manage::OrgCommand),
    /// Manage repository visibility and grants.
    #[command(subcommand)]
    Repo(manage::RepoCommand),
    /// Manage signature policies: trusted keys per repository pattern and
    /// whether pulls need their signatures (the server may be running).
    #[command(subcommand)]
    Policy(manage::PolicyCommand),
    /// Manage webhooks: where events (pushes, pulls, deletes, ...) are
    /// sent (the server may be running).
    #[command(subcommand)]
    Webhook(webhook_command::WebhookCommand),
    /// Show or change the running server's request rate limits (through
    /// its admin socket); a change is kept across restarts.
    RateLimit(manage::RateLimitArgs),
}

/// Where the registry's data is. Each option may also come from its
/// environment variable or, below those, from the TOML file given with
/// --config (keys: data-dir, storage).
#[derive(Args)]
struct DataArgs {
    /// TOML config file.
    #[arg(long, env = "SENTINEL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the metadata index and local blobs [default: ./sentinel-data].
    #[arg(long, env = "SENTINEL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Blob storage: a directory, or s3://bucket/prefix, gs://bucket/prefix,
    /// az://container/prefix (credentials from the usual AWS_*, GOOGLE_*,
    /// AZURE_* variables) [default: <data-dir>/storage].
    #[arg(long, env = "SENTINEL_STORAGE", value_name = "URL")]
    storage: Option<String>,
}

impl DataArgs {
    /// These flags over the config file's settings.
    fn settings(&self, flags: PartialSettings) -> anyhow::Result<PartialSettings> {
        let flags = PartialSettings {
            data_dir: self.data_dir.clone(),
            storage: self.storage.clone(),
            ..flags
        };
        let file = match &self.config {
            Some(path) => PartialSettings::from_file(path)?,
            None => PartialSettings::default(),
        };
        Ok(flags.over(file))
    }

    /// The settings of these flags over the config file's, the others at
    /// their defaults.
    fn resolve(&self) -> anyhow::Result<Settings> {
        Ok(self.settings(PartialSettings::default())?.resolve())
    }

    /// [`DataArgs::resolve`] for a command that reads (or removes from) an
    /// existing registry: a data directory that does not exist (a mistyped
    /// --data-dir) is refused, rather than read as empty or created.
    fn existing(&self) -> anyhow::Result<Settings> {
        let settings = self.resolve()?;
        if !settings.data_dir.is_dir() {
            bail!(
                "no registry data directory {}: give the data directory the server uses with --data-dir (or --config)",
                settings.data_dir.display()
            );
        }
        Ok(settings)
    }
}

/// The first line of stdin, a secret such as a password (`what` names it):
/// asked for on a terminal, refused when empty.
fn secret_from_stdin(what: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprintln!("{what} (then Enter):");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from stdin"))?;
    let secret = line.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        bail!("no {what} on stdin");
    }
    Ok(secret)
}

/// Options of `serve`. Each may also come from its environment variable or,
/// below those, from the TOML file given with --config (keys: listen,
/// data-dir, storage, log-format).
#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long, env = "SENTINEL_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log format [default: text]. The level filter comes from SENTINEL_LOG (default: info).
    #[arg(long, env = "SENTINEL_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Require authentication (`--auth`, `--auth=false`) [default: on when
    /// users exist]. Turned on over no users, it creates the user `admin`
    /// with the password in SENTINEL_ADMIN_PASSWORD, or a generated one
    /// printed once.
    #[arg(long, env = "SENTINEL_AUTH", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    auth: Option<bool>,
    /// The token service name [default: sentinel-registry].
    #[arg(long, env = "SENTINEL_SERVICE", value_name = "NAME")]
    service: Option<String>,
    /// The URL clients reach the registry at, for the token realm
    /// [default: from each request's Host header].
    #[arg(long, env = "SENTINEL_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Lifetime of issued access tokens, in seconds [default: 300].
    #[arg(long, env = "SENTINEL_TOKEN_TTL", value_name = "SECONDS")]
    token_ttl: Option<u64>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "SENTINEL_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SENTINEL_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Requests per second allowed from one client address [default: 0, no limit].
    #[arg(long, env = "SENTINEL_RATE_LIMIT_PER_ADDRESS", value_name = "N")]
    rate_limit_per_address: Option<u32>,
    /// Requests per second allowed for one signed-in user [default: 0, no limit].
    #[arg(long, env = "SENTINEL_RATE_LIMIT_PER_USER", value_name = "N")]
    rate_limit_per_user: Option<u32>,
    /// Requests one address or user may send at once before the per-second
    /// rates hold it back [default: 0, one second's worth].
    #[arg(long, env = "SENTINEL_RATE_LIMIT_BURST", value_name = "N")]
    rate_limit_burst: Option<u32>,
    /// Failed logins per minute for one user name from one address (3x per
    /// address, 10x per name) before logins are refused for a while
    /// [default: 10; 0: no limit].
    #[arg(long, env = "SENTINEL_FAILED_LOGINS_PER_MINUTE", value_name = "N")]
    failed_logins_per_minute: Option<u32>,
    /// Seconds a request body may send nothing before the request fails
    /// (408; an upload session survives) [default: 60].
    #[arg(long, env = "SENTINEL_BODY_TIMEOUT", value_name = "SECONDS")]
    body_timeout: Option<u64>,
    /// Seconds for a request's line and headers once started, and for a new
    /// connection's TLS handshake and first request [default: 10].
    #[arg(long, env = "SENTINEL_HEADER_TIMEOUT", value_name = "SECONDS")]
    header_timeout: Option<u64>,
    /// Seconds an idle connection (no request in progress) is kept open [default: 60].
    #[arg(long, env = "SENTINEL_KEEP_ALIVE_TIMEOUT", value_name = "SECONDS")]
    keep_alive_timeout: Option<u64>,
    /// Open connections at most; more wait to be accepted [default: 0, half
    /// the open-files limit].
    #[arg(long, env = "SENTINEL_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Open connections at most from one client address; more are closed
    /// at once [default: 256; 0: no limit].
    #[arg(long, env = "SENTINEL_MAX_CONNECTIONS_PER_ADDRESS", value_name = "N")]
    max_connections_per_address: Option<usize>,
    /// Blob uploads in progress at most; more get 429 [default: 512; 0: no limit].
    #[arg(long, env = "SENTINEL_MAX_UPLOADS", value_name = "N")]
    max_uploads: Option<usize>,
    /// Blob uploads in progress at most from one client address [default: 64; 0: no limit].
    #[arg(long, env = "SENTINEL_MAX_UPLOADS_PER_ADDRESS", value_name = "N")]
    max_uploads_per_address: Option<usize>,
    /// Blob uploads in progress at most for one signed-in user [default: 64; 0: no limit].
    #[arg(long, env = "SENTINEL_MAX_UPLOADS_PER_USER", value_name = "N")]
    max_uploads_per_user: Option<usize>,
    /// MiB that manifest bodies being received may hold together, a quarter
    /// of it per address and per user [default: 64; 0: no limit].
    #[arg(long, env = "SENTINEL_MANIFEST_MEMORY_MIB", value_name = "MIB")]
    manifest_memory_mib: Option<u64>,
    /// Concurrent HTTP/2 requests per connection [default: 32].
    #[arg(long, env = "SENTINEL_HTTP2_MAX_STREAMS", value_name = "N")]
    http2_max_streams: Option<u32>,
    /// Refuse to move a version tag (1.2.0, v1.2.0) that names a Sentinel
    /// package to another manifest [default: true].
    #[arg(long, env = "SENTINEL_IMMUTABLE_VERSIONS", value_name = "BOOL")]
    immutable_versions: Option<bool>,
    /// Serve the web UI at / (`--ui=false`: the API alone) [default: true].
    #[arg(long, env = "SENTINEL_UI", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    ui: Option<bool>,
    /// An origin whose pages may call the package API /v1/ from a browser
    /// (CORS), e.g. https://agents.example.com; repeat for more [default: none].
    #[arg(
        long = "cors-origin",
        env = "SENTINEL_CORS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    cors_origins: Option<Vec<String>>,
    /// Serve Prometheus metrics at /metrics (`--metrics=false`: 404) [default: true].
    #[arg(long, env = "SENTINEL_METRICS", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    metrics: Option<bool>,
    /// Serve /metrics on this address instead of --listen [default: on --listen].
    #[arg(long, env = "SENTINEL_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Only signed-in users (any role) may read /metrics; needs --auth [default: false].
    #[arg(long, env = "SENTINEL_METRICS_AUTH", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    metrics_auth: Option<bool>,
    /// Free space under the data directory (and local blobs) below which
    /// /readyz answers 503: a size (1GiB, 500MiB) or a percentage (5%) [default: 1GiB].
    #[arg(long, env = "SENTINEL_MIN_FREE_DISK", value_name = "SIZE")]
    min_free_disk: Option<DiskFloor>,
    /// Seconds a /readyz result is reused before the checks run again [default: 2].
    #[arg(long, env = "SENTINEL_READINESS_INTERVAL", value_name = "SECONDS")]
    readiness_interval: Option<u64>,
    /// Log events kept in memory for /api/v1/logs, and as many audit events
    /// for /api/v1/audit [default: 10000].
    #[arg(long, env = "SENTINEL_LOG_EVENTS", value_name = "N")]
    log_events: Option<usize>,
    /// Run garbage collection this often while serving: 6h, 30m, 1d, or 0
    /// for never (`sentinel-registry gc` runs it by hand) [default: 0].
    #[arg(long, env = "SENTINEL_GC_INTERVAL", value_name = "DURATION")]
    gc_interval: Option<Period>,
    /// Garbage collection keeps what was pushed, linked or looked at more
    /// recently than this, referenced or not [default: 1h].
    #[arg(long, env = "SENTINEL_GC_GRACE", value_name = "DURATION")]
    gc_grace: Option<Period>,
    /// Seconds one webhook delivery attempt may take [default: 10].
    #[arg(long, env = "SENTINEL_WEBHOOK_TIMEOUT", value_name = "SECONDS")]
    webhook_timeout: Option<u64>,
    /// How long a webhook delivery is retried before it is given up: a
    /// duration (24h, 90m, 30s) [default: 24h].
    #[arg(long, env = "SENTINEL_WEBHOOK_RETRY_WINDOW", value_name = "DURATION",
          value_parser = parse_seconds)]
    webhook_retry_window: Option<u64>,
    /// Milliseconds of the first retry's backoff ceiling; it doubles with
    /// each retry, up to an hour, and each wait is random below it [default: 1000].
    #[arg(long, env = "SENTINEL_WEBHOOK_BACKOFF", value_name = "MILLISECONDS")]
    webhook_backoff: Option<u64>,
}

/// Options of `gc`.
#[derive(Args)]
struct GcArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Report what would be deleted, deleting nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep what was pushed, linked or looked at more recently than this
    /// [default: the server's --gc-grace; offline: 1h or the config file's gc-grace].
    #[arg(long, value_name = "DURATION")]
    grace: Option<Period>,
}

/// A duration such as `24h` or `90s`, in whole seconds.
fn parse_seconds(text: &str) -> Result<u64, String> {
    humantime::parse_duration(text)
        .map(|duration| duration.as_secs())
        .map_err(|e| e.to_string())
}

/// Logs to stdout in `format`, filtered by `SENTINEL_LOG` (default: info),
/// and into `events` if given (with the audit trail whatever the filter).
fn init_logging(format: LogFormat, events: Option<&EventLog>) {
    let filter =
        || EnvFilter::try_from_env("SENTINEL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let output = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(output.with_filter(filter()))
        .with(events.map(|events| events.layer(filter())))
        .init();
}

/// Listens for SIGTERM and Ctrl-C from the moment it is called, and
/// completes on the first. Called before the server says it is listening,
/// so that a signal sent as soon as it does stops it gracefully instead of
/// killing it (which would leave the catalogue to be checked at the next
/// start and lose the download counts not yet written).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let listen = |kind| tokio::signal::unix::signal(kind).ok();
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = (
        listen(tokio::signal::unix::SignalKind::terminate()),
        listen(tokio::signal::unix::SignalKind::interrupt()),
    );
    async move {
        #[cfg(unix)]
        {
            async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = received(terminate.as_mut()) => {},
                () = received(interrupt.as_mut()) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let flags = PartialSettings {
        listen: args.listen,
        log_format: args.log_format,
        auth: args.auth,
        service: args.service,
        public_url: args.public_url,
        token_ttl: args.token_ttl,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        rate_limit_per_address: args.rate_limit_per_address,
        rate_limit_per_user: args.rate_limit_per_user,
        rate_limit_burst: args.rate_limit_burst,
        failed_logins_per_minute: args.failed_logins_per_minute,
        body_timeout: args.body_timeout,
        header_timeout: args.header_timeout,
        keep_alive_timeout: args.keep_alive_timeout,
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        max_uploads: args.max_uploads,
        max_uploads_per_address: args.max_uploads_per_address,
        max_uploads_per_user: args.max_uploads_per_user,
        manifest_memory_mib: args.manifest_memory_mib,
        http2_max_streams: args.http2_max_streams,
        immutable_versions: args.immutable_versions,
        ui: args.ui,
        cors_origins: args.cors_origins,
        metrics: args.metrics,
        metrics_listen: args.metrics_listen,
        metrics_auth: args.metrics_auth,
        min_free_disk: args.min_free_disk,
        readiness_interval: args.readiness_interval,
        log_events: args.log_events,
        gc_interval: args.gc_interval,
        gc_grace: args.gc_grace,
        webhook_timeout: args.webhook_timeout,
        webhook_retry_window: args.webhook_retry_window,
        webhook_backoff: args.webhook_backoff,
        ..PartialSettings::default()
    };
    let settings = args.data.settings(flags)?.resolve();
    let events = EventLog::new(settings.log_events);
    init_logging(settings.log_format, Some(&events));
    let data_dir = settings.data_dir.clone();
    let server = Server::bind_with_events(settings, events)
        .await
        .context("cannot start the registry")?;
    let stop = shutdown_signal();
    let scheme = if server.tls_enabled() {
        "https"
    } else {
        "http"
    };
    if let Some(addr) = server.metrics_addr() {
        tracing::info!("metrics on {scheme}://{addr}/metrics");
    }
    tracing::info!(
        "sentinel-registry {} listening on {scheme}://{} (data: {}, blobs: {})",
        env!("CARGO_PKG_VERSION"),
        server.local_addr(),
        data_dir.display(),
        server.storage(),
    );
    if let Some(password) = server.generated_admin_password() {
        eprintln!(
            "created user {admin} (role admin) with password: {password}\n\
             it is shown only now; change it with `sentinel-registry user passwd {admin}`",
            admin = sentinel_registry::BOOTSTRAP_ADMIN,
        );
    }
    if server.auth_enabled() {
        tracing::info!("authentication is on: clients log in through {scheme}://<host>/token");
        if !server.tls_enabled() && !server.local_addr().ip().is_loopback() {
            tracing::warn!(
                "authentication is on without TLS on a non-loopback address: passwords and tokens cross the network in clear (set tls-cert and tls-key)"
            );
        }
    } else {
        tracing::warn!(
            "authentication is off: anyone who can reach this address can push, pull and delete (turn it on with --auth)"
        );
    }
    server.run(stop).await.context("server failed")?;
    Ok(())
}

/// Refuses a data directory that holds no registry (no metadata index),
/// rather than creating an empty one to check.
fn existing_registry(settings: &Settings) -> anyhow::Result<()> {
    if settings.data_dir.join("index.redb").exists() {
        Ok(())
    } else {
        bail!(
            "no registry data in {} (no index.redb there): give the data directory the server uses with --data-dir",
            settings.data_dir.display()
        )
    }
}

async fn fsck(args: DataArgs) -> anyhow::Result<ExitCode> {
    let settings = args.resolve()?;
    existing_registry(&settings)?;
    let report = sentinel_registry::fsck(&settings)
        .await
        .context("cannot check the registry (is it still running?)")?;
    println!("{report}");
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn reindex(args: DataArgs) -> anyhow::Result<ExitCode> {
    let settings = args.resolve()?;
    existing_registry(&settings)?;
    init_logging(settings.log_format, None);
    let started = std::time::Instant::now();
    let done = sentinel_registry::reindex(&settings)
        .await
        .context("cannot rebuild the package catalogue (is the registry still running?)")?;
    println!(
        "catalogue rebuilt in {:.1}s: {} manifests looked at, {} packages catalogued, {} entries removed, {} invalid packages skipped",
        started.elapsed().as_secs_f64(),
        done.manifests,
        done.recorded,
        done.forgotten,
        done.invalid
    );
    Ok(ExitCode::SUCCESS)
}

async fn gc(args: GcArgs) -> anyhow::Result<()> {
    let settings = args.data.resolve()?;
    existing_registry(&settings)?;
    let mut query = format!("/api/v1/gc?dry_run={}", args.dry_run);
    if let Some(grace) = args.grace {
        query.push_str(&format!("&grace={}s", grace.0.as_secs()));
    }
    let report: GcReport =
        match admin::call(&settings.data_dir, axum::http::Method::POST, &query, None).await {
            Ok(body) => serde_json::from_value(body)
                .context("the running server's report was not understood")?,
            Err(AdminError::Refused { status, answer, .. }) => {
                bail!("the running server refused garbage collection ({status}): {answer}")
            }
            Err(AdminError::NotRunning(_)) => {
                init_logging(settings.log_format, None);
                let grace = args.grace.map_or(settings.gc_grace, |grace| grace.0);
                sentinel_registry::collect_garbage_offline(&settings, args.dry_run, grace)
                    .await
                    .context("cannot collect garbage")?
            }
            Err(error) => return Err(error).context("cannot reach the running server"),
        };
    print_gc_report(&report);
    Ok(())
}

/// Prints a garbage collection report for a person.
fn print_gc_report(report: &GcReport) {
    let (retire, delete) = if report.dry_run {
        ("would retire", "would delete")
    } else {
        ("retired", "deleted")
    };
    println!(
        "{} repositories looked at in {:.1}s; {retire} {} package versions; {delete} {} manifests, {} blob links, {} blobs ({} bytes); {} upload sessions expired, {} orphaned uploads deleted, {} stale reservations dropped",
        report.repositories,
        report.duration_ms as f64 / 1000.0,
        report.versions_retired,
        report.manifests_deleted,
        report.blob_links_removed,
        report.blobs_deleted,
        report.bytes_freed,
        report.uploads_expired,
        report.orphaned_uploads_deleted,
        report.reservations_expired,
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Fsck(args) => fsck(args).await,
        Command::Reindex(args) => reindex(args).await,
        Command::Gc(args) => gc(args).await.map(|()| ExitCode::SUCCESS),
        Command::User(command) => manage::user(command).map(|()| ExitCode::SUCCESS),
        Command::Token(command) => manage::token(command).map(|()| ExitCode::SUCCESS),
        Command::Org(command) => manage::org(command).map(|()| ExitCode::SUCCESS),
        Command::Repo(command) => manage::repo(command).map(|()| ExitCode::SUCCESS),
        Command::Policy(command) => manage::policy(command).map(|()| ExitCode::SUCCESS),
        Command::Webhook(command) => webhook_command::run(command).await,
        Command::RateLimit(args) => manage::rate_limit(args).await.map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sentinel-registry: {error:#}");
            ExitCode::from(2)
        }
    }
}
