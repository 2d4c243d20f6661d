//! Manifests in the store: parsing them and checking that what they
//! reference is present, as a registry does before accepting one.

use sentinel_oci::{Digest, MAX_MANIFEST_SIZE, ParsedManifest};

use crate::blobs;
use crate::error::LocalStoreError;
use crate::paths::LayoutPaths;

/// What an `index.json` descriptor says about a stored manifest.
#[derive(Debug, Clone)]
pub(crate) struct ManifestFacts {
    /// The manifest's media type.
    pub(crate) media_type: String,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Its artifact type, or its config's media type.
    pub(crate) artifact_type: Option<String>,
}

/// Parses `bytes`, the manifest `digest`, declared (if known) as `media_type`.
pub(crate) fn parse(
    digest: &Digest,
    media_type: Option<&str>,
    bytes: &[u8],
) -> Result<ParsedManifest, LocalStoreError> {
    ParsedManifest::parse(media_type, bytes).map_err(|source| LocalStoreError::InvalidManifest {
        digest: digest.clone(),
        source,
    })
}

/// Fails unless every blob and child manifest `parsed` references is stored.
pub(crate) fn check_references(
    paths: &LayoutPaths,
    digest: &Digest,
    parsed: &ParsedManifest,
) -> Result<(), LocalStoreError> {
    for referenced in parsed.blobs.iter().chain(&parsed.manifests) {
        if blobs::size(paths, referenced)?.is_none() {
            return Err(LocalStoreError::MissingReference {
                manifest: digest.clone(),
                missing: referenced.clone(),
            });
        }
    }
    Ok(())
}

/// Reads the stored manifest `digest`, checks its references and describes it.
pub(crate) fn describe(
    paths: &LayoutPaths,
    digest: &Digest,
) -> Result<ManifestFacts, LocalStoreError> {
    let bytes = blobs::read_limited(paths, digest, MAX_MANIFEST_SIZE)?;
    let parsed = parse(digest, None, &bytes)?;
    check_references(paths, digest, &parsed)?;
    Ok(ManifestFacts {
        media_type: parsed.kind.media_type().to_owned(),
        size: bytes.len() as u64,
        artifact_type: parsed.artifact_type,
    })
}
