//! Recent deliveries: the last N requests, accepted and refused, kept in a bounded ring for
//! the admin listener's `/deliveries` page and `/deliveries.json`, so an operator can see
//! whether a delivery arrived and why it was refused.
//!
//! Recording is one short mutex section per request (an id and a push; the record is built
//! before and the evicted one dropped after), never held across an await. Bodies are never
//! kept, except a short preview in the embedded development default.

mod headers;

#[cfg(test)]
use headers::MASKED;
pub(crate) use headers::{KeptHeaders, bounded, is_masked};

use crate::telemetry::outcome::Outcome;
use http::{HeaderMap, HeaderName, header};
use serde::Serialize;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Longer paths are cut (the query is never kept: some senders put tokens there).
const MAX_PATH_BYTES: usize = 256;
/// Refusal reasons are hookwall's own short sentences; this only bounds the odd long one.
const MAX_REASON_BYTES: usize = 256;
const MAX_METHOD_BYTES: usize = 16;
const MAX_REQUEST_ID_BYTES: usize = 128;

/// What is known of a request before it is handled: taken while its headers are at hand.
pub struct Arrival {
    at: SystemTime,
    method: String,
    path: String,
    headers: KeptHeaders,
    declared_body_bytes: Option<u64>,
}

/// What the request path measured on the way: filled in as the phases run.
#[derive(Debug, Default)]
pub struct Measured {
    /// Body bytes read (when the body was read).
    pub body_bytes: Option<u64>,
    /// From the signature headers to the verdict; the body is hashed as it streams in, so
    /// this includes reading it.
    pub verify: Option<Duration>,
    /// From forwarding to the app's response head.
    pub app: Option<Duration>,
    /// The embedded development default only: the start of the body.
    pub body_preview: Option<String>,
}

/// How a request ended, from the record step.
pub struct Ending<'a> {
    /// The route's name (or `unmatched`).
    pub route: &'a str,
    /// How the request ended.
    pub outcome: Outcome,
    /// Why it was refused, if it was.
    pub reason: Option<&'a str>,
    /// The status sent back to the sender.
    pub status: u16,
    /// The peer the request came from.
    pub source: SocketAddr,
    /// The id hookwall gave the request.
    pub request_id: &'a str,
    /// From request head to response head.
    pub total: Duration,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub(crate) at: SystemTime,
    pub(crate) route: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) outcome: Outcome,
    pub(crate) reason: Option<String>,
    pub(crate) status: u16,
    pub(crate) source: SocketAddr,
    pub(crate) headers: KeptHeaders,
    pub(crate) body_bytes: Option<u64>,
    pub(crate) verify: Option<Duration>,
    pub(crate) app: Option<Duration>,
    pub(crate) total: Duration,
    pub(crate) request_id: String,
    pub(crate) body_preview: Option<String>,
}

impl Delivery {
    /// Whether hookwall let the delivery through (forwarded, or already delivered).
    pub(crate) fn accepted(&self) -> bool {
        is_accepted(self.outcome)
    }

    /// Heap bytes held, for the memory bound (string and vector capacities).
    pub fn heap_bytes(&self) -> usize {
        self.route.capacity()
            + self.method.capacity()
            + self.path.capacity()
            + self.reason.as_ref().map_or(0, String::capacity)
            + self.headers.heap_bytes()
            + self.request_id.capacity()
            + self.body_preview.as_ref().map_or(0, String::capacity)
    }
}

/// Accepted: the app got it (also in shadow mode), or it already had it (duplicate).
pub(crate) fn is_accepted(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Forwarded | Outcome::ShadowForwarded | Outcome::Duplicate
    )
}

/// The ring of recent deliveries. Capacity 0 records nothing.
pub struct Deliveries {
    capacity: usize,
    preview_bytes: usize,
    ring: Mutex<Ring>,
}

struct Ring {
    /// Oldest first; each with its id (ids grow by one per recorded request).
    entries: VecDeque<(u64, Arc<Delivery>)>,
    next_id: u64,
}

/// Which deliveries a reader wants.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Only this route's (by name; `unmatched` for requests that matched none).
    pub(crate) route: Option<String>,
    pub(crate) outcome: Option<OutcomeFilter>,
    /// Only deliveries recorded after this id (a page asking for what is new).
    pub(crate) after: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutcomeFilter {
    Accepted,
    Refused,
    Exactly(Outcome),
}

