//! The request path, in order: route → source policy → in-flight limit → size limit →
//! signature headers → body (hashed as it streams) → verdict → duplicate check → forward →
//! record. Every exit is an [`Outcome`] with its status, one metric and one log line.

use crate::config::{Config, Limits, Mode};
use crate::proxy::body::{self, BodyError};
use crate::proxy::dedupe::{Decision, Ticket};
use crate::proxy::request_id::{REQUEST_ID, RequestIds};
use crate::proxy::response::{self, ProxyBody};
use crate::proxy::routes::{ActiveRoute, RouteTable};
use crate::proxy::source::client_address;
use crate::proxy::upstream::{Admission, Upstream, UpstreamError, upstream_request};
use crate::signature::{Rejection, UnixSeconds};
use crate::telemetry::metrics::{Metrics, RouteMetrics};
use crate::telemetry::outcome::Outcome;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, Version, header};
use http_body::Body;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

/// What a reload can change without restarting listeners.
pub struct Settings {
    pub routes: RouteTable,
    pub upstream: Arc<Upstream>,
    pub limits: Limits,
    pub trusted_proxies: Vec<IpNet>,
}

impl Settings {
    /// Builds settings from `config`, reusing what `previous` had where nothing changed (the
    /// upstream connection pool, duplicate-suppression memory).
    pub fn new(config: &Config, metrics: &Metrics, previous: Option<&Settings>) -> Settings {
        let upstream = match previous {
            Some(old) if *old.upstream.config() == config.upstream => Arc::clone(&old.upstream),
            _ => Arc::new(Upstream::new(&config.upstream)),
        };
        Settings {
            routes: RouteTable::new(config, metrics, previous.map(|old| &old.routes)),
            upstream,
            limits: config.limits.clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
        }
    }
}

/// The verifying proxy: shared by every connection.
pub struct Proxy {
    settings: ArcSwap<Settings>,
    metrics: Arc<Metrics>,
    request_ids: RequestIds,
    draining: AtomicBool,
    clock: fn() -> UnixSeconds,
    /// Whether clients reach this proxy over TLS (HSTS on hookwall's own answers).
    tls: bool,
}

/// The wall clock in Unix seconds.
pub fn system_clock() -> UnixSeconds {
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
    fn refused(outcome: Outcome, response: Response<ProxyBody>, detail: impl Into<String>) -> Self {
        Handled {
            outcome,
            response,
            detail: Some(detail.into()),
        }
    }
}

impl Proxy {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Proxy {
        Proxy {
            settings: ArcSwap::from_pointee(Settings::new(config, &metrics, None)),
            metrics,
            request_ids: RequestIds::new(),
            draining: AtomicBool::new(false),
            clock: system_clock,
            tls: false,
        }
    }

    /// Marks the proxy as reached over TLS.
    pub fn with_tls(mut self, tls: bool) -> Proxy {
        self.tls = tls;
        self
    }

    /// Replaces the clock (tests of timestamped schemes).
    pub fn with_clock(mut self, clock: fn() -> UnixSeconds) -> Proxy {
        self.clock = clock;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Current settings; connection-level limits are read from here at accept time.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Swaps in settings from a new config; requests already running finish on the old ones.
    pub fn reload(&self, config: &Config) {
        let previous = self.settings.load_full();
        self.settings.store(Arc::new(Settings::new(
            config,
            &self.metrics,
            Some(&previous),
        )));
    }

    /// From now on HTTP/1 responses carry `Connection: close`, so senders move their pooled
    /// connections elsewhere while this process drains.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        // The gauge is the count: one atomic, read here and exported as is.
        self.metrics.in_flight.get().max(0) as usize
    }

    /// Handles one request from `peer`.
    pub async fn handle<B>(&self, request: Request<B>, peer: SocketAddr) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let _in_flight = InFlight::enter(self);
        let settings = self.settings.load_full();
        let (request_id, id_from_sender) = self.request_ids.for_request(request.headers());
        let version = request.version();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let route = settings.routes.find(&path).cloned();

        let mut handled = match &route {
            None => Handled::refused(
                Outcome::UnmatchedRoute,
                response::refusal(Outcome::UnmatchedRoute, "no route for this path", None),
                "no route for this path",
            ),
            Some(route) => {
                self.handle_routed(&settings, route, request, peer, &request_id, id_from_sender)
                    .await
            }
        };

        let metrics: &RouteMetrics = match &route {
            Some(route) => &route.metrics,
            None => &settings.routes.unmatched,
        };
        metrics.record(handled.outcome, started.elapsed());

