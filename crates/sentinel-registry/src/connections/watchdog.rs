//! What a connection's watchdog reads: the connection's I/O and the
//! requests it carries report their progress to one shared state.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::ConnectionLimits;

/// Milliseconds since the server started; 0 is kept for "never".
#[derive(Clone, Copy)]
pub(super) struct Clock(pub(super) Instant);

impl Clock {
    pub(super) fn now(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }
}

pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What the watchdog of one connection reads: updated by the connection's
/// I/O and by the requests it carries.
pub(super) struct ConnectionState {
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
    pub(super) http2: AtomicBool,
}

impl ConnectionState {
    pub(super) fn new(clock: Clock) -> Self {
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

    pub(super) fn begin_request(self: &Arc<Self>) -> ActiveRequest {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::Relaxed);
        self.first_byte.store(0, Ordering::Relaxed);
        ActiveRequest(Arc::clone(self))
    }

    pub(super) fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.first_byte.load(Ordering::Relaxed) == 0
        {
            self.first_byte.store(self.clock.now(), Ordering::Relaxed);
        }
    }

    pub(super) fn write_pending(&self, pending: bool) {
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
    pub(super) fn bytes_written(&self) {
        self.idle_since.store(self.clock.now(), Ordering::SeqCst);
        if self.first_byte.load(Ordering::Relaxed) != 0 {
            self.first_byte.store(0, Ordering::Relaxed);
        }
    }

    /// A response body starts, or produced data.
    pub(super) fn response_progressed(&self) {
        self.response_progress
            .store(self.clock.now(), Ordering::Relaxed);
    }

    /// Why the connection must be closed now, if it must.
    pub(super) fn overdue(&self, limits: &ConnectionLimits) -> Option<&'static str> {
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
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }
}

/// A request in progress on a connection; dropped with its response body,
/// once the response has been sent (or abandoned).
pub(super) struct ActiveRequest(Arc<ConnectionState>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        let state = &self.0;
        state.idle_since.store(state.clock.now(), Ordering::SeqCst);
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that holds its request's [`ActiveRequest`] and reports
/// its progress.
pub(super) struct TrackedBody {
    body: Body,
    active: ActiveRequest,
}

impl TrackedBody {
    pub(super) fn new(body: Body, active: ActiveRequest) -> Self {
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
pub(super) struct Watched<T> {
    pub(super) inner: T,
    pub(super) state: Arc<ConnectionState>,
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
