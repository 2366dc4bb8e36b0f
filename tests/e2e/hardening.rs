//! Helpers for the hardening tests (drain, reload, limits, faults, hostile, logs): the real
//! binary started from a config file, TLS clients that trust several certificates, a raw
//! HTTP/2 frame client for what well-behaved clients never send, and bounded polling.

use crate::common::{self, Protocol, SECRET_A, TestCert, plain_get, visma_signature};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub const BIN: &str = env!("CARGO_BIN_EXE_hookwall");

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One sample's value, or 0 when the series does not exist yet (counters with labels appear
/// on their first increment).
pub fn metric_or_zero(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|value| value.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// A self-signed certificate for localhost/127.0.0.1 with a chosen expiry date, so that a
/// reload is visible in `hookwall_tls_cert_expiry_timestamp_seconds` and in the DER served.
pub struct DatedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
    /// `notAfter` in Unix seconds, computed here from the calendar date (not read back).
    pub not_after: i64,
}

pub fn dated_cert(year: i32, month: u8, day: u8) -> DatedCert {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.not_after = rcgen::date_time_ymd(year, month, day);
    let mut serial = [0u8; 8];
    getrandom::fill(&mut serial).unwrap();
    params.serial_number = Some(rcgen::SerialNumber::from(u64::from_le_bytes(serial) >> 1));
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    DatedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
        not_after: unix_days(year, month, day) * 86_400,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn unix_days(year: i32, month: u8, day: u8) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A TLS connection to `addr` trusting every certificate in `roots_pem`.
pub async fn tls_to(
    addr: SocketAddr,
    roots_pem: &str,
    protocol: Protocol,
) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    common::tls_connect(tcp, roots_pem, protocol).await
}

/// The leaf certificate (DER) a new handshake with `addr` is given.
pub async fn served_cert(addr: SocketAddr, roots_pem: &str) -> Result<Vec<u8>, String> {
    let tls = tls_to(addr, roots_pem, Protocol::Http1).await?;
    let (_, connection) = tls.get_ref();
    Ok(connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.to_vec())
        .unwrap_or_default())
}

/// Whether the server closes `stream` within `limit`: reads (and discards whatever comes,
/// such as an HTTP/2 server's SETTINGS) until the end of the stream or an error.
pub async fn closed_within<S>(stream: &mut S, limit: Duration) -> bool
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// A signed Visma POST for `authority` (HTTP/1 needs a Host header; HTTP/2 takes the URI).
pub fn signed_post(port: u16, path_and_query: &str, body: &[u8]) -> Request<Full<Bytes>> {
    Request::post(format!("https://localhost:{port}{path_and_query}"))
        .header("host", format!("localhost:{port}"))
        .header("x-vwd-signature-v1", visma_signature(SECRET_A, body))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap()
}

/// hookwall as the real binary, run from a config file, its JSON log read from stdout.
pub struct BinaryProxy {
    pub child: tokio::process::Child,
    pub proxy_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub cert: TestCert,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl BinaryProxy {
    /// Runs `hookwall run --config config_path` from `dir` (written by
    /// `ProxyBuilder::start_binary`) and waits for its "hookwall ready" line.
    pub async fn launch(
        dir: tempfile::TempDir,
        config_path: PathBuf,
        cert: TestCert,
    ) -> BinaryProxy {
        let mut child = tokio::process::Command::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the hookwall binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect_lines(child.stderr.take().unwrap(), Arc::clone(&stderr));

        let mut proxy = BinaryProxy {
            child,
            proxy_addr: "127.0.0.1:1".parse().unwrap(),
            admin_addr: "127.0.0.1:1".parse().unwrap(),
            dir,
            config_path,
            cert,
            stdout,
            stderr,
        };
        let ready = proxy
            .wait_for_log(
                "the \"hookwall ready\" line",
                Duration::from_secs(20),
                |line| line["message"] == "hookwall ready",
            )
            .await;
        proxy.proxy_addr = ready["proxy"].as_str().unwrap().parse().unwrap();
        proxy.admin_addr = ready["admin"].as_str().unwrap().parse().unwrap();
        proxy
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// Sends a signal by name ("TERM", "HUP") with kill(1).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "hookwall did not exit within {limit:?}; log:\n{}",
                self.stdout_lines().join("\n")
            ),
        }
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Every stdout line parsed as JSON; panics on a line that is not JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout_lines()
            .iter()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("log line is not JSON ({err}): {line}"))
            })
            .collect()
    }

    /// Waits for a JSON log line that satisfies `matches`.
    pub async fn wait_for_log(
        &self,
        what: &str,
        limit: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let found = self
                .stdout_lines()
                .iter()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|line| matches(line));
            if let Some(line) = found {
                return line;
            }
            assert!(
                started.elapsed() < limit,
                "no log line for {what} within {limit:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout_lines().join("\n"),
                self.stderr_lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn metrics_text(&self) -> String {
        let (status, _, body) = plain_get(self.admin_addr, "/metrics").await;
        assert_eq!(status, 200);
        String::from_utf8(body.to_vec()).unwrap()
    }

    pub async fn readyz(&self) -> StatusCode {
        plain_get(self.admin_addr, "/readyz").await.0
    }

    /// One request on a new TLS connection.
    pub async fn send(
        &self,
        protocol: Protocol,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let tls = tls_to(self.proxy_addr, &self.cert.cert_pem, protocol).await?;
        match protocol {
            Protocol::Http1 => common::exchange_h1(tls, request).await,
            Protocol::Http2 => common::exchange_h2(tls, request).await,
        }
    }

    pub fn signed_post(&self, path_and_query: &str, body: &[u8]) -> Request<Full<Bytes>> {
        signed_post(self.proxy_addr.port(), path_and_query, body)
    }
}

