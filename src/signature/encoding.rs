//! Decoding signature text (hex, base64, base64url, or a token as written) into a [`Tag`].

use super::{Algorithm, Rejection, Tag};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::HeaderName;
use sha2::{Digest, Sha256};

/// Tokens and basic-auth credentials longer than this are not credentials.
pub(crate) const MAX_TOKEN_LEN: usize = 1024;

/// URL-safe base64, padded or not: senders differ.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a signature is written in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Either case on input; lower case when signing.
    Hex,
    /// Standard alphabet with padding (RFC 4648 §4), as every provider here sends it.
    Base64,
    /// URL-safe alphabet (RFC 4648 §5), padding optional.
    Base64Url,
    /// The text itself: tokens compared with the secret.
    Text,
}

impl Encoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
            Encoding::Text => "text",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Encoding> {
        Some(match name {
            "hex" => Encoding::Hex,
            "base64" => Encoding::Base64,
            "base64url" => Encoding::Base64Url,
            "text" => Encoding::Text,
            _ => return None,
        })
    }

    pub(crate) fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => STANDARD.encode(bytes),
            Encoding::Base64Url => BASE64URL.encode(bytes),
            Encoding::Text => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => STANDARD.decode(text).ok(),
            Encoding::Base64Url => BASE64URL.decode(text).ok(),
            Encoding::Text => Some(text.as_bytes().to_vec()),
        }
    }

    /// Decodes `text` into a tag the length `algorithm` produces. A token becomes its SHA-256
    /// digest, so comparing it takes the same time whatever its length.
    pub(crate) fn decode_signature(
        self,
        header: &HeaderName,
        text: &str,
        algorithm: Algorithm,
    ) -> Result<Tag, Rejection> {
        let expected = algorithm.signature_len();
        // Bound the work before decoding: base64 and hex never shrink by more than half.
        if text.len() > expected.end() * 2 + 4 {
            return Err(self.length_error(header, text, *expected.end()));
        }
        let Some(decoded) = self.decode(text) else {
            return Err(Rejection::BadEncoding {
                header: header.clone(),
                encoding: self.name(),
            });
        };
        if !expected.contains(&decoded.len()) {
            return Err(Rejection::WrongLength {
                header: header.clone(),
                expected: *expected.end(),
                actual: decoded.len(),
            });
        }
        Ok(if algorithm == Algorithm::Token {
            Tag::from_slice(&Sha256::digest(&decoded))
        } else {
            Tag::from_slice(&decoded)
        })
    }

    fn length_error(self, header: &HeaderName, text: &str, expected_len: usize) -> Rejection {
        // Too long to decode: "wrong length" when it is in the alphabet, else "not <encoding>".
        let plausible = match self {
            Encoding::Hex => text.bytes().all(|b| b.is_ascii_hexdigit()),
            Encoding::Base64 => text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')),
            Encoding::Base64Url => text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=')),
            Encoding::Text => true,
        };
        if plausible {
            Rejection::WrongLength {
                header: header.clone(),
                expected: expected_len,
                actual: match self {
                    Encoding::Hex => text.len() / 2,
                    Encoding::Base64 | Encoding::Base64Url => text.len() * 3 / 4,
                    Encoding::Text => text.len(),
                },
            }
        } else {
            Rejection::BadEncoding {
                header: header.clone(),
                encoding: self.name(),
            }
        }
    }
}
