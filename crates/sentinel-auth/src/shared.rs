//! The auth state as the server holds it: a snapshot readable in
//! nanoseconds, refreshed when the file changes, replaced on every update.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::error::AuthError;
use crate::model::AuthState;
use crate::store::{AuthStore, FileStamp};

/// The current auth state of a store, shared between request handlers.
#[derive(Debug)]
pub struct SharedAuth {
    store: AuthStore,
    state: ArcSwap<AuthState>,
    /// The stamp of the file the current state was read from. Held while
    /// reloading or updating, so in-process changes apply in order.
    loaded_stamp: Mutex<Option<FileStamp>>,
}

impl SharedAuth {
    /// Loads the store's state.
    pub fn open(store: AuthStore) -> Result<SharedAuth, AuthError> {
        let stamp = store.stamp();
        let state = store.load()?;
        Ok(SharedAuth {
            store,
            state: ArcSwap::from_pointee(state),
            loaded_stamp: Mutex::new(stamp),
        })
    }

    /// The store behind this state.
    pub fn store(&self) -> &AuthStore {
        &self.store
    }

    /// The current state (a cheap snapshot; it does not change under you).
    pub fn current(&self) -> Arc<AuthState> {
        self.state.load_full()
    }

    /// Reloads the state if the file changed since it was last read (for
    /// example, by the admin CLI in another process). Returns whether it
    /// reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, AuthError> {
        let mut loaded_stamp = self.lock_stamp();
        // Stamp before reading: if the file changes in between, the next
        // call sees a different stamp and reads it again.
        let stamp = self.store.stamp();
        if stamp == *loaded_stamp {
            return Ok(false);
        }
        let state = self.store.load()?;
        self.state.store(Arc::new(state));
        *loaded_stamp = stamp;
        tracing::info!(path = %self.store.path().display(), "reloaded the auth state");
        Ok(true)
    }

    /// Changes the state through [`AuthStore::update`] and makes the new
    /// state current at once.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut AuthState) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        // The stored stamp is left as it was: another process may write
        // between this update and a stamp taken now, so the next
        // `reload_if_changed` re-reads the file instead of trusting one.
        let _ordered = self.lock_stamp();
        let (value, state) = self.store.update(change)?;
        self.state.store(Arc::new(state));
        Ok(value)
    }

    fn lock_stamp(&self) -> MutexGuard<'_, Option<FileStamp>> {
        // The guarded value is a plain stamp; a panic elsewhere cannot leave
        // it half-written.
        self.loaded_stamp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
