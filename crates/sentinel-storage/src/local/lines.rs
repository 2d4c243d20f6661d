//! The two lines a request body's chunks go down: hashing and writing,
//! each one short blocking job at a time; and the file's background flushes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use sentinel_oci::Digester;
use tokio::sync::Notify;
use tokio::task::{JoinError, JoinHandle};

use super::jobs::{UploadJobs, joined};
use super::part_file::PartFile;

/// Bytes of a request body that one hashing or writing job processes at
/// most (plus a chunk) before it gives its thread and permit back; a job
/// ends sooner when it runs out of chunks.
const JOB_BYTES: usize = 32 * 1024 * 1024;

/// Feeds `chunk` into `hasher` (the hashing line's work; it never stops a job).
pub(super) fn hash_chunk(hasher: &mut Digester, chunk: &Bytes) -> Option<Infallible> {
    hasher.update(chunk);
    None
}

/// Writes `chunk` next in `part` (the writing line's work): stops the job
/// when a flush falls due (with the file to flush) or the write failed.
pub(super) fn write_chunk(part: &mut PartFile, chunk: &Bytes) -> Option<io::Result<File>> {
    part.write(chunk).transpose()
}

/// The chunks waiting for a line's jobs, shared by the request task, which
/// queues them, and the line's running job, which takes them.
#[derive(Debug)]
struct Queue {
    /// The chunks waiting.
    chunks: Mutex<VecDeque<Bytes>>,
    /// Bytes queued or being processed.
    backlog: AtomicUsize,
    /// Signalled when a job brings the backlog down to `resume` (shared by
    /// both lines, for a request task waiting for room).
    progress: Arc<Notify>,
    /// The backlog at which a request task waiting for room is woken.
    resume: usize,
}

impl Queue {
    /// The chunks, even if a job panicked while holding the lock (a
    /// `VecDeque` is whole between its calls).
    fn chunks(&self) -> std::sync::MutexGuard<'_, VecDeque<Bytes>> {
        self.chunks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs a line's job: takes the queued chunks one by one, as long as there
/// are some (chunks queued meanwhile included) and until [`JOB_BYTES`], and
/// does `work` on each; stops early when `work` returns something.
fn run_line<T, R>(
    queue: &Queue,
    state: &mut T,
    work: fn(&mut T, &Bytes) -> Option<R>,
) -> Option<R> {
    let mut taken = 0;
    while taken < JOB_BYTES {
        let Some(chunk) = queue.chunks().pop_front() else {
            break;
        };
        let outcome = work(state, &chunk);
        taken += chunk.len();
        let before = queue.backlog.fetch_sub(chunk.len(), Ordering::SeqCst);
        if before > queue.resume && before - chunk.len() <= queue.resume {
            queue.progress.notify_one();
        }
        if outcome.is_some() {
            return outcome;
        }
    }
    None
}

/// A request body's chunks, processed in order by one job at a time: the
/// hashing line, or the writing line. A job takes the line's state (the
/// hasher, or the file) and processes chunks while there are some, chunks
/// queued while it runs included, so a steady body keeps one job going
/// rather than starting one per chunk; when the queue is empty it ends and
/// hands the state back, and the next chunk starts a new one. So a job
/// never waits for the network.
pub(super) struct Line<T, R> {
    /// The state, while no job holds it (and for good, if a job died with it).
    pub(super) state: Option<T>,
    /// The chunks waiting, shared with the running job.
    queue: Arc<Queue>,
    /// The job running, if any.
    job: Option<JoinHandle<(T, Option<R>)>>,
    /// What a job does with each chunk.
    work: fn(&mut T, &Bytes) -> Option<R>,
}

impl<T: Send + 'static, R: Send + 'static> Line<T, R> {
    /// An idle line with nothing queued, signalling `progress` when its
    /// backlog comes down to `resume`.
    pub(super) fn new(
        state: T,
        work: fn(&mut T, &Bytes) -> Option<R>,
        progress: Arc<Notify>,
        resume: usize,
    ) -> Self {
        Line {
            state: Some(state),
            queue: Arc::new(Queue {
                chunks: Mutex::new(VecDeque::new()),
                backlog: AtomicUsize::new(0),
                progress,
                resume,
            }),
            job: None,
            work,
        }
    }

    /// Queues `chunk` (for the running job, or the next).
    pub(super) fn push(&self, chunk: Bytes) {
        self.queue.backlog.fetch_add(chunk.len(), Ordering::SeqCst);
        self.queue.chunks().push_back(chunk);
    }

