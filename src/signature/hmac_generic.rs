//! A configurable HMAC over the body, for senders not covered by a named scheme:
//! `<header>: <prefix><hex or base64 of HMAC-SHA256/512(secret, body)>`.

use super::visma::header_value;
use super::{Algorithm, Encoding, Expectation, MacKey, Rejection, single_header};
use http::{HeaderMap, HeaderName, HeaderValue};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenericHmac {
    pub header: HeaderName,
    /// Text before the encoded MAC, such as `sha256=`; may be empty.
    pub prefix: String,
    pub encoding: Encoding,
    pub algorithm: Algorithm,
}

impl GenericHmac {
    pub(super) fn expectation(&self, headers: &HeaderMap) -> Result<Expectation, Rejection> {
        let text = single_header(headers, &self.header)?;
        let encoded =
            text.strip_prefix(self.prefix.as_str())
                .ok_or_else(|| Rejection::BadFormat {
                    header: self.header.clone(),
                    detail: "the configured prefix is missing",
                })?;
        let tag = self
            .encoding
            .decode_tag(&self.header, encoded, self.algorithm.output_len())?;
        Ok(Expectation {
            signed_prefix: Vec::new(),
            offered: vec![tag],
            signed_id: None,
        })
    }

    pub(super) fn sign(
        &self,
        key: &MacKey,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let tag = key.tag_of(&[body]);
        let value = format!("{}{}", self.prefix, self.encoding.encode(tag.as_bytes()));
        Ok(vec![(self.header.clone(), header_value(value)?)])
    }
}
