//! The HTTP APIs the server speaks, one module each, and the router that
//! lists every route of the server in one place:
//!
//! | Path                  | Module     | What                                        |
//! |-----------------------|------------|---------------------------------------------|
//! | `/v2/...`             | [`oci`]    | the OCI Distribution API                    |
//! | `/token`              | [`token`]  | the Docker token endpoint                   |
//! | `/api/v1/...`         | [`manage`] | users, tokens, organisations, repositories  |
//! | `/v1/packages/...`    | [`packages`] | the package catalogue: search, versions, publish |
//! | anything else         |            | `404` with the OCI error envelope           |
//!
//! A new API (packages, the UI, health, metrics) is a new module here and a
//! new line in [`router`]. Handlers translate between HTTP and the layer
//! below (the [`Registry`] service, `auth`) and nothing else; their errors
//! are [`ApiError`]s (see [`error`] for which code to use where). What runs
//! around every request is in `middleware`.

pub(crate) mod error;
mod manage;
pub(crate) mod oci;
mod packages;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::any;

pub(crate) use error::ApiError;

use crate::auth::Authenticator;
use crate::middleware::{self, RequestLimits};
use crate::service::Registry;
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
}

/// The largest body `/token` and `/api/v1/` read: their forms and JSON
/// objects are a few hundred bytes.
const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// The HTTP application: every route of the server, and the middleware
/// around them.
pub(crate) fn router(app: App) -> Router {
    let limits = Arc::clone(&app.limits);
    let routes = Router::new()
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*rest}", any(oci::dispatch))
        .route(
            "/token",
            any(token::token).layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)),
        )
        .route("/v1/packages/{*rest}", any(packages::dispatch))
        .route(
            "/api/v1/{*rest}",
            any(manage::dispatch).layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)),
        )
        .fallback(|uri: axum::http::Uri| async move {
            oci::no_such_endpoint(uri.path()).into_response()
        })
        .with_state(app);
    middleware::around(routes, limits)
}
