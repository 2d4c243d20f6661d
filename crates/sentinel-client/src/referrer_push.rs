//! Pushing a referrer (a manifest with a `subject`) so that it can be found
//! on any registry: through the referrers API of a registry that processes
//! `subject`, or else through the OCI 1.1 referrers tag schema, which the
//! client maintains itself.
//!
//! The tag schema is a read-modify-write of the image index under the
//! subject's `<alg>-<hex>` tag, and the distribution spec has no conditional
//! `PUT`: two clients adding referrers to the same subject at once can each
//! read the same index, and the last to write wins. The client narrows that
//! window as far as the API allows: after writing, it reads the tag again,
//! and when its descriptor is missing (another writer replaced the index in
//! between) it adds it again, once. A writer that lands after that second
//! read can still drop the descriptor; pushing the referrer again (as a
//! repeated `agent copy` does) puts it back.

use bytes::Bytes;
use sentinel_oci::{
    Descriptor, Digest, DigestAlgorithm, ImageIndex, IndexEntry, ParsedManifest, media_types,
};

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::listings::fallback_tag;

/// How many times the tag's index is written for one referrer: the first
/// write and one more after another writer replaced it.
const MAX_TAG_WRITES: u32 = 2;

/// Which side made a pushed referrer findable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerIndexing {
    /// The registry answered `OCI-Subject`: its referrers API lists the manifest.
    Registry,
    /// The registry did not, so the client added the manifest's descriptor to
    /// the image index under the subject's `<alg>-<hex>` tag (or found it there).
    TagSchema,
}

/// A referrer stored in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedReferrer {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The digest of the manifest it refers to.
    pub subject: Digest,
    /// Who lists it among the subject's referrers.
    pub indexing: ReferrerIndexing,
}

