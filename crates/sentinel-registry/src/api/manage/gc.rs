//! `/gc`: garbage collection (admins only). `POST /gc` runs a collection
//! and answers its report when it is done (`?dry_run=true`: deleting
//! nothing; `?grace=30m`: another grace period than the server's);
//! `GET /gc` answers the last report since the server started (404 if
//! none). `sentinel-registry gc` calls `POST` through the admin socket.

use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::{ManagementRequest, invalid, not_found};
use crate::api::ApiError;
use crate::api::error::ManagementCode;
use crate::service::GcOptions;
use crate::settings::Period;

impl ManagementRequest<'_> {
    /// `GET /gc` and `POST /gc`.
    pub(super) async fn gc(&self, method: &Method) -> Result<Response, ApiError> {
        self.require_admin()?;
        if *method == Method::GET {
            let report = self.registry.last_gc_report().ok_or_else(|| {
                not_found("no garbage collection has run since the server started")
            })?;
            return Ok(axum::Json(report).into_response());
        }
        let dry_run = match self.query("dry_run").as_deref() {
            None | Some("false") => false,
            Some("true" | "") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "dry_run must be true or false, not {other:?}"
                )));
            }
        };
        let grace = match self.query("grace") {
            None => self.registry.gc_grace(),
            Some(text) => {
                text.parse::<Period>()
                    .map_err(|error| invalid(error.to_string()))?
                    .0
            }
        };
        self.audit(if dry_run { "gc-dry-run" } else { "gc-run" }, "registry");
        let report = crate::gc::run(self.registry, self.metrics, GcOptions::new(dry_run, grace))
            .await
            .map_err(|error| {
                ApiError::management(ManagementCode::Internal, crate::describe(&error))
            })?;
        Ok(axum::Json(report).into_response())
    }
}
