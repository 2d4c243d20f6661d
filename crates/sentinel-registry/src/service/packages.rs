//! Packages: reading every Sentinel package manifest pushed, refusing the
//! invalid ones, keeping the catalogue in step with the manifests, and
//! rebuilding it from them.
//!
//! A manifest is a package when its `artifactType` (or, without one, its
//! config media type) is a Sentinel kind. Its definition (the config blob)
//! must pass the rules `agent pack` applies, agree with the manifest's title
//! and version annotations and with the definition inside the `.sntl` layer,
//! and a version tag must name its own version. The catalogue holds a
//! package manifest while at least one tag points at it.

use bytes::Bytes;
use sentinel_catalogue::{MAX_README_BYTES, PackageVersion, StoredPackage};
use sentinel_oci::annotations::{CREATED, TITLE, VERSION};
use sentinel_oci::{Digest, RepositoryName, Tag};
use sentinel_package::oci::{PackageArtifact, parse_manifest};
use sentinel_package::versions::{tag_version, version_tag};
use sentinel_package::{Definition, MAX_DEFINITION_BYTES, PackageContents, PackageKind};

use super::{Registry, RegistryError};

/// A blob read as a blocking [`std::io::Read`], on the blocking pool.
pub(super) type BlobReader =
    tokio_util::io::SyncIoBridge<tokio_util::io::StreamReader<sentinel_storage::BlobStream, Bytes>>;
use crate::clock::now;

/// The largest `.sntl` layer read into memory and parsed on the request's
/// own task; a larger one streams to a blocking thread.
const SMALL_LAYER_BYTES: u64 = 64 * 1024;

/// What a manifest body says about being a package.
pub(super) enum Packaged {
    /// Not a Sentinel package: stored as any artifact.
    No,
    /// A package manifest, as mapped.
    Yes(PackageArtifact),
}

/// Whether `body` claims to be a Sentinel package, and if so its mapping;
/// a claim that does not follow the mapping is refused.
pub(super) fn packaged(body: &[u8]) -> Result<Packaged, RegistryError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Claim {
        artifact_type: Option<String>,
        config: Option<ClaimConfig>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ClaimConfig {
        media_type: Option<String>,
    }
    let Ok(claim) = serde_json::from_slice::<Claim>(body) else {
        return Ok(Packaged::No);
    };
    let kind = match &claim.artifact_type {
        Some(artifact_type) => PackageKind::from_artifact_type(artifact_type),
        None => claim
            .config
            .and_then(|c| c.media_type)
            .and_then(|m| PackageKind::from_config_media_type(&m)),
    };
    if kind.is_none() {
        return Ok(Packaged::No);
    }
    parse_manifest(body)
        .map(Packaged::Yes)
        .map_err(|e| RegistryError::PackageInvalid(e.to_string()))
}

