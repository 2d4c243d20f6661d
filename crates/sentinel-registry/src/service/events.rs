//! Events for webhooks: the webhooks in force, the CloudEvents the registry
//! records in the index's outbox, and what the sender needs from the index.
//!
//! An event is recorded only if a webhook in force wants it (its type, and
//! its repository if it has one). Pushes, deletes and signatures hand their
//! events to the index with the write that caused them, so an acknowledged
//! push never loses its event. Pulls and package downloads are not worth a
//! write on the request path: they go into a bounded queue that one task
//! drains into the outbox, one transaction per batch; when the queue is
//! full, the event is dropped and counted.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use sentinel_catalogue::PackageVersion;
use sentinel_durable::FileStamp;
use sentinel_index::{DeliveryNext, DeliveryResult, PendingDelivery};
use sentinel_oci::{Digest, RepositoryName, Tag};
use sentinel_webhooks::{
    CloudEvent, Deliverer, EventData, EventKind, PackageData, Webhook, WebhookError, WebhookFile,
};
use tokio::sync::{Notify, mpsc};

use super::{Registry, RegistryError};
use crate::clock::{now, rfc3339};

/// Pull events waiting to be recorded, at most.
const PULL_QUEUE: usize = 10_000;
/// Pull events recorded in one transaction, at most.
const PULL_BATCH: usize = 512;

/// The webhooks in force and the machinery of events.
pub(crate) struct Events {
    /// The CloudEvents `source`: the registry's public URL, or its address.
    source: String,
    /// The webhooks file.
    file: WebhookFile,
    /// The stamp of the file as last read.
    loaded: Mutex<Option<FileStamp>>,
    /// The webhooks in force.
    webhooks: ArcSwap<Vec<Webhook>>,
    /// The keys of webhooks no longer in force whose deliveries and
    /// history are still to be forgotten.
    removed: Mutex<Vec<String>>,
    /// Pull events on their way to the outbox.
    pulls: mpsc::Sender<Vec<u8>>,
    /// The other end, until the recording task takes it.
    pull_queue: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    /// Pull events dropped because the queue was full.
    dropped_pulls: AtomicU64,
    /// Woken when events enter the outbox.
    recorded: Notify,
    /// Sends deliveries.
    deliverer: Deliverer,
}

impl Events {
    /// Events from `source`, for the webhooks of the file in `data_dir`,
    /// delivered with `timeout` per attempt.
    pub(crate) fn new(
        source: String,
        data_dir: &Path,
        timeout: Duration,
    ) -> Result<Events, WebhookError> {
        let file = WebhookFile::new(data_dir);
        let stamp = file.stamp();
        let webhooks = file.load()?;
        let (pulls, pull_queue) = mpsc::channel(PULL_QUEUE);
        Ok(Events {
            source,
            file,
            loaded: Mutex::new(stamp),
            webhooks: ArcSwap::from_pointee(webhooks),
            removed: Mutex::default(),
            pulls,
            pull_queue: Mutex::new(Some(pull_queue)),
            dropped_pulls: AtomicU64::new(0),
            recorded: Notify::new(),
            deliverer: Deliverer::new(timeout)?,
        })
    }
}

/// What the sender needs of a recorded event: its id, type and repository.
#[derive(serde::Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    data: EnvelopeData,
}

#[derive(Default, serde::Deserialize)]
struct EnvelopeData {
    repository: Option<String>,
}

/// The id and type of a recorded event body (empty if unreadable).
pub(crate) fn event_identity(body: &[u8]) -> (String, String) {
    serde_json::from_slice::<Envelope>(body)
        .map(|e| (e.id, e.event_type))
        .unwrap_or_default()
}

/// Now in milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An actor as events name it: nobody for anonymous callers.
fn actor(user: Option<&str>) -> Option<String> {
    user.filter(|u| !u.is_empty()).map(str::to_owned)
}

impl Registry {
    /// Whether a webhook in force wants an event of `event_type` about `repository`.
    fn wanted(&self, event_type: &str, repository: Option<&str>) -> bool {
        self.events
            .webhooks
            .load()
            .iter()
            .any(|hook| hook.wants(event_type, repository))
    }

