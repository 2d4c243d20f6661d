//! The session's file as one request writes it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sentinel_durable::{create_dir_durably, sync_dir};

use super::jobs::UploadJobs;

/// Written data is handed to the disk (flushed in the background) every so
/// many bytes, so the fsync before the answer finds little left to write.
const FLUSH_EVERY: u64 = 4 * 1024 * 1024;

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
pub(super) struct PartFile {
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
    pub(super) fn new(path: PathBuf, start: u64, jobs: Arc<UploadJobs>) -> Self {
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
    pub(super) fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Writes `chunk` next. Returns a handle on the file when a background
    /// flush is due. On failure the file is cut back.
    pub(super) fn write(&mut self, chunk: &[u8]) -> io::Result<Option<File>> {
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
    pub(super) fn keep(mut self) -> io::Result<u64> {
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
    pub(super) fn cut_back(&mut self) {
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
