//! Blobs a repository holds: looking them up, reading, deleting, mounting.

use std::ops::Range;

use sentinel_oci::{Digest, RepositoryName};
use sentinel_storage::{BlobStream, StorageError};

use super::{Registry, RegistryError, UploadSession};

/// A blob that a repository holds, as checked by [`Registry::blob`].
#[derive(Debug, Clone)]
pub struct HeldBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// The outcome of a mount request.
#[derive(Debug)]
pub enum MountOutcome {
    /// The blob is now in the repository.
    Mounted,
    /// The blob could not be mounted; a new upload session was opened instead.
    Session(UploadSession),
}

impl Registry {
    /// Blob `digest`, if `repository` holds it.
    pub async fn blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<HeldBlob, RegistryError> {
        let size = self
            .index
            .repository_blob(repository, digest)
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown(digest.clone()))?;
        Ok(HeldBlob {
            digest: digest.clone(),
            size,
        })
    }

    /// The bytes of a held blob, or the `range` of them (which lies inside it).
    pub async fn read_blob(
        &self,
        blob: &HeldBlob,
        range: Option<Range<u64>>,
    ) -> Result<BlobStream, RegistryError> {
        match self.blobs.read(&blob.digest, range).await {
            Err(StorageError::Missing(digest)) => {
                tracing::error!(%digest, "the index lists a blob that storage lacks; push it again to repair");
                Err(RegistryError::BlobUnknown(digest))
            }
            other => Ok(other?),
        }
    }

    /// Removes blob `digest` from `repository`. Its bytes stay in storage
    /// (other repositories may hold it); reclaiming them is garbage collection.
    pub async fn delete_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if self.index.unlink_blob(repository, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown(digest.clone()))
        }
    }

    /// Puts blob `digest`, which the registry already stores, into `repository`.
    ///
    /// With `from`, the blob must be in that repository. Without it, any
    /// repository that holds the blob will do (the spec's automatic content
    /// discovery): knowing a digest is taken as having its content. A blob
    /// new to the repository's namespace counts against its quota.
    pub async fn mount(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> Result<MountOutcome, RegistryError> {
        let mounted = self
            .index
            .mount_blob(repository, digest, from, self.quota_of(repository))
            .await
            .map_err(RegistryError::from);
        if let Err(refused) = &mounted {
            self.quota_refused(repository, refused).await;
        }
        match mounted? {
            Some(_) => Ok(MountOutcome::Mounted),
            None => Ok(MountOutcome::Session(self.start_upload(repository).await?)),
        }
    }
}