        let route_name = route
            .as_ref()
            .map_or(crate::telemetry::metrics::UNMATCHED_ROUTE, |r| &r.name);
        let status = handled.response.status().as_u16();
        let request_id_text = request_id.to_str().unwrap_or("");
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &handled.detail {
            None => tracing::info!(
                target: "hookwall::request",
                request_id = request_id_text, route = route_name, outcome = handled.outcome.label(),
                status, method = method.as_str(), path = path.as_str(), peer = %peer, duration_ms,
                "request"
            ),
            Some(detail) => tracing::warn!(
                target: "hookwall::request",
                request_id = request_id_text, route = route_name, outcome = handled.outcome.label(),
                status, method = method.as_str(), path = path.as_str(), peer = %peer, duration_ms,
                detail = detail.as_str(),
                "request refused"
            ),
        }

        if !handled.outcome.reached_upstream() {
            // hookwall's own answers (the app's pass through untouched).
            let headers = handled.response.headers_mut();
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
            handled
                .response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        handled.response
    }

    async fn handle_routed<B>(
        &self,
        settings: &Settings,
        route: &Arc<ActiveRoute>,
        request: Request<B>,
        peer: SocketAddr,
        request_id: &HeaderValue,
        id_from_sender: bool,
    ) -> Handled
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limits = &settings.limits;
        let (mut parts, mut body) = request.into_parts();

        if parts.headers.len() > limits.max_headers {
            let response = response::refusal(
                Outcome::TooManyHeaders,
                "more header fields than limits.max_headers",
                None,
            );
            let detail = "more header fields than limits.max_headers";
            return refuse_unread(body, Outcome::TooManyHeaders, response, detail);
        }
        if let Some(problem) = framing_problem(&parts.headers) {
            let response = response::refusal(Outcome::InvalidRequest, problem, None);
            return refuse_unread(body, Outcome::InvalidRequest, response, problem);
        }

        if let Some(allowed) = &route.allow_sources {
            let client = client_address(peer.ip(), &parts.headers, &settings.trusted_proxies);
            if !allowed.iter().any(|net| net.contains(&client)) {
                let response =
                    response::refusal(Outcome::SourceDenied, "source address not allowed", None);
                let detail = format!("source {client} is not in allow_sources");
                return refuse_unread(body, Outcome::SourceDenied, response, detail);
            }
        }

        if self.in_flight() > limits.max_in_flight {
            let detail = "limits.max_in_flight reached";
            return refuse_unread(body, Outcome::Overloaded, response::overloaded(), detail);
        }

        let content_length = body.size_hint().exact();
        if content_length.is_some_and(|length| length > limits.max_body_bytes) {
            let response = response::too_large(limits.max_body_bytes);
            let detail = "Content-Length over limits.max_body_bytes";
            return refuse_unread(body, Outcome::BodyTooLarge, response, detail);
        }

        let now = (self.clock)();
        let mut shadow_verdict: Option<Rejection> = None;
        let mut verification = match route.verifier.begin(&parts.headers, now) {
            Ok(verification) => Some(verification),
            Err(rejection) if route.mode == Mode::Enforce => {
                let (outcome, response) = signature_refusal(route, &rejection);
                return refuse_unread(body, outcome, response, rejection.to_string());
            }
            Err(rejection) => {
                shadow_verdict = Some(rejection);
                None
            }
        };

