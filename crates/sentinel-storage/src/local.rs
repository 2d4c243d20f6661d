//! Uploads on local disk: one file per session, written in place.
//!
//! Object stores cannot append, so elsewhere an upload is a sequence of part
//! objects; on local disk the same upload is one file, `uploads/<id>`, each
//! request body written at the session's offset. Publishing it is then a
//! rename, whatever the number of chunks.
//!
//! File I/O blocks, so it runs on Tokio's blocking pool, which is shared with
//! everything else that blocks (`object_store` reads blob files there), and
//! is finite: a thread that waits there for a client that has stopped
//! sending is lost to everyone. So no job here ever waits for the network.
//! The request task reads the body itself and queues its chunks on two
//! lines, one hashing and one writing, and reads on while they work (until
//! [`READ_AHEAD`] bytes wait). Each line runs one short job at a time, which
//! takes the line's state (the hasher, or the file), processes the chunks
//! queued (those queued while it runs too) and, when there are none left,
//! ends and hands the state back; the next chunk starts a new job. A stalled
//! body therefore holds no thread, and only the bytes it has queued until
//! they are processed. And however many clients upload at once, at most
//! [`UploadJobs`]'s limit of these jobs run (or wait for a thread) at any
//! time, so uploads never take the whole pool.
//!
//! Written data is handed to the disk every [`FLUSH_EVERY`] bytes by a
//! background flush, so the fsync before the answer finds little left to do.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sentinel_oci::{Digest, DigestAlgorithm, Digester};
use tokio::sync::{Notify, Semaphore};
use tokio::task::{JoinError, JoinHandle};

use crate::store::{StorageError, check_declared};
use crate::upload::{StoredUpload, UploadState};

/// Bytes of a request body that one hashing or writing job processes at
/// most (plus a chunk) before it gives its thread and permit back; a job
/// ends sooner when it runs out of chunks.
const JOB_BYTES: usize = 32 * 1024 * 1024;
/// The request task stops reading the body while this many bytes wait to be
/// hashed or written: an upload's buffered data is bounded by about this,
/// plus a chunk. Having stopped, it is woken once half as many wait, not at
/// every chunk processed.
const READ_AHEAD: usize = 8 * 1024 * 1024;
/// Written data is handed to the disk (flushed in the background) every so
/// many bytes, so the fsync before the answer finds little left to write.
const FLUSH_EVERY: u64 = 4 * 1024 * 1024;
/// Bytes read back and hashed by one job when an upload's digest is
/// computed from its file, so a large upload does not hold a job for long.
const DIGEST_JOB: u64 = 16 * 1024 * 1024;
/// Read buffer for hashing an upload's file.
const DIGEST_BUFFER: usize = 1024 * 1024;
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
    async fn spawn<T, F>(self: &Arc<Self>, job: F) -> JoinHandle<T>
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
    async fn run<T, F>(self: &Arc<Self>, job: F) -> io::Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(job).await.await.map_err(joined)
    }
}

/// A job that panicked, or was dropped unrun by a runtime shutting down, as an I/O error.
fn joined(error: JoinError) -> io::Error {
    io::Error::other(error)
}

/// Local-disk uploads under `root`.
#[derive(Clone, Debug)]
pub(crate) struct LocalUploads {
    /// The storage directory.
    root: PathBuf,
    /// The limit on blocking jobs that every file operation goes through.
    jobs: Arc<UploadJobs>,
    /// How far a request task reads ahead of its jobs ([`READ_AHEAD`]).
    read_ahead: usize,
}

/// Makes the entries of `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, durably (each new entry's parent is synced).
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durably(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Undoes a request's writes to its session's file when dropped: cuts the
/// file back to `start`, where the request began, or removes it if the
/// request created it (`start` 0). Best effort: a leftover is found again by
/// the next request's length check or by the orphan sweep.
struct CutBack {
    /// The session's file.
    path: PathBuf,
    /// Its length before the request.
    start: u64,
    /// The open file.
    file: File,
}

impl Drop for CutBack {
    /// Cuts the file back (blocking file I/O, so on the blocking pool, or
    /// where no runtime is left to run it).
    fn drop(&mut self) {
        if self.start == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = self.file.set_len(self.start);
        }
    }
}

