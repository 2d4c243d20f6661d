//! Sign: a statement naming a manifest (or a package file) by digest,
//! signed into a DSSE envelope, pushed as a signature artifact whose
//! `subject` is the signed manifest (or written beside the file).
//!
//! The artifact is an OCI image manifest with `artifactType`
//! [`SIGNATURE_ARTIFACT_TYPE`], the OCI empty config, one layer (the
//! envelope, [`ENVELOPE_MEDIA_TYPE`]), the signed manifest's descriptor as
//! `subject`, and annotations naming the key and the time. It is pushed by
//! digest, with no tag: it is found through the referrers of its subject.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sentinel_client::{FetchedManifest, RegistryClient, ResolvedReference};
use sentinel_durable::{FileMode, TempPath, replace_file, unique_temp_path};
use sentinel_oci::media_types::OCI_MANIFEST;
use sentinel_oci::{Descriptor, Digest, DigestAlgorithm, DigestingWriter, ImageManifest};
use sentinel_package::oci::parse_manifest;
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, KEY_ID_ANNOTATION, SIGNATURE_ARTIFACT_TYPE,
    SIGNED_AT_ANNOTATION, SignedPackage, SigningKey, Statement, Subject,
};
use serde::Serialize;
use serde_json::Map;

use crate::error::{Result, WorkflowError};
use crate::registries::{self, Registries, wanted};
use crate::verify::detached_signature_path;

/// The OCI empty descriptor's media type, for an artifact without a config.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty blob: `{}`.
const EMPTY_BLOB: &[u8] = b"{}";

/// What a signature pushed to a registry says, and where it went.
#[derive(Debug, Clone, Serialize)]
pub struct SignReport {
    /// The signed manifest, by digest (`registry/repository@digest`).
    pub subject: String,
    /// The signed manifest's digest.
    pub digest: Digest,
    /// The signing key's id.
    pub key_id: String,
    /// When it was signed (RFC 3339).
    pub created: String,
    /// The signature artifact's manifest digest.
    pub signature: Digest,
}

/// What a detached signature says, and where it was written.
#[derive(Debug, Clone, Serialize)]
pub struct DetachedReport {
    /// The package file signed.
    pub file: PathBuf,
    /// Its digest.
    pub digest: Digest,
    /// The signature file written.
    pub signature: PathBuf,
    /// The signing key's id.
    pub key_id: String,
    /// When it was signed (RFC 3339).
    pub created: String,
}

/// Signs what `text` names now (its manifest fetched and resolved to a
/// digest first) with `key`, and pushes the signature artifact.
pub async fn sign(registries: &dyn Registries, text: &str, key: &SigningKey) -> Result<SignReport> {
    let reference = registries::reference(registries, text)?;
    let client = registries::client(registries, &reference)?;
    let manifest = client
        .get_manifest(reference.repository(), &wanted(&reference))
        .await?;
    sign_manifest(&client, &reference, &manifest, key).await
}

/// Signs `manifest` (in `reference`'s repository) with `key` and pushes
/// the signature artifact.
pub(crate) async fn sign_manifest(
    client: &RegistryClient,
    reference: &ResolvedReference,
    manifest: &FetchedManifest,
    key: &SigningKey,
) -> Result<SignReport> {
    let repository = reference.repository();
    let subject = Subject {
        digest: manifest.digest.clone(),
        media_type: manifest.media_type.clone(),
        size: manifest.bytes.len() as u64,
    };
    let package = parse_manifest(&manifest.bytes).ok().and_then(|view| {
        Some(SignedPackage {
            name: view
                .annotations
                .get(sentinel_oci::annotations::TITLE)?
                .clone(),
            kind: view.kind.as_str().to_string(),
            version: view
                .annotations
                .get(sentinel_oci::annotations::VERSION)?
                .clone(),
        })
    });
    let mut statement = Statement::new(subject.clone());
    statement.repository = Some(format!("{}/{repository}", reference.registry()));
    statement.package = package;
    let envelope = Envelope::sign(&statement, key);
    let envelope_bytes = Bytes::from(envelope.to_json());
    let envelope_digest = Digest::of(DigestAlgorithm::Sha256, &envelope_bytes);
    let empty_digest = Digest::of(DigestAlgorithm::Sha256, EMPTY_BLOB);
    client
        .push_blob_bytes(repository, &empty_digest, Bytes::from_static(EMPTY_BLOB))
        .await?;
    let envelope_size = envelope_bytes.len() as u64;
    client
        .push_blob_bytes(repository, &envelope_digest, envelope_bytes)
        .await?;
    let artifact = signature_manifest(
        &subject,
        Descriptor::new(ENVELOPE_MEDIA_TYPE, envelope_digest, envelope_size),
        &key.id().to_string(),
        &statement.created,
    )?;
    // Found through the referrers API, or the tag schema the client keeps
    // where the registry has none.
    let signature = client
        .push_referrer(repository, OCI_MANIFEST, artifact)
        .await?
        .digest;
    Ok(SignReport {
        subject: reference.with_digest(subject.digest.clone()).to_string(),
        digest: subject.digest,
        key_id: key.id().to_string(),
        created: statement.created,
        signature,
    })
}

