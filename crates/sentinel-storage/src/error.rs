//! What can go wrong in storage.

use sentinel_oci::Digest;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend failed (I/O error, full disk, network, permissions).
    #[error("storage backend failure")]
    Backend(#[from] object_store::Error),
    /// Reading a local file failed.
    #[error("storage I/O failure")]
    Io(#[from] std::io::Error),
    /// The request body failed before it ended (the client went away).
    #[error("the request body was interrupted")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The readiness probe read back other bytes than it wrote.
    #[error("the probe object read back differs from what was written")]
    ProbeMismatch,
    /// A blob expected in storage is absent.
    #[error("blob {0} is missing from storage")]
    Missing(Digest),
    /// The body's length differs from the length the client declared.
    #[error("the body holds {actual} bytes but {declared} were declared")]
    LengthMismatch {
        /// Declared (by `Content-Range`).
        declared: u64,
        /// Received (at least; reading stops once past `declared`).
        actual: u64,
    },
    /// An upload was committed as a digest its bytes do not hash to; its
    /// bytes were discarded.
    #[error("the upload's digest is {actual}, not {expected}")]
    DigestMismatch {
        /// The digest the upload was committed as.
        expected: Digest,
        /// What its bytes hash to.
        actual: Digest,
    },
    /// A saved hash state could not be restored.
    #[error("upload {0} has a corrupt hash state")]
    CorruptState(String),
}

/// Fails with [`StorageError::LengthMismatch`] once `received` bytes can no
/// longer match the `declared` length: as soon as they pass it, or, when the
/// body has `ended`, if they differ from it.
pub(crate) fn check_declared(
    declared: Option<u64>,
    received: u64,
    ended: bool,
) -> Result<(), StorageError> {
    match declared {
        Some(declared) if received > declared || (ended && received != declared) => {
            Err(StorageError::LengthMismatch {
                declared,
                actual: received,
            })
        }
        _ => Ok(()),
    }
}