/// The session's file as one request writes it, from `start`: opened at the
/// first write, flushed in the background as it grows, and kept only by
/// [`PartFile::keep`] once the body has completely arrived. On any failure,
/// and when it is dropped before that (the body failed or was too long, or
/// the request was dropped midway), the file is cut back to `start` (removed
/// if it was new).
#[derive(Debug)]
struct PartFile {
    /// The session's file.
    path: PathBuf,
    /// Where this request's bytes begin.
    start: u64,
    /// Where the next byte goes.
    position: u64,
    /// How far the last flush reached.
    flushed: u64,
    /// `None` until the first write, and again once kept or cut back.
    file: Option<File>,
    /// Runs the cut back when the file is dropped unkept.
    jobs: Arc<UploadJobs>,
}

impl PartFile {
    /// The file at `path`, to be written from `start`.
    fn new(path: PathBuf, start: u64, jobs: Arc<UploadJobs>) -> Self {
        PartFile {
            path,
            start,
            position: start,
            flushed: start,
            file: None,
            jobs,
        }
    }

    /// Whether anything was written (so there is something to keep or cut back).
    fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Writes `chunk` next. Returns a handle on the file when a background
    /// flush is due. On failure the file is cut back.
    fn write(&mut self, chunk: &[u8]) -> io::Result<Option<File>> {
        let written = self.write_at_position(chunk);
        if written.is_err() {
            self.cut_back();
        }
        written
    }

    /// [`PartFile::write`] without the cut back.
    fn write_at_position(&mut self, chunk: &[u8]) -> io::Result<Option<File>> {
        let file = match &self.file {
            Some(file) => file,
            None => {
                if let Some(dir) = self.path.parent() {
                    create_dir_durably(dir)?;
                }
                self.file.insert(
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&self.path)?,
                )
            }
        };
        file.write_all_at(chunk, self.position)?;
        self.position += chunk.len() as u64;
        if self.position - self.flushed < FLUSH_EVERY {
            return Ok(None);
        }
        self.flushed = self.position;
        file.try_clone().map(Some)
    }

    /// Makes the written bytes durable (for a new file, its directory entry
    /// too) and keeps them; returns how many there are. On failure the file
    /// is cut back.
    fn keep(mut self) -> io::Result<u64> {
        let synced = match &self.file {
            None => Ok(()),
            Some(file) => file.sync_data().and_then(|()| {
                if self.start == 0 {
                    // The file is new: make its directory entry durable too.
                    sync_dir(self.path.parent().unwrap_or(Path::new(".")))
                } else {
                    Ok(())
                }
            }),
        };
        match synced {
            Ok(()) => {
                self.file = None;
                Ok(self.position - self.start)
            }
            Err(error) => {
                self.cut_back();
                Err(error)
            }
        }
    }

    /// Cuts the file back now, in this thread (which must be allowed to block).
    fn cut_back(&mut self) {
        if let Some(file) = self.file.take() {
            drop(CutBack {
                path: self.path.clone(),
                start: self.start,
                file,
            });
        }
    }
}

impl Drop for PartFile {
    /// Dropped with bytes written but not kept: the cut back runs as an
    /// upload job, since this may be an async worker. Should the runtime
    /// stop before the job runs, dropping it unrun cuts back there and then;
    /// with no runtime at all, it happens here.
    fn drop(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let cut_back = CutBack {
            path: std::mem::take(&mut self.path),
            start: self.start,
            file,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let jobs = Arc::clone(&self.jobs);
                runtime.spawn(async move {
                    let _ = jobs.run(move || drop(cut_back)).await;
                });
            }
            Err(_) => drop(cut_back),
        }
    }
}

/// Feeds `chunk` into `hasher` (the hashing line's work; it never stops a job).
fn hash_chunk(hasher: &mut Digester, chunk: &Bytes) -> Option<Infallible> {
    hasher.update(chunk);
    None
}

