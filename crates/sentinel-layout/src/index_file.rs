//! `index.json`: the image index at the top of the layout, read and written
//! without losing fields other tools put there.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use sentinel_oci::{Digest, media_types};

use crate::durable::{self, is_not_found};
use crate::error::LayoutError;
use crate::paths::LayoutPaths;

/// The annotation that names a manifest in an image layout.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The annotation containerd reads the image name from on import.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// The `index.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexDocument {
    /// Always 2.
    pub(crate) schema_version: u32,
    /// The index media type; absent in some layouts other tools write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    /// The manifests the layout names or keeps.
    #[serde(default)]
    pub(crate) manifests: Vec<IndexDescriptor>,
    /// Fields this crate does not interpret (annotations, subject, ...), kept as found.
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// One entry of `manifests[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexDescriptor {
    /// The manifest's media type.
    pub(crate) media_type: String,
    /// The manifest's digest.
    pub(crate) digest: Digest,
    /// The manifest's size in bytes.
    pub(crate) size: u64,
    /// The artifact type, if the manifest has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) artifact_type: Option<String>,
    /// The descriptor's annotations, among them the reference name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
    /// Fields this crate does not interpret (platform, urls, ...), kept as found.
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

impl IndexDescriptor {
    /// The reference name, if the entry has one.
    pub(crate) fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(REF_NAME_ANNOTATION)
            .map(String::as_str)
    }
}

impl IndexDocument {
    /// An index with no entries.
    pub(crate) fn empty() -> Self {
        IndexDocument {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.to_owned()),
            manifests: Vec::new(),
            other: Map::new(),
        }
    }

    /// Reads `index.json`; no lock is needed because it is only ever replaced by a rename.
    pub(crate) fn read(paths: &LayoutPaths) -> Result<Self, LayoutError> {
        let path = paths.index();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if is_not_found(&e) => return Err(LayoutError::MissingIndex { path }),
            Err(e) => return Err(LayoutError::io("read", path, e)),
        };
        let document: IndexDocument =
            serde_json::from_slice(&bytes).map_err(|e| LayoutError::MalformedLayoutFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if document.schema_version != 2 {
            return Err(LayoutError::MalformedLayoutFile {
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
            return Err(LayoutError::MalformedLayoutFile {
                path,
                reason: format!(
                    "mediaType is {media_type:?}, but an image index has {:?}",
                    media_types::OCI_INDEX
                ),
            });
        }
        Ok(document)
    }

    /// Replaces `index.json` atomically. The caller holds the store lock.
    pub(crate) fn write(&self, paths: &LayoutPaths) -> Result<(), LayoutError> {
        let mut document = self.clone();
        document.schema_version = 2;
        document.media_type = Some(media_types::OCI_INDEX.to_owned());
        let path = paths.index();
        let bytes =
            serde_json::to_vec(&document).map_err(|e| LayoutError::MalformedLayoutFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        durable::write_atomically(&paths.ingest(), &path, &bytes)
    }
}
