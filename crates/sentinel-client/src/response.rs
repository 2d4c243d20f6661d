//! Reading registry responses: error statuses into errors, bounded bodies, headers.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Response, StatusCode};
use sentinel_oci::Digest;
use serde::Deserialize;

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::retry::retry_after;

/// The header in which registries announce a content digest.
pub(crate) const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// The most of an error body read to explain an error.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// How long an error body may stall before it is given up on.
const ERROR_BODY_IDLE: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    code: Option<String>,
    message: Option<String>,
}

/// The error for a response whose status is not the expected one. `what`
/// names the thing looked for, which turns a 404 into [`ClientError::NotFound`].
pub(crate) async fn error_for_status(
    registry: &str,
    response: Response,
    what: Option<String>,
) -> ClientError {
    let status = response.status();
    let wait = retry_after(response.headers());
    match status {
        StatusCode::UNAUTHORIZED => return ClientError::authentication_failed(registry),
        StatusCode::TOO_MANY_REQUESTS => {
            return ClientError::RateLimited {
                registry: registry.to_owned(),
                retry_after: wait,
            };
        }
        StatusCode::NOT_FOUND if what.is_some() => {
            return ClientError::not_found(registry, what.unwrap_or_default());
        }
        _ => {}
    }
    let repository = repository_in_path(response.url().path());
    let body = read_limited(
        registry,
        response,
        MAX_ERROR_BODY,
        "the error body",
        ERROR_BODY_IDLE,
    )
    .await
    .unwrap_or_default();
    let (code, message) = first_error(&body).unwrap_or_else(|| {
        (
            None,
            status
                .canonical_reason()
                .unwrap_or("unexpected status")
                .to_lowercase(),
        )
    });
    if status == StatusCode::FORBIDDEN {
        // A refused HEAD has no body to explain it: name the repository.
        let message = match (code.is_none(), repository) {
            (true, Some(repository)) => format!("requested access to {repository} is denied"),
            _ => message,
        };
        return ClientError::Denied {
            registry: registry.to_owned(),
            message,
        };
    }
    ClientError::Registry {
        registry: registry.to_owned(),
        status: status.as_u16(),
        code,
        message,
    }
}

/// The repository a `/v2/<name>/{blobs,manifests,tags,referrers}/...` path names.
fn repository_in_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    ["/blobs/", "/manifests/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|verb| rest.rfind(verb).map(|at| &rest[..at]))
        .max_by_key(|name| name.len())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// The first code and message of an OCI error envelope.
fn first_error(body: &[u8]) -> Option<(Option<String>, String)> {
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let entry = envelope.errors.into_iter().next()?;
    let message = entry
        .message
        .filter(|message| !message.is_empty())
        .or_else(|| entry.code.clone())?;
    Some((entry.code, message))
}

/// The next piece of a body; fails when none comes for `idle`.
pub(crate) async fn next_chunk(
    registry: &str,
    response: &mut Response,
    idle: Duration,
) -> Result<Option<Bytes>, ClientError> {
    match tokio::time::timeout(idle, response.chunk()).await {
        Ok(chunk) => chunk.map_err(|error| ClientError::connect(registry, error)),
        Err(_) => Err(ClientError::stalled(registry, idle)),
    }
}

/// Reads a whole body of at most `limit` bytes; `what` names it in errors.
pub(crate) async fn read_limited(
    registry: &str,
    mut response: Response,
    limit: u64,
    what: &str,
    idle: Duration,
) -> Result<Bytes, ClientError> {
    let too_large = || ClientError::TooLarge {
        registry: registry.to_owned(),
        what: what.to_owned(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = next_chunk(registry, &mut response, idle).await? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl RegistryClient {
    /// Reads a whole body of at most `limit` bytes, under the client's idle timeout.
    pub(crate) async fn read_body(
        &self,
        response: Response,
        limit: u64,
        what: &str,
    ) -> Result<Bytes, ClientError> {
        read_limited(
            self.registry(),
            response,
            limit,
            what,
            self.inner.idle_timeout,
        )
        .await
    }
}

/// A header as text, if present and visible ASCII.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The media type of `Content-Type`, without parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = header(headers, CONTENT_TYPE.as_str())?;
    let media_type = value.split(';').next().unwrap_or(value).trim();
    (!media_type.is_empty()).then(|| media_type.to_owned())
}

/// `Docker-Content-Digest`: `None` when absent, an error when malformed.
pub(crate) fn content_digest(
    registry: &str,
    headers: &HeaderMap,
) -> Result<Option<Digest>, ClientError> {
    let Some(value) = header(headers, DOCKER_CONTENT_DIGEST) else {
        return Ok(None);
    };
    value.trim().parse::<Digest>().map(Some).map_err(|error| {
        ClientError::protocol(
            registry,
            format!("its Docker-Content-Digest is invalid: {error}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_repository_in_an_api_path() {
        assert_eq!(
            repository_in_path("/v2/bob/hello/blobs/sha256:abc").as_deref(),
            Some("bob/hello")
        );
        assert_eq!(
            repository_in_path("/v2/a/blobs/uploads/x").as_deref(),
            Some("a")
        );
        assert_eq!(
            repository_in_path("/v2/me/app/manifests/1").as_deref(),
            Some("me/app")
        );
        assert_eq!(repository_in_path("/v2/"), None);
    }

    #[test]
    fn reads_the_first_error_of_the_envelope() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such manifest","detail":{}},{"code":"X","message":"y"}]}"#;
        assert_eq!(
            first_error(body),
            Some((Some("MANIFEST_UNKNOWN".into()), "no such manifest".into()))
        );
        assert_eq!(
            first_error(br#"{"errors":[{"code":"DENIED"}]}"#),
            Some((Some("DENIED".into()), "DENIED".into()))
        );
        assert_eq!(first_error(b"<html>"), None);
        assert_eq!(first_error(br#"{"errors":[]}"#), None);
    }
}
