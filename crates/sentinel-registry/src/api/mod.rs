//! The HTTP APIs the server speaks, one module each, and the router that
//! lists every route of the server in one place:
//!
//! | Path                  | Module     | What                                        |
//! |-----------------------|------------|---------------------------------------------|
//! | `/v2/...`             | [`oci`]    | the OCI Distribution API                    |
//! | `/token`              | [`token`]  | the Docker token endpoint                   |
//! | `/api/v1/...`         | [`manage`] | users, tokens, organisations, repositories  |
//! | `/v1/packages/...`    | [`packages`] | the package catalogue: search, versions, publish |
//! | `/healthz`, `/health`, `/readyz`, `/ready` | [`health`] | liveness and readiness (no authentication) |
//! | `/metrics`            | [`metrics`] | the Prometheus exposition (here or on its own address) |
//! | `/`, `/search`, `/packages/...`, `/assets/...` ... | [`ui`] | the web UI (unless `--ui=false`) |
//! | anything else         |            | `404` with the OCI error envelope           |
//!
//! The admin socket (`crate::admin`) has a router of its own,
//! [`admin_router`]: `/api/v1/...` alone, where the caller is the local
//! administrator.
//!
//! A new API (packages, the UI, health, metrics) is a new module here and a
//! new line in [`router`]. Handlers translate between HTTP and the layer
//! below (the [`Registry`] service, `auth`) and nothing else; their errors
//! are [`ApiError`]s (see [`error`] for which code to use where). What runs
//! around every request is in `middleware`.

pub(crate) mod error;
mod health;
mod manage;
mod metrics;
pub(crate) mod oci;
mod packages;
mod token;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use axum::routing::{any, get};

pub(crate) use error::ApiError;

use crate::auth::Authenticator;
use crate::event_log::EventLog;
use crate::metrics::{Api, Endpoint, Metrics};
use crate::middleware::{self, RequestLimits};
use crate::service::{Readiness, Registry};
use oci::in_flight::InFlight;

/// What the handlers of every API share.
#[derive(Clone)]
pub(crate) struct App {
    /// The registry service.
    pub registry: Registry,
    /// Authentication; `None` when it is off (everything is allowed).
    pub auth: Option<Arc<Authenticator>>,
    /// The request rate limits.
    pub limits: Arc<RequestLimits>,
    /// The bounds on uploads and manifest bodies in progress.
    pub in_flight: Arc<InFlight>,
    /// Package answers kept until the catalogue changes.
    pub answers: Arc<packages::Answers>,
    /// The readiness checks and their last result.
    pub readiness: Arc<Readiness>,
    /// The metrics; `None` when they are off.
    pub metrics: Option<Arc<Metrics>>,
    /// Whether `/metrics` needs a signed-in user.
    pub metrics_auth: bool,
    /// The last log events and audit events.
    pub events: EventLog,
    /// Whether the server speaks TLS, so the UI's cookies are `Secure`.
    pub secure_cookies: bool,
    /// The web UI's sessions (in memory: a restart signs everyone out).
    pub sessions: Arc<ui::session::Sessions>,
}

/// The largest body `/token` and `/api/v1/` read: their forms and JSON
/// objects are a few hundred bytes.
const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// Which of the optional parts the main address serves.
pub(crate) struct Served {
    /// `/metrics` (unless it has an address of its own, or is off).
    pub metrics: bool,
    /// The web UI.
    pub ui: bool,
    /// The origins that may call `/v1/` from a browser; none turns CORS off.
    pub cors_origins: Vec<HeaderValue>,
}

/// The HTTP application: every route of the server, and the middleware
/// around them.
pub(crate) fn router(app: App, served: Served) -> Router {
    let limits = Arc::clone(&app.limits);
    let metrics = app.metrics.clone();
    let packages = Router::new().route("/v1/packages/{*rest}", any(packages::dispatch));
    let packages = if served.cors_origins.is_empty() {
        packages
    } else {
        packages.layer(cors(served.cors_origins))
    };
    let mut routes = Router::new()
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*rest}", any(oci::dispatch))
        .route(
            "/token",
            any(token::token).layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)),
        )
        .merge(packages)
        .route(
            "/api/v1/{*rest}",
            any(manage::dispatch).layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)),
        )
        .route("/healthz", get(health::live))
        .route("/health", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/ready", get(health::ready));
    if served.metrics {
        routes = routes.route("/metrics", get(metrics::metrics));
    }
    if served.ui {
        routes = routes.merge(ui::routes());
    }
    let routes = routes
        .fallback(|uri: axum::http::Uri| async move {
            oci::no_such_endpoint(uri.path()).into_response()
        })
        .with_state(app);
    middleware::around(routes, limits, metrics)
}

