//! Reading blobs out of `blobs/<alg>/<hex>`.

use std::fs::{self, File};
use std::io::Read;

use sentinel_oci::Digest;

use crate::durable::is_not_found;
use crate::error::{IoContext, LocalStoreError};
use crate::paths::LayoutPaths;

/// Opens a blob for reading.
pub(crate) fn open(paths: &LayoutPaths, digest: &Digest) -> Result<File, LocalStoreError> {
    let path = paths.blob(digest);
    File::open(&path).map_err(|e| {
        if is_not_found(&e) {
            LocalStoreError::BlobNotFound {
                digest: digest.clone(),
                path,
            }
        } else {
            LocalStoreError::io("open", path, e)
        }
    })
}

/// A blob's size, or `None` if it is absent.
pub(crate) fn size(paths: &LayoutPaths, digest: &Digest) -> Result<Option<u64>, LocalStoreError> {
    let path = paths.blob(digest);
    match fs::metadata(&path) {
        Ok(metadata) => Ok(Some(metadata.len())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(LocalStoreError::io("inspect", path, e)),
    }
}

/// Reads a whole blob into memory, refusing one larger than `limit` bytes.
pub(crate) fn read_limited(
    paths: &LayoutPaths,
    digest: &Digest,
    limit: u64,
) -> Result<Vec<u8>, LocalStoreError> {
    let file = open(paths, digest)?;
    let path = paths.blob(digest);
    let size = file.metadata().at("inspect", &path)?.len();
    if size > limit {
        return Err(LocalStoreError::BlobTooLarge { path, size, limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // One byte more than the limit reveals a file that grew after the check.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .at("read", &path)?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(LocalStoreError::BlobTooLarge {
            path,
            size: read,
            limit,
        });
    }
    Ok(bytes)
}
