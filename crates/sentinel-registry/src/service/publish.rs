//! Publishing a `.sntl` file in one request: the registry verifies it
//! while it streams into storage, then stores the definition and writes the
//! same manifest `agent push` would, tagged with the version.

use std::io::Read;
use std::sync::mpsc;

use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_oci::media_types::OCI_MANIFEST;
use sentinel_oci::{Digest, DigestAlgorithm, Digester, Reference, RepositoryName, Tag};
use sentinel_package::oci::{BlobRef, build_manifest};
use sentinel_package::versions::version_tag;
use sentinel_package::{PackageContents, default_file_name, verify_package};
use sentinel_storage::UploadProgress;

use super::packages::{Packaged, packaged};
use super::uploads::BodyStream;
use super::{Registry, RegistryError};
use crate::clock::{now, rfc3339};

/// Where a published package goes.
#[derive(Clone, Debug)]
pub enum PublishTarget {
    /// This repository.
    Repository(RepositoryName),
    /// `<namespace>/<package name>`, or `<package name>` without a namespace.
    Namespace(Option<String>),
}

/// A published package.
#[derive(Clone, Debug)]
pub struct Published {
    /// The repository it went to.
    pub repository: RepositoryName,
    /// The manifest's digest.
    pub digest: Digest,
    /// The version tag.
    pub tag: Tag,
    /// The package's name.
    pub name: String,
    /// The package's version.
    pub version: semver::Version,
}

/// Whether a publish committed its upload to a blob.
enum Committed {
    /// It did: the upload is a blob now.
    Yes,
    /// It did not (refused, or the package was published already): the
    /// upload's bytes are to be discarded.
    No,
}

