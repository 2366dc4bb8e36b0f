//! Lingering close: when hookwall closes a connection, it first stops writing, then reads
//! and discards what the sender is still sending, for a bounded time and amount.
//!
//! Closing a socket with unread data makes the kernel send a reset, and a reset can destroy
//! the response still in flight — so a sender streaming a too-large body would see a
//! connection error instead of our 413. Draining first lets the 413 arrive.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a closing connection is drained at most.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(5);
/// How much a closing connection may still send before it is cut.
pub(crate) const LINGER_MAX_BYTES: usize = 16 * 1024 * 1024;

pub(crate) struct Lingering<T> {
    inner: T,
    state: State,
}

enum State {
    Open,
    Draining {
        deadline: Pin<Box<Sleep>>,
        discarded: usize,
    },
    Closed,
}

impl<T> Lingering<T> {
    pub(crate) fn new(inner: T) -> Lingering<T> {
        Lingering {
            inner,
            state: State::Open,
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

crate::net::read_through!(Lingering);

crate::net::write_through!(Lingering, shutdown = poll_linger);

impl<T: AsyncRead + AsyncWrite + Unpin> Lingering<T> {
    /// Closes our side, then reads and discards until the sender is done or a bound is hit.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        loop {
            match &mut self.state {
                State::Open => {
                    // Send our FIN first: the sender sees the end of our response.
                    let shut = ready!(Pin::new(&mut self.inner).poll_shutdown(cx));
                    if shut.is_err() {
                        self.state = State::Closed;
                        return Poll::Ready(Ok(()));
                    }
                    self.state = State::Draining {
                        deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                        discarded: 0,
                    };
                }
                State::Draining {
                    deadline,
                    discarded,
                } => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        self.state = State::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 4096];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                            *discarded += buf.filled().len();
                            if *discarded > LINGER_MAX_BYTES {
                                self.state = State::Closed;
                            }
                        }
                        // End of stream or an error: the sender is done.
                        Poll::Ready(_) => self.state = State::Closed,
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

use std::future::Future;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn shutdown_drains_unread_input_until_the_peer_closes() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut ours = Lingering::new(ours);
        let peer = tokio::spawn(async move {
            // Keep sending after our side stopped reading, then read our FIN and close.
            theirs.write_all(&[7u8; 1000]).await.unwrap();
            let mut rest = Vec::new();
            theirs.read_to_end(&mut rest).await.unwrap();
            drop(theirs);
        });
        tokio::time::timeout(Duration::from_secs(2), ours.shutdown())
            .await
            .expect("shutdown finishes once the peer closes")
            .unwrap();
        peer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_gives_up_after_the_linger_time() {
        let (ours, _theirs_kept_open) = tokio::io::duplex(64);
        let mut ours = Lingering::new(ours);
        let started = tokio::time::Instant::now();
        ours.shutdown().await.unwrap();
        assert!(started.elapsed() >= LINGER_TIME);
    }
}
