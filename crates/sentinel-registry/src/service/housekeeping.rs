//! Housekeeping: expiring idle upload sessions, and sweeping upload bytes
//! that no session owns.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sentinel_index::IndexError;

use super::{Registry, RegistryError, StoredUpload, UploadSession, now};

/// Upload sessions idle for this long are abandoned (their parts deleted).
pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);
/// Upload bytes that no session owns are deleted once they have not changed
/// for this long. A monolithic push has no session while it writes; an hour
/// without a single byte arriving is far beyond any client's patience.
pub const ORPHANED_UPLOAD_GRACE: Duration = Duration::from_secs(60 * 60);

/// Whether `session` (`None` if its record could not be read) changed at
/// `cutoff` or later.
fn is_fresh(session: Option<&UploadSession>, cutoff: u64) -> bool {
    session.is_some_and(|session| session.updated_at >= cutoff)
}

impl Registry {
    /// Abandons every upload session idle for longer than `max_idle`, and any
    /// whose record cannot be read; returns how many went.
    pub async fn expire_uploads(&self, max_idle: Duration) -> Result<usize, RegistryError> {
        let cutoff = now().saturating_sub(max_idle.as_secs());
        let mut expired = 0;
        for listed in self.index.uploads().await? {
            if is_fresh(listed.session.as_ref(), cutoff) {
                continue;
            }
            let id = listed.id;
            // Decide again under the session's lock: a request may have
            // touched it since the listing.
            let _guard = self.lock_upload(&id).await;
            let current = match self.index.upload(&id).await {
                Ok(None) => continue,
                Ok(Some(session)) => Some(session),
                Err(IndexError::Corrupt(_)) => None,
                Err(e) => return Err(e.into()),
            };
            if is_fresh(current.as_ref(), cutoff) {
                continue;
            }
            // An unreadable record goes too, and its bytes with it: they are
            // found by the session's id alone.
            self.blobs.discard(&id).await;
            self.index.delete_upload(&id).await?;
            expired += 1;
        }
        Ok(expired)
    }

    /// Uploads with bytes in storage but no session in the index (left by a
    /// crash, or by a failure whose cleanup failed too), among those whose
    /// bytes have not changed for `grace`.
    ///
    /// A monolithic push writes bytes without ever having a session, so only
    /// a `grace` longer than any pause in a push keeps one in progress off the
    /// list; [`Duration::ZERO`] lists every orphan (for `fsck`, which runs
    /// with the server stopped).
    pub async fn orphaned_uploads(
        &self,
        grace: Duration,
    ) -> Result<Vec<StoredUpload>, RegistryError> {
        // Storage first, then the index: a session started in between has no
        // bytes in the first listing, and is in the second.
        let stored = self.blobs.stored_uploads().await?;
        let sessions: HashSet<String> = self
            .index
            .uploads()
            .await?
            .into_iter()
            .map(|listed| listed.id)
            .collect();
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
        Ok(stored
            .into_iter()
            .filter(|upload| !sessions.contains(&upload.id) && upload.modified <= cutoff)
            .collect())
    }

    /// Deletes the bytes of every upload [`Registry::orphaned_uploads`] lists
    /// for `grace`; returns how many uploads went.
    pub async fn sweep_orphaned_uploads(&self, grace: Duration) -> Result<usize, RegistryError> {
        let orphans = self.orphaned_uploads(grace).await?;
        for orphan in &orphans {
            self.blobs.discard(&orphan.id).await;
        }
        Ok(orphans.len())
    }
}
