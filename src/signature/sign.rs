//! Signing a delivery the way a scheme's sender would: for `hookwall sign`, local tries and
//! tests. Symmetric schemes sign with the shared secret; public-key schemes with the private
//! key ([`super::SigningKey`]).

use super::{
    Algorithm, Encoding, Key, KeyError, Layout, Part, Rules, Scheme, SigningKey, UnixSeconds,
    timestamp,
};
use http::{HeaderName, HeaderValue};

/// Why a delivery cannot be signed as the scheme's sender would.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A coded scheme whose proof lives inside the body, not in a header.
    #[error("the {scheme} scheme's proof is inside the body; write it there instead")]
    ProofInBody {
        /// The scheme's name.
        scheme: String,
    },
    /// The scheme signs the URL and none was given.
    #[error("this scheme signs the URL; give it with --url")]
    UrlNeeded,
    /// The scheme signs a header whose value hookwall does not make up.
    #[error("cannot sign the value of the {header} header")]
    UnsignableHeader {
        /// The header the scheme signs.
        header: HeaderName,
    },
    /// The secret or private key does not suit the scheme.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A token scheme's secret that is not text, so cannot be sent as one.
    #[error("the token is not text")]
    TokenNotText,
    /// An id or token with bytes a header cannot carry.
    #[error("a value cannot be sent in a header (control characters?)")]
    NotAHeaderValue,
}

/// What is being signed.
#[derive(Clone, Debug)]
pub struct Delivery<'a> {
    /// The body to sign.
    pub body: &'a [u8],
    /// The signing time, for timestamped schemes.
    pub now: UnixSeconds,
    /// The delivery id, for schemes that sign one.
    pub id: &'a str,
    /// The method, for schemes that sign it.
    pub method: &'a str,
    /// The full URL posted to, for schemes that sign it.
    pub url: Option<&'a str>,
}

impl Scheme {
    /// The headers the provider would send with `delivery`. `secret` is the shared secret,
    /// or for public-key schemes the private key.
    pub fn sign(
        &self,
        secret: &[u8],
        delivery: &Delivery<'_>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, SignError> {
        let spec = match self.rules() {
            Rules::Described(spec) => spec,
            Rules::Coded(super::Coded::Contentful) => return contentful(secret, delivery),
            Rules::Coded(_) => {
                return Err(SignError::ProofInBody {
                    scheme: self.name().to_string(),
                });
            }
        };
        let stamp = spec
            .timestamp
            .as_ref()
            .map(|t| timestamp::format(delivery.now, t.format));
        let signature = match spec.algorithm {
            Algorithm::Token => secret.to_vec(),
            algorithm => {
                let mut message = Vec::with_capacity(delivery.body.len() + 128);
                for part in &spec.signed {
                    match part {
                        Part::Text(text) => message.extend_from_slice(text.as_bytes()),
                        Part::Body => message.extend_from_slice(delivery.body),
                        Part::Timestamp => {
                            message.extend_from_slice(stamp.as_deref().unwrap_or("").as_bytes())
                        }
                        Part::Method => message.extend_from_slice(delivery.method.as_bytes()),
                        Part::Url => message.extend_from_slice(
                            delivery.url.ok_or(SignError::UrlNeeded)?.as_bytes(),
                        ),
                        Part::Header(name) if Some(name) == spec.id.as_ref() => {
                            message.extend_from_slice(delivery.id.as_bytes())
                        }
                        Part::Header(name)
                            if spec.timestamp.as_ref().and_then(|t| t.header.as_ref())
                                == Some(name) =>
                        {
                            message.extend_from_slice(stamp.as_deref().unwrap_or("").as_bytes())
                        }
                        Part::Header(name) => {
                            return Err(SignError::UnsignableHeader {
                                header: name.clone(),
                            });
                        }
                        Part::SortedFormParams => {
                            message.extend_from_slice(&super::engine::sorted_params(delivery.body))
                        }
                        Part::SortedQueryParams => {
                            let query = delivery
                                .url
                                .and_then(|url| url.split_once('?'))
                                .map_or("", |(_, query)| query);
                            message
                                .extend_from_slice(&super::engine::sorted_params(query.as_bytes()))
                        }
                    }
                }
                if algorithm.is_public_key() {
                    SigningKey::from_secret(algorithm, secret)?.sign(&message)?
                } else {
                    match Key::from_secret(algorithm, spec.key, secret)? {
                        Key::Mac(mac) => mac.tag_of(&[&message]).as_bytes().to_vec(),
                        _ => {
                            return Err(KeyError::NotHmac {
                                algorithm: algorithm.name(),
                            }
                            .into());
                        }
                    }
                }
            }
        };
        let encoded = spec.encoding.encode(&signature);
        if spec.encoding == Encoding::Text && encoded.as_bytes() != signature.as_slice() {
            return Err(SignError::TokenNotText);
        }
        let value = match &spec.layout {
            Layout::Whole { prefix, .. } => format!("{prefix}{encoded}"),
            Layout::Pairs {
                separator,
                signature_key,
                timestamp_key: Some(timestamp_key),
            } => format!(
                "{timestamp_key}={}{separator}{signature_key}={encoded}",
                stamp.as_deref().unwrap_or("")
            ),
            Layout::Pairs { signature_key, .. } => format!("{signature_key}={encoded}"),
            Layout::Versioned { version } => format!("{version},{encoded}"),
        };
        let mut headers = Vec::new();
        if let Some(id_header) = &spec.id {
            headers.push((id_header.clone(), header_value(delivery.id)?));
        }
        if let (Some(header), Some(stamp)) = (
            spec.timestamp.as_ref().and_then(|t| t.header.as_ref()),
            &stamp,
        ) {
            headers.push((header.clone(), header_value(stamp)?));
        }
        headers.push((spec.headers[0].clone(), header_value(&value)?));
        Ok(headers)
    }
}

