//! Verifying a described scheme: read the signature header as its [`Layout`] says, check the
//! timestamp, resolve the signed parts, then MAC the body as it streams (or keep it, where the
//! whole body is needed first) and compare in constant time.

use super::coded::Coded;
use super::{
    Algorithm, DeliveryIdentity, Key, Layout, MacKey, Part, Rejection, RequestHead, Rules, Spec,
    Tag, UnixSeconds, Verified, Verifier, single_header, timestamp,
};
use subtle::{Choice, ConstantTimeEq};

/// More signatures than this in one request is not a secret rotation but an attempt to make
/// us work.
const MAX_SIGNATURES: usize = 8;
/// hookwall's own bound (no provider sets one): ids are short, like `msg_…`; a longer one
/// only bloats the duplicate-suppression memory.
const MAX_ID_LEN: usize = 256;

/// A signed part, resolved from the request head.
enum Resolved {
    Bytes(Vec<u8>),
    Body,
    SortedFormParams,
}

/// A verification in progress: body chunks go in through [`Verification::update`].
pub struct Verification {
    running: Running,
    offered: Vec<Tag>,
    signed_id: Option<String>,
}

enum Running {
    /// One HMAC per key, already fed what precedes the body; `suffix` follows it.
    Streaming { macs: Vec<MacKey>, suffix: Vec<u8> },
    /// The whole body is needed before anything can be computed.
    Buffered {
        body: Vec<u8>,
        parts: Vec<Resolved>,
        keys: std::sync::Arc<[Key]>,
        algorithm: Algorithm,
    },
    /// Tokens: nothing is computed over the body.
    Token { keys: std::sync::Arc<[Key]> },
    Coded {
        body: Vec<u8>,
        coded: Coded,
        keys: std::sync::Arc<[Key]>,
        now: UnixSeconds,
        tolerance: i64,
    },
}

pub(super) fn begin(
    verifier: &Verifier,
    head: RequestHead<'_>,
    now: UnixSeconds,
    tolerance: i64,
) -> Result<Verification, Rejection> {
    let spec = match verifier.scheme.rules() {
        // Contentful's proof is in headers and its message ends with the body: it streams.
        Rules::Coded(Coded::Contentful) => {
            let public_url = verifier.public_url.as_ref();
            let (offered, prefix) =
                super::coded::contentful_begin(head, public_url, now, tolerance)?;
            return Ok(Verification {
                running: streaming(
                    &verifier.keys,
                    vec![Resolved::Bytes(prefix), Resolved::Body],
                ),
                offered,
                signed_id: None,
            });
        }
        Rules::Coded(coded) => {
            return Ok(Verification {
                running: Running::Coded {
                    body: Vec::new(),
                    coded: *coded,
                    keys: verifier.keys.clone(),
                    now,
                    tolerance,
                },
                offered: Vec::new(),
                signed_id: None,
            });
        }
        Rules::Described(spec) => choose(spec, head.headers),
    };

    let (offered, timestamp_in_signature) = offered_signatures(spec, head)?;
    let timestamp_text = match &spec.timestamp {
        None => None,
        Some(stamp) => {
            let (header, text) = match (&stamp.header, timestamp_in_signature) {
                (Some(header), _) => (header, single_header(head.headers, header)?),
                (None, Some(text)) => (&spec.headers[0], text),
                (None, None) => {
                    return Err(Rejection::BadFormat {
                        header: spec.headers[0].clone(),
                        detail: "no timestamp".into(),
                    });
                }
            };
            timestamp::check(header, text, stamp.format, now, tolerance)?;
            Some(text)
        }
    };
    let signed_id = match &spec.id {
        None => None,
        Some(header) => {
            let id = single_header(head.headers, header)?;
            if id.len() > MAX_ID_LEN {
                return Err(Rejection::BadFormat {
                    header: header.clone(),
                    detail: "the id is longer than 256 bytes".into(),
                });
            }
            Some(id.to_string())
        }
    };

    let running = if spec.algorithm == Algorithm::Token {
        Running::Token {
            keys: verifier.keys.clone(),
        }
    } else {
        let mut parts = Vec::with_capacity(spec.signed.len());
        for part in &spec.signed {
            parts.push(match part {
                Part::Text(text) => Resolved::Bytes(text.as_bytes().to_vec()),
                Part::Body => Resolved::Body,
                Part::SortedFormParams => Resolved::SortedFormParams,
                Part::SortedQueryParams => {
                    Resolved::Bytes(sorted_params(head.query.unwrap_or("").as_bytes()))
                }
                Part::Header(name) => {
                    Resolved::Bytes(single_header(head.headers, name)?.as_bytes().to_vec())
                }
                Part::Timestamp => {
                    Resolved::Bytes(timestamp_text.unwrap_or_default().as_bytes().to_vec())
                }
                Part::Method => Resolved::Bytes(head.method.as_bytes().to_vec()),
                Part::Url => Resolved::Bytes(match &verifier.public_url {
                    Some(url) => url.for_request(head.path, head.query).into_bytes(),
                    // Config refuses such routes; without a URL nothing can match.
                    None => return Err(Rejection::Mismatch),
                }),
            });
        }
        if spec.streams() {
            streaming(&verifier.keys, parts)
        } else {
            Running::Buffered {
                body: Vec::new(),
                parts,
                keys: verifier.keys.clone(),
                algorithm: spec.algorithm,
            }
        }
    };
    Ok(Verification {
        running,
        offered,
        signed_id,
    })
}

