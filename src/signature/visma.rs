//! Visma Webhook Dispatcher: `x-vwd-signature-v1: base64(HMAC-SHA256(secret, body))`.
//!
//! Only the body is signed; the other `x-vwd-*` headers travel unsigned.

use super::{Encoding, Expectation, MacKey, Rejection, single_header};
use http::{HeaderMap, HeaderName, HeaderValue};

pub static SIGNATURE: HeaderName = HeaderName::from_static("x-vwd-signature-v1");

pub(super) fn expectation(headers: &HeaderMap) -> Result<Expectation, Rejection> {
    let text = single_header(headers, &SIGNATURE)?;
    let tag = Encoding::Base64.decode_tag(&SIGNATURE, text, 32)?;
    Ok(Expectation {
        signed_prefix: Vec::new(),
        offered: vec![tag],
        signed_id: None,
    })
}

pub(super) fn sign(key: &MacKey, body: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    let tag = key.tag_of(&[body]);
    let value = Encoding::Base64.encode(tag.as_bytes());
    vec![(SIGNATURE.clone(), header_value(value))]
}

/// Signature text is always hex, base64 or ASCII digits, so it is a valid header value.
pub(super) fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("encoded signatures are visible ASCII")
}