impl Scheme {
    /// Whether `hookwall sign` writes the proof into the body (Adyen) instead of headers.
    pub fn signs_inside_body(&self) -> bool {
        matches!(self.rules(), Rules::Coded(coded) if coded.signs_inside_body())
    }

    /// The body with the proof written in, for schemes whose proof is inside it (Adyen).
    pub fn sign_body(&self, secret: &[u8], body: &[u8]) -> Result<Vec<u8>, String> {
        match self.rules() {
            Rules::Coded(coded) => coded.sign_body(body, secret),
            Rules::Described(_) => Err(format!(
                "the {} scheme signs in headers; use Scheme::sign",
                self.name()
            )),
        }
    }
}

/// Contentful's headers for `delivery`: the timestamp and the list are the only signed
/// headers, as when `signRequest` is given none.
fn contentful(
    secret: &[u8],
    delivery: &Delivery<'_>,
) -> Result<Vec<(HeaderName, HeaderValue)>, SignError> {
    use super::coded::contentful::{SIGNATURE, SIGNED_HEADERS, TIMESTAMP, canonical_prefix};
    let key = super::Coded::Contentful.key_from_secret(secret)?;
    let mac = key.as_mac().ok_or(KeyError::NotHmac {
        algorithm: "Contentful's key",
    })?;
    let target = match delivery.url {
        Some(url) => {
            let after_scheme = url.find("://").map_or(url, |at| &url[at + 3..]);
            after_scheme
                .find('/')
                .map_or("/", |slash| &after_scheme[slash..])
        }
        None => "/",
    };
    let millis = delivery.now * 1000;
    let prefix = canonical_prefix(delivery.method, target, Vec::new(), millis);
    let signature = hex::encode(mac.tag_of(&[&prefix, delivery.body]).as_bytes());
    Ok(vec![
        (
            SIGNED_HEADERS.clone(),
            HeaderValue::from_static("x-contentful-signed-headers,x-contentful-timestamp"),
        ),
        (TIMESTAMP.clone(), header_value(&millis.to_string())?),
        (SIGNATURE.clone(), header_value(&signature)?),
    ])
}

/// A header value for signing output. Signatures are hex or base64, but ids and tokens come
/// from the user (`hookwall sign --id`), so this can fail.
fn header_value(text: &str) -> Result<HeaderValue, SignError> {
    HeaderValue::try_from(text).map_err(|_| SignError::NotAHeaderValue)
}
