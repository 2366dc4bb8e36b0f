//! The providers a [`super::Spec`] cannot describe. Most because the proof sits inside the
//! JSON body: Microsoft Graph / Business Central (`clientState` in every notification),
//! Mailgun (a `signature` object with timestamp, token and HMAC) and Adyen (an HMAC of
//! fields in every notification). Contentful because the sender chooses which headers it
//! signs. Same interface: keys from secrets, a verdict from the request.

mod adyen;
pub(crate) mod contentful;

pub(crate) use contentful::begin as contentful_begin;

use super::engine::any_match;
use super::{
    Algorithm, DeliveryIdentity, Key, KeyForm, Rejection, Tag, TimeFormat, UnixSeconds, Verified,
    timestamp,
};
use http::HeaderName;
use sha2::{Digest, Sha256};

/// Notifications in one Graph delivery; Graph batches, but not hundreds.
const MAX_NOTIFICATIONS: usize = 1000;

/// A scheme written as code, behind the same interface as a [`super::Spec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coded {
    /// `{"value":[{"clientState":"<secret>", …}, …]}`: every notification must carry a
    /// configured secret.
    ClientState,
    /// `{"signature":{"timestamp","token","signature"}, "event-data":{…}}`, the signature
    /// being hex HMAC-SHA256(key, timestamp + token).
    Mailgun,
    /// `{"notificationItems":[{"NotificationRequestItem":{…, "additionalData":
    /// {"hmacSignature"}}}]}`: base64 HMAC-SHA256 (hex key) of eight fields, per item.
    Adyen,
    /// `x-contentful-signature`: hex HMAC-SHA256 of method, path, the headers listed in
    /// `x-contentful-signed-headers`, and the body. Streams like a described scheme.
    Contentful,
}

static CLIENT_STATE: HeaderName = HeaderName::from_static("clientstate");
static MAILGUN_SIGNATURE: HeaderName = HeaderName::from_static("signature.signature");
static MAILGUN_TIMESTAMP: HeaderName = HeaderName::from_static("signature.timestamp");

impl Coded {
    /// What 401 answers name instead of a header.
    pub(crate) fn field_name(self) -> HeaderName {
        match self {
            Coded::ClientState => CLIENT_STATE.clone(),
            Coded::Mailgun => MAILGUN_SIGNATURE.clone(),
            Coded::Adyen => adyen::FIELD.clone(),
            Coded::Contentful => contentful::SIGNATURE.clone(),
        }
    }

    /// Whether a signed timestamp is checked, so that `tolerance` applies.
    pub(crate) fn has_timestamp(self) -> bool {
        matches!(self, Coded::Mailgun | Coded::Contentful)
    }

    /// What a configured secret must look like, for `hookwall check` and error messages.
    pub(crate) fn key_description(self) -> &'static str {
        match self {
            Coded::ClientState => "the clientState given when creating the subscription",
            Coded::Mailgun => "the HTTP webhook signing key, as written",
            Coded::Adyen => "the HMAC key in hex",
            Coded::Contentful => "the 64-character signing secret, as written",
        }
    }

    /// Turns a configured secret into a verification key.
    pub(crate) fn key_from_secret(self, secret: &[u8]) -> Result<Key, super::KeyError> {
        match self {
            Coded::ClientState => Key::from_secret(Algorithm::Token, KeyForm::Utf8, secret),
            Coded::Mailgun => Key::from_secret(Algorithm::HmacSha256, KeyForm::Utf8, secret),
            Coded::Adyen => Key::from_secret(Algorithm::HmacSha256, KeyForm::Hex, secret),
            Coded::Contentful if secret.len() != contentful::SECRET_LEN => {
                Err(super::KeyError::Length {
                    expected: contentful::SECRET_LEN,
                    found: secret.len(),
                })
            }
            Coded::Contentful => Key::from_secret(Algorithm::HmacSha256, KeyForm::Utf8, secret),
        }
    }

    /// Whether the proof is written into the body, so `hookwall sign` prints a signed body
    /// rather than headers.
    pub fn signs_inside_body(self) -> bool {
        self == Coded::Adyen
    }

    /// The body with the proof written in (Adyen), for `hookwall sign` and tests.
    pub(super) fn sign_body(self, body: &[u8], secret: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Coded::Adyen => adyen::sign(body, secret),
            _ => Err("this scheme's proof is not written into the body".into()),
        }
    }

    pub(super) fn verify(
        self,
        body: &[u8],
        keys: &[Key],
        now: UnixSeconds,
        tolerance: i64,
    ) -> Result<Verified, Rejection> {
        let json: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| Rejection::BadFormat {
                header: self.field_name(),
                detail: "the body is not JSON".into(),
            })?;
        match self {
            Coded::ClientState => client_state(&json, keys),
            Coded::Mailgun => mailgun(&json, keys, now, tolerance),
            Coded::Adyen => adyen::verify(&json, keys),
            // Verified by the engine as a stream (see `contentful::begin`).
            Coded::Contentful => Err(Rejection::Mismatch),
        }
    }
}

fn client_state(json: &serde_json::Value, keys: &[Key]) -> Result<Verified, Rejection> {
    let missing = || Rejection::MissingField {
        field: "value[].clientState",
    };
    let notifications = json["value"].as_array().ok_or_else(missing)?;
    if notifications.is_empty() || notifications.len() > MAX_NOTIFICATIONS {
        return Err(missing());
    }
    let expected: Vec<Tag> = keys
        .iter()
        .filter_map(|key| match key {
            Key::Token(digest) => Some(Tag::from_slice(digest)),
            _ => None,
        })
        .collect();
    let mut first = None;
    for notification in notifications {
        let state = notification["clientState"].as_str().ok_or_else(missing)?;
        let offered = Tag::from_slice(&Sha256::digest(state.as_bytes()));
        let tag =
            any_match(&expected, std::slice::from_ref(&offered)).ok_or(Rejection::Mismatch)?;
        first.get_or_insert(tag);
    }
    let tag = first.ok_or_else(missing)?;
    Ok(Verified {
        identity: DeliveryIdentity::Signature(tag),
    })
}

fn mailgun(
    json: &serde_json::Value,
    keys: &[Key],
    now: UnixSeconds,
    tolerance: i64,
) -> Result<Verified, Rejection> {
    let signature = &json["signature"];
    let field = |name: &'static str| {
        signature[name]
            .as_str()
            .filter(|text| !text.is_empty())
            .ok_or(Rejection::MissingField { field: name })
    };
    let (stamp, token, hex_signature) = (field("timestamp")?, field("token")?, field("signature")?);
    if token.len() > 256 {
        return Err(Rejection::BadFormat {
            header: MAILGUN_SIGNATURE.clone(),
            detail: "the token is longer than 256 bytes".into(),
        });
    }
    let offered = super::Encoding::Hex.decode_signature(
        &MAILGUN_SIGNATURE,
        hex_signature,
        Algorithm::HmacSha256,
    )?;
    timestamp::check(
        &MAILGUN_TIMESTAMP,
        stamp,
        TimeFormat::UnixSeconds,
        now,
        tolerance,
    )?;
    let computed: Vec<Tag> = keys
        .iter()
        .filter_map(Key::as_mac)
        .map(|mac| mac.tag_of(&[stamp.as_bytes(), token.as_bytes()]))
        .collect();
    any_match(&computed, std::slice::from_ref(&offered))
        .map(|_| Verified {
            // Mailgun's token is unique per delivery: the natural duplicate key.
            identity: DeliveryIdentity::SignedId(token.to_string()),
        })
        .ok_or(Rejection::Mismatch)
}
