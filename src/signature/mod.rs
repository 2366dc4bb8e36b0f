//! Pure signature verification: request head, body bytes, keys and a clock in; a verdict out.
//! No I/O.
//!
//! A scheme is data ([`Spec`]): where the signature is, what is signed, the algorithm, the
//! encoding, the key's form and the timestamp. Built-in providers are entries of one table
//! ([`catalogue`]); `scheme = "hmac"` routes write their own. The few providers a spec cannot
//! describe (a secret inside the JSON body) are code in [`coded`], behind the same interface.
//!
//! Verification is split so the proxy can hash the body while it streams in:
//! [`Verifier::begin_request`] parses the signature headers (rejecting missing, malformed and
//! stale ones before a single body byte is read), [`Verification::update`] feeds body chunks
//! to one HMAC per configured key, and [`Verification::finish`] compares every computed MAC
//! against every offered signature in constant time. Schemes that need the whole body first
//! (public-key signatures, sorted form parameters, body fields) keep it until `finish`.

pub mod catalogue;
mod coded;
mod encoding;
mod engine;
pub(crate) mod handshake;
mod keys;
mod mac;
mod rejection;
mod sign;
mod spec;
mod timestamp;

pub(crate) use coded::Coded;
pub use encoding::Encoding;
pub use engine::Verification;
pub(crate) use keys::SigningKey;
pub use keys::{Key, KeyError};
pub use mac::{MacKey, Tag};
pub use rejection::{Rejection, RejectionKind};
pub use sign::{Delivery, SignError};
pub use spec::Algorithm;
pub(crate) use spec::{KeyForm, Layout, Part, Spec, TimeFormat, Timestamp};

use http::{HeaderMap, HeaderName};
use std::sync::Arc;
use std::time::Duration;

/// Seconds since the Unix epoch; injected so tests and `hookwall verify --at` fix the clock.
pub type UnixSeconds = i64;

/// Default for schemes with a signed timestamp: the five minutes Stripe, Slack and Standard
/// Webhooks all document.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Which provider's signing rules a route follows: a named preset, or a route's own spec.
#[derive(Clone, Debug)]
pub struct Scheme {
    name: Arc<str>,
    rules: Rules,
}

#[derive(Clone, Debug)]
pub(crate) enum Rules {
    Described(Arc<Spec>),
    Coded(Coded),
}

impl PartialEq for Scheme {
    fn eq(&self, other: &Scheme) -> bool {
        self.name == other.name
            && match (&self.rules, &other.rules) {
                (Rules::Described(a), Rules::Described(b)) => a == b,
                (Rules::Coded(a), Rules::Coded(b)) => a == b,
                _ => false,
            }
    }
}
impl Eq for Scheme {}

/// The name of the scheme a route describes itself in TOML.
pub(crate) const CUSTOM_SCHEME: &str = "hmac";

impl Scheme {
    /// A preset by its name or one of its aliases.
    pub fn builtin(name: &str) -> Option<Scheme> {
        let preset = catalogue::find(name)?;
        Some(Scheme {
            name: Arc::from(preset.name),
            rules: preset.rules(),
        })
    }

    /// A route's own description (`scheme = "hmac"`).
    pub(crate) fn custom(spec: Spec) -> Scheme {
        Scheme {
            name: Arc::from(CUSTOM_SCHEME),
            rules: Rules::Described(Arc::new(spec)),
        }
    }

    /// The preset's name, or `hmac` for a route's own description.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// How far a signed timestamp may be from the clock unless the route sets `tolerance`:
    /// what the provider documents ([`catalogue::Preset::tolerance`]), else
    /// [`DEFAULT_TOLERANCE`].
    pub fn default_tolerance(&self) -> Duration {
        catalogue::find(&self.name)
            .and_then(|preset| preset.tolerance)
            .unwrap_or(DEFAULT_TOLERANCE)
    }

    /// The declarative description, unless the scheme is code.
    pub(crate) fn spec(&self) -> Option<&Spec> {
        match &self.rules {
            Rules::Described(spec) => Some(spec),
            Rules::Coded(_) => None,
        }
    }

    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The header that carries the signature, named in 401 answers and error messages. (For
    /// a scheme that reads the body, a name for the field.)
    pub fn signature_header(&self) -> HeaderName {
        match &self.rules {
            Rules::Described(spec) => spec.headers[0].clone(),
            Rules::Coded(coded) => coded.field_name(),
        }
    }

    /// Whether the scheme signs a timestamp, so that `tolerance` applies.
    pub(crate) fn has_timestamp(&self) -> bool {
        match &self.rules {
            Rules::Described(spec) => spec.has_timestamp(),
            Rules::Coded(coded) => coded.has_timestamp(),
        }
    }

    /// Whether the signed content includes the URL, so the route needs `public_url`.
    pub fn signs_url(&self) -> bool {
        self.spec().is_some_and(Spec::signs_url)
    }

    /// Whether the signed content includes the path the provider posted to (Contentful), so
    /// an optional `public_url` says it when ingress rewrites the path.
    pub(crate) fn signs_public_path(&self) -> bool {
        matches!(self.rules, Rules::Coded(Coded::Contentful))
    }

    /// What a configured secret must look like, for `hookwall check` and error messages.
    pub(crate) fn key_description(&self) -> &'static str {
        match &self.rules {
            Rules::Coded(coded) => coded.key_description(),
            Rules::Described(spec) => match (spec.algorithm, spec.key) {
                (Algorithm::Token, _) if spec.encoding == Encoding::Base64 => {
                    "the basic-auth credentials as user:password"
                }
                (Algorithm::Token, _) => "the shared token, as written",
                (_, KeyForm::Utf8) => "the signing secret, as written",
                (_, KeyForm::Utf8Nfkd) => "the signing secret, as written (read in Unicode NFKD)",
                (_, KeyForm::Base64) => "the signing secret in base64",
                (_, KeyForm::Hex) => "the signing secret in hex",
                (_, KeyForm::Whsec) => "the whsec_… signing secret",
                (Algorithm::Ed25519, _) => {
                    "the sender's Ed25519 public key (hex, base64, whpk_… or PEM)"
                }
                _ => "the sender's public key (PEM or base64 DER)",
            },
        }
    }

