//! Standard Webhooks (and Svix, its origin): `webhook-signature: v1,<base64> [v1,<base64> …]`
//! over `"<webhook-id>.<webhook-timestamp>." + body`.
//!
//! The secret is base64 after an optional `whsec_` prefix. The `svix-*` header names are read
//! when the `webhook-*` ones are absent. Entries with other versions (`v1a`, asymmetric) are
//! skipped, as the reference libraries do.

use super::visma::header_value;
use super::{
    Encoding, Expectation, MacKey, Rejection, UnixSeconds, check_timestamp, single_header,
};
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, HeaderName, HeaderValue};

pub static SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
static ID: HeaderName = HeaderName::from_static("webhook-id");
static TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
static SVIX_SIGNATURE: HeaderName = HeaderName::from_static("svix-signature");
static SVIX_ID: HeaderName = HeaderName::from_static("svix-id");
static SVIX_TIMESTAMP: HeaderName = HeaderName::from_static("svix-timestamp");
const SECRET_PREFIX: &[u8] = b"whsec_";
const MAX_SIGNATURES: usize = 8;
/// hookwall's own bound (the spec sets none): ids are short, like `msg_…`; a longer one only
/// bloats the duplicate-suppression memory.
const MAX_ID_LEN: usize = 256;

/// Standard base64, padded or not: the Python reference library pads secrets itself.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(super) fn decode_secret(secret: &[u8]) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    SECRET_BASE64.decode(encoded).map_err(|_| {
        "a standard-webhooks secret is base64 after an optional \"whsec_\" prefix".to_string()
    })
}

pub(super) fn expectation(
    headers: &HeaderMap,
    now: UnixSeconds,
    tolerance: i64,
) -> Result<Expectation, Rejection> {
    let (signature_name, id_name, timestamp_name) =
        if headers.contains_key(&SIGNATURE) || !headers.contains_key(&SVIX_SIGNATURE) {
            (&SIGNATURE, &ID, &TIMESTAMP)
        } else {
            (&SVIX_SIGNATURE, &SVIX_ID, &SVIX_TIMESTAMP)
        };
    let text = single_header(headers, signature_name)?;
    let id = single_header(headers, id_name)?;
    let timestamp = single_header(headers, timestamp_name)?;
    if id.len() > MAX_ID_LEN {
        return Err(Rejection::BadFormat {
            header: id_name.clone(),
            detail: "the id is longer than 256 bytes",
        });
    }

    let mut offered = Vec::new();
    let mut v1_entries = 0;
    // The spec says to try each signature until one matches: an undecodable entry is one
    // that cannot match, and only makes the header malformed when none decodes.
    let mut undecodable = None;
    for entry in text.split(' ').filter(|entry| !entry.is_empty()) {
        let Some((version, encoded)) = entry.split_once(',') else {
            return Err(Rejection::BadFormat {
                header: signature_name.clone(),
                detail: "expected space-separated \"v1,<base64>\" entries",
            });
        };
        if version != "v1" {
            continue;
        }
        v1_entries += 1;
        if v1_entries > MAX_SIGNATURES {
            return Err(Rejection::BadFormat {
                header: signature_name.clone(),
                detail: "too many v1 signatures",
            });
        }
        match Encoding::Base64.decode_tag(signature_name, encoded, 32) {
            Ok(tag) => offered.push(tag),
            Err(rejection) => undecodable = Some(rejection),
        }
    }
    if offered.is_empty() {
        return Err(undecodable.unwrap_or_else(|| Rejection::BadFormat {
            header: signature_name.clone(),
            detail: "no v1 signature",
        }));
    }
    check_timestamp(timestamp_name, timestamp, now, tolerance)?;
    Ok(Expectation {
        signed_prefix: format!("{id}.{timestamp}.").into_bytes(),
        offered,
        signed_id: Some(id.to_string()),
    })
}

pub(super) fn sign(
    key: &MacKey,
    body: &[u8],
    now: UnixSeconds,
    id: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let tag = key.tag_of(&[format!("{id}.{now}.").as_bytes(), body]);
    Ok(vec![
        (ID.clone(), header_value(id.to_string())?),
        (TIMESTAMP.clone(), header_value(now.to_string())?),
        (
            SIGNATURE.clone(),
            header_value(format!("v1,{}", Encoding::Base64.encode(tag.as_bytes())))?,
        ),
    ])
}
