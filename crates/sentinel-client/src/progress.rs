//! Progress reporting for blob transfers, kept out of the client so that a CLI
//! can draw bars and a server can count bytes.

/// Receives progress of one blob transfer. Calls come from the transferring task.
pub trait TransferProgress: Send + Sync {
    /// `bytes` more were sent or received.
    fn advanced(&self, bytes: u64);
    /// The transfer resumed (or restarted) at `offset`: bytes after it will be reported again.
    fn restarted_at(&self, offset: u64);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn advanced(&self, _bytes: u64) {}
    fn restarted_at(&self, _offset: u64) {}
}
