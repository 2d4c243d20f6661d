//! Storing one request body in the session's file.

use std::convert::Infallible;
use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_oci::{DigestAlgorithm, Digester};
use tokio::sync::Notify;

use super::LocalUploads;
use super::jobs::{UploadJobs, joined};
use super::lines::{Flushes, Line, hash_chunk, write_chunk};
use super::part_file::PartFile;
use crate::error::{StorageError, check_declared};
use crate::upload::{UploadBody, UploadProgress};

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
    /// Appends `body` to upload `id`'s file at `progress.offset` (see
    /// [`crate::upload::UploadBackend::append`]).
    ///
    /// This task reads the body and queues its chunks on two lines, one
    /// hashing and one writing, each handing what is queued to one job at a
    /// time (see the module documentation); it reads on meanwhile, as long
    /// as less than [`READ_AHEAD`](super::READ_AHEAD) bytes wait for either line. Only a body that
    /// arrives completely, as declared, is kept: whatever fails, and if this
    /// future is dropped midway, the file is cut back to the session's offset
    /// (removed if new). If storing fails (a full disk), the rest of the body
    /// is still read so the client gets the error rather than a reset
    /// connection.
    pub(super) async fn write_part(
        &self,
        id: &str,
        recorded: &mut UploadProgress,
        mut body: UploadBody,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let hasher = Digester::restore(DigestAlgorithm::Sha256, &recorded.hash_state)
            .ok_or_else(|| StorageError::CorruptState(id.to_owned()))?;
        let jobs = &self.jobs;
        let part = PartFile::new(self.upload_path(id), recorded.offset, Arc::clone(jobs));
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
            recorded.offset += written;
            recorded.parts.push(written);
            recorded.hash_state = hasher.save();
        }
        Ok(written)
    }
}