        let reading = body::read_limited(
            &mut body,
            content_length,
            limits.max_body_bytes,
            verification.as_mut(),
        );
        let body = match tokio::time::timeout(limits.body_read_timeout, reading).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(BodyError::TooLarge)) => {
                let response = response::too_large(limits.max_body_bytes);
                let detail = "body over limits.max_body_bytes";
                return refuse_unread(body, Outcome::BodyTooLarge, response, detail);
            }
            Ok(Err(err @ BodyError::Incomplete(_))) => {
                let response = response::refusal(
                    Outcome::BodyIncomplete,
                    "the request body was incomplete",
                    None,
                );
                return refuse_unread(body, Outcome::BodyIncomplete, response, err.to_string());
            }
            Err(_) => {
                let response = response::refusal(
                    Outcome::BodyTimeout,
                    "the request body did not arrive in time",
                    None,
                );
                let detail = "limits.body_read_timeout passed";
                return refuse_unread(body, Outcome::BodyTimeout, response, detail);
            }
        };

        let verdict = verification.map(|verification| verification.finish());
        let (admission, ticket) = match verdict {
            Some(Ok(verified)) => {
                let ticket = match &route.dedupe {
                    None => None,
                    Some(store) => match store.check(verified.identity().clone(), Instant::now()) {
                        Decision::Forward(ticket) => Some(ticket),
                        Decision::Duplicate => {
                            return Handled {
                                outcome: Outcome::Duplicate,
                                response: response::duplicate(),
                                detail: None,
                            };
                        }
                        Decision::InFlight => {
                            return Handled::refused(
                                Outcome::DuplicateInFlight,
                                response::duplicate_in_flight(),
                                "the same delivery is being forwarded now",
                            );
                        }
                    },
                };
                (Admission::Verified(verified), ticket)
            }
            Some(Err(rejection)) if route.mode == Mode::Enforce => {
                let (outcome, response) = signature_refusal(route, &rejection);
                return Handled::refused(outcome, response, rejection.to_string());
            }
            Some(Err(rejection)) => {
                shadow_verdict = Some(rejection);
                (Admission::Shadow, None)
            }
            None => (Admission::Shadow, None),
        };

        if let Some(rejection) = &shadow_verdict {
            route
                .metrics
                .record_shadow_verdict(Outcome::from(rejection.kind()));
        }
        if !id_from_sender {
            parts.headers.insert(&REQUEST_ID, request_id.clone());
        }
        self.forward(
            settings,
            route,
            parts,
            body,
            admission,
            ticket,
            shadow_verdict,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        settings: &Settings,
        route: &ActiveRoute,
        parts: http::request::Parts,
        body: Bytes,
        admission: Admission,
        ticket: Option<Ticket>,
        shadow_verdict: Option<Rejection>,
    ) -> Handled {
        let upstream = settings.upstream.client();
        let request = upstream_request(parts, body, admission);
        let started = Instant::now();
        match upstream.send(request).await {
            Ok(upstream_response) => {
                route
                    .metrics
                    .record_upstream(upstream_response.status(), started.elapsed());
                if let Some(ticket) = ticket
                    && upstream_response.status().is_success()
                {
                    ticket.delivered(Instant::now());
                }
                let (outcome, detail) = match shadow_verdict {
                    None => (Outcome::Forwarded, None),
                    Some(rejection) => (
                        Outcome::ShadowForwarded,
                        Some(format!("shadow mode, forwarded although {rejection}")),
                    ),
                };
                Handled {
                    outcome,
                    response: upstream_response.map(ProxyBody::Upstream),
                    detail,
                }
            }
            Err(err @ UpstreamError::Unavailable(_)) => Handled::refused(
                Outcome::UpstreamUnavailable,
                response::refusal(
                    Outcome::UpstreamUnavailable,
                    "the upstream could not be reached",
                    None,
                ),
                err.to_string(),
            ),
            Err(err @ UpstreamError::TimedOut(_)) => Handled::refused(
                Outcome::UpstreamTimeout,
                response::refusal(
                    Outcome::UpstreamTimeout,
                    "the upstream did not answer in time",
                    None,
                ),
                err.to_string(),
            ),
        }
    }
}

/// HTTP/1 framing hookwall refuses rather than guesses at: a transfer coding other than
/// `chunked` (hyper decodes only chunked, so a `gzip, chunked` body would reach the signature
/// check and the app still gzipped).
///
/// Content-Length together with Transfer-Encoding, the classic smuggling shape, never gets
/// here: hyper handles it as RFC 9112 §6.3 tells an intermediary to — drops Content-Length,
/// decodes the chunked body, and closes the connection after the response, so bytes hidden
/// behind the chunked body can never be read as a second request.
fn framing_problem(headers: &http::HeaderMap) -> Option<&'static str> {
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    codings.peek()?;
    let only_chunked = codings
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .all(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
    (!only_chunked).then_some("a transfer coding other than chunked")
}

fn signature_refusal(route: &ActiveRoute, rejection: &Rejection) -> (Outcome, Response<ProxyBody>) {
    let outcome = Outcome::from(rejection.kind());
    (
        outcome,
        response::unauthorized(route.verifier.scheme(), rejection),
    )
}

/// Refuses a request whose body is not (fully) read: the rest is discarded in the background
/// and an HTTP/1 connection is closed after the answer, since the next request's start
/// cannot be found in the middle of a body.
fn refuse_unread<B>(
    body: B,
    outcome: Outcome,
    mut response: Response<ProxyBody>,
    detail: impl Into<String>,
) -> Handled
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    if !body.is_end_stream() {
        response::close_connection(&mut response);
        body::discard_in_background(body);
    }
    Handled::refused(outcome, response, detail)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::try_from(*name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn transfer_codings_other_than_chunked_are_framing_problems() {
        let bad = [
            vec![("transfer-encoding", "gzip, chunked")],
            vec![("transfer-encoding", "identity")],
            vec![
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "gzip"),
            ],
        ];
        for case in bad {
            assert!(framing_problem(&headers(&case)).is_some(), "{case:?}");
        }
        for good in [
            vec![("content-length", "2")],
            vec![("transfer-encoding", "chunked")],
            vec![("transfer-encoding", "Chunked")],
            vec![],
        ] {
            assert!(framing_problem(&headers(&good)).is_none(), "{good:?}");
        }
    }
}
