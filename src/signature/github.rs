//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.

use super::visma::header_value;
use super::{Encoding, Expectation, MacKey, Rejection, single_header};
use http::{HeaderMap, HeaderName, HeaderValue};

pub static SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature-256");
const PREFIX: &str = "sha256=";

pub(super) fn expectation(headers: &HeaderMap) -> Result<Expectation, Rejection> {
    let text = single_header(headers, &SIGNATURE)?;
    let hex = text
        .strip_prefix(PREFIX)
        .ok_or_else(|| Rejection::BadFormat {
            header: SIGNATURE.clone(),
            detail: "expected the prefix \"sha256=\"",
        })?;
    let tag = Encoding::Hex.decode_tag(&SIGNATURE, hex, 32)?;
    Ok(Expectation {
        signed_prefix: Vec::new(),
        offered: vec![tag],
        signed_id: None,
    })
}

pub(super) fn sign(key: &MacKey, body: &[u8]) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let tag = key.tag_of(&[body]);
    let value = format!("{PREFIX}{}", Encoding::Hex.encode(tag.as_bytes()));
    Ok(vec![(SIGNATURE.clone(), header_value(value)?)])
}
