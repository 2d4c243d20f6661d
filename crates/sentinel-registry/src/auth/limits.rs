//! Rate limits: requests per client address, requests per signed-in user, and
//! failed logins (limited much harder) per user name and address, per
//! address, and per user name from addresses it has not logged in from.

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

use crate::connections::client_key;
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
    /// names one): a 429 if one of its failed-login buckets is spent for now.
    pub(crate) fn begin_login(
        &self,
        address: IpAddr,
        user: Option<&str>,
    ) -> Result<LoginAttempt<'_>, Refusal> {
        let Some(failed) = &self.failed_logins else {
            return Ok(LoginAttempt {
                limits: None,
                keys: Vec::new(),
                settled: false,
            });
        };
        let keys = failed
            .reserve(address, user, Instant::now())
            .map_err(|(wait, busy)| {
                let error = too_many("too many failed logins: wait before trying again", wait);
                if busy {
                    Refusal::Busy(error)
                } else {
                    Refusal::Limited(error)
                }
            })?;
        Ok(LoginAttempt {
            limits: Some(failed),
            keys,
            settled: false,
        })
    }

    /// Drops the state of keys that have been quiet, and forgets addresses
    /// known for longer than a day (call now and then).
    pub(crate) fn forget_idle(&self) {
        if let Some(bucket) = &self.per_address {
            bucket.forget_idle();
        }
        if let Some(bucket) = &self.per_user {
            bucket.forget_idle();
        }
        if let Some(failed) = &self.failed_logins {
            failed.forget_idle(Instant::now());
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

/// How many times `failed-logins-per-minute` one address may fail in all,
/// whatever the user names: password spraying.
const ADDRESS_MULTIPLE: u32 = 3;
/// How many times `failed-logins-per-minute` one user name may fail in all
/// from addresses it has not logged in from lately: guessing one password
/// from many addresses.
const USER_MULTIPLE: u32 = 10;
/// How long a password login that succeeded makes its address known for
/// the user, exempt from the user name's bucket.
const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How many (user name, address) pairs are known at most; beyond it the
/// pair that logged in longest ago is forgotten first.
const MAX_KNOWN_ADDRESSES: usize = 16_384;

/// What one bucket of failed logins counts. Addresses are counted by
/// [`client_key`] (an IPv6 client by its /64).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// One user name from one address: `per_minute`.
    Pair(String, IpAddr),
    /// One address, whatever the user names (and logins naming none, such
    /// as personal access tokens): `ADDRESS_MULTIPLE` times `per_minute`.
    Address(IpAddr),
    /// One user name from addresses it has not logged in from lately:
    /// `USER_MULTIPLE` times `per_minute`.
    User(String),
}

impl Key {
    /// How many times `per_minute` this bucket holds, and refills by a minute.
    fn multiple(&self) -> u32 {
        match self {
            Key::Pair(..) => 1,
            Key::Address(_) => ADDRESS_MULTIPLE,
            Key::User(_) => USER_MULTIPLE,
        }
    }
}

/// Failed logins, in buckets that each hold some failures and refill
/// continuously over a minute (see [`Key`]): one per user name and address,
/// one per address, and one per user name for the addresses that name has
/// not logged in from in the last day. A login attempt reserves one
/// failure from each of its buckets before the password is checked, and
/// the reservation becomes a failure only if the check fails; so however
/// many attempts an attacker sends at once, no more passwords are checked
/// than the buckets hold. An attempt finding a bucket spent is refused
/// without a check until it refills.
struct FailedLogins {
    per_minute: f64,
    state: Mutex<FailureState>,
}

/// The buckets with failures spent or reserved, and the known addresses.
#[derive(Default)]
struct FailureState {
    buckets: HashMap<Key, FailureBucket>,
    /// When each user name last logged in with a checked password from
    /// each address ([`client_key`]).
    known: HashMap<(String, IpAddr), Instant>,
}

/// One key's failures: `available` whole or partial failures left at
/// `updated`, and `pending` attempts being checked now.
struct FailureBucket {
    available: f64,
    updated: Instant,
    pending: u32,
}

impl FailureBucket {
    /// The failures available at `now` in a bucket of `capacity` that
    /// refills by `capacity` a minute.
    fn available_at(&self, capacity: f64, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.available + elapsed * capacity / 60.0).min(capacity)
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The credentials were wrong.
    Failed,
    /// The credentials were right.
    Succeeded,
    /// No answer (the check could not run): the reservation is given back.
    Abandoned,
}

impl FailedLogins {
    fn new(per_minute: NonZeroU32) -> Self {
        FailedLogins {
            per_minute: f64::from(per_minute.get()),
            state: Mutex::new(FailureState::default()),
        }
    }

    /// How many failures the bucket of `key` holds.
    fn capacity(&self, key: &Key) -> f64 {
        self.per_minute * f64::from(key.multiple())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FailureState> {
        // Every change leaves the state whole; keep using a poisoned one.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The buckets an attempt from `address` for `user` draws on at `now`.
    fn keys(state: &FailureState, address: IpAddr, user: Option<&str>, now: Instant) -> Vec<Key> {
        let origin = client_key(address);
        let mut keys = vec![Key::Address(origin)];
        if let Some(user) = user {
            let pair = (user.to_owned(), origin);
            let known = state
                .known
                .get(&pair)
                .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_ADDRESS_TTL);
            if !known {
                keys.push(Key::User(pair.0.clone()));
            }
            keys.push(Key::Pair(pair.0, pair.1));
        }
        keys
    }

    /// Reserves one failure from each bucket of an attempt from `address`
    /// for `user` and returns the buckets, or says how long to wait and
    /// whether only attempts in flight are in the way. A refused attempt
    /// leaves no state behind, so names made up by an attacker cannot fill
    /// memory.
    fn reserve(
        &self,
        address: IpAddr,
        user: Option<&str>,
        now: Instant,
    ) -> Result<Vec<Key>, (Duration, bool)> {
        let mut state = self.lock();
        let keys = Self::keys(&state, address, user, now);
        let mut wait = Duration::ZERO;
        let mut spent = false;
        for key in &keys {
            let Some(bucket) = state.buckets.get(key) else {
                continue; // a full bucket
            };
            let capacity = self.capacity(key);
            let available = bucket.available_at(capacity, now);
            let free = available - f64::from(bucket.pending);
            if free < 1.0 {
                spent |= available < 1.0;
                let missing = 1.0 - free;
                wait = wait.max(Duration::from_secs_f64(missing * 60.0 / capacity));
            }
        }
        if wait > Duration::ZERO {
            return Err((wait, !spent));
        }
        for key in &keys {
            self.refilled(&mut state.buckets, key, now).pending += 1;
        }
        Ok(keys)
    }

    /// The bucket of `key`, refilled up to `now`.
    fn refilled<'a>(
        &self,
        buckets: &'a mut HashMap<Key, FailureBucket>,
        key: &Key,
        now: Instant,
    ) -> &'a mut FailureBucket {
        let capacity = self.capacity(key);
        let bucket = buckets.entry(key.clone()).or_insert_with(|| FailureBucket {
            available: capacity,
            updated: now,
            pending: 0,
        });
        bucket.available = bucket.available_at(capacity, now);
        bucket.updated = now;
        bucket
    }

    /// Ends an attempt holding `keys`: a failure spends what it reserved,
    /// anything else gives it back; a success makes the address known for
    /// the user name (when the attempt named one).
    fn settle(&self, keys: &[Key], outcome: Outcome, now: Instant) {
        let mut state = self.lock();
        for key in keys {
            let bucket = self.refilled(&mut state.buckets, key, now);
            bucket.pending = bucket.pending.saturating_sub(1);
            if outcome == Outcome::Failed {
                bucket.available -= 1.0;
            }
        }
        if outcome == Outcome::Succeeded {
            for key in keys {
                if let Key::Pair(user, origin) = key {
                    remember_known(&mut state.known, (user.clone(), *origin), now);
                }
            }
        }
    }

    /// Forgets full buckets nobody is using and addresses known too long.
    fn forget_idle(&self, now: Instant) {
        let mut state = self.lock();
        state.buckets.retain(|key, bucket| {
            let capacity = self.capacity(key);
            bucket.pending > 0 || bucket.available_at(capacity, now) < capacity
        });
        state
            .known
            .retain(|_, at| now.saturating_duration_since(*at) < KNOWN_ADDRESS_TTL);
        state.buckets.shrink_to_fit();
        state.known.shrink_to_fit();
    }
}

