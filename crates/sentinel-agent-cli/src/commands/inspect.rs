//! `agent inspect`: a package's manifest, definition, digests, sizes and
//! referrers, from the local store or a registry.

use std::collections::BTreeMap;

use anyhow::Context as _;
use sentinel_oci::Digest;
use sentinel_package::PackageKind;
use serde::{Deserialize, Serialize};

use crate::cli::{InspectArgs, OutputFormat};
use crate::commands::images::find_local;
use crate::context::{Context, tagged_or_latest};
use crate::output::{say, say_raw};
use crate::progress::human_size;

const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// What `agent inspect` shows.
#[derive(Debug, Serialize)]
struct Inspection {
    reference: String,
    source: &'static str,
    digest: String,
    media_type: String,
    artifact_type: Option<String>,
    size: u64,
    annotations: BTreeMap<String, String>,
    config: Option<DescriptorView>,
    layers: Vec<DescriptorView>,
    manifests: Vec<DescriptorView>,
    definition: Option<serde_json::Value>,
    referrers: Option<Vec<DescriptorView>>,
}

/// A descriptor as shown.
#[derive(Debug, Serialize, Deserialize, Clone)]
struct DescriptorView {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// The parts of any manifest or index that inspect shows.
#[derive(Debug, Deserialize)]
struct AnyManifest {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    config: Option<DescriptorView>,
    #[serde(default)]
    layers: Vec<DescriptorView>,
    #[serde(default)]
    manifests: Vec<DescriptorView>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Runs `agent inspect`.
pub async fn run(context: &Context, args: InspectArgs) -> anyhow::Result<()> {
    let local = if args.remote_only {
        None
    } else {
        let store = context.store()?;
        find_local(context, &store, &args.reference, &args.remote)?.map(|entry| (store, entry))
    };
    let inspection = match local {
        Some((store, entry)) => {
            let manifest = store.read_blob(&entry.digest, MAX_MANIFEST_BYTES)?;
            let parsed = parse(&manifest)?;
            let definition = match definition_digest(&parsed) {
                Some((kind, digest)) => Some(definition_value(
                    kind,
                    &store.read_blob(&digest, MAX_DEFINITION_BYTES)?,
                )?),
                None => None,
            };
            build(
                entry.name.unwrap_or_else(|| entry.digest.to_string()),
                "local store",
                entry.digest.to_string(),
                manifest.len() as u64,
                entry.media_type,
                parsed,
                definition,
                None,
            )
        }
        None => {
            let target = context.target(&args.remote)?;
            let reference = context.parse_reference(&args.reference, &target)?;
            let client = context.client(&reference, &target)?;
            let wanted = match reference.digest() {
                Some(digest) => digest.to_string(),
                None => reference.tag_or_latest().to_string(),
            };
            let manifest = client.get_manifest(reference.repository(), &wanted).await?;
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
            build(
                shown,
                "registry",
                manifest.digest.to_string(),
                manifest.bytes.len() as u64,
                manifest.media_type,
                parsed,
                definition,
                Some(referrers),
            )
        }
    };
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&inspection)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&inspection)?),
        OutputFormat::Table => print_summary(&inspection)?,
    }
    Ok(())
}

fn parse(manifest: &[u8]) -> anyhow::Result<AnyManifest> {
    serde_json::from_slice(manifest).context("the manifest is not a valid image manifest or index")
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
fn definition_value(kind: PackageKind, bytes: &[u8]) -> anyhow::Result<serde_json::Value> {
    let value: serde_norway::Value = serde_norway::from_slice(bytes)
        .with_context(|| format!("the {} is not YAML", kind.definition_file()))?;
    Ok(serde_json::to_value(value)?)
}

#[allow(clippy::too_many_arguments)]
fn build(
    reference: String,
    source: &'static str,
    digest: String,
    size: u64,
    media_type: String,
    parsed: AnyManifest,
    definition: Option<serde_json::Value>,
    referrers: Option<Vec<DescriptorView>>,
) -> Inspection {
    Inspection {
        reference,
        source,
        digest,
        media_type: parsed.media_type.unwrap_or(media_type),
        artifact_type: parsed.artifact_type.or_else(|| {
            parsed
                .config
                .as_ref()
                .map(|config| config.media_type.clone())
        }),
        size,
        annotations: parsed.annotations,
        config: parsed.config,
        layers: parsed.layers,
        manifests: parsed.manifests,
        definition,
        referrers,
    }
}

fn print_summary(inspection: &Inspection) -> anyhow::Result<()> {
    say!("reference:      {}", inspection.reference);
    say!("source:         {}", inspection.source);
    say!("digest:         {}", inspection.digest);
    say!("media type:     {}", inspection.media_type);
    if let Some(artifact_type) = &inspection.artifact_type {
        say!("artifact type:  {artifact_type}");
    }
    say!("manifest size:  {} bytes", inspection.size);
    if !inspection.annotations.is_empty() {
        say!("annotations:");
        for (key, value) in &inspection.annotations {
            say!("  {key}: {value}");
        }
    }
    if let Some(config) = &inspection.config {
        say!("config:");
        print_descriptor(config);
    }
    if !inspection.layers.is_empty() {
        say!("layers:");
        for layer in &inspection.layers {
            print_descriptor(layer);
        }
    }
    if !inspection.manifests.is_empty() {
        say!("manifests:");
        for manifest in &inspection.manifests {
            print_descriptor(manifest);
        }
    }
    if let Some(referrers) = &inspection.referrers {
        if referrers.is_empty() {
            say!("referrers:      none");
        } else {
            say!("referrers:");
            for referrer in referrers {
                print_descriptor(referrer);
            }
        }
    }
    if let Some(definition) = &inspection.definition {
        say!("definition:");
        for line in serde_norway::to_string(definition)?.lines() {
            say!("  {line}");
        }
    }
    Ok(())
}

fn print_descriptor(descriptor: &DescriptorView) {
    let title = descriptor
        .annotations
        .get("org.opencontainers.image.title")
        .map(|title| format!("  {title}"))
        .unwrap_or_default();
    let kind = descriptor
        .artifact_type
        .as_deref()
        .unwrap_or(&descriptor.media_type);
    say!(
        "  {}  {:>10}  {kind}{title}",
        descriptor.digest,
        human_size(descriptor.size)
    );
}
