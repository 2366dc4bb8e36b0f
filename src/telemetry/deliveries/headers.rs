//! A request's headers as the deliveries page may keep them: bounded in count and length, and
//! masked deny-by-default, so no signature, token, secret or credential is ever held in memory
//! by the page, let alone shown.

use aho_corasick::AhoCorasick;
use http::{HeaderMap, HeaderName};
use std::sync::LazyLock;

/// At most this many header fields are kept per delivery; the rest are counted.
pub(crate) const MAX_KEPT_HEADERS: usize = 40;
/// Longer header names are cut (real ones are far shorter).
pub(crate) const MAX_NAME_BYTES: usize = 64;
/// Longer values are cut and end in `…` (ids, dates and user agents fit).
pub(crate) const MAX_VALUE_BYTES: usize = 200;
/// All names and values of one delivery together stay under this.
pub(crate) const MAX_HEADER_TEXT_BYTES: usize = 4096;
/// What a masked value reads as.
pub(crate) const MASKED: &str = "[masked]";

/// Headers that carry a signature or credential under a name the patterns below miss.
const MASKED_NAMES: &[&str] = &[
    "x-vwd-signature-v1",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "stripe-signature",
    "x-slack-signature",
    "webhook-signature",
    "svix-signature",
    "x-gitlab-token",
    "x-twilio-signature",
    "x-square-hmacsha256-signature",
    "paddle-signature",
    "typeform-signature",
    "x-line-signature",
    "x-zm-signature",
    "x-hook-secret",
    "proxy-authorization",
    "authorization",
    "cookie",
    "set-cookie",
];

/// Any header whose name contains one of these is masked, whatever the provider calls it.
const MASKED_PATTERNS: &[&str] = &[
    "signature",
    "token",
    "secret",
    "auth",
    "key",
    "cookie",
    "password",
    "passwd",
    "hmac",
    "session",
    "credential",
    "jwt",
    "bearer",
];

/// Headers that identify a delivery at its sender, worth a column on the page (Stripe puts its
/// event id in the body, which is never kept; Slack sends none).
pub(crate) const SENDER_ID_HEADERS: &[&str] = &[
    "x-vwd-event-id",
    "x-vwd-notification-id",
    "x-vwd-tenant-id",
    "x-vwd-subscription-id",
    "x-github-delivery",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "webhook-id",
    "svix-id",
];

/// Whether a header's value must never be kept. `route_signature` is the route's own
/// signature header (a generic `hmac` route may call it anything).
pub(crate) fn is_masked(name: &str, route_signature: Option<&HeaderName>) -> bool {
    // Header names from hyper are already lower case: no copy on the request path.
    let name: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    let name = name.as_ref();
    MASKED_NAMES.contains(&name)
        || masked_patterns().is_match(name)
        || route_signature.is_some_and(|header| header.as_str() == name)
}

/// All of [`MASKED_PATTERNS`] in one automaton: one pass over a name finds any of them
/// (measured: a substring search per pattern made recording cost microseconds a request).
fn masked_patterns() -> &'static AhoCorasick {
    static PATTERNS: LazyLock<AhoCorasick> = LazyLock::new(|| {
        AhoCorasick::new(MASKED_PATTERNS).expect("a dozen short literal patterns always build")
    });
    &PATTERNS
}

/// The kept headers of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeptHeaders {
    /// (name, value) in arrival order; masked values read [`MASKED`].
    pub(crate) fields: Vec<(String, String)>,
    /// Header fields not kept because a bound was reached.
    pub(crate) omitted: usize,
}

impl KeptHeaders {
    /// Copies what may be kept of `headers`, within the bounds above.
    pub(crate) fn capture(
        headers: &HeaderMap,
        route_signature: Option<&HeaderName>,
    ) -> KeptHeaders {
        let mut kept = KeptHeaders {
            fields: Vec::with_capacity(headers.len().min(MAX_KEPT_HEADERS)),
            omitted: 0,
        };
        let mut budget = MAX_HEADER_TEXT_BYTES;
        for (name, value) in headers {
            let shown_value = if is_masked(name.as_str(), route_signature) {
                MASKED.to_string()
            } else {
                bounded(&String::from_utf8_lossy(value.as_bytes()), MAX_VALUE_BYTES)
            };
            let shown_name = bounded(name.as_str(), MAX_NAME_BYTES);
            let cost = shown_name.len() + shown_value.len();
            if kept.fields.len() == MAX_KEPT_HEADERS || cost > budget {
                kept.omitted += 1;
                continue;
            }
            budget -= cost;
            kept.fields.push((shown_name, shown_value));
        }
        kept.fields.shrink_to_fit();
        kept
    }

