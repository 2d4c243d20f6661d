//! What runs around every request of every API, outermost first: a request
//! id (`X-Request-Id`, made up when the client sent none, and echoed), the
//! `Host` of an HTTP/2 request, the access log, a handler panic turned into
//! a 500, the rate limit per client address (not on the probes and
//! metrics), and the `Docker-Distribution-API-Version` header. The access
//! log also feeds the request metrics. (The connection-level bounds,
//! such as the body timeout, are applied by `connections` before a request
//! gets here.)

mod access_log;
mod rate_limit;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use axum::response::IntoResponse;
use sentinel_oci::ErrorCode;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

pub(crate) use rate_limit::{
    LimitsChange, LimitsChangeError, LimitsFile, LimitsSource, RateLimit, RateLimits, RequestLimits,
};

use crate::api::ApiError;
use crate::metrics::Metrics;

/// `router` with the middleware of every request around it; requests are
/// counted in `metrics` when there are some.
pub(crate) fn around(
    router: Router,
    limits: Arc<RequestLimits>,
    metrics: Option<Arc<Metrics>>,
) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            MakeRequestUuid,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::middleware::from_fn(host_from_authority))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            access_log::log_request,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            rate_limit::limit_addresses,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        ));
    router.layer(middleware)
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
