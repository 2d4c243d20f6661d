//! The server's life: opening the data, binding the listener (and the
//! metrics listener, if it has its own address), serving, and the
//! housekeeping that runs beside it (expiring idle uploads, reloading the
//! users, policy and webhooks files, forgetting quiet clients' rate-limit
//! state, measuring the storage for the metrics, delivering webhook events).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sentinel_catalogue::EmbeddedCatalogue;
use sentinel_index::RedbIndex;
use sentinel_storage::{BlobStore, StorageLocation};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::oci::in_flight::InFlight;
use crate::auth::authentication::AuthSetup;
use crate::auth::{AuthSetupError, Authenticator};
use crate::event_log::EventLog;
use crate::metrics::{Metrics, Usage};
use crate::middleware::{LimitsFile, RateLimit, RateLimits, RequestLimits};
use crate::settings::Settings;
use crate::{api, connections, service, webhook_sender};

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
    /// The package catalogue could not be opened or rebuilt.
    #[error("cannot open the package catalogue")]
    Catalogue(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The blob storage could not be opened.
    #[error(transparent)]
    Storage(#[from] sentinel_storage::StorageLocationError),
    /// Authentication could not be set up (users file, signing key).
    #[error("cannot set up authentication")]
    Auth(#[from] AuthSetupError),
    /// The signature policies could not be loaded (a configured key file,
    /// the policy file).
    #[error("cannot load the signature policies")]
    SignaturePolicy(#[from] sentinel_trust::TrustError),
    /// The webhooks could not be loaded (the webhooks file, the HTTP client).
    #[error("cannot load the webhooks")]
    Webhooks(#[from] sentinel_webhooks::WebhookError),
    /// The rate limits changed through the management API
    /// (`rate-limits.json`) could not be read.
    #[error("cannot load the rate limits")]
    RateLimits(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The lifecycle rules could not be loaded (a malformed configured
    /// rule, the lifecycle policy file).
    #[error("cannot load the retention, immutability and quota rules")]
    Lifecycle(#[from] sentinel_lifecycle::LifecycleError),
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate and key")]
    Tls(#[source] std::io::Error),
    /// Only one of the TLS certificate and key was given.
    #[error("TLS needs both tls-cert and tls-key")]
    TlsIncomplete,
    /// A CORS origin is not `scheme://host[:port]`.
    #[error("--cors-origin {0:?} is not an origin such as https://agents.example.com")]
    CorsOrigin(String),
    /// `metrics-auth` was asked for with authentication off.
    #[error("metrics-auth needs authentication on (--auth)")]
    MetricsAuthWithoutAuth,
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
    auth: Option<Arc<Authenticator>>,
    limits: Arc<RequestLimits>,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    connection_limits: connections::ConnectionLimits,
    generated_admin_password: Option<String>,
    metrics: Option<Arc<Metrics>>,
    metrics_listener: Option<(TcpListener, Router)>,
    /// The admin socket and its application; `None` if it could not be bound.
    admin: Option<(tokio::net::UnixListener, Router)>,
    data_dir: std::path::PathBuf,
    /// How often garbage collection runs (zero: never).
    gc_interval: Duration,
    webhook_retry: webhook_sender::RetryPolicy,
}

impl Server {
    /// Opens storage and binds the listener. The log events the management
    /// API shows are those recorded by the layer of an [`EventLog`] given to
    /// [`Server::bind_with_events`]; this server's stays empty.
    pub async fn bind(settings: Settings) -> Result<Server, StartError> {
        let events = EventLog::new(settings.log_events);
        Server::bind_with_events(settings, events).await
    }

    /// Opens storage and binds the listener; `/api/v1/logs` and
    /// `/api/v1/audit` read `events` (whose layer the caller installs in
    /// its `tracing` subscriber).
    pub async fn bind_with_events(
        settings: Settings,
        events: EventLog,
    ) -> Result<Server, StartError> {
        let (registry, storage, released, catalogue) = open(&settings)?;
        if !catalogue.clean {
            rebuild_catalogue(&registry, catalogue.created).await?;
        }
        let configured = RateLimits {
            per_address: RateLimit::per_second(
                settings.rate_limit_per_address,
                settings.rate_limit_burst,
            ),
            per_user: RateLimit::per_second(
                settings.rate_limit_per_user,
                settings.rate_limit_burst,
            ),
        };
        let limits = Arc::new(
            RequestLimits::open(configured, LimitsFile::new(&settings.data_dir))
                .map_err(|e| StartError::RateLimits(Box::new(e)))?,
        );
        let AuthSetup {
            authenticator,
            generated_password,
        } = Authenticator::open(&settings)?;
        if settings.metrics && settings.metrics_auth && authenticator.is_none() {
            return Err(StartError::MetricsAuthWithoutAuth);
        }
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
        let metrics_listener = match settings.metrics_listen.filter(|_| settings.metrics) {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            None => None,
        };
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
        let metrics = settings.metrics.then(|| Arc::new(Metrics::new()));
        let app = api::App {
            registry: registry.clone(),
            auth: authenticator.clone(),
            limits: Arc::clone(&limits),
            in_flight: Arc::new(InFlight::new(&settings)),
            answers: Arc::default(),
            readiness: Arc::new(service::Readiness::new(
                registry.clone(),
                settings.data_dir.clone(),
                settings.min_free_disk,
                Duration::from_secs(settings.readiness_interval.max(1)),
            )),
            metrics: metrics.clone(),
            metrics_auth: settings.metrics_auth,
            events,
            secure_cookies: tls.is_some(),
            sessions: Arc::default(),
        };
        let metrics_listener =
            metrics_listener.map(|listener| (listener, api::metrics_router(app.clone())));
        let admin = match crate::admin::bind(&settings.data_dir) {
            Ok(listener) => Some((listener, api::admin_router(app.clone()))),
            Err(error) => {
                tracing::warn!(
                    %error,
                    path = %crate::admin::socket_path(&settings.data_dir).display(),
                    "cannot open the admin socket: sentinel-registry subcommands that need the running server will not reach it"
                );
                None
            }
        };
        let served = api::Served {
            metrics: settings.metrics && metrics_listener.is_none(),
            ui: settings.ui,
            cors_origins: cors_origins(&settings.cors_origins)?,
        };
        Ok(Server {
            listener,
            app: api::router(app, served),
            storage,
            registry,
            released,
            auth: authenticator,
            limits,
            tls,
            connection_limits,
            generated_admin_password: generated_password,
            metrics,
            metrics_listener,
            admin,
            data_dir: settings.data_dir,
            gc_interval: settings.gc_interval,
            webhook_retry: webhook_sender::RetryPolicy {
                backoff: Duration::from_millis(settings.webhook_backoff.max(1)),
                window: Duration::from_secs(settings.webhook_retry_window),
            },
        })
    }

    /// The address `/metrics` is served on when it has its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Whether clients must authenticate.
    pub fn auth_enabled(&self) -> bool {
        self.auth.is_some()
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
        let admin_socket = crate::admin::socket_path(&self.data_dir);
        let registry = self.registry.clone();
        let sweeper = tokio::spawn(sweep_uploads_periodically(self.registry));
        let flusher = tokio::spawn(flush_downloads_periodically(registry.clone()));
        let watcher = tokio::spawn(watch_files(self.auth, self.limits, registry.clone()));
        let collector = (!self.gc_interval.is_zero()).then(|| {
            tokio::spawn(crate::gc::periodically(
                registry.clone(),
                self.metrics.clone(),
                self.gc_interval,
                registry.gc_grace(),
            ))
        });
        let sender = tokio::spawn(webhook_sender::run(
            registry.clone(),
            self.metrics.clone(),
            self.webhook_retry,
        ));
        let pull_recorder = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.record_queued_pulls().await })
        };
        let measurer = self.metrics.map(|metrics| {
            tokio::spawn(measure_periodically(
                registry.clone(),
                metrics,
                self.data_dir,
            ))
        });
        let tls = self
            .tls
            .map(|config| tokio_rustls::TlsAcceptor::from(config.get_inner()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let metrics_server = self.metrics_listener.map(|(listener, app)| {
            let mut stopped = stopped.clone();
            tokio::spawn(connections::serve(
                listener,
                app,
                tls.clone(),
                self.connection_limits.clone(),
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            ))
        });
        let admin_server = self.admin.map(|(listener, app)| {
            let mut stopped = stopped.clone();
            tokio::spawn(crate::admin::serve(
                listener,
                app,
                admin_socket,
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            ))
        });
        let served = connections::serve(
            self.listener,
            self.app,
            tls,
            self.connection_limits,
            async move {
                shutdown.await;
                let _ = stop.send(true);
            },
        )
        .await;
        if let Some(server) = metrics_server {
            // Told to stop with the main listener, or when it failed (the
            // sender is dropped then); it lets scrapes in progress finish.
            let _ = server.await;
        }
        if let Some(server) = admin_server {
            let _ = server.await;
        }
        for task in [sweeper, watcher, flusher, sender, pull_recorder]
            .into_iter()
            .chain(measurer)
            .chain(collector)
        {
            task.abort();
            let _ = task.await;
        }
        if let Err(error) = registry.close_catalogue().await {
            tracing::warn!(%error, "could not close the package catalogue cleanly; the next start checks it");
        }
        drop(registry);
        // Fires when the last clone of the registry is dropped.
        let _ = self.released.await;
        served
    }
}

pub use crate::service::{ORPHANED_UPLOAD_GRACE, UPLOAD_EXPIRY};
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

/// How often counted package downloads are written.
const DOWNLOAD_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// Writes counted downloads every [`DOWNLOAD_FLUSH_INTERVAL`].
async fn flush_downloads_periodically(registry: service::Registry) {
    let mut ticks = tokio::time::interval(DOWNLOAD_FLUSH_INTERVAL);
    loop {
        ticks.tick().await;
        registry.flush_downloads().await;
    }
}

/// How often the storage figures of the metrics are measured.
const MEASURE_INTERVAL: Duration = Duration::from_secs(60);

/// Measures the blob store, the index and catalogue files and the open
/// upload sessions for the metrics' gauges every [`MEASURE_INTERVAL`] (a
/// listing of the whole blob store: too costly for every scrape).
async fn measure_periodically(
    registry: service::Registry,
    metrics: Arc<Metrics>,
    data_dir: std::path::PathBuf,
) {
    let mut ticks = tokio::time::interval(MEASURE_INTERVAL);
    loop {
        ticks.tick().await;
        let file_size = |name: &str| {
            std::fs::metadata(data_dir.join(name)).map_or(0, |metadata| metadata.len())
        };
        match registry.usage().await {
            Ok((blobs, sessions)) => metrics.set_usage(&Usage {
                blobs: blobs.objects,
                blob_bytes: blobs.bytes,
                index_bytes: file_size("index.redb"),
                catalogue_bytes: file_size("catalogue.redb"),
                upload_sessions: u64::try_from(sessions).unwrap_or(u64::MAX),
            }),
            Err(error) => {
                tracing::warn!(error = %crate::describe(&error), "could not measure the storage for the metrics");
            }
        }
    }
}

/// Checks the catalogue against the stored manifests (after a crash, or
/// when it was `created` just now, on data from before the catalogue
/// existed or on a new data directory), logging progress.
async fn rebuild_catalogue(registry: &service::Registry, created: bool) -> Result<(), StartError> {
    if created {
        tracing::info!("a new package catalogue: filling it from the stored manifests");
    } else {
        tracing::info!(
            "the package catalogue was not closed cleanly: checking it against the stored manifests"
        );
    }
    let started = std::time::Instant::now();
    let done = registry
        .reindex(false)
        .await
        .map_err(|e| StartError::Catalogue(Box::new(e)))?;
    tracing::info!(
        manifests = done.manifests,
        recorded = done.recorded,
        kept = done.kept,
        forgotten = done.forgotten,
        invalid = done.invalid,
        seconds = started.elapsed().as_secs_f64(),
        "package catalogue ready"
    );
    Ok(())
}

/// How often the users and policy files are checked for changes made by
/// another process.
const AUTH_RELOAD_INTERVAL: Duration = Duration::from_millis(250);

/// Picks up changes to the users file, the signature policy file and the
/// lifecycle policy file (made by `sentinel-registry user ...` and `policy ...` while the server runs)
/// within [`AUTH_RELOAD_INTERVAL`], and forgets rate limit state of quiet
/// clients once a minute.
async fn watch_files(
    auth: Option<Arc<Authenticator>>,
    limits: Arc<RequestLimits>,
    registry: service::Registry,
) {
    let mut ticks = tokio::time::interval(AUTH_RELOAD_INTERVAL);
    let mut count: u32 = 0;
    loop {
        ticks.tick().await;
        if let Some(auth) = &auth {
            auth.reload();
        }
        match registry.reload_signature_policies() {
            Ok(true) => tracing::info!("reloaded the signature policies"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(error = %crate::describe(&error), "could not reload the signature policies");
            }
        }
        match registry.reload_webhooks() {
            Ok(true) => tracing::info!("reloaded the webhooks"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(error = %crate::describe(&error), "could not reload the webhooks");
            }
        }
        match registry.reload_lifecycle_policies() {
            Ok(true) => tracing::info!("reloaded the retention, immutability and quota rules"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(error = %crate::describe(&error), "could not reload the lifecycle policies");
            }
        }
        count = count.wrapping_add(1);
        if count.is_multiple_of(240) {
            limits.forget_idle();
            if let Some(auth) = &auth {
                auth.forget_idle();
            }
        }
    }
}

/// Opens the metadata index, package catalogue and blob store named by
/// `settings`, with what opening the catalogue found (whether it was closed
/// cleanly, or is new).
pub(crate) fn open(
    settings: &Settings,
) -> Result<
    (
        service::Registry,
        StorageLocation,
        oneshot::Receiver<()>,
        sentinel_catalogue::Opened,
    ),
    StartError,
> {
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
    let (catalogue, opened) = EmbeddedCatalogue::open(&settings.data_dir.join("catalogue.redb"))
        .map_err(|e| StartError::Catalogue(Box::new(e)))?;
    let own_host = settings
        .public_url
        .as_deref()
        .and_then(|url| url::Url::parse(url).ok())
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        });
    let policy = service::PackagePolicy {
        immutable_versions: settings.immutable_versions,
        own_host,
    };
    let trust = service::Trust::new(configured_policies(settings)?, &settings.data_dir)?;
    let source = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.listen));
    let events = service::Events::new(
        source,
        &settings.data_dir,
        Duration::from_secs(settings.webhook_timeout.max(1)),
    )?;
    let lifecycle = service::LifecycleRules::new(settings.lifecycle.clone(), &settings.data_dir)?;
    let (release_guard, released) = crate::service::ReleaseGuard::new();
    let registry = service::Registry::new(
        Arc::new(index),
        blobs,
        Arc::new(catalogue),
        service::Rules {
            packages: policy,
            trust,
            lifecycle,
            events,
        },
        release_guard,
    )
    .with_gc_grace(settings.gc_grace);
    Ok((registry, storage, released, opened))
}

/// The signature policies of the configuration, with their key files read.
fn configured_policies(
    settings: &Settings,
) -> Result<Vec<sentinel_trust::SignaturePolicy>, sentinel_trust::TrustError> {
    settings
        .signature_policies
        .iter()
        .map(|configured| {
            let keys = configured
                .keys
                .iter()
                .map(|path| sentinel_trust::read_key_file(path))
                .collect::<Result<Vec<_>, _>>()?;
            sentinel_trust::SignaturePolicy::new(
                configured.repositories.parse()?,
                configured.require,
                keys,
            )
        })
        .collect()
}

/// The CORS origins of the settings as header values: each a scheme,
/// a host and maybe a port, nothing else (`*` is not accepted: name the
/// sites that may call the API).
fn cors_origins(origins: &[String]) -> Result<Vec<axum::http::HeaderValue>, StartError> {
    origins
        .iter()
        .map(|origin| {
            let refused = || StartError::CorsOrigin(origin.clone());
            let url = url::Url::parse(origin).map_err(|_| refused())?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.query().is_none()
                && url.fragment().is_none()
                && url.path() == "/"
                && !origin.ends_with('/');
            if !plain {
                return Err(refused());
            }
            axum::http::HeaderValue::from_str(origin).map_err(|_| refused())
        })
        .collect()
}
