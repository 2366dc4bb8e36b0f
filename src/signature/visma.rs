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

pub(super) fn sign(key: &MacKey, body: &[u8]) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let tag = key.tag_of(&[body]);
    let value = Encoding::Base64.encode(tag.as_bytes());
    Ok(vec![(SIGNATURE.clone(), header_value(value)?)])
}

/// A header value for signing output. Signatures are hex or base64, but ids and prefixes come
/// from the user (`hookwall sign --id`), so this can fail.
pub(super) fn header_value(text: String) -> Result<HeaderValue, String> {
    HeaderValue::try_from(text.as_str())
        .map_err(|_| format!("{text:?} cannot be sent in a header (control characters?)"))
}
