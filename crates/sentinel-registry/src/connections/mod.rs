//! Accepting and serving connections: HTTP/1.1 and HTTP/2 (over TLS, or
//! h2c with prior knowledge), with bounds that keep slow and hostile clients
//! from holding the server for everyone else.
//!
//! - Open connections are capped overall, below the open-files limit: past
//!   the cap, new connections wait in the listen queue. They are also capped
//!   per client address: past that cap, a new connection is closed at once.
//! - A new connection must complete its TLS handshake and its first request's
//!   headers within the header timeout; a connection that starts sending a
//!   request must complete its headers within it too.
//! - A connection with no request in progress is closed after the keep-alive
//!   timeout.
//! - Every request body must keep arriving: no more than the body timeout
//!   between two pieces of it (the request then fails with 408). A response
//!   the client stops reading for as long closes the connection.
//! - Accept errors (out of descriptors, say) back off instead of spinning.

mod per_address;
#[cfg(test)]
mod tests;
mod watchdog;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

use per_address::AddressCounts;
pub(crate) use per_address::client_key;
use watchdog::{Clock, ConnectionState, TrackedBody, Watched};

/// The bounds and timeouts applied to every connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionLimits {
    /// Time for a TLS handshake and a request's line and headers.
    pub header_timeout: Duration,
    /// Time a connection with no request in progress stays open.
    pub keep_alive_timeout: Duration,
    /// Longest pause inside a request body, or in reading a response.
    pub body_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections at most from one client address (0: no limit).
    pub max_per_address: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub http2_max_streams: u32,
}

/// How long requests in progress may take to finish after the shutdown
/// signal; connections still open then are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long an idle connection told to close (an HTTP/2 GOAWAY) may take.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Where the server is in its life, as connection tasks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Serving.
    Running,
    /// Finishing the requests in progress, taking no new ones.
    Draining,
    /// Past the grace period: close at once.
    Closing,
}

/// The first pause after an accept error; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// The longest pause after repeated accept errors.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Raises the soft limit on open files to the hard limit and returns the
/// limit now in force (`None` where it cannot be read).
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// The connection cap used when none is configured: half the open-files
/// limit, so that every connection can also have a file open (a blob being
/// read or an upload being written), and never fewer than 64.
pub(crate) fn default_max_connections(open_files: Option<u64>) -> usize {
    let limit = open_files.unwrap_or(1024).min(1 << 20);
    usize::try_from(limit / 2).unwrap_or(usize::MAX).max(64)
}

/// Is `error` about one connection (it went away before it was accepted)
/// rather than the listener?
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What every connection task shares.
struct Shared {
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    builder: auto::Builder<TokioExecutor>,
    clock: Clock,
    /// How often a connection's watchdog looks at it.
    tick: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// requests in progress finish (idle connections close at once).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(limits.http2_max_streams);
    let tick = [
        limits.header_timeout,
        limits.keep_alive_timeout,
        limits.body_timeout,
    ]
    .into_iter()
    .min()
    .unwrap_or(MAX_BACKOFF)
    .div_f64(4.0)
    .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let addresses = Arc::new(AddressCounts {
        max: limits.max_per_address,
        counts: Mutex::new(HashMap::new()),
    });
    let shared = Arc::new(Shared {
        app,
        tls,
        limits,
        builder,
        clock: Clock(Instant::now()),
        tick,
    });
    let tracker = TaskTracker::new();
    let (stop, stopped) = watch::channel(Phase::Running);
    tokio::pin!(shutdown);
    let mut backoff = MIN_BACKOFF;
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = MIN_BACKOFF;
                pair
            }
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis(), "cannot accept a connection");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let Some(address_slot) = addresses.take(peer.ip()) else {
            tracing::debug!(client = %peer.ip(), "too many connections from this address: closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let stopped = stopped.clone();
        tracker.spawn(async move {
            shared.serve_connection(stream, peer, stopped).await;
            drop(address_slot);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(Phase::Draining);
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in progress {} s after the shutdown signal: closing their connections",
            SHUTDOWN_GRACE.as_secs()
        );
        let _ = stop.send(Phase::Closing);
        tracker.wait().await;
    }
    Ok(())
}

impl Shared {
    async fn serve_connection(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        mut stopped: watch::Receiver<Phase>,
    ) {
        let state = Arc::new(ConnectionState::new(self.clock));
        let socket = Watched {
            inner: stream,
            state: Arc::clone(&state),
        };
        match &self.tls {
            None => self.serve_http(socket, peer, state, stopped).await,
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.limits.header_timeout, acceptor.accept(socket));
                let stream = tokio::select! {
                    handshake = handshake => match handshake {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(client = %peer.ip(), %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(client = %peer.ip(), "TLS handshake timed out");
                            return;
                        }
                    },
                    _ = stopped.changed() => return,
                };
                self.serve_http(stream, peer, state, stopped).await;
            }
        }
    }

    async fn serve_http<I>(
        self: &Arc<Self>,
        io: I,
        peer: SocketAddr,
        state: Arc<ConnectionState>,
        mut stopped: watch::Receiver<Phase>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let body_timeout = self.limits.body_timeout;
        let app = self.app.clone();
        let requests = Arc::clone(&state);
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let active = requests.begin_request();
            if request.version() == hyper::Version::HTTP_2 {
                requests.http2.store(true, Ordering::Relaxed);
            }
            let mut request = request.map(|body| TimeoutBody::new(body_timeout, body));
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Body::new(TrackedBody::new(body, active))),
                )
            }
        });
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let watchdog = async {
            loop {
                tokio::time::sleep(self.tick).await;
                if let Some(reason) = state.overdue(&self.limits) {
                    return reason;
                }
            }
        };
        tokio::pin!(watchdog);
        let mut draining = false;
        loop {
            let phase = *stopped.borrow_and_update();
            if phase == Phase::Closing {
                return;
            }
            if phase == Phase::Draining && !draining {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(client = %peer.ip(), %error, "connection ended with an error");
                    }
                    return;
                }
                reason = &mut watchdog => {
                    tracing::debug!(client = %peer.ip(), reason, "connection closed");
                    if state.is_idle() {
                        // Nothing in progress: say goodbye (an HTTP/2
                        // GOAWAY) before the socket goes.
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(CLOSE_GRACE, connection.as_mut()).await;
                    }
                    return;
                }
                changed = stopped.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
