//! The proxy listener: accept loop, connection limit, TLS handshake, protocol choice (ALPN or
//! the HTTP/2 preface) and each connection's part in a graceful drain.

use crate::config;
use crate::net::client::{ClientConnection, Handler};
use crate::net::connections::{Activity, ConnectionTracker, Entry, Phase};
use crate::net::linger::{LINGER_TIME, Lingering};
use crate::net::metrics::ConnectionMetrics;
use crate::net::park::{KeepOpen, ReadReady};
use crate::net::read_ahead::ReadAhead;
use crate::net::tls::ALPN_H2;
use crate::net::wire::{WireHeads, WireWatch};
use bytes::BytesMut;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::{HttpService, Service, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// HTTP/2 streams a client may reset before we answer: bounds "rapid reset" (CVE-2023-44487).
const MAX_PENDING_RESET_STREAMS: usize = 20;
/// Protocol errors we provoke in a client's streams before dropping the connection.
const MAX_LOCAL_ERROR_RESETS: usize = 256;
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// At the listener's stop, how long an HTTP/1 connection accepted moments before may take to
/// send its first request (answered with `Connection: close`) before it is closed.
const FIRST_REQUEST_WINDOW: Duration = Duration::from_secs(1);
/// How long a connection may stay idle after its graceful shutdown began before it is
/// dropped: enough for an HTTP/2 GOAWAY and PING round trip; it has nothing in flight.
const CLOSE_IDLE_AFTER: Duration = Duration::from_secs(1);
/// How long an HTTP/1 connection must be idle before it is parked (see `park`). Parking and
/// waking cost ~5 µs (a new hyper connection and its buffers), so a sender that keeps its
/// connection busy (a delivery every few ms under load) never pays it; one idle longer
/// holds no HTTP buffers.
const PARK_AFTER: Duration = Duration::from_millis(10);
/// The HTTP/2 connection preface; "PRI" is enough to tell it from an HTTP/1 request line.
const H2_PREFACE_START: &[u8] = b"PRI";

/// What every connection of the proxy listener shares.
pub(crate) struct ConnectionContext<H> {
    pub(crate) handler: Arc<H>,
    pub(crate) metrics: ConnectionMetrics,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) server: config::Server,
    pub(crate) phase: watch::Receiver<Phase>,
    pub(crate) connections: Arc<ConnectionTracker>,
    pub(crate) workers: Workers,
}

/// The runtimes that serve connections (one per thread), and how many each holds.
///
/// Whichever worker wakes first accepts; the connection then goes to the worker holding the
/// fewest. Keep-alive connections stay where they land, so without this a burst of them can
/// pile onto one thread while another idles.
pub(crate) struct Workers {
    slots: Vec<WorkerSlot>,
}

struct WorkerSlot {
    handle: tokio::runtime::Handle,
    open: std::sync::atomic::AtomicUsize,
}

impl Workers {
    pub(crate) fn new(handles: Vec<tokio::runtime::Handle>) -> Workers {
        Workers {
            slots: handles
                .into_iter()
                .map(|handle| WorkerSlot {
                    handle,
                    open: std::sync::atomic::AtomicUsize::new(0),
                })
                .collect(),
        }
    }

