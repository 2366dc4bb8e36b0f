//! The live route table: which route a request path belongs to, and each route's verifier,
//! metrics and policy, built from the config and swapped whole on reload.

use crate::config::UNMATCHED_ROUTE;
use crate::config::{self, Mode};
use crate::proxy::dedupe::metrics::DedupeMetrics;
use crate::proxy::dedupe::{RouteDedupe, SharedStore};
use crate::proxy::request_metrics::{RequestMetrics, RouteMetrics};
use crate::proxy::target::routing_path;
use crate::signature::Verifier;
use ipnet::IpNet;
use std::sync::Arc;

/// A route ready to serve: everything the request path needs, resolved once.
pub(crate) struct ActiveRoute {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) verifier: Verifier,
    pub(crate) mode: Mode,
    pub(crate) metrics: RouteMetrics,
    pub(crate) dedupe: Option<Arc<RouteDedupe>>,
    /// The route's allowlist, or the global one; `None` allows every source.
    pub(crate) allow_sources: Option<Arc<[IpNet]>>,
    /// The methods the route takes; `None`: every method but CONNECT and TRACE.
    pub(crate) methods: Option<Vec<http::Method>>,
    /// What a 405 lists in `Allow`.
    pub(crate) allow_header: String,
}

/// What `Allow` lists on a route that takes every method but CONNECT and TRACE.
const EVERY_FORWARDED_METHOD: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

impl ActiveRoute {
    /// Whether the route takes `method`. CONNECT and TRACE never: a tunnel or an echo of the
    /// request (signature included) is nothing a webhook needs.
    pub(crate) fn takes(&self, method: &http::Method) -> bool {
        if method == http::Method::CONNECT || method == http::Method::TRACE {
            return false;
        }
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }
}

pub(crate) struct RouteTable {
    /// Longest path first, so the first match is the longest matching prefix.
    routes: Vec<Arc<ActiveRoute>>,
    pub(crate) unmatched: RouteMetrics,
    /// The `[dedupe]` store every route's duplicate suppression uses.
    dedupe_store: SharedStore,
}

impl RouteTable {
    /// Builds the table. `previous` hands over duplicate-suppression memory across a reload,
    /// for routes that keep their name and dedupe settings.
    pub(crate) fn new(
        config: &config::Config,
        metrics: &RequestMetrics,
        dedupe_metrics: &DedupeMetrics,
        previous: Option<&RouteTable>,
    ) -> Self {
        let global_allow: Option<Arc<[IpNet]>> =
            config.server.allow_sources.as_deref().map(Arc::from);
        let dedupe_store = SharedStore::new(
            config,
            &dedupe_metrics.store,
            previous.map(|table| &table.dedupe_store),
        );
        let mut routes: Vec<Arc<ActiveRoute>> = config
            .routes
            .iter()
            .map(|route| {
                let dedupe = route.dedupe.as_ref().map(|settings| {
                    let old = previous
                        .and_then(|table| table.by_name(&route.name))
                        .and_then(|old| old.dedupe.as_deref());
                    Arc::new(RouteDedupe::new(
                        &route.name,
                        settings,
                        &dedupe_store,
                        dedupe_metrics.entries(&route.name),
                        old,
                    ))
                });
                Arc::new(ActiveRoute {
                    name: route.name.clone(),
                    path: route.path.clone(),
                    verifier: Verifier::new(
                        route.scheme.clone(),
                        route.keys.clone(),
                        route.tolerance,
                    )
                    .with_public_url(route.public_url.clone()),
                    mode: route.mode,
                    metrics: metrics.route(&route.name),
                    dedupe,
                    allow_sources: route
                        .allow_sources
                        .as_deref()
                        .map(Arc::from)
                        .or_else(|| global_allow.clone()),
                    allow_header: match &route.methods {
                        Some(methods) => methods
                            .iter()
                            .map(http::Method::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        None => EVERY_FORWARDED_METHOD.to_string(),
                    },
                    methods: route.methods.clone(),
                })
            })
            .collect();
        routes.sort_by_key(|route| std::cmp::Reverse(route.path.len()));
        RouteTable {
            routes,
            unmatched: metrics.route(UNMATCHED_ROUTE),
            dedupe_store,
        }
    }

    fn by_name(&self, name: &str) -> Option<&Arc<ActiveRoute>> {
        self.routes.iter().find(|route| route.name == name)
    }

    /// The route for a request path, decided on the path as apps may read it
    /// ([`routing_path`]). A path with a dot segment in that reading, or one whose raw form
    /// would route elsewhere, is refused: the app might resolve it outside its route.
    pub(crate) fn find(
        &self,
        request_path: &str,
    ) -> Result<Option<&Arc<ActiveRoute>>, &'static str> {
        let view = routing_path(request_path)?;
        let routed = self.longest_match(&view);
        if view == request_path {
            // The usual case: read as apps read it, the path is what was sent.
            return Ok(routed);
        }
        let raw = self.longest_match(request_path);
        let same = match (routed, raw) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            return Err("the path routes differently once read as the app may read it");
        }
        Ok(routed)
    }

    fn longest_match(&self, path: &str) -> Option<&Arc<ActiveRoute>> {
        self.routes
            .iter()
            .find(|route| path_matches(&route.path, path))
    }
}

