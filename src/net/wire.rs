//! What HTTP/1 request heads looked like on the wire, for the one fact hyper normalises away:
//! Content-Length sent together with Transfer-Encoding (the classic smuggling shape). hyper
//! drops the Content-Length, decodes the chunked body and closes the connection afterwards,
//! which is safe, but a proxy that guards an app should refuse the shape outright, as nginx
//! and Envoy do, so the proxy needs to know it was there.
//!
//! [`WireWatch`] wraps the decrypted connection and follows the request stream's framing
//! (head, fixed-length body, chunks, trailers) with `httparse`, the parser hyper itself uses,
//! so it always knows where the next head starts. Each head's facts are queued in order and
//! the server hands them to the request hyper parses from the same bytes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// What was seen of one request's head, as a request extension (HTTP/1 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadOnWire {
    Seen {
        /// Both Content-Length and Transfer-Encoding were present.
        length_and_transfer_encoding: bool,
    },
    /// The framing could not be followed this far (a head over the limits, a protocol
    /// upgrade, unparsable bytes): nothing is known about this head.
    Unknown,
}

/// The request-stream position the tracker is at.
enum Framing {
    Head(Vec<u8>),
    FixedBody(u64),
    ChunkSize(Vec<u8>),
    /// Chunk data and the CRLF after it.
    ChunkData(u64),
    Trailers(Vec<u8>),
    Lost,
}

/// Longest chunk-size line (size, extensions, CRLF) followed before giving up.
const MAX_CHUNK_LINE: usize = 1024;
/// Heads read ahead (pipelined) before hyper has taken them; more means the tracker stops.
const MAX_QUEUED_HEADS: usize = 64;

/// The per-connection tracker, shared by the IO wrapper (which feeds it) and the server
/// (which takes one [`HeadOnWire`] per request).
pub(crate) struct WireHeads {
    state: Mutex<Tracker>,
}

struct Tracker {
    framing: Framing,
    heads: VecDeque<HeadOnWire>,
    max_head_bytes: usize,
    max_headers: usize,
}

impl WireHeads {
    /// `max_head_bytes` and `max_headers` are hyper's own limits: a head over them is refused
    /// by hyper before any request is made, so nothing past it needs following.
    pub(crate) fn new(max_head_bytes: usize, max_headers: usize) -> Arc<WireHeads> {
        Arc::new(WireHeads {
            state: Mutex::new(Tracker {
                framing: Framing::Head(Vec::new()),
                heads: VecDeque::new(),
                max_head_bytes,
                max_headers,
            }),
        })
    }

    /// The facts of the next request's head, in the order hyper parses them.
    pub(crate) fn next_head(&self) -> HeadOnWire {
        self.lock().heads.pop_front().unwrap_or(HeadOnWire::Unknown)
    }

    /// Whether every byte read so far belongs to a request hyper has already taken: no
    /// partial head, body or trailer, and no head read ahead of hyper. Unknown framing is
    /// never a boundary.
    pub(crate) fn at_boundary(&self) -> bool {
        let tracker = self.lock();
        matches!(&tracker.framing, Framing::Head(partial) if partial.is_empty())
            && tracker.heads.is_empty()
    }

    fn feed(&self, bytes: &[u8]) {
        self.lock().feed(bytes);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Tracker {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let framing = std::mem::replace(&mut self.framing, Framing::Lost);
            let (next, used) = match framing {
                Framing::Lost => return,
                Framing::FixedBody(left) => {
                    let used = left.min(bytes.len() as u64);
                    match left - used {
                        0 => (Framing::Head(Vec::new()), used as usize),
                        rest => (Framing::FixedBody(rest), used as usize),
                    }
                }
                Framing::ChunkData(left) => {
                    let used = left.min(bytes.len() as u64);
                    match left - used {
                        0 => (Framing::ChunkSize(Vec::new()), used as usize),
                        rest => (Framing::ChunkData(rest), used as usize),
                    }
                }
                Framing::Head(buffer) => self.head(buffer, bytes),
                Framing::ChunkSize(buffer) => chunk_size(buffer, bytes),
                Framing::Trailers(buffer) => self.trailers(buffer, bytes),
            };
            self.framing = next;
            bytes = &bytes[used..];
        }
    }

