//! The request path's checks, one small function per phase, in the order `Proxy::handle`
//! runs them:
//!
//! 1. [`route`]: the route for the path as the app may read it;
//! 2. [`check_request`]: header count, framing, Host;
//! 3. [`check_method`]: CONNECT and TRACE never, else the route's `methods`;
//! 4. [`check_source`]: the route's source allowlist;
//! 5. read and verify (`Proxy::read_and_verify`: it holds a capacity slot while reading);
//! 6. [`check_duplicate`]: the route's duplicate suppression;
//! 7. forward (`Proxy::forward`), then record.
//!
//! Each returns `Result<_, Refusal>`; none builds a response.

use crate::config::Limits;
use crate::net::wire::HeadOnWire;
use crate::proxy::body::BodyError;
use crate::proxy::dedupe::{Decision, Ticket};
use crate::proxy::refusal::Refusal;
use crate::proxy::routes::{ActiveRoute, RouteTable};
use crate::proxy::source::client_address;
use crate::proxy::target::host_problem;
use crate::proxy::upstream::UpstreamError;
use crate::signature::{Rejection, Verified};
use crate::telemetry::outcome::Outcome;
use bytes::Bytes;
use http::header;
use http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// Why a request may go to the app. Only `Proxy::read_and_verify` makes one, and only a
/// [`Forward`] built from one reaches the upstream.
pub(crate) enum Admission {
    /// The signature verified; it names the delivery for duplicate suppression.
    Verified(Verified),
    /// The route is in shadow mode and the signature failed for this reason.
    Shadow(Rejection),
}

/// A request on its way to the app: admitted, with its body read and its duplicate claim
/// (if the route suppresses duplicates) held.
pub(crate) struct Forward {
    pub(crate) parts: Parts,
    pub(crate) body: Bytes,
    pub(crate) admission: Admission,
    pub(crate) ticket: Option<Ticket>,
}

/// 2. What hookwall refuses in any request: more header fields than `limits.max_headers`
///    (HTTP/2; hyper refuses HTTP/1 ones), framing it will not guess at, a bad Host.
pub(crate) fn check_request(
    parts: &Parts,
    limits: &Limits,
    head_on_wire: Option<HeadOnWire>,
) -> Result<(), Refusal> {
    if parts.headers.len() > limits.max_headers {
        return Err(Refusal::new(
            Outcome::TooManyHeaders,
            "more header fields than limits.max_headers",
        ));
    }
    if let Some(problem) = framing_problem(&parts.headers, head_on_wire) {
        return Err(Refusal::new(Outcome::InvalidRequest, problem));
    }
    if let Some(problem) = host_problem(parts.version, &parts.uri, &parts.headers) {
        return Err(Refusal::new(Outcome::InvalidRequest, problem));
    }
    Ok(())
}

/// HTTP/1 framing hookwall refuses rather than guesses at:
/// - a transfer coding other than `chunked` (hyper decodes only chunked, so a
///   `gzip, chunked` body would reach the signature check and the app still gzipped);
/// - Content-Length beside Transfer-Encoding, the classic smuggling shape, which hyper
///   resolves safely but silently; refused outright, as nginx and Envoy do. hyper drops
///   the Content-Length, so this is known from the head as it was on the wire
///   ([`HeadOnWire`]); a chunked request whose head could not be followed is refused too.
fn framing_problem(
    headers: &http::HeaderMap,
    head_on_wire: Option<HeadOnWire>,
) -> Option<&'static str> {
    if let Some(HeadOnWire::Seen {
        length_and_transfer_encoding: true,
    }) = head_on_wire
    {
        return Some("Content-Length together with Transfer-Encoding");
    }
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    codings.peek()?;
    if head_on_wire == Some(HeadOnWire::Unknown) {
        return Some("a chunked request whose framing could not be checked");
    }
    let only_chunked = codings
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .all(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
    (!only_chunked).then_some("a transfer coding other than chunked")
}

/// 1. The route for `path`, or 404; a path the app could resolve outside its route is 400.
pub(crate) fn route(routes: &RouteTable, path: &str) -> Result<Arc<ActiveRoute>, Refusal> {
    match routes.find(path) {
        Ok(Some(route)) => Ok(Arc::clone(route)),
        Ok(None) => Err(Refusal::new(
            Outcome::UnmatchedRoute,
            "no route for this path",
        )),
        Err(problem) => Err(Refusal::new(Outcome::InvalidRequest, problem)),
    }
}

