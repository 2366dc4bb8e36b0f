//! Decoding signature text (hex or base64) into a [`Tag`] of the exact expected length.

use super::{Rejection, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;

/// How a signature is written in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    /// Standard alphabet with padding (RFC 4648 §4), as every provider here sends it.
    Base64,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => STANDARD.encode(bytes),
        }
    }

    /// Decodes `text` into a tag of exactly `expected_len` bytes.
    pub fn decode_tag(
        self,
        header: &HeaderName,
        text: &str,
        expected_len: usize,
    ) -> Result<Tag, Rejection> {
        let mut buffer = [0u8; Tag::MAX_LEN];
        let decoded_len = match self {
            Encoding::Hex => {
                // Length first, so an over-long value is "wrong length", not "not hex".
                if text.len() != expected_len * 2 {
                    return Err(self.length_error(header, text, expected_len));
                }
                hex::decode_to_slice(text, &mut buffer[..expected_len]).map_err(|_| {
                    Rejection::BadEncoding {
                        header: header.clone(),
                        encoding: self.name(),
                    }
                })?;
                expected_len
            }
            Encoding::Base64 => {
                let Ok(decoded) = STANDARD.decode(text) else {
                    return Err(Rejection::BadEncoding {
                        header: header.clone(),
                        encoding: self.name(),
                    });
                };
                if decoded.len() != expected_len {
                    return Err(Rejection::WrongLength {
                        header: header.clone(),
                        expected: expected_len,
                        actual: decoded.len(),
                    });
                }
                buffer[..expected_len].copy_from_slice(&decoded);
                expected_len
            }
        };
        Ok(Tag::from_slice(&buffer[..decoded_len]))
    }

    fn length_error(self, header: &HeaderName, text: &str, expected_len: usize) -> Rejection {
        if text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Rejection::WrongLength {
                header: header.clone(),
                expected: expected_len,
                actual: text.len() / 2,
            }
        } else {
            Rejection::BadEncoding {
                header: header.clone(),
                encoding: self.name(),
            }
        }
    }
}
