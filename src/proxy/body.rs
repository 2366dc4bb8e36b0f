//! Reading a request body under a size limit, hashing it as it arrives.
//!
//! The body is buffered exactly once: a body that arrives in one frame is kept as that frame
//! (no copy); otherwise frames are appended into one buffer sized from Content-Length.

use crate::net::linger::{LINGER_MAX_BYTES, LINGER_TIME};
use crate::signature::Verification;
use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the body is larger than limits.max_body_bytes")]
    TooLarge,
    #[error("the body ended early or was malformed: {0}")]
    Incomplete(Box<dyn std::error::Error + Send + Sync>),
    #[error("limits.body_read_timeout passed before the body was complete")]
    TimedOut,
    #[error("the body arrived slower than limits.min_body_rate after limits.body_rate_grace")]
    TooSlow,
}

/// How fast a body must arrive: whole within `timeout`, and once `grace` has passed, at
/// least `min_rate` bytes per second on average since it started (0: no minimum). A sender
/// that trickles a byte at a time is cut off after the grace, not after the full timeout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    pub(crate) started: tokio::time::Instant,
    pub(crate) timeout: std::time::Duration,
    pub(crate) grace: std::time::Duration,
    pub(crate) min_rate: u64,
}

impl Pace {
    /// When the body must be complete, and when the rate falls below the minimum unless more
    /// than `received` bytes have arrived by then; whichever comes first, and which it is.
    fn deadline(&self, received: u64) -> (tokio::time::Instant, BodyError) {
        let overall = self.started + self.timeout;
        if self.min_rate == 0 {
            return (overall, BodyError::TimedOut);
        }
        let earned = std::time::Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        let too_slow = self.started + self.grace + earned;
        if too_slow < overall {
            (too_slow, BodyError::TooSlow)
        } else {
            (overall, BodyError::TimedOut)
        }
    }
}

/// Reads and throws away what is left of a refused request's body, in the background and
/// within the lingering bounds, so the sender can finish writing and read our answer. (An
/// HTTP/2 stream whose body is dropped early is reset, which some clients, such as curl 7,
/// report as an error instead of showing the response.)
pub(crate) fn discard_in_background<B>(mut body: B)
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    if body.is_end_stream() {
        return;
    }
    tokio::spawn(async move {
        let mut discarded = 0usize;
        let draining = async {
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    discarded += data.len();
                    if discarded > LINGER_MAX_BYTES {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, draining).await;
    });
}

/// Reads all of `body` at `pace`, feeding every chunk to `verification` (when there is
/// one). On an error the rest of `body` is left unread.
pub(crate) async fn read_limited<B>(
    body: &mut B,
    content_length: Option<u64>,
    limit: u64,
    mut verification: Option<&mut Verification>,
    pace: Pace,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut first: Option<Bytes> = None;
    let mut buffer = BytesMut::new();
    let mut total: u64 = 0;
    loop {
        let (deadline, late) = pace.deadline(total);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) => return Err(late),
        };
        let frame = frame.map_err(|err| BodyError::Incomplete(err.into()))?;
        // Trailers are not signed and not forwarded.
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        total += chunk.len() as u64;
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        if let Some(verification) = verification.as_deref_mut() {
            verification.update(&chunk);
        }
        if first.is_none() && buffer.is_empty() {
            first = Some(chunk);
            continue;
        }
        if let Some(first) = first.take() {
            let expected = content_length.unwrap_or(0).min(limit) as usize;
            buffer.reserve(expected.max(first.len() + chunk.len()));
            buffer.extend_from_slice(&first);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(match first {
        Some(only_chunk) => only_chunk,
        None => buffer.freeze(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::body::Frame;

    /// A body that yields the given chunks as separate frames.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            std::task::Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
        }
    }

    fn pace() -> Pace {
        Pace {
            started: tokio::time::Instant::now(),
            timeout: std::time::Duration::from_secs(30),
            grace: std::time::Duration::from_secs(2),
            min_rate: 1024,
        }
    }

    fn chunked(chunks: &[&'static [u8]]) -> Chunks {
        Chunks(chunks.iter().map(|c| Bytes::from_static(c)).collect())
    }

    #[tokio::test]
    async fn joins_chunks_in_order() {
        let body = read_limited(&mut chunked(&[b"ab", b"cd", b"e"]), None, 100, None, pace())
            .await
            .unwrap();
        assert_eq!(&body[..], b"abcde");
    }

    #[tokio::test]
    async fn single_frame_is_not_copied() {
        let original = Bytes::from_static(b"hello");
        let body = read_limited(&mut Full::new(original.clone()), Some(5), 100, None, pace())
            .await
            .unwrap();
        assert_eq!(body.as_ptr(), original.as_ptr());
    }

    #[tokio::test]
    async fn limit_counts_streamed_bytes() {
        let err = read_limited(&mut chunked(&[b"1234", b"5678"]), None, 7, None, pace())
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge));
        let ok = read_limited(&mut chunked(&[b"1234", b"567"]), None, 7, None, pace()).await;
        assert_eq!(&ok.unwrap()[..], b"1234567");
    }

    /// A body that never sends anything after its head.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            std::task::Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_too_slow_after_the_grace_not_the_full_timeout() {
        let started = tokio::time::Instant::now();
        let err = read_limited(&mut Silent, Some(10), 100, None, pace())
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooSlow), "{err:?}");
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_minimum_rate_only_the_timeout_applies() {
        let started = tokio::time::Instant::now();
        let pace = Pace {
            min_rate: 0,
            ..pace()
        };
        let err = read_limited(&mut Silent, Some(10), 100, None, pace)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TimedOut), "{err:?}");
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(30));
    }

    #[test]
    fn bytes_received_earn_time_at_the_minimum_rate() {
        let pace = pace();
        let (deadline, _) = pace.deadline(2048);
        assert_eq!(deadline - pace.started, std::time::Duration::from_secs(4));
        let (deadline, late) = pace.deadline(1 << 30);
        assert_eq!(deadline - pace.started, pace.timeout);
        assert!(matches!(late, BodyError::TimedOut));
    }

    #[tokio::test]
    async fn empty_body_is_empty() {
        let body = read_limited(&mut chunked(&[]), Some(0), 10, None, pace())
            .await
            .unwrap();
        assert!(body.is_empty());
    }
}