/// 3. CONNECT and TRACE are never forwarded; a route with `methods` takes only those.
pub(crate) fn check_method(route: &ActiveRoute, method: &http::Method) -> Result<(), Refusal> {
    if route.takes(method) {
        Ok(())
    } else {
        Err(Refusal::method_not_allowed(method, &route.allow_header))
    }
}

/// 4. The client's address (the peer, or behind a trusted proxy what it forwarded for),
///    refused with 403 when the route has an allowlist that does not hold it.
pub(crate) fn check_source(
    route: &ActiveRoute,
    peer: SocketAddr,
    headers: &http::HeaderMap,
    trusted_proxies: &[IpNet],
) -> Result<IpAddr, Refusal> {
    let client = client_address(peer.ip(), headers, trusted_proxies);
    match &route.allow_sources {
        Some(allowed) if !allowed.iter().any(|net| net.contains(&client)) => Err(Refusal::new(
            Outcome::SourceDenied,
            "source address not allowed",
        )
        .detail(format!("source {client} is not in allow_sources"))),
        _ => Ok(client),
    }
}

/// 5. (part) What a failed body read is refused with.
pub(crate) fn body_refusal(error: BodyError, limit: u64) -> Refusal {
    match error {
        BodyError::TooLarge => Refusal::new(
            Outcome::BodyTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
        .detail("body over limits.max_body_bytes"),
        BodyError::Incomplete(_) => {
            Refusal::new(Outcome::BodyIncomplete, "the request body was incomplete")
                .detail(error.to_string())
        }
        BodyError::TimedOut | BodyError::TooSlow => Refusal::new(
            Outcome::BodyTimeout,
            "the request body did not arrive in time",
        )
        .detail(error.to_string()),
    }
}

/// 6. A verified delivery already forwarded within the route's window is answered 200 and
///    not forwarded again; one being forwarded right now is 409. Otherwise the claim is held
///    until the app answers.
pub(crate) async fn check_duplicate(
    route: &ActiveRoute,
    admission: &Admission,
) -> Result<Option<Ticket>, Refusal> {
    let (Some(store), Admission::Verified(verified)) = (&route.dedupe, admission) else {
        return Ok(None);
    };
    match store.check(verified.identity(), Instant::now()).await {
        Decision::Forward(ticket) => Ok(Some(ticket)),
        Decision::Duplicate => Err(Refusal::new(
            Outcome::Duplicate,
            "already delivered within the dedupe window; not forwarded again",
        )),
        Decision::InFlight => Err(Refusal::new(
            Outcome::DuplicateInFlight,
            "the same delivery is being forwarded now; retry later",
        )),
        Decision::Unavailable => Err(Refusal::new(
            Outcome::DedupeUnavailable,
            "duplicate suppression is unavailable; retry later",
        )
        .detail("the dedupe store did not answer (dedupe.on_error = \"refuse\")")),
    }
}

/// 7. (part) What a failed forward is refused with.
pub(crate) fn upstream_refusal(error: UpstreamError) -> Refusal {
    let (outcome, message) = match &error {
        UpstreamError::Unavailable(_) => (
            Outcome::UpstreamUnavailable,
            "the upstream could not be reached",
        ),
        UpstreamError::TimedOut(_) => (
            Outcome::UpstreamTimeout,
            "the upstream did not answer in time",
        ),
        UpstreamError::BadResponse(_) => (
            Outcome::UpstreamBadResponse,
            "the upstream's answer could not be passed on",
        ),
    };
    Refusal::new(outcome, message).detail(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

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
            assert!(framing_problem(&headers(&case), None).is_some(), "{case:?}");
        }
        for good in [
            vec![("content-length", "2")],
            vec![("transfer-encoding", "chunked")],
            vec![("transfer-encoding", "Chunked")],
            vec![],
        ] {
            assert!(framing_problem(&headers(&good), None).is_none(), "{good:?}");
        }
    }

    #[test]
    fn length_beside_transfer_encoding_on_the_wire_is_a_framing_problem() {
        let chunked = headers(&[("transfer-encoding", "chunked")]);
        let both = HeadOnWire::Seen {
            length_and_transfer_encoding: true,
        };
        let clean = HeadOnWire::Seen {
            length_and_transfer_encoding: false,
        };
        assert!(framing_problem(&chunked, Some(both)).is_some());
        assert!(framing_problem(&chunked, Some(clean)).is_none());
        assert!(framing_problem(&chunked, Some(HeadOnWire::Unknown)).is_some());
        // Without a transfer coding, an unfollowed head changes nothing.
        assert!(framing_problem(&headers(&[]), Some(HeadOnWire::Unknown)).is_none());
    }
}
