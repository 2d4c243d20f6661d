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

    /// Starts a login attempt from `address` for `user` (when the login
    /// names one): a 429 if either has spent its failures for now.
    pub(crate) fn begin_login(
        &self,
        address: IpAddr,
        user: Option<&str>,
    ) -> Result<LoginAttempt<'_>, Refusal> {
        let keys = FailedLogins::keys(address, user);
        if let Some(failed) = &self.failed_logins {
            failed.reserve(&keys).map_err(|(wait, busy)| {
                let error = too_many("too many failed logins: wait before trying again", wait);
                if busy {
                    Refusal::Busy(error)
                } else {
                    Refusal::Limited(error)
                }
            })?;
        }
        Ok(LoginAttempt {
            limits: self.failed_logins.as_ref(),
            keys,
            settled: false,
        })
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

/// Why a login attempt may not start now.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Too many failures lately: the 429 to send.
    Limited(ApiError),
    /// Every failure left is held by attempts being checked now; it may
    /// start once they end (the 429 to send if they take too long).
    Busy(ApiError),
}

/// Failed logins, per address and per user name: a bucket of `per_minute`
/// failures that refills continuously. A login attempt reserves one failure
/// from each of its buckets before the password is checked, and the
/// reservation becomes a failure only if the check fails; so however many
/// attempts an attacker sends at once, no more passwords are checked than
/// the buckets hold. An attempt finding a bucket spent is refused without a
/// check until it refills.
struct FailedLogins {
    per_minute: f64,
    buckets: Mutex<HashMap<String, FailureBucket>>,
}

/// One key's failures: `available` whole or partial failures left at
/// `updated`, and `pending` attempts being checked now.
struct FailureBucket {
    available: f64,
    updated: Instant,
    pending: u32,
}

impl FailedLogins {
    fn new(per_minute: NonZeroU32) -> Self {
        FailedLogins {
            per_minute: f64::from(per_minute.get()),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn keys(address: IpAddr, user: Option<&str>) -> Vec<String> {
        // An IPv6 client usually has a whole /64 to pick addresses from.
        let address = match address {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or_else(String::new, |v4| v4.to_string()),
            IpAddr::V4(v4) => v4.to_string(),
        };
        let mut keys = vec![format!("address {address}")];
        keys.extend(user.map(|user| format!("user {user}")));
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, FailureBucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bucket of `key`, refilled up to now.
    fn refilled<'a>(
        &self,
        buckets: &'a mut HashMap<String, FailureBucket>,
        key: &str,
        now: Instant,
    ) -> &'a mut FailureBucket {
        let bucket = buckets
            .entry(key.to_owned())
            .or_insert_with(|| FailureBucket {
                available: self.per_minute,
                updated: now,
                pending: 0,
            });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.available =
            (bucket.available + elapsed * self.per_minute / 60.0).min(self.per_minute);
        bucket.updated = now;
        bucket
    }

    /// Reserves one failure from each bucket of the attempt, or says how
    /// long to wait and whether only attempts in flight are in the way. A
    /// refused attempt leaves no state behind, so names made up by an
    /// attacker cannot fill memory.
    fn reserve(&self, keys: &[String]) -> Result<(), (Duration, bool)> {
        let now = Instant::now();
        let mut buckets = self.lock();
        let mut wait = Duration::ZERO;
        let mut spent = false;
        for key in keys {
            let Some(bucket) = buckets.get(key) else {
                continue; // a full bucket
            };
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            let available =
                (bucket.available + elapsed * self.per_minute / 60.0).min(self.per_minute);
            let free = available - f64::from(bucket.pending);
            if free < 1.0 {
                spent |= available < 1.0;
                let missing = 1.0 - free;
                wait = wait.max(Duration::from_secs_f64(missing * 60.0 / self.per_minute));
            }
        }
        if wait > Duration::ZERO {
            return Err((wait, !spent));
        }
        for key in keys {
            self.refilled(&mut buckets, key, now).pending += 1;
        }
        Ok(())
    }

    /// Ends an attempt: a failure spends what it reserved.
    fn settle(&self, keys: &[String], failed: bool) {
        let now = Instant::now();
        let mut buckets = self.lock();
        for key in keys {
            let bucket = self.refilled(&mut buckets, key, now);
            bucket.pending = bucket.pending.saturating_sub(1);
            if failed {
                bucket.available -= 1.0;
            }
        }
    }

    fn forget_idle(&self) {
        let now = Instant::now();
        let per_minute = self.per_minute;
        let mut buckets = self.lock();
        buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.pending > 0 || bucket.available + elapsed * per_minute / 60.0 < per_minute
        });
    }
}

/// A login attempt holding its reservation of failures; dropped without
/// [`LoginAttempt::failed`], it gives the reservation back.
pub(crate) struct LoginAttempt<'a> {
    limits: Option<&'a FailedLogins>,
    keys: Vec<String>,
    settled: bool,
}

impl LoginAttempt<'_> {
    /// The credentials were wrong: the reservation becomes a failure.
    pub(crate) fn failed(mut self) {
        if let Some(limits) = self.limits {
            limits.settle(&self.keys, true);
        }
        self.settled = true;
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.settled
            && let Some(limits) = self.limits
        {
            limits.settle(&self.keys, false);
        }
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
            limits.begin_login(here, Some("alice")).unwrap().failed();
        }
        assert!(
            matches!(
                limits.begin_login(here, Some("bob")),
                Err(Refusal::Limited(_))
            ),
            "the address is blocked"
        );
        assert!(
            limits.begin_login(elsewhere, Some("alice")).is_err(),
            "the name is blocked"
        );
        assert!(limits.begin_login(elsewhere, Some("bob")).is_ok());
    }

    #[test]
    fn attempts_in_flight_hold_their_failures_so_concurrency_gains_nothing() {
        let limits = Limits::new(0, 0, 3);
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let in_flight: Vec<_> = (0..3)
            .map(|_| limits.begin_login(here, Some("alice")).unwrap())
            .collect();
        assert!(
            matches!(
                limits.begin_login(here, Some("alice")),
                Err(Refusal::Busy(_))
            ),
            "all 3 are reserved, and may come back"
        );
        drop(in_flight);
        assert!(
            limits.begin_login(here, Some("alice")).is_ok(),
            "successes give their reservations back"
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_prefix() {
        let limits = Limits::new(0, 0, 2);
        for last in 1..=2 {
            let address: IpAddr = format!("2001:db8:1:2::{last}").parse().unwrap();
            limits.begin_login(address, None).unwrap().failed();
        }
        let sibling: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limits.begin_login(sibling, None).is_err());
        assert!(limits.begin_login(elsewhere, None).is_ok());
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let limits = Limits::new(0, 0, 0);
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..100 {
            limits.begin_login(here, Some("alice")).unwrap().failed();
            limits.charge_user("alice").unwrap();
        }
        assert!(limits.begin_login(here, Some("alice")).is_ok());
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
