//! The one error type of the HTTP layer, [`ApiError`], and the one place
//! where what goes wrong below (the registry service, the users file,
//! authentication, authorisation, rate limits) becomes an HTTP answer.
//!
//! Which to use where:
//! - Every handler, of every API, returns `Result<Response, ApiError>`.
//! - `/v2/` and `/token` speak the OCI Distribution error codes: build their
//!   errors with [`ApiError::new`] and an [`ErrorCode`] (the status follows
//!   the code; [`ApiError::with_status`] overrides it).
//! - `/api/v1/` speaks the management codes: [`ApiError::management`] with a
//!   [`ManagementCode`].
//! - Domain errors convert with `?`: a [`RegistryError`] or a
//!   [`sentinel_oci::DigestError`] to the OCI codes, an [`AuthError`] (from
//!   the users file) to the management codes. Refused logins, tokens and
//!   requests are mapped by the functions at the end of this file.
//!
//! Both render the same envelope, `{"errors":[{"code","message","detail"}]}`
//! (the detail only when there is one), with any extra headers.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_auth::AuthError;
use sentinel_oci::{ErrorBody, ErrorCode, ErrorEntry};
use serde_json::{Value, json};

use crate::auth::authorization::NotAllowed;
use crate::auth::{Authenticator, LoginError, MalformedAuthorization, Unidentified};
use crate::describe;
use crate::service::RegistryError;

/// An error response: a status, the error envelope, and any extra headers.
/// (Boxed, so the `Err` side of a handler's `Result` stays one pointer wide.)
#[derive(Debug)]
pub(crate) struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Value,
    headers: HeaderMap,
}

/// The error codes of the management API (`/api/v1/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ManagementCode {
    /// 401: no or wrong credentials.
    Unauthorized,
    /// 403: the caller may not do this.
    Denied,
    /// 404: no such user, token, organisation, grant or endpoint.
    NotFound,
    /// 409: the name is taken, or the change would leave no admin.
    Conflict,
    /// 400: the request is malformed.
    Invalid,
    /// 429: too many requests or failed logins.
    TooManyRequests,
    /// 500: the registry failed.
    Internal,
}

impl ManagementCode {
    /// The code as written on the wire.
    fn as_str(self) -> &'static str {
        match self {
            ManagementCode::Unauthorized => "UNAUTHORIZED",
            ManagementCode::Denied => "DENIED",
            ManagementCode::NotFound => "NOT_FOUND",
            ManagementCode::Conflict => "CONFLICT",
            ManagementCode::Invalid => "INVALID",
            ManagementCode::TooManyRequests => "TOOMANYREQUESTS",
            ManagementCode::Internal => "INTERNAL",
        }
    }

    /// The code's usual status.
    fn status(self) -> StatusCode {
        match self {
            ManagementCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ManagementCode::Denied => StatusCode::FORBIDDEN,
            ManagementCode::NotFound => StatusCode::NOT_FOUND,
            ManagementCode::Conflict => StatusCode::CONFLICT,
            ManagementCode::Invalid => StatusCode::BAD_REQUEST,
            ManagementCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ManagementCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// An OCI error (`/v2/`, `/token`) with `code`'s usual status.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::with_code(status, code.as_str(), message.into())
    }

    /// A management API error (`/api/v1/`) with `code`'s usual status. A
    /// `401` asks for Basic credentials.
    pub(crate) fn management(code: ManagementCode, message: impl Into<String>) -> Self {
        let error = ApiError::with_code(code.status(), code.as_str(), message.into());
        if code == ManagementCode::Unauthorized {
            error.with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sentinel-registry\""),
            )
        } else {
            error
        }
    }

    fn with_code(status: StatusCode, code: &'static str, message: String) -> Self {
        ApiError(Box::new(Parts {
            status,
            code,
            message,
            detail: Value::Null,
            headers: HeaderMap::new(),
        }))
    }

    /// The HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The same error with another status.
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.0.status = status;
        self
    }

    /// The same error with structured detail.
    pub(crate) fn with_detail(mut self, detail: Value) -> Self {
        self.0.detail = detail;
        self
    }

    /// The same error with an extra response header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.insert(name, value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let parts = *self.0;
        if parts.status.is_server_error() {
            tracing::error!(code = parts.code, message = %parts.message, "request failed");
        }
        let body = ErrorBody {
            errors: vec![ErrorEntry {
                code: parts.code.to_owned(),
                message: parts.message,
                detail: parts.detail,
            }],
        };
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
            RegistryError::ManifestInvalid(_)
            | RegistryError::PackageInvalid(_)
            | RegistryError::SignatureInvalid(_) => {
                ApiError::new(ErrorCode::ManifestInvalid, message)
            }
            RegistryError::PublishDenied(_) => ApiError::new(ErrorCode::Denied, message),
            RegistryError::NotSigned { pattern } => {
                ApiError::new(ErrorCode::Denied, message).with_detail(json!({ "policy": pattern }))
            }
            RegistryError::VersionImmutable { digest, .. }
            | RegistryError::VersionTaken { digest, .. } => {
                ApiError::new(ErrorCode::Denied, message).with_detail(json!({ "digest": digest }))
            }
            RegistryError::QuotaExceeded {
                namespace,
                quota,
                usage,
                size,
            } => ApiError::new(ErrorCode::Denied, message).with_detail(json!({
                "namespace": namespace,
                "quota": quota,
                "usage": usage,
                "size": size,
            })),
            RegistryError::TagImmutable(refused) => ApiError::new(ErrorCode::Denied, message)
                .with_detail(json!({
                    "tag": refused.tag.as_str(),
                    "digest": refused.digest,
                    "rule": refused.rule,
                    "tag_pattern": refused.pattern,
                })),
            RegistryError::ManifestTooLarge => ApiError::new(ErrorCode::SizeInvalid, message)
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
            RegistryError::ManifestBlobUnknown(digest) => {
                ApiError::new(ErrorCode::ManifestBlobUnknown, message)
                    .with_detail(json!({ "digest": digest }))
            }
            RegistryError::BlobBeingDeleted(_) => ApiError::new(ErrorCode::Unknown, message)
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            RegistryError::NameUnknown(name) => ApiError::new(ErrorCode::NameUnknown, message)
                .with_detail(json!({ "name": name.as_str() })),
            RegistryError::BodyInterrupted(ref cause) if is_body_timeout(cause) => body_timeout(
                ErrorCode::BlobUploadInvalid,
                "an upload session keeps what it had before this request: resume it from there",
            ),
            RegistryError::BodyInterrupted(_) => {
                ApiError::new(ErrorCode::BlobUploadInvalid, message)
            }
            RegistryError::Index(_)
            | RegistryError::Storage(_)
            | RegistryError::Catalogue(_)
            | RegistryError::Internal(_) => ApiError::new(ErrorCode::Unknown, message),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = describe(&error);
        let code = match error {
            AuthError::UnknownUser(_)
            | AuthError::UnknownOrganisation(_)
            | AuthError::UnknownToken(_)
            | AuthError::NotAMember { .. }
            | AuthError::NoGrant { .. } => ManagementCode::NotFound,
            AuthError::UserExists(_) | AuthError::NameTaken(_) | AuthError::LastAdmin(_) => {
                ManagementCode::Conflict
            }
            AuthError::InvalidName { .. }
            | AuthError::WeakPassword(_)
            | AuthError::OrganisationVisibility(_)
            | AuthError::InvalidExpiry { .. } => ManagementCode::Invalid,
            AuthError::Store { .. } | AuthError::Corrupt { .. } | AuthError::Hash(_) => {
                ManagementCode::Internal
            }
        };
        ApiError::management(code, message)
    }
}

