//! `sentinel-registry`: the command line of the Sentinel registry server.

mod manage;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sentinel_registry::{LogFormat, PartialSettings, Server};
use tracing_subscriber::EnvFilter;

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
    Serve(ServeArgs),
    /// Check the stored data: every blob is read back and hashed, every
    /// manifest re-hashed and its references looked up, every tag resolved.
    /// Run it while the server is stopped. Exits 1 if damage is found.
    Fsck(DataArgs),
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
    /// Failed logins per minute from one address or for one user name before
    /// logins are refused for a while [default: 10; 0: no limit].
    #[arg(long, env = "SENTINEL_FAILED_LOGINS_PER_MINUTE", value_name = "N")]
    failed_logins_per_minute: Option<u32>,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SENTINEL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
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
        failed_logins_per_minute: args.failed_logins_per_minute,
        ..PartialSettings::default()
    };
    let settings = args.data.settings(flags)?.resolve();
    init_logging(settings.log_format);
    let data_dir = settings.data_dir.clone();
    let server = Server::bind(settings)
        .await
        .context("cannot start the registry")?;
    let scheme = if server.tls_enabled() {
        "https"
    } else {
        "http"
    };
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
    server
        .run(shutdown_signal())
        .await
        .context("server failed")?;
    Ok(())
}

async fn fsck(args: DataArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings(PartialSettings::default())?.resolve();
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await.map(|()| ExitCode::SUCCESS),
        Command::Fsck(args) => fsck(args).await,
        Command::User(command) => manage::user(command).map(|()| ExitCode::SUCCESS),
        Command::Token(command) => manage::token(command).map(|()| ExitCode::SUCCESS),
        Command::Org(command) => manage::org(command).map(|()| ExitCode::SUCCESS),
        Command::Repo(command) => manage::repo(command).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sentinel-registry: {error:#}");
            ExitCode::from(2)
        }
    }
}
