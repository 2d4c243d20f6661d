//! Where a download's bytes go: a hashing thread and a writing thread, each
//! fed by its own bounded channel, so receiving from the network, hashing and
//! writing the file run at the same time instead of one after another.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sentinel_oci::{Digest, DigestAlgorithm, Digester};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::ClientError;

/// Chunks in flight per worker (network chunks are up to a few hundred KiB).
const QUEUE_DEPTH: usize = 64;
/// The write buffer in front of the file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// The writer flushes data to the disk every this many bytes while the
/// download goes on, so the final fsync has little left to wait for.
const SYNC_EVERY: u64 = 16 * 1024 * 1024;

/// One instruction to a worker.
enum Piece {
    /// More bytes, in order.
    Data(Bytes),
    /// Forget everything so far: the download starts again from byte 0.
    Restart,
}

/// A download's destination file and hash, filled by two threads.
pub(crate) struct DownloadSink {
    path: PathBuf,
    to_hasher: mpsc::Sender<Piece>,
    to_writer: mpsc::Sender<Piece>,
    hasher: JoinHandle<Digester>,
    writer: JoinHandle<std::io::Result<File>>,
}

impl DownloadSink {
    /// Starts the two workers on `file` (at `path`, for error messages).
    pub(crate) fn start(file: File, path: &Path, algorithm: DigestAlgorithm) -> DownloadSink {
        let (to_hasher, mut hasher_queue) = mpsc::channel::<Piece>(QUEUE_DEPTH);
        let (to_writer, mut writer_queue) = mpsc::channel::<Piece>(QUEUE_DEPTH);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut digester = Digester::new(algorithm);
            while let Some(piece) = hasher_queue.blocking_recv() {
                match piece {
                    Piece::Data(bytes) => digester.update(&bytes),
                    Piece::Restart => digester = Digester::new(algorithm),
                }
            }
            digester
        });
        let writer = tokio::task::spawn_blocking(move || {
            let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
            let mut unsynced = 0u64;
            while let Some(piece) = writer_queue.blocking_recv() {
                match piece {
                    Piece::Data(bytes) => {
                        out.write_all(&bytes)?;
                        unsynced += bytes.len() as u64;
                        if unsynced >= SYNC_EVERY {
                            out.flush()?;
                            out.get_ref().sync_data()?;
                            unsynced = 0;
                        }
                    }
                    Piece::Restart => {
                        out.flush()?;
                        out.get_mut().set_len(0)?;
                        out.get_mut().seek(SeekFrom::Start(0))?;
                    }
                }
            }
            out.into_inner().map_err(|error| error.into_error())
        });
        DownloadSink {
            path: path.to_path_buf(),
            to_hasher,
            to_writer,
            hasher,
            writer,
        }
    }

    /// Hands the next bytes to both workers.
    pub(crate) async fn write(&mut self, bytes: Bytes) -> Result<(), ClientError> {
        self.send(Piece::Data(bytes.clone()), Piece::Data(bytes))
            .await
    }

    /// Starts the file and the hash again from byte 0.
    pub(crate) async fn restart(&mut self) -> Result<(), ClientError> {
        self.send(Piece::Restart, Piece::Restart).await
    }

    async fn send(&mut self, to_hasher: Piece, to_writer: Piece) -> Result<(), ClientError> {
        // A worker only stops early when writing failed: report its error.
        if self.to_writer.send(to_writer).await.is_err()
            || self.to_hasher.send(to_hasher).await.is_err()
        {
            return Err(self.worker_failure().await);
        }
        Ok(())
    }

    async fn worker_failure(&mut self) -> ClientError {
        let (closed_writer, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.to_writer, closed_writer));
        match (&mut self.writer).await {
            Ok(Err(source)) => ClientError::io(&self.path, source),
            Ok(Ok(_)) => ClientError::io(
                &self.path,
                std::io::Error::other("the writing thread stopped"),
            ),
            Err(join) => ClientError::io(&self.path, std::io::Error::other(join)),
        }
    }

    /// Waits for both workers: the digest of everything written, and the
    /// file with every byte handed to the operating system (not yet synced).
    pub(crate) async fn finish(self) -> Result<(Digest, File), ClientError> {
        let DownloadSink {
            path,
            to_hasher,
            to_writer,
            hasher,
            writer,
        } = self;
        drop(to_hasher);
        drop(to_writer);
        let io = |source| ClientError::io(&path, source);
        let file = writer
            .await
            .map_err(|join| io(std::io::Error::other(join)))?
            .map_err(io)?;
        let digester = hasher
            .await
            .map_err(|join| io(std::io::Error::other(join)))?;
        Ok((digester.finish(), file))
    }
}
