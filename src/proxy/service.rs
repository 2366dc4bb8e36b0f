//! The proxy: every request goes through the phases in `phases.rs` in order —
//! check the request → route → method → source → read and verify → duplicate check →
//! forward — and is recorded once (metric and log line). A refusal from any phase becomes a
//! response only in `Refusal::into_response`.

use crate::config::{Config, Limits, Mode};
use crate::net::client::{ClientConnection, Handler};
use crate::net::wire::HeadOnWire;
use crate::proxy::body::{self, BodyError, Pace};
use crate::proxy::capacity::Capacity;
use crate::proxy::dedupe::metrics::DedupeMetrics;
use crate::proxy::phases::{self, Admission, Forward};
use crate::proxy::refusal::Refusal;
use crate::proxy::request_id::{REQUEST_ID, RequestIds};
use crate::proxy::request_metrics::RequestMetrics;
use crate::proxy::response::{ProxyBody, close_connection};
use crate::proxy::routes::{ActiveRoute, RouteTable};
use crate::proxy::upstream::{Upstream, upstream_request};
use crate::signature::{Rejection, RequestHead, UnixSeconds, Verification, handshake};
use crate::telemetry::deliveries::{Arrival, Deliveries, Ending, Measured};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::outcome::Outcome;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, Version, header};
use http_body::Body;
use ipnet::IpNet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

/// What a reload can change without restarting listeners.
pub(crate) struct Settings {
    pub(crate) routes: RouteTable,
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) limits: Limits,
    pub(crate) trusted_proxies: Vec<IpNet>,
}

impl Settings {
    /// Builds settings from `config`, reusing what `previous` had where nothing changed (the
    /// upstream connection pool, duplicate-suppression memory).
    pub fn new(
        config: &Config,
        metrics: &RequestMetrics,
        dedupe_metrics: &DedupeMetrics,
        previous: Option<&Settings>,
    ) -> Settings {
        let upstream = match previous {
            Some(old) if *old.upstream.config() == config.upstream => Arc::clone(&old.upstream),
            _ => Arc::new(Upstream::new(&config.upstream)),
        };
        Settings {
            routes: RouteTable::new(
                config,
                metrics,
                dedupe_metrics,
                previous.map(|old| &old.routes),
            ),
            upstream,
            limits: config.limits.clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
        }
    }
}

/// The verifying proxy: shared by every connection.
pub struct Proxy {
    settings: ArcSwap<Settings>,
    /// Registered once; every reload's route table takes its series from these.
    metrics: RequestMetrics,
    dedupe_metrics: DedupeMetrics,
    capacity: Capacity,
    request_ids: RequestIds,
    draining: AtomicBool,
    clock: fn() -> UnixSeconds,
    /// Whether clients reach this proxy over TLS (HSTS on hookwall's own answers).
    tls: bool,
    /// The recent deliveries the admin page shows.
    deliveries: Arc<Deliveries>,
}

/// The wall clock in Unix seconds.
pub(crate) fn system_clock() -> UnixSeconds {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// How one request ended, for the metric and the log line.
struct Handled {
    outcome: Outcome,
    response: Response<ProxyBody>,
    /// Why it was refused, for the log (never a secret, signature or body).
    detail: Option<String>,
}

impl Handled {
    /// A provider's endpoint handshake, answered here (see `signature::handshake`).
    fn handshake(answer: handshake::Answer) -> Handled {
        Handled {
            outcome: Outcome::Handshake,
            response: crate::proxy::response::handshake(answer),
            detail: None,
        }
    }

    /// A refusal's response. A body not read to its end is discarded in the background
    /// (within the lingering bounds), so the sender can finish writing and read the answer
    /// (an HTTP/2 stream dropped early is reset, which clients report as an error instead
    /// of showing the response); an HTTP/1 connection is closed after it, since the next
    /// request's start cannot be found in the middle of a body.
    fn refused<B>(refusal: Refusal, body: B) -> Handled
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
    {
        let outcome = refusal.outcome;
        let detail = refusal.log_detail().to_string();
        let mut response = refusal.into_response();
        if !body.is_end_stream() {
            close_connection(&mut response);
            body::discard_in_background(body);
        }
        Handled {
            outcome,
            response,
            detail: Some(detail),
        }
    }
}

impl Handler for Proxy {
    type Body = ProxyBody;

    fn handle(
        &self,
        request: Request<hyper::body::Incoming>,
    ) -> impl Future<Output = Response<ProxyBody>> + Send {
        let peer = request
            .extensions()
            .get::<Arc<ClientConnection>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |connection| {
                connection.peer
            });
        Proxy::handle(self, request, peer)
    }

    fn limits(&self) -> Limits {
        self.settings().limits.clone()
    }
}