    /// The body of a new event, if a webhook wants it.
    fn event(&self, event_type: &str, subject: Option<String>, data: EventData) -> Option<Vec<u8>> {
        if !self.wanted(event_type, data.repository.as_deref()) {
            return None;
        }
        let event = CloudEvent::new(
            event_type,
            &self.events.source,
            rfc3339(now()),
            subject,
            data,
        );
        Some(event.to_body())
    }

    /// The events of storing manifest `digest` in `repository` under
    /// `tag`: pushed, and published (a tagged package `entry`) or signature
    /// added (an artifact signing `signed`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_events(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        media_type: &str,
        tag: Option<&Tag>,
        entry: Option<&PackageVersion>,
        signed: Option<&Digest>,
        pushed_by: Option<&str>,
    ) -> Vec<Vec<u8>> {
        let base = EventData {
            repository: Some(repository.to_string()),
            digest: Some(digest.to_string()),
            media_type: Some(media_type.to_owned()),
            tag: tag.map(Tag::to_string),
            actor: actor(pushed_by),
            ..EventData::default()
        };
        let at_digest = format!("{repository}@{digest}");
        let mut events = Vec::new();
        events.extend(self.event(
            EventKind::MANIFEST_PUSHED,
            Some(match tag {
                Some(tag) => format!("{repository}:{tag}"),
                None => at_digest.clone(),
            }),
            base.clone(),
        ));
        if let (Some(entry), Some(_)) = (entry, tag) {
            events.extend(self.event(
                EventKind::PACKAGE_PUBLISHED,
                Some(format!("{repository}@{}", entry.version)),
                EventData {
                    version: Some(entry.version.to_string()),
                    package: Some(PackageData {
                        name: entry.name.clone(),
                        kind: entry.kind.to_string(),
                    }),
                    ..base.clone()
                },
            ));
        }
        if let Some(signed) = signed {
            events.extend(self.event(
                EventKind::SIGNATURE_ADDED,
                Some(format!("{repository}@{signed}")),
                EventData {
                    signed_digest: Some(signed.to_string()),
                    ..base
                },
            ));
        }
        events
    }

    /// The event of deleting manifest `digest` (which had `tags`).
    pub(super) fn manifest_deleted_events(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        tags: Vec<String>,
        deleted_by: Option<&str>,
    ) -> Vec<Vec<u8>> {
        let data = EventData {
            repository: Some(repository.to_string()),
            digest: Some(digest.to_string()),
            tags,
            actor: actor(deleted_by),
            ..EventData::default()
        };
        self.event(
            EventKind::MANIFEST_DELETED,
            Some(format!("{repository}@{digest}")),
            data,
        )
        .into_iter()
        .collect()
    }

    /// The event of deleting `tag` (which named `digest`, if known).
    pub(super) fn tag_deleted_events(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        digest: Option<&Digest>,
        deleted_by: Option<&str>,
    ) -> Vec<Vec<u8>> {
        let data = EventData {
            repository: Some(repository.to_string()),
            digest: digest.map(Digest::to_string),
            tag: Some(tag.to_string()),
            actor: actor(deleted_by),
            ..EventData::default()
        };
        self.event(
            EventKind::TAG_DELETED,
            Some(format!("{repository}:{tag}")),
            data,
        )
        .into_iter()
        .collect()
    }

    /// Queues a pull event for manifest `digest` of `repository`, read by
    /// `reference` (a tag, or the digest); never waits.
    pub fn record_pull(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        media_type: &str,
        tag: Option<&Tag>,
        pulled_by: Option<&str>,
    ) {
        let data = EventData {
            repository: Some(repository.to_string()),
            digest: Some(digest.to_string()),
            media_type: Some(media_type.to_owned()),
            tag: tag.map(Tag::to_string),
            actor: actor(pulled_by),
            ..EventData::default()
        };
        let subject = format!("{repository}@{digest}");
        if let Some(body) = self.event(EventKind::MANIFEST_PULLED, Some(subject), data) {
            self.queue_pull(body);
        }
    }

    /// Queues a download event of package `entry`; never waits.
    pub fn record_package_download(&self, entry: &PackageVersion, downloaded_by: Option<&str>) {
        let data = EventData {
            repository: Some(entry.repository.to_string()),
            digest: Some(entry.digest.to_string()),
            version: Some(entry.version.to_string()),
            package: Some(PackageData {
                name: entry.name.clone(),
                kind: entry.kind.to_string(),
            }),
            actor: actor(downloaded_by),
            ..EventData::default()
        };
        let subject = format!("{}@{}", entry.repository, entry.version);
        if let Some(body) = self.event(EventKind::PACKAGE_DOWNLOADED, Some(subject), data) {
            self.queue_pull(body);
        }
    }

    fn queue_pull(&self, body: Vec<u8>) {
        if self.events.pulls.try_send(body).is_err() {
            self.events.dropped_pulls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Pull events dropped so far because their queue was full.
    pub(crate) fn dropped_pull_events(&self) -> u64 {
        self.events.dropped_pulls.load(Ordering::Relaxed)
    }

    /// Records queued pull events in the outbox, one transaction per batch,
    /// until the queue closes; only the first caller gets the queue.
    pub(crate) async fn record_queued_pulls(&self) {
        let taken = self
            .events
            .pull_queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut queue) = taken else {
            return;
        };
        let mut batch = Vec::with_capacity(PULL_BATCH);
        while queue.recv_many(&mut batch, PULL_BATCH).await > 0 {
            let events = std::mem::take(&mut batch);
            let count = events.len();
            match self.index.append_events(events).await {
                Ok(()) => self.events.recorded.notify_one(),
                Err(error) => {
                    tracing::warn!(%error, count, "could not record pull events; they are lost");
                }
            }
        }
    }

    /// Records an event of `event_type` (quota exceeded, GC completed, ...)
    /// in the outbox at once, if a webhook wants it; `true` if recorded.
    pub async fn emit(
        &self,
        event_type: &str,
        subject: Option<String>,
        data: EventData,
    ) -> Result<bool, RegistryError> {
        let Some(body) = self.event(event_type, subject, data) else {
            return Ok(false);
        };
        self.index.append_events(vec![body]).await?;
        self.events.recorded.notify_one();
        Ok(true)
    }

    /// Tells the sender that events entered the outbox.
    pub(super) fn events_recorded(&self) {
        self.events.recorded.notify_one();
    }

    /// Waits until events enter the outbox, or `timeout` passes.
    pub(crate) async fn wait_for_events(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.events.recorded.notified()).await;
    }

    /// The webhooks in force.
    pub fn webhooks(&self) -> Arc<Vec<Webhook>> {
        self.events.webhooks.load_full()
    }

    /// The webhook `name`, if it exists.
    pub fn webhook(&self, name: &str) -> Option<Webhook> {
        self.events
            .webhooks
            .load()
            .iter()
            .find(|hook| hook.name == name)
            .cloned()
    }

    /// The webhook whose deliveries are kept under `key`, if it exists.
    pub(crate) fn webhook_by_key(&self, key: &str) -> Option<Webhook> {
        self.events
            .webhooks
            .load()
            .iter()
            .find(|hook| hook.key() == key)
            .cloned()
    }

    /// Installs `webhooks`, read from the file at `stamp`; the keys of
    /// those no longer in force are to be forgotten.
    fn install_webhooks(&self, webhooks: Vec<Webhook>, stamp: Option<FileStamp>) {
        *self
            .events
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = stamp;
        let installed = Arc::new(webhooks);
        let previous = self.events.webhooks.swap(Arc::clone(&installed));
        let gone = previous
            .iter()
            .filter(|old| !installed.iter().any(|new| new.key() == old.key()))
            .map(|old| old.key().to_owned());
        self.events
            .removed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(gone);
    }

    /// Forgets the pending deliveries and history of the webhooks removed
    /// since the last call (by this server or, seen in the file, by another
    /// process); what could not be forgotten is tried again next time.
    pub(crate) async fn forget_removed_webhooks(&self) -> Result<(), RegistryError> {
        let removed = std::mem::take(
            &mut *self
                .events
                .removed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (done, key) in removed.iter().enumerate() {
            match self.index.forget_webhook(key).await {
                Ok(dropped) => tracing::info!(
                    webhook = key,
                    dropped,
                    "dropped the deliveries and history of a removed webhook"
                ),
                Err(error) => {
                    self.events
                        .removed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend(removed[done..].iter().cloned());
                    return Err(error.into());
                }
            }
        }
        Ok(())
    }

    /// Adds `webhook` to the file and puts it in force (blocking file I/O).
    pub fn add_webhook(&self, webhook: Webhook) -> Result<(), WebhookError> {
        let webhooks = self.events.file.add(webhook)?;
        self.install_webhooks(webhooks, self.events.file.stamp());
        Ok(())
    }

    /// Replaces the webhook of `webhook.name` (blocking file I/O).
    pub fn replace_webhook(&self, webhook: Webhook) -> Result<(), WebhookError> {
        let webhooks = self.events.file.replace(webhook)?;
        self.install_webhooks(webhooks, self.events.file.stamp());
        Ok(())
    }

    /// Removes webhook `name` from the file and forgets its pending
    /// deliveries and history.
    pub async fn remove_webhook(&self, name: &str) -> Result<(), WebhookError> {
        let file = self.events.file.clone();
        let removed = name.to_owned();
        let webhooks = tokio::task::spawn_blocking(move || file.remove(&removed))
            .await
            .map_err(|e| WebhookError::Store {
                path: self.events.file.path().to_path_buf(),
                source: std::io::Error::other(e),
            })??;
        self.install_webhooks(webhooks, self.events.file.stamp());
        if let Err(error) = self.forget_removed_webhooks().await {
            // The sender tries again.
            tracing::warn!(%error, webhook = name, "could not forget the deliveries of a removed webhook");
        }
        Ok(())
    }

    /// Reads the webhooks file again if another process changed it.
    pub fn reload_webhooks(&self) -> Result<bool, WebhookError> {
        let stamp = self.events.file.stamp();
        if stamp
            == *self
                .events
                .loaded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        {
            return Ok(false);
        }
        let webhooks = self.events.file.load()?;
        self.install_webhooks(webhooks, stamp);
        Ok(true)
    }

    /// `webhook`'s last delivery results, newest first.
    pub async fn webhook_deliveries(
        &self,
        webhook: &Webhook,
    ) -> Result<Vec<DeliveryResult>, RegistryError> {
        Ok(self.index.delivery_results(webhook.key()).await?)
    }

    /// Sends webhook `name` an `io.sentinel.ping` event now (whatever its
    /// events, even disabled), records the result in its history and returns it.
    pub async fn test_webhook(&self, webhook: &Webhook) -> Result<DeliveryResult, RegistryError> {
        let event = CloudEvent::new(
            EventKind::PING,
            &self.events.source,
            rfc3339(now()),
            Some(webhook.name.clone()),
            EventData::default(),
        );
        let at = now_millis();
        let attempt = self
            .events
            .deliverer
            .deliver(
                webhook,
                &event.id,
                &event.event_type,
                event.to_body(),
                now(),
            )
            .await;
        let result = DeliveryResult {
            event_id: event.id,
            event_type: event.event_type,
            attempt: 1,
            at,
            status: attempt.status,
            latency_ms: u64::try_from(attempt.latency.as_millis()).unwrap_or(u64::MAX),
            error: attempt.error,
        };
        self.index
            .record_delivery(webhook.key(), None, result.clone(), DeliveryNext::Done)
            .await?;
        Ok(result)
    }

    /// The client deliveries are sent with.
    pub(crate) fn deliverer(&self) -> &Deliverer {
        &self.events.deliverer
    }

    /// Replaces up to `limit` events of the outbox, oldest first, by a
    /// pending delivery to each webhook in force that wants it; returns how
    /// many events were handled.
    pub(crate) async fn fan_out_events(&self, limit: usize) -> Result<usize, RegistryError> {
        let events = self.index.pending_events(limit).await?;
        let webhooks = self.webhooks();
        let now = now_millis();
        for event in &events {
            let targets: Vec<String> = match serde_json::from_slice::<Envelope>(&event.body) {
                Ok(envelope) => webhooks
                    .iter()
                    .filter(|hook| {
                        hook.wants(&envelope.event_type, envelope.data.repository.as_deref())
                    })
                    .map(|hook| hook.key().to_owned())
                    .collect(),
                Err(error) => {
                    tracing::warn!(%error, sequence = event.sequence, "dropping an unreadable event");
                    Vec::new()
                }
            };
            self.index
                .fan_out_event(event.sequence, targets, now)
                .await?;
        }
        Ok(events.len())
    }

    /// Up to `limit` deliveries due now, the earliest first.
    pub(crate) async fn due_deliveries(
        &self,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, RegistryError> {
        Ok(self.index.due_deliveries(now_millis(), limit).await?)
    }

    /// Records one attempt of `delivery` and what happens next.
    pub(crate) async fn record_delivery(
        &self,
        delivery: &PendingDelivery,
        result: DeliveryResult,
        next: DeliveryNext,
    ) -> Result<(), RegistryError> {
        Ok(self
            .index
            .record_delivery(&delivery.webhook, Some(delivery.sequence), result, next)
            .await?)
    }

    /// Forgets the deliveries and history kept under `key`, of a webhook
    /// that no longer exists.
    pub(crate) async fn forget_webhook(&self, key: &str) -> Result<u64, RegistryError> {
        Ok(self.index.forget_webhook(key).await?)
    }

    /// Deliveries pending over all webhooks.
    pub(crate) async fn pending_deliveries(&self) -> Result<u64, RegistryError> {
        Ok(self.index.pending_deliveries().await?)
    }

    /// Disables the webhook of `key` in the file (its receiver answered
    /// `410 Gone`), if it is still there.
    pub(crate) fn disable_webhook(&self, key: &str) -> Result<(), WebhookError> {
        let webhooks = self.events.file.disable_key(key)?;
        self.install_webhooks(webhooks, self.events.file.stamp());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sentinel_webhooks::{CloudEvent, EventData, EventKind, Webhook, WebhookFile, parse_events};

    #[tokio::test]
    async fn only_events_a_webhook_wants_are_recorded_and_fanned_out() {
        let dir = tempfile::tempdir().unwrap();
        let webhook = Webhook::new(
            "gc",
            "http://127.0.0.1:9/",
            parse_events("gc").unwrap(),
            Some("acme/*".parse().unwrap()),
            "s".to_owned(),
            true,
        )
        .unwrap();
        WebhookFile::new(dir.path()).add(webhook).unwrap();
        let registry = super::super::tests::registry(dir.path());

        let mut data = EventData::default();
        data.details.insert("freed_bytes".to_owned(), 10.into());
        assert!(
            registry
                .emit(EventKind::GC_COMPLETED, None, data)
                .await
                .unwrap()
        );
        assert!(
            !registry
                .emit(EventKind::QUOTA_EXCEEDED, None, EventData::default())
                .await
                .unwrap()
        );
        let repository = "acme/app".parse().unwrap();
        let digest = sentinel_oci::Digest::sha256(b"m");
        registry.record_pull(&repository, &digest, "m", None, Some("alice"));
        assert!(
            registry
                .push_events(&repository, &digest, "m", None, None, None, None)
                .is_empty()
        );

        let events = registry.index.pending_events(10).await.unwrap();
        assert_eq!(events.len(), 1);
        let event: CloudEvent = serde_json::from_slice(&events[0].body).unwrap();
        assert_eq!(event.event_type, EventKind::GC_COMPLETED);
        assert_eq!(event.data.details["freed_bytes"], 10);
        assert_eq!(event.source, "http://127.0.0.1");
        assert_eq!(registry.fan_out_events(10).await.unwrap(), 1);
        let due = registry.due_deliveries(10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].webhook, registry.webhook("gc").unwrap().key());
        assert_eq!(due[0].body, events[0].body);
    }
}
