//! What a consistency check (`fsck`) reads: everything the index records
//! and the bytes storage holds for it, without the checks a client's
//! request goes through.

use sentinel_oci::{Digest, RepositoryName};
use sentinel_storage::BlobStream;

use super::{ListedUpload, Registry, RegistryError, UploadSession};

impl Registry {
    /// Every blob `repository` holds, with its recorded size, in digest order.
    pub async fn held_blobs(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<(Digest, u64)>, RegistryError> {
        Ok(self.index.repository_blobs(repository).await?)
    }

    /// The digest of every manifest `repository` holds, in digest order.
    pub async fn manifest_digests(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Digest>, RegistryError> {
        Ok(self.index.repository_manifests(repository).await?)
    }

    /// Streams the stored bytes of blob `digest`. Unlike
    /// [`Registry::read_blob`], a blob absent from storage is reported as
    /// the storage failure it is ([`sentinel_storage::StorageError::Missing`]).
    pub async fn read_stored_blob(&self, digest: &Digest) -> Result<BlobStream, RegistryError> {
        Ok(self.blobs.read(digest, None).await?)
    }

    /// The blobs no repository holds whose bytes garbage collection has not
    /// deleted yet (orphaned, or marked as being deleted by a run that was
    /// interrupted), with their recorded sizes.
    pub async fn uncollected_blobs(&self) -> Result<Vec<(Digest, u64)>, RegistryError> {
        let mut blobs: Vec<(Digest, u64)> = self
            .index
            .orphaned_blobs()
            .await?
            .into_iter()
            .map(|orphan| (orphan.digest, orphan.size))
            .collect();
        blobs.extend(self.index.deleting_blobs().await?);
        Ok(blobs)
    }

    /// Every upload session the index records, readable or not.
    pub async fn upload_sessions(&self) -> Result<Vec<ListedUpload>, RegistryError> {
        Ok(self.index.uploads().await?)
    }

    /// What is wrong with `session`'s bytes in storage (missing, or shorter
    /// than recorded), if anything.
    pub async fn check_upload_bytes(
        &self,
        session: &UploadSession,
    ) -> Result<Vec<String>, RegistryError> {
        Ok(self.upload_handle(session).check().await?)
    }
}
