//! The registry's webhooks (issue 15, section 1).
//!
//! A [`Webhook`] is a name, an http(s) URL, the event types it wants, an
//! optional repository pattern (the signature policies' glob, from
//! `sentinel-trust`), a secret and whether it is enabled. Webhooks live in
//! `<data-dir>/webhooks.json` ([`WebhookFile`]), replaced atomically under
//! a lock, so `sentinel-registry webhook ...` and the management API can
//! change them while the server runs.
//!
//! What a webhook receives is a [`CloudEvent`] (CloudEvents 1.0, structured
//! JSON), signed with the webhook's secret ([`signing`]) and sent by the
//! [`Deliverer`]. Nothing here knows when or how often to send: the
//! registry's sender does, over the index's durable outbox.

mod cloud_event;
mod delivery;
mod file;
mod model;
pub mod signing;

pub use cloud_event::{CLOUDEVENTS_CONTENT_TYPE, CloudEvent, EventData, PackageData};
pub use delivery::{Attempt, Deliverer};
pub use file::WebhookFile;
pub use model::{EventKind, Webhook, generate_secret, parse_events, validate_name};

use std::path::PathBuf;

/// Why a webhook could not be read, changed or stored.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The name is not one a webhook may have.
    #[error(
        "invalid webhook name {0:?}: use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
    )]
    Name(String),
    /// The URL is not an absolute http or https URL.
    #[error("invalid webhook URL {0:?}: give an absolute http:// or https:// URL")]
    Url(String),
    /// An event name is not one this registry emits.
    #[error(
        "unknown event {0:?}: use push, pull, delete, publish, signature, quota, gc, all, or a full type such as io.sentinel.manifest.pushed"
    )]
    Event(String),
    /// No event was named.
    #[error("a webhook needs at least one event")]
    NoEvents,
    /// The repository pattern is malformed.
    #[error(transparent)]
    Pattern(#[from] sentinel_trust::PatternError),
    /// A webhook of that name exists already.
    #[error("a webhook named {0} exists already")]
    Exists(String),
    /// No webhook has this name.
    #[error("no webhook named {0}")]
    Unknown(String),
    /// The HTTP client could not be set up.
    #[error("cannot set up the webhook HTTP client")]
    Client(#[source] reqwest::Error),
    /// No secret could be generated.
    #[error("cannot generate a webhook secret: {0}")]
    Random(String),
    /// The webhooks file could not be read or written.
    #[error("cannot use the webhooks file {path}")]
    Store {
        /// The file (or its lock or directory).
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The webhooks file is not one this build reads.
    #[error("corrupt webhooks file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}
