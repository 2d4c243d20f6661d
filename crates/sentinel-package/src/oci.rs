//! The OCI mapping: a package is an OCI image manifest whose config blob is the definition
//! file and whose single layer is the `.sntl` file.

use std::collections::BTreeMap;

use sentinel_oci::annotations::{AUTHORS, CREATED, DESCRIPTION, LICENSES, SOURCE, TITLE, VERSION};
use sentinel_oci::media_types::OCI_MANIFEST;
use sentinel_oci::{Descriptor, Digest, ImageManifest};
use serde_json::Map;

use crate::definition::Definition;
use crate::kind::PackageKind;

/// A blob's digest and size, as in an OCI descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

/// Builds the OCI image manifest of a package: compact JSON with the keys in a fixed order
/// (`schemaVersion`, `mediaType`, `artifactType`, `config`, `layers`, `annotations`) and the
/// annotations sorted by key.
///
/// `config` describes the raw definition file, `package` the `.sntl` file named
/// `package_file_name`, and `created` is an RFC 3339 time. Annotations are written only for
/// the metadata the definition has (and `created` when it is not empty).
pub fn build_manifest(
    definition: &Definition,
    config: &BlobRef,
    package: &BlobRef,
    package_file_name: &str,
    created: &str,
) -> Vec<u8> {
    let kind = definition.kind();
    let version = definition.version().to_string();
    let mut annotations = BTreeMap::new();
    annotations.insert(TITLE.to_owned(), definition.name().to_owned());
    annotations.insert(VERSION.to_owned(), version);
    let optional = [
        (DESCRIPTION, definition.description()),
        (AUTHORS, definition.author()),
        (CREATED, Some(created).filter(|c| !c.is_empty())),
        (SOURCE, definition.source()),
        (LICENSES, definition.license()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            annotations.insert(key.to_owned(), value.to_owned());
        }
    }
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        artifact_type: Some(kind.artifact_type().to_owned()),
        config: Descriptor::new(kind.config_media_type(), config.digest.clone(), config.size),
        layers: vec![Descriptor {
            annotations: BTreeMap::from([(TITLE.to_owned(), package_file_name.to_owned())]),
            ..Descriptor::new(
                kind.layer_media_type(),
                package.digest.clone(),
                package.size,
            )
        }],
        annotations,
        other: Map::new(),
    };
    // Invariant: the value holds only strings, integers and string-keyed maps, which
    // serde_json always serialises.
    serde_json::to_vec(&manifest).expect("a manifest of strings and integers serialises to JSON")
}

/// What a pulled OCI image manifest says about the package it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageArtifact {
    /// The package kind.
    pub kind: PackageKind,
    /// The config blob: the definition file.
    pub config: BlobRef,
    /// The layer: the `.sntl` file.
    pub package: BlobRef,
    /// The layer's `org.opencontainers.image.title`, the package's file name.
    pub package_file_name: Option<String>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Why a manifest is not the manifest of a Sentinel package.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The bytes are not an OCI image manifest in JSON.
    #[error("the manifest is not a valid OCI image manifest: {0}")]
    Json(#[from] serde_json::Error),
    /// `schemaVersion` is not 2.
    #[error("the manifest has schemaVersion {0}; OCI image manifests have schemaVersion 2")]
    SchemaVersion(u64),
    /// `mediaType` is present and not the OCI image manifest type.
    #[error("the manifest's media type is {0:?}, not {OCI_MANIFEST}")]
    MediaType(String),
    /// Neither the artifact type nor the config media type is a Sentinel type.
    #[error(
        "the artifact is not a Sentinel package: its artifact type is {artifact_type:?} and its config media type is {config:?}"
    )]
    NotAPackage {
        /// The `artifactType`, if any.
        artifact_type: Option<String>,
        /// The config's media type.
        config: String,
    },
    /// The config media type does not match the artifact type.
    #[error(
        "the manifest's artifact type is {artifact_type}, but its config media type is {found:?} instead of {expected}"
    )]
    ConfigMediaType {
        /// The `artifactType`.
        artifact_type: &'static str,
        /// The config media type found.
        found: String,
        /// The config media type expected.
        expected: &'static str,
    },
    /// Not exactly one layer.
    #[error("a Sentinel package manifest has exactly one layer; this one has {0}")]
    LayerCount(usize),
    /// The layer's media type does not match the kind.
    #[error("the package layer's media type is {found:?}; a {kind} package's layer is {expected}")]
    LayerMediaType {
        /// The package kind.
        kind: PackageKind,
        /// The media type found.
        found: String,
        /// The media type expected.
        expected: &'static str,
    },
}

/// Parses a manifest pulled from a registry and checks that it describes a Sentinel package.
///
/// The kind comes from `artifactType`; a manifest without one (written by older clients) is
/// accepted when its config media type is a Sentinel definition type. Either way the config
/// media type must be the kind's definition type, and there must be exactly one layer, of
/// the kind's layer media type.
pub fn parse_manifest(bytes: &[u8]) -> Result<PackageArtifact, MappingError> {
    let manifest: ImageManifest = serde_json::from_slice(bytes)?;
    if manifest.schema_version != 2 {
        return Err(MappingError::SchemaVersion(manifest.schema_version));
    }
    if let Some(media_type) = &manifest.media_type
        && media_type != OCI_MANIFEST
    {
        return Err(MappingError::MediaType(media_type.clone()));
    }
    let kind = match &manifest.artifact_type {
        Some(artifact_type) => PackageKind::from_artifact_type(artifact_type),
        None => PackageKind::from_config_media_type(&manifest.config.media_type),
    }
    .ok_or_else(|| MappingError::NotAPackage {
        artifact_type: manifest.artifact_type.clone(),
        config: manifest.config.media_type.clone(),
    })?;
    if manifest.config.media_type != kind.config_media_type() {
        return Err(MappingError::ConfigMediaType {
            artifact_type: kind.artifact_type(),
            found: manifest.config.media_type,
            expected: kind.config_media_type(),
        });
    }
    let mut layers = manifest.layers;
    if layers.len() != 1 {
        return Err(MappingError::LayerCount(layers.len()));
    }
    let layer = layers.remove(0);
    if layer.media_type != kind.layer_media_type() {
        return Err(MappingError::LayerMediaType {
            kind,
            found: layer.media_type,
            expected: kind.layer_media_type(),
        });
    }
    Ok(PackageArtifact {
        kind,
        config: BlobRef {
            digest: manifest.config.digest,
            size: manifest.config.size,
        },
        package_file_name: layer.annotations.get(TITLE).cloned(),
        package: BlobRef {
            digest: layer.digest,
            size: layer.size,
        },
        annotations: manifest.annotations,
    })
}
