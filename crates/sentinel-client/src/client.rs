//! The client: one registry, one HTTP connection pool, one token cache, shared by clones.

use std::sync::Arc;
use std::time::Duration;

use sentinel_credentials::Credential;
use url::Url;

use crate::auth::Authenticator;
use crate::error::ClientError;
use crate::location::RegistryLocation;
use crate::reference::parse_repository;
use crate::retry::RetryPolicy;

/// The default size of one `PATCH` of a chunked upload.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 * 1024 * 1024;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a transfer may go without a byte moving before it is abandoned (and resumed).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often an idle connection is probed, so that a vanished peer is noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// How a [`RegistryClient`] talks to its registry.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The credential to authenticate with; `None` for anonymous access.
    pub credential: Option<Credential>,
    /// Use plain HTTP even for a non-loopback host without an explicit scheme.
    pub insecure: bool,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// How failed idempotent requests are retried.
    pub retry: RetryPolicy,
    /// The size of each `PATCH` of a chunked upload; blobs up to this size go in one `PUT`.
    pub chunk_size: u64,
    /// How long a request may go without a byte moving (sent or received, or
    /// an answer awaited) before it is abandoned and retried or resumed.
    /// There is no limit on a whole transfer.
    pub idle_timeout: Duration,
    /// How many entries to ask for in each page of a listing (the `n` of
    /// `tags/list` and `_catalog`); `None` lets the registry choose. Pages
    /// are followed either way.
    pub page_size: Option<u32>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credential: None,
            insecure: false,
            user_agent: concat!("sentinel-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            page_size: None,
        }
    }
}

/// A client of one OCI registry. Cheap to clone; clones share connections and tokens,
/// so several transfers can run at once from one client.
#[derive(Clone)]
pub struct RegistryClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The registry's name, as errors show it.
    pub registry: String,
    /// `scheme://api-host/`.
    pub base: Url,
    pub http: reqwest::Client,
    pub auth: Authenticator,
    pub retry: RetryPolicy,
    pub chunk_size: u64,
    pub idle_timeout: Duration,
    pub page_size: Option<u32>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.inner.registry)
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `registry`, reached over HTTPS unless the location, a
    /// loopback host or `options.insecure` says plain HTTP.
    pub fn new(registry: &RegistryLocation, options: ClientOptions) -> Result<Self, ClientError> {
        if options.chunk_size == 0 {
            return Err(ClientError::InvalidOptions(
                "the chunk size must be at least one byte".into(),
            ));
        }
        if options.page_size == Some(0) {
            return Err(ClientError::InvalidOptions(
                "a listing page must hold at least one entry".into(),
            ));
        }
        if options.idle_timeout.is_zero() {
            return Err(ClientError::InvalidOptions(
                "the idle timeout must be longer than zero".into(),
            ));
        }
        let scheme = registry.scheme(options.insecure);
        let base = Url::parse(&format!("{scheme}://{}/", registry.api_host())).map_err(|_| {
            ClientError::InvalidOptions(format!(
                "{} is not a usable registry address",
                registry.host()
            ))
        })?;
        let http = reqwest::Client::builder()
            .user_agent(options.user_agent.as_str())
            .connect_timeout(CONNECT_TIMEOUT)
            // Not reqwest's read_timeout: it also bounds the wait for an answer
            // from the request's start, which a slow upload of one chunk exceeds.
            .tcp_keepalive(TCP_KEEPALIVE)
            // The negotiated TLS version and the server's certificate, for `agent registry ping`.
            .tls_info(true)
            .build()
            .map_err(|_| {
                ClientError::InvalidOptions(
                    "the HTTP client cannot be built with these options".into(),
                )
            })?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                registry: registry.host().to_owned(),
                base,
                http,
                auth: Authenticator::new(options.credential),
                retry: options.retry,
                chunk_size: options.chunk_size,
                idle_timeout: options.idle_timeout,
                page_size: options.page_size,
            }),
        })
    }

    /// The registry's name (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.inner.registry
    }

    /// The credential this client authenticates with, if any.
    pub fn credential(&self) -> Option<&Credential> {
        self.inner.auth.credential()
    }

    /// Whether requests to this registry go over TLS (HTTPS).
    pub fn uses_tls(&self) -> bool {
        self.inner.base.scheme() == "https"
    }

    /// `/v2/<repository>/<rest>` on this registry, after checking the repository name.
    pub(crate) fn repository_url(&self, repository: &str, rest: &str) -> Result<Url, ClientError> {
        let repository = parse_repository(repository)?;
        self.url(&format!("v2/{repository}/{rest}"))
    }

    /// `path` (relative, without a leading `/`) on this registry.
    pub(crate) fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.inner.base.join(path).map_err(|_| {
            ClientError::protocol(
                &self.inner.registry,
                format!("cannot build a URL for {path}"),
            )
        })
    }
}
