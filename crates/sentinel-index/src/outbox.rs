//! The event outbox: events recorded in the same transaction as what caused
//! them, fanned out to per-webhook deliveries, and the results of delivering
//! them.
//!
//! The index knows nothing of the events' format: a body is opaque bytes
//! (the registry stores CloudEvents JSON) and a webhook is a key (the
//! registry gives each webhook a fresh id when it is added, so one removed
//! and added again under its name does not inherit what the old one had). Times are
//! milliseconds since the Unix epoch, given by the caller, so that the
//! sender decides what "now" is.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::IndexError;

/// How many delivery results the index keeps per webhook: older ones are
/// dropped as new ones are recorded.
pub const DELIVERY_HISTORY: usize = 50;

/// An event waiting in the outbox to be fanned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its position in the outbox: strictly increasing in the order events
    /// were appended, never reused.
    pub sequence: u64,
    /// The body, as appended.
    pub body: Vec<u8>,
}

/// One event to deliver to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelivery {
    /// The webhook's key.
    pub webhook: String,
    /// The event's sequence number.
    pub sequence: u64,
    /// The event's body.
    pub body: Vec<u8>,
    /// How many attempts failed so far.
    pub attempts: u32,
    /// When the event was fanned out to this webhook (ms since the epoch).
    pub created_at: u64,
    /// When to try next (ms since the epoch).
    pub next_attempt_at: u64,
}

/// The result of one attempt to deliver an event (or a test event) to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryResult {
    /// The id of the event delivered.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// Which attempt this was, from 1.
    pub attempt: u32,
    /// When the attempt started (ms since the epoch).
    pub at: u64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: u64,
    /// Why the attempt failed, if it did.
    pub error: Option<String>,
}

/// What happens to a pending delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    /// It is finished (delivered, or given up): it leaves the pending set.
    Done,
    /// It stays, to be tried again at this time (ms since the epoch).
    RetryAt(u64),
}

/// The durable event outbox of a metadata index.
///
/// Events enter with the writes that caused them
/// ([`crate::NewManifest::events`], the `events` of the deletes) or on
/// their own ([`EventOutbox::append_events`]). A sender reads them in order
/// ([`EventOutbox::pending_events`]) and replaces each, in one transaction,
/// by one pending delivery per webhook that wants it
/// ([`EventOutbox::fan_out_event`]); then delivers what is due and records
/// each attempt ([`EventOutbox::record_delivery`]).
///
/// Appending is durable like every write of the index. The sender's
/// bookkeeping (fanning out, recording attempts) may instead be rolled back
/// by a crash to an earlier state, whole transactions at a time, never
/// partly: an event may then be fanned out and delivered again, but is
/// never lost.
#[async_trait]
pub trait EventOutbox: Send + Sync + 'static {
    /// Appends `events` to the outbox in one transaction, in order.
    async fn append_events(&self, events: Vec<Vec<u8>>) -> Result<(), IndexError>;

    /// The first `limit` events of the outbox, oldest first.
    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEvent>, IndexError>;

    /// Removes event `sequence` from the outbox and, in the same
    /// transaction, creates a pending delivery of it to each of `webhooks`,
    /// due at `now`. `false` if the event was not in the outbox (nothing
    /// is created then).
    async fn fan_out_event(
        &self,
        sequence: u64,
        webhooks: Vec<String>,
        now: u64,
    ) -> Result<bool, IndexError>;

    /// Up to `limit` pending deliveries due at `now`, the earliest due first.
    async fn due_deliveries(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, IndexError>;

    /// How many deliveries are pending, over all webhooks.
    async fn pending_deliveries(&self) -> Result<u64, IndexError>;

    /// Records `result` in `webhook`'s history (keeping the last
    /// [`DELIVERY_HISTORY`]) and, if `sequence` names a pending delivery of
    /// it, applies `next` to it (a failed attempt counts towards its
    /// `attempts`); both in one transaction. A result without a sequence
    /// (a test event) goes only into the history.
    async fn record_delivery(
        &self,
        webhook: &str,
        sequence: Option<u64>,
        result: DeliveryResult,
        next: DeliveryNext,
    ) -> Result<(), IndexError>;

    /// `webhook`'s last delivery results, newest first.
    async fn delivery_results(&self, webhook: &str) -> Result<Vec<DeliveryResult>, IndexError>;

    /// Forgets `webhook`'s pending deliveries and history (a removed
    /// webhook); returns how many pending deliveries were dropped.
    async fn forget_webhook(&self, webhook: &str) -> Result<u64, IndexError>;
}
