//! The webhook sender: a task beside the server that moves events from the
//! index's outbox to per-webhook deliveries and delivers what is due.
//!
//! Requests only ever write events into the outbox in their own
//! transaction; everything here runs on its own tasks, so a slow or dead
//! receiver costs pushes and pulls nothing. Each attempt is bounded by the
//! delivery timeout; at most [`MAX_IN_FLIGHT`] attempts run at once, and at
//! most [`MAX_PER_WEBHOOK`] to one webhook. A 2xx answer delivers the event;
//! a `410 Gone` disables the webhook; anything else (another status, a
//! timeout, a refused connection) is retried after a random wait below a
//! ceiling that doubles with each attempt ("full jitter"), until the retry
//! window since the event was fanned out is over. Everything the sender
//! knows is in the index, so a restarted server resumes where it stopped.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sentinel_index::{DeliveryNext, DeliveryResult, PendingDelivery};
use sentinel_webhooks::Webhook;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::clock::now;
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::service::{Registry, event_identity, now_millis};

/// Delivery attempts in flight at once, over all webhooks.
pub(crate) const MAX_IN_FLIGHT: usize = 16;
/// Delivery attempts in flight at once to one webhook.
pub(crate) const MAX_PER_WEBHOOK: usize = 4;
/// Events fanned out, and deliveries read, per round.
const BATCH: usize = 256;
/// How often the sender looks for due retries when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);

/// How the sender retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// The ceiling of the first retry's wait; it doubles with each attempt.
    pub backoff: Duration,
    /// How long after being fanned out an event is still retried.
    pub window: Duration,
}

impl RetryPolicy {
    /// The ceiling of the wait after `failed` failed attempts (from 1).
    fn ceiling(&self, failed: u32) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(2u32.saturating_pow(failed.saturating_sub(1).min(30)));
        doubled.min(MAX_BACKOFF)
    }

    /// A random wait below the ceiling after `failed` failed attempts.
    fn wait(&self, failed: u32) -> Duration {
        let ceiling = u64::try_from(self.ceiling(failed).as_millis()).unwrap_or(u64::MAX);
        let random = getrandom::u64().unwrap_or(ceiling / 2);
        Duration::from_millis(random % ceiling.saturating_add(1))
    }
}

/// Which deliveries have an attempt running, so one is never sent twice at once.
type InFlight = Arc<Mutex<HashSet<(String, u64)>>>;

/// Runs the sender until the task is aborted.
pub(crate) async fn run(registry: Registry, metrics: Option<Arc<Metrics>>, policy: RetryPolicy) {
    let overall = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut per_webhook: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let in_flight: InFlight = Arc::default();
    let mut attempts = JoinSet::new();
    let mut dropped_pulls = 0;
    loop {
        while attempts.try_join_next().is_some() {}
        if let Err(error) = registry.forget_removed_webhooks().await {
            tracing::warn!(%error, "could not drop the deliveries of a removed webhook");
        }
        loop {
            match registry.fan_out_events(BATCH).await {
                Ok(n) if n == BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "could not fan out webhook events");
                    break;
                }
            }
        }
        let due = match registry.due_deliveries(BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "could not read due webhook deliveries");
                Vec::new()
            }
        };
        for delivery in due {
            let key = (delivery.webhook.clone(), delivery.sequence);
            if in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&key)
            {
                continue;
            }
            let Some(webhook) = registry.webhook_by_key(&delivery.webhook) else {
                match registry.forget_webhook(&delivery.webhook).await {
                    Ok(n) => tracing::info!(
                        webhook = delivery.webhook,
                        dropped = n,
                        "dropped the deliveries of a removed webhook"
                    ),
                    Err(error) => {
                        tracing::warn!(%error, "could not drop the deliveries of a removed webhook")
                    }
                }
                continue;
            };
            let Ok(overall_permit) = Arc::clone(&overall).try_acquire_owned() else {
                break;
            };
            let one_webhook = per_webhook
                .entry(webhook.key().to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(MAX_PER_WEBHOOK)));
            let Ok(webhook_permit) = Arc::clone(one_webhook).try_acquire_owned() else {
                continue;
            };
            in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone());
            let attempt = Attempt {
                registry: registry.clone(),
                metrics: metrics.clone(),
                policy,
                in_flight: Arc::clone(&in_flight),
                key,
                _permits: (overall_permit, webhook_permit),
            };
            attempts.spawn(attempt.run(webhook, delivery));
        }
        if let Some(metrics) = &metrics {
            if let Ok(pending) = registry.pending_deliveries().await {
                metrics.set_webhook_pending(pending);
            }
            let dropped = registry.dropped_pull_events();
            if dropped > dropped_pulls {
                metrics.webhook_pulls_dropped(dropped - dropped_pulls);
                dropped_pulls = dropped;
            }
        }
        // New events, or a finished attempt (its places are free for the
        // next due deliveries), or the poll: whichever comes first.
        if attempts.is_empty() {
            registry.wait_for_events(POLL).await;
        } else {
            tokio::select! {
                () = registry.wait_for_events(POLL) => {}
                _ = attempts.join_next() => {}
            }
        }
    }
}