/// The signature artifact's manifest: the empty config, the envelope as its
/// one layer, the signed manifest as its subject.
fn signature_manifest(
    subject: &Subject,
    envelope: Descriptor,
    key_id: &str,
    created: &str,
) -> Result<Bytes> {
    let subject_descriptor = Descriptor::new(
        subject.media_type.clone(),
        subject.digest.clone(),
        subject.size,
    );
    let mut other = Map::new();
    other.insert(
        "subject".to_string(),
        serde_json::to_value(&subject_descriptor)?,
    );
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        artifact_type: Some(SIGNATURE_ARTIFACT_TYPE.to_string()),
        config: Descriptor::new(
            EMPTY_MEDIA_TYPE,
            Digest::of(DigestAlgorithm::Sha256, EMPTY_BLOB),
            EMPTY_BLOB.len() as u64,
        ),
        layers: vec![envelope],
        annotations: BTreeMap::from([
            (KEY_ID_ANNOTATION.to_string(), key_id.to_string()),
            (SIGNED_AT_ANNOTATION.to_string(), created.to_string()),
            (
                sentinel_oci::annotations::CREATED.to_string(),
                created.to_string(),
            ),
        ]),
        other,
    };
    Ok(Bytes::from(serde_json::to_vec(&manifest)?))
}

/// Signs a package file with `key` into a detached signature file:
/// `output`, else [`detached_signature_path`] of `file`.
pub fn sign_detached(
    file: &Path,
    output: Option<&Path>,
    key: &SigningKey,
) -> Result<DetachedReport> {
    let (digest, size) = file_digest(file)?;
    let open = |source| WorkflowError::Open {
        path: file.to_path_buf(),
        source,
    };
    let reader = std::io::BufReader::new(std::fs::File::open(file).map_err(open)?);
    let contents = sentinel_package::read_package(reader)?;
    let definition = &contents.definition;
    let mut statement = Statement::new(Subject {
        digest: digest.clone(),
        media_type: contents.kind.layer_media_type().to_string(),
        size,
    });
    statement.package = Some(SignedPackage {
        name: definition.name().to_string(),
        kind: contents.kind.as_str().to_string(),
        version: definition.version().to_string(),
    });
    let envelope = Envelope::sign(&statement, key);
    let signature = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| detached_signature_path(file));
    let dir = sentinel_durable::parent_dir(&signature);
    let temp = TempPath::new(unique_temp_path(dir, ".signature.", ".tmp"));
    replace_file(temp, &signature, &envelope.to_json(), FileMode::Default)?;
    Ok(DetachedReport {
        file: file.to_path_buf(),
        digest,
        signature,
        key_id: key.id().to_string(),
        created: statement.created,
    })
}

/// The sha256 digest and size of a file, read as a stream.
pub(crate) fn file_digest(file: &Path) -> Result<(Digest, u64)> {
    let open = |source| WorkflowError::Open {
        path: file.to_path_buf(),
        source,
    };
    let mut reader = std::fs::File::open(file).map_err(open)?;
    let mut writer = DigestingWriter::new(std::io::sink(), DigestAlgorithm::Sha256);
    std::io::copy(&mut reader, &mut writer).map_err(open)?;
    let (_, digest, size) = writer.finish();
    Ok((digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_signature_manifest_names_its_subject_and_key() {
        let subject = Subject {
            digest: Digest::sha256(b"m"),
            media_type: OCI_MANIFEST.to_string(),
            size: 1,
        };
        let envelope = Descriptor::new(ENVELOPE_MEDIA_TYPE, Digest::sha256(b"e"), 5);
        let bytes =
            signature_manifest(&subject, envelope, "ed25519:00", "2026-12-07T03:20:00Z").unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["artifactType"], SIGNATURE_ARTIFACT_TYPE);
        assert_eq!(value["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            value["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(value["subject"]["digest"], subject.digest.as_str());
        assert_eq!(value["layers"][0]["mediaType"], ENVELOPE_MEDIA_TYPE);
        assert_eq!(value["annotations"][KEY_ID_ANNOTATION], "ed25519:00");
        assert_eq!(
            value["annotations"][SIGNED_AT_ANNOTATION],
            "2026-12-07T03:20:00Z"
        );
    }
}
