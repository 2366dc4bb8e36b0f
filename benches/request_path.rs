//! What does hookwall's request path cost per request, without TLS and without the listener's
//! socket and HTTP parsing: accepted (verified, forwarded over the pooled client to a hyper
//! upstream on loopback, response read) versus rejected (bad signature, answered 401)?
//!
//! `Proxy::handle` is driven directly with in-memory bodies (`http_body_util::Full`) on one
//! current-thread runtime, which also runs the upstream (hyper, answering 200 with an empty
//! body like nginx's `return 200`). With everything on one thread, an iteration's time is CPU
//! work (proxy, upstream, loopback TCP in the kernel) and never waiting for another thread to
//! wake up. `direct/*` sends the same request straight to the upstream over one keep-alive
//! connection: `accepted − direct` is what hookwall adds. No tracing subscriber is installed
//! except in the `request_path_json_log` group, which formats each request's line as the
//! binary does (JSON at info) into `io::sink`: the formatting on the request's thread is
//! priced, the binary's background writer thread is not. Recording for the recent deliveries
//! page is on (the default ring of 200) except in `request_path_deliveries_off`.
//! Run: `cargo bench --bench request_path`.

mod common;

use bytes::Bytes;
use common::{json_body, visma_signature};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookwall::config::{Config, DEFAULT_DELIVERIES, Secret, SecretSource};
use hookwall::proxy::service::Proxy;
use hookwall::telemetry::metrics::Metrics;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

const SECRET: &str = "request-path-bench-secret";
const PATH: &str = "/webhooks/visma";
const SIZES: &[(&str, usize)] = &[("1KiB", 1024), ("16KiB", 16 * 1024), ("256KiB", 256 * 1024)];

/// Starts a keep-alive HTTP/1 upstream on loopback, on the current runtime, that reads each
/// body and answers 200 with an empty body. `accepted` counts its connections, to show that
/// the pool reuses them.
async fn start_upstream(accepted: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            accepted.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let _ = request.into_body().collect().await;
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// One keep-alive connection straight to the upstream, for the `direct` floor.
async fn direct_client(
    upstream: SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(upstream)
        .await
        .expect("connect upstream");
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

async fn send_direct(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> StatusCode {
    sender.ready().await.expect("upstream connection open");
    let response = sender
        .send_request(request)
        .await
        .expect("upstream answers");
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

/// `deliveries`: how many requests the recent deliveries page keeps (0: recording off).
fn proxy_for(upstream: SocketAddr, deliveries: usize) -> Proxy {
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
deliveries = {deliveries}
[upstream]
url = "http://{upstream}"
[[route]]
path = "{PATH}"
scheme = "visma"
secrets = [{{ env = "HOOKWALL_BENCH_SECRET" }}]
"#
    );
    let resolve =
        |source: &SecretSource| Ok(Secret::literal(source.clone(), SECRET.as_bytes().to_vec()));
    let config = Config::from_toml_with_secrets(&text, "request_path bench", &resolve)
        .expect("bench config is valid");
    Proxy::new(&config, &Metrics::new())
}

/// A request as hyper's server would hand it over (origin-form URI, Host header).
fn delivery(body: &Bytes, signature: &str) -> Request<Full<Bytes>> {
    Request::post(PATH)
        .header("host", "hooks.example.com")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header("user-agent", "Visma-Webhook-Dispatcher")
        .header("x-vwd-signature-v1", signature)
        .body(Full::new(body.clone()))
        .expect("valid request")
}

async fn send(proxy: &Proxy, request: Request<Full<Bytes>>) -> StatusCode {
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("valid address");
    let response = proxy.handle(request, peer).await;
    let status = response.status();
    // Reading the body to its end returns the upstream connection to the pool.
    let _ = response.into_body().collect().await;
    status
}

fn bench_path(
    c: &mut Criterion,
    group_name: &str,
    sizes: &[(&str, usize)],
    with_json_log: bool,
    deliveries: usize,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("bench runtime");
    let accepted = Arc::new(AtomicUsize::new(0));
    let upstream = runtime.block_on(start_upstream(Arc::clone(&accepted)));
    let proxy = proxy_for(upstream, deliveries);
    let mut direct = runtime.block_on(direct_client(upstream));
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));

    let mut run = |group: &mut criterion::BenchmarkGroup<'_, _>| {
        for &(label, size) in sizes {
            let body = json_body(size);
            let good = visma_signature(SECRET, &body);
            let forged = visma_signature("not-the-secret", &body);
            if !with_json_log {
                let status = runtime.block_on(send_direct(&mut direct, delivery(&body, &good)));
                assert_eq!(status, StatusCode::OK, "direct {label}: unexpected status");
                group.bench_with_input(BenchmarkId::new("direct", label), &body, |b, body| {
                    b.iter_batched(
                        || delivery(body, &good),
                        |request| runtime.block_on(send_direct(&mut direct, request)),
                        BatchSize::SmallInput,
                    )
                });
            }
            for (case, signature, expected) in [
                ("accepted", &good, StatusCode::OK),
                ("rejected_bad_signature", &forged, StatusCode::UNAUTHORIZED),
            ] {
                let status = runtime.block_on(send(&proxy, delivery(&body, signature)));
                assert_eq!(status, expected, "{case} {label}: unexpected status");
                group.bench_with_input(BenchmarkId::new(case, label), &body, |b, body| {
                    b.iter_batched(
                        || delivery(body, signature),
                        |request| {
                            let status = runtime.block_on(send(&proxy, request));
                            debug_assert_eq!(status, expected);
                            status
                        },
                        BatchSize::SmallInput,
                    )
                });
            }
        }
    };

    if with_json_log {
        // The binary's format (see hookwall::telemetry::logging): JSON lines, info for hookwall.
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn,hookwall=info"))
            .with_writer(std::io::sink)
            .event_format(hookwall::telemetry::logging::JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || run(&mut group));
    } else {
        run(&mut group);
    }
    group.finish();
    eprintln!(
        "{group_name}: the upstream accepted {} connection(s) in all (pooling works if this is small)",
        accepted.load(Ordering::Relaxed)
    );
}

fn request_path(c: &mut Criterion) {
    bench_path(c, "request_path", SIZES, false, DEFAULT_DELIVERIES);
}

fn request_path_json_log(c: &mut Criterion) {
    // Logging costs the same per request whatever the size.
    bench_path(
        c,
        "request_path_json_log",
        &SIZES[..1],
        true,
        DEFAULT_DELIVERIES,
    );
}

/// The same 1 KiB path with the recent deliveries ring off (`[admin] deliveries = 0`):
/// `request_path/*/1KiB − request_path_deliveries_off/*/1KiB` is what recording costs.
fn request_path_deliveries_off(c: &mut Criterion) {
    bench_path(c, "request_path_deliveries_off", &SIZES[..1], false, 0);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = request_path, request_path_deliveries_off, request_path_json_log
}
criterion_main!(benches);