    /// The worker with the fewest connections; `me` on a tie.
    fn least_loaded(&self, me: usize) -> usize {
        let load = |index: usize| {
            self.slots[index]
                .open
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        (0..self.slots.len()).fold(me, |best, index| {
            if load(index) < load(best) {
                index
            } else {
                best
            }
        })
    }
}

/// Accepts (as worker `me`) until the drain reaches [`Phase::Closing`].
pub(crate) async fn accept_loop<H: Handler>(
    listener: TcpListener,
    context: Arc<ConnectionContext<H>>,
    me: usize,
) {
    let mut phase = context.phase.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = reached(&mut phase, Phase::Closing) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let max_connections = context.handler.limits().max_connections;
        let guard = match context.connections.admit(max_connections) {
            Entry::Accepted(guard) => guard,
            Entry::AcceptedByEvicting(guard) => {
                context.metrics.evicted.inc();
                guard
            }
            Entry::Refused => {
                context.metrics.rejected_at_limit();
                tracing::warn!(%peer, max_connections, "connection refused: limits.max_connections reached and none is idle");
                drop(stream);
                continue;
            }
        };
        context.metrics.accepted.inc();
        let worker = context.workers.least_loaded(me);
        let stream = if worker == me {
            Accepted::Here(stream)
        } else {
            match stream.into_std() {
                Ok(stream) => Accepted::Moved(stream),
                Err(err) => {
                    tracing::warn!(%peer, error = %err, "could not move a connection to its worker");
                    continue;
                }
            }
        };
        let slot = &context.workers.slots[worker];
        slot.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let context = Arc::clone(&context);
        let serve = async move {
            let activity = Arc::clone(&guard.activity);
            serve_connection(stream, peer, &context, &activity).await;
            context.workers.slots[worker]
                .open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(guard);
        };
        if worker == me {
            tokio::spawn(serve);
        } else {
            slot.handle.spawn(serve);
        }
    }
}

/// A connection accepted on one worker's reactor, to be served on any worker's.
enum Accepted {
    Here(TcpStream),
    Moved(std::net::TcpStream),
}

async fn serve_connection<H: Handler>(
    stream: Accepted,
    peer: SocketAddr,
    context: &ConnectionContext<H>,
    activity: &Arc<Activity>,
) {
    let stream = match stream {
        Accepted::Here(stream) => stream,
        // Registered with this worker's reactor, now that it runs here.
        Accepted::Moved(stream) => match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(%peer, error = %err, "could not move a connection to its worker");
                return;
            }
        },
    };
    let _ = stream.set_nodelay(true);
    // A connection that has not finished its handshake (or sent its first bytes) when the
    // listener stops is abandoned: it has nothing in flight, and waiting for it would hold
    // the drain open for up to the handshake timeout.
    let mut phase = context.phase.clone();
    match &context.tls {
        Some(acceptor) => {
            // Boxed: its state (rustls's mid-handshake connection among it) is over once
            // the handshake completes, and the task's own size is what an idle connection
            // keeps for as long as it is open.
            let handshake = Box::pin(tls_handshake(acceptor, stream, peer, context, activity));
            if let Some(tls) = handshake.await {
                let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
                serve_http(tls, peer, h2, context, activity).await;
            }
        }
        None => {
            // The bytes read to tell HTTP/2 from HTTP/1 are handed to hyper first.
            let mut stream = stream;
            let mut seen = BytesMut::with_capacity(H2_PREFACE_START.len());
            let stopped = async {
                reached(&mut phase, Phase::Closing).await;
                tokio::time::sleep(FIRST_REQUEST_WINDOW).await;
            };
            let sniffed = tokio::select! {
                sniffed = tokio::time::timeout(
                    context.server.header_read_timeout,
                    opens_with_h2_preface(&mut stream, &mut seen),
                ) => sniffed,
                _ = activity.evicted() => return,
                // Silent since the listener stopped: abandoned like a stalled handshake.
                _ = stopped => return,
            };
            match sniffed {
                Ok(Ok(h2)) => {
                    let io = ReadAhead::rewound(Lingering::new(stream), seen);
                    serve_http(io, peer, h2, context, activity).await
                }
                _ => tracing::debug!(%peer, "connection closed before a request"),
            }
        }
    }
}

/// The TLS stream hookwall serves over: rustls on the read-ahead, lingering socket.
type TlsConnection = tokio_rustls::server::TlsStream<ReadAhead<Lingering<TcpStream>>>;

