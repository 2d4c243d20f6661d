//! The Sentinel registry server: the OCI Distribution Spec v1.1 over HTTP.
//!
//! [`Server::bind`] opens the metadata index and blob store named by
//! [`Settings`] and binds the listener; [`Server::run`] serves until a
//! shutdown signal, then lets in-flight requests finish. Requests flow one way:
//! `routes` (HTTP) -> [`service::Registry`] (the domain) ->
//! `sentinel-index` and `sentinel-storage`.

mod access_log;
mod auth;
mod connections;
mod error;
mod fsck;
mod in_flight;
mod routes;
pub mod service;
mod settings;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::any;
use sentinel_index::RedbIndex;
use sentinel_oci::ErrorCode;
use sentinel_storage::{BlobStore, StorageLocation};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::{AuthSetupError, BOOTSTRAP_ADMIN, generate_password};
pub use error::ApiError;
pub use fsck::FsckReport;
pub use settings::{LogFormat, PartialSettings, Settings, SettingsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The metadata index could not be opened.
    #[error("cannot open the metadata index")]
    Index(#[from] sentinel_index::IndexError),
    /// The blob storage could not be opened.
    #[error(transparent)]
    Storage(#[from] sentinel_storage::StorageLocationError),
    /// Authentication could not be set up (users file, signing key).
    #[error("cannot set up authentication")]
    Auth(#[from] AuthSetupError),
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate and key")]
    Tls(#[source] std::io::Error),
    /// Only one of the TLS certificate and key was given.
    #[error("TLS needs both tls-cert and tls-key")]
    TlsIncomplete,
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// A bound, ready-to-run registry server.
pub struct Server {
    listener: TcpListener,
    app: Router,
    storage: StorageLocation,
    registry: service::Registry,
    released: oneshot::Receiver<()>,
    gate: Option<Arc<auth::Gate>>,
    limits: Arc<auth::Limits>,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    connection_limits: connections::ConnectionLimits,
    generated_admin_password: Option<String>,
}

impl Server {
    /// Opens storage and binds the listener.
    pub async fn bind(settings: Settings) -> Result<Server, StartError> {
        let (registry, storage, released) = open(&settings)?;
        let limits = Arc::new(auth::Limits::new(
            settings.rate_limit_per_address,
            settings.rate_limit_per_user,
            settings.failed_logins_per_minute,
        ));
        let opened = auth::Gate::open(&settings, Arc::clone(&limits))?;
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(StartError::Tls)?,
            ),
            (None, None) => None,
            _ => return Err(StartError::TlsIncomplete),
        };
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        let open_files = connections::raise_open_files_limit();
        let max_connections = match settings.max_connections {
            0 => connections::default_max_connections(open_files),
            n => n,
        };
        let per_address = match settings.max_connections_per_address {
            0 => "no cap per address".to_owned(),
            n => format!("{n} per address"),
        };
        match open_files {
            Some(limit) => tracing::info!(
                "open-files limit {limit} (the soft limit raised to the hard one): at most {max_connections} connections, {per_address}"
            ),
            None => tracing::info!(
                "open-files limit unknown: at most {max_connections} connections, {per_address}"
            ),
        }
        let connection_limits = connections::ConnectionLimits {
            header_timeout: Duration::from_secs(settings.header_timeout.max(1)),
            keep_alive_timeout: Duration::from_secs(settings.keep_alive_timeout.max(1)),
            body_timeout: Duration::from_secs(settings.body_timeout.max(1)),
            max_connections,
            max_per_address: settings.max_connections_per_address,
            http2_max_streams: settings.http2_max_streams.max(1),
        };
        let app = routes::App {
            registry: registry.clone(),
            gate: opened.gate.clone(),
            limits: Arc::clone(&limits),
            in_flight: Arc::new(in_flight::InFlight::new(&settings)),
        };
        Ok(Server {
            listener,
            app: router(app),
            storage,
            registry,
            released,
            gate: opened.gate,
            limits,
            tls,
            connection_limits,
            generated_admin_password: opened.generated_password,
        })
    }

    /// Whether clients must authenticate.
    pub fn auth_enabled(&self) -> bool {
        self.gate.is_some()
    }

    /// Whether the server speaks HTTPS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// The password generated for the admin user created at this start, if
    /// one was: it is stored only hashed, so this is the one chance to show it.
    pub fn generated_admin_password(&self) -> Option<&str> {
        self.generated_admin_password.as_deref()
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Where blobs are stored.
    pub fn storage(&self) -> &StorageLocation {
        &self.storage
    }

    /// Serves until `shutdown` completes, then waits for in-flight requests.
    ///
    /// Before serving, idle upload sessions are expired and upload bytes no
    /// session owns are deleted (connections made meanwhile wait in the
    /// listen queue); both are repeated every 10 minutes while serving.
    ///
    /// When this returns, every connection task has dropped its handle on the
    /// registry, so the metadata index is closed and the data directory can be
    /// opened again (by a restarted server in the same process, for instance).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        sweep_uploads(&self.registry).await;
        let sweeper = tokio::spawn(sweep_uploads_periodically(self.registry));
        let watcher = tokio::spawn(watch_auth(self.gate, self.limits));
        let tls = self
            .tls
            .map(|config| tokio_rustls::TlsAcceptor::from(config.get_inner()));
        let served = connections::serve(
            self.listener,
            self.app,
            tls,
            self.connection_limits,
            shutdown,
        )
        .await;
        for task in [sweeper, watcher] {
            task.abort();
            let _ = task.await;
        }
        // Fires when the last clone of the registry is dropped.
        let _ = self.released.await;
        served
    }
}

/// Upload sessions idle for this long are abandoned (their parts deleted).
pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);
/// Upload bytes that no session owns are deleted once they have not changed
/// for this long. A monolithic push has no session while it writes; an hour
/// without a single byte arriving is far beyond any client's patience.
pub const ORPHANED_UPLOAD_GRACE: Duration = Duration::from_secs(60 * 60);
/// How often idle upload sessions and orphaned upload bytes are looked for.
const UPLOAD_SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Expires idle upload sessions and deletes upload bytes no session owns;
/// failures are logged (the next sweep tries again).
async fn sweep_uploads(registry: &service::Registry) {
    match registry.expire_uploads(UPLOAD_EXPIRY).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(expired = n, "abandoned idle upload sessions"),
        Err(error) => tracing::warn!(%error, "could not expire idle upload sessions"),
    }
    match registry.sweep_orphaned_uploads(ORPHANED_UPLOAD_GRACE).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "deleted upload bytes no session owns"),
        Err(error) => tracing::warn!(%error, "could not look for orphaned upload bytes"),
    }
}

