//! `/healthz` (also `/health`): the process serves; no I/O. `/readyz`
//! (also `/ready`): every dependency answers, as `{"status","checks"}`,
//! `200` or `503`. Neither needs authentication, is rate limited or shows
//! anything about the host (paths, buckets).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, json};

use super::App;

/// `GET`/`HEAD /healthz`: `{"status":"ok","version"}`.
pub(crate) async fn live() -> Response {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

/// `GET`/`HEAD /readyz`: each check's outcome; `503` if one failed.
pub(crate) async fn ready(State(app): State<App>) -> Response {
    let report = app.readiness.report().await;
    let checks: Map<String, serde_json::Value> = report
        .checks
        .iter()
        .map(|check| {
            (
                check.name.to_owned(),
                json!({"ok": check.ok, "latency_ms": check.latency_ms, "error": check.error}),
            )
        })
        .collect();
    let (status, word) = if report.ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"status": word, "checks": checks})),
    )
        .into_response()
}
