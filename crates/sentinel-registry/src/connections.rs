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

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

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

/// The key a client address is counted under: an IPv6 client usually has a
/// whole /64 to pick addresses from, so it counts as one; an IPv4 address
/// mapped into IPv6 counts as itself.
pub(crate) fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
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

/// Milliseconds since the server started; 0 is kept for "never".
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What the watchdog of one connection reads: updated by the connection's
/// I/O and by the requests it carries.
struct ConnectionState {
    clock: Clock,
    /// Requests whose response has not been sent in full.
    in_flight: AtomicUsize,
    /// Whether the connection has carried a request.
    served: AtomicBool,
    /// When the last request ended (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte arrived while no request was in progress (0: none).
    first_byte: AtomicU64,
    /// Since when a write has been waiting for the client to read (0: none).
    write_blocked: AtomicU64,
    /// Responses whose body has not been sent in full.
    responding: AtomicUsize,
    /// When a response body last produced data (or started).
    response_progress: AtomicU64,
    /// Whether the connection speaks HTTP/2 (known from its first request).
    http2: AtomicBool,
}

impl ConnectionState {
    fn new(clock: Clock) -> Self {
        ConnectionState {
            clock,
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(clock.now()),
            first_byte: AtomicU64::new(0),
            write_blocked: AtomicU64::new(0),
            responding: AtomicUsize::new(0),
            response_progress: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        }
    }

    fn begin_request(self: &Arc<Self>) -> ActiveRequest {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::Relaxed);
        self.first_byte.store(0, Ordering::Relaxed);
        ActiveRequest(Arc::clone(self))
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.first_byte.load(Ordering::Relaxed) == 0
        {
            self.first_byte.store(self.clock.now(), Ordering::Relaxed);
        }
    }

    fn write_pending(&self, pending: bool) {
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        if pending && blocked == 0 {
            self.write_blocked
                .store(self.clock.now(), Ordering::Relaxed);
        } else if !pending && blocked != 0 {
            self.write_blocked.store(0, Ordering::Relaxed);
        }
    }

    /// Bytes went out: the tail of a response the client is reading keeps
    /// the connection from counting as idle.
    fn bytes_written(&self) {
        self.idle_since.store(self.clock.now(), Ordering::SeqCst);
        if self.first_byte.load(Ordering::Relaxed) != 0 {
            self.first_byte.store(0, Ordering::Relaxed);
        }
    }

    /// A response body starts, or produced data.
    fn response_progressed(&self) {
        self.response_progress
            .store(self.clock.now(), Ordering::Relaxed);
    }

    /// Why the connection must be closed now, if it must.
    fn overdue(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        let now = self.clock.now();
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            // HTTP/2 peers send frames (pings, window updates) between
            // requests; only HTTP/1.1 bytes start a request.
            let first = self.first_byte.load(Ordering::Relaxed);
            if first != 0
                && !self.http2.load(Ordering::Relaxed)
                && now.saturating_sub(first) > millis(limits.header_timeout)
            {
                return Some("the request headers did not arrive in time");
            }
            let (limit, reason) = if self.served.load(Ordering::Relaxed) {
                (
                    limits.keep_alive_timeout,
                    "idle past the keep-alive timeout",
                )
            } else {
                (limits.header_timeout, "no request arrived in time")
            };
            if now.saturating_sub(self.idle_since.load(Ordering::SeqCst)) > millis(limit) {
                return Some(reason);
            }
        }
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        if blocked != 0 && now.saturating_sub(blocked) > millis(limits.body_timeout) {
            return Some("the client stopped reading the response");
        }
        // A response body not asked for data that long: over HTTP/2, a
        // client that gives no flow-control window never blocks a write.
        if self.responding.load(Ordering::SeqCst) > 0
            && now.saturating_sub(self.response_progress.load(Ordering::Relaxed))
                > millis(limits.body_timeout)
        {
            return Some("the client took no more of the response");
        }
        None
    }

    /// Whether the reason from [`ConnectionState::overdue`] is idleness (no
    /// request in progress), so the connection can be closed politely.
    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }
}

/// A request in progress on a connection; dropped with its response body,
/// once the response has been sent (or abandoned).
struct ActiveRequest(Arc<ConnectionState>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        let state = &self.0;
        state.idle_since.store(state.clock.now(), Ordering::SeqCst);
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that holds its request's [`ActiveRequest`] and reports
/// its progress.
struct TrackedBody {
    body: Body,
    active: ActiveRequest,
}

impl TrackedBody {
    fn new(body: Body, active: ActiveRequest) -> Self {
        active.0.responding.fetch_add(1, Ordering::SeqCst);
        active.0.response_progressed();
        TrackedBody { body, active }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.active.0.responding.fetch_sub(1, Ordering::SeqCst);
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if polled.is_ready() {
            this.active.0.response_progressed();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A socket that reports its reads and blocked writes to its connection's
/// state.
struct Watched<T> {
    inner: T,
    state: Arc<ConnectionState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.state.write_pending(polled.is_pending());
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.state.bytes_written();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.state.write_pending(polled.is_pending());
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.state.bytes_written();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.state.write_pending(polled.is_pending());
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Open connections per client address.
struct AddressCounts {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection counted against its address; dropped when it closes.
struct AddressSlot {
    counts: Arc<AddressCounts>,
    key: IpAddr,
}

impl AddressCounts {
    fn take(self: &Arc<Self>, address: IpAddr) -> Option<AddressSlot> {
        if self.max == 0 {
            return Some(AddressSlot {
                counts: Arc::clone(self),
                key: address,
            });
        }
        let key = client_key(address);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: Arc::clone(self),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if self.counts.max == 0 {
            return;
        }
        let mut counts = self.counts.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_itself() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn connections_per_address_are_capped_and_given_back() {
        let counts = Arc::new(AddressCounts {
            max: 2,
            counts: Mutex::new(HashMap::new()),
        });
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let there: IpAddr = "192.0.2.2".parse().unwrap();
        let first = counts.take(here).unwrap();
        let _second = counts.take(here).unwrap();
        assert!(counts.take(here).is_none());
        assert!(counts.take(there).is_some());
        drop(first);
        assert!(counts.take(here).is_some());
        drop(counts.take(there));
        let left = counts.counts.lock().unwrap().len();
        assert_eq!(left, 1, "an address with no connection is forgotten");
    }

    #[test]
    fn the_default_cap_leaves_a_file_per_connection() {
        assert_eq!(default_max_connections(Some(1024)), 512);
        assert_eq!(default_max_connections(Some(10)), 64);
        assert_eq!(default_max_connections(None), 512);
    }

    #[test]
    fn idle_and_stalled_connections_become_overdue() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(30),
            keep_alive_timeout: Duration::from_millis(60),
            body_timeout: Duration::from_millis(30),
            max_connections: 1,
            max_per_address: 0,
            http2_max_streams: 1,
        };
        let state = Arc::new(ConnectionState::new(Clock(Instant::now())));
        assert_eq!(state.overdue(&limits), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(state.overdue(&limits), Some("no request arrived in time"));

        let active = state.begin_request();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(state.overdue(&limits), None, "a request is in progress");
        state.write_pending(true);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            state.overdue(&limits),
            Some("the client stopped reading the response")
        );
        state.write_pending(false);
        drop(active);
        assert_eq!(state.overdue(&limits), None, "idle for a moment only");
        state.bytes_read();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            state.overdue(&limits),
            Some("the request headers did not arrive in time")
        );
    }
}
