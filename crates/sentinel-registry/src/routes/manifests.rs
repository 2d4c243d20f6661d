//! Manifest GET, HEAD, PUT and DELETE.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sentinel_oci::{ErrorCode, Reference, ReferenceError};

use super::{DOCKER_CONTENT_DIGEST, OCI_SUBJECT, Request, empty, header_value, repository};
use crate::error::ApiError;
use crate::service::{MAX_MANIFEST_BYTES, Registry, RegistryError};

/// Parses a `<reference>`. A malformed digest is a 400; a malformed tag names
/// no manifest, so reading or deleting it is a 404 (as the conformance suite
/// expects) while pushing to it is a 400.
fn reference(text: &str, for_push: bool) -> Result<Reference, ApiError> {
    match text.parse::<Reference>() {
        Ok(reference) => Ok(reference),
        Err(ReferenceError::Digest(e)) => Err(e.into()),
        Err(ReferenceError::Tag(e)) if for_push => {
            Err(ApiError::new(ErrorCode::ManifestInvalid, e.to_string()))
        }
        Err(ReferenceError::Tag(_)) => Err(RegistryError::ManifestUnknown(text.to_owned()).into()),
    }
}

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the exact bytes pushed.
pub(crate) async fn get(
    registry: &Registry,
    request: &Request,
    name: &str,
    reference_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let reference = reference(reference_text, false)?;
    let manifest = registry.manifest(&repository, &reference).await?;
    let length = manifest.body.len();
    let body = if request.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(manifest.body)
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(&manifest.media_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        DOCKER_CONTENT_DIGEST,
        header_value(manifest.digest.as_str()),
    );
    headers.insert(
        header::ETAG,
        header_value(&format!("\"{}\"", manifest.digest)),
    );
    Ok(response)
}

/// Bodies of oversized manifests are read and thrown away up to this many
/// bytes, so the client, still sending, gets the 413 rather than a reset
/// connection; past it the connection is dropped.
const MAX_DRAINED_BYTES: u64 = 128 * 1024 * 1024;

/// Reads a manifest body of at most [`MAX_MANIFEST_BYTES`].
async fn read_manifest_body(body: Body, declared: Option<u64>) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::from(RegistryError::ManifestTooLarge);
    if declared.is_some_and(|n| n > MAX_DRAINED_BYTES) {
        return Err(too_large());
    }
    let interrupted = |e: axum::Error| {
        ApiError::new(
            ErrorCode::ManifestInvalid,
            format!("the manifest body was interrupted: {e}"),
        )
    };
    let mut stream = body.into_data_stream();
    let mut collected = BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(interrupted)?;
        seen += chunk.len() as u64;
        if seen > MAX_DRAINED_BYTES {
            return Err(too_large());
        }
        if seen <= MAX_MANIFEST_BYTES as u64 {
            collected.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_MANIFEST_BYTES as u64 {
        return Err(too_large());
    }
    Ok(collected.freeze())
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub(crate) async fn put(
    registry: &Registry,
    request: &Request,
    body: Body,
    name: &str,
    reference_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let reference = reference(reference_text, true)?;
    let declared = request
        .header(&header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    let content_type = request.header(&header::CONTENT_TYPE).map(str::to_owned);
    let body = read_manifest_body(body, declared).await?;
    let pushed = registry
        .put_manifest(&repository, &reference, content_type.as_deref(), body)
        .await?;
    let mut headers = vec![
        (
            header::LOCATION,
            header_value(&format!("/v2/{repository}/manifests/{}", pushed.digest)),
        ),
        (DOCKER_CONTENT_DIGEST, header_value(pushed.digest.as_str())),
    ];
    if let Some(subject) = &pushed.subject {
        headers.push((OCI_SUBJECT, header_value(subject.as_str())));
    }
    Ok(empty(StatusCode::CREATED, headers))
}

/// `DELETE /v2/<name>/manifests/<reference>`: a tag, or a manifest with all its tags.
pub(crate) async fn delete(
    registry: &Registry,
    name: &str,
    reference_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let reference = reference(reference_text, false)?;
    registry.delete_manifest(&repository, &reference).await?;
    Ok(empty(StatusCode::ACCEPTED, []))
}