    /// The sender's delivery ids among the kept headers.
    pub(crate) fn sender_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter(|(name, _)| SENDER_ID_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Heap bytes held (string and vector capacities), for the memory bound.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.fields.capacity() * std::mem::size_of::<(String, String)>()
            + self
                .fields
                .iter()
                .map(|(name, value)| name.capacity() + value.capacity())
                .sum::<usize>()
    }
}

/// `text` cut to at most `max` bytes on a character boundary, ending in `…` when cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    const ELLIPSIS: &str = "…";
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + ELLIPSIS.len());
    cut.push_str(&text[..end]);
    cut.push_str(ELLIPSIS);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::try_from(*name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn signatures_credentials_and_the_routes_own_header_are_masked() {
        let headers = map(&[
            ("x-vwd-signature-v1", "c2lnbmF0dXJl"),
            ("authorization", "Bearer abc"),
            ("x-api-key", "k"),
            ("x-my-webhook-token", "t"),
            ("cookie", "session=1"),
            ("x-custom-mac", "deadbeef"),
            ("x-vwd-event-id", "evt-1"),
            ("content-type", "application/json"),
        ]);
        let custom = HeaderName::from_static("x-custom-mac");
        let kept = KeptHeaders::capture(&headers, Some(&custom));
        let value = |name: &str| {
            kept.fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        for name in [
            "x-vwd-signature-v1",
            "authorization",
            "x-api-key",
            "x-my-webhook-token",
            "cookie",
            "x-custom-mac",
        ] {
            assert_eq!(value(name), MASKED, "{name}");
        }
        assert_eq!(value("x-vwd-event-id"), "evt-1");
        assert_eq!(value("content-type"), "application/json");
        assert_eq!(
            kept.sender_ids().collect::<Vec<_>>(),
            vec![("x-vwd-event-id", "evt-1")]
        );
    }

    #[test]
    fn every_known_signature_header_is_masked_by_name() {
        for name in MASKED_NAMES {
            assert!(is_masked(name, None), "{name}");
            assert!(is_masked(&name.to_ascii_uppercase(), None), "{name}");
        }
        for name in SENDER_ID_HEADERS {
            assert!(!is_masked(name, None), "sender id {name} must be shown");
        }
    }

    #[test]
    fn count_length_and_total_size_are_bounded() {
        let long = "v".repeat(10_000);
        let mut pairs: Vec<(String, String)> = (0..100)
            .map(|i| (format!("x-header-{i:03}"), long.clone()))
            .collect();
        pairs.push(("x-short".into(), "s".into()));
        let mut headers = HeaderMap::new();
        for (name, value) in &pairs {
            headers.append(
                HeaderName::try_from(name.as_str()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let kept = KeptHeaders::capture(&headers, None);
        assert!(kept.fields.len() <= MAX_KEPT_HEADERS);
        assert_eq!(kept.fields.len() + kept.omitted, 101);
        let text: usize = kept.fields.iter().map(|(n, v)| n.len() + v.len()).sum();
        assert!(text <= MAX_HEADER_TEXT_BYTES, "{text}");
        for (name, value) in &kept.fields {
            assert!(value.len() <= MAX_VALUE_BYTES, "{name}");
            assert!(name == "x-short" || value.ends_with('…'), "{name}");
        }
        // Once the long ones used the budget, a short one still fits.
        assert!(kept.fields.iter().any(|(name, _)| name == "x-short"));
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        let text = "é".repeat(300);
        let cut = bounded(&text, MAX_VALUE_BYTES);
        assert!(cut.len() <= MAX_VALUE_BYTES);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short", 10), "short");
    }
}
