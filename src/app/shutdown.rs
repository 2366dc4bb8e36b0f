//! Graceful shutdown in a fixed order, for Kubernetes:
//!
//! 1. signal → `/readyz` answers 503 and the drain starts: HTTP/1 responses carry
//!    `Connection: close`, HTTP/2 connections get GOAWAY; new connections are still accepted
//!    for `shutdown_delay`, while Kubernetes removes the pod from the Service's endpoints;
//! 2. the listener stops accepting and idle HTTP/1 connections are closed;
//! 3. requests in flight get `shutdown_grace` to finish;
//! 4. exit, reporting how many connections had to be cut off (zero on a clean drain).

use crate::net::connections::ConnectionTracker;
pub(crate) use crate::net::connections::Phase;
use crate::proxy::service::Proxy;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Whether `/readyz` says ready: set once listening, cleared when the drain starts.
#[derive(Default)]
pub(crate) struct Readiness {
    ready: AtomicBool,
}

impl Readiness {
    pub(crate) fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// How a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections still open when the grace period ran out.
    pub(crate) connections_cut: usize,
    /// Requests that were still being handled then.
    pub(crate) requests_cut: usize,
}

/// Runs the drain (steps 1–3 above) and reports what was left at the end.
pub(crate) async fn drain(
    phase: &watch::Sender<Phase>,
    readiness: &Readiness,
    proxy: &Proxy,
    connections: &ConnectionTracker,
    delay: Duration,
    grace: Duration,
) -> DrainReport {
    readiness.set(false);
    proxy.start_draining();
    phase.send_replace(Phase::Draining);
    tracing::info!(
        delay_ms = delay.as_millis() as u64,
        "draining: /readyz is 503, responses ask senders to reconnect elsewhere"
    );
    tokio::time::sleep(delay).await;

    phase.send_replace(Phase::Closing);
    tracing::info!(
        open_connections = connections.open(),
        in_flight = proxy.in_flight(),
        grace_ms = grace.as_millis() as u64,
        "stopped accepting; waiting for in-flight requests"
    );
    match tokio::time::timeout(grace, connections.all_closed()).await {
        Ok(()) => {
            tracing::info!("drained: every connection closed");
            DrainReport {
                connections_cut: 0,
                requests_cut: 0,
            }
        }
        Err(_) => {
            let report = DrainReport {
                connections_cut: connections.open(),
                requests_cut: proxy.in_flight(),
            };
            tracing::error!(
                connections_cut = report.connections_cut,
                requests_cut = report.requests_cut,
                "shutdown_grace passed; cutting off what is left"
            );
            report
        }
    }
}
