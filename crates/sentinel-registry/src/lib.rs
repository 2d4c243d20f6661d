//! The Sentinel registry server: the OCI Distribution Spec v1.1 over HTTP.
//!
//! [`Server::bind`] opens the metadata index and blob store named by
//! [`Settings`] and binds the listener; [`Server::run`] serves until a
//! shutdown signal, then lets in-flight requests finish. Requests flow one way:
//! `connections` (sockets) -> `middleware` -> `api` (one module per HTTP API,
//! with `auth` to tell who is calling and what they may do) ->
//! [`service::Registry`] (the domain) -> `sentinel-index` and
//! `sentinel-storage`.

mod api;
mod auth;
mod connections;
mod error;
mod fsck;
mod middleware;
mod server;
pub mod service;
mod settings;

pub use auth::{AuthSetupError, BOOTSTRAP_ADMIN, generate_password};
pub use fsck::FsckReport;
pub(crate) use server::ReleaseGuard;
pub use server::{ORPHANED_UPLOAD_GRACE, Server, StartError, UPLOAD_EXPIRY};
pub use settings::{LogFormat, PartialSettings, Settings, SettingsError};

/// Why `fsck` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// The data could not be opened (a running server holds the index, for one).
    #[error(transparent)]
    Open(#[from] StartError),
    /// Reading the index or storage failed midway.
    #[error("the check could not finish")]
    Check(#[source] service::RegistryError),
}

/// Checks every blob, manifest, tag and upload session in the data named by
/// `settings`. The server must be stopped: a running server holds the index.
pub async fn fsck(settings: &Settings) -> Result<FsckReport, FsckError> {
    let (registry, _, _) = server::open(settings)?;
    fsck::check(&registry).await.map_err(FsckError::Check)
}