    /// Appends to a head or trailer section being read as much of `bytes` as can belong to
    /// it (one byte past the limit shows it is too long); returns the length before and how
    /// many bytes were taken.
    fn gather(&self, buffer: &mut Vec<u8>, bytes: &[u8]) -> (usize, usize) {
        let before = buffer.len();
        let room = (self.max_head_bytes + 1).saturating_sub(before);
        let take = bytes.len().min(room);
        buffer.extend_from_slice(&bytes[..take]);
        (before, take)
    }

    /// Adds `bytes` to a head being read; once it is complete, records its facts and moves
    /// to its body. Returns the next state and how many of `bytes` belonged to the head.
    fn head(&mut self, mut buffer: Vec<u8>, bytes: &[u8]) -> (Framing, usize) {
        let (before, take) = self.gather(&mut buffer, bytes);
        let mut headers = vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(length)) => {
                let used = length - before;
                let facts = HeadFacts::of(&request);
                if self.heads.len() >= MAX_QUEUED_HEADS {
                    return (Framing::Lost, used);
                }
                self.heads.push_back(HeadOnWire::Seen {
                    length_and_transfer_encoding: facts.chunked.is_some()
                        && facts.content_length.is_some(),
                });
                let next = match facts {
                    HeadFacts { upgrade: true, .. } => Framing::Lost,
                    HeadFacts {
                        chunked: Some(true),
                        ..
                    } => Framing::ChunkSize(Vec::new()),
                    // A transfer coding other than chunked: hyper refuses it and closes.
                    HeadFacts {
                        chunked: Some(false),
                        ..
                    } => Framing::Lost,
                    HeadFacts {
                        content_length: Some(Some(length)),
                        ..
                    } if length > 0 => Framing::FixedBody(length),
                    HeadFacts {
                        content_length: Some(None),
                        ..
                    } => Framing::Lost,
                    _ => Framing::Head(Vec::new()),
                };
                (next, used)
            }
            Ok(httparse::Status::Partial) if buffer.len() <= self.max_head_bytes => {
                (Framing::Head(buffer), take)
            }
            // Too long, too many fields, or not HTTP: hyper refuses it and closes.
            _ => (Framing::Lost, take),
        }
    }

    /// Adds `bytes` to the trailer section after the last chunk; its end starts a new head.
    fn trailers(&mut self, mut buffer: Vec<u8>, bytes: &[u8]) -> (Framing, usize) {
        let (before, take) = self.gather(&mut buffer, bytes);
        let mut headers = vec![httparse::EMPTY_HEADER; self.max_headers];
        match httparse::parse_headers(&buffer, &mut headers) {
            Ok(httparse::Status::Complete((length, _))) => {
                (Framing::Head(Vec::new()), length - before)
            }
            Ok(httparse::Status::Partial) if buffer.len() <= self.max_head_bytes => {
                (Framing::Trailers(buffer), take)
            }
            _ => (Framing::Lost, take),
        }
    }
}

/// Reads a chunk-size line; a zero size starts the trailers.
fn chunk_size(mut buffer: Vec<u8>, bytes: &[u8]) -> (Framing, usize) {
    let before = buffer.len();
    let take = match bytes.iter().position(|b| *b == b'\n') {
        Some(newline) => newline + 1,
        None => bytes.len(),
    };
    buffer.extend_from_slice(&bytes[..take]);
    if buffer.len() > MAX_CHUNK_LINE {
        return (Framing::Lost, take);
    }
    if buffer.last() != Some(&b'\n') {
        return (Framing::ChunkSize(buffer), take);
    }
    match httparse::parse_chunk_size(&buffer) {
        Ok(httparse::Status::Complete((length, 0))) => {
            (Framing::Trailers(Vec::new()), length - before)
        }
        Ok(httparse::Status::Complete((length, size))) => {
            (Framing::ChunkData(size.saturating_add(2)), length - before)
        }
        _ => (Framing::Lost, take),
    }
}