/// CORS for the package API: `origins` may read it from a browser with
/// a bearer token of their own (no cookies: the UI's session is not for
/// other sites).
fn cors(origins: Vec<HeaderValue>) -> tower_http::cors::CorsLayer {
    use axum::http::{Method, header};
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([
            header::LOCATION,
            header::CONTENT_DISPOSITION,
            axum::http::HeaderName::from_static("docker-content-digest"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// The application of the separate metrics address: `/metrics` alone.
pub(crate) fn metrics_router(app: App) -> Router {
    let limits = Arc::clone(&app.limits);
    let metrics = app.metrics.clone();
    let routes = Router::new()
        .route("/metrics", get(metrics::metrics))
        .fallback(|uri: axum::http::Uri| async move {
            oci::no_such_endpoint(uri.path()).into_response()
        })
        .with_state(app);
    middleware::around(routes, limits, metrics)
}

/// The application of the admin socket: the management API alone, for the
/// local administrator (no rate limits: only the server's own machine
/// reaches it, through the file system's permissions).
pub(crate) fn admin_router(app: App) -> Router {
    Router::new()
        .route(
            "/api/v1/{*rest}",
            any(manage::dispatch_local).layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)),
        )
        .fallback(|uri: axum::http::Uri| async move {
            oci::no_such_endpoint(uri.path()).into_response()
        })
        .with_state(app)
}

/// Whether `path` is one that rate limits leave alone: the probes and the
/// metrics, which must answer however busy the clients of an address are.
pub(crate) fn is_exempt_from_rate_limits(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/health" | "/readyz" | "/ready" | "/metrics"
    )
}

/// The API and kind of endpoint `path` names, for the metrics' labels.
pub(crate) fn classify(path: &str) -> (Api, Endpoint) {
    if path == "/v2" || path.starts_with("/v2/") {
        return (Api::oci, oci::endpoint_kind(path));
    }
    if let Some(rest) = path.strip_prefix("/v1/packages/") {
        return (Api::packages, packages::endpoint_kind(rest));
    }
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        let endpoint = match rest.split('/').next().unwrap_or("") {
            "users" => Endpoint::users,
            "tokens" => Endpoint::tokens,
            "orgs" => Endpoint::orgs,
            "repositories" => Endpoint::repositories,
            "signature-policies" => Endpoint::signature_policies,
            "webhooks" => Endpoint::webhooks,
            "retention-policies" | "retention" => Endpoint::retention,
            "immutability-rules" => Endpoint::immutability_rules,
            "quotas" | "namespaces" => Endpoint::quotas,
            "whoami" => Endpoint::whoami,
            "logs" => Endpoint::logs,
            "audit" => Endpoint::audit,
            "gc" => Endpoint::gc,
            _ => Endpoint::unknown,
        };
        return (Api::manage, endpoint);
    }
    match path {
        "/token" => (Api::token, Endpoint::token),
        "/healthz" | "/health" => (Api::health, Endpoint::live),
        "/readyz" | "/ready" => (Api::health, Endpoint::ready),
        "/metrics" => (Api::metrics, Endpoint::metrics),
        _ if path.starts_with("/assets/") => (Api::ui, Endpoint::asset),
        _ if ui::is_page(path) => (Api::ui, Endpoint::page),
        _ => (Api::other, Endpoint::unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_without_names() {
        for (path, expected) in [
            ("/v2/", (Api::oci, Endpoint::base)),
            ("/v2/a/b/manifests/latest", (Api::oci, Endpoint::manifest)),
            ("/v2/a/blobs/sha256:00", (Api::oci, Endpoint::blob)),
            ("/v2/a/blobs/uploads/", (Api::oci, Endpoint::upload)),
            ("/v2/a/blobs/uploads/123", (Api::oci, Endpoint::upload)),
            ("/v2/a/tags/list", (Api::oci, Endpoint::tags)),
            ("/v2/a/referrers/sha256:00", (Api::oci, Endpoint::referrers)),
            ("/v2/_catalog", (Api::oci, Endpoint::catalog)),
            ("/v2/nonsense", (Api::oci, Endpoint::unknown)),
            ("/v1/packages/search", (Api::packages, Endpoint::search)),
            ("/v1/packages/a/b/1.0.0", (Api::packages, Endpoint::version)),
            (
                "/v1/packages/a/versions",
                (Api::packages, Endpoint::versions),
            ),
            ("/api/v1/users/alice", (Api::manage, Endpoint::users)),
            ("/api/v1/logs", (Api::manage, Endpoint::logs)),
            ("/token", (Api::token, Endpoint::token)),
            ("/readyz", (Api::health, Endpoint::ready)),
            ("/metrics", (Api::metrics, Endpoint::metrics)),
            ("/favicon.ico", (Api::other, Endpoint::unknown)),
            ("/", (Api::ui, Endpoint::page)),
            ("/packages/acme/web-search/1.0.0", (Api::ui, Endpoint::page)),
            ("/search", (Api::ui, Endpoint::page)),
            ("/searching", (Api::other, Endpoint::unknown)),
            ("/assets/style.0123456789ab.css", (Api::ui, Endpoint::asset)),
        ] {
            assert_eq!(classify(path), expected, "{path}");
        }
    }
}