impl Registry {
    /// Checks package manifest `artifact`, about to be stored in
    /// `repository` under `tag`, and builds its catalogue entry: reads and
    /// validates the definition, compares it with the annotations, the tag
    /// and the definition inside the package, and reads the README.
    pub(super) async fn check_package(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        artifact: PackageArtifact,
        tag: Option<&Tag>,
        pushed_by: Option<&str>,
    ) -> Result<PackageVersion, RegistryError> {
        let kind = artifact.kind;
        let config_size = artifact.config.size;
        if config_size > MAX_DEFINITION_BYTES {
            return Err(RegistryError::PackageInvalid(format!(
                "the definition ({}) is {config_size} bytes; at most {MAX_DEFINITION_BYTES} are accepted",
                kind.definition_file()
            )));
        }
        let (config, layer) = if artifact.package.size <= SMALL_LAYER_BYTES {
            // The usual package (a few KiB): both blobs read in one trip to
            // storage, the layer parsed here, quicker than streaming it.
            let mut read = self
                .small_blobs(&[
                    (artifact.config.digest.clone(), config_size),
                    (artifact.package.digest.clone(), artifact.package.size),
                ])
                .await?;
            let layer = read.pop().unwrap_or_default();
            let config = read.pop().unwrap_or_default();
            let contents =
                sentinel_package::read_package_file(&layer[..], "README.md", MAX_README_BYTES);
            (config, Self::layer_read(&artifact, contents))
        } else {
            // The layer is streamed (on the blocking pool) while the
            // definition is read and checked.
            let config = [(artifact.config.digest.clone(), config_size)];
            let (config, layer) =
                tokio::join!(self.small_blobs(&config), self.read_large_layer(&artifact));
            (config?.pop().unwrap_or_default(), layer)
        };
        let definition = Definition::parse(kind, kind.definition_file(), &config)
            .map_err(|e| RegistryError::PackageInvalid(e.to_string()))?;
        let mut problems = Vec::new();
        let name = definition.name();
        let version = definition.version();
        if let Some(title) = artifact.annotations.get(TITLE)
            && title != name
        {
            problems.push(format!(
                "the manifest's {TITLE} annotation is {title:?}, but the definition's name is {name:?}"
            ));
        }
        if let Some(annotated) = artifact.annotations.get(VERSION)
            && *annotated != version.to_string()
        {
            problems.push(format!(
                "the manifest's {VERSION} annotation is {annotated:?}, but the definition's version is {version}"
            ));
        }
        if let Some(tag) = tag
            && let Some(tagged) = tag_version(tag.as_str())
            && tagged != *version
        {
            problems.push(format!(
                "tag {tag} is a version, but the package is version {version}: push it as {}",
                version_tag(version)
            ));
        }
        if let Some(held) = self.catalogue.holding(repository, version).await?
            && (held.name != name || held.kind != kind)
        {
            problems.push(format!(
                "{repository} holds the {} {:?}; a package named {name:?} ({kind}) goes in a repository of its own",
                held.kind, held.name
            ));
        }
        if !problems.is_empty() {
            return Err(RegistryError::PackageInvalid(problems.join("\n")));
        }
        let readme = Self::check_layer(&artifact, &config, layer?)?;
        let exact = version_tag(version);
        let version_tag = match tag {
            // The usual push: under the version itself, nothing to look up.
            Some(tag) if tag.as_str() == exact => Some(exact),
            _ => {
                let mut tags = self.index.manifest_tags(repository, digest).await?;
                tags.extend(tag.cloned());
                tags.iter()
                    .map(Tag::as_str)
                    .filter(|t| tag_version(t).as_ref() == Some(version))
                    .min_by_key(|t| *t != exact)
                    .map(str::to_owned)
            }
        };
        let stored = StoredPackage {
            repository: repository.clone(),
            digest: digest.clone(),
            tag: version_tag,
            config: sentinel_catalogue::BlobRef {
                digest: artifact.config.digest.clone(),
                size: artifact.config.size,
            },
            package: sentinel_catalogue::BlobRef {
                digest: artifact.package.digest.clone(),
                size: artifact.package.size,
            },
            file_name: artifact.package_file_name.clone(),
            created: artifact.annotations.get(CREATED).cloned(),
            pushed_at: now(),
            pushed_by: pushed_by.map(str::to_owned),
        };
        let mut entry = PackageVersion::new(stored, &definition, readme);
        // A member naming this registry by its public host is a member here.
        if let Some(own) = &self.policy.own_host {
            let prefix = format!("{own}/");
            for member in &mut entry.members {
                if let Some(path) = member.repository.strip_prefix(&prefix) {
                    member.repository = path.to_owned();
                }
            }
        }
        Ok(entry)
    }

    /// The bytes of small blobs, each `(digest, size)` as its descriptor
    /// says. Read from storage without asking the index whether the
    /// repository holds them: storing the manifest checks that, in the same
    /// transaction as the write.
    pub(super) async fn small_blobs(
        &self,
        blobs: &[(Digest, u64)],
    ) -> Result<Vec<Bytes>, RegistryError> {
        let read = self
            .blobs
            .read_small(blobs)
            .await
            .map_err(|error| match error {
                sentinel_storage::StorageError::Missing(digest) => {
                    RegistryError::ManifestBlobUnknown(digest)
                }
                error => error.into(),
            })?;
        for ((digest, size), bytes) in blobs.iter().zip(&read) {
            if bytes.len() as u64 != *size {
                return Err(RegistryError::PackageInvalid(format!(
                    "the manifest says blob {digest} is {size} bytes, but it is not"
                )));
            }
        }
        Ok(read)
    }