impl Proxy {
    /// Builds the proxy for `config`, registering its metrics in `metrics`.
    pub fn new(config: &Config, metrics: &Metrics) -> Proxy {
        let request_metrics = RequestMetrics::new(metrics);
        let dedupe_metrics = DedupeMetrics::new(metrics);
        Proxy {
            settings: ArcSwap::from_pointee(Settings::new(
                config,
                &request_metrics,
                &dedupe_metrics,
                None,
            )),
            capacity: Capacity::new(metrics),
            metrics: request_metrics,
            dedupe_metrics,
            request_ids: RequestIds::new(),
            draining: AtomicBool::new(false),
            clock: system_clock,
            tls: false,
            deliveries: Arc::new(Deliveries::new(
                config.admin.deliveries,
                config.admin.delivery_body_preview,
            )),
        }
    }

    /// The recent deliveries ring (read by the admin listener).
    pub fn deliveries(&self) -> &Arc<Deliveries> {
        &self.deliveries
    }

    /// Marks the proxy as reached over TLS.
    pub(crate) fn with_tls(mut self, tls: bool) -> Proxy {
        self.tls = tls;
        self
    }

    /// Current settings; connection-level limits are read from here at accept time.
    pub(crate) fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Swaps in settings from a new config; requests already running finish on the old ones.
    pub(crate) fn reload(&self, config: &Config) {
        let previous = self.settings.load_full();
        self.settings.store(Arc::new(Settings::new(
            config,
            &self.metrics,
            &self.dedupe_metrics,
            Some(&previous),
        )));
    }

