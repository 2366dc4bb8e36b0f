//! What the request path may know about the connection a request arrived on (a request
//! extension), and the seam between the listener and what serves requests: [`Handler`].

use crate::config::Limits;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;

/// One client connection, as the request path sees it.
#[derive(Debug)]
pub(crate) struct ClientConnection {
    pub(crate) peer: SocketAddr,
    /// Request bodies being read and not yet verified on this connection (HTTP/2 carries
    /// many at once): bounded per connection so one sender cannot hold every slot.
    pub(crate) unverified_reads: AtomicUsize,
}

impl ClientConnection {
    pub(crate) fn new(peer: SocketAddr) -> ClientConnection {
        ClientConnection {
            peer,
            unverified_reads: AtomicUsize::new(0),
        }
    }
}

/// What the listener hands each request to. The listener knows connections, TLS and HTTP
/// versions; the handler knows routes, signatures and the app.
pub(crate) trait Handler: Send + Sync + 'static {
    type Body: http_body::Body<Data = Bytes, Error = hyper::Error> + Send + 'static;

    /// Answers one request. `request` carries an `Arc<ClientConnection>` extension, and on
    /// HTTP/1 a [`crate::net::wire::HeadOnWire`].
    fn handle(
        &self,
        request: Request<Incoming>,
    ) -> impl Future<Output = Response<Self::Body>> + Send;

    /// The limits in force now; connection-level ones are read when a connection starts.
    fn limits(&self) -> Limits;
}
