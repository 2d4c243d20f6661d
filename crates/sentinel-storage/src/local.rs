//! Uploads on local disk: one file per session, written in place.
//!
//! Object stores cannot append, so elsewhere an upload is a sequence of part
//! objects; on local disk the same upload is one file, `uploads/<id>`, each
//! request body written at the session's offset. Publishing it is then a
//! rename, whatever the number of chunks. While the request task keeps
//! reading the socket, one thread per request hashes and another writes,
//! handing data to the disk as it goes so the final fsync has little left to
//! do: hashing (the largest cost) runs in parallel with everything else.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sentinel_oci::{Digest, DigestAlgorithm, Digester};

use crate::store::{StorageError, check_declared};
use crate::upload::{StoredUpload, UploadState};

/// Chunks queued between the request task and each of its threads; with
/// hyper's chunk sizes this bounds an upload's buffered data to a few MiB.
const QUEUED_CHUNKS: usize = 32;
/// Written data is handed to the disk (flushed in the background) every so
/// many bytes, so the fsync before the answer finds little left to write.
const FLUSH_EVERY: u64 = 4 * 1024 * 1024;

/// Local-disk uploads under `root`.
#[derive(Clone, Debug)]
pub(crate) struct LocalUploads {
    root: PathBuf,
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

/// Feeds chunks into `hasher` until the channel closes.
fn hash_chunks(mut hasher: Digester, chunks: &mut tokio::sync::mpsc::Receiver<Bytes>) -> Digester {
    while let Some(chunk) = chunks.blocking_recv() {
        hasher.update(&chunk);
    }
    hasher
}

/// Writes chunks at `start` in the session's file until the channel closes;
/// then, if the request task marked the body `complete`, makes the bytes
/// durable and returns how many were written. On any failure, and when the
/// body was not complete (it failed, or the request was dropped midway), the
/// file is cut back to `start` (or removed if it was new).
fn write_chunks(
    path: &Path,
    start: u64,
    chunks: &mut tokio::sync::mpsc::Receiver<Bytes>,
    complete: &AtomicBool,
) -> io::Result<u64> {
    let mut file: Option<File> = None;
    let mut position = start;
    let mut flushed = start;
    let mut flusher: Option<std::thread::JoinHandle<io::Result<()>>> = None;
    let result = (|| {
        while let Some(chunk) = chunks.blocking_recv() {
            let target = match &file {
                Some(file) => file,
                None => file.insert(
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(path)?,
                ),
            };
            target.write_all_at(&chunk, position)?;
            position += chunk.len() as u64;
            if position - flushed >= FLUSH_EVERY {
                if let Some(previous) = flusher.take() {
                    previous
                        .join()
                        .map_err(|_| io::Error::other("flush thread panicked"))??;
                }
                let handle = target.try_clone()?;
                flusher = Some(std::thread::spawn(move || handle.sync_data()));
                flushed = position;
            }
        }
        if let Some(previous) = flusher.take() {
            previous
                .join()
                .map_err(|_| io::Error::other("flush thread panicked"))??;
        }
        if !complete.load(Ordering::SeqCst) {
            return Err(io::Error::other("upload aborted"));
        }
        if let Some(file) = &file {
            file.sync_data()?;
            if start == 0 {
                // The file is new: make its directory entry durable too.
                sync_dir(path.parent().unwrap_or(Path::new(".")))?;
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(position - start),
        Err(error) => {
            if let Some(file) = file {
                if start == 0 {
                    let _ = std::fs::remove_file(path);
                } else {
                    let _ = file.set_len(start);
                }
            }
            Err(error)
        }
    }
}

impl LocalUploads {
    /// Uploads kept under `root` (the storage directory).
    pub(crate) fn new(root: PathBuf) -> Self {
        LocalUploads { root }
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    /// See [`crate::BlobStore::write_part`].
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
        let uploads = self.root.join("uploads");
        let path = self.upload_path(&state.id);
        let start = state.offset;
        // Set only once the whole body has arrived as declared: if this future
        // is dropped midway, the writer finds it unset and discards the bytes.
        let complete = Arc::new(AtomicBool::new(false));
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let (to_hasher, mut hasher_receiver) = tokio::sync::mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let writer = {
            let complete = Arc::clone(&complete);
            tokio::task::spawn_blocking(move || {
                create_dir_durably(&uploads)?;
                write_chunks(&path, start, &mut receiver, &complete)
            })
        };
        let hashing =
            tokio::task::spawn_blocking(move || hash_chunks(hasher, &mut hasher_receiver));
        let mut body = body;
        let mut received = 0u64;
        let mut writer_gone = false;
        let fed: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StorageError::Body(e.into()))?;
                received += chunk.len() as u64;
                check_declared(expected, received, false)?;
                // If the writer failed (a full disk), keep reading the body so
                // the client gets the error rather than a reset connection.
                if !chunk.is_empty() && !writer_gone {
                    // The hasher never fails; it only stops when its channel closes.
                    let _ = to_hasher.send(chunk.clone()).await;
                    writer_gone = sender.send(chunk).await.is_err();
                }
            }
            check_declared(expected, received, true)
        }
        .await;
        if fed.is_ok() {
            complete.store(true, Ordering::SeqCst);
        }
        drop(sender);
        drop(to_hasher);
        let joined = |e: tokio::task::JoinError| StorageError::Io(io::Error::other(e));
        let written = writer.await.map_err(joined)?;
        let hasher = hashing.await.map_err(joined)?;
        fed?;
        let written = written?;
        if written > 0 {
            state.offset += written;
            state.parts.push(written);
            state.hash_state = hasher.save();
        }
        Ok(written)
    }

    /// The digest of the session's bytes under `algorithm`, read back from disk.
    pub(crate) async fn digest(
        &self,
        state: &UploadState,
        algorithm: DigestAlgorithm,
    ) -> Result<Digest, StorageError> {
        let path = self.upload_path(&state.id);
        let length = state.offset;
        let digest = tokio::task::spawn_blocking(move || -> io::Result<Digest> {
            let mut hasher = Digester::new(algorithm);
            if length > 0 {
                let file = File::open(&path)?;
                let mut buffer = vec![0u8; 1024 * 1024];
                let mut position = 0u64;
                while position < length {
                    let want = buffer.len().min((length - position) as usize);
                    file.read_exact_at(&mut buffer[..want], position)?;
                    hasher.update(&buffer[..want]);
                    position += want as u64;
                }
            }
            Ok(hasher.finish())
        })
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))??;
        Ok(digest)
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
        tokio::task::spawn_blocking(move || -> io::Result<()> {
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
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))??;
        Ok(())
    }

    /// Removes upload `id`'s bytes: its file or, from the layout where local
    /// uploads were part files too, its directory. Absent bytes are no error.
    pub(crate) async fn discard(&self, id: &str) -> io::Result<()> {
        let path = self.upload_path(id);
        let removed = match tokio::fs::symlink_metadata(&path).await {
            Ok(meta) if meta.is_dir() => tokio::fs::remove_dir_all(&path).await,
            Ok(_) => tokio::fs::remove_file(&path).await,
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every entry under `uploads/`, with its modification time.
    pub(crate) async fn stored_uploads(&self) -> io::Result<Vec<StoredUpload>> {
        let uploads = self.root.join("uploads");
        tokio::task::spawn_blocking(move || {
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
        .await
        .map_err(io::Error::other)?
    }

    /// Syncs stored blob `digest` and every directory from its own up to the
    /// storage root, so the blob and the entries naming it survive a crash.
    pub(crate) async fn make_durable(&self, digest: &Digest) -> Result<(), StorageError> {
        let path = self.blob_path(digest);
        let root = self.root.clone();
        let missing = digest.clone();
        tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
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
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))?
    }

    /// What is wrong with the session's stored bytes, if anything.
    pub(crate) async fn check(&self, state: &UploadState) -> Result<Option<String>, StorageError> {
        if state.offset == 0 {
            return Ok(None);
        }
        match tokio::fs::metadata(self.upload_path(&state.id)).await {
            Ok(meta) if meta.len() >= state.offset => Ok(None),
            Ok(meta) => Ok(Some(format!(
                "its file holds {} bytes, {} recorded",
                meta.len(),
                state.offset
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some("its file is missing".into())),
            Err(e) => Err(e.into()),
        }
    }
}
