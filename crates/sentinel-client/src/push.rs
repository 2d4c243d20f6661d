//! Blob pushes: the existence check, then a cross-repository mount or an
//! upload (see `upload` for the sessions).

use std::path::Path;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use sentinel_oci::Digest;

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::progress::TransferProgress;
use crate::reference::parse_repository;
use crate::response::{error_for_status, header};
use crate::scope::Scopes;
use crate::transport::{Auth, BodySource, Call};
use crate::upload::{Upload, with_digest};

/// How a blob push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The repository already had the blob; nothing was sent.
    AlreadyPresent,
    /// The registry linked the blob from another repository; nothing was sent.
    Mounted,
    /// The blob was uploaded; `resumed` counts the resumptions after failures.
    Uploaded {
        /// How many times the upload continued after a failure.
        resumed: u32,
    },
}

impl RegistryClient {
    /// The size of blob `digest` in `repo`, or `None` when the repository lacks it.
    pub async fn blob_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, ClientError> {
        self.blob_size(repo, digest, &Scopes::pull(repo)).await
    }

    /// The size of blob `digest` in `repo`, asked with a token for `scopes`
    /// (a push checks with the token it will upload with).
    pub(crate) async fn blob_size(
        &self,
        repo: &str,
        digest: &Digest,
        scopes: &Scopes,
    ) -> Result<Option<u64>, ClientError> {
        let url = self.repository_url(repo, &format!("blobs/{digest}"))?;
        let response = self
            .execute(Call::idempotent(Method::HEAD, url, Auth::Scoped(scopes)))
            .await?;
        match response.status() {
            status if status.is_success() => Ok(Some(
                header(response.headers(), CONTENT_LENGTH.as_str())
                    .and_then(|length| length.trim().parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(error_for_status(self.registry(), response, None).await),
        }
    }

    /// Uploads the blob `digest` of `size` bytes from the file at `path`, unless
    /// `repo` has it already or it can be mounted from `mount_from`. Blobs up to
    /// the chunk size go in one `PUT`; larger ones in `PATCH` chunks streamed
    /// from the file, resumed from the registry's offset when a chunk fails.
    pub async fn push_blob_file(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: Option<&str>,
        progress: &dyn TransferProgress,
    ) -> Result<BlobPush, ClientError> {
        parse_repository(repo)?;
        if let Some(from) = mount_from {
            parse_repository(from)?;
        }
        let on_disk = tokio::fs::metadata(path)
            .await
            .map_err(|source| ClientError::io(path, source))?
            .len();
        if on_disk != size {
            return Err(ClientError::SizeMismatch {
                what: path.display().to_string(),
                expected: size,
                actual: on_disk,
            });
        }
        let scopes = match mount_from {
            Some(from) => Scopes::mount(repo, from),
            None => Scopes::push(repo),
        };
        if self.blob_size(repo, digest, &scopes).await? == Some(size) {
            return Ok(BlobPush::AlreadyPresent);
        }
        let session = match mount_from {
            Some(from) => match self.mount(repo, digest, from, &scopes).await? {
                Some(session) => session,
                None => return Ok(BlobPush::Mounted),
            },
            None => self.start_upload(repo, &scopes).await?,
        };
        let upload = Upload {
            client: self,
            repo,
            digest,
            size,
            path,
            scopes: &scopes,
            progress,
        };
        let resumed = if size <= self.inner.chunk_size {
            upload.whole(session).await?
        } else {
            upload.chunked(session).await?
        };
        Ok(BlobPush::Uploaded { resumed })
    }

    /// Links blob `digest` into `repo` from `from`, another repository of
    /// this registry, without sending it (a cross-repository mount). `false`
    /// when the registry does not mount it; the upload session it opens
    /// instead is cancelled.
    pub async fn mount_blob(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, ClientError> {
        parse_repository(repo)?;
        parse_repository(from)?;
        let scopes = Scopes::mount(repo, from);
        match self.mount(repo, digest, from, &scopes).await? {
            None => Ok(true),
            Some(session) => {
                // Best effort: a session left behind expires on the registry anyway.
                let cancel =
                    Call::idempotent(Method::DELETE, session.location, Auth::Scoped(&scopes));
                if let Err(error) = self.execute(cancel).await {
                    tracing::debug!(registry = self.registry(), %error, "cancelling an upload failed");
                }
                Ok(false)
            }
        }
    }

    /// Uploads a small blob held in memory (a config): `HEAD`, then `POST` and `PUT`.
    pub async fn push_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<BlobPush, ClientError> {
        let actual = Digest::of(digest.algorithm(), &bytes);
        if &actual != digest {
            return Err(ClientError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let scopes = Scopes::push(repo);
        if self.blob_size(repo, digest, &scopes).await? == Some(bytes.len() as u64) {
            return Ok(BlobPush::AlreadyPresent);
        }
        let mut failed_attempts = 0;
        loop {
            let session = self.start_upload(repo, &scopes).await?;
            let url = with_digest(&session.location, digest);
            let call = Call::once(Method::PUT, url, Auth::Scoped(&scopes))
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                )
                .body(BodySource::Bytes(bytes.clone()));
            match self.execute(call).await {
                Ok(response) if response.status().is_success() => {
                    self.check_committed(digest, &response)?;
                    return Ok(BlobPush::Uploaded {
                        resumed: failed_attempts,
                    });
                }
                outcome => {
                    let (error, wait) = self.classify(outcome, None).await?;
                    self.pause_or_fail(failed_attempts, wait, error).await?;
                    failed_attempts += 1;
                }
            }
        }
    }
}
