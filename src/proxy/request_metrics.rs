//! The request path's metrics: outcomes, durations, upstream answers and shadow verdicts by
//! route, and the requests in flight. Registered once per process ([`RequestMetrics::new`]);
//! each route's series are resolved once ([`RouteMetrics`]) so a request only touches atomics.

use crate::config::UNMATCHED_ROUTE;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::outcome::Outcome;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge};
use std::time::Duration;

const REQUESTS_TOTAL: &str = "hookwall_requests_total";
const REQUEST_DURATION: &str = "hookwall_request_duration_seconds";
const UPSTREAM_DURATION: &str = "hookwall_upstream_duration_seconds";
const UPSTREAM_RESPONSES_TOTAL: &str = "hookwall_upstream_responses_total";
const SHADOW_VERDICTS_TOTAL: &str = "hookwall_shadow_verdicts_total";
const IN_FLIGHT: &str = "hookwall_in_flight_requests";

/// From half a millisecond (verification on loopback) to the 30 s default upstream timeout.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The request path's metric families; routes take their series from here.
pub(crate) struct RequestMetrics {
    requests: IntCounterVec,
    request_duration: HistogramVec,
    upstream_duration: HistogramVec,
    upstream_responses: IntCounterVec,
    shadow_verdicts: IntCounterVec,
    /// Requests being handled now; the gauge is the count the drain waits on.
    pub(crate) in_flight: IntGauge,
}

impl RequestMetrics {
    /// Creates and registers the families, with the unmatched route's series at zero.
    pub(crate) fn new(metrics: &Metrics) -> RequestMetrics {
        let families = RequestMetrics {
            requests: metrics.int_counter_vec(
                REQUESTS_TOTAL,
                "Requests by route and outcome.",
                &["route", "outcome"],
            ),
            request_duration: metrics.histogram_vec(
                REQUEST_DURATION,
                "Time from request head to response head, by route.",
                DURATION_BUCKETS,
                &["route"],
            ),
            upstream_duration: metrics.histogram_vec(
                UPSTREAM_DURATION,
                "Time the upstream took to answer a forwarded request, by route.",
                DURATION_BUCKETS,
                &["route"],
            ),
            upstream_responses: metrics.int_counter_vec(
                UPSTREAM_RESPONSES_TOTAL,
                "Upstream responses by route and status class.",
                &["route", "status_class"],
            ),
            shadow_verdicts: metrics.int_counter_vec(
                SHADOW_VERDICTS_TOTAL,
                "Verification verdicts on shadow-mode routes (forwarded regardless), by outcome.",
                &["route", "outcome"],
            ),
            in_flight: metrics.int_gauge(IN_FLIGHT, "Requests being handled now."),
        };
        // Unmatched requests have their own label; create its series up front.
        families.route(UNMATCHED_ROUTE);
        families
    }

    /// Resolves (and creates, at zero) every series of one route.
    pub(crate) fn route(&self, route: &str) -> RouteMetrics {
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
}

/// One route's series, resolved once so that recording a request only touches atomics.
#[derive(Clone)]
pub(crate) struct RouteMetrics {
    outcomes: Vec<IntCounter>,
    shadow_verdicts: Vec<IntCounter>,
    request_duration: Histogram,
    upstream_duration: Histogram,
    upstream_status: [IntCounter; 5],
}

impl RouteMetrics {
    /// Counts a finished request under its outcome and observes how long it took.
    pub(crate) fn record(&self, outcome: Outcome, elapsed: Duration) {
        self.outcomes[outcome.index()].inc();
        self.request_duration.observe(elapsed.as_secs_f64());
    }

    /// Counts what verification said on a shadow-mode route (which forwards regardless).
    pub(crate) fn record_shadow_verdict(&self, verdict: Outcome) {
        self.shadow_verdicts[verdict.index()].inc();
    }

    /// Observes the app's answer: its duration and its status class.
    pub(crate) fn record_upstream(&self, status: http::StatusCode, elapsed: Duration) {
        self.upstream_duration.observe(elapsed.as_secs_f64());
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.upstream_status[class].inc();
    }
}
