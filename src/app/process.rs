//! The running process: one single-threaded runtime per worker thread, the config (a file or
//! the embedded development setup), start-up, and signals — SIGHUP reloads, SIGTERM or
//! SIGINT drains, a second one exits at once.

use crate::app::fail;
use crate::config::Config;
use crate::dev::{embedded, inspector};
use crate::telemetry::logging;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

/// Listen addresses given on the command line, replacing the config's.
pub(crate) struct Overrides {
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) admin_listen: Option<SocketAddr>,
}

/// Runs hookwall until a signal ends it: the config at `config_path`, or without one the
/// embedded development setup; `overrides` replace the listen addresses either way.
pub(crate) fn run(config_path: Option<&Path>, overrides: Overrides) -> ExitCode {
    let file_config = match config_path {
        Some(path) => match Config::load(path) {
            Ok(config) => Some(config),
            Err(err) => return fail(err),
        },
        None => None,
    };
    let workers = file_config
        .as_ref()
        .and_then(|config| config.server.workers)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // One single-threaded runtime per worker: this thread's (which also runs the admin
    // port, reloads and signals) and one more thread per extra worker. A connection lives on
    // one of them from accept to close, so requests never wake another thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("cannot start the runtime: {err}")),
    };
    let extra_workers = match spawn_worker_runtimes(workers.saturating_sub(1)) {
        Ok(handles) => handles,
        Err(err) => return fail(format!("cannot start the worker threads: {err}")),
    };
    runtime.block_on(run_async(overrides, file_config, extra_workers))
}

/// Starts `count` threads, each running a single-threaded runtime until the process exits.
fn spawn_worker_runtimes(count: usize) -> std::io::Result<Vec<tokio::runtime::Handle>> {
    (1..=count)
        .map(|index| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name(format!("hookwall-worker-{index}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            Ok(handle)
        })
        .collect()
}

async fn run_async(
    overrides: Overrides,
    file_config: Option<Config>,
    extra_workers: Vec<tokio::runtime::Handle>,
) -> ExitCode {
    let (mut config, certificate, embedded_setup) = match file_config {
        Some(config) => (config, None, None),
        None => {
            let inspector = match inspector::start().await {
                Ok(addr) => addr,
                Err(err) => return fail(format!("cannot start the inspector upstream: {err}")),
            };
            let listen = overrides
                .listen
                .unwrap_or_else(|| embedded::LISTEN.parse().expect("valid"));
            let admin = overrides
                .admin_listen
                .unwrap_or_else(|| embedded::ADMIN_LISTEN.parse().expect("valid"));
            let setup = match embedded::setup(listen, admin, inspector) {
                Ok(setup) => setup,
                Err(err) => return fail(err),
            };
            (
                setup.config.clone(),
                Some(setup.certificate.clone()),
                Some(setup),
            )
        }
    };
    if let Some(listen) = overrides.listen {
        config.server.listen = listen;
    }
    if let Some(admin) = overrides.admin_listen {
        config.admin.listen = admin;
    }
    let _log_writer = logging::init(&config.log);

    let running =
        match crate::app::start::start_with_workers(config, certificate, &extra_workers).await {
            Ok(running) => running,
            Err(err) => return fail(err),
        };
    if let Some(setup) = &embedded_setup {
        println!(
            "{}",
            embedded::banner(setup, running.proxy_addr, running.admin_addr)
        );
    }
    wait_for_signals(running).await
}

#[cfg(unix)]
async fn wait_for_signals(running: crate::Running) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return fail("cannot install signal handlers");
    };
    loop {
        tokio::select! {
            _ = hup.recv() => running.reload().await,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutdown signal received");
    tokio::select! {
        report = running.shutdown() => {
            if report.requests_cut == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        // A second signal skips the rest of the drain.
        _ = term.recv() => fail("second signal: exiting without waiting for the drain"),
        _ = int.recv() => fail("second signal: exiting without waiting for the drain"),
    }
}