/// `429 TOOMANYREQUESTS` with `Retry-After` in whole seconds (at least 1).
pub(crate) fn too_many(message: &str, wait: Duration) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(ErrorCode::TooManyRequests, message)
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
}

/// `401 UNAUTHORIZED` with a Bearer challenge that sends the client to
/// `/token` (for `scope`, naming the `error`, if any).
pub(crate) fn challenge(
    auth: &Authenticator,
    headers: &HeaderMap,
    message: &str,
    scope: Option<&str>,
    error: Option<&str>,
) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message).with_header(
        header::WWW_AUTHENTICATE,
        auth.challenge(headers, scope, error),
    )
}

/// The answer, on `/v2/` and `/token`, to an `Authorization` header that
/// cannot be read.
pub(crate) fn malformed(
    auth: &Authenticator,
    headers: &HeaderMap,
    malformed: &MalformedAuthorization,
) -> ApiError {
    challenge(
        auth,
        headers,
        &malformed.to_string(),
        None,
        Some("invalid_request"),
    )
}

/// The answer, on `/v2/` and `/token`, to a refused login.
pub(crate) fn login_refused(
    auth: &Authenticator,
    headers: &HeaderMap,
    error: LoginError,
) -> ApiError {
    match error {
        LoginError::Limited(wait) => {
            too_many("too many failed logins: wait before trying again", wait)
        }
        LoginError::Refused(failure) => challenge(auth, headers, &failure.to_string(), None, None),
        LoginError::Unavailable => {
            ApiError::new(ErrorCode::Unknown, "the login could not be checked")
        }
    }
}

/// The answer, on `/v2/` and `/token`, to a request whose caller could not
/// be told.
pub(crate) fn unidentified(
    auth: &Authenticator,
    headers: &HeaderMap,
    error: Unidentified,
) -> ApiError {
    match error {
        Unidentified::Malformed(error) => malformed(auth, headers, &error),
        Unidentified::Login(error) => login_refused(auth, headers, error),
        Unidentified::Token(rejected) => challenge(
            auth,
            headers,
            &rejected.to_string(),
            None,
            Some("invalid_token"),
        ),
    }
}

/// The answer, on `/v2/`, to a request its caller may not make.
pub(crate) fn not_allowed(
    auth: &Authenticator,
    headers: &HeaderMap,
    error: NotAllowed,
) -> ApiError {
    match &error {
        NotAllowed::SignInRequired { scope } => {
            challenge(auth, headers, &error.to_string(), scope.as_deref(), None)
        }
        NotAllowed::InsufficientScope { scope, .. } => challenge(
            auth,
            headers,
            &error.to_string(),
            Some(scope),
            Some("insufficient_scope"),
        ),
        NotAllowed::Denied { .. } => ApiError::new(ErrorCode::Denied, error.to_string()),
    }
}

/// The answer, on `/api/v1/`, to a refused login.
pub(crate) fn management_login_refused(error: LoginError) -> ApiError {
    match error {
        LoginError::Limited(_) => ApiError::management(
            ManagementCode::TooManyRequests,
            "too many failed logins: wait before trying again",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("60")),
        LoginError::Refused(failure) => {
            ApiError::management(ManagementCode::Unauthorized, failure.to_string())
        }
        LoginError::Unavailable => {
            ApiError::management(ManagementCode::Internal, "the login could not be checked")
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}
