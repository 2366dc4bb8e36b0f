//! Forwarding admitted requests to the app: a pooled keep-alive client (TCP or Unix socket),
//! the request rebuilt unchanged but for hop-by-hop headers, and the response passed back.

use crate::config::{self, UpstreamTarget};
use crate::signature::Verified;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Why a forward failed, as the sender will see it.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Refused, reset, or closed before answering: 502.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// No response head within `upstream.timeout`: 504.
    #[error("upstream did not answer within {0:?}")]
    TimedOut(Duration),
}

/// Why a request may be forwarded: it verified, or its route is in shadow mode. Building an
/// upstream request requires one of these.
pub enum Admission {
    Verified(Verified),
    Shadow,
}

/// The app as every worker thread sees it: one config, one pooled client per thread.
///
/// A pooled connection is driven by a task on the thread that opened it; a shared pool would
/// hand requests from one thread's runtime to another's, a wake-up of another thread on every
/// request. So each thread lazily makes its own client (and pool) for this upstream.
pub struct Upstream {
    config: config::Upstream,
    /// Tells a thread's cached client for a replaced upstream from one for this one.
    generation: u64,
}

static UPSTREAM_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    static THREAD_CLIENT: std::cell::RefCell<Option<(u64, UpstreamClient)>> =
        const { std::cell::RefCell::new(None) };
}

impl Upstream {
    pub fn new(config: &config::Upstream) -> Upstream {
        Upstream {
            config: config.clone(),
            generation: UPSTREAM_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn config(&self) -> &config::Upstream {
        &self.config
    }

    /// This thread's client for this upstream.
    pub fn client(&self) -> UpstreamClient {
        THREAD_CLIENT.with(|cell| {
            let mut cached = cell.borrow_mut();
            match &*cached {
                Some((generation, client)) if *generation == self.generation => client.clone(),
                _ => {
                    let client = UpstreamClient::new(&self.config);
                    *cached = Some((self.generation, client.clone()));
                    client
                }
            }
        })
    }
}

/// The pooled HTTP/1.1 client to the app.
#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<Connector, Full<Bytes>>,
    /// The authority requests are addressed to (the Host header is the sender's own).
    authority: Authority,
    timeout: Duration,
}

impl UpstreamClient {
    pub fn new(config: &config::Upstream) -> UpstreamClient {
        let (connector, authority) = match &config.target {
            UpstreamTarget::Http { authority } => {
                let mut http = HttpConnector::new();
                http.set_nodelay(true);
                http.set_connect_timeout(Some(config.connect_timeout));
                (Connector::Tcp(http), authority.clone())
            }
            UpstreamTarget::Unix { path } => (
                Connector::Unix(UnixConnector {
                    path: Arc::new(path.clone()),
                    connect_timeout: config.connect_timeout,
                }),
                // Only used to key the connection pool; the socket path picks the app.
                Authority::from_static("unix.socket"),
            ),
        };
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle)
            .http1_preserve_header_case(true)
            // The sender's Host header is forwarded; never replace it with the upstream's.
            .set_host(false)
            .build(connector);
        UpstreamClient {
            client,
            authority,
            timeout: config.timeout,
        }
    }

    /// Builds the upstream request from an admitted one: same method, path and query, headers
    /// in order minus hop-by-hop ones, `Host` from HTTP/2's `:authority`, the exact body.
    pub fn request(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        _admission: Admission,
    ) -> Request<Full<Bytes>> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut uri_parts = http::uri::Parts::default();
        uri_parts.scheme = Some(Scheme::HTTP);
        uri_parts.authority = Some(self.authority.clone());
        uri_parts.path_and_query = Some(path_and_query);
        let uri = Uri::from_parts(uri_parts).expect("scheme, authority and path make a URI");

        let mut headers = HeaderMap::with_capacity(parts.headers.len() + 1);
        if !parts.headers.contains_key(header::HOST)
            && let Some(authority) = parts.uri.authority()
            && let Ok(host) = HeaderValue::from_str(authority.as_str())
        {
            headers.insert(header::HOST, host);
        }
        copy_end_to_end_headers(&parts.headers, &mut headers);
        // The length of what is actually sent; the sender's own value stays in its place.
        if headers.contains_key(header::CONTENT_LENGTH) || !body.is_empty() {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }

