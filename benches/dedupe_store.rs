//! What does duplicate suppression cost per request under load, in memory versus in a Redis
//! on loopback (`[dedupe] store = "redis"`)?
//!
//! Starts its own `redis-server` on a free loopback port (stopped by PID at the end), then for
//! each store runs `--concurrency` tasks on a 2-worker runtime that together claim
//! `--requests` fresh deliveries and mark each delivered (the two Redis round trips a forwarded
//! delivery costs: the claim script and `SET … PX`), then check every one again (the one
//! round trip a duplicate costs). Prints throughput and per-request latency (p50, p99, max) of
//! each phase. Bounded in count and by a 120 s limit per phase.
//! Run: `cargo bench --bench dedupe_store` (options: `-- --requests 20000 --concurrency 64`).

use hookwall::config::Config;
use hookwall::proxy::dedupe::{Decision, RouteDedupe, SharedStore, StoreMetrics};
use hookwall::signature::DeliveryIdentity;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PHASE_LIMIT: Duration = Duration::from_secs(120);

struct Options {
    requests: usize,
    concurrency: usize,
}

fn options() -> Options {
    let mut options = Options {
        requests: 20_000,
        concurrency: 64,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => {
                options.requests = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(options.requests)
            }
            "--concurrency" => {
                options.concurrency = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(options.concurrency)
            }
            _ => {} // cargo passes --bench
        }
    }
    options
}

/// A `redis-server` on a free loopback port, killed when dropped.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn route(dedupe_table: &str) -> Arc<RouteDedupe> {
    let text = format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n[dedupe]\n{dedupe_table}\n[[route]]\npath = \"/w\"\nscheme = \"visma\"\nsecrets = [{{ env = \"UNUSED\" }}]\ndedupe = \"1h\"\n"
    );
    let config = Config::from_toml_with_secrets(&text, "bench", &|source| {
        Ok(hookwall::config::Secret::literal(
            source.clone(),
            b"bench".to_vec(),
        ))
    })
    .expect("bench config");
    let metrics = StoreMetrics::new(&hookwall::telemetry::metrics::Metrics::new());
    let shared = SharedStore::new(&config, &metrics, None);
    let gauge = prometheus::IntGauge::new("bench_entries", "bench").unwrap();
    let settings = config.routes[0].dedupe.clone().expect("a dedupe window");
    Arc::new(RouteDedupe::new("bench", &settings, &shared, gauge, None))
}

fn identity(run: &str, n: usize) -> DeliveryIdentity {
    DeliveryIdentity::SignedId(format!("{run}-{n}"))
}

/// Runs `op` for requests 0..count over `concurrency` tasks; returns wall time and latencies.
async fn phase<F, Fut>(count: usize, concurrency: usize, op: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = worker;
            while n < count && started.elapsed() < PHASE_LIMIT {
                let one = Instant::now();
                op(n).await;
                latencies.push(one.elapsed());
                n += concurrency;
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (started.elapsed(), latencies)
}

fn report(store: &str, what: &str, wall: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{store:<7} {what:<26} {:>7} req in {:>6.2}s = {:>8.0} req/s   p50 {:>7.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        latencies.last().unwrap().as_secs_f64() * 1e6,
    );
}

fn main() {
    let options = options();
    let redis = Redis::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "dedupe store cost: {} deliveries, {} concurrent tasks, 2 runtime workers, Redis {} on 127.0.0.1",
        options.requests,
        options.concurrency,
        String::from_utf8_lossy(
            &Command::new("redis-server")
                .arg("--version")
                .output()
                .unwrap()
                .stdout
        )
        .split_whitespace()
        .nth(2)
        .unwrap_or("?")
    );
    runtime.block_on(async {
        for (store, table) in [
            ("memory", "store = \"memory\"".to_string()),
            (
                "redis",
                format!(
                    "store = \"redis\"\nredis_url = \"redis://127.0.0.1:{}\"\ntimeout = \"1s\"",
                    redis.port
                ),
            ),
        ] {
            let route = route(&table);
            let run = format!("{store}-{}", std::process::id());
            let (r, id) = (Arc::clone(&route), run.clone());
            let (wall, latencies) = phase(options.requests, options.concurrency, move |n| {
                let (route, identity) = (Arc::clone(&r), identity(&id, n));
                async move {
                    match route.check(&identity, Instant::now()).await {
                        Decision::Forward(ticket) => ticket.delivered(Instant::now()).await,
                        _ => panic!("a fresh delivery must be claimed"),
                    }
                }
            })
            .await;
            report(store, "new: claim + delivered", wall, latencies);
            let (r, id) = (Arc::clone(&route), run.clone());
            let (wall, latencies) = phase(options.requests, options.concurrency, move |n| {
                let (route, identity) = (Arc::clone(&r), identity(&id, n));
                async move {
                    assert!(matches!(
                        route.check(&identity, Instant::now()).await,
                        Decision::Duplicate
                    ));
                }
            })
            .await;
            report(store, "retry: duplicate check", wall, latencies);
        }
    });
}
