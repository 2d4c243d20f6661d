//! `agent push`: pack (or take) a package, record it in the local store, and
//! push its blobs and manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::future::try_join_all;
use sentinel_client::{BlobPush, ImageReference, RegistryClient};
use sentinel_layout::LayoutStore;
use sentinel_oci::Digest;
use sentinel_oci::media_types::OCI_MANIFEST;
use sentinel_package::Definition;
use sentinel_package::oci::{BlobRef, build_manifest};
use serde::Deserialize;

use crate::cli::PushArgs;
use crate::commands::images::find_local;
use crate::context::{Context, tagged_or_latest, with_tag};
use crate::exit::UsageError;
use crate::output::say;
use crate::progress::{Progress, human_size};

/// The largest manifest the store hands back for a push.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Runs `agent push`.
pub async fn run(context: &Context, args: PushArgs) -> anyhow::Result<()> {
    let (reference_text, dir, positional_file) =
        split_positionals(args.reference.clone(), args.dir.clone());
    let file = args.file.clone().or(positional_file);
    let target = context.target(&args.remote)?;
    let store = context.store()?;
    let (reference, manifest_digest) = match stored_entry(
        context,
        &store,
        &reference_text,
        &dir,
        &file,
        &args,
    )? {
        Some((reference, digest)) => (reference, digest),
        None => {
            let package = match &file {
                Some(file) => import_package(&store, file)?,
                None => pack_into_store(&store, dir.as_deref().unwrap_or(Path::new(".")))?,
            };
            let reference = match &reference_text {
                Some(text) => context.parse_reference(text, &target)?,
                None => {
                    let text = format!(
                        "{}:{}",
                        package.definition.name(),
                        package.definition.version()
                    );
                    context.parse_reference(&text, &target).with_context(|| {
                        "no reference given and the definition's name does not make one; name it: agent push REGISTRY/NAMESPACE/NAME:TAG"
                    })?
                }
            };
            if reference.digest().is_some() {
                return Err(UsageError(format!(
                    "cannot push to a digest reference {reference}: give a tag"
                ))
                .into());
            }
            let tag = match reference.tag() {
                Some(tag) => tag.to_string(),
                None => sanitize_tag(&package.definition.version().to_string()),
            };
            let reference = with_tag(&reference, &tag)?;
            let manifest_digest = record_in_store(&store, &package, args.description.as_deref())?;
            store.set_name(&reference.to_string(), &manifest_digest, BTreeMap::new())?;
            (reference, manifest_digest)
        }
    };
    let tag = reference.tag_or_latest().to_string();

    let client = context.client(&reference, &target)?;
    let mut tags = vec![(tag.clone(), manifest_digest.clone())];
    if args.all_tags {
        tags.extend(other_local_tags(&store, &reference, &tag)?);
    }
    let progress = Progress::new(args.quiet);
    for (tag, digest) in &tags {
        let tagged = with_tag(&reference, tag)?;
        let report = push_manifest_from_store(&client, &store, &tagged, digest, &progress).await?;
        if args.quiet {
            say!("{tagged}@{}", report.digest);
        } else {
            say!("pushed {tagged}");
            say!("digest: {}", report.digest);
            say!(
                "size:   {} ({} bytes in {} blobs; {} uploaded, {} mounted, {} already present)",
                human_size(report.total_bytes),
                report.total_bytes,
                report.blobs,
                human_size(report.uploaded_bytes),
                report.mounted,
                report.already_present
            );
        }
    }
    Ok(())
}

/// `agent push REF` with neither a directory nor a file pushes what the
/// local store holds under REF, as `docker push` does, when it holds it.
fn stored_entry(
    context: &Context,
    store: &LayoutStore,
    reference_text: &Option<String>,
    dir: &Option<PathBuf>,
    file: &Option<PathBuf>,
    args: &PushArgs,
) -> anyhow::Result<Option<(ImageReference, Digest)>> {
    let Some(text) = reference_text else {
        return Ok(None);
    };
    if dir.is_some() || file.is_some() {
        return Ok(None);
    }
    let Some(entry) = find_local(context, store, text, &args.remote)? else {
        return Ok(None);
    };
    if args.description.is_some() {
        return Err(UsageError(
            "--description applies when packing: give the directory or --file to change it"
                .to_string(),
        )
        .into());
    }
    let target = context.target(&args.remote)?;
    let reference = context.parse_reference(text, &target)?;
    Ok(Some((tagged_or_latest(&reference)?, entry.digest)))
}

