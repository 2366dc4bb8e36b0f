//! Forwarding admitted requests to the app: a pooled keep-alive client (TCP or Unix socket),
//! the request rebuilt unchanged but for hop-by-hop headers, and the response passed back.

mod pool;

pub(crate) use pool::PooledBody;

use crate::config;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, Uri, Version};
use http_body_util::Full;
use pool::Pool;
use std::sync::Arc;
use std::time::Duration;

/// Why a forward failed, as the sender will see it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// Refused, reset, or closed before answering: 502.
    #[error("upstream unavailable: {0}")]
    Unavailable(#[from] pool::PoolError),
    /// No response head within `upstream.timeout`: 504.
    #[error("upstream did not answer within {0:?}")]
    TimedOut(Duration),
    /// An answer hookwall will not pass on: 502.
    #[error("upstream answered {0}")]
    BadResponse(&'static str),
}

/// The app as every worker thread sees it: one config, one pooled client per thread.
///
/// A pooled connection is driven by a task on the thread that opened it; a shared pool would
/// hand requests from one thread's runtime to another's, a wake-up of another thread on every
/// request. So each thread lazily makes its own client (and pool) for this upstream.
pub(crate) struct Upstream {
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
    pub(crate) fn new(config: &config::Upstream) -> Upstream {
        Upstream {
            config: config.clone(),
            generation: UPSTREAM_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub(crate) fn config(&self) -> &config::Upstream {
        &self.config
    }

    /// This thread's client for this upstream.
    pub(crate) fn client(&self) -> UpstreamClient {
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

/// This thread's client to the app: its connection pool and the response timeout.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    pool: Arc<Pool>,
    timeout: Duration,
}

impl UpstreamClient {
    /// Must be called inside the runtime that will use it.
    pub(crate) fn new(config: &config::Upstream) -> UpstreamClient {
        UpstreamClient {
            pool: Pool::new(config),
            timeout: config.timeout,
        }
    }

    /// Sends once (a verified delivery is never retried: senders retry themselves) and waits
    /// for the response head.
    pub(crate) async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        match tokio::time::timeout(self.timeout, self.pool.send(request)).await {
            // hookwall never asks for an upgrade, and HTTP/2 has none: an unasked 101 would
            // hand the sender's connection to the app.
            Ok(Ok(response)) if response.status() == http::StatusCode::SWITCHING_PROTOCOLS => Err(
                UpstreamError::BadResponse("101 Switching Protocols, which nothing asked for"),
            ),
            Ok(Ok(response)) => Ok(strip_response_hop_by_hop(response)),
            Ok(Err(err)) => Err(UpstreamError::Unavailable(err)),
            Err(_) => Err(UpstreamError::TimedOut(self.timeout)),
        }
    }
}

/// Builds the upstream request: same method, path and query, headers in order minus
/// hop-by-hop ones, `Host` from HTTP/2's `:authority`, the exact body. Only the proxy's
/// forward phase calls it, with a request it has admitted.
pub(crate) fn upstream_request(parts: http::request::Parts, body: Bytes) -> Request<Full<Bytes>> {
    // Origin form: HTTP/1.1 to the app names only the path and query.
    let uri = Uri::from(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );

    let h2_host = match parts.uri.authority() {
        Some(authority) if !parts.headers.contains_key(header::HOST) => {
            HeaderValue::from_str(authority.as_str()).ok()
        }
        _ => None,
    };
    let mut headers = if h2_host.is_none() && !parts.headers.keys().any(is_hop_by_hop) {
        // The usual case: nothing to remove or put first, so keep the map as it is.
        parts.headers
    } else {
        let mut headers = HeaderMap::with_capacity(parts.headers.len() + 1);
        if let Some(host) = h2_host {
            headers.insert(header::HOST, host);
        }
        copy_end_to_end_headers(&parts.headers, &mut headers);
        headers
    };
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

fn strip_response_hop_by_hop<B>(response: Response<B>) -> Response<B> {
    // Connection-listed headers only exist alongside Connection, which is itself hop-by-hop.
    if !response.headers().keys().any(is_hop_by_hop) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    copy_end_to_end_headers(&parts.headers, &mut headers);
    // A body framed by Transfer-Encoding is not as long as a Content-Length sent beside it
    // says (RFC 9112 §6.3): passing that on would cut the body short for HTTP/1 senders and
    // break HTTP/2 framing. Without it, hyper frames what the app actually sends.
    if parts.headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
    parts.headers = headers;
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

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
    fn a_response_content_length_beside_transfer_encoding_is_dropped() {
        let response = Response::builder()
            .header("content-length", "5")
            .header("transfer-encoding", "chunked")
            .header("x-app", "1")
            .body(())
            .unwrap();
        let stripped = strip_response_hop_by_hop(response);
        let names: Vec<&str> = stripped.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-app"]);
        let plain = Response::builder()
            .header("content-length", "5")
            .body(())
            .unwrap();
        assert_eq!(
            strip_response_hop_by_hop(plain).headers()["content-length"],
            "5"
        );
    }

    #[test]
    fn upstream_request_keeps_path_query_and_body_and_takes_host_from_h2_authority() {
        let incoming = Request::builder()
            .method("POST")
            .version(Version::HTTP_2)
            .uri("https://hooks.example.com/webhooks/visma/x?a=1&b=%2F")
            .header("x-one", "1")
            .body(())
            .unwrap();
        let (parts, ()) = incoming.into_parts();
        let request = upstream_request(parts, Bytes::from_static(b"{}"));
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri().to_string(), "/webhooks/visma/x?a=1&b=%2F");
        let names: Vec<&str> = request.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "x-one", "content-length"]);
        assert_eq!(request.headers()["host"], "hooks.example.com");
        assert_eq!(request.headers()["content-length"], "2");
        assert_eq!(request.version(), Version::HTTP_11);
    }
}
