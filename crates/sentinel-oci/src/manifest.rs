//! Parsing and validating the four manifest formats a registry stores.
//!
//! The registry keeps a manifest as the exact bytes it received; parsing only
//! extracts what the registry must check or index: the media type, the blobs
//! and child manifests it references, its `subject`, and the fields a
//! referrers listing reports.

use std::collections::BTreeMap;
use std::str::FromStr;

use oci_spec::image::{Descriptor as SpecDescriptor, ImageIndex, ImageManifest};
use serde::Deserialize;

use crate::digest::{Digest, DigestError};
use crate::document::Descriptor;
use crate::media_types;

/// The largest manifest any Sentinel component reads or accepts: 4 MiB, as
/// registries commonly allow (Distribution's default limit).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// Which of the four manifest formats a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList,
}

impl ManifestKind {
    /// The kind named by a media type, if it is a manifest type the registry stores.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            media_types::OCI_MANIFEST => Some(ManifestKind::OciManifest),
            media_types::OCI_INDEX => Some(ManifestKind::OciIndex),
            media_types::DOCKER_MANIFEST => Some(ManifestKind::DockerManifest),
            media_types::DOCKER_MANIFEST_LIST => Some(ManifestKind::DockerManifestList),
            _ => None,
        }
    }

    /// The media type of this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::OciManifest => media_types::OCI_MANIFEST,
            ManifestKind::OciIndex => media_types::OCI_INDEX,
            ManifestKind::DockerManifest => media_types::DOCKER_MANIFEST,
            ManifestKind::DockerManifestList => media_types::DOCKER_MANIFEST_LIST,
        }
    }

    /// Whether this kind lists other manifests (an index or a manifest list).
    pub fn is_index(self) -> bool {
        matches!(
            self,
            ManifestKind::OciIndex | ManifestKind::DockerManifestList
        )
    }
}

/// Why a manifest is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Neither the `Content-Type` nor the document names a manifest type the registry stores.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// The document's `mediaType` field contradicts the `Content-Type` it was sent with.
    #[error("the manifest's mediaType {in_body:?} differs from its Content-Type {declared:?}")]
    MediaTypeMismatch {
        /// The `Content-Type` header.
        declared: String,
        /// The `mediaType` field.
        in_body: String,
    },
    /// The bytes are not JSON of the declared type.
    #[error("malformed {media_type}: {reason}")]
    Malformed {
        /// The media type the document was parsed as.
        media_type: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// `schemaVersion` is not 2.
    #[error("unsupported schemaVersion {0}: only 2 is accepted")]
    SchemaVersion(u32),
    /// A descriptor's digest is not one the registry accepts.
    #[error("invalid descriptor digest: {0}")]
    Digest(#[from] DigestError),
}

/// What the registry needs to know of a manifest it is about to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// The format.
    pub kind: ManifestKind,
    /// Blobs that must be present in the repository (config and layers that are
    /// not foreign, i.e. that have no external `urls`).
    pub blobs: Vec<Digest>,
    /// Manifests that must be present in the repository (an index's entries).
    pub manifests: Vec<Digest>,
    /// The manifest this one refers to, for the referrers API.
    pub subject: Option<Digest>,
    /// The artifact type reported in referrers listings.
    pub artifact_type: Option<String>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The fields common to every manifest type, read before the full parse.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    media_type: Option<String>,
    schema_version: Option<u32>,
    manifests: Option<serde_json::Value>,
}

/// The media type without parameters, e.g. `a/b; charset=utf-8` -> `a/b`.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

fn digest_of(descriptor: &SpecDescriptor) -> Result<Digest, ManifestError> {
    Ok(Digest::from_str(descriptor.digest().as_ref())?)
}

/// A layer with external URLs (Docker's foreign layers, OCI's non-distributable
/// ones) is fetched from those URLs, so the registry does not require it.
fn is_external(descriptor: &SpecDescriptor) -> bool {
    descriptor
        .urls()
        .as_ref()
        .is_some_and(|urls| !urls.is_empty())
}