/// The spec whose signature header is present: `spec`, or its alternate names.
fn choose<'a>(spec: &'a Spec, headers: &http::HeaderMap) -> &'a Spec {
    let present = |candidate: &Spec| candidate.headers.iter().any(|h| headers.contains_key(h));
    match &spec.alternate {
        Some(alternate) if !present(spec) && present(alternate) => alternate,
        _ => spec,
    }
}

fn streaming(keys: &[Key], parts: Vec<Resolved>) -> Running {
    let mut prefix = Vec::new();
    let mut suffix = Vec::new();
    let mut after_body = false;
    for part in parts {
        match part {
            Resolved::Body => after_body = true,
            Resolved::Bytes(bytes) if after_body => suffix.extend_from_slice(&bytes),
            Resolved::Bytes(bytes) => prefix.extend_from_slice(&bytes),
            // `Spec::streams` is false for these.
            Resolved::SortedFormParams => {}
        }
    }
    let macs = keys
        .iter()
        .filter_map(Key::as_mac)
        .map(|mac| {
            let mut mac = mac.clone();
            mac.update(&prefix);
            mac
        })
        .collect();
    Running::Streaming { macs, suffix }
}

/// Every signature offered in the signature header(s), and the timestamp where the layout
/// carries it. Like the providers' own libraries, an undecodable entry among several is one
/// that cannot match; the header is malformed only when none decodes.
fn offered_signatures<'h>(
    spec: &Spec,
    head: RequestHead<'h>,
) -> Result<(Vec<Tag>, Option<&'h str>), Rejection> {
    let mut offered = Vec::new();
    let mut timestamp = None;
    let mut undecodable = None;
    let mut present = 0;
    for header in &spec.headers {
        if !head.headers.contains_key(header) {
            continue;
        }
        present += 1;
        let text = single_header(head.headers, header)?;
        let bad_format = |detail: String| Rejection::BadFormat {
            header: header.clone(),
            detail: detail.into(),
        };
        let mut decode = |encoded: &str, offered: &mut Vec<Tag>| {
            if offered.len() >= MAX_SIGNATURES {
                return Err(bad_format("too many signatures".into()));
            }
            match spec
                .encoding
                .decode_signature(header, encoded, spec.algorithm)
            {
                Ok(tag) => offered.push(tag),
                Err(rejection) => undecodable = Some(rejection),
            }
            Ok(())
        };
        match &spec.layout {
            Layout::Whole {
                prefix,
                prefix_optional,
            } => {
                let encoded = match text.strip_prefix(prefix.as_str()) {
                    Some(rest) => rest,
                    None if *prefix_optional => text,
                    None => return Err(bad_format(format!("expected the prefix {prefix:?}"))),
                };
                decode(encoded, &mut offered)?;
            }
            Layout::Pairs {
                separator,
                signature_key,
                timestamp_key,
            } => {
                for item in text.split(*separator) {
                    let Some((key, value)) = item.trim().split_once('=') else {
                        continue;
                    };
                    if Some(key) == timestamp_key.as_deref() {
                        if timestamp.is_none() {
                            timestamp = Some(value);
                        }
                    } else if key == signature_key {
                        decode(value, &mut offered)?;
                    }
                }
                if let Some(key) = timestamp_key
                    && timestamp.is_none()
                {
                    return Err(bad_format(format!("no {key}= timestamp")));
                }
            }
            Layout::Versioned { version } => {
                for entry in text.split(' ').filter(|entry| !entry.is_empty()) {
                    let Some((entry_version, encoded)) = entry.split_once(',') else {
                        return Err(bad_format(format!(
                            "expected space-separated \"{version},<signature>\" entries"
                        )));
                    };
                    if entry_version == version {
                        decode(encoded, &mut offered)?;
                    }
                }
            }
        }
    }
    if present == 0 {
        return Err(Rejection::Missing {
            header: spec.headers[0].clone(),
        });
    }
    if offered.is_empty() {
        return Err(undecodable.unwrap_or_else(|| Rejection::BadFormat {
            header: spec.headers[0].clone(),
            detail: match &spec.layout {
                Layout::Pairs { signature_key, .. } => format!("no {signature_key}= signature"),
                Layout::Versioned { version } => format!("no {version} signature"),
                Layout::Whole { .. } => "no signature".to_string(),
            }
            .into(),
        }));
    }
    Ok((offered, timestamp))
}

