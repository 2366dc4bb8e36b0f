//! Turning a configured secret into a verification key, in the form its scheme names: an
//! HMAC state, a public key, or the digest of a shared token.

use super::{Algorithm, KeyForm, MacKey};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// Standard base64, padded or not: the Python reference libraries pad secrets themselves.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One configured key, ready to verify with.
// A route holds a handful of keys, built once: boxing the HMAC state would only add a
// pointer chase to every request.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Key {
    /// A shared secret, as a keyed HMAC.
    Mac(MacKey),
    /// A raw 32-byte Ed25519 public key.
    Ed25519(Vec<u8>),
    /// An uncompressed P-256 point (65 bytes).
    EcdsaP256(Vec<u8>),
    /// SHA-256 of the expected token.
    Token([u8; 32]),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Why a secret or key cannot be used with a scheme. The messages say what form was
/// expected and never repeat the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A base64 shared secret that does not decode.
    #[error("this scheme's secret is base64, and this one is not")]
    NotBase64,
    /// A secret read in Unicode NFKD that is not UTF-8 text.
    #[error("this scheme's secret is text (UTF-8), and this one is not")]
    NotUtf8,
    /// A hex shared secret that does not decode.
    #[error("this scheme's secret is hex, and this one is not")]
    NotHex,
    /// A Standard Webhooks secret that does not decode.
    #[error("the secret is base64 after an optional \"whsec_\" prefix, and this one is not")]
    NotWhsec,
    /// A public key given to a scheme that uses a shared secret.
    #[error("an HMAC scheme takes a shared secret, not a public key")]
    PublicKeyForHmac,
    /// The scheme's algorithm takes no shared secret.
    #[error("{algorithm} is not an HMAC")]
    NotHmac {
        /// The algorithm's name.
        algorithm: &'static str,
    },
    /// A sender's public key that cannot be read.
    #[error("{problem}")]
    PublicKey {
        /// What is wrong with it and which forms are read.
        problem: &'static str,
    },
    /// A secret of the wrong length for its scheme (Contentful's are 64 characters).
    #[error("this scheme's secrets are {expected} characters; this one is {found}")]
    Length {
        /// The length the provider issues.
        expected: usize,
        /// The configured secret's length.
        found: usize,
    },
    /// A private key (`hookwall sign` on public-key schemes) that cannot be read or used.
    #[error("{problem}")]
    PrivateKey {
        /// What is wrong with it and which forms are read.
        problem: &'static str,
    },
}

fn public_key_error(problem: &'static str) -> KeyError {
    KeyError::PublicKey { problem }
}

fn private_key_error(problem: &'static str) -> KeyError {
    KeyError::PrivateKey { problem }
}

impl Key {
    /// Reads `secret` as `form` for `algorithm`. The error says what form was expected and
    /// never repeats the secret.
    pub(crate) fn from_secret(
        algorithm: Algorithm,
        form: KeyForm,
        secret: &[u8],
    ) -> Result<Key, KeyError> {
        if algorithm == Algorithm::Token {
            return Ok(Key::Token(Sha256::digest(secret).into()));
        }
        if algorithm.is_public_key() {
            return public_key(algorithm, secret);
        }
        let bytes = match form {
            KeyForm::Utf8 => secret.to_vec(),
            KeyForm::Utf8Nfkd => std::str::from_utf8(secret)
                .map(|text| {
                    icu_normalizer::DecomposingNormalizerBorrowed::new_nfkd()
                        .normalize(text)
                        .into_owned()
                        .into_bytes()
                })
                .map_err(|_| KeyError::NotUtf8)?,
            KeyForm::Base64 => LENIENT_BASE64
                .decode(secret)
                .map_err(|_| KeyError::NotBase64)?,
            KeyForm::Hex => hex::decode(secret).map_err(|_| KeyError::NotHex)?,
            KeyForm::Whsec => {
                let encoded = secret.strip_prefix(b"whsec_").unwrap_or(secret);
                LENIENT_BASE64
                    .decode(encoded)
                    .map_err(|_| KeyError::NotWhsec)?
            }
            KeyForm::PublicKey => {
                return Err(KeyError::PublicKeyForHmac);
            }
        };
        MacKey::new(algorithm, &bytes)
            .map(Key::Mac)
            .ok_or(KeyError::NotHmac {
                algorithm: algorithm.name(),
            })
    }

    pub(crate) fn as_mac(&self) -> Option<&MacKey> {
        match self {
            Key::Mac(mac) => Some(mac),
            _ => None,
        }
    }
}

