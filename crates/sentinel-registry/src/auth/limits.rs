//! Rate limits: requests per client address, requests per signed-in user, and
//! failed logins per address and per user name (limited much harder).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sentinel_oci::ErrorCode;

use crate::error::ApiError;

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

/// The configured limits, shared by every request.
pub(crate) struct Limits {
    per_address: Option<Bucket<IpAddr>>,
    per_user: Option<Bucket<String>>,
    failed_logins: Option<FailedLogins>,
}

impl Limits {
    /// Limits of `per_address` and `per_user` requests per second and
    /// `failed_per_minute` failed logins; 0 turns a limit off.
    pub(crate) fn new(per_address: u32, per_user: u32, failed_per_minute: u32) -> Limits {
        let quota = |rate| NonZeroU32::new(rate).map(Quota::per_second);
        Limits {
            per_address: quota(per_address).map(Bucket::new),
            per_user: quota(per_user).map(Bucket::new),
            failed_logins: NonZeroU32::new(failed_per_minute).map(FailedLogins::new),
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

    /// A 429 if logins from `address` or for `user` (when the login names
    /// one) are refused for now after too many failures.
    pub(crate) fn check_login(&self, address: IpAddr, user: Option<&str>) -> Result<(), ApiError> {
        match &self.failed_logins {
            Some(failed) => failed.check(address, user),
            None => Ok(()),
        }
    }

    /// Records a failed login from `address` for `user` (when it names one).
    pub(crate) fn login_failed(&self, address: IpAddr, user: Option<&str>) {
        if let Some(failed) = &self.failed_logins {
            failed.record(address, user);
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
        if let Some(failed) = &self.failed_logins {
            failed.forget_idle();
        }
    }
}

/// Failed logins: each failure takes from a per-minute bucket of the address
/// and of the user name; once either is empty, logins from that address or
/// for that name are refused, without checking the password, until the
/// bucket has refilled.
struct FailedLogins {
    bucket: Bucket<String>,
    blocked: Mutex<HashMap<String, Instant>>,
}

impl FailedLogins {
    fn new(per_minute: NonZeroU32) -> Self {
        FailedLogins {
            bucket: Bucket::new(Quota::per_minute(per_minute)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    fn keys(address: IpAddr, user: Option<&str>) -> Vec<String> {
        let mut keys = vec![format!("address {address}")];
        keys.extend(user.map(|user| format!("user {user}")));
        keys
    }

    fn check(&self, address: IpAddr, user: Option<&str>) -> Result<(), ApiError> {
        let now = Instant::now();
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let wait = Self::keys(address, user)
            .iter()
            .filter_map(|key| blocked.get(key))
            .filter_map(|until| until.checked_duration_since(now))
            .max();
        match wait {
            Some(wait) => Err(too_many(
                "too many failed logins: wait before trying again",
                wait,
            )),
            None => Ok(()),
        }
    }

    fn record(&self, address: IpAddr, user: Option<&str>) {
        for key in Self::keys(address, user) {
            if let Err(wait) = self.bucket.take(&key) {
                let until = Instant::now() + wait;
                let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
                blocked.insert(key, until);
            }
        }
    }

    fn forget_idle(&self) {
        self.bucket.forget_idle();
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.retain(|_, until| *until > now);
    }
}

/// `429 TOOMANYREQUESTS` with `Retry-After` in whole seconds (at least 1).
pub(crate) fn too_many(message: &str, wait: Duration) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(ErrorCode::TooManyRequests, message)
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
}

/// Middleware: charges each request to its client address.
pub(crate) async fn limit_addresses(
    State(limits): State<std::sync::Arc<Limits>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(bucket) = &limits.per_address
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
    fn failed_logins_block_the_address_and_the_name_once_the_bucket_is_empty() {
        let limits = Limits::new(0, 0, 3);
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let elsewhere: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            limits.check_login(here, Some("alice")).unwrap();
            limits.login_failed(here, Some("alice"));
        }
        limits.check_login(here, Some("alice")).unwrap();
        limits.login_failed(here, Some("alice"));
        assert!(
            limits.check_login(here, Some("bob")).is_err(),
            "the address is blocked"
        );
        assert!(
            limits.check_login(elsewhere, Some("alice")).is_err(),
            "the name is blocked"
        );
        assert!(limits.check_login(elsewhere, Some("bob")).is_ok());
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let limits = Limits::new(0, 0, 0);
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..100 {
            limits.login_failed(here, Some("alice"));
            limits.charge_user("alice").unwrap();
        }
        limits.check_login(here, Some("alice")).unwrap();
    }

    #[test]
    fn per_user_requests_run_out() {
        let limits = Limits::new(0, 5, 0);
        let refused = (0..20)
            .filter(|_| limits.charge_user("alice").is_err())
            .count();
        assert!(refused >= 10, "{refused} of 20 refused");
        assert!(limits.charge_user("bob").is_ok());
    }
}