/// `/webhooks/visma` matches `/webhooks/visma` and `/webhooks/visma/…`, not `/webhooks/vismax`.
fn path_matches(route_path: &str, request_path: &str) -> bool {
    if route_path == "/" {
        return request_path.starts_with('/');
    }
    match request_path.strip_prefix(route_path) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_segments_only() {
        assert!(path_matches("/webhooks/visma", "/webhooks/visma"));
        assert!(path_matches("/webhooks/visma", "/webhooks/visma/"));
        assert!(path_matches("/webhooks/visma", "/webhooks/visma/x/y"));
        assert!(!path_matches("/webhooks/visma", "/webhooks/vismax"));
        assert!(!path_matches("/webhooks/visma", "/webhooks"));
        assert!(!path_matches("/webhooks/visma", "/other/webhooks/visma"));
        assert!(path_matches("/", "/anything"));
    }

    fn table(paths: &[&str]) -> RouteTable {
        let mut toml = String::from("[upstream]\nurl = \"http://127.0.0.1:1\"\n");
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s");
        std::fs::write(&secret, "k").unwrap();
        for path in paths {
            toml.push_str(&format!(
                "[[route]]\npath = \"{path}\"\nscheme = \"visma\"\nsecrets = [{{ file = \"{}\" }}]\n",
                secret.display()
            ));
        }
        let config = config::Config::from_toml(&toml, "test.toml").unwrap();
        let metrics = crate::telemetry::metrics::Metrics::new();
        RouteTable::new(
            &config,
            &RequestMetrics::new(&metrics),
            &DedupeMetrics::new(&metrics),
            None,
        )
    }

    #[test]
    fn longest_prefix_wins() {
        let table = table(&["/webhooks", "/webhooks/visma", "/"]);
        let path = |request: &str| table.find(request).unwrap().unwrap().path.clone();
        assert_eq!(path("/webhooks/visma/1"), "/webhooks/visma");
        assert_eq!(path("/webhooks/vismax"), "/webhooks");
        assert_eq!(path("/elsewhere"), "/");
    }

    #[test]
    fn no_route_for_unknown_paths_or_dot_segments() {
        let table = table(&["/webhooks/visma"]);
        assert!(table.find("/webhooks/vismax").unwrap().is_none());
        assert!(table.find("/admin").unwrap().is_none());
        assert!(table.find("/webhooks/visma/../../admin").is_err());
    }

    #[test]
    fn a_path_that_routes_differently_once_normalised_is_refused() {
        let table = table(&["/webhooks/visma", "/"]);
        // The app may read these as /webhooks/visma/…; hookwall's raw match is the root route.
        for path in [
            "/webhooks\\visma",
            "/webhooks%2Fvisma",
            "/webhooks;x/visma",
            "/webhooks//visma",
        ] {
            assert!(table.find(path).is_err(), "{path}");
        }
        assert!(table.find("/webhooks/visma/x%2Fy").is_ok());
    }
}