/// Records that `pair` logged in at `now`, keeping at most
/// `MAX_KNOWN_ADDRESSES` pairs: expired ones go first, then the oldest.
fn remember_known(
    known: &mut HashMap<(String, IpAddr), Instant>,
    pair: (String, IpAddr),
    now: Instant,
) {
    if !known.contains_key(&pair) && known.len() >= MAX_KNOWN_ADDRESSES {
        known.retain(|_, at| now.saturating_duration_since(*at) < KNOWN_ADDRESS_TTL);
        if known.len() >= MAX_KNOWN_ADDRESSES
            && let Some(oldest) = known
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(pair, _)| pair.clone())
        {
            known.remove(&oldest);
        }
    }
    known.insert(pair, now);
}

/// A login attempt holding its reservation of failures; dropped without
/// [`LoginAttempt::failed`] or [`LoginAttempt::succeeded`], it gives the
/// reservation back.
pub(crate) struct LoginAttempt<'a> {
    limits: Option<&'a FailedLogins>,
    keys: Vec<Key>,
    settled: bool,
}

impl LoginAttempt<'_> {
    /// The credentials were wrong: the reservation becomes a failure.
    pub(crate) fn failed(self) {
        self.settle(Outcome::Failed);
    }

    /// The credentials were right: the reservation is given back, and if
    /// the attempt named a user (a password login), its address becomes
    /// known for that user for a day.
    pub(crate) fn succeeded(self) {
        self.settle(Outcome::Succeeded);
    }

    fn settle(mut self, outcome: Outcome) {
        if let Some(limits) = self.limits {
            limits.settle(&self.keys, outcome, Instant::now());
        }
        self.settled = true;
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.settled
            && let Some(limits) = self.limits
        {
            limits.settle(&self.keys, Outcome::Abandoned, Instant::now());
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

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn is_limited(result: Result<LoginAttempt<'_>, Refusal>) -> bool {
        matches!(result, Err(Refusal::Limited(_)))
    }

    /// How many buckets and known addresses the failed-login limiter keeps.
    fn kept(limits: &Limits) -> (usize, usize) {
        let state = limits.failed_logins.as_ref().unwrap().lock();
        (state.buckets.len(), state.known.len())
    }

    #[test]
    fn failures_for_a_name_from_an_address_block_that_name_there_only() {
        let limits = Limits::new(0, 0, 3);
        let (here, elsewhere) = (address("192.0.2.1"), address("192.0.2.2"));
        for _ in 0..3 {
            limits.begin_login(here, Some("alice")).unwrap().failed();
        }
        assert!(
            is_limited(limits.begin_login(here, Some("alice"))),
            "alice is blocked here"
        );
        assert!(
            limits.begin_login(elsewhere, Some("alice")).is_ok(),
            "alice is not blocked elsewhere"
        );
        assert!(
            limits.begin_login(here, Some("admin")).is_ok(),
            "other names are not blocked here"
        );
    }

    #[test]
    fn spraying_names_from_an_address_blocks_the_address_for_every_name() {
        let limits = Limits::new(0, 0, 3);
        let (here, elsewhere) = (address("192.0.2.1"), address("192.0.2.2"));
        let allowance = 3 * ADDRESS_MULTIPLE;
        for i in 0..allowance {
            let user = format!("user{i}");
            limits.begin_login(here, Some(&user)).unwrap().failed();
        }
        assert!(is_limited(limits.begin_login(here, Some("admin"))));
        assert!(
            is_limited(limits.begin_login(here, None)),
            "logins naming no user (tokens) too"
        );
        assert!(limits.begin_login(elsewhere, Some("user0")).is_ok());
        assert!(limits.begin_login(elsewhere, Some("admin")).is_ok());
    }

    #[test]
    fn logins_naming_no_user_count_against_the_address_only() {
        let limits = Limits::new(0, 0, 3);
        let here = address("192.0.2.1");
        for _ in 0..3 * ADDRESS_MULTIPLE {
            limits.begin_login(here, None).unwrap().failed();
        }
        assert!(is_limited(limits.begin_login(here, None)));
        assert!(is_limited(limits.begin_login(here, Some("alice"))));
        assert!(
            limits
                .begin_login(address("192.0.2.2"), Some("alice"))
                .is_ok(),
            "no user name was charged"
        );
    }

    #[test]
    fn guessing_from_many_addresses_blocks_the_name_except_where_it_logged_in() {
        let limits = Limits::new(0, 0, 2);
        let (home, office) = (address("198.51.100.1"), address("198.51.100.2"));
        limits.begin_login(home, Some("alice")).unwrap().succeeded();
        // A check that could not run makes nothing known.
        drop(limits.begin_login(office, Some("alice")).unwrap());
        // 2 failures from each of 10 addresses: no pair is over its 2, no
        // address over its 6, and alice's 20 across addresses are spent.
        for i in 0..USER_MULTIPLE {
            let attacker = address(&format!("203.0.113.{i}"));
            for _ in 0..2 {
                limits
                    .begin_login(attacker, Some("alice"))
                    .unwrap()
                    .failed();
            }
        }
        let newcomer = address("203.0.113.200");
        assert!(
            is_limited(limits.begin_login(newcomer, Some("alice"))),
            "alice is blocked from an address she never logged in from"
        );
        assert!(
            is_limited(limits.begin_login(office, Some("alice"))),
            "an attempt that ended unanswered made no address known"
        );
        assert!(
            limits.begin_login(newcomer, Some("bob")).is_ok(),
            "other names are not blocked"
        );
        assert!(
            limits.begin_login(home, Some("alice")).is_ok(),
            "alice still logs in where she did before"
        );
        // Where she is known, alice's name and address still count.
        for _ in 0..2 {
            limits.begin_login(home, Some("alice")).unwrap().failed();
        }
        assert!(is_limited(limits.begin_login(home, Some("alice"))));
    }

    #[test]
    fn an_address_is_known_for_a_day() {
        let failed = FailedLogins::new(NonZeroU32::new(1).unwrap());
        let (home, newcomer) = (address("198.51.100.1"), address("203.0.113.200"));
        let start = Instant::now();
        let keys = failed.reserve(home, Some("alice"), start).unwrap();
        failed.settle(&keys, Outcome::Succeeded, start);
        // Spends alice's failures across addresses at `at`.
        let spend_alice = |at: Instant| {
            for i in 0..USER_MULTIPLE {
                let attacker = address(&format!("203.0.113.{i}"));
                let keys = failed.reserve(attacker, Some("alice"), at).unwrap();
                failed.settle(&keys, Outcome::Failed, at);
            }
            assert!(failed.reserve(newcomer, Some("alice"), at).is_err());
        };

        let before = start + KNOWN_ADDRESS_TTL - Duration::from_secs(60);
        spend_alice(before);
        let keys = failed.reserve(home, Some("alice"), before).unwrap();
        failed.settle(&keys, Outcome::Abandoned, before);

        let after = start + KNOWN_ADDRESS_TTL + Duration::from_secs(60);
        spend_alice(after);
        assert!(
            failed.reserve(home, Some("alice"), after).is_err(),
            "a day after alice logged in, her address is a stranger's"
        );
        failed.forget_idle(after);
        assert!(failed.lock().known.is_empty(), "and it is forgotten");
    }

    #[test]
    fn known_addresses_are_bounded_and_the_oldest_go_first() {
        let failed = FailedLogins::new(NonZeroU32::new(1).unwrap());
        let start = Instant::now();
        let home = address("198.51.100.1");
        let total = MAX_KNOWN_ADDRESSES as u64 + 5;
        for i in 0..total {
            let at = start + Duration::from_secs(i);
            let user = format!("user{i}");
            let keys = failed.reserve(home, Some(&user), at).unwrap();
            failed.settle(&keys, Outcome::Succeeded, at);
        }
        let state = failed.lock();
        assert_eq!(state.known.len(), MAX_KNOWN_ADDRESSES);
        assert!(!state.known.contains_key(&("user4".to_owned(), home)));
        assert!(state.known.contains_key(&("user5".to_owned(), home)));
        assert!(
            state
                .known
                .contains_key(&(format!("user{}", total - 1), home))
        );
    }

    #[test]
    fn refused_attempts_keep_no_state() {
        let limits = Limits::new(0, 0, 1);
        let here = address("192.0.2.1");
        for i in 0..ADDRESS_MULTIPLE {
            let user = format!("user{i}");
            limits.begin_login(here, Some(&user)).unwrap().failed();
        }
        let before = kept(&limits);
        for i in 0..1000 {
            let user = format!("made-up-{i}");
            assert!(limits.begin_login(here, Some(&user)).is_err());
        }
        assert_eq!(kept(&limits), before, "the spent address refused them all");

        // alice's name spent from many addresses: strangers' attempts for
        // her, from addresses never seen, are refused without a trace.
        for i in 0..USER_MULTIPLE {
            let attacker = address(&format!("203.0.113.{i}"));
            limits
                .begin_login(attacker, Some("alice"))
                .unwrap()
                .failed();
        }
        let before = kept(&limits);
        for i in 0..1000u32 {
            let [_, _, high, low] = i.to_be_bytes();
            let stranger = address(&format!("10.0.{high}.{low}"));
            assert!(limits.begin_login(stranger, Some("alice")).is_err());
        }
        assert_eq!(kept(&limits), before, "the spent name refused them all");

        // Buckets that refilled are forgotten.
        limits
            .failed_logins
            .as_ref()
            .unwrap()
            .forget_idle(Instant::now() + Duration::from_secs(60 * u64::from(USER_MULTIPLE)));
        assert_eq!(kept(&limits), (0, 0));
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
        for last in 1..=2 * ADDRESS_MULTIPLE {
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
