//! Bounds on what requests in progress may hold: blob uploads (counted),
//! the manifest bodies being received and the package files (the web UI's
//! images) being sent (in bytes), overall, per client address and per
//! signed-in user. A request over a bound is refused at once with `429`
//! and `Retry-After`, so a client that opens many uploads, manifest bodies
//! or image downloads and stalls them holds only its own share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, header};
use sentinel_oci::ErrorCode;

use crate::Settings;
use crate::api::ApiError;
use crate::connections::client_key;
use sentinel_oci::MAX_MANIFEST_SIZE;

/// How long a refused client is told to wait, in seconds: uploads and
/// manifests in progress usually end within that.
const RETRY_AFTER_SECONDS: u32 = 2;

/// The bounds on uploads, manifest bodies and package files in progress.
pub(crate) struct InFlight {
    uploads: Arc<Budget>,
    manifest_bytes: Arc<Budget>,
    package_file_bytes: Arc<Budget>,
}

/// The bytes of package files (the web UI's images) that answers may hold
/// in memory at once, in the whole server.
const PACKAGE_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The bytes of package files that answers to one client address, or to
/// one user, may hold at once.
const PACKAGE_FILE_BYTES_SHARE: u64 = 16 * 1024 * 1024;

impl InFlight {
    /// The bounds configured in `settings`.
    pub(crate) fn new(settings: &Settings) -> Self {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        // Every client may always hold one manifest of the largest size.
        let largest = MAX_MANIFEST_SIZE;
        let manifest_total = match settings.manifest_memory_mib.saturating_mul(1024 * 1024) {
            0 => 0,
            total => total.max(largest),
        };
        let manifest_share = match manifest_total {
            0 => 0,
            total => (total / 4).max(largest),
        };
        InFlight {
            uploads: Arc::new(Budget::new(
                "blob uploads",
                count(settings.max_uploads),
                count(settings.max_uploads_per_address),
                count(settings.max_uploads_per_user),
            )),
            manifest_bytes: Arc::new(Budget::new(
                "manifest bytes",
                manifest_total,
                manifest_share,
                manifest_share,
            )),
            package_file_bytes: Arc::new(Budget::new(
                "package file answers",
                PACKAGE_FILE_BYTES,
                PACKAGE_FILE_BYTES_SHARE,
                PACKAGE_FILE_BYTES_SHARE,
            )),
        }
    }

    /// Holds one upload slot for a request from `client` by `user` (empty
    /// when anonymous) while it carries blob bytes.
    pub(crate) fn upload(&self, client: IpAddr, user: &str) -> Result<Held, ApiError> {
        self.uploads.take(client, user, 1)
    }

    /// How many uploads are in progress now.
    pub(crate) fn uploads_in_progress(&self) -> u64 {
        self.uploads.lock().total
    }

    /// Holds `bytes` of the memory for package files being sent, for a
    /// request from `client` by `user` (empty when anonymous), until the
    /// answer is sent or dropped.
    pub(crate) fn package_file_bytes(
        &self,
        client: IpAddr,
        user: &str,
        bytes: u64,
    ) -> Result<Held, ApiError> {
        self.package_file_bytes.take(client, user, bytes)
    }

    /// Holds `bytes` of the manifest memory for a request from `client` by
    /// `user`; [`Held::grow`] holds more as an undeclared body arrives.
    pub(crate) fn manifest_bytes(
        &self,
        client: IpAddr,
        user: &str,
        bytes: u64,
    ) -> Result<Held, ApiError> {
        self.manifest_bytes.take(client, user, bytes)
    }
}

/// What is held now, overall and per key.
#[derive(Default)]
struct Counts {
    total: u64,
    addresses: HashMap<IpAddr, u64>,
    users: HashMap<String, u64>,
}

/// One resource's bounds (0 for no bound) and what is held of it.
struct Budget {
    what: &'static str,
    total: u64,
    per_address: u64,
    per_user: u64,
    counts: Mutex<Counts>,
}

fn over(limit: u64, held: u64, more: u64) -> bool {
    limit != 0 && held.saturating_add(more) > limit
}

