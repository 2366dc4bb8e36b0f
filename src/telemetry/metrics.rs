//! The Prometheus registry every component registers its own metrics in (owned, no globals,
//! so parallel tests never share counts), and the `/metrics` text made from it.
//!
//! Each component creates and records its metrics next to its code: the listener's in
//! `net::metrics`, the request path's in `proxy::request_metrics`, capacity and duplicate
//! suppression in theirs, reloads in `app::reload`. Label values come from closed sets: route
//! names from the config, outcomes from `Outcome`, status classes from the status code.
//! Nothing from a request's headers.

use prometheus::{Encoder, IntGaugeVec, Opts, Registry, TextEncoder};

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
        let registry = Registry::new();
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
        registry
            .register(Box::new(build_info))
            .expect("metric names are unique");
        Metrics { registry }
    }

    /// Registers a component's own metric: components create and record their metrics next
    /// to the code that knows what happened, and only share the registry.
    pub(crate) fn register(&self, collector: impl prometheus::core::Collector + 'static) {
        self.registry
            .register(Box::new(collector))
            .expect("each metric is registered once, under a unique name");
    }

    /// The registry itself, for a component whose metrics also serve outside a [`Metrics`]
    /// (the dedupe store's, which its benchmark registers alone).
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
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