    /// Bytes queued or being processed.
    pub(super) fn backlog(&self) -> usize {
        self.queue.backlog.load(Ordering::SeqCst)
    }

    /// Whether a job is running.
    pub(super) fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Whether a job could start now (given chunks).
    pub(super) fn free(&self) -> bool {
        self.job.is_none() && self.state.is_some()
    }

    /// Whether every chunk queued has been processed.
    pub(super) fn drained(&self) -> bool {
        self.job.is_none() && self.backlog() == 0
    }

    /// Starts a job if chunks are queued and none runs.
    pub(super) async fn start(&mut self, jobs: &Arc<UploadJobs>) {
        if self.job.is_some() || self.backlog() == 0 {
            return;
        }
        let Some(mut state) = self.state.take() else {
            return;
        };
        let queue = Arc::clone(&self.queue);
        let work = self.work;
        let job = jobs
            .spawn(move || {
                let outcome = run_line(&queue, &mut state, work);
                (state, outcome)
            })
            .await;
        self.job = Some(job);
    }

    /// Waits for the running job to end and takes the state back; never
    /// ends if no job runs. Cancel-safe: dropped before it ends, the job
    /// stays.
    pub(super) async fn done(&mut self) -> Result<Option<R>, JoinError> {
        let ended = match &mut self.job {
            Some(job) => job.await,
            None => std::future::pending().await,
        };
        self.job = None;
        let (state, outcome) = ended?;
        self.state = Some(state);
        Ok(outcome)
    }

    /// Waits for the running job, if any, starting no other: its outcome.
    pub(super) async fn settle(&mut self) -> Option<Result<Option<R>, JoinError>> {
        if self.busy() {
            Some(self.done().await)
        } else {
            None
        }
    }
}

impl<T, R> Line<T, R> {
    /// Drops the chunks queued; the running job then ends after its current one.
    pub(super) fn clear(&self) {
        let mut chunks = self.queue.chunks();
        let dropped: usize = chunks.drain(..).map(|chunk| chunk.len()).sum();
        self.queue.backlog.fetch_sub(dropped, Ordering::SeqCst);
    }
}

impl<T, R> Drop for Line<T, R> {
    /// Dropped with chunks queued (the write was dropped or failed): the
    /// running job need not process them.
    fn drop(&mut self) {
        self.clear();
    }
}

impl Line<Digester, Infallible> {
    /// Hashes every chunk queued.
    pub(super) async fn drain(&mut self, jobs: &Arc<UploadJobs>) -> io::Result<()> {
        loop {
            self.start(jobs).await;
            match self.settle().await {
                Some(ended) => {
                    ended.map_err(joined)?;
                }
                None => return Ok(()),
            }
        }
    }
}

/// A request's background flushes: at most one runs; one that falls due
/// meanwhile waits, and writing waits with it, so writing runs at most one
/// flush ahead of the disk.
#[derive(Default)]
pub(super) struct Flushes {
    /// The flush started last, until it is waited for.
    running: Option<JoinHandle<io::Result<()>>>,
    /// The file to flush once the running flush ends.
    pub(super) due: Option<File>,
}

impl Flushes {
    /// Flushes `file` in the background: now if no flush runs, or else once
    /// the running one ends.
    pub(super) async fn request(&mut self, file: File, jobs: &Arc<UploadJobs>) -> io::Result<()> {
        if self
            .running
            .as_ref()
            .is_some_and(|flush| !flush.is_finished())
        {
            self.due = Some(file);
            return Ok(());
        }
        self.wait().await?;
        self.running = Some(jobs.spawn(move || file.sync_data()).await);
        Ok(())
    }

    /// Waits for the running flush while one is due after it; never ends
    /// otherwise. Cancel-safe.
    pub(super) async fn previous(&mut self) -> io::Result<()> {
        let ended = match (&mut self.running, &self.due) {
            (Some(flush), Some(_)) => flush.await,
            _ => std::future::pending().await,
        };
        self.running = None;
        ended.map_err(joined)?
    }

    /// Starts the flush that was due, after [`Flushes::previous`] ended.
    pub(super) async fn start_due(&mut self, jobs: &Arc<UploadJobs>) {
        if let Some(file) = self.due.take() {
            self.running = Some(jobs.spawn(move || file.sync_data()).await);
        }
    }

    /// Waits for the running flush, if any.
    pub(super) async fn wait(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(flush) => flush.await.map_err(joined)?,
            None => Ok(()),
        }
    }
}