    /// From now on HTTP/1 responses carry `Connection: close`, so senders move their pooled
    /// connections elsewhere while this process drains.
    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        // The gauge is the count: one atomic, read here and exported as is.
        self.metrics.in_flight.get().max(0) as usize
    }

    /// Handles one request from `peer`: the phases in order (see `phases`), then the record.
    pub async fn handle<B>(&self, request: Request<B>, peer: SocketAddr) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let _in_flight = InFlight::enter(self);
        let settings = self.settings.load_full();
        let (request_id, id_from_sender) = self.request_ids.for_request(request.headers());
        let connection = request.extensions().get::<Arc<ClientConnection>>().cloned();
        let head_on_wire = request.extensions().get::<HeadOnWire>().copied();
        let (parts, mut body) = request.into_parts();
        let summary = Summary {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            version: parts.version,
        };

        let routed = phases::route(&settings.routes, parts.uri.path());
        let signature_header = routed
            .as_ref()
            .ok()
            .map(|route| route.verifier.scheme().signature_header());
        let arrival = self.deliveries.arrival(
            &parts.method,
            &summary.path,
            &parts.headers,
            signature_header.as_ref(),
        );
        let mut measured = Measured::default();

        let (route, result) = match routed {
            Err(refusal) => (None, Err(refusal)),
            Ok(route) => {
                let request = Head {
                    parts,
                    head_on_wire,
                    peer,
                    connection: connection.as_deref(),
                    add_request_id: (!id_from_sender).then_some(&request_id),
                };
                let result = self
                    .routed(&settings, &route, request, &mut body, &mut measured)
                    .await;
                (Some(route), result)
            }
        };
        let handled = match result {
            Ok(handled) => handled,
            Err(refusal) => Handled::refused(refusal, body),
        };
        self.record(
            &settings,
            route.as_deref(),
            &handled,
            &summary,
            &request_id,
            peer,
            started,
        );
        if let Some(arrival) = arrival {
            self.record_delivery(
                arrival,
                measured,
                route.as_deref(),
                &handled,
                &request_id,
                peer,
                started,
            );
        }
        self.finish(handled, request_id, summary.version)
    }

    /// The phases after routing, in order.
    async fn routed<B>(
        &self,
        settings: &Settings,
        route: &ActiveRoute,
        request: Head<'_>,
        body: &mut B,
        measured: &mut Measured,
    ) -> Result<Handled, Refusal>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Head {
            mut parts,
            head_on_wire,
            peer,
            connection,
            add_request_id,
        } = request;
        phases::check_request(&parts, &settings.limits, head_on_wire)?;
        phases::check_method(route, &parts.method)?;
        let client = phases::check_source(route, peer, &parts.headers, &settings.trusted_proxies)?;
        // Handshakes that carry no signature by design (and no body) are answered here.
        if body.is_end_stream()
            && let Some(answer) =
                handshake::before_verification(&route.verifier, RequestHead::of(&parts))
        {
            return Ok(Handled::handshake(answer));
        }
        let (bytes, admission) = self
            .read_and_verify(settings, route, &parts, body, client, connection, measured)
            .await?;
        if let Admission::Verified(_) = &admission
            && let Some(answer) =
                handshake::after_verification(&route.verifier, RequestHead::of(&parts), &bytes)
        {
            return Ok(Handled::handshake(answer));
        }
        let ticket = phases::check_duplicate(route, &admission).await?;
        let _slot = self.capacity.forward(&settings.limits)?;
        if let Some(request_id) = add_request_id {
            parts.headers.insert(&REQUEST_ID, request_id.clone());
        }
        let forward = Forward {
            parts,
            body: bytes,
            admission,
            ticket,
        };
        self.forward(settings, route, forward, measured).await
    }

    /// 5. Reads the body under the route's limits, hashing it as it arrives, and decides:
    ///    verified, or (shadow mode only) forwarded regardless. The read holds an unverified
    ///    slot, so slow senders of forgeries take only their share (see `capacity`).
    #[allow(clippy::too_many_arguments)]
    async fn read_and_verify<B>(
        &self,
        settings: &Settings,
        route: &ActiveRoute,
        parts: &http::request::Parts,
        body: &mut B,
        client: IpAddr,
        connection: Option<&ClientConnection>,
        measured: &mut Measured,
    ) -> Result<(Bytes, Admission), Refusal>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limits = &settings.limits;
        let content_length = body.size_hint().exact();
        if content_length.is_some_and(|length| length > limits.max_body_bytes) {
            return Err(
                phases::body_refusal(BodyError::TooLarge, limits.max_body_bytes)
                    .detail("Content-Length over limits.max_body_bytes"),
            );
        }
        let _slot = self.capacity.read_unverified(limits, client, connection)?;
        let now = (self.clock)();
        let verifying = Instant::now();
        let signature_refusal =
            |rejection: &Rejection| Refusal::signature(route.verifier.scheme(), rejection);
        // A signature refused before the body (missing, malformed, stale) ends an enforcing
        // route here; a shadow route reads the body anyway and forwards it.
        let mut verification = match route.verifier.begin_request(RequestHead::of(parts), now) {
            Err(rejection) if route.mode == Mode::Enforce => {
                return Err(signature_refusal(&rejection));
            }
            begun => begun,
        };
        let pace = Pace {
            started: tokio::time::Instant::now(),
            timeout: limits.body_read_timeout,
            grace: limits.body_rate_grace,
            min_rate: limits.min_body_rate,
        };
        let bytes = body::read_limited(
            body,
            content_length,
            limits.max_body_bytes,
            verification.as_mut().ok(),
            pace,
        )
        .await
        .map_err(|error| phases::body_refusal(error, limits.max_body_bytes))?;
        let verdict = verification.and_then(Verification::finish);
        measured.verify = Some(verifying.elapsed());
        measured.body_bytes = Some(bytes.len() as u64);
        measured.body_preview = self.deliveries.preview(&bytes);
        let admission = match verdict {
            Ok(verified) => Admission::Verified(verified),
            Err(rejection) if route.mode == Mode::Enforce => {
                return Err(signature_refusal(&rejection));
            }
            Err(rejection) => Admission::Shadow(rejection),
        };
        Ok((bytes, admission))
    }

    /// 7. Sends an admitted request to the app once, and passes its answer back unchanged.
    async fn forward(
        &self,
        settings: &Settings,
        route: &ActiveRoute,
        forward: Forward,
        measured: &mut Measured,
    ) -> Result<Handled, Refusal> {
        let Forward {
            parts,
            body,
            admission,
            ticket,
        } = forward;
        let (outcome, detail) = match &admission {
            Admission::Verified(_) => (Outcome::Forwarded, None),
            Admission::Shadow(rejection) => {
                route
                    .metrics
                    .record_shadow_verdict(Outcome::from(rejection.kind()));
                (
                    Outcome::ShadowForwarded,
                    Some(format!("shadow mode, forwarded although {rejection}")),
                )
            }
        };
        let started = Instant::now();
        let sent = settings
            .upstream
            .client()
            .send(upstream_request(parts, body))
            .await;
        measured.app = Some(started.elapsed());
        let response = sent.map_err(phases::upstream_refusal)?;
        route
            .metrics
            .record_upstream(response.status(), started.elapsed());
        if let Some(ticket) = ticket
            && response.status().is_success()
        {
            ticket.delivered(Instant::now()).await;
        }
        Ok(Handled {
            outcome,
            response: response.map(ProxyBody::Upstream),
            detail,
        })
    }

    /// The request's metric and its one log line (never a secret, signature or body).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        settings: &Settings,
        route: Option<&ActiveRoute>,
        handled: &Handled,
        summary: &Summary,
        request_id: &HeaderValue,
        peer: SocketAddr,
        started: Instant,
    ) {
        let elapsed = started.elapsed();
        let metrics = route.map_or(&settings.routes.unmatched, |route| &route.metrics);
        metrics.record(handled.outcome, elapsed);

        let route_name = route.map_or(crate::config::UNMATCHED_ROUTE, |r| &r.name);
        let status = handled.response.status().as_u16();
        let request_id = request_id.to_str().unwrap_or("");
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let (method, path) = (summary.method.as_str(), summary.path.as_str());
        let outcome = handled.outcome.label();
        match &handled.detail {
            None => tracing::info!(
                target: "hookwall::request",
                request_id, route = route_name, outcome, status, method, path, peer = %peer,
                duration_ms, "request"
            ),
            Some(detail) if handled.outcome == Outcome::Duplicate => tracing::info!(
                target: "hookwall::request",
                request_id, route = route_name, outcome, status, method, path, peer = %peer,
                duration_ms, detail = detail.as_str(), "request"
            ),
            Some(detail) => tracing::warn!(
                target: "hookwall::request",
                request_id, route = route_name, outcome, status, method, path, peer = %peer,
                duration_ms, detail = detail.as_str(), "request refused"
            ),
        }
    }

    /// The request in the recent deliveries ring (`[admin] deliveries`).
    #[allow(clippy::too_many_arguments)]
    fn record_delivery(
        &self,
        arrival: Arrival,
        measured: Measured,
        route: Option<&ActiveRoute>,
        handled: &Handled,
        request_id: &HeaderValue,
        peer: SocketAddr,
        started: Instant,
    ) {
        let ending = Ending {
            route: route.map_or(crate::config::UNMATCHED_ROUTE, |r| &r.name),
            outcome: handled.outcome,
            reason: handled.detail.as_deref(),
            status: handled.response.status().as_u16(),
            source: peer,
            request_id: request_id.to_str().unwrap_or(""),
            total: started.elapsed(),
        };
        self.deliveries.record(arrival, measured, ending);
    }

    /// hookwall's own answers get its headers (the app's pass through untouched); while
    /// draining, HTTP/1 answers ask the sender to reconnect elsewhere.
    fn finish(
        &self,
        handled: Handled,
        request_id: HeaderValue,
        version: Version,
    ) -> Response<ProxyBody> {
        let mut response = handled.response;
        if !handled.outcome.reached_upstream() {
            let headers = response.headers_mut();
            headers.insert(&REQUEST_ID, request_id);
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if self.tls {
                headers.insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                );
            }
        }
        if self.is_draining() && version <= Version::HTTP_11 {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A request's head and where it came from, as the phases after routing take it.
struct Head<'a> {
    parts: http::request::Parts,
    head_on_wire: Option<HeadOnWire>,
    peer: SocketAddr,
    connection: Option<&'a ClientConnection>,
    /// The request id to add for the app, when the sender sent none.
    add_request_id: Option<&'a HeaderValue>,
}

/// What the log line says about the request itself.
struct Summary {
    method: http::Method,
    path: String,
    version: Version,
}

/// Counts a request as in flight for as long as it is alive (also when the sender goes away
/// and the request's future is dropped).
struct InFlight<'a> {
    proxy: &'a Proxy,
}

impl<'a> InFlight<'a> {
    fn enter(proxy: &'a Proxy) -> InFlight<'a> {
        proxy.metrics.in_flight.inc();
        InFlight { proxy }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.proxy.metrics.in_flight.dec();
    }
}
