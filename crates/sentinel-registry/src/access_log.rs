//! One log line per request.

use std::time::Instant;

use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// Logs method, path, status, bytes, duration and request id once the
/// response is ready (for a download, the duration is the time to the first
/// byte; for an upload, it includes receiving the whole body).
pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let received = content_length(request.headers());
    let response = next.run(request).await;
    let sent = match content_length(response.headers()) {
        0 => response.body().size_hint().exact().unwrap_or(0),
        n => n,
    };
    tracing::info!(
        target: "sentinel::access",
        %method,
        path,
        status = response.status().as_u16(),
        received,
        sent,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id,
    );
    response
}

fn content_length(headers: &axum::http::HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
