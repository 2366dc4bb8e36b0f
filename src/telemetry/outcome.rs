//! The one place that maps what happened to a request to its HTTP status and metric label.

use crate::signature::RejectionKind;
use http::StatusCode;

/// How a request ended. Each value is one `outcome` label of `hookwall_requests_total`.
/// Declared in the order of [`Outcome::ALL`], so the discriminant is the array index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The upstream received the request and answered, whatever its status.
    Forwarded,
    /// No signature header: 401.
    MissingSignature,
    /// A signature that cannot be read: 401.
    MalformedSignature,
    /// A signature that does not match: 401.
    BadSignature,
    /// A timestamp outside the tolerance: 401.
    StaleTimestamp,
    /// The body exceeds `limits.max_body_bytes`: 413.
    BodyTooLarge,
    /// No route's path matches: 404.
    UnmatchedRoute,
    /// The app could not be reached: 502.
    UpstreamUnavailable,
    /// The app did not answer within `upstream.timeout`: 504.
    UpstreamTimeout,
    /// The sender stopped sending before the body was complete (or sent a broken one).
    BodyIncomplete,
    /// The body did not arrive within `limits.body_read_timeout`.
    BodyTimeout,
    /// `limits.max_in_flight` requests were already being handled.
    Overloaded,
    /// The client's address is outside `allow_sources`: 403.
    SourceDenied,
    /// Already delivered within the dedupe window: answered 200, not forwarded.
    Duplicate,
    /// The same delivery is being forwarded right now: 409 so the sender retries later.
    DuplicateInFlight,
    /// Shadow mode: the signature failed but the request was forwarded anyway.
    ShadowForwarded,
    /// A request hookwall will not pass on: ambiguous framing (a transfer coding other than
    /// chunked, Content-Length beside Transfer-Encoding), a path the app could resolve
    /// outside its route, a missing, repeated or invalid Host.
    InvalidRequest,
    /// More header fields than `limits.max_headers` (HTTP/2; hyper refuses HTTP/1 ones).
    TooManyHeaders,
    /// CONNECT, TRACE, or a method outside the route's `methods`.
    MethodNotAllowed,
    /// The app answered with something hookwall will not pass on (an unasked `101`).
    UpstreamBadResponse,
    /// The shared dedupe store did not answer and `dedupe.on_error = "refuse"`: 503.
    DedupeUnavailable,
    /// An endpoint handshake (Graph validationToken, Zoom url_validation, Slack
    /// url_verification, Discord PING, Twitch challenge) answered by hookwall itself.
    Handshake,
}

impl Outcome {
    pub(crate) const ALL: [Outcome; 22] = [
        Outcome::Forwarded,
        Outcome::MissingSignature,
        Outcome::MalformedSignature,
        Outcome::BadSignature,
        Outcome::StaleTimestamp,
        Outcome::BodyTooLarge,
        Outcome::UnmatchedRoute,
        Outcome::UpstreamUnavailable,
        Outcome::UpstreamTimeout,
        Outcome::BodyIncomplete,
        Outcome::BodyTimeout,
        Outcome::Overloaded,
        Outcome::SourceDenied,
        Outcome::Duplicate,
        Outcome::DuplicateInFlight,
        Outcome::ShadowForwarded,
        Outcome::InvalidRequest,
        Outcome::TooManyHeaders,
        Outcome::MethodNotAllowed,
        Outcome::UpstreamBadResponse,
        Outcome::DedupeUnavailable,
        Outcome::Handshake,
    ];

