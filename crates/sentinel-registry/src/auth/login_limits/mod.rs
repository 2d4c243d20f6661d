//! Failed-login limits (much harder than the request rate limits): per user
//! name and address, per address, and per user name from addresses it has
//! not logged in from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::connections::client_key;

#[cfg(test)]
mod tests;

/// The failed-login limits, shared by every login.
pub(crate) struct LoginLimits {
    failed_logins: Option<FailedLogins>,
}

impl LoginLimits {
    /// A limit of `failed_per_minute` failed logins; 0 turns it off.
    pub(crate) fn new(failed_per_minute: u32) -> LoginLimits {
        LoginLimits {
            failed_logins: NonZeroU32::new(failed_per_minute).map(FailedLogins::new),
        }
    }

    /// Starts a login attempt from `address` for `user` (when the login
    /// names one): refused if one of its failed-login buckets is spent for now.
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
                if busy {
                    Refusal::Busy(wait)
                } else {
                    Refusal::Limited(wait)
                }
            })?;
        Ok(LoginAttempt {
            limits: Some(failed),
            keys,
            settled: false,
        })
    }

    /// Drops the state of buckets that have refilled, and forgets addresses
    /// known for longer than a day (call now and then).
    pub(crate) fn forget_idle(&self) {
        if let Some(failed) = &self.failed_logins {
            failed.forget_idle(Instant::now());
        }
    }
}

/// Why a login attempt may not start now.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Too many failures lately: try again after this long.
    Limited(Duration),
    /// Every failure left is held by attempts being checked now; it may
    /// start once they end (or after this long if they take too long).
    Busy(Duration),
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
