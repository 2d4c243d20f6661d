//! The persisted state of an upload session.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Everything needed to continue an upload after a restart: which repository
/// it is for, how many bytes it holds, the size of each stored part, the
/// running sha256 state after the last part, and when it last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// The session id (a UUID), also the directory of its parts.
    pub id: String,
    /// The repository the upload was started in.
    pub repository: String,
    /// Bytes received so far (the sum of `parts`).
    pub offset: u64,
    /// The size of each stored part, in order; part `n` is object `uploads/<id>/<n>`.
    pub parts: Vec<u64>,
    /// The saved sha256 state after the last part (`Digester::save`).
    pub hash_state: Vec<u8>,
    /// When the session started or last received data, in seconds since the
    /// Unix epoch; sessions idle for too long are expired.
    pub updated_at: u64,
}

impl UploadState {
    /// A new, empty session.
    pub fn new(id: String, repository: String, now: u64) -> Self {
        let hash_state = sentinel_oci::Digester::new(sentinel_oci::DigestAlgorithm::Sha256).save();
        UploadState {
            id,
            repository,
            offset: 0,
            parts: Vec::new(),
            hash_state,
            updated_at: now,
        }
    }

    /// The state as bytes, for the metadata index.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an upload state always serialises")
    }

    /// The state from [`UploadState::encode`]'s bytes; `None` if they are not one.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// An upload's bytes as found in storage, whether or not a session owns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    /// The upload's id: its name under `uploads/`.
    pub id: String,
    /// When its bytes last changed (for parts, the newest part).
    pub modified: SystemTime,
}
