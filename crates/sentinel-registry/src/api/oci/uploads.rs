//! Blob uploads: POST (session, monolithic, mount), PATCH, PUT, GET, DELETE.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use sentinel_oci::{Digest, ErrorCode, RepositoryName};

use super::{
    DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID, Request, digest, empty, header_value, repository,
};
use crate::api::ApiError;
use crate::service::{MountOutcome, Registry, RegistryError, UploadSession};

/// The headers that tell a client where a session is and how much it holds:
/// `Location`, `Range` (the inclusive range received; `0-0` when empty, as
/// Distribution and docker expect) and `Docker-Upload-UUID`.
fn session_headers(
    repository: &RepositoryName,
    id: &str,
    offset: u64,
) -> [(HeaderName, HeaderValue); 3] {
    [
        (
            header::LOCATION,
            header_value(&format!("/v2/{repository}/blobs/uploads/{id}")),
        ),
        (
            header::RANGE,
            header_value(&format!("0-{}", offset.saturating_sub(1))),
        ),
        (DOCKER_UPLOAD_UUID, header_value(id)),
    ]
}

fn session_response(
    status: StatusCode,
    repository: &RepositoryName,
    session: &UploadSession,
) -> Response {
    empty(
        status,
        session_headers(repository, &session.id, session.progress.offset),
    )
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
            format!("invalid Content-Range {value:?}: expected <start>-<end>"),
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
    let length = end
        .checked_sub(start)
        .and_then(|span| span.checked_add(1))
        .ok_or_else(invalid)?;
    Ok(Some((start, length)))
}

/// An error response; a chunk out of order also gets the session's headers,
/// so the client can resume from the right offset.
fn upload_error(repository: &RepositoryName, id: &str, error: RegistryError) -> ApiError {
    let offset = match error {
        RegistryError::RangeNotContiguous { offset, .. } => Some(offset),
        _ => None,
    };
    let mut api = ApiError::from(error);
    if let Some(offset) = offset {
        for (name, value) in session_headers(repository, id, offset) {
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
    // A mount the caller may not make (they cannot pull from its source)
    // becomes an ordinary upload session, as the spec allows.
    if let Some(mount) = request
        .query("mount")
        .filter(|_| request.may_mount_from(request.query("from").as_deref()))
    {
        let mount = digest(&mount)?;
        let from = request
            .query("from")
            .map(|from| super::repository(&from))
            .transpose()?;
        // A mount reads the blob out of `from`: one its signature policy
        // would refuse to this caller's GET is not mounted either, or it
        // could be read back from a repository the caller may push to.
        if let Some(from) = &from
            && registry.signature_required(from)
            && !request.may_push(from.as_str())
        {
            match registry.check_signed_blob(from, &mount).await {
                Ok(()) => {}
                Err(RegistryError::NotSigned { .. }) => {
                    let state = registry.start_upload(&repository).await?;
                    return Ok(session_response(StatusCode::ACCEPTED, &repository, &state));
                }
                Err(error) => return Err(error.into()),
            }
        }
        return match registry.mount(&repository, &mount, from.as_ref()).await? {
            MountOutcome::Mounted => Ok(created(&repository, &mount)),
            MountOutcome::Session(state) => {
                Ok(session_response(StatusCode::ACCEPTED, &repository, &state))
            }
        };
    }
    if let Some(expected) = request.query("digest") {
        let expected = digest(&expected)?;
        let declared = request
            .header(&axum::http::header::CONTENT_LENGTH)
            .and_then(|length| length.parse().ok());
        registry
            .put_blob(&repository, &expected, declared, body.into_data_stream())
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
    registry
        .append(
            &repository,
            id,
            range.map(|r| r.0),
            range.map(|r| r.1),
            body.into_data_stream(),
        )
        .await
        .map(|state| session_response(StatusCode::ACCEPTED, &repository, &state))
        .map_err(|error| upload_error(&repository, id, error))
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
    registry
        .finish_upload(
            &repository,
            id,
            &expected,
            range.map(|r| r.0),
            range.map(|r| r.1),
            body.into_data_stream(),
        )
        .await
        .map(|()| created(&repository, &expected))
        .map_err(|error| upload_error(&repository, id, error))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with_range(value: &str) -> Request {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(value).unwrap());
        Request {
            method: axum::http::Method::PATCH,
            version: axum::http::Version::HTTP_11,
            uri: "/v2/a/blobs/uploads/x".parse().unwrap(),
            headers,
            client: std::net::Ipv4Addr::LOCALHOST.into(),
            caller: crate::auth::Caller::Anonymous,
            auth: None,
        }
    }

    #[test]
    fn content_range_forms() {
        for (value, expected) in [
            ("0-21", (0, 22)),
            ("22-41", (22, 20)),
            ("bytes 5-5", (5, 1)),
            ("bytes=0-9/10", (0, 10)),
            ("bytes 0-9/*", (0, 10)),
        ] {
            assert_eq!(
                content_range(&request_with_range(value)).unwrap(),
                Some(expected),
                "{value}"
            );
        }
        for value in ["", "5", "a-b", "9-3", "0-18446744073709551615", "-3"] {
            assert!(
                content_range(&request_with_range(value)).is_err(),
                "{value}"
            );
        }
    }
}
