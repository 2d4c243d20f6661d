//! Request rate limits: requests per client address (this middleware) and
//! requests per signed-in user (charged by each API once it knows the user).
//! Failed logins are limited apart, by `auth`.
//!
//! Each limit is a keyed token bucket: it refills at a steady number of
//! requests per minute and holds at most a burst of requests. The limits in
//! force change while the server runs (`PUT /api/v1/settings/rate-limit`):
//! new buckets are swapped in whole ([`ArcSwap`]), so a request reads the
//! limits without a lock, and the change is kept in `rate-limits.json` in
//! the data directory ([`file`]), which wins over the settings at the next
//! start until it is reset.

mod file;

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

pub(crate) use file::{LimitsFile, LimitsFileError};

use crate::api::error::{ApiError, too_many};

/// One limit: the steady rate a bucket refills at, and how many requests a
/// full bucket lets through at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimit {
    /// Requests per minute (0: no limit).
    pub requests_per_minute: u32,
    /// Requests at once (0 exactly when there is no limit).
    pub burst_size: u32,
}

impl RateLimit {
    /// No limit.
    pub(crate) const OFF: RateLimit = RateLimit {
        requests_per_minute: 0,
        burst_size: 0,
    };

    /// `requests_per_minute` (0: no limit) in bursts of `burst_size`, where
    /// a burst of 0 means one second's worth of requests (at least 1).
    pub(crate) fn new(requests_per_minute: u32, burst_size: u32) -> RateLimit {
        if requests_per_minute == 0 {
            return RateLimit::OFF;
        }
        let burst_size = match burst_size {
            0 => requests_per_minute.div_ceil(60),
            n => n,
        };
        RateLimit {
            requests_per_minute,
            burst_size,
        }
    }

    /// A limit as the settings give it: `per_second` requests per second
    /// (0: no limit) in bursts of `burst` (0: one second's worth), which is
    /// exactly the bucket the settings always meant.
    pub(crate) fn per_second(per_second: u32, burst: u32) -> RateLimit {
        RateLimit::new(per_second.saturating_mul(60), burst)
    }

    /// The bucket's quota; `None` for no limit.
    fn quota(self) -> Option<Quota> {
        let rate = NonZeroU32::new(self.requests_per_minute)?;
        let burst = NonZeroU32::new(self.burst_size)?;
        Quota::with_period(Duration::from_secs(60) / rate.get())
            .map(|quota| quota.allow_burst(burst))
    }

    /// This limit with the fields of a change: a field left out keeps its
    /// value (a burst left out when the limit was off is one second's worth).
    fn changed(
        self,
        requests_per_minute: Option<u32>,
        burst_size: Option<u32>,
    ) -> Result<RateLimit, LimitsChangeError> {
        let rate = requests_per_minute.unwrap_or(self.requests_per_minute);
        if rate == 0 && burst_size.is_some_and(|burst| burst > 0) {
            return Err(LimitsChangeError::Invalid(
                "a burst size needs a rate: give requests_per_minute above 0".to_owned(),
            ));
        }
        Ok(RateLimit::new(rate, burst_size.unwrap_or(self.burst_size)))
    }
}

/// The two limits: per client address and per signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct RateLimits {
    /// Requests from one client address (all its users together).
    pub per_address: RateLimit,
    /// Requests of one signed-in user (from all its addresses together).
    pub per_user: RateLimit,
}

/// Where the limits in force come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LimitsSource {
    /// The settings (flags, environment, configuration file).
    Settings,
    /// `rate-limits.json`, written by a change through the API.
    File,
}

/// Which limit a change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LimitScope {
    /// The limit per client address.
    Address,
    /// The limit per signed-in user.
    User,
}

/// A change of the limits: the fields given replace the current ones, for
/// one limit or (no `per`) both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsChange {
    /// The new rate, in requests per minute (0: no limit).
    pub requests_per_minute: Option<u32>,
    /// The new burst (0: one second's worth).
    pub burst_size: Option<u32>,
    /// The limit changed; both when left out.
    pub per: Option<LimitScope>,
}

/// Why the limits could not be changed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LimitsChangeError {
    /// The change makes no sense.
    #[error("{0}")]
    Invalid(String),
    /// The limits file could not be written; the limits in force are unchanged.
    #[error(transparent)]
    File(#[from] LimitsFileError),
}

