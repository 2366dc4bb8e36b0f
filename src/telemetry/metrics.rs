//! Prometheus metrics in an owned registry (no globals, so parallel tests never share counts).
//!
//! Label values come from closed sets: route names from the config, outcomes from
//! [`Outcome`], status classes from the status code. Nothing from a request's headers.
//! Hot-path handles are resolved once per route ([`RouteMetrics`]) so a request only touches
//! atomics.

use crate::telemetry::outcome::Outcome;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

/// The route label of requests that matched no route (a name the config reserves).
pub use crate::config::UNMATCHED_ROUTE;

pub const REQUESTS_TOTAL: &str = "hookwall_requests_total";
pub const REQUEST_DURATION: &str = "hookwall_request_duration_seconds";
pub const UPSTREAM_DURATION: &str = "hookwall_upstream_duration_seconds";
pub const UPSTREAM_RESPONSES_TOTAL: &str = "hookwall_upstream_responses_total";
pub const IN_FLIGHT: &str = "hookwall_in_flight_requests";
pub const BUILD_INFO: &str = "hookwall_build_info";
pub const CONNECTIONS_OPEN: &str = "hookwall_connections_open";
pub const CONNECTIONS_TOTAL: &str = "hookwall_connections_total";
pub const CONNECTIONS_REJECTED_TOTAL: &str = "hookwall_connections_rejected_total";
pub const CONNECTIONS_EVICTED_TOTAL: &str = "hookwall_connections_evicted_total";
pub const CONNECTIONS_IDLE_CLOSED_TOTAL: &str = "hookwall_connections_idle_closed_total";
pub const TLS_HANDSHAKE_FAILURES_TOTAL: &str = "hookwall_tls_handshake_failures_total";
pub const PROTOCOL_ERRORS_TOTAL: &str = "hookwall_protocol_errors_total";
pub const RELOADS_TOTAL: &str = "hookwall_reloads_total";
pub const RELOAD_LAST_SUCCESS: &str = "hookwall_reload_last_success";
pub const TLS_CERT_EXPIRY: &str = "hookwall_tls_cert_expiry_timestamp_seconds";
pub const SHADOW_VERDICTS_TOTAL: &str = "hookwall_shadow_verdicts_total";
pub const DEDUPE_ENTRIES: &str = "hookwall_dedupe_entries";

/// From half a millisecond (verification on loopback) to the 30 s default upstream timeout.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// What can be reloaded: the certificate pair, the config file (or SIGHUP), a secret file.
pub const RELOAD_KINDS: [&str; 3] = ["tls", "config", "secrets"];

