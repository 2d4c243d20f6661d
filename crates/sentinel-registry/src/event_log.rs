//! The last log events, kept in memory for administrators to read through
//! the management API (`/api/v1/logs`, `/api/v1/audit`).
//!
//! An [`EventLog`] holds two rings of the same capacity: the audit trail
//! (events with the target `sentinel::audit`) and every other event, so that
//! a burst of warnings cannot push the audit trail out. The per-request
//! access log (`sentinel::access`) is not kept: it would replace everything
//! else within seconds under load, and it is on the process's output anyway.
//! Each event is capped at [`MAX_EVENT_BYTES`] of text, so the memory held is
//! bounded by the capacity. Every event gets a sequence number, increasing
//! across both rings, which a reader passes back as `after` to get only what
//! is newer.
//!
//! Events are recorded by the [`tracing`] layer [`EventLog::layer`] returns;
//! a server whose subscriber does not have it answers with empty lists.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};

/// The target of audit events.
const AUDIT_TARGET: &str = "sentinel::audit";
/// The target of the per-request access log, which is not kept.
const ACCESS_TARGET: &str = "sentinel::access";
/// The most text (message and field values) one event keeps; the rest is cut.
pub const MAX_EVENT_BYTES: usize = 2048;
/// The most fields one event keeps.
const MAX_FIELDS: usize = 32;

/// The last log events and audit events, shared by the `tracing` layer that
/// records them and the API that reads them. Cloning shares the same rings.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Rings>,
}

struct Rings {
    general: Mutex<VecDeque<Arc<Event>>>,
    audit: Mutex<VecDeque<Arc<Event>>>,
    capacity: usize,
    sequence: AtomicU64,
}

/// One recorded event.
#[derive(Debug)]
pub(crate) struct Event {
    /// Its place among all recorded events (both rings).
    pub sequence: u64,
    /// When, in milliseconds since the Unix epoch.
    pub unix_millis: u64,
    /// Its level.
    pub level: Level,
    /// Its target (the module, or `sentinel::audit`).
    pub target: &'static str,
    /// Its message.
    pub message: String,
    /// Its other fields.
    pub fields: Map<String, Value>,
}

/// Which ring to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ring {
    /// Log events other than the audit trail.
    General,
    /// The audit trail.
    Audit,
}

/// What to read from a ring.
#[derive(Debug, Default)]
pub(crate) struct EventQuery {
    /// Only events at this level or more severe.
    pub level: Option<Level>,
    /// Only events at or after this time (milliseconds since the Unix epoch).
    pub since_millis: Option<u64>,
    /// Only events with a sequence number above this.
    pub after: Option<u64>,
    /// Only events whose fields have these values.
    pub fields: Vec<(&'static str, String)>,
    /// The most events returned (the newest that match).
    pub limit: usize,
}

impl EventLog {
    /// Rings keeping the last `capacity` events each (at least one).
    pub fn new(capacity: usize) -> EventLog {
        let capacity = capacity.max(1);
        EventLog {
            inner: Arc::new(Rings {
                general: Mutex::new(VecDeque::new()),
                audit: Mutex::new(VecDeque::new()),
                capacity,
                sequence: AtomicU64::new(1),
            }),
        }
    }

    /// The `tracing` layer that records into these rings the events `filter`
    /// lets through, plus every audit event at `info` or above whatever the
    /// filter says, and never the access log.
    pub fn layer<S>(&self, filter: EnvFilter) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let filter = filter
            .add_directive(
                format!("{AUDIT_TARGET}=info")
                    .parse()
                    .expect("a valid directive"),
            )
            .add_directive(
                format!("{ACCESS_TARGET}=off")
                    .parse()
                    .expect("a valid directive"),
            );
        Recorder { log: self.clone() }.with_filter(filter)
    }

    /// How many events each ring keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.inner.capacity
    }

    fn record(
        &self,
        level: Level,
        target: &'static str,
        message: String,
        fields: Map<String, Value>,
    ) {
        let ring = if target == AUDIT_TARGET {
            &self.inner.audit
        } else {
            &self.inner.general
        };
        let unix_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut events = ring.lock().unwrap_or_else(|e| e.into_inner());
        // Numbered under the ring's lock, so each ring is in sequence order.
        let sequence = self.inner.sequence.fetch_add(1, Ordering::Relaxed);
        if events.len() == self.inner.capacity {
            events.pop_front();
        }
        events.push_back(Arc::new(Event {
            sequence,
            unix_millis,
            level,
            target,
            message,
            fields,
        }));
    }

    /// The newest `query.limit` events of `ring` that match `query`, oldest first.
    pub(crate) fn read(&self, ring: Ring, query: &EventQuery) -> Vec<Arc<Event>> {
        let events = match ring {
            Ring::General => &self.inner.general,
            Ring::Audit => &self.inner.audit,
        };
        let events = events.lock().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<Arc<Event>> = events
            .iter()
            .rev()
            .take_while(|e| query.after.is_none_or(|after| e.sequence > after))
            .take_while(|e| {
                query
                    .since_millis
                    .is_none_or(|since| e.unix_millis >= since)
            })
            .filter(|e| query.level.is_none_or(|level| e.level <= level))
            .filter(|e| {
                query.fields.iter().all(|(name, wanted)| {
                    e.fields.get(*name).is_some_and(|value| match value {
                        Value::String(text) => text == wanted,
                        other => serde_json::from_str::<Value>(wanted).is_ok_and(|w| w == *other),
                    })
                })
            })
            .take(query.limit)
            .cloned()
            .collect();
        drop(events);
        found.reverse();
        found
    }
}

