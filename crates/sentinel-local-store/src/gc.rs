//! Garbage collection: delete the blobs no entry of `index.json` reaches.
//!
//! An entry reaches its manifest; an image manifest reaches its config and
//! layers; an index reaches its child manifests, recursively. A `subject`
//! does not keep its target alive. The caller holds the store lock, so no
//! entry can be recorded while the blobs are swept.

use std::collections::HashSet;
use std::fs;
use std::time::SystemTime;

use sentinel_oci::{Digest, ImageIndex, MAX_MANIFEST_SIZE, ManifestKind};

use crate::blobs;
use crate::durable::is_not_found;
use crate::error::{IoContext, LocalStoreError};
use crate::manifests;
use crate::paths::LayoutPaths;

/// What a garbage collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// How many blobs were deleted.
    pub blobs_removed: usize,
    /// How many bytes those blobs held.
    pub bytes_freed: u64,
    /// How many unreferenced blobs were kept because another open store may
    /// be about to reference them (they were written while it was open).
    pub blobs_in_use: usize,
}

/// Every blob reachable from the entries of `index`.
///
/// A manifest that is absent is skipped (nothing can be found through it);
/// one that cannot be parsed stops the collection, since what it references
/// is unknown and might otherwise be deleted.
pub(crate) fn reachable(
    paths: &LayoutPaths,
    index: &ImageIndex,
) -> Result<HashSet<Digest>, LocalStoreError> {
    let mut reached = HashSet::new();
    let mut pending: Vec<(Digest, Option<String>)> = index
        .manifests
        .iter()
        .map(|e| {
            (
                e.descriptor.digest.clone(),
                Some(e.descriptor.media_type.clone()),
            )
        })
        .collect();
    while let Some((digest, media_type)) = pending.pop() {
        if !reached.insert(digest.clone()) {
            continue;
        }
        if let Some(media_type) = &media_type
            && ManifestKind::from_media_type(media_type).is_none()
        {
            // An entry for something that is not a manifest keeps only itself.
            continue;
        }
        let bytes = match blobs::read_limited(paths, &digest, MAX_MANIFEST_SIZE) {
            Ok(bytes) => bytes,
            Err(LocalStoreError::BlobNotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let parsed = manifests::parse(&digest, media_type.as_deref(), &bytes)?;
        reached.extend(parsed.blobs);
        pending.extend(parsed.manifests.into_iter().map(|child| (child, None)));
    }
    Ok(reached)
}

/// Deletes every blob not in `keep`, except those modified at or after
/// `in_use_since` (the oldest lease of another open store).
pub(crate) fn sweep(
    paths: &LayoutPaths,
    keep: &HashSet<Digest>,
    in_use_since: Option<SystemTime>,
) -> Result<GcReport, LocalStoreError> {
    let mut report = GcReport::default();
    let blobs_dir = paths.blobs();
    for algorithm_dir in fs::read_dir(&blobs_dir).at("list", &blobs_dir)? {
        let algorithm_dir = algorithm_dir.at("list", &blobs_dir)?;
        let algorithm = algorithm_dir.file_name().to_string_lossy().into_owned();
        let dir = algorithm_dir.path();
        if !algorithm_dir.file_type().at("inspect", &dir)?.is_dir() {
            continue;
        }
        for blob in fs::read_dir(&dir).at("list", &dir)? {
            let blob = blob.at("list", &dir)?;
            let hex = blob.file_name().to_string_lossy().into_owned();
            // Files that are not named by a digest are not blobs this store manages.
            let Ok(digest) = format!("{algorithm}:{hex}").parse::<Digest>() else {
                continue;
            };
            if keep.contains(&digest) {
                continue;
            }
            let path = blob.path();
            let metadata = match fs::symlink_metadata(&path) {
                Ok(metadata) => metadata,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(LocalStoreError::io("inspect", path, e)),
            };
            let modified = metadata.modified().at("read the time of", &path)?;
            if in_use_since.is_some_and(|since| modified >= since) {
                report.blobs_in_use += 1;
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.blobs_removed += 1;
                    report.bytes_freed += metadata.len();
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(LocalStoreError::io("remove", path, e)),
            }
        }
    }
    Ok(report)
}