/// The framing facts of one parsed head.
struct HeadFacts {
    /// `Some(true)` when Transfer-Encoding ends in chunked, `Some(false)` for another coding.
    chunked: Option<bool>,
    /// `Some(Some(n))` for one valid Content-Length (or several equal ones), `Some(None)`
    /// for an invalid or conflicting one.
    content_length: Option<Option<u64>>,
    /// CONNECT or an Upgrade: what follows is no longer HTTP/1 requests.
    upgrade: bool,
}

impl HeadFacts {
    fn of(request: &httparse::Request<'_, '_>) -> HeadFacts {
        let mut facts = HeadFacts {
            chunked: None,
            content_length: None,
            upgrade: request.method == Some("CONNECT"),
        };
        for header in request.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("transfer-encoding") {
                let last = header.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
                facts.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case("content-length") {
                let parsed = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|text| text.trim().parse::<u64>().ok());
                facts.content_length = match (facts.content_length, parsed) {
                    (None, parsed) => Some(parsed),
                    (Some(Some(previous)), Some(length)) if previous == length => {
                        Some(Some(length))
                    }
                    _ => Some(None),
                };
            } else if name.eq_ignore_ascii_case("upgrade") {
                facts.upgrade = true;
            }
        }
        facts
    }
}

/// The connection as hyper reads it, with every byte read also fed to the tracker.
pub(crate) struct WireWatch<T> {
    inner: T,
    heads: Arc<WireHeads>,
}

impl<T> WireWatch<T> {
    pub(crate) fn new(inner: T, heads: Arc<WireHeads>) -> WireWatch<T> {
        WireWatch { inner, heads }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WireWatch<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.heads.feed(&buf.filled()[before..]);
        }
        polled
    }
}

crate::net::write_through!(WireWatch);

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(both: bool) -> HeadOnWire {
        HeadOnWire::Seen {
            length_and_transfer_encoding: both,
        }
    }

    /// Feeds `stream` to a tracker in pieces of `step` bytes and returns every head's facts.
    fn heads_of(stream: &[u8], step: usize) -> Vec<HeadOnWire> {
        let heads = WireHeads::new(16 * 1024, 64);
        for piece in stream.chunks(step) {
            heads.feed(piece);
        }
        let mut found = Vec::new();
        while !heads.lock().heads.is_empty() {
            found.push(heads.next_head());
        }
        found
    }

    const PIPELINE: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
5;ext=1\r\nPOST \r\n3\r\n/c \r\n0\r\nx-trailer: 1\r\n\r\n\
POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
GET /e HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn follows_bodies_and_chunks_to_every_head_whatever_the_read_sizes() {
        let expected = vec![seen(false), seen(false), seen(true), seen(false)];
        for step in [1, 2, 3, 7, 64, PIPELINE.len()] {
            assert_eq!(heads_of(PIPELINE, step), expected, "read size {step}");
        }
    }

    #[test]
    fn a_body_that_looks_like_a_head_is_not_one() {
        let stream = b"POST /a HTTP/1.1\r\nContent-Length: 66\r\n\r\n\
POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(heads_of(stream, 5), vec![seen(false)]);
    }

    #[test]
    fn upgrades_and_unparsable_bytes_stop_the_tracking() {
        let upgrade = b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        assert_eq!(heads_of(upgrade, 4), vec![seen(false)]);
        let heads = WireHeads::new(1024, 8);
        heads.feed(b"\x00\x01 not http\r\n\r\n");
        assert_eq!(heads.next_head(), HeadOnWire::Unknown);
    }

    #[test]
    fn a_head_over_the_limit_is_unknown() {
        let heads = WireHeads::new(32, 8);
        heads.feed(b"POST /a HTTP/1.1\r\nX-Long: 0123456789012345678901234567890\r\n\r\n");
        assert_eq!(heads.next_head(), HeadOnWire::Unknown);
    }
}