/// The `kind` labels of `hookwall_protocol_errors_total` (see `server::protocol_error_kind`).
/// Created at zero so that a first error is an increase Prometheus can see.
pub const PROTOCOL_ERROR_KINDS: [&str; 10] = [
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

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    upstream_duration: HistogramVec,
    upstream_responses: IntCounterVec,
    shadow_verdicts: IntCounterVec,
    pub dedupe_entries: IntGaugeVec,
    /// The `[dedupe]` store's health, latency and errors (owned by the dedupe module).
    pub dedupe_store: crate::proxy::dedupe::StoreMetrics,
    pub in_flight: IntGauge,
    pub connections_open: IntGauge,
    pub connections_total: IntCounter,
    /// By reason: `max_connections` (every connection busy).
    pub connections_rejected: IntCounterVec,
    /// Idle connections closed to make room for a new one at `limits.max_connections`.
    pub connections_evicted: IntCounter,
    /// Connections closed for sitting idle longer than `server.idle_timeout`.
    pub connections_idle_closed: IntCounter,
    pub tls_handshake_failures: IntCounter,
    /// Requests hyper refused before hookwall saw them, by kind (parse, header_timeout, …).
    pub protocol_errors: IntCounterVec,
    /// By kind (`tls`, `config`, `secrets`) and result (`success`, `failure`).
    reloads: IntCounterVec,
    /// 1 while the last reload of a kind succeeded (or none was needed), 0 after a failure.
    reload_last_success: IntGaugeVec,
    /// Registered only once TLS is on, so plain-HTTP setups do not show an expiry of 0.
    tls_cert_expiry: Gauge,
    tls_cert_expiry_registered: std::sync::Once,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(REQUESTS_TOTAL, "Requests by route and outcome."),
            &["route", "outcome"],
        )
        .expect("valid metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                REQUEST_DURATION,
                "Time from request head to response head, by route.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                UPSTREAM_DURATION,
                "Time the upstream took to answer a forwarded request, by route.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let upstream_responses = IntCounterVec::new(
            Opts::new(
                UPSTREAM_RESPONSES_TOTAL,
                "Upstream responses by route and status class.",
            ),
            &["route", "status_class"],
        )
        .expect("valid metric");
        let shadow_verdicts = IntCounterVec::new(
            Opts::new(
                SHADOW_VERDICTS_TOTAL,
                "Verification verdicts on shadow-mode routes (forwarded regardless), by outcome.",
            ),
            &["route", "outcome"],
        )
        .expect("valid metric");
        let dedupe_entries = IntGaugeVec::new(
            Opts::new(
                DEDUPE_ENTRIES,
                "Deliveries remembered for duplicate suppression.",
            ),
            &["route"],
        )
        .expect("valid metric");
        let in_flight =
            IntGauge::new(IN_FLIGHT, "Requests being handled now.").expect("valid metric");
        let connections_open =
            IntGauge::new(CONNECTIONS_OPEN, "Client connections open now.").expect("valid metric");
        let connections_total = IntCounter::new(CONNECTIONS_TOTAL, "Client connections accepted.")
            .expect("valid metric");
        let connections_rejected = IntCounterVec::new(
            Opts::new(
                CONNECTIONS_REJECTED_TOTAL,
                "Client connections closed at once because a limit was reached, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let connections_evicted = IntCounter::new(
            CONNECTIONS_EVICTED_TOTAL,
            "Idle connections closed to make room for new ones at limits.max_connections.",
        )
        .expect("valid metric");
        let connections_idle_closed = IntCounter::new(
            CONNECTIONS_IDLE_CLOSED_TOTAL,
            "Connections closed after server.idle_timeout without a request.",
        )
        .expect("valid metric");
        let tls_handshake_failures = IntCounter::new(
            TLS_HANDSHAKE_FAILURES_TOTAL,
            "TLS handshakes that failed or timed out.",
        )
        .expect("valid metric");
        let protocol_errors = IntCounterVec::new(
            Opts::new(
                PROTOCOL_ERRORS_TOTAL,
                "Connections ended by an HTTP protocol error before a request reached hookwall's checks, by kind.",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new(
                RELOADS_TOTAL,
                "Reloads of certificates, secrets and config.",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let reload_last_success = IntGaugeVec::new(
            Opts::new(
                RELOAD_LAST_SUCCESS,
                "1 if the last reload of this kind succeeded, 0 if it failed (the previous one still runs).",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let tls_cert_expiry = Gauge::new(
            TLS_CERT_EXPIRY,
            "When the serving certificate expires (Unix seconds).",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                BUILD_INFO,
                "Always 1; the version label says which build runs.",
            ),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_duration.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(upstream_responses.clone()),
            Box::new(shadow_verdicts.clone()),
            Box::new(dedupe_entries.clone()),
            Box::new(in_flight.clone()),
            Box::new(connections_open.clone()),
            Box::new(connections_total.clone()),
            Box::new(connections_rejected.clone()),
            Box::new(connections_evicted.clone()),
            Box::new(connections_idle_closed.clone()),
            Box::new(tls_handshake_failures.clone()),
            Box::new(protocol_errors.clone()),
            Box::new(reloads.clone()),
            Box::new(reload_last_success.clone()),
            Box::new(build_info),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        // Series that alerts watch exist from the start, at zero (or 1 for "last reload
        // succeeded"): a counter that first appears at 1 shows no increase in Prometheus.
        connections_rejected.with_label_values(&["max_connections"]);
        for kind in PROTOCOL_ERROR_KINDS {
            protocol_errors.with_label_values(&[kind]);
        }
        for kind in RELOAD_KINDS {
            reloads.with_label_values(&[kind, "success"]);
            reloads.with_label_values(&[kind, "failure"]);
            reload_last_success.with_label_values(&[kind]).set(1);
        }

        let dedupe_store = crate::proxy::dedupe::StoreMetrics::new(&registry);

        let metrics = Metrics {
            dedupe_store,
            registry,
            requests,
            request_duration,
            upstream_duration,
            upstream_responses,
            shadow_verdicts,
            dedupe_entries,
            in_flight,
            connections_open,
            connections_total,
            connections_rejected,
            connections_evicted,
            connections_idle_closed,
            tls_handshake_failures,
            protocol_errors,
            reloads,
            reload_last_success,
            tls_cert_expiry,
            tls_cert_expiry_registered: std::sync::Once::new(),
        };
        // Unmatched requests have their own label; create its series up front.
        metrics.route(UNMATCHED_ROUTE);
        metrics
    }

    /// Resolves (and creates, at zero) every series of one route.
    pub fn route(&self, route: &str) -> RouteMetrics {
        RouteMetrics {
            outcomes: Outcome::ALL
                .iter()
                .map(|outcome| self.requests.with_label_values(&[route, outcome.label()]))
                .collect(),
            shadow_verdicts: Outcome::ALL
                .iter()
                .map(|outcome| {
                    self.shadow_verdicts
                        .with_label_values(&[route, outcome.label()])
                })
                .collect(),
            request_duration: self.request_duration.with_label_values(&[route]),
            upstream_duration: self.upstream_duration.with_label_values(&[route]),
            upstream_status: STATUS_CLASSES
                .map(|class| self.upstream_responses.with_label_values(&[route, class])),
        }
    }

    /// Registers a component's own metric: components create and record their metrics next
    /// to the code that knows what happened, and only share the registry.
    pub fn register(&self, collector: impl prometheus::core::Collector + 'static) {
        self.registry
            .register(Box::new(collector))
            .expect("each metric is registered once, under a unique name");
    }

    /// Records one reload attempt of a kind from [`RELOAD_KINDS`].
    pub fn reload(&self, kind: &str, ok: bool) {
        self.reloads
            .with_label_values(&[kind, if ok { "success" } else { "failure" }])
            .inc();
        self.reload_last_success
            .with_label_values(&[kind])
            .set(i64::from(ok));
    }

    /// Sets the serving certificate's expiry (Unix seconds), exposing the gauge from the
    /// first call on.
    pub fn set_tls_cert_expiry(&self, not_after: i64) {
        self.tls_cert_expiry_registered.call_once(|| {
            self.registry
                .register(Box::new(self.tls_cert_expiry.clone()))
                .expect("registered once");
        });
        self.tls_cert_expiry.set(not_after as f64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding to memory does not fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

/// One route's series, resolved once so that recording a request only touches atomics.
#[derive(Clone)]
pub struct RouteMetrics {
    outcomes: Vec<IntCounter>,
    shadow_verdicts: Vec<IntCounter>,
    request_duration: Histogram,
    upstream_duration: Histogram,
    upstream_status: [IntCounter; 5],
}

impl RouteMetrics {
    pub fn record(&self, outcome: Outcome, elapsed: Duration) {
        self.outcomes[outcome.index()].inc();
        self.request_duration.observe(elapsed.as_secs_f64());
    }

    pub fn record_shadow_verdict(&self, verdict: Outcome) {
        self.shadow_verdicts[verdict.index()].inc();
    }

    pub fn record_upstream(&self, status: http::StatusCode, elapsed: Duration) {
        self.upstream_duration.observe(elapsed.as_secs_f64());
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.upstream_status[class].inc();
    }
}
