//! What latency does a sender see at a fixed, moderate request rate (e.g. 2,000 req/s), measured
//! from each request's *scheduled* send time so a stall is not hidden (no coordinated omission)?
//!
//! wrk2 is not packaged in Debian, so this is a small constant-rate client: a dispatcher thread
//! releases request `i` at `start + i / rate` into a shared queue; `--connections` keep-alive
//! HTTP/1.1 connections (TLS with rustls for https://) take requests from the queue. A request
//! that waits because every connection is busy, or because the dispatcher woke late, counts
//! that wait as latency. Requests in the `--warmup` period are sent but not counted.
//!
//! `cargo run --release --example constant_rate -- --url https://127.0.0.1:8443/webhooks/visma \
//!   --cacert tls.crt --rate 2000 --duration 10s --body-file body.json \
//!   --header "x-vwd-signature-v1: <base64>" --header "content-type: application/json"`
//!
//! Prints a summary and one `CONSTANT_RATE {json}` line; exits 1 if any request failed or had
//! another status than `--expect-status`.

mod common;

use bytes::Bytes;
use clap::Parser;
use common::{RequestTemplate, client_setup, connect, parse_duration};
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};

#[derive(Parser)]
#[command(
    name = "constant_rate",
    about = "Constant-rate HTTP/1.1 load with CO-free latency"
)]
struct Args {
    /// http:// or https:// URL to send to.
    #[arg(long)]
    url: String,
    /// Requests per second, on a fixed schedule.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// How long to measure (after the warm-up).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Sent at the same rate before measuring; not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Keep-alive connections sharing the schedule.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Request body; without it requests are GETs.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// A request header, "Name: value"; repeat for each.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// PEM certificate to trust for https:// (the bench's self-signed one).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// The status every response must have.
    #[arg(long, default_value_t = 200)]
    expect_status: u16,
    /// A request not answered within this counts as an error.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// A name for this run in the output.
    #[arg(long, default_value = "run")]
    label: String,
}

/// A request's place in the schedule.
struct Slot {
    index: u64,
    due: Instant,
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
    unexpected_status: u64,
    completed: u64,
    reconnects: u64,
    first_error: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    common::run_tool("constant_rate", runtime, run(args))
}