impl OutcomeFilter {
    /// Parses `accepted`, `refused` or an outcome label such as `bad_signature`.
    pub(crate) fn parse(text: &str) -> Option<OutcomeFilter> {
        match text {
            "accepted" => Some(OutcomeFilter::Accepted),
            "refused" => Some(OutcomeFilter::Refused),
            label => Outcome::ALL
                .iter()
                .find(|outcome| outcome.label() == label)
                .map(|outcome| OutcomeFilter::Exactly(*outcome)),
        }
    }

    fn matches(self, outcome: Outcome) -> bool {
        match self {
            OutcomeFilter::Accepted => is_accepted(outcome),
            OutcomeFilter::Refused => !is_accepted(outcome),
            OutcomeFilter::Exactly(wanted) => wanted == outcome,
        }
    }
}

impl Filter {
    fn matches(&self, id: u64, delivery: &Delivery) -> bool {
        self.route
            .as_ref()
            .is_none_or(|route| *route == delivery.route)
            && self
                .outcome
                .is_none_or(|wanted| wanted.matches(delivery.outcome))
            && self.after.is_none_or(|after| id > after)
    }
}

/// A consistent copy of the ring for one reader, newest first.
pub struct Snapshot {
    pub(crate) capacity: usize,
    /// Every request recorded since start (the ring keeps the last `capacity`).
    pub(crate) recorded: u64,
    /// The oldest id still kept (a page drops rows older than this).
    pub(crate) oldest_id: Option<u64>,
    /// Distinct routes among the kept deliveries, sorted.
    pub(crate) routes: Vec<String>,
    /// The matching entries with their ids, newest first.
    pub deliveries: Vec<(u64, Arc<Delivery>)>,
}

impl Deliveries {
    /// A ring keeping the last `capacity` requests; `preview_bytes` > 0 keeps that much of
    /// each body (only the embedded development default sets it).
    pub fn new(capacity: usize, preview_bytes: usize) -> Deliveries {
        Deliveries {
            capacity,
            preview_bytes,
            ring: Mutex::new(Ring {
                // Grown as requests arrive: an idle hookwall pays nothing.
                entries: VecDeque::new(),
                next_id: 1,
            }),
        }
    }

    /// Whether the page keeps anything (`admin.deliveries` above 0).
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Takes what is needed of a request's head, or `None` when recording is off.
    /// `route_signature` is the matched route's signature header, masked too.
    pub fn arrival(
        &self,
        method: &http::Method,
        path: &str,
        headers: &HeaderMap,
        route_signature: Option<&HeaderName>,
    ) -> Option<Arrival> {
        if !self.enabled() {
            return None;
        }
        Some(Arrival {
            at: SystemTime::now(),
            method: bounded(method.as_str(), MAX_METHOD_BYTES),
            path: bounded(path, MAX_PATH_BYTES),
            headers: KeptHeaders::capture(headers, route_signature),
            declared_body_bytes: headers
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.parse().ok()),
        })
    }

    /// The start of `body` for the development preview, or `None` (always, outside the
    /// embedded default).
    pub(crate) fn preview(&self, body: &[u8]) -> Option<String> {
        if self.preview_bytes == 0 || !self.enabled() {
            return None;
        }
        let shown = &body[..body.len().min(self.preview_bytes)];
        let mut text = String::from_utf8_lossy(shown).into_owned();
        if body.len() > self.preview_bytes {
            text.push('…');
        }
        Some(text)
    }

    /// Records a finished request.
    pub fn record(&self, arrival: Arrival, measured: Measured, ending: Ending<'_>) {
        let delivery = Arc::new(Delivery {
            at: arrival.at,
            route: ending.route.to_string(),
            method: arrival.method,
            path: arrival.path,
            outcome: ending.outcome,
            reason: ending.reason.map(|text| bounded(text, MAX_REASON_BYTES)),
            status: ending.status,
            source: ending.source,
            headers: arrival.headers,
            body_bytes: measured.body_bytes.or(arrival.declared_body_bytes),
            verify: measured.verify,
            app: measured.app,
            total: ending.total,
            request_id: bounded(ending.request_id, MAX_REQUEST_ID_BYTES),
            body_preview: measured.body_preview,
        });
        self.push(delivery);
    }

    fn push(&self, delivery: Arc<Delivery>) {
        if !self.enabled() {
            return;
        }
        let evicted = {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            let id = ring.next_id;
            ring.next_id += 1;
            let evicted = if ring.entries.len() == self.capacity {
                ring.entries.pop_front()
            } else {
                None
            };
            ring.entries.push_back((id, delivery));
            evicted
        };
        // Freed outside the lock.
        drop(evicted);
    }

    /// The kept deliveries matching `filter`, newest first.
    pub fn snapshot(&self, filter: &Filter) -> Snapshot {
        let (entries, recorded): (Vec<(u64, Arc<Delivery>)>, u64) = {
            let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            (ring.entries.iter().cloned().collect(), ring.next_id - 1)
        };
        let mut routes: Vec<String> = entries.iter().map(|(_, d)| d.route.clone()).collect();
        routes.sort();
        routes.dedup();
        Snapshot {
            capacity: self.capacity,
            recorded,
            oldest_id: entries.first().map(|(id, _)| *id),
            routes,
            deliveries: entries
                .into_iter()
                .rev()
                .filter(|(id, delivery)| filter.matches(*id, delivery))
                .collect(),
        }
    }

    /// Requests recorded since start.
    pub fn recorded(&self) -> u64 {
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_id
            - 1
    }
}

