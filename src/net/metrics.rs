//! The listener's metrics: connections open, parked, accepted, refused, evicted and closed idle, TLS
//! handshake failures and HTTP protocol errors. The accept loop and each connection's driver
//! record them; [`ConnectionMetrics::new`] registers them once per process.

use crate::telemetry::metrics::Metrics;
use prometheus::{IntCounter, IntCounterVec, IntGauge};

const CONNECTIONS_OPEN: &str = "hookwall_connections_open";
const CONNECTIONS_TOTAL: &str = "hookwall_connections_total";
const CONNECTIONS_REJECTED_TOTAL: &str = "hookwall_connections_rejected_total";
const CONNECTIONS_EVICTED_TOTAL: &str = "hookwall_connections_evicted_total";
const CONNECTIONS_IDLE_CLOSED_TOTAL: &str = "hookwall_connections_idle_closed_total";
const CONNECTIONS_PARKED: &str = "hookwall_connections_parked";
const TLS_HANDSHAKE_FAILURES_TOTAL: &str = "hookwall_tls_handshake_failures_total";
const PROTOCOL_ERRORS_TOTAL: &str = "hookwall_protocol_errors_total";

/// The `kind` labels of `hookwall_protocol_errors_total` (see `server::protocol_error_kind`).
/// Created at zero so that a first error is an increase Prometheus can see.
const PROTOCOL_ERROR_KINDS: [&str; 10] = [
    "malformed_request",
    "header_too_large",
    "header_timeout",
    "incomplete_message",
    "http2_too_many_resets",
    "http2_protocol_error",
    "http2_flow_control_error",
    "http2_frame_size_error",
    "http2_compression_error",
    "http2_other",
];

/// The listener's metric handles, shared by every connection.
#[derive(Clone)]
pub(crate) struct ConnectionMetrics {
    /// Client connections open now (the connection tracker keeps it).
    pub(crate) open: IntGauge,
    pub(crate) accepted: IntCounter,
    /// Refused at once at `limits.max_connections` (every connection busy).
    rejected_at_limit: IntCounter,
    /// Idle connections closed to make room for a new one at `limits.max_connections`.
    pub(crate) evicted: IntCounter,
    /// Connections closed for sitting idle longer than `server.idle_timeout` (HTTP/1:
    /// `server.header_read_timeout` if shorter).
    pub(crate) idle_closed: IntCounter,
    /// Idle HTTP/1 connections parked now, holding no HTTP state (see `park`).
    pub(crate) parked: IntGauge,
    pub(crate) tls_handshake_failures: IntCounter,
    /// Requests hyper refused before hookwall saw them, by kind (parse, header_timeout, …).
    protocol_errors: IntCounterVec,
}

impl ConnectionMetrics {
    /// Creates and registers the listener's metrics, with the series alerts watch at zero.
    pub(crate) fn new(metrics: &Metrics) -> ConnectionMetrics {
        let rejected = metrics.int_counter_vec(
            CONNECTIONS_REJECTED_TOTAL,
            "Client connections closed at once because a limit was reached, by reason.",
            &["reason"],
        );
        let protocol_errors = metrics.int_counter_vec(
            PROTOCOL_ERRORS_TOTAL,
            "Connections ended by an HTTP protocol error before a request reached hookwall's checks, by kind.",
            &["kind"],
        );
        // A counter that first appears at 1 shows no increase in Prometheus: create at zero.
        for kind in PROTOCOL_ERROR_KINDS {
            protocol_errors.with_label_values(&[kind]);
        }
        ConnectionMetrics {
            open: metrics.int_gauge(CONNECTIONS_OPEN, "Client connections open now."),
            accepted: metrics.int_counter(CONNECTIONS_TOTAL, "Client connections accepted."),
            rejected_at_limit: rejected.with_label_values(&["max_connections"]),
            evicted: metrics.int_counter(
                CONNECTIONS_EVICTED_TOTAL,
                "Idle connections closed to make room for new ones at limits.max_connections.",
            ),
            idle_closed: metrics.int_counter(
                CONNECTIONS_IDLE_CLOSED_TOTAL,
                "Connections closed idle: after server.idle_timeout without a request (HTTP/1 keep-alive: server.header_read_timeout if shorter).",
            ),
            parked: metrics.int_gauge(
                CONNECTIONS_PARKED,
                "Idle HTTP/1 keep-alive connections parked now: open, holding no HTTP buffers until their next request.",
            ),
            tls_handshake_failures: metrics.int_counter(
                TLS_HANDSHAKE_FAILURES_TOTAL,
                "TLS handshakes that failed or timed out.",
            ),
            protocol_errors,
        }
    }

    /// Counts a connection refused because every one of `limits.max_connections` is busy.
    pub(crate) fn rejected_at_limit(&self) {
        self.rejected_at_limit.inc();
    }

    /// Counts a connection ended by a protocol error of `kind` (one of the kinds above).
    pub(crate) fn protocol_error(&self, kind: &str) {
        self.protocol_errors.with_label_values(&[kind]).inc();
    }
}
