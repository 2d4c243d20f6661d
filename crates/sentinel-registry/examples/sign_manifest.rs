//! Signs a manifest in a registry and pushes the signature artifact, as
//! `agent sign` does: a self-contained helper for interop scripts
//! (`conformance/interop/containerd-signed.sh`) that need a signed image
//! without the `agent` CLI.
//!
//! Usage: `sign_manifest KEY_FILE http://HOST:PORT REPOSITORY DIGEST
//! [MEDIA_TYPE SIZE]`. KEY_FILE is an unencrypted PKCS#8 PEM private key;
//! if it does not exist, a new key is written there and its public half to
//! `KEY_FILE.pub`. Without MEDIA_TYPE and SIZE, the manifest's are read
//! with a `HEAD` (which a policy requiring signatures refuses to anyone
//! but a pusher, and to everyone when authentication is off).

use std::path::Path;

use anyhow::{Context as _, bail};
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, SIGNATURE_ARTIFACT_TYPE, SigningKey, Statement, Subject,
};
use sha2::{Digest as _, Sha256};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (key_file, base, repository, digest, described) = match args.as_slice() {
        [key, base, repository, digest] => (key, base, repository, digest, None),
        [key, base, repository, digest, media_type, size] => (
            key,
            base,
            repository,
            digest,
            Some((media_type.clone(), size.parse::<u64>()?)),
        ),
        _ => bail!(
            "usage: sign_manifest KEY_FILE http://HOST:PORT REPOSITORY DIGEST [MEDIA_TYPE SIZE]"
        ),
    };
    let key = load_or_create(Path::new(key_file))?;
    let http = reqwest::blocking::Client::new();
    let (media_type, size) = match described {
        Some(described) => described,
        None => describe(&http, base, repository, digest)?,
    };
    sign(&http, &key, base, repository, digest, media_type, size)
}

/// The media type and size of manifest `digest`, from a `HEAD`.
fn describe(
    http: &reqwest::blocking::Client,
    base: &str,
    repository: &str,
    digest: &str,
) -> anyhow::Result<(String, u64)> {
    let head = http
        .head(format!("{base}/v2/{repository}/manifests/{digest}"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .send()?
        .error_for_status()
        .context("HEAD the manifest to sign")?;
    let header = |name: &str| {
        head.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .with_context(|| format!("the manifest's {name}"))
    };
    Ok((header("content-type")?, header("content-length")?.parse()?))
}

fn sign(
    http: &reqwest::blocking::Client,
    key: &SigningKey,
    base: &str,
    repository: &str,
    digest: &str,
    media_type: String,
    size: u64,
) -> anyhow::Result<()> {
    let statement = Statement {
        repository: Some(repository.to_owned()),
        ..Statement::new(Subject {
            digest: digest.parse()?,
            media_type: media_type.clone(),
            size,
        })
    };
    let envelope = Envelope::sign(&statement, key).to_json();
    let empty = push_blob(http, base, repository, b"{}")?;
    let layer = push_blob(http, base, repository, &envelope)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": layer, "size": envelope.len()}],
        "subject": {"mediaType": media_type, "digest": digest, "size": size},
        "annotations": {
            sentinel_signature::KEY_ID_ANNOTATION: key.id().to_string(),
            sentinel_signature::SIGNED_AT_ANNOTATION: statement.created,
        },
    });
    let body = serde_json::to_vec(&manifest)?;
    let reference = sha256(&body);
    http.put(format!("{base}/v2/{repository}/manifests/{reference}"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(body)
        .send()?
        .error_for_status()
        .context("push the signature artifact")?;
    println!("{reference} signs {digest} with {}", key.id());
    Ok(())
}

fn load_or_create(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let pem = std::fs::read_to_string(path)?;
        return Ok(SigningKey::from_pem(&pem, None)?);
    }
    let key = SigningKey::generate();
    std::fs::write(path, key.to_pem(None)?.as_bytes())?;
    let public = format!("{}.pub", path.display());
    std::fs::write(public, key.public_key().to_pem())?;
    Ok(key)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn push_blob(
    http: &reqwest::blocking::Client,
    base: &str,
    repository: &str,
    bytes: &[u8],
) -> anyhow::Result<String> {
    let digest = sha256(bytes);
    http.post(format!(
        "{base}/v2/{repository}/blobs/uploads/?digest={digest}"
    ))
    .header("Content-Type", "application/octet-stream")
    .body(bytes.to_vec())
    .send()?
    .error_for_status()
    .with_context(|| format!("push blob {digest}"))?;
    Ok(digest)
}
