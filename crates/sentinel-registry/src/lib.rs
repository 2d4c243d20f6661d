//! The Sentinel registry server: the OCI Distribution Spec v1.1 over HTTP.
//!
//! [`Server::bind`] opens the metadata index and blob store named by
//! [`Settings`] and binds the listener; [`Server::run`] serves until a
//! shutdown signal, then lets in-flight requests finish. Requests flow one way:
//! `connections` (sockets) -> `middleware` -> `api` (one module per HTTP API,
//! with `auth` to tell who is calling and what they may do) ->
//! [`service::Registry`] (the domain) -> `sentinel-index`,
//! `sentinel-catalogue` and `sentinel-storage`. Beside the requests,
//! `webhook_sender` delivers the events the registry records for webhooks.

pub mod admin;
mod api;
mod auth;
mod clock;
mod connections;
mod describe;
mod event_log;
mod fsck;
mod gc;
mod host;
mod metrics;
mod middleware;
mod reindex;
mod server;
mod service;
mod settings;
mod webhook_sender;

pub use auth::{AuthSetupError, BOOTSTRAP_ADMIN, generate_password};
pub use event_log::{EventLog, MAX_EVENT_BYTES};
pub use fsck::{FsckError, FsckReport, fsck};
pub use gc::{OfflineGcError, offline as collect_garbage_offline};
pub use reindex::{ReindexError, reindex};
pub use server::{ORPHANED_UPLOAD_GRACE, Server, StartError, UPLOAD_EXPIRY};
pub use service::{GcReport, ImmutableTag, RegistryError, Reindexed, SignatureEntry};
pub use settings::{
    ConfiguredPolicy, DiskFloor, InvalidDiskFloor, InvalidPeriod, LogFormat, PartialSettings,
    Period, Settings, SettingsError,
};

use describe::describe;