/// Reads chunks sent by the request's task, for the verifier's thread.
struct ChunkReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.recv() {
                Ok(chunk) => self.current = chunk,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Registry {
    /// Publishes the `.sntl` file `body`: verified completely while it is
    /// stored, then placed in the repository `target` names, if `may_push`
    /// allows that repository. Nothing is left behind on failure.
    pub async fn publish(
        &self,
        body: impl BodyStream,
        target: PublishTarget,
        may_push: impl FnOnce(&RepositoryName) -> bool + Send,
        pushed_by: Option<&str>,
    ) -> Result<Published, RegistryError> {
        // Refused before a byte is stored when the namespace the package
        // goes to is known and at its quota already.
        let known = match &target {
            PublishTarget::Repository(repository) => Some(repository.clone()),
            PublishTarget::Namespace(Some(namespace)) => namespace.parse().ok(),
            PublishTarget::Namespace(None) => None,
        };
        if let Some(repository) = known {
            self.check_quota(&repository, None).await?;
        }
        let (sender, chunks) = mpsc::sync_channel::<Bytes>(16);
        let verifier = tokio::task::spawn_blocking(move || {
            verify_package(ChunkReader {
                chunks,
                current: Bytes::new(),
            })
        });
        let teed = body.map(move |chunk| {
            let chunk = chunk.map_err(Into::into)?;
            // A verifier that stopped has found a fault: stop storing too.
            sender
                .send(chunk.clone())
                .map_err(|_| "the package was refused while it was read")?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(chunk)
        });
        let mut upload = self
            .blobs
            .open_upload(uuid::Uuid::new_v4().to_string(), UploadProgress::default());
        let stored = upload.append(teed, None).await;
        let verified = verifier
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
        let contents = match (verified, stored) {
            (Ok(contents), Ok(_)) => contents,
            (Err(error), _) => {
                upload.cancel().await;
                return Err(RegistryError::PackageInvalid(format!(
                    "the file is not a valid Sentinel package: {error}"
                )));
            }
            (Ok(_), Err(error)) => {
                upload.cancel().await;
                return Err(error.into());
            }
        };
        let stored = self.publish_verified(&mut upload, contents, target, may_push, pushed_by);
        let result = stored.await;
        if !matches!(result, Ok((_, Committed::Yes))) {
            upload.cancel().await;
        }
        result.map(|(published, _)| published)
    }

    /// The rest of [`Registry::publish`] once the package is verified and
    /// its bytes are in `upload`; says whether the upload was committed.
    ///
    /// Whatever would refuse the manifest for its tag is checked before
    /// anything is stored, and a package already published under its
    /// version tag is not stored again: its manifest is the answer, as
    /// `agent push` reuses the manifest of an unchanged package.
    async fn publish_verified(
        &self,
        upload: &mut sentinel_storage::BlobUpload,
        contents: PackageContents,
        target: PublishTarget,
        may_push: impl FnOnce(&RepositoryName) -> bool + Send,
        pushed_by: Option<&str>,
    ) -> Result<(Published, Committed), RegistryError> {
        let definition = &contents.definition;
        let name = definition.name().to_owned();
        let repository = match target {
            PublishTarget::Repository(repository) => repository,
            PublishTarget::Namespace(namespace) => {
                let path = match namespace {
                    Some(namespace) => format!("{namespace}/{name}"),
                    None => name.clone(),
                };
                path.parse().map_err(|e: sentinel_oci::NameError| {
                    RegistryError::PackageInvalid(format!(
                        "the package would go to {path}, which is not a repository name ({e}); name one with ?repository="
                    ))
                })?
            }
        };
        if !may_push(&repository) {
            return Err(RegistryError::PublishDenied(repository));
        }
        let size = upload.progress().offset;
        let package_digest = {
            // The upload hashed what it stored; its saved state is the digest's.
            let state = &upload.progress().hash_state;
            Digester::restore(DigestAlgorithm::Sha256, state)
                .ok_or_else(|| {
                    RegistryError::Internal("an upload's hash state is unreadable".to_owned())
                })?
                .finish()
        };
        let config = Bytes::from(contents.definition_bytes.clone());
        let config_digest = Digest::sha256(&config);
        let config_size = config.len() as u64;
        let tag: Tag = version_tag(definition.version())
            .parse()
            .map_err(|e: sentinel_oci::NameError| RegistryError::PackageInvalid(e.to_string()))?;
        if let Some(existing) = self.index.tagged_manifest(&repository, &tag).await? {
            if let Ok(Packaged::Yes(artifact)) = packaged(&existing.body)
                && artifact.config.digest == config_digest
                && artifact.package.digest == package_digest
            {
                let published = Published {
                    repository,
                    digest: existing.digest,
                    tag,
                    name,
                    version: definition.version().clone(),
                };
                return Ok((published, Committed::No));
            }
            self.check_tag_move(&repository, &tag, &existing)?;
        }
        let published_as = match self.catalogue.versions(&repository).await? {
            Some(versions) if self.policy.immutable_versions => versions
                .versions
                .into_iter()
                .find(|v| &v.version == definition.version()),
            _ => None,
        };
        if let Some(taken) = published_as {
            if taken.package_digest != package_digest {
                return Err(RegistryError::VersionTaken {
                    repository,
                    version: definition.version().clone(),
                    digest: taken.digest,
                });
            }
            // This package, published under another tag (`stable`): its
            // manifest takes the version tag too.
            if let Some(existing) = self.index.manifest(&repository, &taken.digest).await? {
                let pushed = self
                    .put_manifest(
                        &repository,
                        &Reference::Tag(tag.clone()),
                        Some(OCI_MANIFEST),
                        Bytes::from(existing.body),
                        pushed_by,
                    )
                    .await?;
                let published = Published {
                    repository,
                    digest: pushed.digest,
                    tag,
                    name,
                    version: definition.version().clone(),
                };
                return Ok((published, Committed::No));
            }
        }
        self.check_new_blob_quota(&repository, &package_digest, size + config_size)
            .await?;
        self.commit_blob(upload, &repository, &package_digest)
            .await?;
        let one_chunk = futures_util::stream::iter([Ok::<_, std::io::Error>(config)]);
        self.put_blob(&repository, &config_digest, Some(config_size), one_chunk)
            .await?;
        let manifest = build_manifest(
            definition,
            &BlobRef {
                digest: config_digest,
                size: config_size,
            },
            &BlobRef {
                digest: package_digest,
                size,
            },
            &default_file_name(definition),
            &rfc3339(now()),
        );
        let pushed = self
            .put_manifest(
                &repository,
                &Reference::Tag(tag.clone()),
                Some(OCI_MANIFEST),
                Bytes::from(manifest),
                pushed_by,
            )
            .await?;
        let published = Published {
            repository,
            digest: pushed.digest,
            tag,
            name,
            version: definition.version().clone(),
        };
        Ok((published, Committed::Yes))
    }
}
