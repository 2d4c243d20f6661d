//! Upload sessions: opening (or mounting), one-request uploads for small
//! blobs, and chunked uploads that resume from the offset the registry
//! reports after a broken or stalled connection, a 5xx or an expired token.

use std::future::Future;
use std::path::Path;

use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, HeaderValue, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};
use sentinel_oci::Digest;
use tokio::sync::mpsc;
use url::Url;

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::progress::TransferProgress;
use crate::response::{content_digest, error_for_status, header};
use crate::retry::{Decision, is_retryable_status, retry_after};
use crate::scope::Scopes;
use crate::transport::{Auth, BodySource, Call};

/// The header by which a registry asks for chunks of at least this many bytes.
const OCI_CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

/// An open upload session.
pub(crate) struct Session {
    /// Where the next request of the session goes.
    pub location: Url,
    /// The registry's `OCI-Chunk-Min-Length`, if it sent one.
    min_chunk: Option<u64>,
}

/// What happened to one `PATCH`.
enum ChunkOutcome {
    /// Accepted; the session continues at `location`, the next byte being `next_offset`.
    Accepted { location: Url, next_offset: u64 },
    /// Failed in a way the session may survive: ask where it stands and resume.
    Resumable(ClientError, Option<std::time::Duration>),
}

/// What the registry holds of a session.
enum SessionStatus {
    /// The session lives, holding bytes up to `offset`.
    At { offset: u64, location: Url },
    /// The session is gone (e.g. the registry restarted without persisting it).
    Gone,
}

impl RegistryClient {
    /// `POST ?mount=&from=`: `None` when mounted (201), else the session the registry opened instead (202).
    pub(crate) async fn mount(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
        scopes: &Scopes,
    ) -> Result<Option<Session>, ClientError> {
        let mut url = self.repository_url(repo, "blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let response = self.post_uploads(url.clone(), scopes).await?;
        match response.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => self.session_from(&url, &response).map(Some),
            _ => Err(error_for_status(self.registry(), response, None).await),
        }
    }

