//! [`EventOutbox`] on redb tables of its own.
//!
//! Sequence numbers (of events and of delivery results) come from counters
//! in [`COUNTERS`], so a number is never reused even after its entry is
//! gone. A pending delivery sits in [`DELIVERIES`] under
//! `webhook\0sequence` and in [`DELIVERIES_DUE`] under
//! `due\0webhook\0sequence`, so "what is due now" is one range scan; numbers
//! in keys are zero-padded to 20 digits so that they sort as numbers.
//!
//! Events enter durably, with what caused them. The sender's bookkeeping
//! (fanning an event out, recording an attempt) commits without waiting for
//! the disk, and durably at most once per [`BOOKKEEPING_SYNC`]: a crash
//! then rolls the bookkeeping back to an earlier, consistent state (the
//! event back in the outbox, the attempt not recorded), so an event may be
//! delivered again but never lost, and the sender does not take the disk
//! away from pushes. Any durable commit (a push) persists it as well.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redb::{Durability, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::RedbIndex;
use super::join_failure;
use super::records::{backend, children, key};
use crate::{
    DELIVERY_HISTORY, DeliveryNext, DeliveryResult, EventOutbox, IndexError, OutboxEvent,
    PendingDelivery,
};

/// Sequence -> event body.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Counter name -> the next number to hand out.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("outbox_counters");
/// `webhook\0sequence` -> encoded [`DeliveryRecord`] and the event body.
const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries");
/// `due\0webhook\0sequence` -> nothing: the pending deliveries by due time.
const DELIVERIES_DUE: TableDefinition<&str, ()> = TableDefinition::new("deliveries_due");
/// `webhook\0number` -> JSON [`DeliveryResult`]: each webhook's history.
const DELIVERY_RESULTS: TableDefinition<&str, &[u8]> = TableDefinition::new("delivery_results");

/// The counter of event sequence numbers.
const EVENT_COUNTER: &str = "event";
/// The counter of delivery result numbers.
const RESULT_COUNTER: &str = "result";

/// The longest the sender's bookkeeping goes without a durable commit.
const BOOKKEEPING_SYNC: Duration = Duration::from_secs(1);

impl RedbIndex {
    /// Runs `work` in one write transaction of the sender's bookkeeping and
    /// commits it: durably if the last durable one is older than
    /// [`BOOKKEEPING_SYNC`], else without waiting for the disk.
    async fn write_bookkeeping<T, F>(&self, work: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, IndexError> + Send + 'static,
    {
        let durable = {
            let mut synced = self
                .outbox_synced
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = synced.is_none_or(|at| at.elapsed() >= BOOKKEEPING_SYNC);
            if due {
                *synced = Some(Instant::now());
            }
            due
        };
        let db = self.database().await?;
        let index = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = db.begin_write().map_err(backend).and_then(|mut txn| {
                if !durable {
                    txn.set_durability(Durability::None)
                        .map_err(|e| IndexError::Backend(Box::new(e)))?;
                }
                let value = work(&txn)?;
                txn.commit().map_err(backend)?;
                Ok(value)
            });
            if durable && result.is_err() {
                // Nothing was committed: the next one is durable again.
                *index
                    .outbox_synced
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
            index.checked(&db, result)
        })
        .await
        .map_err(join_failure)?
    }
}

/// Creates the outbox's tables in a freshly opened database.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), IndexError> {
    txn.open_table(OUTBOX).map_err(backend)?;
    txn.open_table(COUNTERS).map_err(backend)?;
    txn.open_table(DELIVERIES).map_err(backend)?;
    txn.open_table(DELIVERIES_DUE).map_err(backend)?;
    txn.open_table(DELIVERY_RESULTS).map_err(backend)?;
    Ok(())
}

/// Appends `events` to the outbox in `txn`.
pub(super) fn append(txn: &WriteTransaction, events: &[Vec<u8>]) -> Result<(), IndexError> {
    if events.is_empty() {
        return Ok(());
    }
    let first = take_numbers(txn, EVENT_COUNTER, events.len() as u64)?;
    let mut outbox = txn.open_table(OUTBOX).map_err(backend)?;
    for (sequence, body) in (first..).zip(events) {
        outbox.insert(sequence, body.as_slice()).map_err(backend)?;
    }
    Ok(())
}

/// Takes `count` numbers from counter `name`; returns the first.
fn take_numbers(txn: &WriteTransaction, name: &str, count: u64) -> Result<u64, IndexError> {
    let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
    let first = counters
        .get(name)
        .map_err(backend)?
        .map_or(1, |v| v.value());
    counters.insert(name, first + count).map_err(backend)?;
    Ok(first)
}

