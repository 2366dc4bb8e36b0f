//! How many deliveries per second can a proxy take when every delivery comes on a fresh
//! connection, as many webhook dispatchers send them? Each of `--concurrency` workers loops:
//! TCP connect, TLS handshake, one POST with `Connection: close`, read the answer, close.
//!
//! The client does as little cryptography as TLS allows, so the proxy, not the client, is
//! what saturates: it does not check the server's certificate or handshake signature (this is
//! a load tool on loopback, never a real client). `--tls 1.2|1.3` pins the version;
//! `--resume` keeps a session cache shared by the workers, so handshakes after the first
//! resume (TLS 1.3 tickets/PSK, TLS 1.2 tickets or session ids) when the server allows it.
//!
//! `cargo run --release --example new_connections -- --url https://127.0.0.1:8443/webhooks/visma \
//!   --tls 1.3 --duration 10s --body-file body.json -H "x-vwd-signature-v1: <base64>"`
//!
//! Prints a summary and one `NEW_CONNECTIONS {json}` line; exits 1 if any delivery failed or
//! had another status than `--expect-status`.

mod common;

use bytes::Bytes;
use clap::Parser;
use common::{RequestTemplate, Target, parse_duration};
use hyper_util::rt::TokioIo;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, Tls12Resumption};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Parser)]
#[command(
    name = "new_connections",
    about = "One delivery per TLS connection, as fast as the server takes them"
)]
struct Args {
    /// https:// URL to send to.
    #[arg(long)]
    url: String,
    /// TLS version to offer: 1.2 or 1.3.
    #[arg(long, default_value = "1.3")]
    tls: String,
    /// Resume sessions (one cache shared by the workers) instead of a full handshake each time.
    #[arg(long)]
    resume: bool,
    /// Connections in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Client threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// How long to measure (after the warm-up).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Deliveries sent before measuring; not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Request body.
    #[arg(long, value_name = "FILE")]
    body_file: PathBuf,
    /// A request header, "Name: value"; repeat for each.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The status every answer must have.
    #[arg(long, default_value_t = 200)]
    expect_status: u16,
    /// A delivery not answered within this counts as an error.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// A name for this run in the output.
    #[arg(long, default_value = "run")]
    label: String,
}

/// What one worker saw while measuring.
#[derive(Default)]
struct Tally {
    completed: u64,
    resumed: u64,
    errors: u64,
    unexpected_status: u64,
    first_error: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.clamp(1, 64))
        .enable_all()
        .build();
    common::run_tool("new_connections", runtime, run(args))
}

async fn run(args: Args) -> Result<bool, String> {
    if args.concurrency == 0 || args.concurrency > 4096 {
        return Err("--concurrency must be in 1..=4096".into());
    }
    let target = Target::parse(&args.url)?;
    if !target.tls {
        return Err("--url must be https://".into());
    }
    let body = std::fs::read(&args.body_file)
        .map_err(|err| format!("--body-file {}: {err}", args.body_file.display()))?;
    let mut headers = args.headers.clone();
    headers.push("connection: close".into());
    let template = Arc::new(RequestTemplate::new(
        target.clone(),
        &headers,
        Bytes::from(body),
    )?);
    let connector = connector(&args.tls, args.resume)?;
    let server_name = ServerName::try_from(target.host.clone())
        .map_err(|err| format!("server name {}: {err}", target.host))?;

    let started = Instant::now();
    let measure_from = started + args.warmup;
    let stop_at = measure_from + args.duration;
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let template = Arc::clone(&template);
        let connector = connector.clone();
        let server_name = server_name.clone();
        let (timeout, expect) = (args.timeout, args.expect_status);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < stop_at {
                let outcome = tokio::time::timeout(
                    timeout,
                    deliver(&template, &connector, server_name.clone()),
                )
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
                if Instant::now() < measure_from {
                    continue;
                }
                match outcome {
                    Ok((status, resumed)) => {
                        tally.completed += 1;
                        tally.resumed += u64::from(resumed);
                        tally.unexpected_status += u64::from(status != expect);
                    }
                    Err(err) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(err);
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for worker in workers {
        let tally = worker
            .await
            .map_err(|err| format!("a worker failed: {err}"))?;
        all.completed += tally.completed;
        all.resumed += tally.resumed;
        all.errors += tally.errors;
        all.unexpected_status += tally.unexpected_status;
        if all.first_error.is_none() {
            all.first_error = tally.first_error;
        }
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    let per_second = all.completed as f64 / elapsed.as_secs_f64();
    let summary = serde_json::json!({
        "label": args.label,
        "url": args.url,
        "tls": args.tls,
        "resume": args.resume,
        "concurrency": args.concurrency,
        "duration_s": elapsed.as_secs_f64(),
        "completed": all.completed,
        "resumed": all.resumed,
        "errors": all.errors,
        "unexpected_status": all.unexpected_status,
        "deliveries_per_s": per_second,
    });
    println!(
        "{}: {:.0} deliveries/s, one TLS {} connection each ({} of {} resumed), {} errors, {} not {}",
        args.label,
        per_second,
        args.tls,
        all.resumed,
        all.completed,
        all.errors,
        all.unexpected_status,
        args.expect_status
    );
    if let Some(err) = &all.first_error {
        println!("  first error: {err}");
    }
    println!("NEW_CONNECTIONS {summary}");
    Ok(all.errors == 0 && all.unexpected_status == 0 && all.completed > 0)
}

/// One delivery on its own connection. Returns the status and whether the handshake resumed.
async fn deliver(
    template: &RequestTemplate,
    connector: &TlsConnector,
    server_name: ServerName<'static>,
) -> Result<(u16, bool), String> {
    let target = &template.target;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|err| format!("connect {}: {err}", target.authority()))?;
    let _ = tcp.set_nodelay(true);
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|err| format!("TLS handshake: {err}"))?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|err| format!("HTTP/1 handshake: {err}"))?;
    let driving = tokio::spawn(connection);
    let status = common::status_of(&mut sender, template.request()).await?;
    drop(sender);
    let _ = driving.await;
    Ok((status, resumed))
}

fn connector(version: &str, resume: bool) -> Result<TlsConnector, String> {
    let versions: &[&rustls::SupportedProtocolVersion] = match version {
        "1.2" => &[&rustls::version::TLS12],
        "1.3" => &[&rustls::version::TLS13],
        other => return Err(format!("--tls {other}: give 1.2 or 1.3")),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TrustAnything(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = if resume {
        Resumption::in_memory_sessions(1024).tls12_resumption(Tls12Resumption::SessionIdOrTickets)
    } else {
        Resumption::disabled()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Accepts any certificate and handshake signature: the load client's own cryptography would
/// otherwise compete with the server for the same two cores. Loopback benchmarking only.
#[derive(Debug)]
struct TrustAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for TrustAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls12_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
