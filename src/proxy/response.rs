//! The body type of every response: hookwall's own (see `refusal.rs`), or the upstream's
//! streamed through unchanged.

use crate::proxy::upstream::PooledBody;
use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Header on the 200 that answers a duplicate without forwarding it.
pub(crate) const DUPLICATE_HEADER: &str = "x-hookwall-duplicate";

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
    pub(crate) fn text(text: impl Into<Bytes>) -> ProxyBody {
        ProxyBody::Local(Full::new(text.into()))
    }
}

/// hookwall's own answer to a provider's endpoint handshake (see `signature::handshake`).
pub(crate) fn handshake(answer: crate::signature::handshake::Answer) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::text(answer.body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    response
}

/// Asks hyper to close an HTTP/1 connection after this response. (HTTP/2 ignores it: hyper
/// strips connection headers there, and unread streams are reset on their own.)
pub(crate) fn close_connection(response: &mut Response<ProxyBody>) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}
