//! The one mapping from domain errors to OCI error responses.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sentinel_oci::{ErrorBody, ErrorCode};
use serde_json::{Value, json};

use crate::service::RegistryError;

/// An error response: a status, the spec's JSON envelope, and any extra headers.
/// (Boxed, so the `Err` side of a handler's `Result` stays one pointer wide.)
#[derive(Debug)]
pub struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    detail: Value,
    headers: HeaderMap,
}

impl ApiError {
    /// An error with `code`'s usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(Box::new(Parts {
            status: StatusCode::from_u16(code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            detail: Value::Null,
            headers: HeaderMap::new(),
        }))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The same error with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.0.status = status;
        self
    }

    /// The same error with structured detail.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.0.detail = detail;
        self
    }

    /// The same error with an extra response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.insert(name, value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let parts = *self.0;
        if parts.status.is_server_error() {
            tracing::error!(code = parts.code.as_str(), message = %parts.message, "request failed");
        }
        let body = ErrorBody::single(parts.code, parts.message, parts.detail);
        let mut response = (parts.status, axum::Json(body)).into_response();
        response.headers_mut().extend(parts.headers);
        response
    }
}

impl From<sentinel_oci::DigestError> for ApiError {
    fn from(error: sentinel_oci::DigestError) -> Self {
        ApiError::new(ErrorCode::DigestInvalid, error.to_string())
    }
}

/// An error and its chain of causes on one line: `outer: cause: root cause`
/// (a cause whose text is already there, as wrappers often repeat it, is skipped).
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// Whether an I/O error anywhere in `error`'s chain says the disk or quota is full.
fn is_storage_full(error: &(dyn std::error::Error + 'static)) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && (matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || matches!(io.raw_os_error(), Some(ENOSPC | EDQUOT)))
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// Whether `error` comes from a request body that stopped arriving for
/// longer than the body timeout.
pub(crate) fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// `408 Request Timeout` for a request whose body stalled; the connection is
/// closed, as the rest of the body may still be on its way.
pub(crate) fn body_timeout(code: ErrorCode, what: &str) -> ApiError {
    ApiError::new(
        code,
        format!("the request body stopped arriving (no data within the body timeout); {what}"),
    )
    .with_status(StatusCode::REQUEST_TIMEOUT)
    .with_header(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    )
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        if is_storage_full(&error) {
            return ApiError::new(
                ErrorCode::Unknown,
                "the registry's storage is full: pushes fail until space is freed; pulls still work",
            )
            .with_status(StatusCode::INSUFFICIENT_STORAGE);
        }
        let message = describe(&error);
        match error {
            RegistryError::BlobUnknown(digest) => ApiError::new(ErrorCode::BlobUnknown, message)
                .with_detail(json!({ "digest": digest })),
            RegistryError::UploadUnknown(_) => ApiError::new(ErrorCode::BlobUploadUnknown, message),
            RegistryError::RangeNotContiguous { .. } => {
                ApiError::new(ErrorCode::BlobUploadInvalid, message)
                    .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            }
            RegistryError::LengthMismatch { .. } => ApiError::new(ErrorCode::SizeInvalid, message),
            RegistryError::DigestMismatch { expected, actual } => {
                ApiError::new(ErrorCode::DigestInvalid, message)
                    .with_detail(json!({ "expected": expected, "actual": actual }))
            }
            RegistryError::ManifestUnknown(reference) => {
                ApiError::new(ErrorCode::ManifestUnknown, message)
                    .with_detail(json!({ "reference": reference }))
            }
            RegistryError::ManifestInvalid(_) => ApiError::new(ErrorCode::ManifestInvalid, message),
            RegistryError::ManifestTooLarge => ApiError::new(ErrorCode::SizeInvalid, message)
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
            RegistryError::ManifestBlobUnknown(digest) => {
                ApiError::new(ErrorCode::ManifestBlobUnknown, message)
                    .with_detail(json!({ "digest": digest }))
            }
            RegistryError::NameUnknown(name) => ApiError::new(ErrorCode::NameUnknown, message)
                .with_detail(json!({ "name": name.as_str() })),
            RegistryError::BodyInterrupted(ref cause) if is_body_timeout(cause) => body_timeout(
                ErrorCode::BlobUploadInvalid,
                "an upload session keeps what it had before this request: resume it from there",
            ),
            RegistryError::BodyInterrupted(_) => {
                ApiError::new(ErrorCode::BlobUploadInvalid, message)
            }
            RegistryError::Index(_) | RegistryError::Storage(_) | RegistryError::Internal(_) => {
                ApiError::new(ErrorCode::Unknown, message)
            }
        }
    }
}
