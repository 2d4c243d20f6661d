//! Whether the registry can serve: each dependency checked with a short
//! timeout (the index answers a read; the blob store takes a small write,
//! read and delete; the disk under the data directory and local blobs has
//! room and takes a file), at most once per interval, the last result
//! answered in between so that probes never pile up I/O. And the figures
//! the storage gauges show.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use sentinel_oci::Digest;
use sentinel_storage::StoredBlobs;
use tokio::sync::Notify;

use super::{Registry, RegistryError};
use crate::settings::DiskFloor;

/// How long one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// The file the disk check creates and removes in the data directory.
const DISK_PROBE: &str = ".readiness-probe";

impl Registry {
    /// Reads one record of the index.
    async fn check_index(&self) -> Result<(), RegistryError> {
        self.index.blob(&Digest::sha256(b"")).await?;
        Ok(())
    }

    /// Writes, reads and deletes a small object in the blob store.
    async fn check_blob_store(&self) -> Result<(), RegistryError> {
        Ok(self.blobs.probe().await?)
    }

    /// The blobs stored and their bytes (a listing of the whole store), and
    /// the upload sessions open.
    pub(crate) async fn usage(&self) -> Result<(StoredBlobs, usize), RegistryError> {
        let blobs = self.blobs.usage().await?;
        let sessions = self.index.uploads().await?.len();
        Ok((blobs, sessions))
    }

    /// Where blobs are stored, when on local disk.
    pub(crate) fn local_blob_root(&self) -> Option<PathBuf> {
        self.blobs.local_root().map(PathBuf::from)
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    /// What was checked: `index`, `blob_store`, `disk`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub latency_ms: f64,
    /// Why it failed, without paths or other details of the host.
    pub error: Option<String>,
}

/// The outcome of every check, run together.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    /// Each check, in a fixed order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub(crate) fn ready(&self) -> bool {
        self.checks.iter().all(|check| check.ok)
    }
}

/// Runs the readiness checks at most once per interval.
pub(crate) struct Readiness {
    checks: Arc<Checks>,
}

/// What the checks need, and their last result.
struct Checks {
    registry: Registry,
    data_dir: PathBuf,
    floor: DiskFloor,
    interval: Duration,
    last: ArcSwapOption<(Instant, Arc<Report>)>,
    refreshing: AtomicBool,
    refreshed: Notify,
}

/// How long a caller waits for checks in progress before it takes the last
/// result instead: a probe answers promptly even when storage is slow.
const WAIT_FOR_FRESH: Duration = Duration::from_millis(20);

impl Readiness {
    /// Checks of `registry` and of the disk under `data_dir` (and under
    /// local blobs), which must keep `floor` free; results are reused for
    /// `interval`.
    pub(crate) fn new(
        registry: Registry,
        data_dir: PathBuf,
        floor: DiskFloor,
        interval: Duration,
    ) -> Readiness {
        Readiness {
            checks: Arc::new(Checks {
                registry,
                data_dir,
                floor,
                interval,
                last: ArcSwapOption::empty(),
                refreshing: AtomicBool::new(false),
                refreshed: Notify::new(),
            }),
        }
    }

    /// The last report if younger than the interval. Otherwise the checks
    /// run again (on their own task, one run at a time), and their report is
    /// answered if it comes within [`WAIT_FOR_FRESH`], else the last one
    /// (the very first report is always waited for).
    pub(crate) async fn report(&self) -> Arc<Report> {
        let checks = &self.checks;
        loop {
            let last = checks.last.load_full();
            if let Some(last) = &last
                && last.0.elapsed() < checks.interval
            {
                return Arc::clone(&last.1);
            }
            let refreshed = checks.refreshed.notified();
            tokio::pin!(refreshed);
            refreshed.as_mut().enable();
            if !checks.refreshing.swap(true, Ordering::AcqRel) {
                let checks = Arc::clone(checks);
                tokio::spawn(async move {
                    let report = Arc::new(checks.run().await);
                    checks.last.store(Some(Arc::new((Instant::now(), report))));
                    checks.refreshing.store(false, Ordering::Release);
                    checks.refreshed.notify_waiters();
                });
            }
            match last {
                Some(last) => {
                    let _ = tokio::time::timeout(WAIT_FOR_FRESH, refreshed).await;
                    let newest = checks.last.load_full().unwrap_or(last);
                    return Arc::clone(&newest.1);
                }
                None => refreshed.await,
            }
        }
    }
}

