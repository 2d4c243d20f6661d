//! The Sentinel registry server: the OCI Distribution Spec v1.1 over HTTP.
//!
//! [`Server::bind`] opens the metadata index and blob store named by
//! [`Settings`] and binds the listener; [`Server::run`] serves until a
//! shutdown signal, then lets in-flight requests finish. Requests flow one way:
//! `routes` (HTTP) -> [`service::Registry`] (the domain) ->
//! `sentinel-index` and `sentinel-storage`.

mod access_log;
mod error;
mod routes;
pub mod service;
mod settings;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
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

pub use error::ApiError;
pub use settings::{LogFormat, PartialSettings, Settings, SettingsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The metadata index could not be opened.
    #[error("cannot open the metadata index: {0}")]
    Index(#[from] sentinel_index::IndexError),
    /// The blob storage could not be opened.
    #[error(transparent)]
    Storage(#[from] sentinel_storage::StorageLocationError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
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
    released: oneshot::Receiver<()>,
}

impl Server {
    /// Opens storage and binds the listener.
    pub async fn bind(settings: Settings) -> Result<Server, StartError> {
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
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        Ok(Server {
            listener,
            app: router(registry),
            storage,
            released,
        })
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
    /// When this returns, every connection task has dropped its handle on the
    /// registry, so the metadata index is closed and the data directory can be
    /// opened again (by a restarted server in the same process, for instance).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await?;
        // Fires when the last clone of the registry is dropped.
        let _ = self.released.await;
        Ok(())
    }
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

/// The HTTP application: every `/v2/` route and the middleware around it.
fn router(registry: service::Registry) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            MakeRequestUuid,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::middleware::from_fn(access_log::log_request))
        .layer(CatchPanicLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        ));
    Router::new()
        .route("/v2", any(routes::dispatch))
        .route("/v2/", any(routes::dispatch))
        .route("/v2/{*rest}", any(routes::dispatch))
        .fallback(|| async {
            ApiError::new(
                ErrorCode::Unsupported,
                "not a registry endpoint: the API lives under /v2/",
            )
            .with_status(StatusCode::NOT_FOUND)
            .into_response()
        })
        .with_state(registry)
        .layer(middleware)
}