/// A keyed token bucket.
struct Bucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    /// The bucket of `limit`; `None` for no limit.
    fn of(limit: RateLimit) -> Option<Arc<Self>> {
        limit.quota().map(|quota| {
            Arc::new(Bucket {
                limiter: RateLimiter::keyed(quota),
            })
        })
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

/// The limits in force and their buckets, replaced whole on a change.
struct Active {
    limits: RateLimits,
    source: LimitsSource,
    per_address: Option<Arc<Bucket<IpAddr>>>,
    per_user: Option<Arc<Bucket<String>>>,
}

impl Active {
    /// The buckets of `limits`, keeping those of `previous` whose limit is
    /// the same (so a change of one limit leaves the other's counts alone).
    fn new(limits: RateLimits, source: LimitsSource, previous: Option<&Active>) -> Active {
        let per_address = match previous {
            Some(old) if old.limits.per_address == limits.per_address => old.per_address.clone(),
            _ => Bucket::of(limits.per_address),
        };
        let per_user = match previous {
            Some(old) if old.limits.per_user == limits.per_user => old.per_user.clone(),
            _ => Bucket::of(limits.per_user),
        };
        Active {
            limits,
            source,
            per_address,
            per_user,
        }
    }
}

/// The request rate limits, shared by every request and changeable while
/// the server runs.
pub(crate) struct RequestLimits {
    /// What the settings say, restored by a reset.
    configured: RateLimits,
    file: LimitsFile,
    active: ArcSwap<Active>,
    /// Held by a change while it writes the file and swaps the limits, so
    /// two changes cannot interleave (requests never take it).
    changing: Mutex<()>,
}

impl RequestLimits {
    /// The limits of `file` when it exists (a change made through the API
    /// outlives a restart), else the `configured` ones.
    pub(crate) fn open(
        configured: RateLimits,
        file: LimitsFile,
    ) -> Result<RequestLimits, LimitsFileError> {
        let (limits, source) = match file.load()? {
            Some(stored) => {
                if stored != configured {
                    tracing::info!(
                        file = %file.path().display(),
                        "the rate limits changed through the API win over the settings; reset them to return to the settings"
                    );
                }
                (stored, LimitsSource::File)
            }
            None => (configured, LimitsSource::Settings),
        };
        Ok(RequestLimits {
            configured,
            file,
            active: ArcSwap::from_pointee(Active::new(limits, source, None)),
            changing: Mutex::new(()),
        })
    }

    /// The limits in force and where they come from.
    pub(crate) fn current(&self) -> (RateLimits, LimitsSource) {
        let active = self.active.load();
        (active.limits, active.source)
    }

    /// Applies `change`, writes the result to the limits file and puts it
    /// in force; returns the new limits. Blocks on the disk.
    pub(crate) fn change(&self, change: LimitsChange) -> Result<RateLimits, LimitsChangeError> {
        if change.requests_per_minute.is_none() && change.burst_size.is_none() {
            return Err(LimitsChangeError::Invalid(
                "give requests_per_minute, burst_size or both".to_owned(),
            ));
        }
        let _changing = self
            .changing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.active.load_full();
        let mut limits = old.limits;
        let (address, user) = match change.per {
            None => (true, true),
            Some(LimitScope::Address) => (true, false),
            Some(LimitScope::User) => (false, true),
        };
        if address {
            limits.per_address = limits
                .per_address
                .changed(change.requests_per_minute, change.burst_size)?;
        }
        if user {
            limits.per_user = limits
                .per_user
                .changed(change.requests_per_minute, change.burst_size)?;
        }
        self.file.store(&limits)?;
        self.active.store(Arc::new(Active::new(
            limits,
            LimitsSource::File,
            Some(&old),
        )));
        Ok(limits)
    }

    /// Removes the limits file and puts the settings' limits back in force;
    /// returns them. Blocks on the disk.
    pub(crate) fn reset(&self) -> Result<RateLimits, LimitsFileError> {
        let _changing = self
            .changing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.active.load_full();
        self.file.remove()?;
        self.active.store(Arc::new(Active::new(
            self.configured,
            LimitsSource::Settings,
            Some(&old),
        )));
        Ok(self.configured)
    }

    /// Charges one request to `user`; a 429 when over the limit.
    pub(crate) fn charge_user(&self, user: &str) -> Result<(), ApiError> {
        match &self.active.load().per_user {
            Some(bucket) => bucket
                .take(&user.to_owned())
                .map_err(|wait| too_many("too many requests for this user", wait)),
            None => Ok(()),
        }
    }

    /// Drops the state of keys that have been quiet (call now and then).
    pub(crate) fn forget_idle(&self) {
        let active = self.active.load();
        if let Some(bucket) = &active.per_address {
            bucket.forget_idle();
        }
        if let Some(bucket) = &active.per_user {
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
    let refused = match &limits.active.load().per_address {
        Some(bucket) if !crate::api::is_exempt_from_rate_limits(request.uri().path()) => {
            bucket.take(&peer.ip()).err()
        }
        _ => None,
    };
    if let Some(wait) = refused {
        return too_many("too many requests from this address", wait).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(dir: &std::path::Path, per_address: u32, per_user: u32) -> RequestLimits {
        let configured = RateLimits {
            per_address: RateLimit::per_second(per_address, 0),
            per_user: RateLimit::per_second(per_user, 0),
        };
        RequestLimits::open(configured, LimitsFile::new(dir)).unwrap()
    }

    fn refused_of(limits: &RequestLimits, user: &str, tries: usize) -> usize {
        (0..tries)
            .filter(|_| limits.charge_user(user).is_err())
            .count()
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limits(dir.path(), 0, 0);
        assert_eq!(refused_of(&limits, "alice", 100), 0);
    }

    #[test]
    fn per_user_requests_run_out() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limits(dir.path(), 0, 5);
        let refused = refused_of(&limits, "alice", 20);
        assert!(refused >= 10, "{refused} of 20 refused");
        assert!(limits.charge_user("bob").is_ok());
    }

    #[test]
    fn settings_per_second_are_the_same_bucket_per_minute() {
        assert_eq!(
            RateLimit::per_second(5, 0),
            RateLimit {
                requests_per_minute: 300,
                burst_size: 5
            }
        );
        assert_eq!(RateLimit::per_second(0, 7), RateLimit::OFF);
        assert_eq!(RateLimit::new(30, 0).burst_size, 1, "at least one request");
        assert_eq!(RateLimit::per_second(2, 50).burst_size, 50);
    }

    #[test]
    fn a_change_takes_effect_at_once_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limits(dir.path(), 0, 0);
        assert_eq!(limits.current().1, LimitsSource::Settings);
        let changed = limits
            .change(LimitsChange {
                requests_per_minute: Some(60),
                burst_size: Some(3),
                per: Some(LimitScope::User),
            })
            .unwrap();
        assert_eq!(changed.per_address, RateLimit::OFF);
        assert_eq!(changed.per_user, RateLimit::new(60, 3));
        assert_eq!(refused_of(&limits, "alice", 10), 7, "a burst of 3 of 10");

        let reopened = self::limits(dir.path(), 0, 0);
        assert_eq!(reopened.current(), (changed, LimitsSource::File));

        // A field left out keeps its value.
        let faster = reopened
            .change(LimitsChange {
                requests_per_minute: Some(600),
                ..LimitsChange::default()
            })
            .unwrap();
        assert_eq!(faster.per_user, RateLimit::new(600, 3));
        assert_eq!(faster.per_address, RateLimit::new(600, 10));

        assert_eq!(reopened.reset().unwrap(), reopened.configured);
        assert_eq!(refused_of(&reopened, "alice", 100), 0);
        let after_reset = self::limits(dir.path(), 0, 0);
        assert_eq!(after_reset.current().1, LimitsSource::Settings);
    }

    #[test]
    fn nonsense_changes_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limits(dir.path(), 0, 0);
        let empty = limits.change(LimitsChange::default());
        assert!(matches!(empty, Err(LimitsChangeError::Invalid(_))));
        let burst_alone = limits.change(LimitsChange {
            burst_size: Some(5),
            ..LimitsChange::default()
        });
        assert!(matches!(burst_alone, Err(LimitsChangeError::Invalid(_))));
        assert_eq!(limits.current().1, LimitsSource::Settings);
        assert!(!dir.path().join("rate-limits.json").exists());
    }

    #[test]
    fn a_change_of_one_limit_keeps_the_other_buckets_counts() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limits(dir.path(), 0, 0);
        limits
            .change(LimitsChange {
                requests_per_minute: Some(1),
                burst_size: Some(1),
                per: Some(LimitScope::User),
            })
            .unwrap();
        assert_eq!(refused_of(&limits, "alice", 3), 2);
        limits
            .change(LimitsChange {
                requests_per_minute: Some(6000),
                per: Some(LimitScope::Address),
                ..LimitsChange::default()
            })
            .unwrap();
        assert!(
            limits.charge_user("alice").is_err(),
            "alice's bucket is still empty"
        );
    }
}
