//! Endpoint handshakes: the requests a provider sends when a subscription is created or
//! renewed, to prove the endpoint is there (and, for some, that it holds the secret).
//!
//! Pure functions: the request head and body in, an [`Answer`] out when hookwall answers
//! itself; `None` means the request takes the ordinary path (verified, then forwarded).
//!
//! | provider | handshake | who answers |
//! |---|---|---|
//! | Microsoft Graph / Business Central | `?validationToken=…`, unsigned, no body | hookwall, before verification: echoes the token |
//! | Zoom | `endpoint.url_validation`, signed | hookwall, after verification: `encryptedToken` from the secret that signed it |
//! | Slack | `url_verification`, signed | hookwall, after verification: echoes `challenge` |
//! | Discord | PING (`type` 1), signed | hookwall, after verification: PONG |
//! | Twitch | `webhook_callback_verification`, signed | hookwall, after verification: echoes `challenge` |
//! | Xero | intent to receive: signed and badly signed deliveries | hookwall 401s the bad ones, the app's 200 answers the good ones |
//!
//! Zoom's answer is an HMAC of a value the sender chooses, so it is only given to requests
//! whose own signature verified: otherwise anyone could make hookwall sign anything. Zoom
//! checks the answer with the app's current secret token, the one it signed the validation
//! request with; so while two secrets are configured (rotation), hookwall answers with the
//! secret whose signature matched, whichever position it has.

use super::{Algorithm, Encoding, Key, MacKey, RequestHead, Rules, Verifier};
use http::HeaderName;
use subtle::ConstantTimeEq;

static ZOOM_SIGNATURE: HeaderName = HeaderName::from_static("x-zm-signature");

/// Challenges and tokens longer than this are not handshakes.
const MAX_CHALLENGE_LEN: usize = 1024;

/// What hookwall answers in the provider's place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

/// Handshakes that carry no signature by design, answered before verification.
pub(crate) fn before_verification(verifier: &Verifier, head: RequestHead<'_>) -> Option<Answer> {
    match verifier.scheme().rules() {
        Rules::Coded(super::Coded::ClientState) => {
            let query = head.query?;
            let token = form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "validationToken")?
                .1;
            (token.len() <= MAX_CHALLENGE_LEN).then(|| Answer {
                content_type: "text/plain; charset=utf-8",
                body: token.into_owned(),
            })
        }
        _ => None,
    }
}

/// Handshakes whose signature has verified and that hookwall answers itself.
pub(crate) fn after_verification(
    verifier: &Verifier,
    head: RequestHead<'_>,
    body: &[u8],
) -> Option<Answer> {
    let name = verifier.scheme().name();
    if !matches!(name, "zoom" | "slack" | "discord" | "twitch") {
        return None;
    }
    if name == "twitch" {
        let kind = head
            .headers
            .get("twitch-eventsub-message-type")?
            .to_str()
            .ok()?;
        if kind != "webhook_callback_verification" {
            return None;
        }
    }
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let short = |value: &serde_json::Value| {
        value
            .as_str()
            .filter(|text| text.len() <= MAX_CHALLENGE_LEN)
            .map(str::to_string)
    };
    match name {
        "zoom" if json["event"] == "endpoint.url_validation" => {
            let plain = short(&json["payload"]["plainToken"])?;
            let mac = zoom_signing_key(verifier, head, body)?;
            let encrypted = hex::encode(mac.tag_of(&[plain.as_bytes()]).as_bytes());
            Some(json_answer(serde_json::json!({
                "plainToken": plain,
                "encryptedToken": encrypted,
            })))
        }
        "slack" if json["type"] == "url_verification" => Some(json_answer(
            serde_json::json!({ "challenge": short(&json["challenge"])? }),
        )),
        "discord" if json["type"] == 1 => Some(json_answer(serde_json::json!({ "type": 1 }))),
        "twitch" => Some(Answer {
            content_type: "text/plain; charset=utf-8",
            body: short(&json["challenge"])?,
        }),
        _ => None,
    }
}