impl Checks {
    async fn run(&self) -> Report {
        let (index, blob_store, disk) = tokio::join!(
            timed("index", self.registry.check_index()),
            timed("blob_store", self.registry.check_blob_store()),
            timed("disk", self.check_disk()),
        );
        let report = Report {
            checks: vec![index, blob_store, disk],
        };
        for check in report.checks.iter().filter(|check| !check.ok) {
            tracing::warn!(
                check = check.name,
                error = check.error.as_deref().unwrap_or(""),
                "readiness check failed"
            );
        }
        report
    }

    /// Free space above the floor under the data directory and local blobs,
    /// and a file can be made in the data directory.
    async fn check_disk(&self) -> Result<(), DiskError> {
        let mut places = vec![self.data_dir.clone()];
        places.extend(self.registry.local_blob_root());
        let floor = self.floor;
        let probe = self.data_dir.join(DISK_PROBE);
        tokio::task::spawn_blocking(move || {
            for place in &places {
                let stats = rustix::fs::statvfs(place).map_err(std::io::Error::from)?;
                let block = stats.f_frsize;
                let available = stats.f_bavail.saturating_mul(block);
                let total = stats.f_blocks.saturating_mul(block);
                if floor.is_below(available, total) {
                    return Err(DiskError::Low {
                        available,
                        floor: floor_text(floor),
                    });
                }
            }
            std::fs::write(&probe, b"ready")?;
            std::fs::remove_file(&probe)?;
            Ok(())
        })
        .await
        .map_err(|_| DiskError::Io(std::io::Error::other("the check did not finish")))?
    }
}

/// Why the disk is not ready.
#[derive(Debug, thiserror::Error)]
enum DiskError {
    /// Less free space than the floor.
    #[error("{available} bytes free, below the floor of {floor}")]
    Low {
        /// Bytes free.
        available: u64,
        /// The floor, as configured.
        floor: String,
    },
    /// A file could not be made or removed, or the file system not asked.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn floor_text(floor: DiskFloor) -> String {
    match floor {
        DiskFloor::Bytes(bytes) => format!("{bytes} bytes"),
        DiskFloor::Percent(percent) => format!("{percent}%"),
    }
}

/// Runs `check` within [`CHECK_TIMEOUT`], timing it.
async fn timed<E: std::error::Error + 'static>(
    name: &'static str,
    check: impl Future<Output = Result<(), E>>,
) -> Check {
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let latency_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(error)) => {
            tracing::debug!(check = name, error = %crate::describe(&error), "readiness check failed");
            Some(public_reason(&error))
        }
        Err(_) => Some(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    Check {
        name,
        ok: error.is_none(),
        latency_ms,
        error,
    }
}

/// What may be shown of `error` to anyone: the operating system's reason
/// (which names no path) if an I/O error is among its causes, or this
/// module's own message; never a backend's message, which may name paths,
/// buckets or hosts.
fn public_reason(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(disk) = error.downcast_ref::<DiskError>()
        && let DiskError::Low { .. } = disk
    {
        return disk.to_string();
    }
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return io.to_string();
        }
        cause = current.source();
    }
    "failed (the server's log has the details)".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_no_paths() {
        let io = std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem);
        let wrapped = RegistryError::from(sentinel_storage::StorageError::Io(io));
        let reason = public_reason(&wrapped);
        assert!(!reason.contains('/'), "{reason}");
        assert!(!reason.is_empty());
        let low = DiskError::Low {
            available: 10,
            floor: "5%".into(),
        };
        assert_eq!(public_reason(&low), "10 bytes free, below the floor of 5%");
    }
}
