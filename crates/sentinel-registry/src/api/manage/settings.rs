//! `/settings/rate-limit`: the request rate limits in force, changed while
//! the server runs (admins only).

use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ManagementRequest, denied, invalid, no_endpoint};
use crate::api::ApiError;
use crate::api::error::ManagementCode;
use crate::middleware::{
    LimitsChange, LimitsChangeError, LimitsSource, RateLimit, RateLimits, RequestLimits,
};

/// The limits as answered.
fn limits_json(limits: &RateLimits, source: LimitsSource) -> Value {
    json!({
        "per_address": limits.per_address,
        "per_user": limits.per_user,
        "source": source,
    })
}

/// One limit for the audit trail: `600/min burst 10` or `off`.
fn limit_text(limit: RateLimit) -> String {
    if limit == RateLimit::OFF {
        "off".to_owned()
    } else {
        format!(
            "{}/min burst {}",
            limit.requests_per_minute, limit.burst_size
        )
    }
}

fn limits_text(limits: &RateLimits) -> String {
    format!(
        "per address {}, per user {}",
        limit_text(limits.per_address),
        limit_text(limits.per_user)
    )
}

fn file_error(error: &(dyn std::error::Error + 'static)) -> ApiError {
    ApiError::management(
        ManagementCode::Internal,
        format!("the rate limits are unchanged: {}", crate::describe(error)),
    )
}

impl ManagementRequest<'_> {
    /// `GET`, `PUT` and `DELETE /settings/rate-limit`.
    pub(super) async fn rate_limit(&self, method: &Method) -> Result<Response, ApiError> {
        if !self.is_admin() {
            return Err(denied(if *method == Method::GET {
                "only an administrator may see the rate limits"
            } else {
                "only an administrator may change rate limits"
            }));
        }
        match method.clone() {
            Method::GET => {
                let (limits, source) = self.limits.current();
                Ok(axum::Json(limits_json(&limits, source)).into_response())
            }
            Method::PUT => {
                let change: LimitsChange = self.json()?;
                let limits = self
                    .with_limits(move |limits| limits.change(change))
                    .await?
                    .map_err(|error| match error {
                        LimitsChangeError::Invalid(message) => invalid(message),
                        LimitsChangeError::File(error) => file_error(&error),
                    })?;
                self.audit("rate-limit-set", &limits_text(&limits));
                Ok(axum::Json(limits_json(&limits, LimitsSource::File)).into_response())
            }
            Method::DELETE => {
                let limits = self
                    .with_limits(RequestLimits::reset)
                    .await?
                    .map_err(|error| file_error(&error))?;
                self.audit("rate-limit-reset", &limits_text(&limits));
                Ok(axum::Json(limits_json(&limits, LimitsSource::Settings)).into_response())
            }
            _ => Err(no_endpoint(method, "settings/rate-limit")),
        }
    }

    /// Runs `work` on the limits off the async threads (it writes a file).
    async fn with_limits<T: Send + 'static>(
        &self,
        work: impl FnOnce(&RequestLimits) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let limits = std::sync::Arc::clone(self.limits);
        tokio::task::spawn_blocking(move || work(&limits))
            .await
            .map_err(|_| ApiError::management(ManagementCode::Internal, "the change could not run"))
    }
}
