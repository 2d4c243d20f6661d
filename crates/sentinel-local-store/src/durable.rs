//! Durable file operations on the store's own paths (over `sentinel-durable`)
//! and streaming hashes.

use std::io::{ErrorKind, Read};
use std::path::Path;

use sentinel_durable::{FileMode, unique_temp_path};
use sentinel_oci::{Digest, DigestAlgorithm, Digester};

pub(crate) use sentinel_durable::TempPath;

use crate::error::LocalStoreError;

/// The buffer size used for every streaming read and write.
pub(crate) const BUFFER_SIZE: usize = 256 * 1024;

/// Renames `temp` to `target` and makes the rename durable.
pub(crate) fn rename_durably(temp: TempPath, target: &Path) -> Result<(), LocalStoreError> {
    Ok(sentinel_durable::rename_durably(temp, target)?)
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
) -> Result<(), LocalStoreError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = TempPath::new(unique_temp_path(temp_dir, &format!("{name}-"), ".tmp"));
    Ok(sentinel_durable::replace_file(
        temp,
        target,
        bytes,
        FileMode::Default,
    )?)
}

/// Hashes `file` from its current position to its end with `algorithm`,
/// returning the digest and the number of bytes read.
pub(crate) fn hash_stream(
    file: &mut impl Read,
    algorithm: DigestAlgorithm,
    path: &Path,
) -> Result<(Digest, u64), LocalStoreError> {
    let mut digester = Digester::new(algorithm);
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(LocalStoreError::io("read", path, e)),
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