/// A number as a key part that sorts numerically.
fn padded(number: u64) -> String {
    format!("{number:020}")
}

/// What the index keeps of a pending delivery besides the body.
#[derive(Serialize, Deserialize)]
struct DeliveryRecord {
    attempts: u32,
    created_at: u64,
    next_attempt_at: u64,
}

/// `[u32 big-endian length of the JSON record][JSON record][body]`.
fn encode_delivery(record: &DeliveryRecord, body: &[u8]) -> Vec<u8> {
    let meta = serde_json::to_vec(record).expect("a delivery record always serialises");
    let mut out = Vec::with_capacity(4 + meta.len() + body.len());
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(body);
    out
}

fn decode_delivery(bytes: &[u8]) -> Result<(DeliveryRecord, &[u8]), IndexError> {
    let corrupt = || IndexError::Corrupt("truncated delivery record".into());
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let meta = bytes.get(4..4 + len).ok_or_else(corrupt)?;
    let record = serde_json::from_slice(meta).map_err(|e| IndexError::Corrupt(e.to_string()))?;
    Ok((record, &bytes[4 + len..]))
}

/// Splits a `DELIVERIES_DUE` key into the webhook and the sequence.
fn parse_due_key(text: &str) -> Result<(&str, u64), IndexError> {
    let corrupt = || IndexError::Corrupt(format!("bad delivery key {text:?}"));
    let mut parts = text.splitn(3, '\0');
    let (_due, webhook, sequence) = (parts.next(), parts.next(), parts.next());
    let webhook = webhook.ok_or_else(corrupt)?;
    let sequence = sequence.and_then(|s| s.parse().ok()).ok_or_else(corrupt)?;
    Ok((webhook, sequence))
}