/// Accepts PEM (`-----BEGIN PUBLIC KEY-----`), `whpk_`+base64, base64 of DER
/// SubjectPublicKeyInfo, or the raw key in base64 (Ed25519's 32 bytes, also in hex; P-256's
/// uncompressed 65-byte point).
fn public_key(algorithm: Algorithm, secret: &[u8]) -> Result<Key, KeyError> {
    let text = std::str::from_utf8(secret)
        .map_err(|_| public_key_error("a public key is text (PEM, base64 or hex)"))?
        .trim();
    let raw = if text.starts_with("-----BEGIN") {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
            .map_err(|_| public_key_error("the PEM is not a \"PUBLIC KEY\" block"))?;
        spki_point(der.as_ref())?
    } else if let Some(encoded) = text.strip_prefix("whpk_") {
        LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| public_key_error("a whpk_ key is base64 after the prefix"))?
    } else if algorithm == Algorithm::Ed25519 && text.len() == 64 {
        hex::decode(text).map_err(|_| public_key_error("a 64-character Ed25519 key must be hex"))?
    } else {
        let bytes = LENIENT_BASE64
            .decode(text)
            .map_err(|_| public_key_error("the public key is not PEM, hex or base64"))?;
        if (algorithm == Algorithm::Ed25519 && bytes.len() == 32)
            || (algorithm == Algorithm::EcdsaP256 && bytes.len() == 65 && bytes[0] == 4)
        {
            bytes
        } else {
            spki_point(&bytes)?
        }
    };
    match (algorithm, raw.len()) {
        (Algorithm::Ed25519, 32) => Ok(Key::Ed25519(raw)),
        (Algorithm::EcdsaP256, 65) if raw[0] == 4 => Ok(Key::EcdsaP256(raw)),
        (Algorithm::Ed25519, _) => Err(public_key_error("an Ed25519 public key is 32 bytes")),
        _ => Err(public_key_error(
            "an ECDSA P-256 public key is an uncompressed point (65 bytes)",
        )),
    }
}

/// The key bytes inside a DER SubjectPublicKeyInfo.
fn spki_point(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    use x509_parser::prelude::FromDer;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
        .map_err(|_| public_key_error("the public key is not a DER SubjectPublicKeyInfo"))?;
    Ok(info.subject_public_key.data.to_vec())
}

/// A private key for `hookwall sign` on asymmetric schemes (tests and local tries): PKCS#8
/// PEM for either algorithm, or an Ed25519 32-byte seed in hex, base64 or `whsk_`+base64.
pub(crate) enum SigningKey {
    Ed25519(ring::signature::Ed25519KeyPair),
    EcdsaP256(ring::signature::EcdsaKeyPair),
}

impl SigningKey {
    pub(crate) fn from_secret(algorithm: Algorithm, secret: &[u8]) -> Result<SigningKey, KeyError> {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
        use rustls_pki_types::PrivatePkcs8KeyDer;
        let text = std::str::from_utf8(secret)
            .map_err(|_| private_key_error("a private key is text (PEM, hex or base64)"))?
            .trim();
        let pkcs8 = if text.starts_with("-----BEGIN") {
            Some(
                PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes())
                    .map_err(|_| {
                        private_key_error("the PEM is not a \"PRIVATE KEY\" (PKCS#8) block")
                    })?
                    .secret_pkcs8_der()
                    .to_vec(),
            )
        } else {
            None
        };
        match algorithm {
            Algorithm::Ed25519 => {
                if let Some(der) = pkcs8 {
                    return Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                        .map(SigningKey::Ed25519)
                        .map_err(|_| private_key_error("not an Ed25519 PKCS#8 key"));
                }
                let seed = if text.len() == 64 {
                    hex::decode(text).ok()
                } else {
                    LENIENT_BASE64
                        .decode(text.strip_prefix("whsk_").unwrap_or(text))
                        .ok()
                };
                let seed = seed.ok_or(private_key_error(
                    "an Ed25519 seed is 32 bytes in hex or base64",
                ))?;
                // Svix's whsk_ keys hold the 32-byte seed followed by the public key.
                let seed = seed
                    .get(..32)
                    .ok_or(private_key_error("an Ed25519 seed is 32 bytes"))?;
                Ed25519KeyPair::from_seed_unchecked(seed)
                    .map(SigningKey::Ed25519)
                    .map_err(|_| private_key_error("not an Ed25519 seed"))
            }
            Algorithm::EcdsaP256 => {
                let der = match pkcs8 {
                    Some(der) => der,
                    None => STANDARD.decode(text).map_err(|_| {
                        private_key_error("an ECDSA key is PKCS#8, in PEM or base64")
                    })?,
                };
                let rng = ring::rand::SystemRandom::new();
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
                    .map(SigningKey::EcdsaP256)
                    .map_err(|_| private_key_error("not a P-256 PKCS#8 key"))
            }
            _ => Err(private_key_error(
                "only Ed25519 and ECDSA schemes sign with a private key",
            )),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match self {
            SigningKey::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            SigningKey::EcdsaP256(pair) => pair
                .sign(&ring::rand::SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| private_key_error("ECDSA signing failed")),
        }
    }
}
