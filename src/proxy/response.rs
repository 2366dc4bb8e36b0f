//! Responses hookwall writes itself (refusals, duplicates) and the body type of every
//! response, which is either such a local body or the upstream's, streamed through.

use crate::proxy::upstream::PooledBody;
use crate::signature::{Rejection, Scheme};
use crate::telemetry::outcome::Outcome;
use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Header on a 200 that answers a duplicate without forwarding it.
pub const DUPLICATE_HEADER: &str = "x-hookwall-duplicate";

/// A response body: hookwall's own, or the upstream's streamed unchanged.
pub enum ProxyBody {
    Local(Full<Bytes>),
    Upstream(PooledBody),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Local(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            ProxyBody::Upstream(incoming) => Pin::new(incoming).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Local(full) => full.is_end_stream(),
            ProxyBody::Upstream(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Local(full) => full.size_hint(),
            ProxyBody::Upstream(incoming) => incoming.size_hint(),
        }
    }
}

impl ProxyBody {
    pub fn text(text: impl Into<Bytes>) -> ProxyBody {
        ProxyBody::Local(Full::new(text.into()))
    }
}

/// A JSON refusal: `{"error": <outcome label>, "reason": <code>, "message": <text>}`.
pub fn refusal(outcome: Outcome, message: &str, reason: Option<&str>) -> Response<ProxyBody> {
    let mut body = serde_json::json!({
        "error": outcome.label(),
        "message": message,
    });
    if let Some(reason) = reason {
        body["reason"] = reason.into();
    }
    let mut response = Response::new(ProxyBody::text(body.to_string()));
    *response.status_mut() = outcome.status();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 401 with a challenge naming the scheme and header to sign, and the precise reason. The
/// expected signature is never part of it.
pub fn unauthorized(scheme: &Scheme, rejection: &Rejection) -> Response<ProxyBody> {
    let outcome = Outcome::from(rejection.kind());
    let mut response = refusal(outcome, &rejection.to_string(), Some(rejection.code()));
    // The header the rejection concerns (e.g. svix-signature), else the scheme's own.
    let header = rejection
        .header()
        .cloned()
        .unwrap_or_else(|| scheme.signature_header());
    let challenge = format!(
        "Signature realm=\"hookwall\", scheme=\"{}\", header=\"{header}\"",
        scheme.name(),
    );
    if let Ok(value) = HeaderValue::try_from(challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 413; the connection is closed after it, since the rest of the body is never read.
pub fn too_large(limit: u64) -> Response<ProxyBody> {
    let mut response = refusal(
        Outcome::BodyTooLarge,
        &format!("the body is larger than {limit} bytes"),
        None,
    );
    close_connection(&mut response);
    response
}

/// 503 with `Retry-After`, when `limits.max_in_flight` requests are already running.
pub fn overloaded() -> Response<ProxyBody> {
    let mut response = refusal(
        Outcome::Overloaded,
        "too many requests in flight; retry shortly",
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// 200 for a delivery already forwarded within the dedupe window.
pub fn duplicate() -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::text(
        serde_json::json!({
            "status": "duplicate",
            "message": "already delivered within the dedupe window; not forwarded again",
        })
        .to_string(),
    ));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(DUPLICATE_HEADER, HeaderValue::from_static("true"));
    response
}

/// 409 with `Retry-After`: the same delivery is being forwarded right now.
pub fn duplicate_in_flight() -> Response<ProxyBody> {
    let mut response = refusal(
        Outcome::DuplicateInFlight,
        "the same delivery is being forwarded now; retry later",
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// Asks hyper to close an HTTP/1 connection after this response. (HTTP/2 ignores it: hyper
/// strips connection headers there, and unread streams are reset on their own.)
pub fn close_connection(response: &mut Response<ProxyBody>) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(response: Response<ProxyBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn unauthorized_names_reason_and_header_but_no_signature() {
        let rejection = Rejection::Mismatch;
        let response = unauthorized(&Scheme::Visma, &rejection);
        assert_eq!(response.status(), 401);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.contains("x-vwd-signature-v1"), "{challenge}");
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(body["error"], "bad_signature");
        assert_eq!(body["reason"], "mismatch");
    }

    #[tokio::test]
    async fn too_large_closes_the_connection() {
        let response = too_large(10);
        assert_eq!(response.status(), 413);
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }
}