/// A lone positional that names an existing directory is DIR, and one that
/// names an existing file is the package file: `agent push ./my-agent` and
/// `agent push hello-0.1.0.agent.sntl` mean what they say, not a reference.
type Positionals = (Option<String>, Option<PathBuf>, Option<PathBuf>);

fn split_positionals(reference: Option<String>, dir: Option<PathBuf>) -> Positionals {
    match (reference, dir) {
        (Some(text), None) if Path::new(&text).is_dir() => (None, Some(PathBuf::from(text)), None),
        (Some(text), None) if Path::new(&text).is_file() => (None, None, Some(PathBuf::from(text))),
        (reference, Some(path)) if path.is_file() => (reference, None, Some(path)),
        (reference, dir) => (reference, dir, None),
    }
}

/// A semver can hold `+`, which a tag cannot: docker and helm write `_`.
fn sanitize_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// A package file in the local store with its definition.
struct StoredPackage {
    definition: Definition,
    definition_bytes: Vec<u8>,
    file_name: String,
    digest: Digest,
    size: u64,
}

fn pack_into_store(store: &LayoutStore, dir: &Path) -> anyhow::Result<StoredPackage> {
    let temp = TempPath(store.ingest_path());
    let summary = sentinel_package::pack_to_file(dir, &temp.0)?;
    // Packing hashed the file as it wrote it.
    store.adopt_verified_file(&temp.0, &summary.digest, summary.size)?;
    let size = summary.size;
    Ok(StoredPackage {
        file_name: sentinel_package::default_file_name(&summary.definition),
        definition: summary.definition,
        definition_bytes: summary.definition_bytes,
        digest: summary.digest,
        size,
    })
}

fn import_package(store: &LayoutStore, file: &Path) -> anyhow::Result<StoredPackage> {
    let reader =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let contents = sentinel_package::read_package(std::io::BufReader::new(reader))?;
    let (digest, size) = store.import_file(file)?;
    let file_name = file
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
        .unwrap_or_else(|| sentinel_package::default_file_name(&contents.definition));
    Ok(StoredPackage {
        definition: contents.definition,
        definition_bytes: contents.definition_bytes,
        file_name,
        digest,
        size,
    })
}

/// Writes the config blob and the manifest into the store.
fn record_in_store(
    store: &LayoutStore,
    package: &StoredPackage,
    description: Option<&str>,
) -> anyhow::Result<Digest> {
    let config_digest = store.write_blob(&package.definition_bytes)?;
    let config = BlobRef {
        digest: config_digest,
        size: package.definition_bytes.len() as u64,
    };
    let layer = BlobRef {
        digest: package.digest.clone(),
        size: package.size,
    };
    let shown_description = description.or(package.definition.description());
    if let Some(existing) = existing_manifest(store, &config, &layer, shown_description)? {
        return Ok(existing);
    }
    let mut manifest = build_manifest(
        &package.definition,
        &config,
        &layer,
        &package.file_name,
        &created_timestamp(),
    );
    if let Some(description) = description {
        manifest = with_description(&manifest, description)?;
    }
    Ok(store.put_manifest(&manifest, OCI_MANIFEST)?)
}