        let mut request = Request::new(Full::new(body));
        *request.method_mut() = parts.method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        // Carries hyper's record of the original header-name case to the client.
        *request.extensions_mut() = parts.extensions;
        request
    }

    /// Sends once (a verified delivery is never retried: senders retry themselves) and waits
    /// for the response head.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(strip_response_hop_by_hop(response)),
            Ok(Err(err)) => Err(UpstreamError::Unavailable(error_chain(&err))),
            Err(_) => Err(UpstreamError::TimedOut(self.timeout)),
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `Expect`,
/// which hookwall has already answered by reading the whole body.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::EXPECT
        || name.as_str() == "keep-alive"
        || name.as_str().starts_with("proxy-")
}

/// Copies headers in order, skipping hop-by-hop ones and any that `Connection` names.
fn copy_end_to_end_headers(from: &HeaderMap, to: &mut HeaderMap) {
    let connection_listed: Vec<HeaderName> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect();
    for (name, value) in from {
        if is_hop_by_hop(name) || connection_listed.contains(name) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

fn strip_response_hop_by_hop(response: Response<Incoming>) -> Response<Incoming> {
    // Connection-listed headers only exist alongside Connection, which is itself hop-by-hop.
    if !response.headers().keys().any(is_hop_by_hop) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    copy_end_to_end_headers(&parts.headers, &mut headers);
    parts.headers = headers;
    Response::from_parts(parts, body)
}

/// Opens connections to the app over TCP or a Unix socket.
#[derive(Clone)]
enum Connector {
    Tcp(HttpConnector),
    Unix(UnixConnector),
}

#[derive(Clone)]
struct UnixConnector {
    path: Arc<PathBuf>,
    connect_timeout: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<UpstreamStream>, BoxError>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<UpstreamStream>;
    type Error = BoxError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Connector::Tcp(http) => http.poll_ready(cx).map_err(Into::into),
            Connector::Unix(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        match self {
            Connector::Tcp(http) => {
                let connecting = http.call(uri);
                Box::pin(async move {
                    let stream = connecting.await?.into_inner();
                    Ok(TokioIo::new(UpstreamStream::Tcp(stream)))
                })
            }
            Connector::Unix(unix) => {
                let unix = unix.clone();
                Box::pin(async move {
                    let connecting = UnixStream::connect(unix.path.as_path());
                    let stream = tokio::time::timeout(unix.connect_timeout, connecting)
                        .await
                        .map_err(|_| format!("connecting to {} timed out", unix.path.display()))?
                        .map_err(|err| format!("connecting to {}: {err}", unix.path.display()))?;
                    Ok(TokioIo::new(UpstreamStream::Unix(stream)))
                })
            }
        }
    }
}

/// A connection to the app, over either transport.
pub enum UpstreamStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match self {
            UpstreamStream::Tcp(stream) => stream.connected(),
            UpstreamStream::Unix(stream) => stream.connected(),
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::try_from(*name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped_in_order() {
        let from = headers(&[
            ("host", "example.com"),
            ("connection", "keep-alive, x-private"),
            ("x-vwd-signature-v1", "sig"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("trailer", "x-t"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "basic x"),
            ("proxy-connection", "keep-alive"),
            ("content-type", "application/json"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ]);
        let mut to = HeaderMap::new();
        copy_end_to_end_headers(&from, &mut to);
        let kept: Vec<(String, String)> = to
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("host", "example.com"),
            ("x-vwd-signature-v1", "sig"),
            ("content-type", "application/json"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(kept, expected);
    }

    #[test]
    fn upstream_request_keeps_path_query_and_body_and_takes_host_from_h2_authority() {
        let client = UpstreamClient::new(&config::Upstream {
            target: UpstreamTarget::Http {
                authority: Authority::from_static("127.0.0.1:9"),
            },
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            pool_idle_timeout: Duration::from_secs(1),
            pool_max_idle: 1,
        });
        let incoming = Request::builder()
            .method("POST")
            .version(Version::HTTP_2)
            .uri("https://hooks.example.com/webhooks/visma/x?a=1&b=%2F")
            .header("x-one", "1")
            .body(())
            .unwrap();
        let (parts, ()) = incoming.into_parts();
        // Admission is only constructible via verification or shadow mode.
        let request = client.request(parts, Bytes::from_static(b"{}"), Admission::Shadow);
        assert_eq!(request.method(), "POST");
        assert_eq!(
            request.uri().to_string(),
            "http://127.0.0.1:9/webhooks/visma/x?a=1&b=%2F"
        );
        let names: Vec<&str> = request.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "x-one", "content-length"]);
        assert_eq!(request.headers()["host"], "hooks.example.com");
        assert_eq!(request.headers()["content-length"], "2");
        assert_eq!(request.version(), Version::HTTP_11);
    }
}