    /// The metric label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::MissingSignature => "missing_signature",
            Outcome::MalformedSignature => "malformed_signature",
            Outcome::BadSignature => "bad_signature",
            Outcome::StaleTimestamp => "stale_timestamp",
            Outcome::BodyTooLarge => "body_too_large",
            Outcome::UnmatchedRoute => "unmatched_route",
            Outcome::UpstreamUnavailable => "upstream_unavailable",
            Outcome::UpstreamTimeout => "upstream_timeout",
            Outcome::BodyIncomplete => "body_incomplete",
            Outcome::BodyTimeout => "body_timeout",
            Outcome::Overloaded => "overloaded",
            Outcome::SourceDenied => "source_denied",
            Outcome::Duplicate => "duplicate",
            Outcome::DuplicateInFlight => "duplicate_in_flight",
            Outcome::ShadowForwarded => "shadow_forwarded",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::TooManyHeaders => "too_many_headers",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::UpstreamBadResponse => "upstream_bad_response",
            Outcome::DedupeUnavailable => "dedupe_unavailable",
            Outcome::Handshake => "handshake",
        }
    }

    /// The status hookwall answers with. For forwarded requests the upstream's status is
    /// passed through instead, so this is only what hookwall itself would say.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Outcome::Forwarded
            | Outcome::ShadowForwarded
            | Outcome::Duplicate
            | Outcome::Handshake => StatusCode::OK,
            Outcome::MissingSignature
            | Outcome::MalformedSignature
            | Outcome::BadSignature
            | Outcome::StaleTimestamp => StatusCode::UNAUTHORIZED,
            Outcome::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::UnmatchedRoute => StatusCode::NOT_FOUND,
            Outcome::UpstreamUnavailable | Outcome::UpstreamBadResponse => StatusCode::BAD_GATEWAY,
            Outcome::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Outcome::BodyIncomplete | Outcome::InvalidRequest => StatusCode::BAD_REQUEST,
            Outcome::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Outcome::Overloaded | Outcome::DedupeUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::SourceDenied => StatusCode::FORBIDDEN,
            Outcome::DuplicateInFlight => StatusCode::CONFLICT,
            Outcome::TooManyHeaders => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Outcome::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// Whether the request reached the upstream.
    pub(crate) fn reached_upstream(self) -> bool {
        matches!(self, Outcome::Forwarded | Outcome::ShadowForwarded)
    }

    /// A position in [`Outcome::ALL`], for per-route counter arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl From<RejectionKind> for Outcome {
    fn from(kind: RejectionKind) -> Outcome {
        match kind {
            RejectionKind::MissingSignature => Outcome::MissingSignature,
            RejectionKind::MalformedSignature => Outcome::MalformedSignature,
            RejectionKind::BadSignature => Outcome::BadSignature,
            RejectionKind::StaleTimestamp => Outcome::StaleTimestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_snake_case() {
        let mut labels: Vec<_> = Outcome::ALL.iter().map(|o| o.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), Outcome::ALL.len());
        for label in labels {
            assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn index_matches_position_in_all() {
        for (position, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(outcome.index(), position);
        }
    }

    #[test]
    fn signature_failures_are_401_and_limits_have_their_own_status() {
        let cases = [
            (Outcome::MissingSignature, 401),
            (Outcome::MalformedSignature, 401),
            (Outcome::BadSignature, 401),
            (Outcome::StaleTimestamp, 401),
            (Outcome::BodyTooLarge, 413),
            (Outcome::UnmatchedRoute, 404),
            (Outcome::UpstreamUnavailable, 502),
            (Outcome::UpstreamTimeout, 504),
            (Outcome::BodyIncomplete, 400),
            (Outcome::BodyTimeout, 408),
            (Outcome::Overloaded, 503),
            (Outcome::SourceDenied, 403),
            (Outcome::Duplicate, 200),
            (Outcome::DuplicateInFlight, 409),
            (Outcome::InvalidRequest, 400),
            (Outcome::TooManyHeaders, 431),
            (Outcome::MethodNotAllowed, 405),
            (Outcome::UpstreamBadResponse, 502),
            (Outcome::Handshake, 200),
        ];
        for (outcome, status) in cases {
            assert_eq!(outcome.status().as_u16(), status, "{outcome:?}");
        }
    }

    #[test]
    fn only_forwarding_outcomes_reach_the_upstream() {
        for outcome in Outcome::ALL {
            let expected = matches!(outcome, Outcome::Forwarded | Outcome::ShadowForwarded);
            assert_eq!(outcome.reached_upstream(), expected, "{outcome:?}");
        }
    }
}
