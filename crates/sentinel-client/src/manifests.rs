//! Manifests: fetch (verified against the digest asked for and announced), probe, store, delete.

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use sentinel_oci::{Digest, DigestAlgorithm, MAX_MANIFEST_SIZE, Reference, media_types};

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::reference::parse_manifest_reference;
use crate::response::{content_digest, error_for_status, header, media_type};
use crate::scope::Scopes;
use crate::transport::{Auth, BodySource, Call};

/// The manifest formats asked for, in order of preference.
const MANIFEST_ACCEPT: [&str; 4] = [
    media_types::OCI_MANIFEST,
    media_types::OCI_INDEX,
    media_types::DOCKER_MANIFEST,
    media_types::DOCKER_MANIFEST_LIST,
];

/// A manifest as received: its exact bytes, media type and verified digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The bytes exactly as served (re-serialising would change the digest).
    pub bytes: Bytes,
    /// The media type, from `Content-Type` or else the manifest's `mediaType`.
    pub media_type: String,
    /// The digest of `bytes`.
    pub digest: Digest,
}

/// What a `HEAD` of a manifest tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a registry answered when it stored a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// The registry's `OCI-Subject` header: the digest of the manifest's
    /// `subject`, sent by a registry that processed it (distribution-spec
    /// v1.1), so that its referrers API lists the stored manifest. `None`
    /// from a registry that ignores `subject` (CNCF Distribution 2.8), or
    /// for a manifest without one.
    pub subject: Option<Digest>,
}

/// The header by which a registry says it processed a manifest's `subject`.
const OCI_SUBJECT: &str = "oci-subject";

/// `manifest repo:tag` or `manifest repo@digest`, as errors name it.
fn describe(repository: &str, reference: &Reference) -> String {
    match reference {
        Reference::Tag(tag) => format!("manifest {repository}:{tag}"),
        Reference::Digest(digest) => format!("manifest {repository}@{digest}"),
    }
}

fn accept_header() -> HeaderValue {
    HeaderValue::from_static(
        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
         application/vnd.docker.distribution.manifest.v2+json, \
         application/vnd.docker.distribution.manifest.list.v2+json",
    )
}

/// The `mediaType` field of a manifest body, for registries that send no `Content-Type`.
fn declared_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Declared {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Declared>(bytes).ok()?.media_type
}

/// Checks that `bytes` hash to `expected` under its own algorithm.
fn verify(bytes: &[u8], expected: &Digest) -> Result<(), ClientError> {
    let actual = Digest::of(expected.algorithm(), bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(ClientError::DigestMismatch {
            expected: expected.clone(),
            actual,
        })
    }
}

