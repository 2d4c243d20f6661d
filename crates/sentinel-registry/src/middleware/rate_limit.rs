//! Request rate limits: requests per client address (this middleware) and
//! requests per signed-in user (charged by each API once it knows the user).
//! Failed logins are limited apart, by `auth`.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::api::error::{ApiError, too_many};

/// A keyed token bucket: `rate` events per period with bursts of `rate`.
struct Bucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(quota: Quota) -> Self {
        Bucket {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Takes one event for `key`; `Err(wait)` when the bucket is empty.
    fn take(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The configured request rate limits, shared by every request.
pub(crate) struct RequestLimits {
    per_address: Option<Bucket<IpAddr>>,
    per_user: Option<Bucket<String>>,
}

impl RequestLimits {
    /// Limits of `per_address` and `per_user` requests per second; 0 turns
    /// a limit off.
    pub(crate) fn new(per_address: u32, per_user: u32) -> RequestLimits {
        let quota = |rate| NonZeroU32::new(rate).map(Quota::per_second);
        RequestLimits {
            per_address: quota(per_address).map(Bucket::new),
            per_user: quota(per_user).map(Bucket::new),
        }
    }

    /// Charges one request to `user`; a 429 when over the limit.
    pub(crate) fn charge_user(&self, user: &str) -> Result<(), ApiError> {
        match &self.per_user {
            Some(bucket) => bucket
                .take(&user.to_owned())
                .map_err(|wait| too_many("too many requests for this user", wait)),
            None => Ok(()),
        }
    }

    /// Drops the state of keys that have been quiet (call now and then).
    pub(crate) fn forget_idle(&self) {
        if let Some(bucket) = &self.per_address {
            bucket.forget_idle();
        }
        if let Some(bucket) = &self.per_user {
            bucket.forget_idle();
        }
    }
}

/// Middleware: charges each request to its client address (but for the
/// probes and the metrics).
pub(crate) async fn limit_addresses(
    State(limits): State<Arc<RequestLimits>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(bucket) = &limits.per_address
        && !crate::api::is_exempt_from_rate_limits(request.uri().path())
        && let Err(wait) = bucket.take(&peer.ip())
    {
        return too_many("too many requests from this address", wait).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_limit_is_no_limit() {
        let limits = RequestLimits::new(0, 0);
        for _ in 0..100 {
            limits.charge_user("alice").unwrap();
        }
    }

    #[test]
    fn per_user_requests_run_out() {
        let limits = RequestLimits::new(0, 5);
        let refused = (0..20)
            .filter(|_| limits.charge_user("alice").is_err())
            .count();
        assert!(refused >= 10, "{refused} of 20 refused");
        assert!(limits.charge_user("bob").is_ok());
    }
}
