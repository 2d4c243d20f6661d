//! The limit on local uploads' blocking jobs.

use std::io;
use std::num::NonZeroUsize;
#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinHandle};

/// The fewest upload jobs allowed to run at once, whatever the core count:
/// one upload alone runs a hashing, a writing and a flushing job together.
const MIN_UPLOAD_JOBS: usize = 4;

/// The limit shared by every local upload store in the process: twice the
/// available cores (at least [`MIN_UPLOAD_JOBS`]) blocking jobs at once.
static PROCESS_UPLOAD_JOBS: LazyLock<Arc<UploadJobs>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    Arc::new(UploadJobs::new((2 * cores).max(MIN_UPLOAD_JOBS)))
});

/// Runs local uploads' blocking work on Tokio's blocking pool, at most a
/// fixed number of jobs at a time.
///
/// A job takes a permit before it is spawned and gives it back when it ends
/// (or is dropped unrun, when the runtime shuts down), so the count covers
/// the jobs that run or wait for a thread, and nothing else: whoever spawned
/// a job may go away meanwhile, the job still ends and frees its permit. No
/// job ever waits for another one or for a client, and no one holds a permit
/// except a spawned job, so the limit cannot deadlock.
#[derive(Debug)]
pub(crate) struct UploadJobs {
    /// One per job allowed to run.
    permits: Arc<Semaphore>,
    /// Jobs running now, counted for tests.
    #[cfg(test)]
    running: AtomicUsize,
    /// The most jobs ever seen running at once, for tests.
    #[cfg(test)]
    peak: AtomicUsize,
}

/// Counts a job as running (for tests) until dropped.
#[cfg(test)]
struct RunningJob(Arc<UploadJobs>);

#[cfg(test)]
impl RunningJob {
    /// Counts a job starting, and the peak.
    fn start(jobs: Arc<UploadJobs>) -> Self {
        let now = jobs.running.fetch_add(1, Ordering::SeqCst) + 1;
        jobs.peak.fetch_max(now, Ordering::SeqCst);
        RunningJob(jobs)
    }
}

#[cfg(test)]
impl Drop for RunningJob {
    /// Counts the job ended.
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl UploadJobs {
    /// A limit of `jobs` at once (at least one).
    pub(crate) fn new(jobs: usize) -> Self {
        UploadJobs {
            permits: Arc::new(Semaphore::new(jobs.max(1))),
            #[cfg(test)]
            running: AtomicUsize::new(0),
            #[cfg(test)]
            peak: AtomicUsize::new(0),
        }
    }

    /// The limit every local upload store in the process shares.
    pub(crate) fn process() -> Arc<Self> {
        Arc::clone(&PROCESS_UPLOAD_JOBS)
    }

    /// The most jobs seen running at once.
    #[cfg(test)]
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Spawns `job` on the blocking pool once fewer than the limit's jobs are
    /// running (waiting for that holds no thread). The job runs to its end
    /// even if the returned handle is dropped.
    pub(super) async fn spawn<T, F>(self: &Arc<Self>, job: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the upload job semaphore is never closed");
        #[cfg(test)]
        let jobs = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let result = {
                #[cfg(test)]
                let _running = RunningJob::start(jobs);
                job()
            };
            drop(permit);
            result
        })
    }

    /// Runs `job` as [`UploadJobs::spawn`] does and waits for its result.
    pub(super) async fn run<T, F>(self: &Arc<Self>, job: F) -> io::Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(job).await.await.map_err(joined)
    }
}

/// A job that panicked, or was dropped unrun by a runtime shutting down, as an I/O error.
pub(super) fn joined(error: JoinError) -> io::Error {
    io::Error::other(error)
}
