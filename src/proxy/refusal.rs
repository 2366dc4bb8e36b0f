//! Why hookwall refused a request, and the one place a refusal becomes an HTTP response.
//!
//! Every phase of the request path returns `Result<_, Refusal>`. The status, the headers
//! (`Retry-After`, `Allow`, `WWW-Authenticate`, `Connection: close`) and the body shape all
//! follow from the [`Outcome`] here, so an outcome can never meet the wrong status.

use crate::proxy::response::{DUPLICATE_HEADER, ProxyBody, close_connection};
use crate::signature::{Rejection, Scheme};
use crate::telemetry::outcome::Outcome;
use http::{HeaderValue, Response, header};
use std::borrow::Cow;

/// A refused request: what the sender is told, and what only the log gets.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) outcome: Outcome,
    /// For the sender; never a secret, a signature or a body.
    message: Cow<'static, str>,
    /// For the log line only (e.g. which limit, which source address).
    detail: Option<String>,
    /// A machine-readable reason, where the outcome has finer causes (signature rejections).
    reason: Option<&'static str>,
    /// The value of the header the outcome calls for: the challenge of `WWW-Authenticate`
    /// for signature outcomes, the list of `Allow` for `method_not_allowed`.
    header_value: Option<HeaderValue>,
}

impl Refusal {
    pub(crate) fn new(outcome: Outcome, message: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal {
            outcome,
            message: message.into(),
            detail: None,
            reason: None,
            header_value: None,
        }
    }

    /// Adds what the log should say beyond the message.
    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Refusal {
        self.detail = Some(detail.into());
        self
    }

    /// A signature the route's scheme refused: 401 naming the reason and the header to sign.
    /// The expected signature is never part of it.
    pub(crate) fn signature(scheme: &Scheme, rejection: &Rejection) -> Refusal {
        // The header the rejection concerns (e.g. svix-signature), else the scheme's own.
        let header = rejection
            .header()
            .cloned()
            .unwrap_or_else(|| scheme.signature_header());
        let challenge = format!(
            "Signature realm=\"hookwall\", scheme=\"{}\", header=\"{header}\"",
            scheme.name(),
        );
        Refusal {
            reason: Some(rejection.code()),
            header_value: HeaderValue::try_from(challenge).ok(),
            ..Refusal::new(Outcome::from(rejection.kind()), rejection.to_string())
        }
    }

    /// 405 for a method the route does not take; `allowed` is what `Allow` lists.
    pub(crate) fn method_not_allowed(method: &http::Method, allowed: &str) -> Refusal {
        Refusal {
            header_value: HeaderValue::try_from(allowed).ok(),
            ..Refusal::new(
                Outcome::MethodNotAllowed,
                format!("{method} is not allowed here"),
            )
        }
    }

    /// What the log line says: the detail when there is one, else the message.
    pub(crate) fn log_detail(&self) -> &str {
        self.detail.as_deref().unwrap_or(&self.message)
    }

    /// The response: `{"error": <outcome>, "message": <text>[, "reason": <code>]}` with the
    /// outcome's status and the headers that outcome calls for. A duplicate is answered 200
    /// (the sender need not retry) as `{"status": "duplicate", …}`, marked by
    /// [`DUPLICATE_HEADER`].
    pub(crate) fn into_response(self) -> Response<ProxyBody> {
        let key = if self.outcome.status().is_success() {
            "status"
        } else {
            "error"
        };
        let mut body = serde_json::json!({
            key: self.outcome.label(),
            "message": self.message,
        });
        if let Some(reason) = self.reason {
            body["reason"] = reason.into();
        }
        let mut response = Response::new(ProxyBody::text(body.to_string()));
        *response.status_mut() = self.outcome.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = retry_after(self.outcome) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        if let (Some(name), Some(value)) = (value_header(self.outcome), self.header_value) {
            headers.insert(name, value);
        }
        if self.outcome == Outcome::Duplicate {
            headers.insert(DUPLICATE_HEADER, HeaderValue::from_static("true"));
        }
        if closes_connection(self.outcome) {
            close_connection(&mut response);
        }
        response
    }
}

/// The header whose value a refusal of this outcome carries.
fn value_header(outcome: Outcome) -> Option<header::HeaderName> {
    match outcome {
        Outcome::MissingSignature
        | Outcome::MalformedSignature
        | Outcome::BadSignature
        | Outcome::StaleTimestamp => Some(header::WWW_AUTHENTICATE),
        Outcome::MethodNotAllowed => Some(header::ALLOW),
        _ => None,
    }
}

/// When a sender should try again: soon while hookwall is full, later while the same delivery
/// is being forwarded (the app is working on it).
fn retry_after(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Overloaded => Some("1"),
        Outcome::DuplicateInFlight | Outcome::DedupeUnavailable => Some("5"),
        _ => None,
    }
}

/// Outcomes after which an HTTP/1 connection cannot be trusted to carry another request: the
/// body was not read to its end, or the framing itself was in doubt. (A refusal whose body is
/// still unread also closes; see `Proxy::respond`.)
fn closes_connection(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::BodyTooLarge
            | Outcome::BodyTimeout
            | Outcome::BodyIncomplete
            | Outcome::InvalidRequest
            | Outcome::MethodNotAllowed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(response: Response<ProxyBody>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn every_outcome_gets_its_own_status_and_label() {
        for outcome in Outcome::ALL {
            let response = Refusal::new(outcome, "m").into_response();
            assert_eq!(response.status(), outcome.status(), "{outcome:?}");
            let key = if outcome.status().is_success() {
                "status"
            } else {
                "error"
            };
            assert_eq!(body_json(response).await[key], outcome.label());
        }
    }

    #[tokio::test]
    async fn signature_refusal_names_reason_and_header_but_no_signature() {
        let response = Refusal::signature(&Scheme::builtin("visma").unwrap(), &Rejection::Mismatch)
            .into_response();
        assert_eq!(response.status(), 401);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.contains("x-vwd-signature-v1"), "{challenge}");
        let body = body_json(response).await;
        assert_eq!(body["error"], "bad_signature");
        assert_eq!(body["reason"], "mismatch");
    }

    #[test]
    fn headers_follow_the_outcome() {
        let overloaded = Refusal::new(Outcome::Overloaded, "full").into_response();
        assert_eq!(overloaded.headers()[header::RETRY_AFTER], "1");
        let in_flight = Refusal::new(Outcome::DuplicateInFlight, "busy").into_response();
        assert_eq!(in_flight.headers()[header::RETRY_AFTER], "5");
        let method = Refusal::method_not_allowed(&http::Method::PUT, "POST").into_response();
        assert_eq!(method.status(), 405);
        assert_eq!(method.headers()[header::ALLOW], "POST");
        let large = Refusal::new(Outcome::BodyTooLarge, "big").into_response();
        assert_eq!(large.headers()[header::CONNECTION], "close");
        let duplicate = Refusal::new(Outcome::Duplicate, "seen").into_response();
        assert_eq!(duplicate.status(), 200);
        assert_eq!(duplicate.headers()[DUPLICATE_HEADER], "true");
        let unmatched = Refusal::new(Outcome::UnmatchedRoute, "none").into_response();
        assert!(!unmatched.headers().contains_key(header::CONNECTION));
        assert!(!unmatched.headers().contains_key(header::RETRY_AFTER));
    }
}
