//! The shared store's own metrics: whether it answers, how long its commands take and which
//! errors it returns. Registered once per process, so they survive store rebuilds on reload.

use crate::telemetry::metrics::Metrics;
use prometheus::{HistogramVec, IntCounterVec, IntGauge, IntGaugeVec};
use std::time::Duration;

pub(crate) const STORE_UP: &str = "hookwall_dedupe_store_up";
pub(crate) const STORE_COMMAND_DURATION: &str = "hookwall_dedupe_store_command_duration_seconds";
pub(crate) const STORE_ERRORS_TOTAL: &str = "hookwall_dedupe_store_errors_total";
const ENTRIES: &str = "hookwall_dedupe_entries";

/// Duplicate suppression's metrics, registered once per process so they outlive the stores
/// and route tables a reload rebuilds.
pub(crate) struct DedupeMetrics {
    /// The `[dedupe]` store's health, latency and errors.
    pub(crate) store: StoreMetrics,
    /// Deliveries each route remembers, by route.
    entries: IntGaugeVec,
}

impl DedupeMetrics {
    /// Creates and registers the store's metrics and the per-route entries gauge.
    pub(crate) fn new(metrics: &Metrics) -> DedupeMetrics {
        DedupeMetrics {
            store: StoreMetrics::new(metrics),
            entries: metrics.int_gauge_vec(
                ENTRIES,
                "Deliveries remembered for duplicate suppression.",
                &["route"],
            ),
        }
    }

    /// The gauge of deliveries `route` remembers.
    pub(crate) fn entries(&self, route: &str) -> IntGauge {
        self.entries.with_label_values(&[route])
    }
}

/// Redis commands, by what they do for a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Claim before forwarding (or learn it is delivered / in flight).
    Claim,
    /// Mark delivered for the window after the app's 2xx.
    Deliver,
    /// Give a claim up after a failed attempt (compare-and-delete).
    Release,
    /// The background health check.
    Ping,
}

impl Command {
    pub(crate) const ALL: [Command; 4] = [
        Command::Claim,
        Command::Deliver,
        Command::Release,
        Command::Ping,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Command::Claim => "claim",
            Command::Deliver => "deliver",
            Command::Release => "release",
            Command::Ping => "ping",
        }
    }
}

/// Why a store command failed: the `kind` label of the errors counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// No answer within `dedupe.timeout` (Redis slow, paused or unreachable).
    Timeout,
    /// Could not connect, or the connection broke (Redis down, restarting, failing over).
    Connection,
    /// Wrong password or user, or the ACL user may not run the command.
    Auth,
    /// The node is a replica (a failover moved the master): hookwall reconnects.
    ReadOnly,
    /// Any other error answer from Redis, or an answer hookwall did not expect.
    Server,
}

impl ErrorKind {
    pub(crate) const ALL: [ErrorKind; 5] = [
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::Auth,
        ErrorKind::ReadOnly,
        ErrorKind::Server,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Auth => "auth",
            ErrorKind::ReadOnly => "readonly",
            ErrorKind::Server => "server",
        }
    }
}

/// From a tenth of a millisecond (Redis on loopback) to past the longest sensible timeout.
const COMMAND_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The `[dedupe]` store's metrics: whether it answers, command latency, errors by kind.
#[derive(Clone)]
pub struct StoreMetrics {
    up: IntGauge,
    duration: HistogramVec,
    errors: IntCounterVec,
}

impl StoreMetrics {
    /// Creates and registers the store's metrics, the alerts' series at zero.
    pub fn new(metrics: &Metrics) -> StoreMetrics {
        let up = metrics.int_gauge(
            STORE_UP,
            "1 while the dedupe store answers (always 1 for the in-memory store), 0 while it does not.",
        );
        let duration = metrics.histogram_vec(
            STORE_COMMAND_DURATION,
            "Time the shared dedupe store took to answer a command, by command (errors included).",
            COMMAND_BUCKETS,
            &["command"],
        );
        let errors = metrics.int_counter_vec(
            STORE_ERRORS_TOTAL,
            "Shared dedupe store commands that failed, by kind.",
            &["kind"],
        );
        // Alerts watch these from the start, so they exist at zero.
        for kind in ErrorKind::ALL {
            errors.with_label_values(&[kind.label()]);
        }
        for command in Command::ALL {
            duration.with_label_values(&[command.label()]);
        }
        up.set(1);
        StoreMetrics {
            up,
            duration,
            errors,
        }
    }

    /// The in-memory store always answers.
    pub(crate) fn set_memory(&self) {
        self.up.set(1);
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    pub(crate) fn observe(&self, command: Command, took: Duration) {
        self.duration
            .with_label_values(&[command.label()])
            .observe(took.as_secs_f64());
    }

    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors.with_label_values(&[kind.label()]).inc();
    }
}
