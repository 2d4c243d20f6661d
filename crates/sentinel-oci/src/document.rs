//! Serde types for the OCI documents Sentinel reads and writes itself: the
//! descriptor, the image manifest and the image index.
//!
//! A manifest, an index and an index's entries keep the fields they do not
//! model in `other`, so an `index.json` read and written again loses nothing
//! another tool put there. Fields are serialised in the order they are
//! declared, which keeps written documents (and so their digests) stable.
//! (The registry checks manifests it receives with [`crate::ParsedManifest`]
//! instead, which reads all four formats.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::annotations;
use crate::digest::Digest;

/// A descriptor: the media type, digest and size of a blob or manifest, as a
/// manifest or index references it (and as a referrers listing reports it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
    /// The artifact type of a manifest: its `artifactType`, or for an image
    /// manifest without one in a referrers listing, its config's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The descriptor's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
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
        }
    }

    /// The value of the annotation `key`, if the descriptor has it.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// The image-layout reference name ([`annotations::REF_NAME`]), if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotation(annotations::REF_NAME)
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

/// One entry of an image index's `manifests`: a descriptor, and the fields
/// (`platform`, `urls`, ...) it does not model, kept as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The descriptor.
    #[serde(flatten)]
    pub descriptor: Descriptor,
    /// Fields not modelled by [`Descriptor`], kept as found.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl From<Descriptor> for IndexEntry {
    fn from(descriptor: Descriptor) -> Self {
        IndexEntry {
            descriptor,
            other: Map::new(),
        }
    }
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
    pub manifests: Vec<IndexEntry>,
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
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-test","config":{{"mediaType":"a/b","digest":"{digest}","size":1}},"layers":[{{"mediaType":"c/d","digest":"{digest}","size":1,"annotations":{{"k":"v"}}}}],"annotations":{{"a":"1"}},"subject":{{"digest":"{digest}","mediaType":"e/f","size":2}}}}"#
        );
        let manifest: ImageManifest = serde_json::from_str(&text).unwrap();
        assert_eq!(manifest.layers[0].annotation("k"), Some("v"));
        assert!(manifest.other.contains_key("subject"));
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"c/d","digest":"{digest}","size":1,"annotations":{{"k":"v"}},"platform":{{"architecture":"amd64","os":"linux"}}}}],"annotations":{{"a":"1"}}}}"#
        );
        let parsed: ImageIndex = serde_json::from_str(&index).unwrap();
        let entry = &parsed.manifests[0];
        assert_eq!(entry.descriptor.annotation("k"), Some("v"));
        assert_eq!(entry.other.keys().collect::<Vec<_>>(), ["platform"]);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), index);

        let index: ImageIndex = serde_json::from_str(r#"{"schemaVersion":2}"#).unwrap();
        assert!(index.manifests.is_empty() && index.media_type.is_none());
        let mut named = Descriptor::new("a/b", Digest::sha256(b"y"), 1);
        assert_eq!(named.ref_name(), None);
        named
            .annotations
            .insert(annotations::REF_NAME.to_owned(), "r:1".to_owned());
        assert_eq!(named.ref_name(), Some("r:1"));
    }
}
