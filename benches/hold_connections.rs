//! How much memory do idle keep-alive connections cost the proxy? This tool opens
//! `--connections` HTTP/1.1 connections (TLS for https://), sends one request on each so every
//! connection has really served a delivery, then holds them all idle for `--hold`.
//!
//! It prints `HOLDING <n>` once every connection is open and has been answered (measure the
//! proxy's RSS then), and at the end `STILL_OPEN <n>`: how many the server had not closed.
//! Raise the open-files limit first (`ulimit -n 4096`), and make sure the server does not close
//! idle connections sooner (hookwall: `server.header_read_timeout`) nor refuse them
//! (`limits.max_connections`).
//!
//! `cargo run --release --example hold_connections -- --url https://127.0.0.1:8443/webhooks/visma \
//!   --cacert tls.crt --connections 1000 --hold 20s --body-file body.json -H "x-vwd-signature-v1: …"`

mod common;

use clap::Parser;
use common::{client_setup, connect, parse_duration};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(
    name = "hold_connections",
    about = "Open N keep-alive connections and hold them idle"
)]
struct Args {
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// How long to hold them once all are open.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    hold: Duration,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    #[arg(long, default_value_t = 200)]
    expect_status: u16,
    /// Opening one connection and its first exchange must take less than this.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    common::run_tool("hold_connections", runtime, run(args))
}

async fn run(args: Args) -> Result<bool, String> {
    if args.connections == 0 || args.connections > 20_000 {
        return Err("--connections must be in 1..=20000".into());
    }
    let (_, template, tls) = client_setup(
        &args.url,
        &args.headers,
        args.body_file.as_deref(),
        args.cacert.as_deref(),
    )?;

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut opening = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let gate = Arc::clone(&gate);
        let template = Arc::clone(&template);
        let tls = tls.clone();
        let timeout = args.timeout;
        let expect = args.expect_status;
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let mut sender = connect(&template.target, tls.as_ref(), timeout).await?;
            let exchange = common::status_of(&mut sender, template.request());
            let status = tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| format!("no answer within {timeout:?}"))??;
            if status != expect {
                return Err(format!("status {status}, expected {expect}"));
            }
            Ok(sender)
        }));
    }
    let mut senders = Vec::with_capacity(args.connections);
    let mut failures = 0usize;
    let mut first_error = None;
    for task in opening {
        match task.await {
            Ok(Ok(sender)) => senders.push(sender),
            Ok(Err(err)) => {
                failures += 1;
                first_error.get_or_insert(err);
            }
            Err(err) => {
                failures += 1;
                first_error.get_or_insert(err.to_string());
            }
        }
    }
    println!(
        "opened {} of {} connections in {:.2}s ({} failed{})",
        senders.len(),
        args.connections,
        started.elapsed().as_secs_f64(),
        failures,
        first_error
            .as_deref()
            .map(|e| format!("; first: {e}"))
            .unwrap_or_default()
    );
    println!("HOLDING {}", senders.len());
    tokio::time::sleep(args.hold).await;
    // Let the connection tasks notice closes that arrived while idle.
    tokio::task::yield_now().await;
    let still_open = senders.iter().filter(|sender| !sender.is_closed()).count();
    println!("STILL_OPEN {still_open}");
    Ok(failures == 0 && still_open == args.connections)
}
