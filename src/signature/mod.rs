//! Pure signature verification: headers, body bytes, keys and a clock in; a verdict out. No I/O.
//!
//! Verification is split so the proxy can hash the body while it streams in:
//! [`Verifier::begin`] parses the signature headers (rejecting missing, malformed and stale ones
//! before a single body byte is read), [`Verification::update`] feeds body chunks to one HMAC
//! per configured key, and [`Verification::finish`] compares every computed MAC against every
//! offered signature in constant time. [`Verifier::verify`] does all three for a whole body.
//!
//! Each scheme lives in its own module and only knows how to read its headers into an
//! [`Expectation`] (what to prepend to the body, which signatures were offered) and how to sign.

mod encoding;
mod github;
mod hmac_generic;
mod mac;
mod rejection;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;
mod visma;

pub use encoding::Encoding;
pub use hmac_generic::GenericHmac;
pub use mac::{Algorithm, MacKey, Tag};
pub use rejection::{Rejection, RejectionKind};

use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;
use subtle::{Choice, ConstantTimeEq};

/// Seconds since the Unix epoch; injected so tests and `hookwall verify --at` fix the clock.
pub type UnixSeconds = i64;

/// Default for schemes with a signed timestamp: the five minutes Stripe, Slack and Standard
/// Webhooks all document.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Which provider's signing rules a route follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    Visma,
    Github,
    Shopify,
    Stripe,
    Slack,
    StandardWebhooks,
    Hmac(GenericHmac),
}

/// Names accepted for `scheme = "..."`, for error messages and `--help`.
pub const SCHEME_NAMES: &[&str] = &[
    "visma",
    "github",
    "shopify",
    "stripe",
    "slack",
    "standard-webhooks",
    "hmac",
];

impl Scheme {
    /// Parses a built-in scheme name. `hmac` needs its own settings, see [`GenericHmac`].
    pub fn builtin(name: &str) -> Option<Scheme> {
        Some(match name {
            "visma" => Scheme::Visma,
            "github" => Scheme::Github,
            "shopify" => Scheme::Shopify,
            "stripe" => Scheme::Stripe,
            "slack" => Scheme::Slack,
            "standard-webhooks" => Scheme::StandardWebhooks,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Visma => "visma",
            Scheme::Github => "github",
            Scheme::Shopify => "shopify",
            Scheme::Stripe => "stripe",
            Scheme::Slack => "slack",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Hmac(_) => "hmac",
        }
    }

    /// The header that carries the signature, named in 401 answers and error messages.
    pub fn signature_header(&self) -> HeaderName {
        match self {
            Scheme::Visma => visma::SIGNATURE.clone(),
            Scheme::Github => github::SIGNATURE.clone(),
            Scheme::Shopify => shopify::SIGNATURE.clone(),
            Scheme::Stripe => stripe::SIGNATURE.clone(),
            Scheme::Slack => slack::SIGNATURE.clone(),
            Scheme::StandardWebhooks => standard_webhooks::SIGNATURE.clone(),
            Scheme::Hmac(generic) => generic.header.clone(),
        }
    }

    /// Whether the scheme signs a timestamp, so that `tolerance` applies.
    pub fn has_timestamp(&self) -> bool {
        matches!(
            self,
            Scheme::Stripe | Scheme::Slack | Scheme::StandardWebhooks
        )
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Scheme::Hmac(generic) => generic.algorithm,
            _ => Algorithm::Sha256,
        }
    }

    /// Turns a configured secret into the HMAC key. Most schemes use the secret's UTF-8 bytes;
    /// Standard Webhooks keys are base64 after an optional `whsec_` prefix.
    pub fn key_from_secret(&self, secret: &[u8]) -> Result<MacKey, String> {
        let key_bytes = match self {
            Scheme::StandardWebhooks => standard_webhooks::decode_secret(secret)?,
            _ => secret.to_vec(),
        };
        Ok(MacKey::new(self.algorithm(), &key_bytes))
    }

    fn expectation(
        &self,
        headers: &HeaderMap,
        now: UnixSeconds,
        tolerance: Duration,
    ) -> Result<Expectation, Rejection> {
        let tolerance = tolerance.as_secs() as i64;
        match self {
            Scheme::Visma => visma::expectation(headers),
            Scheme::Github => github::expectation(headers),
            Scheme::Shopify => shopify::expectation(headers),
            Scheme::Stripe => stripe::expectation(headers, now, tolerance),
            Scheme::Slack => slack::expectation(headers, now, tolerance),
            Scheme::StandardWebhooks => standard_webhooks::expectation(headers, now, tolerance),
            Scheme::Hmac(generic) => generic.expectation(headers),
        }
    }

    /// Signs `body` the way the provider would, returning the headers to send. `id` is used by
    /// schemes that sign a delivery id (Standard Webhooks). Fails only when an id or prefix
    /// cannot be a header value.
    pub fn sign(
        &self,
        key: &MacKey,
        body: &[u8],
        now: UnixSeconds,
        id: &str,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        match self {
            Scheme::Visma => visma::sign(key, body),
            Scheme::Github => github::sign(key, body),
            Scheme::Shopify => shopify::sign(key, body),
            Scheme::Stripe => stripe::sign(key, body, now),
            Scheme::Slack => slack::sign(key, body, now),
            Scheme::StandardWebhooks => standard_webhooks::sign(key, body, now, id),
            Scheme::Hmac(generic) => generic.sign(key, body),
        }
    }
}

