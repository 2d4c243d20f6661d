//! One log line per request, and its observation in the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::TryStreamExt as _;

use crate::metrics::{Metrics, Observed};

/// Logs method, path and query, status, bytes received and sent, duration
/// and request id once the response is ready. Uploads have been read by then,
/// so their byte count and duration are complete; for a download the
/// duration is the time to the first byte and the size is the one announced.
/// The same figures go to `metrics`, if any.
pub(crate) async fn log_request(
    State(metrics): State<Option<Arc<Metrics>>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let had_credentials = request.headers().contains_key(header::AUTHORIZATION);
    let labels = metrics
        .as_ref()
        .map(|_| crate::api::classify(request.uri().path()));
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let request = request.map(|body| {
        Body::from_stream(body.into_data_stream().inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }))
    });
    let response = next.run(request).await;
    let sent = if method == Method::HEAD {
        0
    } else {
        response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .or_else(|| response.body().size_hint().exact())
            .unwrap_or(0)
    };
    let received = received.load(Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    if let (Some(metrics), Some((api, endpoint))) = (&metrics, labels) {
        metrics.observe(&Observed {
            api,
            endpoint,
            method: (&method).into(),
            status: response.status(),
            had_credentials,
            received,
            sent,
            seconds,
        });
    }
    tracing::info!(
        target: "sentinel::access",
        %method,
        uri = target,
        status = response.status().as_u16(),
        received,
        sent,
        duration_ms = seconds * 1000.0,
        request_id,
    );
    response
}
