//! What the store reports about each manifest it names or keeps.

use std::collections::BTreeMap;

use sentinel_oci::{Descriptor, Digest};

/// One entry of the layout's `index.json`: a named or untagged manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full reference it is stored under (`org.opencontainers.image.ref.name`),
    /// or `None` for a manifest kept without a name (pulled by digest).
    pub name: Option<String>,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's size in bytes.
    pub size: u64,
    /// The manifest's artifact type (its `artifactType`, or its config's media type).
    pub artifact_type: Option<String>,
    /// All of the entry's annotations, the name annotations included.
    pub annotations: BTreeMap<String, String>,
}

impl From<&Descriptor> for Entry {
    fn from(descriptor: &Descriptor) -> Self {
        Entry {
            name: descriptor.ref_name().map(str::to_owned),
            digest: descriptor.digest.clone(),
            media_type: descriptor.media_type.clone(),
            size: descriptor.size,
            artifact_type: descriptor.artifact_type.clone(),
            annotations: descriptor.annotations.clone(),
        }
    }
}