fn sorted(
    annotations: Option<&std::collections::HashMap<String, String>>,
) -> BTreeMap<String, String> {
    annotations
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

impl ParsedManifest {
    /// Parses `body`, sent with the `Content-Type` `content_type`, as a manifest.
    ///
    /// The type comes from `Content-Type` when that names a manifest type,
    /// else from the document's own `mediaType`, else from its shape (an OCI
    /// index has `manifests`, an OCI manifest does not).
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, ManifestError> {
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| ManifestError::Malformed {
                media_type: "manifest",
                reason: e.to_string(),
            })?;
        let declared = content_type.map(essence).filter(|t| !t.is_empty());
        let kind = match (declared.and_then(ManifestKind::from_media_type), declared) {
            (Some(kind), _) => kind,
            (None, Some(other))
                if other != "application/json" && other != "application/octet-stream" =>
            {
                return Err(ManifestError::UnsupportedMediaType(other.to_owned()));
            }
            (None, _) => match envelope.media_type.as_deref() {
                Some(in_body) => ManifestKind::from_media_type(in_body)
                    .ok_or_else(|| ManifestError::UnsupportedMediaType(in_body.to_owned()))?,
                None if envelope.manifests.is_some() => ManifestKind::OciIndex,
                None => ManifestKind::OciManifest,
            },
        };
        if let Some(in_body) = envelope.media_type.as_deref()
            && in_body != kind.media_type()
        {
            return Err(ManifestError::MediaTypeMismatch {
                declared: kind.media_type().to_owned(),
                in_body: in_body.to_owned(),
            });
        }
        match envelope.schema_version {
            Some(2) => {}
            Some(other) => return Err(ManifestError::SchemaVersion(other)),
            None => {
                return Err(ManifestError::Malformed {
                    media_type: kind.media_type(),
                    reason: "missing schemaVersion".into(),
                });
            }
        }
        let malformed = |e: serde_json::Error| ManifestError::Malformed {
            media_type: kind.media_type(),
            reason: e.to_string(),
        };
        if kind.is_index() {
            let index: ImageIndex = serde_json::from_slice(body).map_err(malformed)?;
            let manifests = index
                .manifests()
                .iter()
                .map(digest_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ParsedManifest {
                kind,
                blobs: Vec::new(),
                manifests,
                subject: index.subject().as_ref().map(digest_of).transpose()?,
                artifact_type: index.artifact_type().as_ref().map(|t| t.to_string()),
                annotations: sorted(index.annotations().as_ref()),
            })
        } else {
            let manifest: ImageManifest = serde_json::from_slice(body).map_err(malformed)?;
            let mut blobs = vec![digest_of(manifest.config())?];
            for layer in manifest.layers() {
                let digest = digest_of(layer)?;
                if !is_external(layer) {
                    blobs.push(digest);
                }
            }
            let artifact_type = manifest
                .artifact_type()
                .as_ref()
                .map(|t| t.to_string())
                .or_else(|| Some(manifest.config().media_type().to_string()));
            Ok(ParsedManifest {
                kind,
                blobs,
                manifests: Vec::new(),
                subject: manifest.subject().as_ref().map(digest_of).transpose()?,
                artifact_type,
                annotations: sorted(manifest.annotations().as_ref()),
            })
        }
    }

    /// This manifest's descriptor in a referrers listing, given its own digest and size.
    pub fn referrer_descriptor(&self, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: self.kind.media_type().to_owned(),
            digest,
            size,
            artifact_type: self.artifact_type.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn blob(n: u8) -> String {
        Digest::sha256(&[n]).to_string()
    }

    fn oci_manifest() -> serde_json::Value {
        json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(1), "size": 1},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(2), "size": 1},
                {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar", "digest": blob(3), "size": 1,
                 "urls": ["https://example.com/layer"]}
            ],
            "annotations": {"b": "2", "a": "1"}
        })
    }

    #[test]
    fn oci_manifest_lists_its_blobs_without_external_layers() {
        let body = serde_json::to_vec(&oci_manifest()).unwrap();
        let parsed = ParsedManifest::parse(Some(media_types::OCI_MANIFEST), &body).unwrap();
        assert_eq!(parsed.kind, ManifestKind::OciManifest);
        let expected: Vec<Digest> = vec![blob(1).parse().unwrap(), blob(2).parse().unwrap()];
        assert_eq!(parsed.blobs, expected);
        assert!(parsed.manifests.is_empty());
        assert_eq!(
            parsed.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(parsed.annotations.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn artifact_type_and_subject_are_read() {
        let mut doc = oci_manifest();
        doc["artifactType"] = json!("application/x-sentinel-agent");
        doc["subject"] =
            json!({"mediaType": media_types::OCI_MANIFEST, "digest": blob(9), "size": 7});
        let parsed = ParsedManifest::parse(None, &serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(
            parsed.artifact_type.as_deref(),
            Some("application/x-sentinel-agent")
        );
        assert_eq!(parsed.subject, Some(blob(9).parse().unwrap()));
    }

    #[test]
    fn index_lists_its_children() {
        let doc = json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": media_types::OCI_MANIFEST, "digest": blob(4), "size": 10,
                 "platform": {"architecture": "amd64", "os": "linux"}}
            ]
        });
        let parsed = ParsedManifest::parse(
            Some(media_types::OCI_INDEX),
            &serde_json::to_vec(&doc).unwrap(),
        )
        .unwrap();
        assert_eq!(parsed.kind, ManifestKind::OciIndex);
        assert_eq!(parsed.manifests, vec![blob(4).parse::<Digest>().unwrap()]);
        assert!(parsed.blobs.is_empty());
    }

    #[test]
    fn docker_types_are_recognised() {
        let doc = json!({
            "schemaVersion": 2,
            "mediaType": media_types::DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": blob(1), "size": 1},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": blob(2), "size": 1}]
        });
        let parsed = ParsedManifest::parse(
            Some(media_types::DOCKER_MANIFEST),
            &serde_json::to_vec(&doc).unwrap(),
        )
        .unwrap();
        assert_eq!(parsed.kind, ManifestKind::DockerManifest);
        let list = json!({
            "schemaVersion": 2,
            "mediaType": media_types::DOCKER_MANIFEST_LIST,
            "manifests": [{"mediaType": media_types::DOCKER_MANIFEST, "digest": blob(5), "size": 3,
                           "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]
        });
        let parsed = ParsedManifest::parse(None, &serde_json::to_vec(&list).unwrap()).unwrap();
        assert_eq!(parsed.kind, ManifestKind::DockerManifestList);
    }

    #[test]
    fn rejects_bad_documents() {
        let body = serde_json::to_vec(&oci_manifest()).unwrap();
        assert!(matches!(
            ParsedManifest::parse(Some(media_types::DOCKER_MANIFEST), &body),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        assert!(matches!(
            ParsedManifest::parse(Some("text/plain"), &body),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            ParsedManifest::parse(Some(media_types::OCI_MANIFEST), b"{not json"),
            Err(ManifestError::Malformed { .. })
        ));
        assert!(matches!(
            ParsedManifest::parse(Some(media_types::OCI_MANIFEST), br#"{"schemaVersion":2}"#),
            Err(ManifestError::Malformed { .. })
        ));
        let mut v1 = oci_manifest();
        v1["schemaVersion"] = json!(1);
        assert!(matches!(
            ParsedManifest::parse(None, &serde_json::to_vec(&v1).unwrap()),
            Err(ManifestError::SchemaVersion(1))
        ));
        let mut md5 = oci_manifest();
        md5["config"]["digest"] = json!("md5:d41d8cd98f00b204e9800998ecf8427e");
        assert!(matches!(
            ParsedManifest::parse(None, &serde_json::to_vec(&md5).unwrap()),
            Err(ManifestError::Digest(_))
        ));
    }

    #[test]
    fn unknown_fields_and_embedded_data_are_accepted() {
        // The shape the official conformance suite pushes: extra fields on
        // descriptors, `data`, no top-level mediaType, no layers.
        let doc = json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(1), "size": 1,
                       "data": "AQ==", "newUnspecifiedField": "aGVsbG8gd29ybGQ="},
            "layers": [],
            "newUnspecifiedField": null
        });
        let parsed = ParsedManifest::parse(
            Some(media_types::OCI_MANIFEST),
            &serde_json::to_vec(&doc).unwrap(),
        )
        .unwrap();
        assert_eq!(parsed.blobs, vec![blob(1).parse::<Digest>().unwrap()]);
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let body = serde_json::to_vec(&oci_manifest()).unwrap();
        let content_type = format!("{}; charset=utf-8", media_types::OCI_MANIFEST);
        assert!(ParsedManifest::parse(Some(&content_type), &body).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(body: Vec<u8>) {
            let _ = ParsedManifest::parse(Some(media_types::OCI_MANIFEST), &body);
        }
    }
}