/// Completes the TLS handshake, or gives up on it: timed out or failed (counted), evicted to
/// make room, or still in progress a moment after the listener stopped (so a stalled
/// handshake cannot hold the drain open for `tls_handshake_timeout`).
///
/// The stream comes back boxed, so handing it down the layers moves a pointer rather than
/// rustls's 1.2 KiB state into a slot of each layer's future.
async fn tls_handshake<H: Handler>(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    context: &ConnectionContext<H>,
    activity: &Activity,
) -> Option<Box<TlsConnection>> {
    let mut phase = context.phase.clone();
    let handshake = acceptor.accept(ReadAhead::new(Lingering::new(stream)));
    let mut handshake = std::pin::pin!(tokio::time::timeout(
        context.server.tls_handshake_timeout,
        handshake,
    ));
    let handshake = tokio::select! {
        handshake = &mut handshake => handshake,
        _ = activity.evicted() => return None,
        _ = reached(&mut phase, Phase::Closing) => {
            match tokio::time::timeout(FIRST_REQUEST_WINDOW, handshake).await {
                Ok(handshake) => handshake,
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake abandoned: the listener stopped");
                    return None;
                }
            }
        }
    };
    match handshake {
        Ok(Ok(tls)) => Some(Box::new(tls)),
        Ok(Err(err)) => {
            context.metrics.tls_handshake_failures.inc();
            tracing::debug!(%peer, error = %err, "TLS handshake failed");
            None
        }
        Err(_) => {
            context.metrics.tls_handshake_failures.inc();
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// For plain-text listeners: whether the client opens with the HTTP/2 preface (h2c with
/// prior knowledge, as meshes and some ingresses send) instead of an HTTP/1 request line.
/// Reads into `seen` only until that is clear; the caller hands those bytes on.
async fn opens_with_h2_preface(
    stream: &mut TcpStream,
    seen: &mut BytesMut,
) -> std::io::Result<bool> {
    loop {
        let compared = seen.len().min(H2_PREFACE_START.len());
        if seen[..compared] != H2_PREFACE_START[..compared] {
            return Ok(false);
        }
        if compared == H2_PREFACE_START.len() {
            return Ok(true);
        }
        if stream.read_buf(seen).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

async fn serve_http<I, H>(
    io: I,
    peer: SocketAddr,
    h2: bool,
    context: &ConnectionContext<H>,
    activity: &Arc<Activity>,
) where
    I: AsyncRead + AsyncWrite + ReadReady + Unpin + Send + 'static,
    H: Handler,
{
    let limits = context.handler.limits();
    let handler = Arc::clone(&context.handler);
    let client = Arc::new(ClientConnection::new(peer));
    // HTTP/1 only: what each request head looked like on the wire (see `wire`).
    let heads = WireHeads::new(limits.max_header_bytes, limits.max_headers);
    let requests_activity = Arc::clone(activity);
    let request_heads = Arc::clone(&heads);
    let service = service_fn(move |mut request: Request<Incoming>| {
        let handler = Arc::clone(&handler);
        let busy = requests_activity.busy();
        request.extensions_mut().insert(Arc::clone(&client));
        if !h2 {
            request.extensions_mut().insert(request_heads.next_head());
        }
        async move {
            let response = handler.handle(request).await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    if h2 {
        // Boxed, so an idle HTTP/1 connection's task has no room reserved for HTTP/2's state.
        Box::pin(async move {
            // hyper runs each HTTP/2 stream as its own task. Boxing the request's future
            // (4.6 KiB) lets hyper move a pointer into that task instead of the whole future
            // (`ab.sh --mode h2`, two runs: 3–9 % less CPU per request). HTTP/1 keeps one
            // future slot per connection, so it gains nothing from the extra allocation.
            let service = service_fn(move |request| Box::pin(service.call(request)));
            let mut builder = http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .max_concurrent_streams(limits.max_h2_streams)
                .max_header_list_size(limits.max_header_bytes as u32)
                .max_pending_accept_reset_streams(MAX_PENDING_RESET_STREAMS)
                .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESETS);
            // GOAWAY as soon as the drain starts: senders open new streams elsewhere while
            // the streams already sent here finish.
            let connection = std::pin::pin!(builder.serve_connection(TokioIo::new(io), service));
            drive(
                connection,
                context,
                activity,
                Phase::Draining,
                None::<fn() -> bool>,
            )
            .await;
        })
        .await;
    } else {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(context.server.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .max_headers(limits.max_headers)
            .preserve_header_case(true)
            .half_close(false)
            .keep_alive(true);
        // While draining, responses carry `Connection: close` (see `Proxy`); idle HTTP/1
        // connections are closed only when the listener stops, so a request already on its
        // way over a pooled connection is never cut off.
        let io = WireWatch::new(io, Arc::clone(&heads));
        serve_http1(io, &builder, service, &heads, context, activity).await;
    }
}

/// Serves HTTP/1 requests on one connection, parking it whenever it is idle at a request
/// boundary (see `park`): hyper's buffers and state exist only while a request is on its way.
async fn serve_http1<I, S, H>(
    mut io: WireWatch<I>,
    builder: &http1::Builder,
    mut service: S,
    heads: &WireHeads,
    context: &ConnectionContext<H>,
    activity: &Arc<Activity>,
) where
    I: AsyncRead + AsyncWrite + ReadReady + Unpin + Send + 'static,
    S: HttpService<Incoming, Error = Infallible> + Unpin,
    S::ResBody: 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: Handler,
{
    loop {
        // Boxed: a parked connection's task keeps none of hyper's state.
        let mut connection =
            Box::new(builder.serve_connection(TokioIo::new(KeepOpen::new(io)), service));
        let idle_at_boundary =
            || activity.has_served() && activity.is_idle() && heads.at_boundary();
        // Boxed for the same reason: a parked connection keeps no room for it.
        let driven = Box::pin(drive(
            Pin::new(&mut *connection),
            context,
            activity,
            Phase::Closing,
            Some(idle_at_boundary),
        ))
        .await;
        if matches!(driven, Driven::Abandoned | Driven::Failed) {
            return;
        }
        let parts = connection.into_parts();
        io = parts.io.into_inner().into_inner();
        service = parts.service;
        // hyper ended at a boundary we asked for, with nothing read ahead: park. Anything
        // else (the sender's `Connection: close`, a drain's, an unread body) closes.
        let clean = driven == Driven::Parked && parts.read_buf.is_empty() && heads.at_boundary();
        drop(parts.read_buf);
        let woken = if clean {
            parked(&io, context, activity).await
        } else {
            Woken::Close
        };
        match woken {
            Woken::Readable => {}
            Woken::Close => {
                // Bounded: a sender that stops reading cannot hold the close open.
                let _ = tokio::time::timeout(LINGER_TIME + CLOSE_IDLE_AFTER, io.shutdown()).await;
                return;
            }
            // Evicted to make room: gone at once, as an idle unparked connection would be.
            Woken::Drop => return,
        }
    }
}

/// How a parked connection's wait ended.
enum Woken {
    /// Bytes (or the sender's close) are waiting: serve them.
    Readable,
    /// Idle too long, or the listener stopped: close gracefully.
    Close,
    /// Evicted to make room for a new connection: drop it now.
    Drop,
}

/// Waits, holding no HTTP state, until the parked connection has bytes to read, or until it
/// should close: idle too long, evicted, or the listener stopped.
async fn parked<I, H>(io: &I, context: &ConnectionContext<H>, activity: &Activity) -> Woken
where
    I: ReadReady,
{
    let _counted = ParkedGauge::inc(&context.metrics.parked);
    let mut phase = context.phase.clone();
    // `header_read_timeout` has always been HTTP/1's keep-alive timeout too.
    let idle_limit = context
        .server
        .idle_timeout
        .min(context.server.header_read_timeout);
    tokio::select! {
        ready = std::future::poll_fn(|cx| io.poll_read_ready(cx)) => match ready {
            Ok(()) => Woken::Readable,
            Err(_) => Woken::Drop,
        },
        _ = activity.evicted() => Woken::Drop,
        _ = reached(&mut phase, Phase::Closing) => Woken::Close,
        _ = tokio::time::sleep(idle_limit.saturating_sub(activity.idle_for())) => {
            context.metrics.idle_closed.inc();
            Woken::Close
        }
    }
}

/// Counts a parked connection for as long as it stays parked, however its wait ends.
struct ParkedGauge<'a>(&'a prometheus::IntGauge);

impl<'a> ParkedGauge<'a> {
    fn inc(gauge: &'a prometheus::IntGauge) -> ParkedGauge<'a> {
        gauge.inc();
        ParkedGauge(gauge)
    }
}

impl Drop for ParkedGauge<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// How [`drive`] left a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driven {
    /// hyper finished the connection.
    Finished,
    /// hyper finished because it was asked to park (HTTP/1 only).
    Parked,
    /// Dropped at once: evicted while idle, or idle too long after its shutdown began.
    Abandoned,
    /// Ended with an error (counted and logged).
    Failed,
}

/// Runs a connection to its end, deciding when it should close:
///
/// - the drain reaches `shutdown_at`: graceful shutdown (finish what is in flight, GOAWAY on
///   HTTP/2). An HTTP/1 connection that has not sent its first request yet gets
///   [`FIRST_REQUEST_WINDOW`] to send it (it was accepted, so the sender is about to);
/// - evicted to make room: dropped at once if idle, else graceful;
/// - idle for `server.idle_timeout`: graceful.
///
/// A connection still idle [`CLOSE_IDLE_AFTER`] after its graceful shutdown began (say an
/// HTTP/2 client that never sent its preface, which hyper cannot shut down) is dropped.
///
/// With `park_when`, a connection idle for [`PARK_AFTER`] is checked with it (HTTP/1: idle at
/// a request boundary) and, if it holds, hyper is asked to end its part so that the
/// connection can be parked.
async fn drive<C, H, P>(
    mut connection: Pin<&mut C>,
    context: &ConnectionContext<H>,
    activity: &Arc<Activity>,
    shutdown_at: Phase,
    park_when: Option<P>,
) -> Driven
where
    C: GracefulConnection<Error = hyper::Error>,
    P: Fn() -> bool,
{
    let mut park_requested = false;
    let mut phase = context.phase.clone();
    let idle_timeout = context.server.idle_timeout;
    let http1 = shutdown_at == Phase::Closing;
    let mut drain_seen = false;
    let mut first_request_deadline: Option<Instant> = None;
    let mut closing_since: Option<Instant> = None;
    let far_future = || Instant::now() + Duration::from_secs(86_400);
    // Parking: armed when an idle spell begins (seen after a poll of hyper), it fires
    // `PARK_AFTER` into it; a connection that is never idle that long never pays for it.
    let mut park_timer = std::pin::pin!(tokio::time::sleep_until(far_future()));
    let mut park_armed_for: Option<Instant> = None;
    let result = loop {
        let may_park = park_when.is_some()
            && !park_requested
            && !drain_seen
            && closing_since.is_none()
            && first_request_deadline.is_none();
        let until_idle = idle_timeout.saturating_sub(activity.idle_for());
        tokio::select! {
            polled = std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                    return Poll::Ready(Some(result));
                }
                if !may_park {
                    return Poll::Pending;
                }
                // From the first request on: before it, hyper's header timeout is in charge.
                if let Some(since) = activity.idle_since()
                    && activity.has_served()
                    && park_armed_for != Some(since)
                {
                    park_armed_for = Some(since);
                    park_timer.as_mut().reset(since + PARK_AFTER);
                }
                match park_armed_for {
                    Some(_) => park_timer.as_mut().poll(cx).map(|()| None),
                    None => Poll::Pending,
                }
            }) => match polled {
                Some(result) => break result,
                None if activity.idle_for() >= PARK_AFTER
                    && park_when.as_ref().is_some_and(|park_when| park_when()) => {
                    // hyper ends at once if idle, else after the response it is finishing.
                    park_requested = true;
                    connection.as_mut().graceful_shutdown();
                }
                // Busy again (its next idle spell re-arms the timer), or stalled mid-request
                // (a head or body still arriving: hyper's timeouts are in charge).
                None => park_timer.as_mut().reset(far_future()),
            },
            _ = reached(&mut phase, shutdown_at), if !drain_seen => {
                drain_seen = true;
                if closing_since.is_none() {
                    if http1 && !activity.has_served() {
                        first_request_deadline = Some(Instant::now() + FIRST_REQUEST_WINDOW);
                    } else {
                        connection.as_mut().graceful_shutdown();
                        closing_since = Some(Instant::now());
                    }
                }
            }
            _ = tokio::time::sleep_until(first_request_deadline.unwrap_or_else(far_future)),
                if first_request_deadline.is_some() && closing_since.is_none() => {
                // A request that started in the window is answered with `Connection: close`.
                first_request_deadline = None;
                if !activity.has_served() {
                    connection.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
            }
            _ = activity.evicted(), if closing_since.is_none() => {
                if activity.is_idle() {
                    return Driven::Abandoned;
                }
                connection.as_mut().graceful_shutdown();
                closing_since = Some(Instant::now());
            }
            _ = tokio::time::sleep(until_idle), if closing_since.is_none() => {
                if activity.idle_for() >= idle_timeout {
                    context.metrics.idle_closed.inc();
                    connection.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
            }
            _ = tokio::time::sleep_until(
                    closing_since.map_or_else(far_future, |since| since + CLOSE_IDLE_AFTER)
                ), if closing_since.is_some() => {
                if activity.is_idle() {
                    return Driven::Abandoned;
                }
                closing_since = Some(Instant::now());
            }
        }
    };
    match result {
        Ok(()) if park_requested => Driven::Parked,
        Ok(()) => Driven::Finished,
        Err(err) => {
            let kind = protocol_error_kind(&err);
            if let Some(kind) = kind {
                context.metrics.protocol_error(kind);
            }
            tracing::debug!(error = %err, kind = kind.unwrap_or("io"), "connection ended with an error");
            Driven::Failed
        }
    }
}

/// Waits until the drain reaches `target` (or the drain's sender is gone).
async fn reached(phase: &mut watch::Receiver<Phase>, target: Phase) {
    let _ = phase.wait_for(|phase| *phase >= target).await;
}

/// HTTP/2 errors hookwall raised against a misbehaving client (rapid reset, bad frames).
fn http2_error_kind(err: &hyper::Error) -> Option<&'static str> {
    let h2_error = std::error::Error::source(err)?.downcast_ref::<h2::Error>()?;
    if h2_error.is_remote() {
        // The client ended it; not something the client did wrong to us.
        return None;
    }
    Some(match h2_error.reason()? {
        h2::Reason::ENHANCE_YOUR_CALM => "http2_too_many_resets",
        h2::Reason::PROTOCOL_ERROR => "http2_protocol_error",
        h2::Reason::FLOW_CONTROL_ERROR => "http2_flow_control_error",
        h2::Reason::FRAME_SIZE_ERROR => "http2_frame_size_error",
        h2::Reason::COMPRESSION_ERROR => "http2_compression_error",
        h2::Reason::NO_ERROR | h2::Reason::CANCEL => return None,
        _ => "http2_other",
    })
}

/// A closed set of labels for errors that mean the client sent something wrong.
fn protocol_error_kind(err: &hyper::Error) -> Option<&'static str> {
    if err.is_parse_too_large() {
        Some("header_too_large")
    } else if err.is_parse() || err.is_parse_status() {
        Some("malformed_request")
    } else if err.is_timeout() {
        Some("header_timeout")
    } else if err.is_incomplete_message() {
        Some("incomplete_message")
    } else {
        http2_error_kind(err)
    }
}