/// A manifest in the store for the same definition and package, with the
/// same description annotation: pushing an unchanged package again reuses it, so
/// its digest stays the same instead of changing with the `created` time.
fn existing_manifest(
    store: &LayoutStore,
    config: &BlobRef,
    layer: &BlobRef,
    description: Option<&str>,
) -> anyhow::Result<Option<Digest>> {
    for entry in store.entries()? {
        let Ok(bytes) = store.read_blob(&entry.digest, MAX_MANIFEST_BYTES) else {
            continue;
        };
        let Ok(view) = sentinel_package::oci::parse_manifest(&bytes) else {
            continue;
        };
        let same_blobs = view.config.digest == config.digest && view.package.digest == layer.digest;
        let same_description = view
            .annotations
            .get(DESCRIPTION_ANNOTATION)
            .map(String::as_str)
            == description;
        if same_blobs && same_description {
            return Ok(Some(entry.digest));
        }
    }
    Ok(None)
}

/// The manifest annotation `--description` replaces.
const DESCRIPTION_ANNOTATION: &str = "org.opencontainers.image.description";

/// `SOURCE_DATE_EPOCH` when set (reproducible builds), else now.
fn created_timestamp() -> String {
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|seconds| seconds.trim().parse::<u64>().ok())
        .map(|seconds| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .unwrap_or_else(SystemTime::now);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The manifest with its description annotation replaced.
fn with_description(manifest: &[u8], description: &str) -> anyhow::Result<Vec<u8>> {
    let mut value: serde_json::Value =
        serde_json::from_slice(manifest).context("the built manifest is not JSON")?;
    let annotations = value
        .as_object_mut()
        .context("the built manifest is not a JSON object")?
        .entry("annotations")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.insert(
            DESCRIPTION_ANNOTATION.to_string(),
            serde_json::Value::String(description.to_string()),
        );
    }
    Ok(serde_json::to_vec(&value)?)
}

/// Other names of the same registry and repository in the store, for
/// `--all-tags`.
fn other_local_tags(
    store: &LayoutStore,
    reference: &ImageReference,
    pushed_tag: &str,
) -> anyhow::Result<Vec<(String, Digest)>> {
    let mut tags = Vec::new();
    for entry in store.entries()? {
        let Some(name) = entry.name else { continue };
        let Ok(other) = ImageReference::parse(&name, None) else {
            continue;
        };
        if other.registry() == reference.registry()
            && other.repository() == reference.repository()
            && let Some(tag) = other.tag()
            && tag != pushed_tag
        {
            tags.push((tag.to_string(), entry.digest));
        }
    }
    tags.sort();
    Ok(tags)
}

/// The blobs a manifest references.
#[derive(Deserialize)]
struct ManifestBlobs {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    digest: Digest,
    size: u64,
}

/// What a push of one manifest did.
pub struct PushReport {
    /// The pushed manifest's digest.
    pub digest: Digest,
    /// The number of blobs the manifest references.
    pub blobs: usize,
    /// Their total size.
    pub total_bytes: u64,
    /// How many the registry already held.
    pub already_present: usize,
    /// How many were mounted from another repository.
    pub mounted: usize,
    /// The bytes sent.
    pub uploaded_bytes: u64,
}

/// Pushes a manifest held in the store, and every blob it references that
/// the registry lacks, to `reference` (which carries the tag).
pub async fn push_manifest_from_store(
    client: &RegistryClient,
    store: &LayoutStore,
    reference: &ImageReference,
    manifest_digest: &Digest,
    progress: &Progress,
) -> anyhow::Result<PushReport> {
    let manifest = store.read_blob(manifest_digest, MAX_MANIFEST_BYTES)?;
    let blobs: ManifestBlobs = serde_json::from_slice(&manifest).with_context(|| {
        format!("the stored manifest {manifest_digest} is not an image manifest")
    })?;
    let media_type = manifest_media_type(&manifest);
    let mut descriptors = vec![blobs.config];
    descriptors.extend(blobs.layers);
    let repository = reference.repository().to_string();
    let mount_sources = mount_sources(store, reference)?;
    let uploads = descriptors.iter().map(|descriptor| {
        let path = store.blob_path(&descriptor.digest);
        let mount_from = mount_sources.get(&descriptor.digest).map(String::as_str);
        let label = short_digest(&descriptor.digest);
        let bar = progress.bar(&label, descriptor.size);
        let repository = repository.as_str();
        async move {
            let outcome = client
                .push_blob_file(
                    repository,
                    &descriptor.digest,
                    descriptor.size,
                    &path,
                    mount_from,
                    &bar,
                )
                .await?;
            match outcome {
                BlobPush::AlreadyPresent => bar.finish_with("already present"),
                BlobPush::Mounted => bar.finish_with("mounted"),
                BlobPush::Uploaded { .. } => bar.finish_with("uploaded"),
            }
            anyhow::Ok((descriptor.size, outcome))
        }
    });
    let outcomes = try_join_all(uploads).await?;
    let digest = client
        .put_manifest(
            &repository,
            reference.tag_or_latest(),
            &media_type,
            Bytes::from(manifest),
        )
        .await?;
    let mut report = PushReport {
        digest,
        blobs: outcomes.len(),
        total_bytes: 0,
        already_present: 0,
        mounted: 0,
        uploaded_bytes: 0,
    };
    for (size, outcome) in outcomes {
        report.total_bytes += size;
        match outcome {
            BlobPush::AlreadyPresent => report.already_present += 1,
            BlobPush::Mounted => report.mounted += 1,
            BlobPush::Uploaded { .. } => report.uploaded_bytes += size,
        }
    }
    Ok(report)
}

