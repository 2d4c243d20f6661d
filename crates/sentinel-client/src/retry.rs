//! When to retry a request, and how long to wait before doing so.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How failed idempotent requests are retried: exponential backoff with jitter,
/// honouring `Retry-After` up to `max_delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each further retry.
    pub base_delay: Duration,
    /// The longest wait; a `Retry-After` above it ends the retries at once.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop: attempts are used up, or the server asks for a longer wait than allowed.
    GiveUp,
}

impl RetryPolicy {
    /// The decision after attempt number `failed_attempt` (0 for the first) failed,
    /// with the server's `Retry-After`, if any.
    pub(crate) fn decide(&self, failed_attempt: u32, retry_after: Option<Duration>) -> Decision {
        if failed_attempt.saturating_add(1) >= self.max_attempts.max(1) {
            return Decision::GiveUp;
        }
        match retry_after {
            Some(wait) if wait > self.max_delay => Decision::GiveUp,
            Some(wait) => Decision::RetryAfter(wait),
            None => Decision::RetryAfter(self.backoff(failed_attempt)),
        }
    }

    /// `base * 2^n`, capped, with jitter: a random point in its upper half.
    pub(crate) fn backoff(&self, failed_attempt: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(1u32.checked_shl(failed_attempt.min(31)).unwrap_or(u32::MAX));
        let capped = exponential.min(self.max_delay);
        let half = capped / 2;
        let jitter_nanos = u64::try_from((capped - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=jitter_nanos))
    }
}

/// Statuses worth retrying for an idempotent request: 429 and 5xx except 501.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// Transport failures worth retrying: connection setup, a broken connection, a timeout.
pub(crate) fn is_retryable_transport(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout() || error.is_request() || error.is_body()
}

/// `Retry-After` as a wait: delta-seconds or an HTTP date (a past date is no wait).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, SystemTime::now())
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy::default();
        for attempt in 0..10 {
            let full =
                (Duration::from_millis(200) * 2u32.pow(attempt)).min(Duration::from_secs(10));
            let wait = policy.backoff(attempt);
            assert!(
                wait >= full / 2 && wait <= full,
                "attempt {attempt}: {wait:?}"
            );
        }
        assert!(policy.backoff(u32::MAX) <= Duration::from_secs(10));
    }

    #[test]
    fn decisions() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.decide(0, Some(Duration::from_secs(1))),
            Decision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            policy.decide(0, Some(Duration::from_secs(3600))),
            Decision::GiveUp
        );
        assert_eq!(policy.decide(4, None), Decision::GiveUp);
        assert!(matches!(policy.decide(3, None), Decision::RetryAfter(_)));
        let once = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(once.decide(0, None), Decision::GiveUp);
    }

    #[test]
    fn retryable_statuses() {
        for status in [429, 500, 502, 503, 504] {
            assert!(
                is_retryable_status(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [200, 400, 401, 403, 404, 416, 501] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }
}
