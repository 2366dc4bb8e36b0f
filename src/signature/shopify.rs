//! Shopify: `X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(secret, body))`.

use super::visma::header_value;
use super::{Encoding, Expectation, MacKey, Rejection, single_header};
use http::{HeaderMap, HeaderName, HeaderValue};

pub static SIGNATURE: HeaderName = HeaderName::from_static("x-shopify-hmac-sha256");

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
    Ok(vec![(
        SIGNATURE.clone(),
        header_value(Encoding::Base64.encode(tag.as_bytes()))?,
    )])
}