/// The manifest's own mediaType field (OCI when absent).
fn manifest_media_type(manifest: &[u8]) -> String {
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

/// For each blob, another repository of the same registry known (from the
/// store's names) to hold it: a cross-repository mount saves the upload.
fn mount_sources(
    store: &LayoutStore,
    reference: &ImageReference,
) -> anyhow::Result<BTreeMap<Digest, String>> {
    let mut sources = BTreeMap::new();
    for entry in store.entries()? {
        let Some(name) = entry.name else { continue };
        let Ok(other) = ImageReference::parse(&name, None) else {
            continue;
        };
        if other.registry() != reference.registry() || other.repository() == reference.repository()
        {
            continue;
        }
        let Ok(manifest) = store.read_blob(&entry.digest, MAX_MANIFEST_BYTES) else {
            continue;
        };
        let Ok(blobs) = serde_json::from_slice::<ManifestBlobs>(&manifest) else {
            continue;
        };
        for descriptor in std::iter::once(&blobs.config).chain(&blobs.layers) {
            sources
                .entry(descriptor.digest.clone())
                .or_insert_with(|| other.repository().to_string());
        }
    }
    Ok(sources)
}

/// `sha256:0123456789ab`, for a progress bar's label.
pub fn short_digest(digest: &Digest) -> String {
    let hex = digest.hex();
    format!(
        "{}:{}",
        digest.algorithm().as_str(),
        &hex[..hex.len().min(12)]
    )
}

/// A path in the store's scratch area, removed when dropped (success renames
/// it away first, so the removal then finds nothing).
pub struct TempPath(pub PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_directory_or_file_argument_is_not_a_reference() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().to_str().unwrap().to_string();
        assert_eq!(
            split_positionals(Some(text.clone()), None),
            (None, Some(PathBuf::from(&text)), None)
        );
        let package = dir.path().join("hello-0.1.0.agent.sntl");
        std::fs::write(&package, b"SNTL").unwrap();
        let package_text = package.to_str().unwrap().to_string();
        assert_eq!(
            split_positionals(Some(package_text), None),
            (None, None, Some(package))
        );
        assert_eq!(
            split_positionals(Some("me/hello:1.0.0".into()), None),
            (Some("me/hello:1.0.0".into()), None, None)
        );
    }

    #[test]
    fn build_metadata_becomes_a_valid_tag() {
        assert_eq!(sanitize_tag("1.2.0-rc.1+build.5"), "1.2.0-rc.1_build.5");
    }

    #[test]
    fn the_description_annotation_is_replaced() {
        let manifest =
            br#"{"schemaVersion":2,"annotations":{"org.opencontainers.image.description":"old"}}"#;
        let changed = with_description(manifest, "new words").unwrap();
        let value: serde_json::Value = serde_json::from_slice(&changed).unwrap();
        assert_eq!(
            value["annotations"]["org.opencontainers.image.description"],
            "new words"
        );
    }
}
