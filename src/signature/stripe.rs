//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` over `"<t>." + body`.
//!
//! The key is the whole `whsec_…` string as UTF-8. Several `v1` entries appear while Stripe
//! rolls a secret; any one that matches is enough. Other entries (`v0`, future schemes) are
//! ignored, as Stripe's own libraries do.

use super::visma::header_value;
use super::{
    Encoding, Expectation, MacKey, Rejection, Tag, UnixSeconds, check_timestamp, single_header,
};
use http::{HeaderMap, HeaderName, HeaderValue};

pub static SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");
/// More `v1` entries than this is not a secret rotation but an attempt to make us work.
const MAX_SIGNATURES: usize = 8;

pub(super) fn expectation(
    headers: &HeaderMap,
    now: UnixSeconds,
    tolerance: i64,
) -> Result<Expectation, Rejection> {
    let text = single_header(headers, &SIGNATURE)?;
    let mut timestamp = None;
    let mut offered = Vec::new();
    let mut v1_entries = 0;
    // Like Stripe's libraries, an undecodable v1 entry is just one that cannot match; it
    // only makes the header malformed when no v1 entry decodes at all.
    let mut undecodable = None;
    for item in text.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "v1" => {
                v1_entries += 1;
                if v1_entries > MAX_SIGNATURES {
                    return Err(bad_format("too many v1 signatures"));
                }
                match Encoding::Hex.decode_tag(&SIGNATURE, value, 32) {
                    Ok(tag) => offered.push(tag),
                    Err(rejection) => undecodable = Some(rejection),
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| bad_format("no t= timestamp"))?;
    if offered.is_empty() {
        return Err(undecodable.unwrap_or_else(|| bad_format("no v1= signature")));
    }
    check_timestamp(&SIGNATURE, timestamp, now, tolerance)?;
    Ok(Expectation {
        signed_prefix: format!("{timestamp}.").into_bytes(),
        offered,
        signed_id: None,
    })
}

fn bad_format(detail: &'static str) -> Rejection {
    Rejection::BadFormat {
        header: SIGNATURE.clone(),
        detail,
    }
}

pub(super) fn sign(
    key: &MacKey,
    body: &[u8],
    now: UnixSeconds,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let tag: Tag = key.tag_of(&[format!("{now}.").as_bytes(), body]);
    let value = format!("t={now},v1={}", Encoding::Hex.encode(tag.as_bytes()));
    Ok(vec![(SIGNATURE.clone(), header_value(value)?)])
}