/// One delivery attempt and what it holds while it runs.
struct Attempt {
    registry: Registry,
    metrics: Option<Arc<Metrics>>,
    policy: RetryPolicy,
    in_flight: InFlight,
    key: (String, u64),
    /// The places in the overall and per-webhook bounds, given back on drop.
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

impl Attempt {
    /// Sends `delivery` to `webhook` and records the outcome.
    async fn run(self, webhook: Webhook, delivery: PendingDelivery) {
        let (event_id, event_type) = event_identity(&delivery.body);
        let started = now_millis();
        let sent = self
            .registry
            .deliverer()
            .deliver(
                &webhook,
                &event_id,
                &event_type,
                delivery.body.clone(),
                now(),
            )
            .await;
        let number = delivery.attempts + 1;
        let mut error = sent.error.clone();
        let (next, outcome) = if sent.delivered() {
            (DeliveryNext::Done, DeliveryOutcome::delivered)
        } else if sent.gone() {
            let registry = self.registry.clone();
            let key = webhook.key().to_owned();
            match tokio::task::spawn_blocking(move || registry.disable_webhook(&key)).await {
                Ok(Ok(())) => {
                    tracing::warn!(
                        webhook = webhook.name,
                        "the receiver answered 410 Gone: webhook disabled"
                    );
                }
                Ok(Err(failure)) => {
                    tracing::warn!(error = %crate::describe(&failure), webhook = webhook.name, "could not disable a webhook whose receiver is gone");
                }
                Err(_) => {}
            }
            error = Some("the receiver answered 410 Gone: webhook disabled".to_owned());
            (DeliveryNext::Done, DeliveryOutcome::gone)
        } else {
            let wait = u64::try_from(self.policy.wait(number).as_millis()).unwrap_or(u64::MAX);
            let retry_at = now_millis().saturating_add(wait);
            let window = u64::try_from(self.policy.window.as_millis()).unwrap_or(u64::MAX);
            if retry_at > delivery.created_at.saturating_add(window) {
                error = Some(format!(
                    "{}; given up after {number} attempts",
                    error.as_deref().unwrap_or("failed")
                ));
                (DeliveryNext::Done, DeliveryOutcome::given_up)
            } else {
                (DeliveryNext::RetryAt(retry_at), DeliveryOutcome::failed)
            }
        };
        if outcome == DeliveryOutcome::given_up {
            tracing::warn!(
                webhook = webhook.name,
                event = event_id,
                "webhook delivery given up after {number} attempts"
            );
        }
        let result = DeliveryResult {
            event_id,
            event_type,
            attempt: number,
            at: started,
            status: sent.status,
            latency_ms: u64::try_from(sent.latency.as_millis()).unwrap_or(u64::MAX),
            error,
        };
        if let Err(failure) = self.registry.record_delivery(&delivery, result, next).await {
            // The delivery stays due as it was: it will be sent again.
            tracing::warn!(error = %failure, webhook = webhook.name, "could not record a webhook delivery");
        } else if self.registry.webhook_by_key(webhook.key()).is_none() {
            // Removed while this attempt ran: what it recorded goes too.
            if let Err(error) = self.registry.forget_webhook(webhook.key()).await {
                tracing::warn!(%error, "could not drop the deliveries of a removed webhook");
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.webhook_delivery(outcome);
        }
    }
}

impl Drop for Attempt {
    /// The delivery may be attempted again (whether this attempt finished,
    /// failed to record, or panicked).
    fn drop(&mut self) {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_random_below_a_doubling_ceiling() {
        let policy = RetryPolicy {
            backoff: Duration::from_millis(100),
            window: Duration::from_secs(60),
        };
        assert_eq!(policy.ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.ceiling(5), Duration::from_millis(1_600));
        assert_eq!(policy.ceiling(40), MAX_BACKOFF);
        let waits: Vec<Duration> = (0..200).map(|_| policy.wait(3)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(400)));
        let distinct: HashSet<&Duration> = waits.iter().collect();
        assert!(
            distinct.len() > 20,
            "the waits are not random: {distinct:?}"
        );
    }
}
