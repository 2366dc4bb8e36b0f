//! Shared test harness: hookwall started in-process on port 0 with a real certificate, a real
//! Python upstream that records what reaches it, and real clients (hyper over rustls, curl).

use base64::Engine;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub use crate::builder::{Limits, ProxyBuilder, RouteSpec, Server, Upstream};

pub const SECRET_A: &str = "visma-secret-a";
pub const SECRET_B: &str = "visma-secret-b";

/// `base64(HMAC-SHA256(secret, body))`, computed here with the hmac crate directly (not with
/// hookwall's signer), as Visma documents it.
pub fn visma_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The Python recording upstream (tests/support/recorder.py).
pub struct Recorder {
    /// Killed when the recorder is dropped (`kill_on_drop`).
    _child: Child,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Recorded {
    pub request_line: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    body_b64: String,
    pub client_port: u16,
}

impl Recorded {
    pub fn body(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body_b64)
            .unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Spawns a helper process and waits for its "READY <x>" line.
pub async fn spawn_ready(mut command: Command) -> (Child, String) {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn helper process");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("READY ") {
                return rest.to_string();
            }
        }
        panic!("helper exited before READY");
    })
    .await
    .expect("helper did not become ready");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, ready)
}

impl Recorder {
    pub async fn start() -> Recorder {
        let mut command = Command::new("python3");
        command.arg(repo_path("tests/support/recorder.py")).arg("0");
        let (child, port) = spawn_ready(command).await;
        Recorder {
            _child: child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn requests(&self) -> Vec<Recorded> {
        let (status, _, body) = plain_get(self.addr, "/__recorder/requests").await;
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }

    pub async fn clear(&self) {
        let _ = plain_get(self.addr, "/__recorder/clear").await;
    }
}

/// A GET over plain HTTP/1.1 on a fresh connection.
pub async fn plain_get(addr: SocketAddr, path: &str) -> (StatusCode, HeaderMap, Bytes) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let request = Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    exchange_h1(stream, request).await.unwrap()
}

/// A throwaway CA-less self-signed certificate for "localhost" and 127.0.0.1.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn test_cert() -> TestCert {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    TestCert {
        cert_pem: generated.cert.pem(),
        key_pem: generated.signing_key.serialize_pem(),
    }
}

/// hookwall running in this process, on port 0.
pub struct TestProxy {
    pub running: Option<hookwall::Running>,
    pub proxy_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub cert: Option<TestCert>,
}

impl TestProxy {
    pub fn running(&self) -> &hookwall::Running {
        self.running.as_ref().unwrap()
    }

    /// The Prometheus text hookwall exposes.
    pub fn metrics_text(&self) -> String {
        self.running().metrics.encode()
    }

    /// The value of one sample, found by its exact name and labels as exposed.
    pub fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics_text(), series)
    }

    pub fn requests_total(&self, route: &str, outcome: &str) -> f64 {
        self.metric(&format!(
            "hookwall_requests_total{{outcome=\"{outcome}\",route=\"{route}\"}}"
        ))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    /// Sends `request` on a new connection with the given protocol (TLS when configured).
    pub async fn send(
        &self,
        protocol: Protocol,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let stream = TcpStream::connect(self.proxy_addr)
            .await
            .map_err(|e| e.to_string())?;
        match &self.cert {
            Some(cert) => {
                let tls = tls_connect(stream, &cert.cert_pem, protocol).await?;
                match protocol {
                    Protocol::Http1 => exchange_h1(tls, request).await,
                    Protocol::Http2 => exchange_h2(tls, request).await,
                }
            }
            None => match protocol {
                Protocol::Http1 => exchange_h1(stream, request).await,
                Protocol::Http2 => exchange_h2(stream, request).await,
            },
        }
    }

    /// Writes `raw` bytes on a new connection (TLS when configured, ALPN http/1.1) and
    /// returns everything read until the server closes or `wait` passes.
    pub async fn raw_exchange(&self, raw: &[u8], wait: Duration) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = TcpStream::connect(self.proxy_addr).await.unwrap();
        let mut received = Vec::new();
        match &self.cert {
            Some(cert) => {
                let mut tls = tls_connect(stream, &cert.cert_pem, Protocol::Http1)
                    .await
                    .unwrap();
                tls.write_all(raw).await.unwrap();
                let _ = tokio::time::timeout(wait, tls.read_to_end(&mut received)).await;
            }
            None => {
                let mut stream = stream;
                stream.write_all(raw).await.unwrap();
                let _ = tokio::time::timeout(wait, stream.read_to_end(&mut received)).await;
            }
        }
        received
    }

    /// A POST of `body` to `path_and_query`, signed with `secret` unless `signature` is given.
    pub fn visma_request(
        &self,
        path_and_query: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Request<Full<Bytes>> {
        let signature = signature
            .map(str::to_string)
            .unwrap_or_else(|| visma_signature(SECRET_A, body));
        Request::post(self.url(path_and_query))
            .header("host", format!("localhost:{}", self.proxy_addr.port()))
            .header("content-type", "application/json")
            .header("x-vwd-signature-v1", signature)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        let scheme = if self.cert.is_some() { "https" } else { "http" };
        format!(
            "{scheme}://localhost:{}{path_and_query}",
            self.proxy_addr.port()
        )
    }

    /// Runs curl against this proxy, trusting its certificate; returns (status, stdout).
    pub async fn curl(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new("curl");
        command
            .arg("--silent")
            .arg("--show-error")
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", self.proxy_addr.port()));
        if self.cert.is_some() {
            command.arg("--cacert").arg(self.cert_file());
        }
        command.args(args);
        command.output().await.expect("curl runs")
    }
}

pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|value| value.trim().parse::<f64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no series {series} in metrics:\n{text}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

pub async fn tls_connect(
    stream: TcpStream,
    cert_pem: &str,
    protocol: Protocol,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(cert_pem.as_bytes()) {
        let cert: CertificateDer<'static> = cert.unwrap();
        roots.add(cert).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![match protocol {
        Protocol::Http1 => b"http/1.1".to_vec(),
        Protocol::Http2 => b"h2".to_vec(),
    }];
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))
}

/// The status, headers and whole body of a response, or what went wrong as text.
async fn read_response(
    response: hyper::Result<http::Response<hyper::body::Incoming>>,
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let (parts, body) = response.map_err(|e| e.to_string())?.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

pub async fn exchange_h1<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    read_response(sender.send_request(request).await).await
}

pub async fn exchange_h2<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    read_response(sender.send_request(request).await).await
}
