//! Serde types for the OCI documents Sentinel reads and writes itself: the
//! descriptor, the image manifest and the image index.
//!
//! Each keeps the fields it does not model in `other`, so a document read
//! and written again loses nothing another tool put there. Fields are
//! serialised in the order they are declared, which keeps written documents
//! (and so their digests) stable. (The registry checks manifests it receives
//! with [`crate::ParsedManifest`] instead, which reads all four formats.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;

/// The annotation that names a manifest in an image layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A descriptor: the media type, digest and size of a blob or manifest, as a
/// manifest or index references it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
    /// The artifact type, if the content is a manifest that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The descriptor's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields not modelled here (`urls`, `platform`, `data`, ...), kept as found.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Descriptor {
    /// A descriptor of `size` bytes of `media_type` content with `digest`, and nothing else.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
            other: Map::new(),
        }
    }

    /// The value of the annotation `key`, if the descriptor has it.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// The image-layout reference name ([`REF_NAME_ANNOTATION`]), if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotation(REF_NAME_ANNOTATION)
    }
}

/// An image manifest: a config and layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2 for a valid manifest; the reader checks it.
    pub schema_version: u64,
    /// The manifest's media type, when it states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, when the manifest states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    pub layers: Vec<Descriptor>,
    /// The manifest's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields not modelled here (`subject`, ...), kept as found.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An image index: a list of manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2 for a valid index; the reader checks it.
    pub schema_version: u64,
    /// The index's media type; absent in some documents other tools write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests the index lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Fields not modelled here (`annotations`, `subject`, ...), kept as found.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_unknown_fields_and_their_order() {
        let digest = Digest::sha256(b"x").to_string();
        // The fields in their declared order, unknown ones last (and JSON
        // objects kept as values have their keys sorted).
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-test","config":{{"mediaType":"a/b","digest":"{digest}","size":1}},"layers":[{{"mediaType":"c/d","digest":"{digest}","size":1,"annotations":{{"k":"v"}},"urls":["https://example.com"]}}],"annotations":{{"a":"1"}},"subject":{{"digest":"{digest}","mediaType":"e/f","size":2}}}}"#
        );
        let manifest: ImageManifest = serde_json::from_str(&text).unwrap();
        assert_eq!(manifest.layers[0].annotation("k"), Some("v"));
        assert!(manifest.layers[0].other.contains_key("urls"));
        assert!(manifest.other.contains_key("subject"));
        assert_eq!(serde_json::to_string(&manifest).unwrap(), text);

        let index: ImageIndex = serde_json::from_str(r#"{"schemaVersion":2}"#).unwrap();
        assert!(index.manifests.is_empty() && index.media_type.is_none());
        let mut named = Descriptor::new("a/b", Digest::sha256(b"y"), 1);
        assert_eq!(named.ref_name(), None);
        named
            .annotations
            .insert(REF_NAME_ANNOTATION.to_owned(), "r:1".to_owned());
        assert_eq!(named.ref_name(), Some("r:1"));
    }
}