/// [`sweep_uploads`] every [`UPLOAD_SWEEP_INTERVAL`], the first time one
/// interval from now (the start-up sweep has just run).
async fn sweep_uploads_periodically(registry: service::Registry) {
    let first = tokio::time::Instant::now() + UPLOAD_SWEEP_INTERVAL;
    let mut ticks = tokio::time::interval_at(first, UPLOAD_SWEEP_INTERVAL);
    loop {
        ticks.tick().await;
        sweep_uploads(&registry).await;
    }
}

/// How often the users file is checked for changes made by another process.
const AUTH_RELOAD_INTERVAL: Duration = Duration::from_millis(250);

/// Picks up changes to the users file (made by `sentinel-registry user ...`
/// while the server runs) within [`AUTH_RELOAD_INTERVAL`], and forgets rate
/// limit state of quiet clients once a minute.
async fn watch_auth(gate: Option<Arc<auth::Gate>>, limits: Arc<auth::Limits>) {
    let mut ticks = tokio::time::interval(AUTH_RELOAD_INTERVAL);
    let mut count: u32 = 0;
    loop {
        ticks.tick().await;
        if let Some(gate) = &gate {
            gate.reload();
        }
        count = count.wrapping_add(1);
        if count.is_multiple_of(240) {
            limits.forget_idle();
        }
    }
}

/// Gives an HTTP/2 request, whose host travels as the `:authority`
/// pseudo-header (in the URI), the `Host` header an HTTP/1.1 request has, so
/// everything that builds URLs for the client (token realms) reads one place.
async fn host_from_authority(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !request.headers().contains_key(axum::http::header::HOST)
        && let Some(authority) = request.uri().authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(axum::http::header::HOST, host);
    }
    next.run(request).await
}

/// A handler panicked: answer with the OCI error envelope like any other failure.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    ApiError::new(
        ErrorCode::Unknown,
        "internal error: the request handler failed",
    )
    .into_response()
}

/// Signals, when dropped, that the registry it belongs to is gone.
pub(crate) struct ReleaseGuard(Option<oneshot::Sender<()>>);

impl ReleaseGuard {
    fn new() -> (Self, oneshot::Receiver<()>) {
        let (sender, receiver) = oneshot::channel();
        (ReleaseGuard(Some(sender)), receiver)
    }
}

impl Drop for ReleaseGuard {
    fn drop(&mut self) {
        if let Some(sender) = self.0.take() {
            let _ = sender.send(());
        }
    }
}

/// Opens the metadata index and blob store named by `settings`.
fn open(
    settings: &Settings,
) -> Result<(service::Registry, StorageLocation, oneshot::Receiver<()>), StartError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
        path: settings.data_dir.clone(),
        source,
    })?;
    let index = RedbIndex::open(&settings.data_dir.join("index.redb"))?;
    let storage = match &settings.storage {
        Some(location) => location.parse()?,
        None => StorageLocation::Local(settings.data_dir.join("storage")),
    };
    let blobs = BlobStore::open(&storage)?;
    let (release_guard, released) = ReleaseGuard::new();
    let registry = service::Registry::new(Arc::new(index), blobs, release_guard);
    Ok((registry, storage, released))
}

/// Why `fsck` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// The data could not be opened (a running server holds the index, for one).
    #[error(transparent)]
    Open(#[from] StartError),
    /// Reading the index or storage failed midway.
    #[error("the check could not finish")]
    Check(#[source] service::RegistryError),
}

/// Checks every blob, manifest, tag and upload session in the data named by
/// `settings`. The server must be stopped: a running server holds the index.
pub async fn fsck(settings: &Settings) -> Result<FsckReport, FsckError> {
    let (registry, _, _) = open(settings)?;
    fsck::check(&registry).await.map_err(FsckError::Check)
}

/// The largest body `/token` and `/api/v1/` read: their forms and JSON
/// objects are a few hundred bytes.
const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// The HTTP application: every `/v2/` route, `/token`, the management API
/// under `/api/v1/`, and the middleware around them.
fn router(app: routes::App) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            MakeRequestUuid,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::middleware::from_fn(host_from_authority))
        .layer(axum::middleware::from_fn(access_log::log_request))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app.limits),
            auth::limit_addresses,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        ));
    Router::new()
        .route("/v2", any(routes::dispatch))
        .route("/v2/", any(routes::dispatch))
        .route("/v2/{*rest}", any(routes::dispatch))
        .route(
            "/token",
            any(auth::token_endpoint::token).layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)),
        )
        .route(
            "/api/v1/{*rest}",
            any(auth::api::dispatch).layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)),
        )
        .fallback(|uri: axum::http::Uri| async move {
            routes::no_such_endpoint(uri.path()).into_response()
        })
        .with_state(app)
        .layer(middleware)
}