/// What a scheme read from the headers: bytes signed before the body, and the offered tags.
pub(crate) struct Expectation {
    signed_prefix: Vec<u8>,
    offered: Vec<Tag>,
    /// The delivery id covered by the signature, where the scheme signs one.
    signed_id: Option<String>,
}

/// A route's verifier: its scheme, one precomputed HMAC key per configured secret, tolerance.
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
    keys: Vec<MacKey>,
    tolerance: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme.name())
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Verifier {
    pub fn new(scheme: Scheme, keys: Vec<MacKey>, tolerance: Duration) -> Verifier {
        Verifier {
            scheme,
            keys,
            tolerance,
        }
    }

    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Reads the signature headers and prepares one running MAC per key.
    pub fn begin(&self, headers: &HeaderMap, now: UnixSeconds) -> Result<Verification, Rejection> {
        let expectation = self.scheme.expectation(headers, now, self.tolerance)?;
        let macs = self
            .keys
            .iter()
            .map(|key| {
                let mut mac = key.clone();
                mac.update(&expectation.signed_prefix);
                mac
            })
            .collect();
        Ok(Verification { macs, expectation })
    }

    /// Verifies a complete body in one call.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: UnixSeconds,
    ) -> Result<Verified, Rejection> {
        let mut verification = self.begin(headers, now)?;
        verification.update(body);
        verification.finish()
    }
}

/// A verification in progress: body chunks go in through [`Verification::update`].
pub struct Verification {
    macs: Vec<MacKey>,
    expectation: Expectation,
}

impl Verification {
    pub fn update(&mut self, chunk: &[u8]) {
        for mac in &mut self.macs {
            mac.update(chunk);
        }
    }

    /// Compares every computed MAC with every offered signature. All pairs are compared, with
    /// no early exit, so the time taken says nothing about which bytes matched.
    pub fn finish(self) -> Result<Verified, Rejection> {
        let mut matched = Choice::from(0);
        let mut matched_tag = None;
        for mac in self.macs {
            let computed = mac.finalize();
            for offered in &self.expectation.offered {
                let same = computed.as_bytes().ct_eq(offered.as_bytes());
                matched |= same;
                if bool::from(same) {
                    matched_tag = Some(offered.clone());
                }
            }
        }
        match (bool::from(matched), matched_tag) {
            (true, Some(tag)) => Ok(Verified {
                identity: match self.expectation.signed_id {
                    Some(id) => DeliveryIdentity::SignedId(id),
                    None => DeliveryIdentity::Signature(tag),
                },
            }),
            _ => Err(Rejection::Mismatch),
        }
    }
}

/// Proof that a request's signature verified. Only this module can make one, and forwarding
/// requires one (or an explicit shadow-mode admission), so "forward unverified" cannot be
/// written by accident.
#[derive(Debug)]
pub struct Verified {
    identity: DeliveryIdentity,
}

impl Verified {
    /// What identifies this delivery for duplicate suppression.
    pub fn identity(&self) -> &DeliveryIdentity {
        &self.identity
    }
}

/// The signed id where the scheme has one, else the matching signature itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryIdentity {
    SignedId(String),
    Signature(Tag),
}

/// Returns the one value of `name`, or the matching rejection when it is absent, repeated,
/// empty or not visible ASCII.
pub(crate) fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<&'a str, Rejection> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or_else(|| Rejection::Missing {
        header: name.clone(),
    })?;
    if values.next().is_some() {
        return Err(Rejection::Duplicate {
            header: name.clone(),
        });
    }
    let text = value.to_str().map_err(|_| Rejection::NotAscii {
        header: name.clone(),
    })?;
    let text = text.trim_matches(|c| c == ' ' || c == '\t');
    if text.is_empty() {
        return Err(Rejection::Empty {
            header: name.clone(),
        });
    }
    Ok(text)
}

/// Parses a decimal Unix timestamp header value and checks it against `now`.
///
/// `tolerance` is inclusive: a delivery exactly `tolerance` seconds old is accepted, one
/// second more is stale — the boundary Stripe, Slack and Standard Webhooks all use. Future
/// timestamps are refused the same way, as Slack and Standard Webhooks do; Stripe's own
/// libraries accept any future timestamp, hookwall does not (a replay window should not
/// depend on the sender's clock running slow).
pub(crate) fn check_timestamp(
    header: &HeaderName,
    text: &str,
    now: UnixSeconds,
    tolerance: i64,
) -> Result<i64, Rejection> {
    let timestamp: i64 = text
        .parse()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Rejection::BadTimestamp {
            header: header.clone(),
        })?;
    let age = now.saturating_sub(timestamp);
    if age > tolerance || age < -tolerance {
        return Err(Rejection::StaleTimestamp {
            header: header.clone(),
            age_seconds: age,
        });
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests;
