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

impl Key {
    /// Reads `secret` as `form` for `algorithm`. The error says what form was expected and
    /// never repeats the secret.
    pub(crate) fn from_secret(
        algorithm: Algorithm,
        form: KeyForm,
        secret: &[u8],
    ) -> Result<Key, String> {
        if algorithm == Algorithm::Token {
            return Ok(Key::Token(Sha256::digest(secret).into()));
        }
        if algorithm.is_public_key() {
            return public_key(algorithm, secret);
        }
        let bytes = match form {
            KeyForm::Utf8 => secret.to_vec(),
            KeyForm::Base64 => LENIENT_BASE64
                .decode(secret)
                .map_err(|_| "this scheme's secret is base64, and this one is not".to_string())?,
            KeyForm::Hex => hex::decode(secret)
                .map_err(|_| "this scheme's secret is hex, and this one is not".to_string())?,
            KeyForm::Whsec => {
                let encoded = secret.strip_prefix(b"whsec_").unwrap_or(secret);
                LENIENT_BASE64.decode(encoded).map_err(|_| {
                    "the secret is base64 after an optional \"whsec_\" prefix, and this one is not"
                        .to_string()
                })?
            }
            KeyForm::PublicKey => {
                return Err("an HMAC scheme takes a shared secret, not a public key".into());
            }
        };
        MacKey::new(algorithm, &bytes)
            .map(Key::Mac)
            .ok_or_else(|| format!("{} is not an HMAC", algorithm.name()))
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
fn public_key(algorithm: Algorithm, secret: &[u8]) -> Result<Key, String> {
    let text = std::str::from_utf8(secret)
        .map_err(|_| "a public key is text (PEM, base64 or hex)".to_string())?
        .trim();
    let raw = if text.starts_with("-----BEGIN") {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
            .map_err(|_| "the PEM is not a \"PUBLIC KEY\" block".to_string())?;
        spki_point(der.as_ref())?
    } else if let Some(encoded) = text.strip_prefix("whpk_") {
        LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| "a whpk_ key is base64 after the prefix".to_string())?
    } else if algorithm == Algorithm::Ed25519 && text.len() == 64 {
        hex::decode(text).map_err(|_| "a 64-character Ed25519 key must be hex".to_string())?
    } else {
        let bytes = LENIENT_BASE64
            .decode(text)
            .map_err(|_| "the public key is not PEM, hex or base64".to_string())?;
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
        (Algorithm::Ed25519, _) => Err("an Ed25519 public key is 32 bytes".into()),
        _ => Err("an ECDSA P-256 public key is an uncompressed point (65 bytes)".into()),
    }
}

/// The key bytes inside a DER SubjectPublicKeyInfo.
fn spki_point(der: &[u8]) -> Result<Vec<u8>, String> {
    use x509_parser::prelude::FromDer;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
        .map_err(|_| "the public key is not a DER SubjectPublicKeyInfo".to_string())?;
    Ok(info.subject_public_key.data.to_vec())
}

/// A private key for `hookwall sign` on asymmetric schemes (tests and local tries): PKCS#8
/// PEM for either algorithm, or an Ed25519 32-byte seed in hex, base64 or `whsk_`+base64.
pub(crate) enum SigningKey {
    Ed25519(ring::signature::Ed25519KeyPair),
    EcdsaP256(ring::signature::EcdsaKeyPair),
}

impl SigningKey {
    pub(crate) fn from_secret(algorithm: Algorithm, secret: &[u8]) -> Result<SigningKey, String> {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
        use rustls_pki_types::PrivatePkcs8KeyDer;
        let text = std::str::from_utf8(secret)
            .map_err(|_| "a private key is text (PEM, hex or base64)".to_string())?
            .trim();
        let pkcs8 = if text.starts_with("-----BEGIN") {
            Some(
                PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes())
                    .map_err(|_| "the PEM is not a \"PRIVATE KEY\" (PKCS#8) block".to_string())?
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
                        .map_err(|_| "not an Ed25519 PKCS#8 key".into());
                }
                let seed = if text.len() == 64 {
                    hex::decode(text).ok()
                } else {
                    LENIENT_BASE64
                        .decode(text.strip_prefix("whsk_").unwrap_or(text))
                        .ok()
                };
                let seed = seed.ok_or("an Ed25519 seed is 32 bytes in hex or base64")?;
                // Svix's whsk_ keys hold the 32-byte seed followed by the public key.
                let seed = seed.get(..32).ok_or("an Ed25519 seed is 32 bytes")?;
                Ed25519KeyPair::from_seed_unchecked(seed)
                    .map(SigningKey::Ed25519)
                    .map_err(|_| "not an Ed25519 seed".into())
            }
            Algorithm::EcdsaP256 => {
                let der = match pkcs8 {
                    Some(der) => der,
                    None => STANDARD
                        .decode(text)
                        .map_err(|_| "an ECDSA key is PKCS#8, in PEM or base64")?,
                };
                let rng = ring::rand::SystemRandom::new();
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
                    .map(SigningKey::EcdsaP256)
                    .map_err(|_| "not a P-256 PKCS#8 key".into())
            }
            _ => Err("only Ed25519 and ECDSA schemes sign with a private key".into()),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            SigningKey::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            SigningKey::EcdsaP256(pair) => pair
                .sign(&ring::rand::SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".into()),
        }
    }
}
