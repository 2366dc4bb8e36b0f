//! Slack: `X-Slack-Signature: v0=<hex>` over `"v0:<X-Slack-Request-Timestamp>:" + body`.

use super::visma::header_value;
use super::{
    Encoding, Expectation, MacKey, Rejection, UnixSeconds, check_timestamp, single_header,
};
use http::{HeaderMap, HeaderName, HeaderValue};

pub static SIGNATURE: HeaderName = HeaderName::from_static("x-slack-signature");
pub static TIMESTAMP: HeaderName = HeaderName::from_static("x-slack-request-timestamp");
const VERSION_PREFIX: &str = "v0=";

pub(super) fn expectation(
    headers: &HeaderMap,
    now: UnixSeconds,
    tolerance: i64,
) -> Result<Expectation, Rejection> {
    let text = single_header(headers, &SIGNATURE)?;
    let timestamp = single_header(headers, &TIMESTAMP)?;
    let hex = text
        .strip_prefix(VERSION_PREFIX)
        .ok_or_else(|| Rejection::BadFormat {
            header: SIGNATURE.clone(),
            detail: "expected the prefix \"v0=\"",
        })?;
    let tag = Encoding::Hex.decode_tag(&SIGNATURE, hex, 32)?;
    check_timestamp(&TIMESTAMP, timestamp, now, tolerance)?;
    Ok(Expectation {
        signed_prefix: format!("v0:{timestamp}:").into_bytes(),
        offered: vec![tag],
        signed_id: None,
    })
}

pub(super) fn sign(
    key: &MacKey,
    body: &[u8],
    now: UnixSeconds,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let tag = key.tag_of(&[format!("v0:{now}:").as_bytes(), body]);
    Ok(vec![
        (
            SIGNATURE.clone(),
            header_value(format!(
                "{VERSION_PREFIX}{}",
                Encoding::Hex.encode(tag.as_bytes())
            ))?,
        ),
        (TIMESTAMP.clone(), header_value(now.to_string())?),
    ])
}