/// `/deliveries.json`: the snapshot as scripts (and the page) read it.
#[derive(Serialize)]
pub struct SnapshotJson<'a> {
    capacity: usize,
    recorded: u64,
    oldest_id: Option<u64>,
    routes: &'a [String],
    outcomes: Vec<&'static str>,
    deliveries: Vec<DeliveryJson<'a>>,
}

#[derive(Serialize)]
struct DeliveryJson<'a> {
    id: u64,
    time: String,
    route: &'a str,
    method: &'a str,
    path: &'a str,
    outcome: &'static str,
    accepted: bool,
    reason: Option<&'a str>,
    status: u16,
    source: String,
    sender_ids: Vec<NameValue<'a>>,
    body_bytes: Option<u64>,
    verify_ms: Option<f64>,
    app_ms: Option<f64>,
    total_ms: f64,
    request_id: &'a str,
    headers: Vec<NameValue<'a>>,
    headers_omitted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_preview: Option<&'a str>,
}

#[derive(Serialize)]
struct NameValue<'a> {
    name: &'a str,
    value: &'a str,
}

fn millis(duration: Duration) -> f64 {
    // Three decimals: microseconds are the finest the page shows.
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl Snapshot {
    /// The snapshot as the JSON the page's script reads.
    pub fn to_json(&self) -> SnapshotJson<'_> {
        SnapshotJson {
            capacity: self.capacity,
            recorded: self.recorded,
            oldest_id: self.oldest_id,
            routes: &self.routes,
            outcomes: Outcome::ALL.iter().map(|outcome| outcome.label()).collect(),
            deliveries: self
                .deliveries
                .iter()
                .map(|(id, delivery)| DeliveryJson {
                    id: *id,
                    time: humantime::format_rfc3339_millis(delivery.at).to_string(),
                    route: &delivery.route,
                    method: &delivery.method,
                    path: &delivery.path,
                    outcome: delivery.outcome.label(),
                    accepted: delivery.accepted(),
                    reason: delivery.reason.as_deref(),
                    status: delivery.status,
                    source: delivery.source.to_string(),
                    sender_ids: delivery
                        .headers
                        .sender_ids()
                        .map(|(name, value)| NameValue { name, value })
                        .collect(),
                    body_bytes: delivery.body_bytes,
                    verify_ms: delivery.verify.map(millis),
                    app_ms: delivery.app.map(millis),
                    total_ms: millis(delivery.total),
                    request_id: &delivery.request_id,
                    headers: delivery
                        .headers
                        .fields
                        .iter()
                        .map(|(name, value)| NameValue { name, value })
                        .collect(),
                    headers_omitted: delivery.headers.omitted,
                    body_preview: delivery.body_preview.as_deref(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
