//! Manifests, tags, referrers and the catalogue.

use bytes::Bytes;
use sentinel_catalogue::PackageVersion;
use sentinel_index::NewManifest;
use sentinel_oci::{
    Descriptor, Digest, MAX_MANIFEST_SIZE, ParsedManifest, Reference, RepositoryName, Tag,
};

use super::packages::{Packaged, packaged};
use super::{Page, PageRequest, Registry, RegistryError, StoredManifest};

/// The outcome of storing a manifest.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, if it has one.
    pub subject: Option<Digest>,
}

impl Registry {
    /// The manifest `reference` points at in `repository`.
    pub async fn manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<StoredManifest, RegistryError> {
        let found = match reference {
            Reference::Digest(digest) => self.index.manifest(repository, digest).await?,
            Reference::Tag(tag) => self.index.tagged_manifest(repository, tag).await?,
        };
        found.ok_or_else(|| RegistryError::ManifestUnknown(reference.to_string()))
    }

    /// Validates and stores manifest `body`, sent with `content_type` by
    /// `pushed_by`, under `reference` (a tag, or the digest it must hash to).
    ///
    /// A Sentinel package is validated first (see `packages`) and, once
    /// stored under a tag, catalogued. A tag that is a version and names a
    /// package is not moved to another manifest while versions are immutable.
    pub async fn put_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
        pushed_by: Option<&str>,
    ) -> Result<PushedManifest, RegistryError> {
        if body.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(RegistryError::ManifestTooLarge);
        }
        let parsed = ParsedManifest::parse(content_type, &body)?;
        let (digest, tag) = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &body);
                if &actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        expected: expected.clone(),
                        actual,
                    });
                }
                (actual, None)
            }
            Reference::Tag(tag) => (Digest::sha256(&body), Some(tag)),
        };
        let entry = match packaged(&body)? {
            Packaged::Yes(artifact) => Some(
                self.check_package(repository, &digest, artifact, tag, pushed_by)
                    .await?,
            ),
            Packaged::No => None,
        };
        let signed = super::signatures::signature_subject(&parsed).cloned();
        if let Some(signed) = &signed {
            self.check_signature_artifact(repository, &digest, &body, signed)
                .await?;
        }
        let media_type = parsed.kind.media_type().to_owned();
        let events = self.push_events(
            repository,
            &digest,
            &media_type,
            tag,
            entry.as_ref(),
            signed.as_ref(),
            pushed_by,
        );
        let has_events = !events.is_empty();
        let subject = parsed.subject.clone();
        let descriptor: Option<Descriptor> = subject
            .as_ref()
            .map(|_| parsed.referrer_descriptor(digest.clone(), body.len() as u64));
        let manifest = NewManifest {
            digest: digest.clone(),
            media_type,
            body: body.to_vec(),
            blobs: parsed.blobs,
            manifests: parsed.manifests,
            subject: subject.clone().zip(descriptor),
            events,
        };
        let Some(tag) = tag else {
            self.index.put_manifest(repository, manifest, None).await?;
            if has_events {
                self.events_recorded();
            }
            self.signatures_pushed(repository, &digest).await;
            // Stored again by digest: catalogued if a tag already names it.
            if let Some(entry) = entry
                && !self
                    .index
                    .manifest_tags(repository, &digest)
                    .await?
                    .is_empty()
            {
                self.catalogue(entry).await;
            }
            return Ok(PushedManifest { digest, subject });
        };
        let _tags = self.tag_locks.lock(repository.as_str()).await;
        let previous = self.index.tagged_manifest(repository, tag).await?;
        let moved = previous.filter(|p| p.digest != digest);
        if let Some(previous) = &moved {
            self.check_tag_move(repository, tag, previous)?;
        }
        if let Some(entry) = &entry {
            self.check_version_free(repository, entry).await?;
        }
        self.index
            .put_manifest(repository, manifest, Some(tag))
            .await?;
        if has_events {
            self.events_recorded();
        }
        self.signatures_pushed(repository, &digest).await;
        if let Some(entry) = entry {
            self.catalogue(entry).await;
        }
        if let Some(previous) = moved {
            self.uncatalogue_if_untagged(repository, &previous.digest)
                .await?;
        }
        Ok(PushedManifest { digest, subject })
    }

    /// Refuses to move `tag` away from `previous` when an immutability rule
    /// covers it, or when it is a version that names a package and versions
    /// are immutable.
    pub(super) fn check_tag_move(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        previous: &StoredManifest,
    ) -> Result<(), RegistryError> {
        self.check_tag_mutable(repository, tag, &previous.digest, false)?;
        if !self.policy.immutable_versions
            || sentinel_package::versions::tag_version(tag.as_str()).is_none()
        {
            return Ok(());
        }
        match packaged(&previous.body) {
            Ok(Packaged::Yes(_)) => Err(RegistryError::VersionImmutable {
                repository: repository.clone(),
                tag: tag.clone(),
                digest: previous.digest.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses to change `tag` (which names `digest`) when an immutability
    /// rule covers it: to move it, or with `deleting`, to delete it or its
    /// manifest.
    pub(super) fn check_tag_mutable(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
        deleting: bool,
    ) -> Result<(), RegistryError> {
        let lifecycle = self.lifecycle();
        match lifecycle.immutable_tag(repository.as_str(), tag.as_str()) {
            Some((rule, pattern)) => Err(RegistryError::TagImmutable(Box::new(
                super::error::ImmutableTag {
                    repository: repository.clone(),
                    tag: tag.clone(),
                    digest: digest.clone(),
                    rule: rule.repositories.to_string(),
                    pattern: pattern.to_string(),
                    deleting,
                },
            ))),
            None => Ok(()),
        }
    }

    /// Refuses package `entry` when versions are immutable and another
    /// manifest of its version is catalogued in `repository` already: under
    /// another tag (`stable`), it would otherwise take the version's place
    /// in the package API while the version tag still names the first.
    async fn check_version_free(
        &self,
        repository: &RepositoryName,
        entry: &PackageVersion,
    ) -> Result<(), RegistryError> {
        if !self.policy.immutable_versions {
            return Ok(());
        }
        let held = self.catalogue.holding(repository, &entry.version).await?;
        match held.and_then(|held| held.version) {
            Some(taken) if taken != entry.digest => Err(RegistryError::VersionTaken {
                repository: repository.clone(),
                version: entry.version.clone(),
                digest: taken,
            }),
            _ => Ok(()),
        }
    }

    /// Deletes a tag (the manifest stays) or a manifest by digest (with its
    /// tags), as asked by `deleted_by`. Neither goes while an immutability
    /// rule covers the tag, or one of the manifest's tags.
    pub async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
        deleted_by: Option<&str>,
    ) -> Result<(), RegistryError> {
        let deleted = match reference {
            Reference::Digest(digest) => {
                let _tags = self.tag_locks.lock(repository.as_str()).await;
                let tags = self.index.manifest_tags(repository, digest).await?;
                for tag in &tags {
                    self.check_tag_mutable(repository, tag, digest, true)?;
                }
                let tags = tags.iter().map(Tag::to_string).collect();
                let events = self.manifest_deleted_events(repository, digest, tags, deleted_by);
                let deleted = self
                    .index
                    .delete_manifest(repository, digest, events)
                    .await?;
                if deleted {
                    self.uncatalogue(repository, digest).await;
                }
                deleted
            }
            Reference::Tag(tag) => {
                let _tags = self.tag_locks.lock(repository.as_str()).await;
                let previous = self.index.tagged_manifest(repository, tag).await?;
                if let Some(previous) = &previous {
                    self.check_tag_mutable(repository, tag, &previous.digest, true)?;
                }
                let events = self.tag_deleted_events(
                    repository,
                    tag,
                    previous.as_ref().map(|p| &p.digest),
                    deleted_by,
                );
                let deleted = self.index.delete_tag(repository, tag, events).await?;
                if let Some(previous) = previous.filter(|_| deleted) {
                    self.uncatalogue_if_untagged(repository, &previous.digest)
                        .await?;
                }
                deleted
            }
        };
        if deleted {
            self.events_recorded();
            self.signatures_changed(repository);
            Ok(())
        } else {
            Err(RegistryError::ManifestUnknown(reference.to_string()))
        }
    }

    /// A page of `repository`'s tags.
    pub async fn tags(
        &self,
        repository: &RepositoryName,
        page: &PageRequest,
    ) -> Result<Page, RegistryError> {
        self.index
            .tags(repository, page)
            .await?
            .ok_or_else(|| RegistryError::NameUnknown(repository.clone()))
    }

    /// A page of repository names.
    pub async fn catalog(&self, page: &PageRequest) -> Result<Page, RegistryError> {
        Ok(self.index.repositories(page).await?)
    }

    /// The manifests of `repository` whose subject is `subject`, optionally
    /// only those of `artifact_type`.
    pub async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let mut referrers = self.index.referrers(repository, subject).await?;
        if let Some(wanted) = artifact_type {
            referrers.retain(|r| r.artifact_type.as_deref() == Some(wanted));
        }
        Ok(referrers)
    }
}
