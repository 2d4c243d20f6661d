//! A package's manifest, definition, digests, sizes and referrers, from the
//! local store or a registry.

use std::collections::BTreeMap;

use sentinel_local_store::LocalStore;
use sentinel_oci::{Digest, MAX_MANIFEST_SIZE};
use sentinel_package::PackageKind;
use serde::Serialize;

use crate::error::{Result, WorkflowError};
use crate::local::find_local;
use sentinel_package::MAX_DEFINITION_BYTES;

use crate::manifest::{AnyManifest, DescriptorView};
use crate::registries::{self, Registries, tagged_or_latest};

/// What inspect found.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The name or reference shown.
    pub reference: String,
    /// `local store` or `registry`.
    pub source: &'static str,
    /// The manifest's digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's artifact type, or its config's media type.
    pub artifact_type: Option<String>,
    /// The manifest's size in bytes.
    pub size: u64,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The config descriptor.
    pub config: Option<DescriptorView>,
    /// The layer descriptors.
    pub layers: Vec<DescriptorView>,
    /// An index's manifests.
    pub manifests: Vec<DescriptorView>,
    /// A Sentinel package's definition, as JSON.
    pub definition: Option<serde_json::Value>,
    /// The manifests that refer to this one (from a registry only).
    pub referrers: Option<Vec<DescriptorView>>,
}

/// Inspects `text`: in `local` when given and it holds that name or digest,
/// else in the registry the reference names.
pub async fn inspect(
    local: Option<&LocalStore>,
    registries: &dyn Registries,
    text: &str,
) -> Result<Inspection> {
    let found = match local {
        Some(store) => find_local(store, registries, text)?.map(|entry| (store, entry)),
        None => None,
    };
    match found {
        Some((store, entry)) => {
            let manifest = store.read_blob(&entry.digest, MAX_MANIFEST_SIZE)?;
            let parsed = parse(&manifest)?;
            let definition = match definition_digest(&parsed) {
                Some((kind, digest)) => Some(definition_value(
                    kind,
                    &store.read_blob(&digest, MAX_DEFINITION_BYTES)?,
                )?),
                None => None,
            };
            Ok(Inspection::new(
                Shown {
                    reference: entry.name.unwrap_or_else(|| entry.digest.to_string()),
                    source: "local store",
                    digest: entry.digest.to_string(),
                    size: manifest.len() as u64,
                    media_type: entry.media_type,
                },
                parsed,
                definition,
                None,
            ))
        }
        None => inspect_remote(registries, text).await,
    }
}

async fn inspect_remote(registries: &dyn Registries, text: &str) -> Result<Inspection> {
    let reference = registries::reference(registries, text)?;
    let client = registries::client(registries, &reference)?;
    let manifest = client
        .get_manifest(reference.repository(), &registries::wanted(&reference))
        .await?;
    let parsed = parse(&manifest.bytes)?;
    let definition = match definition_digest(&parsed) {
        Some((kind, digest)) => {
            let bytes = client
                .pull_blob_bytes(reference.repository(), &digest, MAX_DEFINITION_BYTES)
                .await?;
            Some(definition_value(kind, &bytes)?)
        }
        None => None,
    };
    let referrers = client
        .referrers(reference.repository(), &manifest.digest, None)
        .await?
        .into_iter()
        .map(|referrer| DescriptorView {
            media_type: referrer.media_type,
            digest: referrer.digest.to_string(),
            size: referrer.size,
            artifact_type: referrer.artifact_type,
            annotations: referrer.annotations,
        })
        .collect();
    let shown = match reference.digest() {
        Some(_) => reference.to_string(),
        None => tagged_or_latest(&reference)?.to_string(),
    };
    Ok(Inspection::new(
        Shown {
            reference: shown,
            source: "registry",
            digest: manifest.digest.to_string(),
            size: manifest.bytes.len() as u64,
            media_type: manifest.media_type,
        },
        parsed,
        definition,
        Some(referrers),
    ))
}

/// Where a manifest was found and what its holder says of it.
struct Shown {
    reference: String,
    source: &'static str,
    digest: String,
    size: u64,
    /// The media type the store or registry gives (the manifest's own wins).
    media_type: String,
}

impl Inspection {
    fn new(
        shown: Shown,
        parsed: AnyManifest,
        definition: Option<serde_json::Value>,
        referrers: Option<Vec<DescriptorView>>,
    ) -> Inspection {
        Inspection {
            reference: shown.reference,
            source: shown.source,
            digest: shown.digest,
            media_type: parsed.media_type.unwrap_or(shown.media_type),
            artifact_type: parsed.artifact_type.or_else(|| {
                parsed
                    .config
                    .as_ref()
                    .map(|config| config.media_type.clone())
            }),
            size: shown.size,
            annotations: parsed.annotations,
            config: parsed.config,
            layers: parsed.layers,
            manifests: parsed.manifests,
            definition,
            referrers,
        }
    }
}

fn parse(manifest: &[u8]) -> Result<AnyManifest> {
    serde_json::from_slice(manifest).map_err(|source| WorkflowError::Malformed {
        what: "the manifest is not a valid image manifest or index".to_string(),
        source,
    })
}

/// The definition blob of a Sentinel package manifest.
fn definition_digest(manifest: &AnyManifest) -> Option<(PackageKind, Digest)> {
    let config = manifest.config.as_ref()?;
    let kind = [PackageKind::Agent, PackageKind::Stack]
        .into_iter()
        .find(|kind| kind.config_media_type() == config.media_type)?;
    Some((kind, config.digest.parse().ok()?))
}

/// The definition as a JSON value (it was validated YAML when pushed, but is
/// shown even when it no longer validates).
fn definition_value(kind: PackageKind, bytes: &[u8]) -> Result<serde_json::Value> {
    let value: serde_norway::Value =
        serde_norway::from_slice(bytes).map_err(|source| WorkflowError::NotYaml {
            file: kind.definition_file().to_string(),
            source,
        })?;
    Ok(serde_json::to_value(value)?)
}
