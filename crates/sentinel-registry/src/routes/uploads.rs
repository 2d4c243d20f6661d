//! Blob uploads: POST (session, monolithic, mount), PATCH, PUT, GET, DELETE.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use sentinel_oci::{Digest, ErrorCode, RepositoryName};
use sentinel_storage::UploadState;

use super::{
    DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID, Request, digest, empty, header_value, repository,
};
use crate::error::ApiError;
use crate::service::{MountOutcome, Registry, RegistryError};

fn upload_location(repository: &RepositoryName, id: &str) -> String {
    format!("/v2/{repository}/blobs/uploads/{id}")
}

/// The `Range` header of an upload: the inclusive range of bytes received.
/// With nothing received it is `0-0`, as Distribution and most clients expect.
fn received_range(offset: u64) -> HeaderValue {
    header_value(&format!("0-{}", offset.saturating_sub(1)))
}

fn session_headers(
    repository: &RepositoryName,
    state: &UploadState,
) -> [(HeaderName, HeaderValue); 3] {
    [
        (
            header::LOCATION,
            header_value(&upload_location(repository, &state.id)),
        ),
        (header::RANGE, received_range(state.offset)),
        (DOCKER_UPLOAD_UUID, header_value(&state.id)),
    ]
}

fn session_response(
    status: StatusCode,
    repository: &RepositoryName,
    state: &UploadState,
) -> Response {
    empty(status, session_headers(repository, state))
}

fn created(repository: &RepositoryName, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                header_value(&format!("/v2/{repository}/blobs/{digest}")),
            ),
            (DOCKER_CONTENT_DIGEST, header_value(digest.as_str())),
        ],
    )
}

/// Reads `Content-Range: <start>-<end>` (also accepting a `bytes ` or `bytes=`
/// prefix and a `/<total>` suffix) as the chunk's start and length.
fn content_range(request: &Request) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = request.header(&header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::new(
            ErrorCode::BlobUploadInvalid,
            format!("invalid Content-Range {value:?}"),
        )
        .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
    };
    let spec = value.trim();
    let spec = spec
        .strip_prefix("bytes=")
        .or_else(|| spec.strip_prefix("bytes "))
        .unwrap_or(spec);
    let spec = spec.split('/').next().unwrap_or_default();
    let (start, end) = spec.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok(Some((start, end - start + 1)))
}

/// Adds the session's `Location` and `Range` to a 416, so the client can resume.
async fn with_session_headers(
    registry: &Registry,
    repository: &RepositoryName,
    id: &str,
    error: RegistryError,
) -> ApiError {
    let range_error = matches!(error, RegistryError::RangeNotContiguous { .. });
    let mut api: ApiError = error.into();
    if range_error && let Ok(state) = registry.upload(repository, id).await {
        for (name, value) in session_headers(repository, &state) {
            api = api.with_header(name, value);
        }
    }
    api
}

/// `POST /v2/<name>/blobs/uploads/`: open a session, upload a whole blob
/// (`?digest=`), or mount one (`?mount=` with or without `&from=`).
pub(crate) async fn start(
    registry: &Registry,
    request: &Request,
    body: Body,
    name: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    if let Some(mount) = request.query("mount") {
        let mount = digest(&mount)?;
        let from = request
            .query("from")
            .map(|from| super::repository(&from))
            .transpose()?;
        return match registry.mount(&repository, &mount, from.as_ref()).await? {
            MountOutcome::Mounted => Ok(created(&repository, &mount)),
            MountOutcome::Session(state) => {
                Ok(session_response(StatusCode::ACCEPTED, &repository, &state))
            }
        };
    }
    if let Some(expected) = request.query("digest") {
        let expected = digest(&expected)?;
        let body = body.into_data_stream();
        registry
            .put_blob(&repository, &expected, None, body)
            .await?;
        return Ok(created(&repository, &expected));
    }
    let state = registry.start_upload(&repository).await?;
    Ok(session_response(StatusCode::ACCEPTED, &repository, &state))
}

/// `GET /v2/<name>/blobs/uploads/<id>`: how much the session holds.
pub(crate) async fn status(
    registry: &Registry,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let state = registry.upload(&repository, id).await?;
    Ok(session_response(
        StatusCode::NO_CONTENT,
        &repository,
        &state,
    ))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: append a chunk (with `Content-Range`)
/// or stream data (without it).
pub(crate) async fn patch(
    registry: &Registry,
    request: &Request,
    body: Body,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let range = content_range(request)?;
    let body = body.into_data_stream();
    match registry
        .append(
            &repository,
            id,
            range.map(|r| r.0),
            range.map(|r| r.1),
            body,
        )
        .await
    {
        Ok(state) => Ok(session_response(StatusCode::ACCEPTED, &repository, &state)),
        Err(error) => Err(with_session_headers(registry, &repository, id, error).await),
    }
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: append the last chunk, if any,
/// and complete the blob.
pub(crate) async fn put(
    registry: &Registry,
    request: &Request,
    body: Body,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let Some(expected) = request.query("digest") else {
        return Err(ApiError::new(
            ErrorCode::DigestInvalid,
            "completing an upload needs the blob's digest: PUT ...?digest=<digest>",
        ));
    };
    let expected = digest(&expected)?;
    let range = content_range(request)?;
    let body = body.into_data_stream();
    match registry
        .finish_upload(
            &repository,
            id,
            &expected,
            range.map(|r| r.0),
            range.map(|r| r.1),
            body,
        )
        .await
    {
        Ok(()) => Ok(created(&repository, &expected)),
        Err(error) => Err(with_session_headers(registry, &repository, id, error).await),
    }
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: abandon the session.
pub(crate) async fn cancel(
    registry: &Registry,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    registry.cancel_upload(&repository, id).await?;
    Ok(empty(StatusCode::NO_CONTENT, []))
}