async fn run(args: Args) -> Result<bool, String> {
    if !(args.rate > 0.0 && args.rate <= 1_000_000.0) {
        return Err("--rate must be in (0, 1000000]".into());
    }
    if args.connections == 0 || args.connections > 10_000 {
        return Err("--connections must be in 1..=10000".into());
    }
    let (target, template, tls) = client_setup(
        &args.url,
        &args.headers,
        args.body_file.as_deref(),
        args.cacert.as_deref(),
    )?;

    // Every connection is open before the clock starts, so no handshake is in the numbers.
    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        senders.push(connect(&target, tls.as_ref(), args.timeout).await?);
    }

    let warmup_requests = (args.warmup.as_secs_f64() * args.rate).round() as u64;
    let measured_requests = (args.duration.as_secs_f64() * args.rate).round() as u64;
    let total = warmup_requests + measured_requests;
    let (queue, slots) = mpsc::unbounded_channel::<Slot>();
    let slots = Arc::new(Mutex::new(slots));
    let rate = args.rate;
    let start = Instant::now() + Duration::from_millis(20);
    // A plain thread with `thread::sleep` (high-resolution timers) rather than tokio's timer,
    // whose 1 ms granularity would bunch requests at 2,000 req/s.
    let dispatcher = std::thread::spawn(move || {
        let mut latest_dispatch = Duration::ZERO;
        for index in 0..total {
            let due = start + Duration::from_secs_f64(index as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            latest_dispatch = latest_dispatch.max(Instant::now().saturating_duration_since(due));
            if queue.send(Slot { index, due }).is_err() {
                break;
            }
        }
        latest_dispatch
    });

    let expect_status = args.expect_status;
    let request_timeout = args.timeout;
    let mut workers = Vec::with_capacity(senders.len());
    for sender in senders {
        let slots = Arc::clone(&slots);
        let template = Arc::clone(&template);
        let tls = tls.clone();
        workers.push(tokio::spawn(async move {
            let mut sender = Some(sender);
            let mut tally = Tally::default();
            loop {
                let next = slots.lock().await.recv().await;
                let Some(slot) = next else { break };
                let measured = slot.index >= warmup_requests;
                let outcome = exchange(&mut sender, &template, tls.as_ref(), request_timeout).await;
                let latency = slot.due.elapsed();
                if !measured {
                    continue;
                }
                match outcome {
                    Ok((status, reconnected)) => {
                        tally.reconnects += u64::from(reconnected);
                        tally.completed += 1;
                        tally.latencies_ns.push(latency.as_nanos() as u64);
                        if status != expect_status {
                            tally.unexpected_status += 1;
                        }
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

    let deadline = args.warmup + args.duration + args.timeout + Duration::from_secs(5);
    let joined = tokio::time::timeout(deadline, async {
        let mut tallies = Vec::new();
        for worker in workers {
            if let Ok(tally) = worker.await {
                tallies.push(tally);
            }
        }
        tallies
    })
    .await
    .map_err(|_| format!("the run did not finish within {deadline:?}"))?;
    let latest_dispatch = dispatcher
        .join()
        .map_err(|_| "the dispatcher thread panicked".to_string())?;

    let mut all = Tally::default();
    for tally in joined {
        all.latencies_ns.extend(tally.latencies_ns);
        all.errors += tally.errors;
        all.unexpected_status += tally.unexpected_status;
        all.completed += tally.completed;
        all.reconnects += tally.reconnects;
        if all.first_error.is_none() {
            all.first_error = tally.first_error;
        }
    }
    all.latencies_ns.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let n = all.latencies_ns.len();
        if n == 0 {
            return f64::NAN;
        }
        // Nearest rank.
        let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
        all.latencies_ns[rank.min(n) - 1] as f64 / 1000.0
    };
    let mean_us = if all.latencies_ns.is_empty() {
        f64::NAN
    } else {
        all.latencies_ns.iter().map(|&ns| ns as f64).sum::<f64>()
            / all.latencies_ns.len() as f64
            / 1000.0
    };
    let summary = serde_json::json!({
        "label": args.label,
        "url": args.url,
        "rate": args.rate,
        "duration_s": args.duration.as_secs_f64(),
        "connections": args.connections,
        "scheduled": measured_requests,
        "completed": all.completed,
        "errors": all.errors,
        "unexpected_status": all.unexpected_status,
        "reconnects": all.reconnects,
        "p50_us": percentile(50.0),
        "p90_us": percentile(90.0),
        "p99_us": percentile(99.0),
        "p999_us": percentile(99.9),
        "max_us": percentile(100.0),
        "mean_us": mean_us,
        "latest_dispatch_us": latest_dispatch.as_secs_f64() * 1e6,
    });
    println!(
        "{}: {} req/s for {:?} over {} connections: {} of {} completed, {} errors, {} not {}",
        args.label,
        args.rate,
        args.duration,
        args.connections,
        all.completed,
        measured_requests,
        all.errors,
        all.unexpected_status,
        expect_status
    );
    println!(
        "  latency from scheduled send (µs): p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}  mean {:.0}",
        percentile(50.0),
        percentile(90.0),
        percentile(99.0),
        percentile(99.9),
        percentile(100.0),
        mean_us
    );
    println!(
        "  dispatcher's worst lateness: {:.0} µs",
        latest_dispatch.as_secs_f64() * 1e6
    );
    if let Some(err) = &all.first_error {
        println!("  first error: {err}");
    }
    println!("CONSTANT_RATE {summary}");
    Ok(all.errors == 0 && all.unexpected_status == 0 && all.completed == measured_requests)
}

/// Sends one request on `sender`, reconnecting once if the connection was closed. Returns the
/// status and whether it reconnected.
async fn exchange(
    sender: &mut Option<hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>>>,
    template: &RequestTemplate,
    tls: Option<&tokio_rustls::TlsConnector>,
    timeout: Duration,
) -> Result<(u16, bool), String> {
    let attempt = async {
        let mut reconnected = false;
        let usable = match sender.as_mut() {
            Some(open) => open.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            *sender = Some(connect(&template.target, tls, timeout).await?);
            reconnected = true;
        }
        let open = sender.as_mut().expect("connected above");
        let response = match open.send_request(template.request()).await {
            Ok(response) => response,
            Err(err) => {
                *sender = None;
                return Err(format!("request failed: {err}"));
            }
        };
        let status = response.status().as_u16();
        if let Err(err) = response.into_body().collect().await {
            *sender = None;
            return Err(format!("response body: {err}"));
        }
        Ok((status, reconnected))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => {
            *sender = None;
            Err(format!("no response within {timeout:?}"))
        }
    }
}
