//! `GET /api/v1/logs` and `GET /api/v1/audit`, for administrators: the last
//! log events and the audit trail kept in memory (see `event_log`), as
//! `{"events":[{"sequence","time","level","target","message","fields"}]}`,
//! oldest first.
//!
//! Both take `since` (a duration such as `1h` or `90s`, or an RFC 3339
//! time), `after` (a sequence number: only newer events, for following by
//! polling) and `limit` (the newest that many; default 1,000). `logs` takes
//! `level` (that level or more severe); `audit` takes `user`, `action` and
//! `repository` (exact values).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ManagementRequest, invalid};
use crate::api::ApiError;
use crate::event_log::{EventQuery, Ring};

/// Events returned unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 1_000;

impl ManagementRequest<'_> {
    /// `GET /api/v1/logs?level=&since=&after=&limit=`
    pub(super) fn logs(&self) -> Result<Response, ApiError> {
        self.require_admin()?;
        let mut query = self.event_query()?;
        if let Some(level) = self.query("level") {
            query.level = Some(level.parse().map_err(|_| {
                invalid(format!(
                    "level must be error, warn, info, debug or trace, not {level:?}"
                ))
            })?);
        }
        Ok(self.events_response(Ring::General, &query))
    }

    /// `GET /api/v1/audit?user=&action=&repository=&since=&after=&limit=`
    pub(super) fn audit_trail(&self) -> Result<Response, ApiError> {
        self.require_admin()?;
        let mut query = self.event_query()?;
        for field in ["user", "action", "repository"] {
            if let Some(value) = self.query(field) {
                query.fields.push((field, value));
            }
        }
        Ok(self.events_response(Ring::Audit, &query))
    }

    /// The parameters both endpoints take.
    fn event_query(&self) -> Result<EventQuery, ApiError> {
        let capacity = self.events.capacity();
        let limit = match self.query("limit") {
            None => DEFAULT_LIMIT.min(capacity),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(format!("limit must be a positive number, not {text:?}")))?
                .min(capacity),
        };
        let after =
            match self.query("after") {
                None => None,
                Some(text) => Some(text.parse::<u64>().map_err(|_| {
                    invalid(format!("after must be a sequence number, not {text:?}"))
                })?),
            };
        let since_millis = self.query("since").map(|text| since(&text)).transpose()?;
        Ok(EventQuery {
            since_millis,
            after,
            limit,
            ..EventQuery::default()
        })
    }

    fn events_response(&self, ring: Ring, query: &EventQuery) -> Response {
        let events: Vec<_> = self
            .events
            .read(ring, query)
            .iter()
            .map(|event| event.to_json())
            .collect();
        Json(json!({ "events": events })).into_response()
    }
}

/// Milliseconds since the Unix epoch of `since`: a duration ago (`1h`,
/// `30m`, `90s`, `2d`) or an RFC 3339 time.
fn since(text: &str) -> Result<u64, ApiError> {
    let time = match humantime::parse_duration(text) {
        Ok(ago) => SystemTime::now().checked_sub(ago).unwrap_or(UNIX_EPOCH),
        Err(_) => humantime::parse_rfc3339_weak(text).map_err(|_| {
            invalid(format!(
                "since must be a duration (1h, 30m) or an RFC 3339 time, not {text:?}"
            ))
        })?,
    };
    Ok(time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_duration_or_a_time() {
        let hour_ago = since("1h").unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now - hour_ago >= 3_600_000 && now - hour_ago < 3_700_000);
        assert_eq!(since("2026-01-01T00:00:00Z").unwrap(), 1_767_225_600_000);
        assert!(since("yesterday").is_err());
    }
}