impl RegistryClient {
    /// Fetches a manifest by tag or digest, accepting the OCI and Docker
    /// manifest and index formats (at most 4 MiB). The bytes must hash to the
    /// digest asked for and to `Docker-Content-Digest` when the registry sends it.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<FetchedManifest, ClientError> {
        let parsed = parse_manifest_reference(reference)?;
        let what = describe(repo, &parsed);
        let registry = self.registry();
        let response = self.request_manifest(Method::GET, repo, &parsed).await?;
        if response.status() != StatusCode::OK {
            return Err(error_for_status(registry, response, Some(what)).await);
        }
        let announced = content_digest(registry, response.headers())?;
        let served_type = media_type(response.headers());
        let bytes = self.read_body(response, MAX_MANIFEST_SIZE, &what).await?;
        if let Reference::Digest(asked) = &parsed {
            verify(&bytes, asked)?;
        }
        if let Some(announced) = &announced {
            verify(&bytes, announced)?;
        }
        let digest = match (&parsed, announced) {
            (Reference::Digest(asked), _) => asked.clone(),
            (_, Some(announced)) => announced,
            _ => Digest::of(DigestAlgorithm::Sha256, &bytes),
        };
        let declared = declared_media_type(&bytes);
        let media_type = match served_type {
            Some(served) if MANIFEST_ACCEPT.contains(&served.as_str()) => served,
            served => declared.or(served).ok_or_else(|| {
                ClientError::protocol(registry, format!("{what} has no media type"))
            })?,
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Probes a manifest with `HEAD`: `None` when it does not exist. Falls back
    /// to a `GET` when the registry leaves out the digest, type or length.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, ClientError> {
        let parsed = parse_manifest_reference(reference)?;
        let what = describe(repo, &parsed);
        let registry = self.registry();
        let response = self.request_manifest(Method::HEAD, repo, &parsed).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(error_for_status(registry, response, Some(what)).await),
        }
        let headers = response.headers();
        let digest = match (content_digest(registry, headers)?, &parsed) {
            (Some(digest), _) => Some(digest),
            (None, Reference::Digest(asked)) => Some(asked.clone()),
            (None, Reference::Tag(_)) => None,
        };
        let size = header(headers, CONTENT_LENGTH.as_str())
            .and_then(|length| length.trim().parse::<u64>().ok());
        match (digest, media_type(headers), size) {
            (Some(digest), Some(media_type), Some(size)) => Ok(Some(ManifestHead {
                digest,
                media_type,
                size,
            })),
            _ => {
                let manifest = self.get_manifest(repo, reference).await?;
                Ok(Some(ManifestHead {
                    size: manifest.bytes.len() as u64,
                    digest: manifest.digest,
                    media_type: manifest.media_type,
                }))
            }
        }
    }

    /// Sends a `GET` or `HEAD` for a manifest, accepting every manifest format.
    async fn request_manifest(
        &self,
        method: Method,
        repo: &str,
        reference: &Reference,
    ) -> Result<Response, ClientError> {
        let url = self.repository_url(repo, &format!("manifests/{reference}"))?;
        let scopes = Scopes::pull(repo);
        self.execute(
            Call::idempotent(method, url, Auth::Scoped(&scopes)).header(ACCEPT, accept_header()),
        )
        .await
    }

    /// Stores a manifest under a tag or digest and returns its digest. A digest
    /// reference must match the bytes; so must the registry's `Docker-Content-Digest`.
    /// [`RegistryClient::store_manifest`] also tells what the registry did with a `subject`.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, ClientError> {
        Ok(self
            .store_manifest(repo, reference, media_type, bytes)
            .await?
            .digest)
    }

    /// Stores a manifest under a tag or digest, as [`RegistryClient::put_manifest`]
    /// does, and returns its digest with the registry's `OCI-Subject` answer.
    pub async fn store_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<StoredManifest, ClientError> {
        let parsed = parse_manifest_reference(reference)?;
        let digest = match &parsed {
            Reference::Digest(asked) => {
                verify(&bytes, asked)?;
                asked.clone()
            }
            Reference::Tag(_) => Digest::of(DigestAlgorithm::Sha256, &bytes),
        };
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            ClientError::InvalidOptions(format!(
                "the media type {media_type:?} cannot be sent as a header"
            ))
        })?;
        let registry = self.registry();
        let url = self.repository_url(repo, &format!("manifests/{parsed}"))?;
        let scopes = Scopes::push(repo);
        let call = Call::idempotent(Method::PUT, url, Auth::Scoped(&scopes))
            .header(CONTENT_TYPE, content_type)
            .body(BodySource::Bytes(bytes.clone()));
        let response = self.execute(call).await?;
        if !response.status().is_success() {
            return Err(error_for_status(registry, response, None).await);
        }
        if let Some(announced) = content_digest(registry, response.headers())? {
            verify(&bytes, &announced)?;
        }
        let subject = header(response.headers(), OCI_SUBJECT)
            .and_then(|value| value.trim().parse::<Digest>().ok());
        Ok(StoredManifest { digest, subject })
    }

    /// Deletes a manifest (by digest; some registries also accept a tag).
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<(), ClientError> {
        let parsed = parse_manifest_reference(reference)?;
        let what = describe(repo, &parsed);
        let url = self.repository_url(repo, &format!("manifests/{parsed}"))?;
        let scopes = Scopes::delete(repo);
        let response = self
            .execute(Call::idempotent(Method::DELETE, url, Auth::Scoped(&scopes)))
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_for_status(self.registry(), response, Some(what)).await)
        }
    }
}
