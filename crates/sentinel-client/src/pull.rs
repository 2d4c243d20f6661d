//! Blob downloads: streamed to a temporary file beside the destination, hashed
//! on the way, resumed with `Range` after a broken connection, verified, synced
//! and renamed into place.

use std::path::Path;

use bytes::Bytes;
use reqwest::header::{CONTENT_RANGE, HeaderValue, RANGE};
use reqwest::{Method, StatusCode};
use sentinel_oci::Digest;

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::progress::TransferProgress;
use crate::reference::parse_repository;
use crate::response::{error_for_status, header, next_chunk};
use crate::retry::Decision;
use crate::scope::Scopes;
use crate::sink::DownloadSink;
use crate::transport::{Auth, Call};

/// The prefix of temporary download files.
const TEMP_PREFIX: &str = ".sentinel-download-";

impl RegistryClient {
    /// Downloads blob `digest` to `dest`, replacing it only once the bytes are
    /// verified (and `size`, when given, matches). On a mismatch or failure no
    /// file is left behind. Returns the number of bytes written.
    pub async fn pull_blob_to_file(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
        progress: &dyn TransferProgress,
    ) -> Result<u64, ClientError> {
        parse_repository(repo)?;
        let registry = self.registry();
        let directory = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(directory)
            .map_err(|source| ClientError::io(directory, source))?;
        let temp_path = temp.path().to_path_buf();
        let handle = temp
            .as_file()
            .try_clone()
            .map_err(|source| ClientError::io(&temp_path, source))?;
        let mut sink = DownloadSink::start(handle, &temp_path, digest.algorithm());
        let mut written = 0u64;
        let url = self.repository_url(repo, &format!("blobs/{digest}"))?;
        let scopes = Scopes::pull(repo);
        let what = format!("blob {digest}");
        let mut failures_in_a_row = 0u32;
        'request: loop {
            if size.is_some_and(|expected| expected == written && expected > 0) {
                // The connection broke after the last byte: nothing is left to ask for.
                break 'request;
            }
            let mut call = Call::idempotent(Method::GET, url.clone(), Auth::Scoped(&scopes));
            if written > 0 {
                let range = HeaderValue::from_str(&format!("bytes={}-", written))
                    .map_err(|_| ClientError::protocol(registry, "cannot express a byte range"))?;
                call = call.header(RANGE, range);
            }
            let mut response = self.execute(call).await?;
            match response.status() {
                StatusCode::OK if written > 0 => {
                    // The registry (or its CDN) ignored the range: take the whole blob again.
                    sink.restart().await?;
                    written = 0;
                    progress.restarted_at(0);
                }
                StatusCode::OK => {}
                StatusCode::PARTIAL_CONTENT
                    if range_start(header(response.headers(), CONTENT_RANGE.as_str()))
                        == Some(written) => {}
                StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE if written > 0 => {
                    sink.restart().await?;
                    written = 0;
                    progress.restarted_at(0);
                    continue 'request;
                }
                _ => return Err(error_for_status(registry, response, Some(what)).await),
            }
            loop {
                match next_chunk(registry, &mut response, self.inner.idle_timeout).await {
                    Ok(Some(bytes)) => {
                        let total = written + bytes.len() as u64;
                        if let Some(expected) = size
                            && total > expected
                        {
                            return Err(ClientError::SizeMismatch {
                                what,
                                expected,
                                actual: total,
                            });
                        }
                        let count = bytes.len() as u64;
                        sink.write(bytes).await?;
                        written = total;
                        failures_in_a_row = 0;
                        progress.advanced(count);
                    }
                    Ok(None) => break 'request,
                    Err(error) => {
                        match self.inner.retry.decide(failures_in_a_row, None) {
                            Decision::RetryAfter(wait) => tokio::time::sleep(wait).await,
                            Decision::GiveUp => return Err(error),
                        }
                        tracing::debug!(registry, written = written, "download broke; resuming");
                        failures_in_a_row += 1;
                        progress.restarted_at(written);
                        continue 'request;
                    }
                }
            }
        }
        if let Some(expected) = size
            && written != expected
        {
            return Err(ClientError::SizeMismatch {
                what,
                expected,
                actual: written,
            });
        }
        let (actual, file) = sink.finish().await?;
        if &actual != digest {
            return Err(ClientError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(|join| ClientError::io(&temp_path, std::io::Error::other(join)))?
            .map_err(|source| ClientError::io(&temp_path, source))?;
        temp.persist(dest)
            .map_err(|error| ClientError::io(dest, error.error))?;
        Ok(written)
    }

    /// Fetches a small blob (a config) into memory, refusing more than
    /// `max_size` bytes, and verifies its digest.
    pub async fn pull_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        max_size: u64,
    ) -> Result<Bytes, ClientError> {
        let registry = self.registry();
        let url = self.repository_url(repo, &format!("blobs/{digest}"))?;
        let scopes = Scopes::pull(repo);
        let what = format!("blob {digest}");
        let mut failed_attempts = 0u32;
        loop {
            let response = self
                .execute(Call::idempotent(
                    Method::GET,
                    url.clone(),
                    Auth::Scoped(&scopes),
                ))
                .await?;
            if response.status() != StatusCode::OK {
                return Err(error_for_status(registry, response, Some(what)).await);
            }
            match self.read_body(response, max_size, &what).await {
                Ok(bytes) => {
                    let actual = Digest::of(digest.algorithm(), &bytes);
                    if &actual != digest {
                        return Err(ClientError::DigestMismatch {
                            expected: digest.clone(),
                            actual,
                        });
                    }
                    return Ok(bytes);
                }
                Err(error @ ClientError::Connect { .. }) => {
                    match self.inner.retry.decide(failed_attempts, None) {
                        Decision::RetryAfter(wait) => {
                            tokio::time::sleep(wait).await;
                            failed_attempts += 1;
                        }
                        Decision::GiveUp => return Err(error),
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// The first byte of `Content-Range: bytes <start>-<end>/<total>`.
fn range_start(content_range: Option<&str>) -> Option<u64> {
    let value = content_range?.trim();
    let value = value
        .strip_prefix("bytes")
        .unwrap_or(value)
        .trim_start_matches([' ', '=']);
    value.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_range_starts() {
        assert_eq!(range_start(Some("bytes 100-199/200")), Some(100));
        assert_eq!(range_start(Some("bytes=5-")), Some(5));
        assert_eq!(range_start(Some("bytes */200")), None);
        assert_eq!(range_start(None), None);
    }
}
