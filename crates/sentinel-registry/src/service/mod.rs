//! The registry's domain service: every operation of the distribution spec,
//! in terms of repositories, blobs, uploads and manifests, over the metadata
//! index and the blob store. The HTTP layer (`api`) only translates
//! requests and responses; nothing here knows about HTTP.
//!
//! One file per topic: `blobs` (a repository's blobs), `uploads` (upload
//! sessions, from the first byte to the linked blob), `manifests` (manifests,
//! tags, referrers, the repository list), `signatures` (checking
//! signature artifacts, the signature policy and what it lets be pulled), `packages` (validating Sentinel
//! packages and keeping the package catalogue in step), `catalogue`
//! (questions about packages and rebuilding the catalogue),
//! `housekeeping` (expiring idle sessions, sweeping orphaned upload bytes),
//! `gc` (garbage collection: unreferenced manifests, blob links and bytes),
//! `health` (the readiness checks and the storage figures), `inventory`
//! (what `fsck` reads), `events` (the webhooks in force and the events
//! recorded for them in the index's outbox), `lifecycle` (the quota,
//! retention and immutability rules in force, quota checks and namespace
//! usage), `retention` (deleting the package versions no retention
//! policy keeps) and `browse` (what the web UI's repository pages count).

mod blobs;
mod browse;
mod catalogue;
mod error;
mod events;
mod gc;
mod health;
mod housekeeping;
mod inventory;
mod lifecycle;
mod manifests;
mod packages;
mod publish;
mod retention;
#[cfg(test)]
mod retention_tests;
mod signatures;
#[cfg(test)]
pub(crate) mod tests;
mod uploads;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sentinel_catalogue::Catalogue;
use sentinel_index::MetadataIndex;
use sentinel_storage::BlobStore;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

pub use blobs::MountOutcome;
pub use browse::MAX_BROWSED_PACKAGE_BYTES;
pub use catalogue::{Reindexed, VersionChoice};
pub use error::{ImmutableTag, RegistryError};
pub(crate) use events::{Events, event_identity, now_millis};
pub use gc::{GcOptions, GcReport};
pub(crate) use health::Readiness;
pub use housekeeping::{ORPHANED_UPLOAD_GRACE, UPLOAD_EXPIRY};
pub(crate) use lifecycle::LifecycleRules;
pub use lifecycle::NamespaceUsage;
pub use publish::PublishTarget;
pub use retention::{RetentionReport, RetiredVersion};
pub use sentinel_index::{ListedUpload, Page, PageRequest, StoredManifest, UploadSession};
pub use sentinel_storage::StoredUpload;
pub use signatures::SignatureEntry;
pub(crate) use signatures::Trust;

use crate::clock::now;

/// How the registry treats packages.
#[derive(Clone, Debug)]
pub struct PackagePolicy {
    /// A tag that is a semantic version, once it names a Sentinel package,
    /// cannot be moved to another manifest.
    pub immutable_versions: bool,
    /// This registry's own host (`registry.example.com[:port]`, from its
    /// public URL), if known: a stack member naming it is a member here.
    pub own_host: Option<String>,
}

/// The registry: repositories of blobs and manifests.
#[derive(Clone)]
pub struct Registry {
    /// What is where: repositories, blob links, manifests, tags, sessions.
    index: Arc<dyn MetadataIndex>,
    /// The bytes: blobs, and uploads in progress.
    blobs: BlobStore,
    /// What the registry knows of the packages it stores.
    catalogue: Arc<dyn Catalogue>,
    /// How packages are treated.
    policy: Arc<PackagePolicy>,
    /// The signature policies and what the registry worked out from them.
    trust: Arc<Trust>,
    /// The webhooks in force and the events recorded for them.
    events: Arc<Events>,
    /// The retention policies, tag immutability rules and quotas.
    lifecycle: Arc<LifecycleRules>,
    /// One lock per upload session in use, so two requests never append to
    /// the same session at once while different sessions never wait on each other.
    upload_locks: KeyedLocks,
    /// One lock per repository whose tags are being changed, so a tag's
    /// check (is it a version already taken?) and its move are one step.
    tag_locks: KeyedLocks,
    /// Garbage collection: one run at a time, and the last report.
    gc: Arc<gc::GcState>,
    /// The grace period of garbage collection, which a look at a blob or
    /// manifest renews (after half of it has passed).
    gc_grace: Duration,
    /// Dropped with the last clone: tells the server the index is closed.
    _release: Arc<ReleaseGuard>,
}

/// The garbage collection grace period unless configured: far longer than
/// any pause between a client finding a blob present and pushing the
/// manifest that references it.
pub const DEFAULT_GC_GRACE: Duration = Duration::from_secs(60 * 60);

/// The rules a registry works under: how it treats packages, the signature
/// policies, the lifecycle rules, and the webhooks it records events for.
pub(crate) struct Rules {
    /// How packages are treated.
    pub(crate) packages: PackagePolicy,
    /// The signature policies.
    pub(crate) trust: Trust,
    /// The retention policies, tag immutability rules and quotas.
    pub(crate) lifecycle: LifecycleRules,
    /// The webhooks in force and the events recorded for them.
    pub(crate) events: Events,
}

impl Registry {
    /// A registry over `index`, `blobs` and `catalogue`, under `rules`;
    /// `release` is dropped with the last clone.
    pub(crate) fn new(
        index: Arc<dyn MetadataIndex>,
        blobs: BlobStore,
        catalogue: Arc<dyn Catalogue>,
        rules: Rules,
        release: ReleaseGuard,
    ) -> Self {
        let Rules {
            packages,
            trust,
            lifecycle,
            events,
        } = rules;
        Registry {
            index,
            blobs,
            catalogue,
            policy: Arc::new(packages),
            trust: Arc::new(trust),
            events: Arc::new(events),
            lifecycle: Arc::new(lifecycle),
            upload_locks: KeyedLocks::default(),
            tag_locks: KeyedLocks::default(),
            gc: Arc::default(),
            gc_grace: DEFAULT_GC_GRACE,
            _release: Arc::new(release),
        }
    }

    /// This registry with garbage collection's grace period set to `grace`
    /// (the default is [`DEFAULT_GC_GRACE`]).
    pub(crate) fn with_gc_grace(mut self, grace: Duration) -> Self {
        self.gc_grace = grace;
        self
    }

    /// Waits for, and holds, the lock of upload session `id`.
    async fn lock_upload(&self, id: &str) -> OwnedMutexGuard<()> {
        self.upload_locks.lock(id).await
    }
}

/// Async locks by name, created on first use and forgotten when unused.
#[derive(Clone, Default)]
struct KeyedLocks(Arc<std::sync::Mutex<HashMap<String, Weak<Mutex<()>>>>>);

impl KeyedLocks {
    /// Waits for, and holds, the lock named `key`.
    async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.retain(|_, lock| lock.strong_count() > 0);
            match locks.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(Mutex::new(()));
                    locks.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// Signals, when dropped, that the registry it belongs to is gone.
pub(crate) struct ReleaseGuard(Option<oneshot::Sender<()>>);

impl ReleaseGuard {
    /// A guard, and the receiver that fires when it is dropped.
    pub(crate) fn new() -> (Self, oneshot::Receiver<()>) {
        let (sender, receiver) = oneshot::channel();
        (ReleaseGuard(Some(sender)), receiver)
    }
}

impl Drop for ReleaseGuard {
    fn drop(&mut self) {
        if let Some(sender) = self.0.take() {
            let _ = sender.send(());
        }
    }
}