    /// Turns a configured secret into a verification key.
    pub fn key_from_secret(&self, secret: &[u8]) -> Result<Key, KeyError> {
        match &self.rules {
            Rules::Described(spec) => Key::from_secret(spec.algorithm, spec.key, secret),
            Rules::Coded(coded) => coded.key_from_secret(secret),
        }
    }
}

/// What a verifier needs to know about the request besides its body.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The request method, for schemes that sign it.
    pub method: &'a str,
    /// The path as sent, for schemes that sign the URL.
    pub path: &'a str,
    /// The query string as sent, if any.
    pub query: Option<&'a str>,
    /// The request's headers, where the signature is.
    pub headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    pub(crate) fn of(parts: &'a http::request::Parts) -> RequestHead<'a> {
        RequestHead {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
        }
    }

    /// A POST to `/` with `headers`: for schemes that sign neither URL nor method.
    pub(crate) fn post(headers: &'a HeaderMap) -> RequestHead<'a> {
        RequestHead {
            method: "POST",
            path: "/",
            query: None,
            headers,
        }
    }
}

/// Where a route is reached from outside, for schemes that sign the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    /// The URL the provider posts to for this route, such as
    /// `https://hooks.example.com/webhooks/twilio` (no trailing `/`).
    pub base: String,
    /// The route's path, replaced by `base` when building the signed URL.
    pub route_path: String,
}

impl PublicUrl {
    /// `base`, then what follows the route's path, then `?query`.
    pub(crate) fn for_request(&self, path: &str, query: Option<&str>) -> String {
        let rest = path
            .strip_prefix(self.route_path.trim_end_matches('/'))
            .unwrap_or("");
        let mut url = format!("{}{rest}", self.base);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

/// A route's verifier: its scheme, one key per configured secret, tolerance, public URL.
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
    keys: Arc<[Key]>,
    tolerance: Duration,
    public_url: Option<PublicUrl>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme.name())
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .field("tolerance", &self.tolerance)
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl Verifier {
    /// A verifier accepting a signature made with any of `keys`, timestamps within `tolerance`.
    pub fn new(scheme: Scheme, keys: Vec<Key>, tolerance: Duration) -> Verifier {
        Verifier {
            scheme,
            keys: keys.into(),
            tolerance,
            public_url: None,
        }
    }

    /// Sets where the route is reached from outside (schemes that sign the URL).
    pub fn with_public_url(mut self, public_url: Option<PublicUrl>) -> Verifier {
        self.public_url = public_url;
        self
    }

    pub(crate) fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// [`Verifier::begin_request`] for a POST to `/` with `headers`.
    pub fn begin(&self, headers: &HeaderMap, now: UnixSeconds) -> Result<Verification, Rejection> {
        self.begin_request(RequestHead::post(headers), now)
    }

    /// Reads the signature headers and prepares one running MAC per key.
    pub fn begin_request(
        &self,
        head: RequestHead<'_>,
        now: UnixSeconds,
    ) -> Result<Verification, Rejection> {
        engine::begin(self, head, now, self.tolerance.as_secs() as i64)
    }

    /// Verifies a complete body in one call (POST to `/`).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: UnixSeconds,
    ) -> Result<Verified, Rejection> {
        self.verify_request(RequestHead::post(headers), body, now)
    }

    /// Verifies a complete body in one call.
    pub fn verify_request(
        &self,
        head: RequestHead<'_>,
        body: &[u8],
        now: UnixSeconds,
    ) -> Result<Verified, Rejection> {
        let mut verification = self.begin_request(head, now)?;
        verification.update(body);
        verification.finish()
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
    pub(crate) fn identity(&self) -> &DeliveryIdentity {
        &self.identity
    }
}

/// The signed id where the scheme has one, else the matching signature itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryIdentity {
    /// The delivery id the sender signed.
    SignedId(String),
    /// The signature itself, for schemes without a signed id.
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

#[cfg(test)]
mod tests;