/// The bytes a buffered scheme signs.
fn message(parts: &[Resolved], body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(body.len() + 128);
    for part in parts {
        match part {
            Resolved::Bytes(bytes) => message.extend_from_slice(bytes),
            Resolved::Body => message.extend_from_slice(body),
            Resolved::SortedFormParams => message.extend_from_slice(&sorted_params(body)),
        }
    }
    message
}

/// Form-encoded parameters (a body or a query), decoded and sorted by name, each written name
/// then value: what Twilio, Mandrill and Zoho Billing sign.
pub(super) fn sorted_params(encoded: &[u8]) -> Vec<u8> {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(encoded)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    params.sort();
    let mut text = Vec::new();
    for (name, value) in params {
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(value.as_bytes());
    }
    text
}

/// True when any `computed` equals any `offered`; every pair is compared, with no early exit,
/// so the time taken says nothing about which bytes matched. Returns the matching offer.
pub(super) fn any_match(computed: &[Tag], offered: &[Tag]) -> Option<Tag> {
    let mut matched = Choice::from(0);
    let mut matched_tag = None;
    for computed in computed {
        for offered in offered {
            let same = computed.as_bytes().ct_eq(offered.as_bytes());
            matched |= same;
            if bool::from(same) {
                matched_tag = Some(offered.clone());
            }
        }
    }
    if bool::from(matched) {
        matched_tag
    } else {
        None
    }
}

impl Verification {
    /// Feeds the next chunk of the body to every running MAC.
    pub fn update(&mut self, chunk: &[u8]) {
        match &mut self.running {
            Running::Streaming { macs, .. } => {
                for mac in macs {
                    mac.update(chunk);
                }
            }
            Running::Buffered { body, .. } | Running::Coded { body, .. } => {
                body.extend_from_slice(chunk)
            }
            Running::Token { .. } => {}
        }
    }

    /// Compares what the keys compute with every offered signature.
    pub fn finish(self) -> Result<Verified, Rejection> {
        let matched = match self.running {
            Running::Streaming { macs, suffix } => {
                let computed: Vec<Tag> = macs
                    .into_iter()
                    .map(|mut mac| {
                        mac.update(&suffix);
                        mac.finalize()
                    })
                    .collect();
                any_match(&computed, &self.offered)
            }
            Running::Token { keys } => {
                let computed: Vec<Tag> = keys
                    .iter()
                    .filter_map(|key| match key {
                        Key::Token(digest) => Some(Tag::from_slice(digest)),
                        _ => None,
                    })
                    .collect();
                any_match(&computed, &self.offered)
            }
            Running::Buffered {
                body,
                parts,
                keys,
                algorithm,
            } => {
                let message = message(&parts, &body);
                if algorithm.is_hmac() {
                    let computed: Vec<Tag> = keys
                        .iter()
                        .filter_map(Key::as_mac)
                        .map(|mac| mac.tag_of(&[&message]))
                        .collect();
                    any_match(&computed, &self.offered)
                } else {
                    public_key_match(&keys, &message, &self.offered)
                }
            }
            Running::Coded {
                body,
                coded,
                keys,
                now,
                tolerance,
            } => {
                return coded.verify(&body, &keys, now, tolerance);
            }
        };
        match matched {
            Some(tag) => Ok(Verified {
                identity: match self.signed_id {
                    Some(id) => DeliveryIdentity::SignedId(id),
                    None => DeliveryIdentity::Signature(tag),
                },
            }),
            None => Err(Rejection::Mismatch),
        }
    }
}

/// Public-key signatures: any offered signature valid under any key. (Nothing secret is
/// compared, so timing reveals nothing.)
fn public_key_match(keys: &[Key], message: &[u8], offered: &[Tag]) -> Option<Tag> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1, ED25519, UnparsedPublicKey};
    for key in keys {
        for tag in offered {
            let valid = match key {
                Key::Ed25519(public) => UnparsedPublicKey::new(&ED25519, public)
                    .verify(message, tag.as_bytes())
                    .is_ok(),
                Key::EcdsaP256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
                    .verify(message, tag.as_bytes())
                    .is_ok(),
                _ => false,
            };
            if valid {
                return Some(tag.clone());
            }
        }
    }
    None
}
