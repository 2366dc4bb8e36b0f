//! The Prometheus registry every component registers its own metrics in (owned, no globals,
//! so parallel tests never share counts), and the `/metrics` text made from it.
//!
//! Each component creates and records its metrics next to its code: the listener's in
//! `net::metrics`, the request path's in `proxy::request_metrics`, capacity and duplicate
//! suppression in theirs, reloads in `app::reload`. Label values come from closed sets: route
//! names from the config, outcomes from `Outcome`, status classes from the status code.
//! Nothing from a request's headers.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

const BUILD_INFO: &str = "hookwall_build_info";

/// The process's metrics registry: components register into it, `/metrics` encodes it.
pub struct Metrics {
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry holding only `hookwall_build_info`; components add their own.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::new(),
        };
        metrics
            .int_gauge_vec(
                BUILD_INFO,
                "Always 1; the version label says which build runs.",
                &["version"],
            )
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        metrics
    }

    /// Registers a component's own metric: components create and record their metrics next
    /// to the code that knows what happened, and only share the registry.
    fn register<C: Collector + Clone + 'static>(&self, collector: C) -> C {
        self.registry
            .register(Box::new(collector.clone()))
            .expect("each metric is registered once, under a unique name");
        collector
    }

    /// A registered gauge of whole numbers.
    pub(crate) fn int_gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::new(name, help).expect("valid metric"))
    }

    /// A registered gauge of fractional values.
    pub(crate) fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.register(Gauge::new(name, help).expect("valid metric"))
    }

    /// A registered counter.
    pub(crate) fn int_counter(&self, name: &str, help: &str) -> IntCounter {
        self.register(IntCounter::new(name, help).expect("valid metric"))
    }

    /// A registered family of counters, one per combination of `labels`.
    pub(crate) fn int_counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    /// A registered family of whole-number gauges, one per combination of `labels`.
    pub(crate) fn int_gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    /// A registered family of histograms over `buckets`, one per combination of `labels`.
    pub(crate) fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        buckets: &[f64],
        labels: &[&str],
    ) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        self.register(HistogramVec::new(opts, labels).expect("valid metric"))
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
