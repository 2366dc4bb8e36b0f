//! The providers a [`super::Spec`] cannot describe, because the proof sits inside the JSON
//! body: Microsoft Graph / Business Central (`clientState` in every notification) and
//! Mailgun (a `signature` object with timestamp, token and HMAC). Same interface: keys from
//! secrets, a verdict from the body.

use super::engine::any_match;
use super::{
    Algorithm, DeliveryIdentity, Key, KeyForm, Rejection, Tag, TimeFormat, UnixSeconds, Verified,
    timestamp,
};
use http::HeaderName;
use sha2::{Digest, Sha256};

/// Notifications in one Graph delivery; Graph batches, but not hundreds.
const MAX_NOTIFICATIONS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coded {
    /// `{"value":[{"clientState":"<secret>", …}, …]}`: every notification must carry a
    /// configured secret.
    ClientState,
    /// `{"signature":{"timestamp","token","signature"}, "event-data":{…}}`, the signature
    /// being hex HMAC-SHA256(key, timestamp + token).
    Mailgun,
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
        }
    }

    pub(crate) fn has_timestamp(self) -> bool {
        self == Coded::Mailgun
    }

    pub(crate) fn key_description(self) -> &'static str {
        match self {
            Coded::ClientState => "the clientState given when creating the subscription",
            Coded::Mailgun => "the HTTP webhook signing key, as written",
        }
    }

    pub(crate) fn key_from_secret(self, secret: &[u8]) -> Result<Key, super::KeyError> {
        match self {
            Coded::ClientState => Key::from_secret(Algorithm::Token, KeyForm::Utf8, secret),
            Coded::Mailgun => Key::from_secret(Algorithm::HmacSha256, KeyForm::Utf8, secret),
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
