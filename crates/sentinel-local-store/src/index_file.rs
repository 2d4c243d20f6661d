//! `index.json`: the image index at the top of the layout, read and written
//! without losing fields other tools put there.

use std::fs;

use serde_json::Map;

use sentinel_oci::{ImageIndex, media_types};

use crate::durable::{self, is_not_found};
use crate::error::LocalStoreError;
use crate::paths::LayoutPaths;

/// The annotation containerd reads the image name from on import.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// An index with no entries.
pub(crate) fn empty() -> ImageIndex {
    ImageIndex {
        schema_version: 2,
        media_type: Some(media_types::OCI_INDEX.to_owned()),
        manifests: Vec::new(),
        other: Map::new(),
    }
}

/// Reads `index.json`; no lock is needed because it is only ever replaced by a rename.
pub(crate) fn read(paths: &LayoutPaths) -> Result<ImageIndex, LocalStoreError> {
    let path = paths.index();
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if is_not_found(&e) => return Err(LocalStoreError::MissingIndex { path }),
        Err(e) => return Err(LocalStoreError::io("read", path, e)),
    };
    let document: ImageIndex =
        serde_json::from_slice(&bytes).map_err(|e| LocalStoreError::MalformedLayoutFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if document.schema_version != 2 {
        return Err(LocalStoreError::MalformedLayoutFile {
            path,
            reason: format!(
                "schemaVersion is {}, but an image index has 2",
                document.schema_version
            ),
        });
    }
    if let Some(media_type) = &document.media_type
        && media_type != media_types::OCI_INDEX
    {
        return Err(LocalStoreError::MalformedLayoutFile {
            path,
            reason: format!(
                "mediaType is {media_type:?}, but an image index has {:?}",
                media_types::OCI_INDEX
            ),
        });
    }
    Ok(document)
}

/// Replaces `index.json` with `index` atomically. The caller holds the store lock.
pub(crate) fn write(index: &ImageIndex, paths: &LayoutPaths) -> Result<(), LocalStoreError> {
    let mut document = index.clone();
    document.schema_version = 2;
    document.media_type = Some(media_types::OCI_INDEX.to_owned());
    let path = paths.index();
    let bytes =
        serde_json::to_vec(&document).map_err(|e| LocalStoreError::MalformedLayoutFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    durable::write_atomically(&paths.ingest(), &path, &bytes)
}