impl RegistryClient {
    /// Stores `bytes`, a manifest of `media_type` that has a `subject`, in
    /// `repo` by its digest, and makes it findable among the subject's
    /// referrers on any registry: when the registry's answer has no
    /// `OCI-Subject`, the client adds the manifest's descriptor (media type,
    /// digest, size, artifact type, annotations) to the image index under the
    /// subject's `<alg>-<hex>` tag, creating the index when the tag does not
    /// exist. The blobs the manifest references must be in `repo` already.
    /// See the module documentation for concurrent writers of that tag.
    pub async fn push_referrer(
        &self,
        repo: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<PushedReferrer, ClientError> {
        let parsed = ParsedManifest::parse(Some(media_type), &bytes)
            .map_err(|error| ClientError::InvalidManifest(error.to_string()))?;
        let subject = parsed.subject.clone().ok_or_else(|| {
            ClientError::InvalidManifest("a referrer needs a subject and it has none".into())
        })?;
        let digest = Digest::of(DigestAlgorithm::Sha256, &bytes);
        let size = bytes.len() as u64;
        let stored = self
            .store_manifest(repo, digest.as_str(), media_type, bytes)
            .await?;
        if stored.subject.is_some() {
            return Ok(PushedReferrer {
                digest,
                subject,
                indexing: ReferrerIndexing::Registry,
            });
        }
        let descriptor = parsed.referrer_descriptor(digest.clone(), size);
        self.add_to_referrers_tag(repo, &subject, &descriptor)
            .await?;
        Ok(PushedReferrer {
            digest,
            subject,
            indexing: ReferrerIndexing::TagSchema,
        })
    }

    /// Adds `descriptor` to the index under `subject`'s referrers tag, then
    /// reads the tag again to check that the descriptor stayed.
    async fn add_to_referrers_tag(
        &self,
        repo: &str,
        subject: &Digest,
        descriptor: &Descriptor,
    ) -> Result<(), ClientError> {
        let tag = fallback_tag(subject);
        let mut writes = 0;
        loop {
            let current = self.referrers_index(repo, &tag).await?;
            let Some(updated) = with_referrer(current, descriptor) else {
                return Ok(());
            };
            if writes == MAX_TAG_WRITES {
                return Err(ClientError::protocol(
                    self.registry(),
                    format!(
                        "another client replaced the referrers index {repo}:{tag} twice while {} was added to it",
                        descriptor.digest
                    ),
                ));
            }
            let body = serde_json::to_vec(&updated).map_err(|_| {
                ClientError::protocol(self.registry(), "cannot serialise a referrers index")
            })?;
            self.put_manifest(repo, &tag, media_types::OCI_INDEX, Bytes::from(body))
                .await?;
            writes += 1;
        }
    }

    /// The image index under a referrers tag; `None` when the tag does not exist.
    async fn referrers_index(
        &self,
        repo: &str,
        tag: &str,
    ) -> Result<Option<ImageIndex>, ClientError> {
        match self.get_manifest(repo, tag).await {
            Ok(manifest) => serde_json::from_slice(&manifest.bytes)
                .map(Some)
                .map_err(|_| {
                    ClientError::protocol(
                        self.registry(),
                        format!("its referrers tag {repo}:{tag} does not hold an image index"),
                    )
                }),
            Err(ClientError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// `index` (a new, empty OCI image index when `None`) with `descriptor`
/// added, or `None` when it lists that digest already. Entries and fields
/// already there are kept as they are.
fn with_referrer(index: Option<ImageIndex>, descriptor: &Descriptor) -> Option<ImageIndex> {
    let mut index = index.unwrap_or_else(|| ImageIndex {
        schema_version: 2,
        media_type: Some(media_types::OCI_INDEX.to_owned()),
        manifests: Vec::new(),
        other: serde_json::Map::new(),
    });
    if index
        .manifests
        .iter()
        .any(|entry| entry.descriptor.digest == descriptor.digest)
    {
        return None;
    }
    index.manifests.push(IndexEntry::from(descriptor.clone()));
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrer(seed: &[u8], artifact_type: &str) -> Descriptor {
        let mut descriptor = Descriptor::new(media_types::OCI_MANIFEST, Digest::sha256(seed), 321);
        descriptor.artifact_type = Some(artifact_type.to_owned());
        descriptor.annotations.insert(
            "org.opencontainers.image.created".into(),
            "2026-01-01T00:00:00Z".into(),
        );
        descriptor
    }

    #[test]
    fn an_absent_tag_gets_a_new_oci_index() {
        let sbom = referrer(b"sbom", "application/vnd.example.sbom");
        let index = with_referrer(None, &sbom).expect("a new index");
        assert_eq!(index.schema_version, 2);
        assert_eq!(index.media_type.as_deref(), Some(media_types::OCI_INDEX));
        assert_eq!(index.manifests.len(), 1);
        assert_eq!(index.manifests[0].descriptor, sbom);
        let json: serde_json::Value = serde_json::to_value(&index).unwrap();
        assert_eq!(
            json["manifests"][0]["artifactType"],
            "application/vnd.example.sbom"
        );
        assert_eq!(json["manifests"][0]["size"], 321);
        assert_eq!(
            json["manifests"][0]["annotations"]["org.opencontainers.image.created"],
            "2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn a_referrer_is_added_to_an_existing_index_which_keeps_what_it_had() {
        let first = referrer(b"one", "application/vnd.example.sbom");
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}","size":321,"artifactType":"application/vnd.example.sbom","platform":{{"os":"linux"}}}}],"annotations":{{"k":"v"}}}}"#,
            media_types::OCI_INDEX,
            media_types::OCI_MANIFEST,
            first.digest
        );
        let existing: ImageIndex = serde_json::from_str(&text).unwrap();
        let second = referrer(b"two", "application/x-sentinel-signature");
        let index = with_referrer(Some(existing), &second).expect("one more entry");
        assert_eq!(index.manifests.len(), 2);
        assert_eq!(index.manifests[0].descriptor.digest, first.digest);
        assert!(index.manifests[0].other.contains_key("platform"));
        assert_eq!(index.manifests[1].descriptor, second);
        assert!(index.other.contains_key("annotations"));
    }

    #[test]
    fn a_referrer_already_listed_changes_nothing() {
        let sbom = referrer(b"sbom", "application/vnd.example.sbom");
        let index = with_referrer(None, &sbom).unwrap();
        assert_eq!(with_referrer(Some(index.clone()), &sbom), None);
        // Listed under the same digest with other details: still the same manifest.
        let mut other_details = sbom.clone();
        other_details.annotations.clear();
        assert_eq!(with_referrer(Some(index), &other_details), None);
    }
}