fn collect_lines<R>(reader: R, into: Arc<Mutex<Vec<String>>>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().unwrap().push(line);
        }
    });
}

// ---------------------------------------------------------------------------------------
// A raw HTTP/2 client: frames written by hand, so tests can do what well-behaved clients
// never do (reset streams at once, open more streams than allowed, sit idle).

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const CANCEL: u32 = 0x8;
pub const REFUSED_STREAM: u32 = 0x7;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;
pub const NO_ERROR: u32 = 0x0;

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// For GOAWAY: (last stream id, error code).
    pub fn goaway(&self) -> Option<(u32, u32)> {
        (self.kind == GOAWAY && self.payload.len() >= 8).then(|| {
            (
                u32::from_be_bytes(self.payload[0..4].try_into().unwrap()) & 0x7fff_ffff,
                u32::from_be_bytes(self.payload[4..8].try_into().unwrap()),
            )
        })
    }

    /// For RST_STREAM: the error code.
    pub fn reset_code(&self) -> Option<u32> {
        (self.kind == RST_STREAM && self.payload.len() == 4)
            .then(|| u32::from_be_bytes(self.payload[0..4].try_into().unwrap()))
    }

    /// For SETTINGS: the (identifier, value) pairs.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        if self.kind != SETTINGS {
            return Vec::new();
        }
        self.payload
            .chunks_exact(6)
            .map(|entry| {
                (
                    u16::from_be_bytes([entry[0], entry[1]]),
                    u32::from_be_bytes(entry[2..6].try_into().unwrap()),
                )
            })
            .collect()
    }

    /// For a HEADERS frame of a response: whether it says `:status 200`. hookwall's HTTP/2
    /// server (h2) encodes a 200 as the static-table index 8, the single byte 0x88; any other
    /// status is a literal, so this is exact for the question "was it a 200?".
    pub fn is_status_200(&self) -> bool {
        self.kind == HEADERS && self.payload.first() == Some(&0x88)
    }
}

pub fn frame_bytes(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut bytes = Vec::with_capacity(9 + payload.len());
    bytes.extend_from_slice(&length.to_be_bytes()[1..]);
    bytes.push(kind);
    bytes.push(flags);
    bytes.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

fn hpack_int(out: &mut Vec<u8>, value: usize, prefix_bits: u32, first: u8) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// An HPACK header block of literal fields without indexing (no Huffman, no table).
pub fn hpack_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        hpack_int(&mut block, name.len(), 7, 0);
        block.extend_from_slice(name.as_bytes());
        hpack_int(&mut block, value.len(), 7, 0);
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// A HEADERS frame for a signed POST of `body` (which follows in DATA frames unless empty).
pub fn signed_post_headers(stream: u32, port: u16, path: &str, body: &[u8]) -> Vec<u8> {
    let signature = visma_signature(SECRET_A, body);
    let authority = format!("localhost:{port}");
    let length = body.len().to_string();
    let block = hpack_block(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", &authority),
        (":path", path),
        ("content-length", &length),
        ("x-vwd-signature-v1", &signature),
    ]);
    let flags = END_HEADERS | if body.is_empty() { END_STREAM } else { 0 };
    frame_bytes(HEADERS, flags, stream, &block)
}

pub struct RawH2 {
    io: TlsStream<TcpStream>,
    buffer: Vec<u8>,
    /// Frames read so far, in order (SETTINGS and PING included).
    pub seen: Vec<Frame>,
}

impl RawH2 {
    /// TLS with ALPN h2, then the client preface and an empty SETTINGS frame.
    pub async fn connect(addr: SocketAddr, roots_pem: &str) -> RawH2 {
        let mut io = tls_to(addr, roots_pem, Protocol::Http2).await.unwrap();
        assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(frame_bytes(SETTINGS, 0, 0, &[]));
        io.write_all(&hello).await.unwrap();
        RawH2 {
            io,
            buffer: Vec::new(),
            seen: Vec::new(),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// The next frame, answering SETTINGS and PING as a client must. `Ok(None)` at the end
    /// of the connection, `Err` when nothing came within `limit`.
    pub async fn next_frame(&mut self, limit: Duration) -> Result<Option<Frame>, String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.buffer.len() >= 9 {
                let length = u32::from_be_bytes([0, self.buffer[0], self.buffer[1], self.buffer[2]])
                    as usize;
                if self.buffer.len() >= 9 + length {
                    let frame = Frame {
                        kind: self.buffer[3],
                        flags: self.buffer[4],
                        stream: u32::from_be_bytes(self.buffer[5..9].try_into().unwrap())
                            & 0x7fff_ffff,
                        payload: self.buffer[9..9 + length].to_vec(),
                    };
                    self.buffer.drain(..9 + length);
                    if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                        let _ = self.write(&frame_bytes(SETTINGS, ACK, 0, &[])).await;
                    }
                    if frame.kind == PING && frame.flags & ACK == 0 {
                        let _ = self.write(&frame_bytes(PING, ACK, 0, &frame.payload)).await;
                    }
                    self.seen.push(frame.clone());
                    return Ok(Some(frame));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Err(_) => return Err(format!("no frame within {limit:?}")),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
                Ok(Ok(read)) => self.buffer.extend_from_slice(&chunk[..read]),
            }
        }
    }

    /// Reads until `done` says so or the connection ends; returns whether `done` was met.
    pub async fn read_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Frame) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Ok(Some(frame)) if done(&frame) => return true,
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return false,
            }
        }
    }
}
