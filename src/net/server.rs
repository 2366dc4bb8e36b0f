//! The proxy listener: accept loop, connection limit, TLS handshake, protocol choice (ALPN or
//! the HTTP/2 preface) and each connection's part in a graceful drain.

use crate::config;
use crate::net::client::{ClientConnection, Handler};
use crate::net::connections::{Activity, ConnectionTracker, Entry, Phase};
use crate::net::linger::Lingering;
use crate::net::metrics::ConnectionMetrics;
use crate::net::read_ahead::ReadAhead;
use crate::net::tls::ALPN_H2;
use crate::net::wire::{WireHeads, WireWatch};
use bytes::BytesMut;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
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
            // Evicted (to make room) or timed out before the handshake completes: drop it.
            // One still in progress when the listener stops gets the moment an accepted
            // connection gets to send its first request, then is abandoned, so a stalled
            // handshake cannot hold the drain open for `tls_handshake_timeout`.
            let handshake = acceptor.accept(ReadAhead::new(Lingering::new(stream)));
            let mut handshake = std::pin::pin!(tokio::time::timeout(
                context.server.tls_handshake_timeout,
                handshake,
            ));
            let handshake = tokio::select! {
                handshake = &mut handshake => handshake,
                _ = activity.evicted() => return,
                _ = reached(&mut phase, Phase::Closing) => {
                    match tokio::time::timeout(FIRST_REQUEST_WINDOW, handshake).await {
                        Ok(handshake) => handshake,
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake abandoned: the listener stopped");
                            return;
                        }
                    }
                }
            };
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    context.metrics.tls_handshake_failures.inc();
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    context.metrics.tls_handshake_failures.inc();
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
            serve_http(tls, peer, h2, context, activity).await;
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
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
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
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_h2_streams)
            .max_header_list_size(limits.max_header_bytes as u32)
            .max_pending_accept_reset_streams(MAX_PENDING_RESET_STREAMS)
            .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESETS);
        // GOAWAY as soon as the drain starts: senders open new streams elsewhere while the
        // streams already sent here finish.
        let connection = builder.serve_connection(TokioIo::new(io), service);
        drive(connection, context, activity, Phase::Draining).await;
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
        let io = TokioIo::new(WireWatch::new(io, heads));
        let connection = builder.serve_connection(io, service);
        drive(connection, context, activity, Phase::Closing).await;
    }
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
async fn drive<C, H>(
    connection: C,
    context: &ConnectionContext<H>,
    activity: &Arc<Activity>,
    shutdown_at: Phase,
) where
    C: GracefulConnection<Error = hyper::Error>,
{
    let mut connection = std::pin::pin!(connection);
    let mut phase = context.phase.clone();
    let idle_timeout = context.server.idle_timeout;
    let http1 = shutdown_at == Phase::Closing;
    let mut drain_seen = false;
    let mut first_request_deadline: Option<Instant> = None;
    let mut closing_since: Option<Instant> = None;
    let far_future = || Instant::now() + Duration::from_secs(86_400);
    let result = loop {
        let until_idle = idle_timeout.saturating_sub(activity.idle_for());
        tokio::select! {
            result = connection.as_mut() => break result,
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
                    break Ok(());
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
                    break Ok(());
                }
                closing_since = Some(Instant::now());
            }
        }
    };
    if let Err(err) = result {
        let kind = protocol_error_kind(&err);
        if let Some(kind) = kind {
            context.metrics.protocol_error(kind);
        }
        tracing::debug!(error = %err, kind = kind.unwrap_or("io"), "connection ended with an error");
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
