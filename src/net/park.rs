//! Idle HTTP/1 keep-alive connections hold no HTTP state.
//!
//! hyper keeps a read and a write buffer (16 KiB together) and its dispatcher for as long as a
//! connection lives, idle or not, so 1,000 pooled sender connections cost ~40 MiB. Instead,
//! once a connection has been idle for `PARK_AFTER` (server.rs), the server ends hyper's part
//! of it without closing it ([`KeepOpen`]), and the connection is *parked*: only the socket,
//! its TLS state and a small task remain, waiting for the next bytes ([`ReadReady`]). When
//! they come, a new hyper connection serves them. The wait is short enough that idle
//! connections release their buffers promptly, and long enough that a busy connection (one
//! delivery every few milliseconds) never pays for parking and waking (~5 µs).
//!
//! Parking happens only at a clean request boundary (`WireHeads::at_boundary`: every byte
//! read so far belongs to requests hyper has taken, and hyper has nothing buffered), so no
//! request is ever split between two hyper connections; anything else closes the
//! connection as hyper would have.

use crate::net::linger::Lingering;
use crate::net::read_ahead::ReadAhead;
use crate::net::wire::WireWatch;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

/// A connection that can say, without reading, whether bytes may be waiting to be read.
pub(crate) trait ReadReady {
    /// Ready when a read would not wait: bytes buffered at some layer, bytes on the socket,
    /// or its end. May be ready spuriously; a read then simply finds nothing.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>;
}

impl ReadReady for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

impl<T: ReadReady> ReadReady for Box<T> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        (**self).poll_read_ready(cx)
    }
}

impl<T: ReadReady> ReadReady for Lingering<T> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_ref().poll_read_ready(cx)
    }
}

impl<T: ReadReady> ReadReady for ReadAhead<T> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.has_unread() {
            return Poll::Ready(Ok(()));
        }
        self.get_ref().poll_read_ready(cx)
    }
}

impl<T: ReadReady> ReadReady for WireWatch<T> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_ref().poll_read_ready(cx)
    }
}

impl<T: ReadReady> ReadReady for tokio_rustls::server::TlsStream<T> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let (io, tls) = self.get_ref();
        // rustls "does not want to read" when it holds decrypted bytes not yet taken, or
        // has seen the peer's close_notify: either way a read returns at once.
        if !tls.wants_read() {
            return Poll::Ready(Ok(()));
        }
        io.poll_read_ready(cx)
    }
}

/// Hands hyper a connection whose shutdown is ours: when hyper's part ends, the server
/// decides whether to park the connection or close it (`shutdown` on the inner stream).
pub(crate) struct KeepOpen<T> {
    inner: T,
}

impl<T> KeepOpen<T> {
    pub(crate) fn new(inner: T) -> KeepOpen<T> {
        KeepOpen { inner }
    }

    pub(crate) fn into_inner(self) -> T {
        self.inner
    }

    /// Flushes only: hyper's end is not the connection's.
    fn poll_flush_only(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>
    where
        T: AsyncWrite + Unpin,
    {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
}

crate::net::read_through!(KeepOpen);

crate::net::write_through!(KeepOpen, shutdown = poll_flush_only);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

    async fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    fn ready_now<T: ReadReady>(io: &T) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        io.poll_read_ready(&mut cx).is_ready()
    }

    /// A read that does not wait: `None` when it would (which also clears the socket's
    /// readiness, as hyper's last read before parking does).
    fn read_now<T: AsyncRead + Unpin>(io: &mut T) -> Option<usize> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut storage = [0u8; 64];
        let mut buf = ReadBuf::new(&mut storage);
        match Pin::new(io).poll_read(&mut cx, &mut buf) {
            Poll::Ready(result) => Some(result.map(|()| buf.filled().len()).unwrap()),
            Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn a_parked_connection_wakes_for_bytes_and_for_bytes_already_read_ahead() {
        let (mut client, server) = connected_pair().await;
        let mut server = ReadAhead::new(Lingering::new(server));
        assert_eq!(read_now(&mut server), None, "nothing sent yet");
        assert!(!ready_now(&server), "parked with nothing to read");

        client.write_all(b"first second").await.unwrap();
        std::future::poll_fn(|cx| server.poll_read_ready(cx))
            .await
            .unwrap();
        // A small read leaves the rest read ahead: ready without the socket.
        let mut first = [0u8; 6];
        server.read_exact(&mut first).await.unwrap();
        assert!(ready_now(&server), "read-ahead bytes are waiting");
        let mut rest = [0u8; 6];
        server.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"second");
        assert_eq!(read_now(&mut server), None);
        assert!(!ready_now(&server), "everything was read");

        drop(client);
        // The end of the stream wakes it too, so a parked connection notices the close.
        std::future::poll_fn(|cx| server.poll_read_ready(cx))
            .await
            .unwrap();
        assert_eq!(server.read(&mut rest).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn keep_open_flushes_on_shutdown_but_does_not_close() {
        let (mut client, server) = connected_pair().await;
        let mut kept = KeepOpen::new(server);
        kept.write_all(b"answer").await.unwrap();
        kept.shutdown().await.unwrap();
        let mut server = kept.into_inner();
        server.write_all(b" and more").await.unwrap();
        server.shutdown().await.unwrap();
        let mut received = String::new();
        client.read_to_string(&mut received).await.unwrap();
        assert_eq!(received, "answer and more");
    }
}
