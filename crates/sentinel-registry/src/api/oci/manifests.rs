//! Manifest GET, HEAD, PUT and DELETE.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sentinel_oci::{ErrorCode, MAX_MANIFEST_SIZE, Reference, ReferenceError};

use super::in_flight::{Held, InFlight};
use super::{
    DOCKER_CONTENT_DIGEST, OCI_SUBJECT, Request, empty, header_value, refuse_unread, repository,
};
use crate::api::error::{ApiError, body_timeout, is_body_timeout};
use crate::service::{Registry, RegistryError};

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

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the exact bytes pushed,
/// unless the repository's signature policy refuses them to this caller.
pub(crate) async fn get(
    registry: &Registry,
    request: &Request,
    name: &str,
    reference_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let reference = reference(reference_text, false)?;
    let manifest = registry.manifest(&repository, &reference).await?;
    registry.touch_manifest(&repository, &manifest.digest).await;
    if registry.signature_required(&repository) && !request.may_push(name) {
        registry
            .check_signed_manifest(&repository, &manifest.digest)
            .await?;
    }
    let length = manifest.body.len();
    let body = if request.method == Method::HEAD {
        Body::empty()
    } else {
        let tag = match &reference {
            Reference::Tag(tag) => Some(tag),
            Reference::Digest(_) => None,
        };
        registry.record_pull(
            &repository,
            &manifest.digest,
            &manifest.media_type,
            tag,
            Some(request.caller.user()),
        );
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

/// Reads a manifest body of at most [`MAX_MANIFEST_SIZE`], holding the
/// memory it takes in the manifest budget of `in_flight` (given back when
/// the returned [`Held`] is dropped).
/// A body declared or found larger is refused at once with 413, and one that
/// does not fit the budget with 429, without reading the rest (which is
/// thrown away on its own task while the answer goes out).
async fn read_manifest_body(
    in_flight: &InFlight,
    request: &Request,
    body: Body,
) -> Result<(Bytes, Held), ApiError> {
    let too_large = || ApiError::from(RegistryError::ManifestTooLarge);
    let limit = MAX_MANIFEST_SIZE;
    let declared = request
        .header(&header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse_unread(too_large(), request, body, false));
    }
    let user = request.caller.user();
    let mut held = match in_flight.manifest_bytes(request.client, user, declared.unwrap_or(0)) {
        Ok(held) => held,
        Err(refusal) => return Err(refuse_unread(refusal, request, body, false)),
    };
    let mut stream = body.into_data_stream();
    let mut collected =
        BytesMut::with_capacity(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) if is_body_timeout(&error) => {
                return Err(body_timeout(
                    ErrorCode::ManifestInvalid,
                    "the manifest was not stored",
                ));
            }
            Err(error) => {
                return Err(ApiError::new(
                    ErrorCode::ManifestInvalid,
                    format!("the manifest body was interrupted: {error}"),
                ));
            }
        };
        let seen = collected.len() as u64 + chunk.len() as u64;
        if seen > limit {
            let rest = Body::from_stream(stream);
            return Err(refuse_unread(too_large(), request, rest, true));
        }
        if declared.is_none()
            && let Err(refusal) = held.grow(chunk.len() as u64)
        {
            let rest = Body::from_stream(stream);
            return Err(refuse_unread(refusal, request, rest, true));
        }
        collected.extend_from_slice(&chunk);
    }
    Ok((collected.freeze(), held))
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub(crate) async fn put(
    registry: &Registry,
    in_flight: &InFlight,
    request: &Request,
    body: Body,
    name: &str,
    reference_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let reference = reference(reference_text, true)?;
    let content_type = request.header(&header::CONTENT_TYPE).map(str::to_owned);
    // The memory stays held until the manifest is stored.
    let (body, _held) = read_manifest_body(in_flight, request, body).await?;
    let pushed = registry
        .put_manifest(
            &repository,
            &reference,
            content_type.as_deref(),
            body,
            Some(request.caller.user()).filter(|user| !user.is_empty()),
        )
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
    request: &Request,
    name: &str,
    reference_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let reference = reference(reference_text, false)?;
    let user = Some(request.caller.user()).filter(|user| !user.is_empty());
    registry
        .delete_manifest(&repository, &reference, user)
        .await?;
    Ok(empty(StatusCode::ACCEPTED, []))
}
