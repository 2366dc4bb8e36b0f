//! The embedded default's upstream: a tiny HTTP server inside hookwall that logs each
//! verified delivery it receives (headers and a short body preview) and answers 200 — what
//! Visma's documentation uses Webhook.site for in a first test.
//!
//! It stands in for the app, so unlike the proxy it does show the body; signature headers are
//! still masked.

use crate::telemetry::deliveries::is_masked;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

const PREVIEW_BYTES: usize = 200;
/// The proxy already capped the body; this only bounds the inspector on its own.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Binds 127.0.0.1 on a free port and serves until the process exits.
pub(crate) async fn start() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service_fn(receive))
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn receive(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let preview_len = body.len().min(PREVIEW_BYTES);
    let mut preview = String::from_utf8_lossy(&body[..preview_len]).into_owned();
    if body.len() > PREVIEW_BYTES {
        preview.push('…');
    }
    tracing::info!(
        target: "hookwall::dev::inspector",
        method = %parts.method,
        uri = %parts.uri,
        headers = %describe_headers(&parts.headers),
        body_bytes = body.len(),
        body_preview = %preview,
        "inspector received a verified delivery"
    );
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"received\":true}")));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn describe_headers(headers: &HeaderMap) -> String {
    headers
        .iter()
        .map(|(name, value)| {
            // The same masking as the deliveries page: every signature, token and credential.
            let shown = if is_masked(name.as_str(), None) {
                "[verified, masked]".to_string()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            format!("{name}: {shown}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
