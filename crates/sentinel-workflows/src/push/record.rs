//! Putting a package into the local store before a push: packing a
//! directory or importing a file, then writing its config and manifest.

use std::path::Path;
use std::time::SystemTime;

use sentinel_durable::TempPath;
use sentinel_local_store::LocalStore;
use sentinel_oci::media_types::OCI_MANIFEST;
use sentinel_oci::{Digest, MAX_MANIFEST_SIZE};
use sentinel_package::Definition;
use sentinel_package::oci::{BlobRef, build_manifest};

use crate::error::{Result, WorkflowError};

/// A package file in the local store with its definition.
pub(super) struct StoredPackage {
    pub definition: Definition,
    definition_bytes: Vec<u8>,
    file_name: String,
    digest: Digest,
    size: u64,
}

/// Packs `dir` straight into the store.
pub(super) fn pack_into_store(store: &LocalStore, dir: &Path) -> Result<StoredPackage> {
    // Removed when dropped; adopting the file moves it into the store first.
    let scratch = TempPath::new(store.ingest_path());
    let summary = sentinel_package::pack_to_file(dir, scratch.path())?;
    // Packing hashed the file as it wrote it.
    store.adopt_verified_file(scratch.path(), &summary.digest, summary.size)?;
    let size = summary.size;
    Ok(StoredPackage {
        file_name: sentinel_package::default_file_name(&summary.definition),
        definition: summary.definition,
        definition_bytes: summary.definition_bytes,
        digest: summary.digest,
        size,
    })
}

/// Reads the package `file` (checking it is one) and copies it into the store.
pub(super) fn import_package(store: &LocalStore, file: &Path) -> Result<StoredPackage> {
    let reader = std::fs::File::open(file).map_err(|source| WorkflowError::Open {
        path: file.to_path_buf(),
        source,
    })?;
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
pub(super) fn record_in_store(
    store: &LocalStore,
    package: &StoredPackage,
    description: Option<&str>,
) -> Result<Digest> {
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
    store: &LocalStore,
    config: &BlobRef,
    layer: &BlobRef,
    description: Option<&str>,
) -> Result<Option<Digest>> {
    for entry in store.entries()? {
        let Ok(bytes) = store.read_blob(&entry.digest, MAX_MANIFEST_SIZE) else {
            continue;
        };
        let Ok(view) = sentinel_package::oci::parse_manifest(&bytes) else {
            continue;
        };
        let same_blobs = view.config.digest == config.digest && view.package.digest == layer.digest;
        let same_description = view
            .annotations
            .get(sentinel_oci::annotations::DESCRIPTION)
            .map(String::as_str)
            == description;
        if same_blobs && same_description {
            return Ok(Some(entry.digest));
        }
    }
    Ok(None)
}

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
fn with_description(manifest: &[u8], description: &str) -> Result<Vec<u8>> {
    let mut value: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(manifest)
        .map_err(|source| WorkflowError::Malformed {
            what: "the built manifest is not a JSON object".to_string(),
            source,
        })?;
    let annotations = value
        .entry("annotations")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.insert(
            sentinel_oci::annotations::DESCRIPTION.to_string(),
            serde_json::Value::String(description.to_string()),
        );
    }
    Ok(serde_json::to_vec(&value)?)
}

/// A semver can hold `+`, which a tag cannot: docker and helm write `_`.
pub(super) fn sanitize_tag(version: &str) -> String {
    version.replace('+', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

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