impl Budget {
    fn new(what: &'static str, total: u64, per_address: u64, per_user: u64) -> Self {
        Budget {
            what,
            total,
            per_address,
            per_user,
            counts: Mutex::new(Counts::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(self: &Arc<Self>, client: IpAddr, user: &str, amount: u64) -> Result<Held, ApiError> {
        let address = client_key(client);
        let user = (!user.is_empty()).then(|| user.to_owned());
        self.add(address, user.as_deref(), amount)?;
        Ok(Held {
            budget: Arc::clone(self),
            address,
            user,
            amount,
        })
    }

    /// Adds `amount` to what `address` and `user` hold, if every bound allows.
    fn add(&self, address: IpAddr, user: Option<&str>, amount: u64) -> Result<(), ApiError> {
        let mut counts = self.lock();
        let by_address = counts.addresses.get(&address).copied().unwrap_or(0);
        let by_user = user
            .and_then(|user| counts.users.get(user).copied())
            .unwrap_or(0);
        let refusal = if over(self.total, counts.total, amount) {
            Some("the registry")
        } else if over(self.per_address, by_address, amount) {
            Some("this client address")
        } else if user.is_some() && over(self.per_user, by_user, amount) {
            Some("this user")
        } else {
            None
        };
        if let Some(whose) = refusal {
            return Err(ApiError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "too many {} in progress for {whose}: try again shortly",
                    self.what
                ),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS)));
        }
        counts.total += amount;
        *counts.addresses.entry(address).or_insert(0) += amount;
        if let Some(user) = user {
            *counts.users.entry(user.to_owned()).or_insert(0) += amount;
        }
        Ok(())
    }

    fn remove(&self, address: IpAddr, user: Option<&str>, amount: u64) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(amount);
        if let Some(held) = counts.addresses.get_mut(&address) {
            *held = held.saturating_sub(amount);
            if *held == 0 {
                counts.addresses.remove(&address);
            }
        }
        if let Some(user) = user
            && let Some(held) = counts.users.get_mut(user)
        {
            *held = held.saturating_sub(amount);
            if *held == 0 {
                counts.users.remove(user);
            }
        }
    }
}

/// A share of a budget held by one request; given back when dropped.
pub(crate) struct Held {
    budget: Arc<Budget>,
    address: IpAddr,
    user: Option<String>,
    amount: u64,
}

impl Held {
    /// Holds `more` as well, if the bounds allow.
    pub(crate) fn grow(&mut self, more: u64) -> Result<(), ApiError> {
        self.budget.add(self.address, self.user.as_deref(), more)?;
        self.amount += more;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget
            .remove(self.address, self.user.as_deref(), self.amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(total: u64, per_address: u64, per_user: u64) -> Arc<Budget> {
        Arc::new(Budget::new("things", total, per_address, per_user))
    }

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn one_address_holds_only_its_share() {
        let budget = budget(10, 3, 0);
        let held: Vec<_> = (0..3).map(|_| budget.take(HERE, "", 1).unwrap()).collect();
        let refused = budget
            .take(HERE, "", 1)
            .err()
            .expect("over the address bound");
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(budget.take(THERE, "", 1).is_ok(), "others are served");
        drop(held);
        assert!(budget.take(HERE, "", 3).is_ok(), "given back on drop");
    }

    #[test]
    fn users_and_the_whole_registry_are_bounded_too() {
        let budget = budget(4, 0, 2);
        let _alice = budget.take(HERE, "alice", 2).unwrap();
        assert!(
            budget.take(THERE, "alice", 1).is_err(),
            "alice's share is spent"
        );
        let _bob = budget.take(THERE, "bob", 2).unwrap();
        assert!(budget.take(THERE, "", 1).is_err(), "the registry is full");
    }

    #[test]
    fn a_held_share_grows_within_the_bounds_and_is_all_given_back() {
        let budget = budget(0, 10, 0);
        let mut held = budget.take(HERE, "", 4).unwrap();
        held.grow(6).unwrap();
        assert!(held.grow(1).is_err());
        drop(held);
        assert!(budget.lock().addresses.is_empty(), "nothing is left behind");
        assert_eq!(budget.lock().total, 0);
    }

    #[test]
    fn zero_means_no_bound() {
        let budget = budget(0, 0, 0);
        let held: Vec<_> = (0..1000)
            .map(|_| budget.take(HERE, "alice", u64::from(u32::MAX)).unwrap())
            .collect();
        assert_eq!(held.len(), 1000);
    }
}
