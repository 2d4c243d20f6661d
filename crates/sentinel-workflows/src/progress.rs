//! Progress of blob transfers, reported to whoever draws it.

use sentinel_client::{NoProgress, TransferProgress};
use sentinel_oci::Digest;

/// Makes one progress report per blob transfer.
pub trait Progress {
    /// The report of one transfer.
    type Transfer: Transfer;

    /// Starts the report of a transfer of `total` bytes, shown as `label`.
    fn transfer(&self, label: &str, total: u64) -> Self::Transfer;
}

/// The progress of one transfer; it ends when dropped.
pub trait Transfer: TransferProgress {
    /// The transfer is done without moving through the bytes, or is done
    /// and `outcome` says how (`uploaded`, `mounted`, `already present`,
    /// `downloaded`).
    fn finish_with(&self, outcome: &str);
}

impl Progress for NoProgress {
    type Transfer = NoProgress;

    fn transfer(&self, _label: &str, _total: u64) -> NoProgress {
        NoProgress
    }
}

impl Transfer for NoProgress {
    fn finish_with(&self, _outcome: &str) {}
}

/// `sha256:0123456789ab`, the label of a blob's transfer.
pub(crate) fn short_digest(digest: &Digest) -> String {
    let hex = digest.hex();
    format!(
        "{}:{}",
        digest.algorithm().as_str(),
        &hex[..hex.len().min(12)]
    )
}
