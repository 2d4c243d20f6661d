//! Housekeeping of `<root>/ingest/`: the leases that tell a garbage collection
//! in another process which fresh blobs are still being assembled into a
//! manifest, and the removal of files abandoned by crashed writers.
//!
//! Every open store holds a lease: a file `ingest/lease-<uuid>` that it keeps
//! exclusively locked for its lifetime. A blob written (or re-written) while
//! a lease is held is newer than the lease file, so a collection run by
//! another store leaves alone every unreferenced blob at least as new as the
//! oldest live lease. A lease whose lock can be taken belongs to a process
//! that is gone, and is removed.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::durable::{TempPath, is_not_found};
use crate::error::{IoContext, LocalStoreError};
use crate::paths::LayoutPaths;

/// The name prefix of lease files.
const LEASE_PREFIX: &str = "lease";
/// How old an abandoned temporary file must be before `open` removes it.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A lease held by one open store; released and removed when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    path: PathBuf,
    _file: File,
}

impl Lease {
    /// Creates and locks a new lease file.
    pub(crate) fn acquire(paths: &LayoutPaths) -> Result<Self, LocalStoreError> {
        // The file is locked before it gets its lease name, so no other store
        // ever sees an unlocked lease of a live process.
        let pending = TempPath::new(paths.fresh_ingest("pending"));
        let file = File::create_new(pending.path()).at("create", pending.path())?;
        file.lock().at("lock", pending.path())?;
        let path = paths.fresh_ingest(LEASE_PREFIX);
        fs::rename(pending.path(), &path).at("rename into place", &path)?;
        pending.keep();
        Ok(Lease { path, _file: file })
    }

    /// The lease file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Nothing can be reported from a destructor; a lease left behind is
        // unlocked once this process's handle closes, and is then removed by
        // the next store that looks at it.
        let _ = fs::remove_file(&self.path);
    }
}

/// What a look at one lease file found.
enum LeaseState {
    /// Its process holds it; it was created at this time.
    Live(SystemTime),
    /// Its process is gone (the file has been removed) or it vanished meanwhile.
    Gone,
}

/// Checks one lease file, removing it if its process is gone.
fn inspect_lease(path: &Path) -> Result<LeaseState, LocalStoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if is_not_found(&e) => return Ok(LeaseState::Gone),
        Err(e) => return Err(LocalStoreError::io("open", path, e)),
    };
    match file.try_lock() {
        Ok(()) => {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(LocalStoreError::io("remove", path, e)),
            }
            Ok(LeaseState::Gone)
        }
        Err(TryLockError::WouldBlock) => {
            let created = file
                .metadata()
                .and_then(|m| m.modified())
                .at("read the time of", path)?;
            Ok(LeaseState::Live(created))
        }
        Err(TryLockError::Error(e)) => Err(LocalStoreError::io("lock", path, e)),
    }
}

/// The files in `ingest/` with their names.
fn ingest_files(paths: &LayoutPaths) -> Result<Vec<(String, PathBuf)>, LocalStoreError> {
    let dir = paths.ingest();
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).at("list", &dir)? {
        let entry = entry.at("list", &dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push((name, entry.path()));
    }
    Ok(files)
}

fn is_lease(name: &str) -> bool {
    name.strip_prefix(LEASE_PREFIX)
        .is_some_and(|rest| rest.starts_with('-'))
}

/// The creation time of the oldest live lease other than `own`: unreferenced
/// blobs at least this new may belong to a manifest still being assembled.
pub(crate) fn oldest_foreign_lease(
    paths: &LayoutPaths,
    own: &Path,
) -> Result<Option<SystemTime>, LocalStoreError> {
    let mut oldest: Option<SystemTime> = None;
    for (name, path) in ingest_files(paths)? {
        if !is_lease(&name) || path == own {
            continue;
        }
        if let LeaseState::Live(created) = inspect_lease(&path)? {
            oldest = Some(oldest.map_or(created, |o| o.min(created)));
        }
    }
    Ok(oldest)
}

/// Removes leases of gone processes and temporary files untouched for a day.
pub(crate) fn sweep(paths: &LayoutPaths, now: SystemTime) -> Result<(), LocalStoreError> {
    for (name, path) in ingest_files(paths)? {
        if is_lease(&name) {
            inspect_lease(&path)?;
            continue;
        }
        let metadata = match fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(LocalStoreError::io("inspect", &path, e)),
        };
        if !metadata.is_file() {
            continue;
        }
        let modified = metadata.modified().at("read the time of", &path)?;
        let stale = now
            .duration_since(modified)
            .is_ok_and(|age| age > STALE_AFTER);
        if stale {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(LocalStoreError::io("remove", &path, e)),
            }
        }
    }
    Ok(())
}
