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
//! Written data is handed to the disk every 4 MiB by a
//! background flush, so the fsync before the answer finds little left to do.

mod jobs;
mod lines;
mod part_file;
#[cfg(test)]
mod tests;
mod write;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sentinel_oci::{Digest, DigestAlgorithm, Digester};

pub(crate) use jobs::UploadJobs;
use sentinel_durable::{create_dir_durably, sync_dir};

use crate::error::StorageError;
use crate::upload::{StoredUpload, UploadBackend, UploadBody, UploadProgress};

/// The request task stops reading the body while this many bytes wait to be
/// hashed or written: an upload's buffered data is bounded by about this,
/// plus a chunk. Having stopped, it is woken once half as many wait, not at
/// every chunk processed.
const READ_AHEAD: usize = 8 * 1024 * 1024;
/// Bytes read back and hashed by one job when an upload's digest is
/// computed from its file, so a large upload does not hold a job for long.
const DIGEST_JOB: u64 = 16 * 1024 * 1024;
/// Read buffer for hashing an upload's file.
const DIGEST_BUFFER: usize = 1024 * 1024;

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
        self.root.join(crate::store::blob_path(digest).as_ref())
    }

    /// Syncs stored blob `digest` and every directory from its own up to the
    /// storage root, so the blob and the entries naming it survive a crash.
    async fn make_durable(&self, digest: &Digest) -> Result<(), StorageError> {
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
}

#[async_trait]
impl UploadBackend for LocalUploads {
    async fn append(
        &self,
        id: &str,
        progress: &mut UploadProgress,
        body: UploadBody,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.write_part(id, progress, body, expected).await
    }

    /// The digest of the session's bytes under `algorithm`, read back from
    /// disk a few MiB per job.
    async fn digest(
        &self,
        id: &str,
        progress: &UploadProgress,
        algorithm: DigestAlgorithm,
    ) -> Result<Digest, StorageError> {
        let mut hasher = Digester::new(algorithm);
        let length = progress.offset;
        if length == 0 {
            return Ok(hasher.finish());
        }
        let path = self.upload_path(id);
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

    /// Whether blob `digest` is stored, syncing it (and the directories
    /// leading to it) if it is.
    async fn holds(&self, digest: &Digest) -> Result<bool, StorageError> {
        // Most blobs pushed are new: learn that without waiting for an
        // upload job.
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        match self.make_durable(digest).await {
            Ok(()) => Ok(true),
            Err(StorageError::Missing(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Publishes the session's bytes as blob `digest`: cut to the recorded
    /// length, renamed into place, directory synced.
    async fn publish(
        &self,
        id: &str,
        progress: &UploadProgress,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let source = self.upload_path(id);
        let target = self.blob_path(digest);
        let length = progress.offset;
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
    async fn discard(&self, id: &str) -> Result<(), StorageError> {
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
            .await??;
        Ok(())
    }

    /// Every entry under `uploads/`, with its modification time.
    async fn stored(&self) -> Result<Vec<StoredUpload>, StorageError> {
        let uploads = self.root.join("uploads");
        Ok(self
            .jobs
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
            .await??)
    }

    /// What is wrong with the session's stored bytes, if anything.
    async fn check(
        &self,
        id: &str,
        progress: &UploadProgress,
    ) -> Result<Vec<String>, StorageError> {
        if progress.offset == 0 {
            return Ok(Vec::new());
        }
        let path = self.upload_path(id);
        let offset = progress.offset;
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
        Ok(problem.into_iter().collect())
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