    /// `POST /v2/<repo>/blobs/uploads/`: a new session.
    pub(crate) async fn start_upload(
        &self,
        repo: &str,
        scopes: &Scopes,
    ) -> Result<Session, ClientError> {
        let url = self.repository_url(repo, "blobs/uploads/")?;
        let response = self.post_uploads(url.clone(), scopes).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(error_for_status(self.registry(), response, None).await);
        }
        self.session_from(&url, &response)
    }

    /// The `POST` to a repository's uploads URL that opens a session or mounts a blob.
    async fn post_uploads(&self, url: Url, scopes: &Scopes) -> Result<Response, ClientError> {
        self.execute(Call::idempotent(Method::POST, url, Auth::Scoped(scopes)))
            .await
    }

    fn session_from(&self, request_url: &Url, response: &Response) -> Result<Session, ClientError> {
        Ok(Session {
            location: self.location_of(request_url, response)?,
            min_chunk: header(response.headers(), OCI_CHUNK_MIN_LENGTH)
                .and_then(|value| value.trim().parse().ok()),
        })
    }

    /// The `Location` of a response, resolved against the request's URL (query kept).
    fn location_of(&self, request_url: &Url, response: &Response) -> Result<Url, ClientError> {
        let location = header(response.headers(), LOCATION.as_str()).ok_or_else(|| {
            ClientError::protocol(self.registry(), "an upload answer has no Location")
        })?;
        request_url.join(location).map_err(|_| {
            ClientError::protocol(self.registry(), "an upload answer's Location is not a URL")
        })
    }

    /// Checks a committed blob's `Docker-Content-Digest`, when sent, against the digest pushed.
    pub(crate) fn check_committed(
        &self,
        digest: &Digest,
        response: &Response,
    ) -> Result<(), ClientError> {
        match content_digest(self.registry(), response.headers())? {
            Some(announced) if &announced != digest => Err(ClientError::DigestMismatch {
                expected: digest.clone(),
                actual: announced,
            }),
            _ => Ok(()),
        }
    }

    /// Sorts a failed upload request: resumable (connection, timeout, 5xx, 429,
    /// 401 once the token is renewed, 408, 416) with the wait the registry
    /// asked for, or final.
    pub(crate) async fn classify(
        &self,
        outcome: Result<Response, ClientError>,
        what: Option<String>,
    ) -> Result<(ClientError, Option<std::time::Duration>), ClientError> {
        match outcome {
            Err(error @ ClientError::Connect { .. }) => Ok((error, None)),
            Err(error) => Err(error),
            Ok(response) => {
                let status = response.status();
                let wait = retry_after(response.headers());
                let resumable = is_retryable_status(status)
                    || matches!(
                        status,
                        StatusCode::UNAUTHORIZED
                            | StatusCode::REQUEST_TIMEOUT
                            | StatusCode::RANGE_NOT_SATISFIABLE
                    );
                let error = error_for_status(self.registry(), response, what).await;
                if resumable {
                    Ok((error, wait))
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Waits before another try as the retry policy says, or fails with `error`
    /// when the tries are spent or the registry asks for too long a wait.
    pub(crate) async fn pause_or_fail(
        &self,
        failed_attempts: u32,
        wait: Option<std::time::Duration>,
        error: ClientError,
    ) -> Result<(), ClientError> {
        match self.inner.retry.decide(failed_attempts, wait) {
            Decision::RetryAfter(wait) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Decision::GiveUp => Err(error),
        }
    }

    /// `GET` of the session: how many bytes the registry holds.
    async fn session_status(
        &self,
        session: &Session,
        scopes: &Scopes,
    ) -> Result<SessionStatus, ClientError> {
        let response = self
            .execute(Call::idempotent(
                Method::GET,
                session.location.clone(),
                Auth::Scoped(scopes),
            ))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(SessionStatus::Gone),
            status if status.is_success() => {
                let offset = header(response.headers(), RANGE.as_str())
                    .and_then(next_offset_after)
                    .unwrap_or(0);
                let location = match header(response.headers(), LOCATION.as_str()) {
                    Some(_) => self.location_of(&session.location, &response)?,
                    None => session.location.clone(),
                };
                Ok(SessionStatus::At { offset, location })
            }
            _ => Err(error_for_status(self.registry(), response, None).await),
        }
    }
}

/// One blob upload in progress.
pub(crate) struct Upload<'a> {
    pub client: &'a RegistryClient,
    pub repo: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
    pub path: &'a Path,
    pub scopes: &'a Scopes,
    pub progress: &'a dyn TransferProgress,
}

impl Upload<'_> {
    /// One `PUT` with the whole file; a failure starts over in a new session.
    pub(crate) async fn whole(&self, mut session: Session) -> Result<u32, ClientError> {
        let client = self.client;
        let mut failed_attempts = 0;
        loop {
            let (sender, receiver) = mpsc::unbounded_channel();
            let call = Call::once(
                Method::PUT,
                with_digest(&session.location, self.digest),
                Auth::Scoped(self.scopes),
            )
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .body(self.file_body(0, self.size, sender));
            let outcome = self.watch(client.execute(call), receiver).await;
            match outcome {
                Ok(response) if response.status().is_success() => {
                    client.check_committed(self.digest, &response)?;
                    return Ok(failed_attempts);
                }
                outcome => {
                    let (error, wait) = client.classify(outcome, None).await?;
                    client.pause_or_fail(failed_attempts, wait, error).await?;
                    failed_attempts += 1;
                    self.progress.restarted_at(0);
                    session = client.start_upload(self.repo, self.scopes).await?;
                }
            }
        }
    }

    /// `PATCH` chunks then a closing `PUT`, resuming from the registry's offset after failures.
    pub(crate) async fn chunked(&self, mut session: Session) -> Result<u32, ClientError> {
        let client = self.client;
        let mut offset = 0u64;
        let mut resumed = 0u32;
        let mut failures_in_a_row = 0u32;
        let mut restarted = false;
        while offset < self.size {
            let chunk_size = client.inner.chunk_size.max(session.min_chunk.unwrap_or(0));
            let len = chunk_size.min(self.size - offset);
            let (error, wait) = match self.patch(&session, offset, len).await? {
                ChunkOutcome::Accepted {
                    location,
                    next_offset,
                } => {
                    session.location = location;
                    offset = next_offset;
                    failures_in_a_row = 0;
                    continue;
                }
                ChunkOutcome::Resumable(error, wait) => (error, wait),
            };
            tracing::debug!(registry = client.registry(), offset, %error, "chunk failed; resuming");
            client.pause_or_fail(failures_in_a_row, wait, error).await?;
            failures_in_a_row += 1;
            match client.session_status(&session, self.scopes).await {
                Ok(SessionStatus::At {
                    offset: held,
                    location,
                }) => {
                    session.location = location;
                    offset = held.min(self.size);
                }
                Ok(SessionStatus::Gone) if !restarted => {
                    restarted = true;
                    session = client.start_upload(self.repo, self.scopes).await?;
                    offset = 0;
                }
                Ok(SessionStatus::Gone) => {
                    return Err(ClientError::protocol(
                        client.registry(),
                        format!("it lost the upload session of blob {} twice", self.digest),
                    ));
                }
                // The status request failed too: send the chunk again from the old offset
                // (a 416 then leads back here), still bounded by the failure count.
                Err(ClientError::Connect { .. }) => {}
                Err(error) => return Err(error),
            }
            resumed += 1;
            self.progress.restarted_at(offset);
        }
        self.commit(&session).await?;
        Ok(resumed)
    }

    /// One `PATCH` of `len` bytes at `offset`.
    async fn patch(
        &self,
        session: &Session,
        offset: u64,
        len: u64,
    ) -> Result<ChunkOutcome, ClientError> {
        let client = self.client;
        let (sender, receiver) = mpsc::unbounded_channel();
        let range =
            HeaderValue::from_str(&format!("{offset}-{}", offset + len - 1)).map_err(|_| {
                ClientError::protocol(client.registry(), "cannot express a chunk range")
            })?;
        let call = Call::once(
            Method::PATCH,
            session.location.clone(),
            Auth::Scoped(self.scopes),
        )
        .header(CONTENT_RANGE, range)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )
        .body(self.file_body(offset, len, sender));
        let outcome = self.watch(client.execute(call), receiver).await;
        match outcome {
            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                let location = client.location_of(&session.location, &response)?;
                // After bytes were accepted, an ambiguous `0-0` cannot mean "empty";
                // should the registry hold less than reported, the next PATCH's 416 resyncs.
                let next_offset = header(response.headers(), RANGE.as_str())
                    .and_then(next_offset_after)
                    .filter(|&next| next > 0)
                    .unwrap_or(offset + len);
                Ok(ChunkOutcome::Accepted {
                    location,
                    next_offset,
                })
            }
            outcome => {
                let (error, wait) = client.classify(outcome, None).await?;
                Ok(ChunkOutcome::Resumable(error, wait))
            }
        }
    }

    /// The closing `PUT ?digest=` with no body. If its answer was lost and the
    /// retry finds the session gone, the blob being present counts as success.
    async fn commit(&self, session: &Session) -> Result<(), ClientError> {
        let client = self.client;
        let call = Call::idempotent(
            Method::PUT,
            with_digest(&session.location, self.digest),
            Auth::Scoped(self.scopes),
        );
        let response = client.execute(call).await?;
        let status = response.status();
        if status.is_success() {
            return client.check_committed(self.digest, &response);
        }
        if status == StatusCode::NOT_FOUND
            && client
                .blob_size(self.repo, self.digest, self.scopes)
                .await?
                == Some(self.size)
        {
            return Ok(());
        }
        Err(error_for_status(client.registry(), response, None).await)
    }

    /// Drives a request with a file body, passing the byte counts its body
    /// reports to the progress, and abandoning it when neither a byte nor the
    /// answer comes for the idle timeout.
    async fn watch(
        &self,
        request: impl Future<Output = Result<Response, ClientError>>,
        mut counts: mpsc::UnboundedReceiver<u64>,
    ) -> Result<Response, ClientError> {
        let idle = self.client.inner.idle_timeout;
        let mut deadline = tokio::time::Instant::now() + idle;
        tokio::pin!(request);
        loop {
            tokio::select! {
                biased;
                Some(bytes) = counts.recv() => {
                    self.progress.advanced(bytes);
                    deadline = tokio::time::Instant::now() + idle;
                }
                output = &mut request => {
                    while let Ok(bytes) = counts.try_recv() {
                        self.progress.advanced(bytes);
                    }
                    return output;
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Err(ClientError::stalled(self.client.registry(), idle));
                }
            }
        }
    }

    fn file_body(&self, offset: u64, len: u64, progress: mpsc::UnboundedSender<u64>) -> BodySource {
        BodySource::File {
            path: self.path.to_path_buf(),
            offset,
            len,
            progress: Some(progress),
        }
    }
}

