//! The live route table: which route a request path belongs to, and each route's verifier,
//! metrics and policy, built from the config and swapped whole on reload.

use crate::config::{self, Mode};
use crate::proxy::dedupe::DedupeStore;
use crate::signature::Verifier;
use crate::telemetry::metrics::{Metrics, RouteMetrics, UNMATCHED_ROUTE};
use ipnet::IpNet;
use std::sync::Arc;

/// A route ready to serve: everything the request path needs, resolved once.
pub struct ActiveRoute {
    pub name: String,
    pub path: String,
    pub verifier: Verifier,
    pub mode: Mode,
    pub metrics: RouteMetrics,
    pub dedupe: Option<Arc<DedupeStore>>,
    /// The route's allowlist, or the global one; `None` allows every source.
    pub allow_sources: Option<Arc<[IpNet]>>,
}

pub struct RouteTable {
    /// Longest path first, so the first match is the longest matching prefix.
    routes: Vec<Arc<ActiveRoute>>,
    pub unmatched: RouteMetrics,
}

impl RouteTable {
    /// Builds the table. `previous` hands over duplicate-suppression memory across a reload,
    /// for routes that keep their name and dedupe settings.
    pub fn new(config: &config::Config, metrics: &Metrics, previous: Option<&RouteTable>) -> Self {
        let global_allow: Option<Arc<[IpNet]>> =
            config.server.allow_sources.as_deref().map(Arc::from);
        let mut routes: Vec<Arc<ActiveRoute>> = config
            .routes
            .iter()
            .map(|route| {
                let dedupe = route.dedupe.as_ref().map(|settings| {
                    previous
                        .and_then(|table| table.by_name(&route.name))
                        .and_then(|old| old.dedupe.clone())
                        .filter(|store| store.has_settings(settings))
                        .unwrap_or_else(|| {
                            Arc::new(DedupeStore::new(
                                settings,
                                metrics.dedupe_entries.with_label_values(&[&route.name]),
                            ))
                        })
                });
                Arc::new(ActiveRoute {
                    name: route.name.clone(),
                    path: route.path.clone(),
                    verifier: Verifier::new(
                        route.scheme.clone(),
                        route.keys.clone(),
                        route.tolerance,
                    ),
                    mode: route.mode,
                    metrics: metrics.route(&route.name),
                    dedupe,
                    allow_sources: route
                        .allow_sources
                        .as_deref()
                        .map(Arc::from)
                        .or_else(|| global_allow.clone()),
                })
            })
            .collect();
        routes.sort_by_key(|route| std::cmp::Reverse(route.path.len()));
        RouteTable {
            routes,
            unmatched: metrics.route(UNMATCHED_ROUTE),
        }
    }

    fn by_name(&self, name: &str) -> Option<&Arc<ActiveRoute>> {
        self.routes.iter().find(|route| route.name == name)
    }

    /// The route whose path is the longest whole-segment prefix of `request_path`.
    ///
    /// Paths with `.` or `..` segments (also percent-encoded) match nothing: the app might
    /// resolve them to a path outside every route.
    pub fn find(&self, request_path: &str) -> Option<&Arc<ActiveRoute>> {
        if has_dot_segment(request_path) {
            return None;
        }
        self.routes
            .iter()
            .find(|route| path_matches(&route.path, request_path))
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

fn has_dot_segment(path: &str) -> bool {
    path.split('/')
        .any(|segment| matches!(dots_in(segment), Some(1 | 2)))
}

/// How many dots a segment is made of when it is only dots, plain or `%2e`-encoded.
fn dots_in(segment: &str) -> Option<usize> {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(b".") {
            rest = after;
        } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
            rest = &rest[3..];
        } else {
            return None;
        }
        dots += 1;
    }
    Some(dots)
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

    #[test]
    fn dot_segments_are_detected_plain_and_encoded() {
        assert!(has_dot_segment("/webhooks/visma/../admin"));
        assert!(has_dot_segment("/webhooks/visma/%2e%2E/admin"));
        assert!(has_dot_segment("/webhooks/visma/./x"));
        assert!(has_dot_segment("/webhooks/visma/.%2e"));
        assert!(!has_dot_segment("/webhooks/visma/..x"));
        assert!(!has_dot_segment("/webhooks/visma/.well-known"));
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
        RouteTable::new(&config, &Metrics::new(), None)
    }

    #[test]
    fn longest_prefix_wins() {
        let table = table(&["/webhooks", "/webhooks/visma", "/"]);
        assert_eq!(
            table.find("/webhooks/visma/1").unwrap().path,
            "/webhooks/visma"
        );
        assert_eq!(table.find("/webhooks/vismax").unwrap().path, "/webhooks");
        assert_eq!(table.find("/elsewhere").unwrap().path, "/");
    }

    #[test]
    fn no_route_for_unknown_paths_or_dot_segments() {
        let table = table(&["/webhooks/visma"]);
        assert!(table.find("/webhooks/vismax").is_none());
        assert!(table.find("/admin").is_none());
        assert!(table.find("/webhooks/visma/../../admin").is_none());
    }
}
