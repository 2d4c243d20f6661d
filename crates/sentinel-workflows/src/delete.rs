//! Delete: a tag, or a manifest with every tag that names it, from a
//! registry.
//!
//! A deletion is planned first ([`Deletion::plan`]): the manifest is looked
//! up, so the caller can show what will go (and a missing tag is reported
//! before anything is asked), then applied ([`Deletion::apply`]). A tag is
//! deleted by tag (`DELETE /v2/<name>/manifests/<tag>`), which leaves the
//! manifest and its other tags in place. A registry that does not delete
//! tags (the distribution spec lets it answer 400 or 405) is reported with
//! the command that deletes the manifest instead.

use sentinel_client::{ClientError, RegistryClient, ResolvedReference};
use sentinel_oci::Digest;
use serde::Serialize;

use crate::error::{Result, WorkflowError};
use crate::registries::{self, Registries};

/// What a deletion removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Deleted {
    /// One tag; the manifest it named stays, with any other tags.
    Tag,
    /// A manifest, with every tag that names it.
    Manifest,
}

/// A deletion looked up and ready to apply.
pub struct Deletion {
    reference: ResolvedReference,
    client: RegistryClient,
    /// The manifest the tag names, or the manifest to delete.
    pub digest: Digest,
    /// Whether a tag or a manifest goes.
    pub deleted: Deleted,
}

/// What was deleted.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    /// What went: `registry/repository:tag` or `registry/repository@digest`.
    pub reference: String,
    /// Whether a tag or a manifest went.
    pub deleted: Deleted,
    /// The manifest the tag named, or the manifest deleted.
    pub digest: Digest,
}

impl Deletion {
    /// Looks up what `text` names: a tag (`repository:tag`) or a manifest
    /// (`repository@digest`; a digest wins over a tag given with it). A
    /// reference with neither is refused rather than taken to mean
    /// `latest`, and one that names nothing is [`WorkflowError::NotFound`].
    pub async fn plan(registries: &dyn Registries, text: &str) -> Result<Deletion> {
        let reference = registries::reference(registries, text)?;
        let (deleted, asked) = match (reference.digest(), reference.tag()) {
            (Some(digest), _) => (Deleted::Manifest, digest.to_string()),
            (None, Some(tag)) => (Deleted::Tag, tag.to_owned()),
            (None, None) => {
                return Err(WorkflowError::Usage(format!(
                    "name a tag or a digest to delete: {text}:TAG or {text}@sha256:..."
                )));
            }
        };
        let client = registries::client(registries, &reference)?;
        let Some(head) = client.head_manifest(reference.repository(), &asked).await? else {
            let separator = if deleted == Deleted::Tag { ':' } else { '@' };
            return Err(WorkflowError::NotFound(format!(
                "manifest {}{separator}{asked} not found in {}",
                reference.repository(),
                reference.registry()
            )));
        };
        // A digest asked for is the one deleted, whatever the registry says.
        if let Some(digest) = reference.digest()
            && head.digest != *digest
        {
            return Err(WorkflowError::Integrity(format!(
                "{} answered for {digest} with the digest {}; nothing was deleted",
                reference.registry(),
                head.digest
            )));
        }
        Ok(Deletion {
            reference,
            client,
            digest: head.digest,
            deleted,
        })
    }

    /// What goes: `registry/repository:tag` or `registry/repository@digest`.
    pub fn target(&self) -> String {
        let registry = self.reference.registry();
        let repository = self.reference.repository();
        match self.deleted {
            Deleted::Tag => format!("{registry}/{repository}:{}", self.asked()),
            Deleted::Manifest => format!("{registry}/{repository}@{}", self.digest),
        }
    }

    /// What the deletion removes, for a person: `tag REF (sha256:...)` or
    /// `manifest REF and every tag that names it`.
    pub fn describe(&self) -> String {
        match self.deleted {
            Deleted::Tag => format!("tag {} ({})", self.target(), self.digest),
            Deleted::Manifest => format!("manifest {} and every tag that names it", self.target()),
        }
    }

    /// What the registry is asked to delete: the tag or the digest.
    fn asked(&self) -> String {
        match self.deleted {
            Deleted::Tag => self.reference.tag_or_latest().to_owned(),
            Deleted::Manifest => self.digest.to_string(),
        }
    }

    /// Deletes the tag or the manifest. A tag that names another manifest
    /// by now (pushed to while the deletion was being confirmed) is left
    /// alone: [`WorkflowError::Changed`].
    pub async fn apply(self) -> Result<DeleteReport> {
        let repository = self.reference.repository();
        if self.deleted == Deleted::Tag {
            let now = self
                .client
                .head_manifest(repository, &self.asked())
                .await?
                .map(|head| head.digest);
            if now.as_ref() != Some(&self.digest) {
                return Err(WorkflowError::Changed(format!(
                    "{} names {} now, not {}; nothing was deleted",
                    self.target(),
                    now.map_or_else(|| "nothing".to_owned(), |digest| digest.to_string()),
                    self.digest
                )));
            }
        }
        match self.client.delete_manifest(repository, &self.asked()).await {
            Ok(()) => {}
            Err(ClientError::Registry { status, .. })
                if self.deleted == Deleted::Tag && matches!(status, 400 | 405) =>
            {
                let registry = self.reference.registry();
                return Err(WorkflowError::Unsupported(format!(
                    "{registry} does not delete tags (it answered {status}); delete the \
                     manifest, with every tag that names it: agent delete \
                     {registry}/{repository}@{}",
                    self.digest
                )));
            }
            Err(error) => return Err(error.into()),
        }
        Ok(DeleteReport {
            reference: self.target(),
            deleted: self.deleted,
            digest: self.digest,
        })
    }
}
