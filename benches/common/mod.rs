//! Shared by the bench targets: signed JSON bodies, and a small HTTP/1.1 client over TCP or
//! rustls used by the load tools (`constant_rate`, `hold_connections`).
//!
//! The signature is computed here with the hmac crate directly (as Visma documents it), not
//! with hookwall's signer, so a signer bug cannot hide in the benches.
#![allow(dead_code)]

use base64::Engine;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A JSON document of exactly `size` bytes (for `size` ≥ 28), like a webhook payload.
pub fn json_body(size: usize) -> Bytes {
    let head = br#"{"event":"bench","data":""#;
    let tail = br#""}"#;
    let mut body = Vec::with_capacity(size);
    if size >= head.len() + tail.len() {
        body.extend_from_slice(head);
        body.resize(size - tail.len(), b'x');
        body.extend_from_slice(tail);
    } else {
        body.resize(size, b'x');
    }
    Bytes::from(body)
}

/// `base64(HMAC-SHA256(secret, body))`: the Visma `x-vwd-signature-v1` value.
pub fn visma_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Where a load tool sends: `http://` or `https://`, host, port and path (with query).
#[derive(Clone, Debug)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: Uri = url.parse().map_err(|err| format!("--url {url:?}: {err}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("--url {url:?}: use http:// or https://")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("--url {url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        Ok(Target {
            tls,
            host,
            port,
            path_and_query,
        })
    }

    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What every request of a run carries.
#[derive(Clone)]
pub struct RequestTemplate {
    pub method: Method,
    pub target: Target,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RequestTemplate {
    /// POST when there is a body, GET otherwise; `Host` from the URL unless given.
    pub fn new(
        target: Target,
        header_lines: &[String],
        body: Bytes,
    ) -> Result<RequestTemplate, String> {
        let mut headers = HeaderMap::new();
        for line in header_lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("--header {line:?}: write it as \"Name: value\""))?;
            let name = HeaderName::try_from(name.trim())
                .map_err(|_| format!("--header {line:?}: bad header name"))?;
            let value = HeaderValue::try_from(value.trim())
                .map_err(|_| format!("--header {line:?}: bad header value"))?;
            headers.append(name, value);
        }
        if !headers.contains_key(http::header::HOST) {
            let host = HeaderValue::try_from(target.authority())
                .map_err(|_| "the URL's authority is not a valid Host header".to_string())?;
            headers.insert(http::header::HOST, host);
        }
        let method = if body.is_empty() {
            Method::GET
        } else {
            Method::POST
        };
        Ok(RequestTemplate {
            method,
            target,
            headers,
            body,
        })
    }

    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self
            .target
            .path_and_query
            .parse()
            .expect("checked when the target was parsed");
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// A TLS client config that trusts exactly the PEM certificate(s) in `cacert` and offers
/// only HTTP/1.1 (as wrk does).
/// What both load clients need from their command line: where to send, the request to send
/// (headers and the body file's bytes), and a TLS connector for https:// URLs.
pub fn client_setup(
    url: &str,
    headers: &[String],
    body_file: Option<&Path>,
    cacert: Option<&Path>,
) -> Result<
    (
        Target,
        std::sync::Arc<RequestTemplate>,
        Option<TlsConnector>,
    ),
    String,
> {
    let target = Target::parse(url)?;
    let body = match body_file {
        Some(path) => Bytes::from(
            std::fs::read(path).map_err(|err| format!("--body-file {}: {err}", path.display()))?,
        ),
        None => Bytes::new(),
    };
    let template = std::sync::Arc::new(RequestTemplate::new(target.clone(), headers, body)?);
    let tls = match (cacert, target.tls) {
        (Some(path), true) => Some(tls_connector(path)?),
        (None, true) => return Err("an https:// URL needs --cacert FILE".into()),
        _ => None,
    };
    Ok((target, template, tls))
}

pub fn tls_connector(cacert: &Path) -> Result<TlsConnector, String> {
    let pem =
        std::fs::read(cacert).map_err(|err| format!("--cacert {}: {err}", cacert.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|err| format!("--cacert {}: {err}", cacert.display()))?;
        roots
            .add(cert)
            .map_err(|err| format!("--cacert {}: {err}", cacert.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("--cacert {}: no certificate", cacert.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Opens one keep-alive HTTP/1.1 connection (TLS when the target is https) within `timeout`;
/// the connection is driven by a spawned task that ends when it closes.
pub async fn connect(
    target: &Target,
    tls: Option<&TlsConnector>,
    timeout: Duration,
) -> Result<SendRequest<Full<Bytes>>, String> {
    let opening = async {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|err| format!("connect {}: {err}", target.authority()))?;
        let _ = stream.set_nodelay(true);
        match (target.tls, tls) {
            (false, _) => handshake(stream).await,
            (true, Some(connector)) => {
                let name = ServerName::try_from(target.host.clone())
                    .map_err(|err| format!("server name {}: {err}", target.host))?;
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|err| format!("TLS handshake with {}: {err}", target.authority()))?;
                handshake(stream).await
            }
            (true, None) => Err("an https:// URL needs --cacert FILE".to_string()),
        }
    };
    tokio::time::timeout(timeout, opening)
        .await
        .map_err(|_| format!("connecting to {} took over {timeout:?}", target.authority()))?
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| format!("HTTP/1 handshake: {err}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Parses "10s", "500ms", "2m" for the tools' duration flags.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|err| format!("{text:?}: {err}"))
}

/// Runs a load tool on `runtime` and turns the outcome into its exit code: 0 when every
/// request went as expected, 1 when some did not, 2 when the tool could not run at all.
pub fn run_tool(
    name: &str,
    runtime: std::io::Result<tokio::runtime::Runtime>,
    run: impl std::future::Future<Output = Result<bool, String>>,
) -> std::process::ExitCode {
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("{name}: {err}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Sends `request` on `sender` and reads the whole answer; returns its status.
pub async fn status_of(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<u16, String> {
    use http_body_util::BodyExt;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| format!("request failed: {err}"))?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|err| format!("response body: {err}"))?;
    Ok(status)
}
