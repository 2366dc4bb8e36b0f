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
pub enum BodyError {
    #[error("the body is larger than limits.max_body_bytes")]
    TooLarge,
    #[error("the body ended early or was malformed: {0}")]
    Incomplete(Box<dyn std::error::Error + Send + Sync>),
}

/// Reads and throws away what is left of a refused request's body, in the background and
/// within the lingering bounds, so the sender can finish writing and read our answer. (An
/// HTTP/2 stream whose body is dropped early is reset, which some clients, such as curl 7,
/// report as an error instead of showing the response.)
pub fn discard_in_background<B>(mut body: B)
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

/// Reads all of `body`, feeding every chunk to `verification` (when there is one). On
/// [`BodyError::TooLarge`] the rest of `body` is left unread.
pub async fn read_limited<B>(
    body: &mut B,
    content_length: Option<u64>,
    limit: u64,
    mut verification: Option<&mut Verification>,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut first: Option<Bytes> = None;
    let mut buffer = BytesMut::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
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

    fn chunked(chunks: &[&'static [u8]]) -> Chunks {
        Chunks(chunks.iter().map(|c| Bytes::from_static(c)).collect())
    }

    #[tokio::test]
    async fn joins_chunks_in_order() {
        let body = read_limited(&mut chunked(&[b"ab", b"cd", b"e"]), None, 100, None)
            .await
            .unwrap();
        assert_eq!(&body[..], b"abcde");
    }

    #[tokio::test]
    async fn single_frame_is_not_copied() {
        let original = Bytes::from_static(b"hello");
        let body = read_limited(&mut Full::new(original.clone()), Some(5), 100, None)
            .await
            .unwrap();
        assert_eq!(body.as_ptr(), original.as_ptr());
    }

    #[tokio::test]
    async fn limit_counts_streamed_bytes() {
        let err = read_limited(&mut chunked(&[b"1234", b"5678"]), None, 7, None)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge));
        let ok = read_limited(&mut chunked(&[b"1234", b"567"]), None, 7, None).await;
        assert_eq!(&ok.unwrap()[..], b"1234567");
    }

    #[tokio::test]
    async fn empty_body_is_empty() {
        let body = read_limited(&mut chunked(&[]), Some(0), 10, None)
            .await
            .unwrap();
        assert!(body.is_empty());
    }
}
