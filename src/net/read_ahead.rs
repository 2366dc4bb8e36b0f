//! Read-ahead under TLS: rustls's 4 KiB reads measured 6.5 `recvfrom` a request (nginx: 2.5).
//!
//! rustls asks its transport for at most 4 KiB per read, so a 16 KiB delivery costs four or
//! five `recvfrom` calls (measured: 6.5 per request against nginx's 2.5). This layer sits
//! between rustls and the socket: when asked for a small read it reads up to
//! [`READ_AHEAD`] bytes at once and serves the following small reads from memory. A connection
//! holds a buffer only while it has unread bytes, so an idle connection costs nothing extra.
//!
//! The buffers come from a small per-thread spare list rather than the allocator: taking and
//! freeing 32 KiB for every read (including each read that finds nothing) made glibc's
//! `malloc_consolidate` and `_int_free` ~12% of a keep-alive profile (benches/README.md).

use bytes::{Buf, BytesMut};
use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Two full TLS records.
pub(crate) const READ_AHEAD: usize = 32 * 1024;

/// Spare buffers kept per worker thread: enough for the connections one worker reads at the
/// same moment, a bounded 256 KiB however many connections are open.
const SPARES_PER_THREAD: usize = 8;

thread_local! {
    static SPARES: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer of [`READ_AHEAD`] capacity, from this thread's spares if it has one.
fn take_spare() -> BytesMut {
    SPARES
        .with(|spares| spares.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(READ_AHEAD))
}

/// Hands a drained buffer back to this thread's spares (or frees it when they are full).
fn give_back(mut buffer: BytesMut) {
    buffer.clear();
    // Moves the empty view back to the start of its allocation: no copy, no allocation
    // while nothing else shares it (nothing does: bytes leave by copy in serve_buffered).
    buffer.reserve(READ_AHEAD);
    if buffer.capacity() != READ_AHEAD {
        return;
    }
    SPARES.with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < SPARES_PER_THREAD {
            spares.push(buffer);
        }
    });
}

pub(crate) struct ReadAhead<T> {
    inner: T,
    /// Bytes read from the socket and not yet handed up.
    unread: BytesMut,
}

impl<T> ReadAhead<T> {
    pub(crate) fn new(inner: T) -> ReadAhead<T> {
        ReadAhead::rewound(inner, BytesMut::new())
    }

    /// Like [`ReadAhead::new`], with `already_read` (bytes taken from `inner` to look at
    /// them) handed up first, as if never read.
    pub(crate) fn rewound(inner: T, already_read: BytesMut) -> ReadAhead<T> {
        ReadAhead {
            inner,
            unread: already_read,
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Whether bytes read from the socket are waiting to be handed up.
    pub(crate) fn has_unread(&self) -> bool {
        !self.unread.is_empty()
    }

    fn serve_buffered(&mut self, out: &mut ReadBuf<'_>) {
        let n = out.remaining().min(self.unread.len());
        out.put_slice(&self.unread[..n]);
        self.unread.advance(n);
        if self.unread.is_empty() {
            // Drained: the connection keeps no memory while it waits.
            give_back(std::mem::take(&mut self.unread));
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadAhead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.unread.is_empty() {
            this.serve_buffered(out);
            return Poll::Ready(Ok(()));
        }
        if out.remaining() >= READ_AHEAD {
            // A large read needs no help.
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        // Uninitialised capacity, handed back at once if the socket has nothing.
        let mut ahead = take_spare();
        let read = match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut ahead) {
            Poll::Ready(Ok(read)) => read,
            other => {
                give_back(ahead);
                return other.map_ok(|_| ());
            }
        };
        if read == 0 {
            // End of stream: report it as the socket did.
            give_back(ahead);
            return Poll::Ready(Ok(()));
        }
        this.unread = ahead;
        this.serve_buffered(out);
        Poll::Ready(Ok(()))
    }
}

crate::net::write_through!(ReadAhead);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_see_every_byte_in_order() {
        let (mut theirs, ours) = tokio::io::duplex(256 * 1024);
        let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        theirs.write_all(&sent).await.unwrap();
        drop(theirs);
        let mut ours = ReadAhead::new(ours);
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = ours.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(received, sent);
        assert_eq!(ours.unread.capacity(), 0, "a drained buffer is freed");
        // The connection's buffers went back to this thread's spares, empty and whole.
        SPARES.with(|spares| {
            let spares = spares.borrow();
            assert!((1..=SPARES_PER_THREAD).contains(&spares.len()));
            assert!(
                spares
                    .iter()
                    .all(|b| b.is_empty() && b.capacity() == READ_AHEAD)
            );
        });
    }

    #[tokio::test]
    async fn spares_stay_bounded_however_many_connections_read() {
        let mut connections = Vec::new();
        for _ in 0..3 * SPARES_PER_THREAD {
            let (mut theirs, ours) = tokio::io::duplex(64 * 1024);
            theirs.write_all(&[7u8; 10_000]).await.unwrap();
            let mut ours = ReadAhead::new(ours);
            let mut chunk = [0u8; 100];
            ours.read_exact(&mut chunk).await.unwrap();
            // Each holds its unread rest: a buffer of its own.
            connections.push((theirs, ours));
        }
        for (_, ours) in &mut connections {
            let mut rest = vec![0u8; 9_900];
            ours.read_exact(&mut rest).await.unwrap();
            assert!(rest.iter().all(|&b| b == 7));
        }
        SPARES.with(|spares| assert_eq!(spares.borrow().len(), SPARES_PER_THREAD));
    }

    #[tokio::test]
    async fn writes_pass_straight_through() {
        let (theirs, ours) = tokio::io::duplex(1024);
        let mut ours = ReadAhead::new(ours);
        ours.write_all(b"hello").await.unwrap();
        let mut theirs = theirs;
        let mut got = [0u8; 5];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }
}