/// Removes every key of `table` under `prefix`.
fn remove_under<V: redb::Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<&str, V>,
    prefix: &str,
) -> Result<(), IndexError> {
    let mut table = txn.open_table(table).map_err(backend)?;
    let (start, end) = children(&[prefix]);
    let doomed: Vec<String> = table
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .map(|entry| entry.map(|(k, _)| k.value().to_owned()))
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    for key in &doomed {
        table.remove(key.as_str()).map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl EventOutbox for RedbIndex {
    async fn append_events(&self, events: Vec<Vec<u8>>) -> Result<(), IndexError> {
        if events.is_empty() {
            return Ok(());
        }
        self.write(move |txn| append(txn, &events)).await
    }

    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEvent>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(OUTBOX).map_err(backend)?;
            let mut out = Vec::new();
            for entry in table.range::<u64>(..).map_err(backend)?.take(limit) {
                let (sequence, body) = entry.map_err(backend)?;
                out.push(OutboxEvent {
                    sequence: sequence.value(),
                    body: body.value().to_vec(),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn fan_out_event(
        &self,
        sequence: u64,
        webhooks: Vec<String>,
        now: u64,
    ) -> Result<bool, IndexError> {
        self.write_bookkeeping(move |txn| {
            let body = txn
                .open_table(OUTBOX)
                .map_err(backend)?
                .remove(sequence)
                .map_err(backend)?
                .map(|v| v.value().to_vec());
            let Some(body) = body else {
                return Ok(false);
            };
            let record = DeliveryRecord {
                attempts: 0,
                created_at: now,
                next_attempt_at: now,
            };
            let encoded = encode_delivery(&record, &body);
            let mut deliveries = txn.open_table(DELIVERIES).map_err(backend)?;
            let mut due = txn.open_table(DELIVERIES_DUE).map_err(backend)?;
            for webhook in &webhooks {
                let number = padded(sequence);
                deliveries
                    .insert(key(&[webhook, &number]).as_str(), encoded.as_slice())
                    .map_err(backend)?;
                due.insert(key(&[&padded(now), webhook, &number]).as_str(), ())
                    .map_err(backend)?;
            }
            Ok(true)
        })
        .await
    }

    async fn due_deliveries(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, IndexError> {
        self.read(|txn| {
            let due = txn.open_table(DELIVERIES_DUE).map_err(backend)?;
            let deliveries = txn.open_table(DELIVERIES).map_err(backend)?;
            // Every key due at `now` or before sorts below this one.
            let end = format!("{}\u{1}", padded(now));
            let mut out = Vec::new();
            for entry in due.range::<&str>(..end.as_str()).map_err(backend)? {
                if out.len() == limit {
                    break;
                }
                let (due_key, _) = entry.map_err(backend)?;
                let (webhook, sequence) = parse_due_key(due_key.value())?;
                let Some(stored) = deliveries
                    .get(key(&[webhook, &padded(sequence)]).as_str())
                    .map_err(backend)?
                else {
                    return Err(IndexError::Corrupt(format!(
                        "delivery {webhook}/{sequence} is due but not pending"
                    )));
                };
                let (record, body) = decode_delivery(stored.value())?;
                out.push(PendingDelivery {
                    webhook: webhook.to_owned(),
                    sequence,
                    body: body.to_vec(),
                    attempts: record.attempts,
                    created_at: record.created_at,
                    next_attempt_at: record.next_attempt_at,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn pending_deliveries(&self) -> Result<u64, IndexError> {
        self.read(|txn| {
            txn.open_table(DELIVERIES)
                .map_err(backend)?
                .len()
                .map_err(backend)
        })
        .await
    }

    async fn record_delivery(
        &self,
        webhook: &str,
        sequence: Option<u64>,
        result: DeliveryResult,
        next: DeliveryNext,
    ) -> Result<(), IndexError> {
        let webhook = webhook.to_owned();
        let json = serde_json::to_vec(&result).map_err(|e| IndexError::Corrupt(e.to_string()))?;
        self.write_bookkeeping(move |txn| {
            if let Some(sequence) = sequence {
                let pending = key(&[&webhook, &padded(sequence)]);
                let mut deliveries = txn.open_table(DELIVERIES).map_err(backend)?;
                let stored = deliveries
                    .get(pending.as_str())
                    .map_err(backend)?
                    .map(|v| v.value().to_vec());
                if let Some(stored) = stored {
                    let (mut record, body) = decode_delivery(&stored)?;
                    let mut due = txn.open_table(DELIVERIES_DUE).map_err(backend)?;
                    due.remove(
                        key(&[&padded(record.next_attempt_at), &webhook, &padded(sequence)])
                            .as_str(),
                    )
                    .map_err(backend)?;
                    match next {
                        DeliveryNext::Done => {
                            deliveries.remove(pending.as_str()).map_err(backend)?;
                        }
                        DeliveryNext::RetryAt(at) => {
                            record.attempts += 1;
                            record.next_attempt_at = at;
                            deliveries
                                .insert(pending.as_str(), encode_delivery(&record, body).as_slice())
                                .map_err(backend)?;
                            due.insert(
                                key(&[&padded(at), &webhook, &padded(sequence)]).as_str(),
                                (),
                            )
                            .map_err(backend)?;
                        }
                    }
                }
            }
            let number = take_numbers(txn, RESULT_COUNTER, 1)?;
            let mut results = txn.open_table(DELIVERY_RESULTS).map_err(backend)?;
            results
                .insert(key(&[&webhook, &padded(number)]).as_str(), json.as_slice())
                .map_err(backend)?;
            let (start, end) = children(&[&webhook]);
            let held: Vec<String> = results
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
                .map(|entry| entry.map(|(k, _)| k.value().to_owned()))
                .collect::<Result<_, _>>()
                .map_err(backend)?;
            let excess = held.len().saturating_sub(DELIVERY_HISTORY);
            for old in &held[..excess] {
                results.remove(old.as_str()).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn delivery_results(&self, webhook: &str) -> Result<Vec<DeliveryResult>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(DELIVERY_RESULTS).map_err(backend)?;
            let (start, end) = children(&[webhook]);
            let mut out = Vec::new();
            for entry in table
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
                .rev()
            {
                let (_, value) = entry.map_err(backend)?;
                out.push(
                    serde_json::from_slice(value.value())
                        .map_err(|e| IndexError::Corrupt(e.to_string()))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn forget_webhook(&self, webhook: &str) -> Result<u64, IndexError> {
        let webhook = webhook.to_owned();
        self.write(move |txn| {
            let pending = {
                let deliveries = txn.open_table(DELIVERIES).map_err(backend)?;
                let (start, end) = children(&[&webhook]);
                let mut pending = Vec::new();
                for entry in deliveries
                    .range(start.as_str()..end.as_str())
                    .map_err(backend)?
                {
                    let (k, v) = entry.map_err(backend)?;
                    let (record, _) = decode_delivery(v.value())?;
                    let sequence = k.value()[start.len()..].to_owned();
                    pending.push((record.next_attempt_at, sequence));
                }
                pending
            };
            let mut due = txn.open_table(DELIVERIES_DUE).map_err(backend)?;
            for (at, sequence) in &pending {
                due.remove(key(&[&padded(*at), &webhook, sequence]).as_str())
                    .map_err(backend)?;
            }
            drop(due);
            remove_under(txn, DELIVERIES, &webhook)?;
            remove_under(txn, DELIVERY_RESULTS, &webhook)?;
            Ok(pending.len() as u64)
        })
        .await
    }
}
