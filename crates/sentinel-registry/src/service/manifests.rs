//! Manifests, tags, referrers and the catalogue.

use bytes::Bytes;
use sentinel_index::NewManifest;
use sentinel_oci::{
    Descriptor, Digest, MAX_MANIFEST_SIZE, ParsedManifest, Reference, RepositoryName,
};

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

    /// Validates and stores manifest `body`, sent with `content_type`, under
    /// `reference` (a tag, or the digest it must hash to).
    pub async fn put_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
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
        let subject = parsed.subject.clone();
        let descriptor: Option<Descriptor> = subject
            .as_ref()
            .map(|_| parsed.referrer_descriptor(digest.clone(), body.len() as u64));
        let manifest = NewManifest {
            digest: digest.clone(),
            media_type: parsed.kind.media_type().to_owned(),
            body: body.to_vec(),
            blobs: parsed.blobs,
            manifests: parsed.manifests,
            subject: subject.clone().zip(descriptor),
        };
        self.index.put_manifest(repository, manifest, tag).await?;
        Ok(PushedManifest { digest, subject })
    }

    /// Deletes a tag (the manifest stays) or a manifest by digest (with its tags).
    pub async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let deleted = match reference {
            Reference::Digest(digest) => self.index.delete_manifest(repository, digest).await?,
            Reference::Tag(tag) => self.index.delete_tag(repository, tag).await?,
        };
        if deleted {
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
