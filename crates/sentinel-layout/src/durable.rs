//! Durable file operations: temporary files that clean up after themselves,
//! directory fsync, atomic replacement and streaming hashes.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use sentinel_oci::{Digest, DigestAlgorithm, Digester};

use crate::error::{IoContext, LayoutError};

/// The buffer size used for every streaming read and write.
pub(crate) const BUFFER_SIZE: usize = 256 * 1024;

/// A temporary file that is removed when dropped, unless it has been kept.
#[derive(Debug)]
pub(crate) struct TempPath {
    path: PathBuf,
    keep: bool,
}

impl TempPath {
    /// Takes charge of removing `path`.
    pub(crate) fn new(path: PathBuf) -> Self {
        TempPath { path, keep: false }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the file in place: it has been renamed to its final name.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep {
            // Nothing can be reported from a destructor; a file left behind
            // is removed by the next open's stale-ingest sweep.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes a directory's entries (a rename, a new or removed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LayoutError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|handle| handle.sync_all())
            .at("sync directory", dir)
    }
    #[cfg(not(unix))]
    {
        // Other platforms cannot open a directory as a file; their rename is
        // made durable by the file system itself.
        let _ = dir;
        Ok(())
    }
}

/// Renames `temp` to `target` and makes the rename durable.
pub(crate) fn rename_durably(temp: TempPath, target: &Path) -> Result<(), LayoutError> {
    fs::rename(temp.path(), target).at("rename into place", target)?;
    temp.keep();
    match target.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Replaces `target` with `bytes` atomically: a reader sees either the old or
/// the new content, never a mix, and after a crash one of the two survives.
///
/// The temporary file is written in `temp_dir`, which must be on the same
/// file system as `target`.
pub(crate) fn write_atomically(
    temp_dir: &Path,
    target: &Path,
    bytes: &[u8],
) -> Result<(), LayoutError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp =
        TempPath::new(temp_dir.join(format!("{name}-{}.tmp", uuid::Uuid::new_v4().simple())));
    let mut file = File::create_new(temp.path()).at("create", temp.path())?;
    file.write_all(bytes).at("write", temp.path())?;
    file.sync_all().at("sync", temp.path())?;
    drop(file);
    rename_durably(temp, target)
}

/// Hashes `file` from its current position to its end with `algorithm`,
/// returning the digest and the number of bytes read.
pub(crate) fn hash_stream(
    file: &mut impl Read,
    algorithm: DigestAlgorithm,
    path: &Path,
) -> Result<(Digest, u64), LayoutError> {
    let mut digester = Digester::new(algorithm);
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(LayoutError::io("read", path, e)),
        };
        digester.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((digester.finish(), total))
}

/// Whether an I/O error means the file is absent.
pub(crate) fn is_not_found(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::NotFound
}