/// `url` with `digest=<digest>` added to its query (existing parameters kept).
pub(crate) fn with_digest(url: &Url, digest: &Digest) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
}

/// The offset after an upload `Range: <start>-<end>` (inclusive end). `0-0`
/// means an empty session to Distribution and Sentinel, so it gives 0.
fn next_offset_after(range: &str) -> Option<u64> {
    let range = range.trim();
    let range = range.strip_prefix("bytes=").unwrap_or(range);
    let (_, end) = range.split_once('-')?;
    let end: u64 = end.trim().parse().ok()?;
    Some(if end == 0 { 0 } else { end + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges() {
        assert_eq!(next_offset_after("0-0"), Some(0));
        assert_eq!(next_offset_after("0-99"), Some(100));
        assert_eq!(next_offset_after("bytes=0-1023"), Some(1024));
        assert_eq!(next_offset_after("junk"), None);
    }

    #[test]
    fn digest_is_added_to_the_existing_query() {
        let url = Url::parse("https://r.example.com/v2/a/blobs/uploads/x?_state=abc").unwrap();
        let digest = Digest::sha256(b"");
        assert_eq!(
            with_digest(&url, &digest).as_str(),
            format!(
                "https://r.example.com/v2/a/blobs/uploads/x?_state=abc&digest=sha256%3A{}",
                digest.hex()
            )
        );
    }
}