/// The configured secret whose `v0:{timestamp}:{body}` HMAC is the request's `x-zm-signature`
/// (compared in constant time), or the first one when none is (it verified, so one is).
fn zoom_signing_key<'a>(
    verifier: &'a Verifier,
    head: RequestHead<'_>,
    body: &[u8],
) -> Option<&'a MacKey> {
    let macs = verifier.keys().iter().filter_map(Key::as_mac);
    let offered = head
        .headers
        .get(&ZOOM_SIGNATURE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.strip_prefix("v0="))
        .and_then(|hex| {
            Encoding::Hex
                .decode_signature(&ZOOM_SIGNATURE, hex, Algorithm::HmacSha256)
                .ok()
        });
    let stamp = head
        .headers
        .get("x-zm-request-timestamp")
        .map(|value| value.as_bytes());
    if let (Some(offered), Some(stamp)) = (offered, stamp) {
        for mac in macs.clone() {
            let computed = mac.tag_of(&[b"v0:", stamp, b":", body]);
            if bool::from(computed.as_bytes().ct_eq(offered.as_bytes())) {
                return Some(mac);
            }
        }
    }
    verifier.keys().iter().find_map(Key::as_mac)
}

fn json_answer(value: serde_json::Value) -> Answer {
    Answer {
        content_type: "application/json",
        body: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{DEFAULT_TOLERANCE, Scheme};
    use http::HeaderMap;

    fn verifier(name: &str, secret: &[u8]) -> Verifier {
        let scheme = Scheme::builtin(name).unwrap();
        let key = scheme.key_from_secret(secret).unwrap();
        Verifier::new(scheme, vec![key], DEFAULT_TOLERANCE)
    }

    #[test]
    fn zoom_validation_answer_matches_zooms_documented_formula() {
        // encryptedToken = hex(HMAC-SHA256(secret token, plainToken)), computed here with the
        // hmac crate directly.
        use hmac::{KeyInit, Mac};
        let secret = b"zoom secret token";
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let headers = HeaderMap::new();
        let answer =
            after_verification(&verifier("zoom", secret), RequestHead::post(&headers), body)
                .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(b"qgg8vlvZRS6UYooatFL8Aw");
        let expected = hex::encode(mac.finalize().into_bytes());
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(json["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(json["encryptedToken"], expected);
    }

    #[test]
    fn zoom_answers_with_the_secret_that_signed_the_validation_request() {
        // Rotation: the old secret is listed first, Zoom now signs with the new one, and it
        // checks encryptedToken with the new one too.
        use hmac::{KeyInit, Mac};
        let hmac = |key: &[u8], parts: &[&[u8]]| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            parts.iter().for_each(|part| mac.update(part));
            hex::encode(mac.finalize().into_bytes())
        };
        let scheme = Scheme::builtin("zoom").unwrap();
        let keys = [b"old zoom token".as_slice(), b"new zoom token"]
            .map(|secret| scheme.key_from_secret(secret).unwrap())
            .to_vec();
        let verifier = Verifier::new(scheme, keys, DEFAULT_TOLERANCE);
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        for secret in [b"new zoom token".as_slice(), b"old zoom token"] {
            let mut headers = HeaderMap::new();
            headers.insert("x-zm-request-timestamp", "1654503849".parse().unwrap());
            let signature = hmac(secret, &[b"v0:1654503849:", body]);
            headers.insert("x-zm-signature", format!("v0={signature}").parse().unwrap());
            let answer = after_verification(&verifier, RequestHead::post(&headers), body).unwrap();
            let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(
                json["encryptedToken"],
                hmac(secret, &[b"qgg8vlvZRS6UYooatFL8Aw"]),
                "answered with another secret than the one that signed"
            );
        }
    }

    #[test]
    fn ordinary_events_are_not_handshakes() {
        let headers = HeaderMap::new();
        for (scheme, body) in [
            ("zoom", r#"{"event":"meeting.started"}"#),
            ("slack", r#"{"type":"event_callback","challenge":"x"}"#),
            // RFC 8032 test 1's public key: Discord keys are Ed25519 public keys.
            ("discord", r#"{"type":2}"#),
            ("twitch", r#"{"challenge":"x"}"#),
            ("github", r#"{"type":1}"#),
        ] {
            let secret: &[u8] = if scheme == "discord" {
                b"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
            } else {
                b"s"
            };
            assert_eq!(
                after_verification(
                    &verifier(scheme, secret),
                    RequestHead::post(&headers),
                    body.as_bytes()
                ),
                None,
                "{scheme}"
            );
        }
    }

    #[test]
    fn graph_validation_token_is_echoed_decoded() {
        let headers = HeaderMap::new();
        let head = RequestHead {
            method: "POST",
            path: "/webhooks/bc",
            query: Some("validationToken=Validation%3a+Testing+client+application"),
            headers: &headers,
        };
        let answer = before_verification(&verifier("business-central", b"state"), head).unwrap();
        assert_eq!(answer.body, "Validation: Testing client application");
        let no_token = RequestHead {
            query: Some("other=1"),
            ..head
        };
        assert_eq!(
            before_verification(&verifier("business-central", b"state"), no_token),
            None
        );
    }
}
