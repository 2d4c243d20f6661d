//! The parts of a manifest the workflows read: the blobs a push sends and
//! the descriptors inspect shows. These are the CLI's one reading of
//! manifests that are not Sentinel packages (a package's manifest is read
//! with `sentinel_package::oci`).
//!
//! They are deliberately more lenient than `sentinel_oci::{ImageManifest,
//! ImageIndex, Descriptor}`, which require `schemaVersion`, `layers` and each
//! descriptor's `mediaType`, and parse every digest: a store may hold
//! manifests other tools wrote, and push and inspect handle those as they
//! always have.

use std::collections::BTreeMap;

use sentinel_oci::Digest;
use sentinel_oci::media_types::OCI_MANIFEST;
use serde::{Deserialize, Serialize};

/// The blobs an image manifest references.
///
/// Only the digests and sizes are read, so a stored manifest without
/// `schemaVersion`, `layers` or its descriptors' `mediaType` still pushes;
/// `sentinel_oci::ImageManifest` would refuse it.
#[derive(Deserialize)]
pub(crate) struct ManifestBlobs {
    /// The config blob.
    pub config: BlobDescriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<BlobDescriptor>,
}

impl ManifestBlobs {
    /// The config, then the layers.
    pub fn iter(&self) -> impl Iterator<Item = &BlobDescriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// A blob a manifest references, as a push needs it.
#[derive(Deserialize, Clone)]
pub(crate) struct BlobDescriptor {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
}

/// The manifest's own `mediaType` field (OCI when absent).
pub(crate) fn media_type(manifest: &[u8]) -> String {
    #[derive(Deserialize)]
    struct MediaType {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<MediaType>(manifest)
        .ok()
        .and_then(|parsed| parsed.media_type)
        .unwrap_or_else(|| OCI_MANIFEST.to_string())
}

/// A descriptor as inspect shows it: the digest as written, whatever it is.
///
/// Not `sentinel_oci::Descriptor`, whose digest must parse: `agent inspect`
/// shows a manifest with an odd digest (another algorithm, bad hex) as it is
/// written instead of refusing it.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct DescriptorView {
    /// The content's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The content's digest, as the manifest writes it.
    pub digest: String,
    /// The content's size in bytes.
    pub size: u64,
    /// The artifact type, for a manifest in a referrers listing or an index.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    /// The descriptor's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl DescriptorView {
    /// The descriptor's `org.opencontainers.image.title` annotation, if any.
    pub fn title(&self) -> Option<&str> {
        self.annotations
            .get(sentinel_oci::annotations::TITLE)
            .map(String::as_str)
    }
}

/// The parts of any manifest or index that inspect shows.
///
/// Not `sentinel_oci::{ImageManifest, ImageIndex}`: one lenient reading of
/// both, with [`DescriptorView`]s, so inspect shows odd manifests (digests
/// that do not parse, fields missing) as written.
#[derive(Debug, Deserialize)]
pub(crate) struct AnyManifest {
    #[serde(rename = "mediaType")]
    pub media_type: Option<String>,
    #[serde(rename = "artifactType")]
    pub artifact_type: Option<String>,
    pub config: Option<DescriptorView>,
    #[serde(default)]
    pub layers: Vec<DescriptorView>,
    #[serde(default)]
    pub manifests: Vec<DescriptorView>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}