impl Event {
    /// The event as the API shows it.
    pub(crate) fn to_json(&self) -> Value {
        let seconds = crate::clock::rfc3339(self.unix_millis / 1000);
        let time = format!(
            "{}.{:03}Z",
            seconds.trim_end_matches('Z'),
            self.unix_millis % 1000
        );
        json!({
            "sequence": self.sequence,
            "time": time,
            "level": self.level.as_str().to_ascii_lowercase(),
            "target": self.target,
            "message": self.message,
            "fields": self.fields,
        })
    }
}

/// The layer: turns each event into an [`Event`].
struct Recorder {
    log: EventLog,
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        let mut fields = Fields {
            budget: MAX_EVENT_BYTES,
            message: String::new(),
            fields: Map::new(),
        };
        event.record(&mut fields);
        self.log.record(
            *metadata.level(),
            metadata.target(),
            fields.message,
            fields.fields,
        );
    }
}

/// Collects an event's fields within a budget of text.
struct Fields {
    budget: usize,
    message: String,
    fields: Map<String, Value>,
}

impl Fields {
    /// `text` cut to what is left of the budget (at a character boundary),
    /// charged to it.
    fn take(&mut self, mut text: String) -> String {
        if text.len() > self.budget {
            let mut end = self.budget;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        self.budget = self.budget.saturating_sub(text.len());
        text
    }

    fn put(&mut self, field: &Field, value: Value) {
        if self.fields.len() < MAX_FIELDS {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.record_text(field, text);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_owned());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
}

impl Fields {
    fn record_text(&mut self, field: &Field, text: String) {
        let text = self.take(text);
        if field.name() == "message" {
            self.message = text;
        } else {
            self.put(field, Value::String(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn logged(log: &EventLog, emit: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(log.layer(EnvFilter::new("info")));
        tracing::subscriber::with_default(subscriber, emit);
    }

    #[test]
    fn audit_events_have_their_own_ring_and_access_lines_none() {
        let log = EventLog::new(3);
        logged(&log, || {
            tracing::info!(target: "sentinel::audit", action = "push", user = "alice", "pushed");
            tracing::info!(target: "sentinel::access", status = 200u64);
            for n in 0..10u64 {
                tracing::warn!(n, "noise");
            }
            tracing::debug!("below the filter");
        });
        let all = EventQuery {
            limit: 100,
            ..EventQuery::default()
        };
        let general = log.read(Ring::General, &all);
        assert_eq!(general.len(), 3, "the ring keeps the last three");
        assert_eq!(general[2].fields["n"], json!(9));
        assert!(general.windows(2).all(|w| w[0].sequence < w[1].sequence));
        let audit = log.read(Ring::Audit, &all);
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].fields["user"], json!("alice"));
        let json = audit[0].to_json();
        assert_eq!(json["level"], "info");
        assert_eq!(json["target"], "sentinel::audit");
        assert_eq!(json["message"], "pushed");
    }

    #[test]
    fn queries_filter_by_level_fields_sequence_and_limit() {
        let log = EventLog::new(100);
        logged(&log, || {
            tracing::error!(code = 1u64, "first");
            tracing::info!("second");
            tracing::warn!("third");
            tracing::error!(code = 2u64, "fourth");
        });
        let errors = log.read(
            Ring::General,
            &EventQuery {
                level: Some(Level::WARN),
                limit: 100,
                ..EventQuery::default()
            },
        );
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["first", "third", "fourth"]);
        let newest = log.read(
            Ring::General,
            &EventQuery {
                limit: 1,
                ..EventQuery::default()
            },
        );
        assert_eq!(newest[0].message, "fourth");
        let after = log.read(
            Ring::General,
            &EventQuery {
                after: Some(errors[1].sequence),
                limit: 100,
                ..EventQuery::default()
            },
        );
        assert_eq!(after.len(), 1);
        let code = log.read(
            Ring::General,
            &EventQuery {
                fields: vec![("code", "1".to_owned())],
                limit: 100,
                ..EventQuery::default()
            },
        );
        assert_eq!(code[0].message, "first");
    }

    #[test]
    fn an_event_keeps_a_bounded_amount_of_text() {
        let log = EventLog::new(10);
        let long = "é".repeat(10_000);
        logged(&log, || {
            tracing::error!(a = %long, b = %long, "{long}");
        });
        let event = &log.read(
            Ring::General,
            &EventQuery {
                limit: 1,
                ..EventQuery::default()
            },
        )[0];
        let text = event.message.len()
            + event
                .fields
                .values()
                .map(|v| v.as_str().map_or(0, str::len))
                .sum::<usize>();
        assert!(text <= MAX_EVENT_BYTES + 3 * '…'.len_utf8(), "{text}");
    }
}
