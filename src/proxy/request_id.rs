//! Request ids: taken from the sender's `x-request-id` when it is sane, else generated, so one
//! delivery can be followed across sender, proxy and app.

use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longer ids are not ids; they would bloat every log line.
const MAX_LEN: usize = 128;

/// Makes unique ids cheaply: a random per-process prefix and a counter, with no system call
/// per request.
pub(crate) struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new()
    }
}

impl RequestIds {
    pub(crate) fn new() -> RequestIds {
        let mut seed = [0u8; 8];
        // Without entropy ids are still unique within the process; only the prefix suffers.
        let _ = getrandom::fill(&mut seed);
        RequestIds {
            prefix: u64::from_le_bytes(seed),
            counter: AtomicU64::new(0),
        }
    }

    /// The id for a request, and whether it came from the sender (else it must be added to
    /// the forwarded headers).
    pub(crate) fn for_request(&self, headers: &HeaderMap) -> (HeaderValue, bool) {
        let mut values = headers.get_all(&REQUEST_ID).iter();
        if let (Some(value), None) = (values.next(), values.next())
            && is_sane(value)
        {
            return (value.clone(), true);
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}{:016x}", self.prefix, n);
        (
            HeaderValue::try_from(id).expect("hex is a valid header value"),
            false,
        )
    }
}

fn is_sane(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_sane_sender_id() {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("abc-123"));
        let (id, from_sender) = RequestIds::new().for_request(&headers);
        assert_eq!(id, "abc-123");
        assert!(from_sender);
    }

    #[test]
    fn replaces_missing_oversized_or_repeated_ids_with_unique_ones() {
        let ids = RequestIds::new();
        let mut headers = HeaderMap::new();
        let (first, from_sender) = ids.for_request(&headers);
        assert!(!from_sender);
        let (second, _) = ids.for_request(&headers);
        assert_ne!(first, second);

        headers.insert(
            &REQUEST_ID,
            HeaderValue::from_str(&"x".repeat(200)).unwrap(),
        );
        assert!(!ids.for_request(&headers).1);
        headers.insert(&REQUEST_ID, HeaderValue::from_static("a"));
        headers.append(&REQUEST_ID, HeaderValue::from_static("b"));
        assert!(!ids.for_request(&headers).1);
    }
}