/// Writes `chunk` next in `part` (the writing line's work): stops the job
/// when a flush falls due (with the file to flush) or the write failed.
fn write_chunk(part: &mut PartFile, chunk: &Bytes) -> Option<io::Result<File>> {
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
struct Line<T, R> {
    /// The state, while no job holds it (and for good, if a job died with it).
    state: Option<T>,
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
    fn new(
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
    fn push(&self, chunk: Bytes) {
        self.queue.backlog.fetch_add(chunk.len(), Ordering::SeqCst);
        self.queue.chunks().push_back(chunk);
    }

    /// Bytes queued or being processed.
    fn backlog(&self) -> usize {
        self.queue.backlog.load(Ordering::SeqCst)
    }

    /// Whether a job is running.
    fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Whether a job could start now (given chunks).
    fn free(&self) -> bool {
        self.job.is_none() && self.state.is_some()
    }

    /// Whether every chunk queued has been processed.
    fn drained(&self) -> bool {
        self.job.is_none() && self.backlog() == 0
    }

    /// Starts a job if chunks are queued and none runs.
    async fn start(&mut self, jobs: &Arc<UploadJobs>) {
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
    async fn done(&mut self) -> Result<Option<R>, JoinError> {
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
    async fn settle(&mut self) -> Option<Result<Option<R>, JoinError>> {
        if self.busy() {
            Some(self.done().await)
        } else {
            None
        }
    }
}

impl<T, R> Line<T, R> {
    /// Drops the chunks queued; the running job then ends after its current one.
    fn clear(&self) {
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
    async fn drain(&mut self, jobs: &Arc<UploadJobs>) -> io::Result<()> {
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
struct Flushes {
    /// The flush started last, until it is waited for.
    running: Option<JoinHandle<io::Result<()>>>,
    /// The file to flush once the running flush ends.
    due: Option<File>,
}

impl Flushes {
    /// Flushes `file` in the background: now if no flush runs, or else once
    /// the running one ends.
    async fn request(&mut self, file: File, jobs: &Arc<UploadJobs>) -> io::Result<()> {
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
    async fn previous(&mut self) -> io::Result<()> {
        let ended = match (&mut self.running, &self.due) {
            (Some(flush), Some(_)) => flush.await,
            _ => std::future::pending().await,
        };
        self.running = None;
        ended.map_err(joined)?
    }

    /// Starts the flush that was due, after [`Flushes::previous`] ended.
    async fn start_due(&mut self, jobs: &Arc<UploadJobs>) {
        if let Some(file) = self.due.take() {
            self.running = Some(jobs.spawn(move || file.sync_data()).await);
        }
    }

    /// Waits for the running flush, if any.
    async fn wait(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(flush) => flush.await.map_err(joined)?,
            None => Ok(()),
        }
    }
}

/// A request body as read so far: its length, checked against the declared
/// one as it grows.
struct Intake {
    /// The length the client declared.
    expected: Option<u64>,
    /// Bytes read.
    received: u64,
    /// Set once storing failed: the rest of the body is read but dropped.
    discarding: bool,
}

impl Intake {
    /// Takes the body's next item: a chunk is queued on both of `write`'s
    /// lines (unless discarding); an error, or a chunk past the declared
    /// length, fails.
    fn take<E>(&mut self, item: Result<Bytes, E>, write: &PartWrite) -> Result<(), StorageError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let chunk = item.map_err(|e| StorageError::Body(e.into()))?;
        self.received += chunk.len() as u64;
        check_declared(self.expected, self.received, false)?;
        if !chunk.is_empty() && !self.discarding {
            write.hashing.push(chunk.clone());
            write.writing.push(chunk);
        }
        Ok(())
    }
}

/// One request body being stored: its hashing and writing lines, their
/// background flushes, and the first failure.
struct PartWrite {
    /// Hashes the chunks into the upload's running hash.
    hashing: Line<Digester, Infallible>,
    /// Writes the chunks into the session's file.
    writing: Line<PartFile, io::Result<File>>,
    /// Signalled when either line's backlog comes down to half the read-ahead.
    progress: Arc<Notify>,
    /// The file's background flushes.
    flushes: Flushes,
    /// Why storing failed (a write, a flush, a job that died), if it did.
    failure: Option<io::Error>,
}

impl PartWrite {
    /// Records `error`, unless an earlier failure was recorded.
    fn fail(&mut self, error: io::Error) {
        self.failure.get_or_insert(error);
    }

    /// Bytes read and not yet both hashed and written (the chunks are
    /// shared by the two lines).
    fn backlog(&self) -> usize {
        self.hashing.backlog().max(self.writing.backlog())
    }

    /// Ends the write once the body has been read (`fed` says how that went)
    /// and, if all went well, written. If everything succeeded, makes the
    /// bytes durable while the last chunks are hashed, and returns how many
    /// were written and the hasher after them; otherwise waits for the jobs
    /// still running, cuts the file back, and returns the error (the body's
    /// first).
    async fn finish(
        mut self,
        fed: Result<(), StorageError>,
        jobs: &Arc<UploadJobs>,
    ) -> Result<(u64, Digester), StorageError> {
        let error = match (fed, self.failure.take()) {
            (Err(error), _) => error,
            (Ok(()), Some(error)) => StorageError::Io(error),
            (Ok(()), None) => {
                let PartWrite {
                    mut hashing,
                    mut writing,
                    mut flushes,
                    ..
                } = self;
                let part = writing.state.take();
                let (hashed, kept) = tokio::join!(hashing.drain(jobs), async move {
                    let Some(part) = part else {
                        return Err(io::Error::other("an upload job lost the file"));
                    };
                    let flushed = flushes.wait().await;
                    if !part.is_open() {
                        return flushed.map(|()| 0);
                    }
                    match flushed {
                        // `keep` cuts the file back if it fails.
                        Ok(()) => jobs.run(move || part.keep()).await?,
                        Err(error) => {
                            let mut part = part;
                            let _ = jobs.run(move || part.cut_back()).await;
                            Err(error)
                        }
                    }
                });
                // Should hashing fail once the bytes are kept (a job that
                // panicked), the session does not advance: its next request
                // writes over them, and publishing cuts them off.
                let written = kept?;
                hashed?;
                let hasher = hashing.state.take().ok_or_else(|| {
                    StorageError::Io(io::Error::other("an upload job lost the hash state"))
                })?;
                return Ok((written, hasher));
            }
        };
        self.hashing.clear();
        self.writing.clear();
        self.hashing.settle().await;
        self.writing.settle().await;
        let _ = self.flushes.wait().await;
        if let Some(mut part) = self.writing.state.take()
            && part.is_open()
        {
            // The client is told once the bytes are gone, so its retry
            // cannot race this cut back. Had the job not run (the runtime
            // stopping), dropping it did the cut back.
            let _ = jobs.run(move || part.cut_back()).await;
        }
        Err(error)
    }
}

impl LocalUploads {
    /// Uploads kept under `root` (the storage directory), their blocking
    /// work within the process-wide limit.
    pub(crate) fn new(root: PathBuf) -> Self {
        Self::with_jobs(root, UploadJobs::process(), READ_AHEAD)
    }

    /// Uploads kept under `root`, their blocking work within `jobs`, each
    /// reading at most `read_ahead` bytes ahead of its jobs.
    pub(crate) fn with_jobs(root: PathBuf, jobs: Arc<UploadJobs>, read_ahead: usize) -> Self {
        LocalUploads {
            root,
            jobs,
            read_ahead: read_ahead.max(1),
        }
    }

    /// The file of upload `id`.
    fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// Where blob `digest` is stored.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    /// See [`crate::BlobStore::write_part`].
    ///
    /// This task reads the body and queues its chunks on two lines, one
    /// hashing and one writing, each handing what is queued to one job at a
    /// time (see the module documentation); it reads on meanwhile, as long
    /// as less than [`READ_AHEAD`] bytes wait for either line. Only a body that
    /// arrives completely, as declared, is kept: whatever fails, and if this
    /// future is dropped midway, the file is cut back to the session's offset
    /// (removed if new). If storing fails (a full disk), the rest of the body
    /// is still read so the client gets the error rather than a reset
    /// connection.
    pub(crate) async fn write_part<S, E>(
        &self,
        state: &mut UploadState,
        body: S,
        expected: Option<u64>,
    ) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let hasher = Digester::restore(DigestAlgorithm::Sha256, &state.hash_state)
            .ok_or_else(|| StorageError::CorruptState(state.id.clone()))?;
        let jobs = &self.jobs;
        let part = PartFile::new(self.upload_path(&state.id), state.offset, Arc::clone(jobs));
        let progress = Arc::new(Notify::new());
        let resume = self.read_ahead / 2;
        let mut write = PartWrite {
            hashing: Line::new(hasher, hash_chunk, Arc::clone(&progress), resume),
            writing: Line::new(part, write_chunk, Arc::clone(&progress), resume),
            progress,
            flushes: Flushes::default(),
            failure: None,
        };
        let mut intake = Intake {
            expected,
            received: 0,
            discarding: false,
        };
        let mut body = body;
        let mut ended = false;
        let fed: Result<(), StorageError> = 'feed: loop {
            if write.failure.is_some() && !intake.discarding {
                // Read the rest of the body, but store nothing more.
                intake.discarding = true;
                write.hashing.clear();
                write.writing.clear();
            }
            if write.hashing.free() {
                write.hashing.start(jobs).await;
            }
            if write.writing.free() && write.flushes.due.is_none() {
                write.writing.start(jobs).await;
            }
            if ended && write.writing.drained() && write.flushes.due.is_none() {
                // All written; the rest is hashed while the file is synced.
                break check_declared(expected, intake.received, true);
            }
            let reading = !ended && write.backlog() < self.read_ahead;
            // Whichever comes first: a job's end, a flush's, more body, or
            // (while reading waits for room) the backlog coming down.
            tokio::select! {
                biased;
                hashed = write.hashing.done(), if write.hashing.busy() => {
                    if let Err(error) = hashed {
                        write.fail(joined(error));
                    }
                }
                written = write.writing.done(), if write.writing.busy() => match written {
                    Ok(None) => {}
                    Ok(Some(Ok(file))) => {
                        if let Err(error) = write.flushes.request(file, jobs).await {
                            write.fail(error);
                        }
                    }
                    Ok(Some(Err(error))) => write.fail(error),
                    Err(error) => write.fail(joined(error)),
                },
                flushed = write.flushes.previous(), if write.flushes.due.is_some() => {
                    match flushed {
                        Ok(()) => write.flushes.start_due(jobs).await,
                        Err(error) => {
                            write.flushes.due = None;
                            write.fail(error);
                        }
                    }
                }
                item = body.next(), if reading => match item {
                    None => ended = true,
                    Some(item) => {
                        if let Err(error) = intake.take(item, &write) {
                            break 'feed Err(error);
                        }
                    }
                },
                () = write.progress.notified(), if !ended && !reading => {}
                else => {
                    break 'feed Err(StorageError::Io(io::Error::other(
                        "an upload's write had nothing left to wait for",
                    )));
                }
            }
        };
        let (written, hasher) = write.finish(fed, jobs).await?;
        if written > 0 {
            state.offset += written;
            state.parts.push(written);
            state.hash_state = hasher.save();
        }
        Ok(written)
    }

    /// The digest of the session's bytes under `algorithm`, read back from
    /// disk a few MiB per job.
    pub(crate) async fn digest(
        &self,
        state: &UploadState,
        algorithm: DigestAlgorithm,
    ) -> Result<Digest, StorageError> {
        let mut hasher = Digester::new(algorithm);
        let length = state.offset;
        if length == 0 {
            return Ok(hasher.finish());
        }
        let path = self.upload_path(&state.id);
        let file = Arc::new(self.jobs.run(move || File::open(path)).await??);
        let mut position = 0u64;
        while position < length {
            let end = length.min(position + DIGEST_JOB);
            let file = Arc::clone(&file);
            hasher = self
                .jobs
                .run(move || -> io::Result<Digester> {
                    hash_range(&file, &mut hasher, position, end)?;
                    Ok(hasher)
                })
                .await??;
            position = end;
        }
        Ok(hasher.finish())
    }

    /// Publishes the session's bytes as blob `digest`: cut to the recorded
    /// length, renamed into place, directory synced.
    pub(crate) async fn commit(
        &self,
        state: &UploadState,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let source = self.upload_path(&state.id);
        let target = self.blob_path(digest);
        let length = state.offset;
        self.jobs
            .run(move || -> io::Result<()> {
                if let Some(dir) = source.parent() {
                    create_dir_durably(dir)?;
                }
                let file = OpenOptions::new()
                    .write(true)
                    .create(length == 0)
                    .truncate(false)
                    .open(&source)?;
                // The bytes up to `length` were made durable as they were written;
                // only a cut (bytes of a failed request past the acknowledged end)
                // or a new empty file needs syncing here.
                if file.metadata()?.len() != length {
                    file.set_len(length)?;
                    file.sync_all()?;
                } else if length == 0 {
                    file.sync_all()?;
                }
                let dir = target.parent().unwrap_or(Path::new("."));
                create_dir_durably(dir)?;
                std::fs::rename(&source, &target)?;
                sync_dir(dir)
            })
            .await??;
        Ok(())
    }

    /// Removes upload `id`'s bytes: its file or, from the layout where local
    /// uploads were part files too, its directory. Absent bytes are no error.
    pub(crate) async fn discard(&self, id: &str) -> io::Result<()> {
        let path = self.upload_path(id);
        self.jobs
            .run(move || {
                let removed = match std::fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
                    Ok(_) => std::fs::remove_file(&path),
                    Err(e) => Err(e),
                };
                match removed {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                }
            })
            .await?
    }

    /// Every entry under `uploads/`, with its modification time.
    pub(crate) async fn stored_uploads(&self) -> io::Result<Vec<StoredUpload>> {
        let uploads = self.root.join("uploads");
        self.jobs
            .run(move || {
                let entries = match std::fs::read_dir(&uploads) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                };
                let mut found = Vec::new();
                for entry in entries {
                    let entry = entry?;
                    // Upload ids are UUIDs: a name that is not UTF-8 is none of ours.
                    let Ok(id) = entry.file_name().into_string() else {
                        continue;
                    };
                    let modified = match entry.metadata() {
                        Ok(meta) => meta.modified()?,
                        // Removed since the listing (published or discarded).
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    };
                    found.push(StoredUpload { id, modified });
                }
                Ok(found)
            })
            .await?
    }

    /// Syncs stored blob `digest` and every directory from its own up to the
    /// storage root, so the blob and the entries naming it survive a crash.
    pub(crate) async fn make_durable(&self, digest: &Digest) -> Result<(), StorageError> {
        let path = self.blob_path(digest);
        let root = self.root.clone();
        let missing = digest.clone();
        self.jobs
            .run(move || -> Result<(), StorageError> {
                match File::open(&path) {
                    Ok(file) => file.sync_all()?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(StorageError::Missing(missing));
                    }
                    Err(e) => return Err(e.into()),
                }
                for dir in path.ancestors().skip(1) {
                    sync_dir(dir)?;
                    if dir == root {
                        break;
                    }
                }
                Ok(())
            })
            .await?
    }

    /// What is wrong with the session's stored bytes, if anything.
    pub(crate) async fn check(&self, state: &UploadState) -> Result<Option<String>, StorageError> {
        if state.offset == 0 {
            return Ok(None);
        }
        let path = self.upload_path(&state.id);
        let offset = state.offset;
        let problem = self
            .jobs
            .run(move || match std::fs::metadata(path) {
                Ok(meta) if meta.len() >= offset => Ok(None),
                Ok(meta) => Ok(Some(format!(
                    "its file holds {} bytes, {offset} recorded",
                    meta.len(),
                ))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Ok(Some("its file is missing".into()))
                }
                Err(e) => Err(e),
            })
            .await??;
        Ok(problem)
    }
}

/// Feeds bytes `from..to` of `file` into `hasher`.
fn hash_range(file: &File, hasher: &mut Digester, from: u64, to: u64) -> io::Result<()> {
    let mut buffer = vec![0u8; DIGEST_BUFFER];
    let mut position = from;
    while position < to {
        let want = buffer.len().min((to - position) as usize);
        file.read_exact_at(&mut buffer[..want], position)?;
        hasher.update(&buffer[..want]);
        position += want as u64;
    }
    Ok(())
}
