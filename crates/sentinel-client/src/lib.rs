//! An OCI Distribution client for any registry: Sentinel, Docker Hub, ECR,
//! GCR/Artifact Registry, GHCR, Harbor, CNCF Distribution.
//!
//! - [`ResolvedReference`] and [`RegistryLocation`] parse what users type,
//!   normalised as docker does (`alpine` is `docker.io/library/alpine:latest`).
//! - [`RegistryClient`] speaks to one registry: anonymous first, then the
//!   `Basic` or Docker token flow its `WWW-Authenticate` challenge names,
//!   with tokens cached per scope set (one token for both sides of a
//!   cross-repository mount).
//! - Blobs stream from and to files; chunked uploads resume from the
//!   registry's offset, downloads resume with `Range`, and everything is
//!   verified against its digest. Idempotent requests are retried with
//!   backoff, honouring `Retry-After`.
//!
//! - Referrers: listed through the referrers API or the referrers tag
//!   schema, and pushed so that any registry lists them
//!   ([`RegistryClient::push_referrer`] keeps the tag schema itself where
//!   the registry does not).
//! - Sentinel's own APIs where a registry has them: the versions of a
//!   package (`/v1/packages/`) and a repository's visibility (`/api/v1/`).
//! - What an operator asks: what `/v2/` answers anonymously (API version,
//!   challenges, round trip, TLS), Sentinel's health, readiness, metrics,
//!   logs and audit trail, and the actions a token service grants.
//!
//! The client never prints: progress goes through [`TransferProgress`], and
//! errors are [`ClientError`]s whose text can be shown as-is and never holds a secret.

mod auth;
mod challenge;
mod client;
mod diagnostics;
mod error;
mod listings;
mod location;
mod login;
mod management;
mod manifests;
mod packages;
mod progress;
mod pull;
mod push;
mod redact;
mod reference;
mod referrer_push;
mod response;
mod retry;
mod scope;
mod sink;
mod token;
mod transport;
mod upload;
mod webhooks;

pub use client::{ClientOptions, DEFAULT_CHUNK_SIZE, DEFAULT_IDLE_TIMEOUT, RegistryClient};
pub use diagnostics::{
    AuthChallenge, BaseProbe, EventQuery, EventStream, GrantedAccess, Liveness, LogEvent,
    Readiness, ReadinessCheck, SentinelEndpoint, TlsDetails,
};
pub use error::{ClientError, ErrorKind};
pub use location::{RegistryLocation, Scheme};
pub use login::LoginOutcome;
pub use management::{
    Access, ManagementApi, RateLimit, RateLimitChange, RateLimitScope, RateLimits,
    RepositorySettings, Visibility,
};
pub use manifests::{FetchedManifest, ManifestHead, StoredManifest};
pub use packages::{
    PackageHit, PackageVersion, PackageVersions, SearchQuery, SearchResults, VersionsQuery,
};
pub use progress::{NoProgress, TransferProgress};
pub use push::BlobPush;
pub use reference::{DEFAULT_TAG, ResolvedReference};
pub use referrer_push::{PushedReferrer, ReferrerIndexing};
/// The HTTP method of a [`RegistryClient::management_call`].
pub use reqwest::Method;
pub use retry::RetryPolicy;
pub use sentinel_credentials::Credential;
pub use sentinel_oci::ImageReferenceError;
pub use webhooks::{NewWebhook, WebhookDelivery, WebhookInfo};
