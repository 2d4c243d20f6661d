//! Blob GET, HEAD and DELETE.

use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_oci::{Digest, ErrorCode, RepositoryName};

use super::{DOCKER_CONTENT_DIGEST, Request, digest, empty, header_value, repository};
use crate::api::ApiError;
use crate::service::Registry;

/// What a `Range` request header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// No (usable) range: send the whole blob.
    Whole,
    /// Send these bytes.
    Part(Range<u64>),
    /// The range lies outside the blob.
    Unsatisfiable,
}

/// Reads a single `bytes=` range; anything else is ignored, as RFC 9110 allows.
fn parse_range(value: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // A suffix: the last N bytes.
        match last.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) => size.saturating_sub(n)..size,
            Err(_) => return RangeRequest::Whole,
        }
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return RangeRequest::Whole;
        };
        let end = if last.is_empty() {
            size
        } else {
            match last.parse::<u64>() {
                Ok(last) if last >= start => last.saturating_add(1).min(size),
                _ => return RangeRequest::Whole,
            }
        };
        start..end
    };
    if range.start >= size {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Part(range)
    }
}

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`.
pub(crate) async fn get(
    registry: &Registry,
    request: &Request,
    name: &str,
    digest_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let digest = digest(digest_text)?;
    serve_blob(
        registry,
        request,
        &repository,
        &digest,
        "application/octet-stream",
    )
    .await
}

/// Answers a `GET` or `HEAD` of blob `digest` of `repository` as
/// `content_type`, honouring a single `Range`. A `GET` from the first byte
/// counts as a download (of a package, if the blob is one). A blob that
/// only unsigned manifests reference is refused to a `GET` under a
/// signature policy that requires signatures, unless the caller may push
/// (a `HEAD` is not: pushing clients ask it before uploading a blob).
pub(crate) async fn serve_blob(
    registry: &Registry,
    request: &Request,
    repository: &RepositoryName,
    digest: &Digest,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    if request.method == Method::GET
        && registry.signature_required(repository)
        && !request.may_push(repository.as_str())
    {
        registry.check_signed_blob(repository, digest).await?;
    }
    let blob = registry.blob(repository, digest).await?;
    registry.touch_blob(repository, digest).await;
    let size = blob.size;
    let range = match parse_range(request.header(&header::RANGE), size) {
        RangeRequest::Unsatisfiable => {
            return Err(ApiError::new(
                ErrorCode::SizeInvalid,
                format!("range outside the blob's {size} bytes"),
            )
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            .with_header(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            ));
        }
        RangeRequest::Whole => None,
        RangeRequest::Part(range) => Some(range),
    };
    let (status, length) = match &range {
        Some(range) => (StatusCode::PARTIAL_CONTENT, range.end - range.start),
        None => (StatusCode::OK, size),
    };
    let body = if request.method == Method::HEAD {
        Body::empty()
    } else {
        let stream = registry.read_blob(&blob, range.clone()).await?;
        if range.as_ref().is_none_or(|r| r.start == 0) {
            registry.count_download(repository, &blob.digest);
        }
        Body::from_stream(stream)
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(DOCKER_CONTENT_DIGEST, header_value(blob.digest.as_str()));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, header_value(&format!("\"{}\"", blob.digest)));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(range) = range {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {}-{}/{size}", range.start, range.end - 1)),
        );
    }
    Ok(response)
}

/// `DELETE /v2/<name>/blobs/<digest>`.
pub(crate) async fn delete(
    registry: &Registry,
    name: &str,
    digest_text: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let digest = digest(digest_text)?;
    registry.delete_blob(&repository, &digest).await?;
    Ok(empty(
        StatusCode::ACCEPTED,
        [(DOCKER_CONTENT_DIGEST, header_value(digest.as_str()))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_forms() {
        assert_eq!(parse_range(None, 10), RangeRequest::Whole);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), RangeRequest::Part(0..5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeRequest::Part(5..10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), RangeRequest::Part(7..10));
        assert_eq!(
            parse_range(Some("bytes=8-100"), 10),
            RangeRequest::Part(8..10)
        );
        assert_eq!(
            parse_range(Some("bytes=10-12"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-0"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=5-2"), 10), RangeRequest::Whole);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeRequest::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeRequest::Whole);
        assert_eq!(
            parse_range(Some("bytes=0-0"), 0),
            RangeRequest::Unsatisfiable
        );
    }
}