    /// Reads a large `.sntl` layer up to its README on a blocking thread,
    /// verifying what it reads.
    async fn read_large_layer(
        &self,
        artifact: &PackageArtifact,
    ) -> Result<(PackageContents, Option<Vec<u8>>), RegistryError> {
        let contents = self
            .read_blob_blocking(
                &artifact.package.digest,
                RegistryError::ManifestBlobUnknown,
                |reader| sentinel_package::read_package_file(reader, "README.md", MAX_README_BYTES),
            )
            .await?;
        Self::layer_read(artifact, contents)
    }

    /// Streams blob `digest` into `work` as a blocking reader, on the
    /// blocking pool; a missing blob is `missing(digest)`.
    pub(super) async fn read_blob_blocking<T: Send + 'static>(
        &self,
        digest: &Digest,
        missing: fn(Digest) -> RegistryError,
        work: impl FnOnce(BlobReader) -> T + Send + 'static,
    ) -> Result<T, RegistryError> {
        let stream = match self.blobs.read(digest, None).await {
            Ok(stream) => stream,
            Err(sentinel_storage::StorageError::Missing(_)) => return Err(missing(digest.clone())),
            Err(error) => return Err(error.into()),
        };
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        tokio::task::spawn_blocking(move || work(reader))
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))
    }

    /// The outcome of reading `artifact`'s layer as a package.
    fn layer_read(
        artifact: &PackageArtifact,
        read: Result<(PackageContents, Option<Vec<u8>>), sentinel_package::PackageError>,
    ) -> Result<(PackageContents, Option<Vec<u8>>), RegistryError> {
        read.map_err(|e| {
            RegistryError::PackageInvalid(format!(
                "the package layer {} is not a valid package: {e}",
                artifact.package.digest
            ))
        })
    }

    /// Checks that the layer's package is the manifest's kind and holds the
    /// config blob as its definition; its README's first
    /// [`MAX_README_BYTES`] as text.
    fn check_layer(
        artifact: &PackageArtifact,
        config: &[u8],
        (contents, readme): (PackageContents, Option<Vec<u8>>),
    ) -> Result<Option<String>, RegistryError> {
        if contents.kind != artifact.kind {
            return Err(RegistryError::PackageInvalid(format!(
                "the manifest describes a {} package, but its layer holds a {} package",
                artifact.kind, contents.kind
            )));
        }
        if contents.definition_bytes != config {
            return Err(RegistryError::PackageInvalid(format!(
                "the definition inside the package differs from the config blob {}",
                artifact.config.digest
            )));
        }
        Ok(readme.map(|bytes| text_prefix(&bytes)))
    }

    /// Records `entry` in the catalogue; a failure is logged and left to the
    /// next start's check (the manifest is stored either way).
    pub(super) async fn catalogue(&self, entry: PackageVersion) {
        let (repository, digest) = (entry.repository.clone(), entry.digest.clone());
        if let Err(error) = self.catalogue.record(entry).await {
            tracing::error!(%error, %repository, %digest, "could not catalogue a package; the next start rebuilds it");
        }
    }

    /// Forgets manifest `digest` of `repository` in the catalogue if no tag
    /// points at it any more.
    pub(super) async fn uncatalogue_if_untagged(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if self
            .index
            .manifest_tags(repository, digest)
            .await?
            .is_empty()
        {
            self.uncatalogue(repository, digest).await;
        }
        Ok(())
    }

    /// Forgets manifest `digest` of `repository` in the catalogue.
    pub(super) async fn uncatalogue(&self, repository: &RepositoryName, digest: &Digest) {
        if let Err(error) = self.catalogue.forget(repository, digest).await {
            tracing::error!(%error, %repository, %digest, "could not remove a package from the catalogue; the next start does");
        }
    }
}

/// `bytes` as text, cut at a character boundary, invalid UTF-8 replaced.
fn text_prefix(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(error) if error.error_len().is_none() => {
            // Cut inside a character at the cap: drop the partial one.
            String::from_utf8_lossy(&bytes[..error.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}
