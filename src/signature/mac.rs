//! Keyed HMAC states and the fixed-size tags they produce.
//!
//! A key's HMAC state (the hashed inner and outer pads) is computed once when the config is
//! loaded; each request clones it instead of re-deriving it from the secret.

use super::Algorithm;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// An HMAC keyed with one secret, ready to clone per request.
#[derive(Clone)]
pub enum MacKey {
    /// HMAC-SHA1 (legacy senders).
    Sha1(Hmac<Sha1>),
    /// HMAC-SHA256.
    Sha256(Hmac<Sha256>),
    /// HMAC-SHA512.
    Sha512(Hmac<Sha512>),
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

impl MacKey {
    /// `None` for algorithms that are not HMAC.
    pub(crate) fn new(algorithm: Algorithm, key: &[u8]) -> Option<MacKey> {
        // HMAC accepts keys of any length, so these constructors cannot fail.
        Some(match algorithm {
            Algorithm::HmacSha1 => MacKey::Sha1(
                <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"),
            ),
            Algorithm::HmacSha256 => MacKey::Sha256(
                <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"),
            ),
            Algorithm::HmacSha512 => MacKey::Sha512(
                <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"),
            ),
            _ => return None,
        })
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            MacKey::Sha1(mac) => mac.update(bytes),
            MacKey::Sha256(mac) => mac.update(bytes),
            MacKey::Sha512(mac) => mac.update(bytes),
        }
    }

    pub(crate) fn finalize(self) -> Tag {
        match self {
            MacKey::Sha1(mac) => Tag::from_slice(&mac.finalize().into_bytes()),
            MacKey::Sha256(mac) => Tag::from_slice(&mac.finalize().into_bytes()),
            MacKey::Sha512(mac) => Tag::from_slice(&mac.finalize().into_bytes()),
        }
    }

    /// One-shot MAC of several byte strings in order, for signing.
    pub(crate) fn tag_of(&self, parts: &[&[u8]]) -> Tag {
        let mut mac = self.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize()
    }
}

/// A signature value of up to 72 bytes (an ECDSA P-256 DER signature), kept inline to avoid
/// an allocation per request.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    len: u8,
    bytes: [u8; Tag::MAX_LEN],
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tags are signatures: never print them.
        write!(f, "Tag([{} bytes redacted])", self.len)
    }
}

impl Tag {
    pub(crate) const MAX_LEN: usize = 72;

    /// Copies up to [`Tag::MAX_LEN`] bytes; callers check lengths before building one.
    pub(crate) fn from_slice(bytes: &[u8]) -> Tag {
        let len = bytes.len().min(Self::MAX_LEN);
        let mut tag = Tag {
            len: len as u8,
            bytes: [0; Tag::MAX_LEN],
        };
        tag.bytes[..len].copy_from_slice(&bytes[..len]);
        tag
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}
