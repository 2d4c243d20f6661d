//! `GET /metrics`: the Prometheus exposition (OpenMetrics text). With
//! `metrics-auth`, only signed-in users (any role: the metrics name no
//! repository or user, only namespaces, with their usage and quota) may read it; anonymous callers get `401` with a Basic
//! challenge. Credentials are those of the management API: a password or
//! personal access token as Basic, or the token as `Bearer` (Prometheus'
//! `basic_auth` or `authorization`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::App;
use super::manage;
use crate::metrics::CONTENT_TYPE;

/// Serves the exposition (`404` when metrics are off).
pub(crate) async fn metrics(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(metrics) = app.metrics.as_ref() else {
        return super::oci::no_such_endpoint("/metrics").into_response();
    };
    // With metrics-auth on, the server does not start without authentication.
    if app.metrics_auth
        && let Some(auth) = &app.auth
        && let Err(refusal) = manage::authenticate(auth, &headers, peer.ip()).await
    {
        return refusal.into_response();
    }
    match app.registry.namespace_usages().await {
        Ok(namespaces) => metrics.set_namespaces(&namespaces),
        Err(error) => {
            tracing::warn!(error = %crate::describe(&error), "could not read the namespaces' usage for the metrics");
        }
    }
    let text = metrics.render(app.in_flight.uploads_in_progress());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}
