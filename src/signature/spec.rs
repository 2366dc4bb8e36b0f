//! The declarative description of a signing scheme: where the signature is, how the header is
//! laid out, what is signed, the algorithm, the encoding, the key's form and the timestamp.
//!
//! Every built-in provider in [`super::catalogue`] is one value of [`Spec`], and a route can
//! write its own in TOML (`scheme = "hmac"`), so a new provider is data, not code.

use http::HeaderName;

/// How the signature is computed (or, for tokens, compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Legacy, but still what Twilio, Intercom, Mandrill, Segment and Trello send.
    HmacSha1,
    /// HMAC-SHA256: what most providers send.
    HmacSha256,
    /// HMAC-SHA512.
    HmacSha512,
    /// Verified with the sender's public key (Discord, Svix `v1a`).
    Ed25519,
    /// ECDSA P-256 with SHA-256, signature in ASN.1 DER (SendGrid).
    EcdsaP256,
    /// No signature: the header carries a shared token (GitLab, Telegram) or basic-auth
    /// credentials (Postmark), compared with the secret in constant time.
    Token,
}

impl Algorithm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha512 => "hmac-sha512",
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-p256-sha256",
            Algorithm::Token => "token",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            // "sha256"/"sha512" are the names today's `scheme = "hmac"` configs use.
            "hmac-sha1" | "sha1" => Algorithm::HmacSha1,
            "hmac-sha256" | "sha256" => Algorithm::HmacSha256,
            "hmac-sha512" | "sha512" => Algorithm::HmacSha512,
            "ed25519" => Algorithm::Ed25519,
            "ecdsa-p256-sha256" => Algorithm::EcdsaP256,
            "token" => Algorithm::Token,
            _ => return None,
        })
    }

    pub(crate) fn is_hmac(self) -> bool {
        matches!(
            self,
            Algorithm::HmacSha1 | Algorithm::HmacSha256 | Algorithm::HmacSha512
        )
    }

    pub(crate) fn is_public_key(self) -> bool {
        matches!(self, Algorithm::Ed25519 | Algorithm::EcdsaP256)
    }

    /// Decoded signature lengths this algorithm can produce.
    pub(crate) fn signature_len(self) -> std::ops::RangeInclusive<usize> {
        match self {
            Algorithm::HmacSha1 => 20..=20,
            Algorithm::HmacSha256 => 32..=32,
            Algorithm::HmacSha512 | Algorithm::Ed25519 => 64..=64,
            // An ASN.1 DER sequence of two integers of up to 33 bytes each.
            Algorithm::EcdsaP256 => 8..=72,
            Algorithm::Token => 1..=super::encoding::MAX_TOKEN_LEN,
        }
    }
}

/// The form a configured secret takes, turned into key bytes by [`super::keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyForm {
    /// The secret's bytes as written (most providers).
    Utf8,
    /// The secret in Unicode NFKD, then UTF-8: EasyPost's libraries normalise the secret this way
    /// before keying the HMAC, so "é" typed precomposed or decomposed is the same key.
    Utf8Nfkd,
    Base64,
    Hex,
    /// Base64 after an optional `whsec_` prefix (Standard Webhooks, Svix).
    Whsec,
    /// A public key: PEM (`-----BEGIN PUBLIC KEY-----`), base64 DER, `whpk_`+base64 (Svix),
    /// or for Ed25519 the raw 32 bytes in hex or base64 (Discord's form).
    PublicKey,
}

impl KeyForm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyForm::Utf8 => "utf8",
            KeyForm::Utf8Nfkd => "utf8-nfkd",
            KeyForm::Base64 => "base64",
            KeyForm::Hex => "hex",
            KeyForm::Whsec => "whsec",
            KeyForm::PublicKey => "public-key",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<KeyForm> {
        Some(match name {
            "utf8" => KeyForm::Utf8,
            "utf8-nfkd" => KeyForm::Utf8Nfkd,
            "base64" => KeyForm::Base64,
            "hex" => KeyForm::Hex,
            "whsec" => KeyForm::Whsec,
            "public-key" => KeyForm::PublicKey,
            _ => return None,
        })
    }
}

/// How the signature header's value is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `<prefix><signature>`: one signature per header (GitHub `sha256=…`, Visma). With
    /// `prefix_optional` the prefix may also be left out (Mollie's SDKs strip `sha256=` when
    /// it is there and compare what remains).
    Whole {
        prefix: String,
        prefix_optional: bool,
    },
    /// `key=value` pairs split by `separator`: the signature under `signature_key` (repeated
    /// while a secret rotates) and, where signed there, the timestamp under `timestamp_key`
    /// (Stripe `t=…,v1=…`, Paddle `ts=…;h1=…`, PagerDuty `v1=…,v1=…`).
    Pairs {
        separator: char,
        signature_key: String,
        timestamp_key: Option<String>,
    },
    /// Space-separated `<version>,<signature>` entries; other versions are skipped (Standard
    /// Webhooks `v1,<b64> v1,<b64>`, Svix `v1a,<b64>`).
    Versioned { version: String },
}

/// One piece of the signed content, concatenated in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    /// The raw body, as received.
    Body,
    /// The value of a request header (signed ids, Box's delivery timestamp).
    Header(HeaderName),
    /// The signed timestamp exactly as sent.
    Timestamp,
    /// The request method, such as `POST`.
    Method,
    /// The URL the provider posted to: the route's `public_url`, what follows the route's
    /// path, and `?query` when there is one.
    Url,
    /// A form-encoded body's parameters sorted by name, each written name then value
    /// (Twilio, Mandrill). Needs the whole body before the MAC can start.
    SortedFormParams,
    /// The request's query parameters sorted by name, each written name then value, decoded
    /// (Zoho Billing signs them before the body). Nothing when there is no query.
    SortedQueryParams,
}

impl Part {
    /// The part as written in a `signed` template: literal text, or `{name}`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Part::Text(text) => text.clone(),
            Part::Body => "{body}".into(),
            Part::Header(name) => format!("{{header:{name}}}"),
            Part::Timestamp => "{timestamp}".into(),
            Part::Method => "{method}".into(),
            Part::Url => "{url}".into(),
            Part::SortedFormParams => "{form-params}".into(),
            Part::SortedQueryParams => "{query-params}".into(),
        }
    }

    /// Reads a `signed` template such as `"v0:{timestamp}:{body}"`.
    pub(crate) fn parse_template(template: &str) -> Result<Vec<Part>, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("{template:?}: a \"{{\" is never closed"))?;
                    let name = &rest[1..end];
                    parts.push(match name {
                        "body" => Part::Body,
                        "timestamp" => Part::Timestamp,
                        "method" => Part::Method,
                        "url" => Part::Url,
                        "form-params" => Part::SortedFormParams,
                        "query-params" => Part::SortedQueryParams,
                        _ => match name.strip_prefix("header:") {
                            Some(header) => Part::Header(
                                HeaderName::try_from(header)
                                    .map_err(|_| format!("{header:?} is not a header name"))?,
                            ),
                            None => {
                                return Err(format!(
                                    "unknown part {{{name}}}; use {{body}}, {{timestamp}}, {{method}}, {{url}}, {{form-params}}, {{query-params}} or {{header:NAME}}"
                                ));
                            }
                        },
                    });
                    rest = &rest[end + 1..];
                }
                found => {
                    let end = found.unwrap_or(rest.len());
                    if rest[..end].contains('}') {
                        return Err(format!("{template:?}: a \"}}\" without its \"{{\""));
                    }
                    parts.push(Part::Text(rest[..end].to_string()));
                    rest = &rest[end..];
                }
            }
        }
        Ok(parts)
    }
}

/// How a timestamp is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeFormat {
    UnixSeconds,
    UnixMillis,
    /// `2026-12-01T20:30:00Z`, with optional fractional seconds (Twitch, Box).
    Rfc3339,
}

impl TimeFormat {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TimeFormat::UnixSeconds => "unix",
            TimeFormat::UnixMillis => "unix-ms",
            TimeFormat::Rfc3339 => "rfc3339",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<TimeFormat> {
        Some(match name {
            "unix" => TimeFormat::UnixSeconds,
            "unix-ms" => TimeFormat::UnixMillis,
            "rfc3339" => TimeFormat::Rfc3339,
            _ => return None,
        })
    }
}

/// Where the signed timestamp is: its own header, or a field of the signature header
/// ([`Layout::Pairs`] with a `timestamp_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Timestamp {
    pub(crate) header: Option<HeaderName>,
    pub(crate) format: TimeFormat,
}

/// A complete description of a scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    /// The signature header(s). Where a provider sends one header per key (DocuSign `-1`,
    /// `-2`…, Box primary/secondary), every one present is a candidate.
    pub(crate) headers: Vec<HeaderName>,
    pub(crate) layout: Layout,
    pub(crate) signed: Vec<Part>,
    pub(crate) algorithm: Algorithm,
    pub(crate) encoding: super::Encoding,
    pub(crate) key: KeyForm,
    pub(crate) timestamp: Option<Timestamp>,
    /// The delivery id header, where the id is signed: duplicate suppression keys on it.
    pub(crate) id: Option<HeaderName>,
    /// Another set of header names for the same scheme, read when none of `headers` is
    /// present (Standard Webhooks routes also accept Svix's `svix-*` names).
    pub(crate) alternate: Option<Box<Spec>>,
}

impl Spec {
    /// `<header>: <prefix><encoded MAC of the body>`: today's `scheme = "hmac"` shape.
    pub(crate) fn body_hmac(
        header: HeaderName,
        prefix: &str,
        algorithm: Algorithm,
        encoding: super::Encoding,
    ) -> Spec {
        Spec {
            headers: vec![header],
            layout: Layout::Whole {
                prefix: prefix.into(),
                prefix_optional: false,
            },
            signed: vec![Part::Body],
            algorithm,
            encoding,
            key: KeyForm::Utf8,
            timestamp: None,
            id: None,
            alternate: None,
        }
    }

    /// Whether any part needs a timestamp check.
    pub(crate) fn has_timestamp(&self) -> bool {
        self.timestamp.is_some()
    }

    /// Whether the MAC can run over the body as it streams in: HMAC, the body signed once,
    /// and nothing that needs the whole body first.
    pub(crate) fn streams(&self) -> bool {
        self.algorithm.is_hmac()
            && self.signed.iter().filter(|p| **p == Part::Body).count() <= 1
            && !self.signed.contains(&Part::SortedFormParams)
    }

    pub(crate) fn signs_url(&self) -> bool {
        self.signed.contains(&Part::Url)
    }

    /// "id.timestamp.body"-style summary for `hookwall schemes` and the README.
    pub(crate) fn describe_signed(&self) -> String {
        if self.algorithm == Algorithm::Token {
            return "nothing: the header holds the secret".into();
        }
        self.signed.iter().map(Part::describe).collect()
    }

    /// The same scheme written as a route's own (`scheme = "hmac"`) TOML keys: how a preset
    /// looks when described by hand, and a starting point for a new provider.
    pub(crate) fn as_toml(&self) -> String {
        let quote = |text: &str| format!("{text:?}");
        let mut lines = vec!["scheme = \"hmac\"".to_string()];
        lines.push(if self.headers.len() == 1 {
            format!("header = {}", quote(self.headers[0].as_str()))
        } else {
            let names: Vec<String> = self.headers.iter().map(|h| quote(h.as_str())).collect();
            format!("header = [{}]", names.join(", "))
        });
        match &self.layout {
            Layout::Whole {
                prefix,
                prefix_optional,
            } if !prefix.is_empty() => {
                lines.push(format!("prefix = {}", quote(prefix)));
                if *prefix_optional {
                    lines.push("prefix_optional = true".into());
                }
            }
            Layout::Whole { .. } => {}
            Layout::Pairs {
                separator,
                signature_key,
                timestamp_key,
            } => {
                if *separator != ',' {
                    lines.push(format!("separator = {}", quote(&separator.to_string())));
                }
                lines.push(format!("signature_key = {}", quote(signature_key)));
                if let Some(key) = timestamp_key {
                    lines.push(format!("timestamp_key = {}", quote(key)));
                }
            }
            Layout::Versioned { version } => lines.push(format!("version = {}", quote(version))),
        }
        lines.push(format!("algorithm = {}", quote(self.algorithm.name())));
        lines.push(format!("encoding = {}", quote(self.encoding.name())));
        if self.algorithm != Algorithm::Token {
            lines.push(format!("signed = {}", quote(&self.describe_signed())));
        }
        lines.push(format!("key = {}", quote(self.key.name())));
        if let Some(timestamp) = &self.timestamp {
            if let Some(header) = &timestamp.header {
                lines.push(format!("timestamp_header = {}", quote(header.as_str())));
            }
            lines.push(format!(
                "timestamp_format = {}",
                quote(timestamp.format.name())
            ));
        }
        if let Some(id) = &self.id {
            lines.push(format!("id_header = {}", quote(id.as_str())));
        }
        lines.join("\n") + "\n"
    }

    /// Checks what a hand-written spec (TOML) could get wrong; built-ins are tested to pass.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.headers.is_empty() {
            return Err(("header", "name the signature header".into()));
        }
        let timestamp_in_signature = matches!(
            &self.layout,
            Layout::Pairs {
                timestamp_key: Some(_),
                ..
            }
        );
        match &self.timestamp {
            Some(Timestamp { header: None, .. }) if !timestamp_in_signature => {
                return Err((
                    "timestamp_header",
                    "a signed timestamp needs timestamp_header, or a timestamp_key in the signature header".into(),
                ));
            }
            None if self.signed.contains(&Part::Timestamp) => {
                return Err((
                    "signed",
                    "\"timestamp\" is signed but no timestamp_header (or timestamp_key) says where it is".into(),
                ));
            }
            _ => {}
        }
        if self.algorithm == Algorithm::Token {
            if self.key != KeyForm::Utf8 {
                return Err((
                    "key",
                    "a token is compared with the secret as written; use key = \"utf8\"".into(),
                ));
            }
        } else if self.signed.is_empty() {
            return Err((
                "signed",
                "say what is signed, e.g. signed = [\"body\"]".into(),
            ));
        }
        if self.algorithm.is_public_key() != (self.key == KeyForm::PublicKey) {
            return Err((
                "key",
                format!(
                    "{} needs key = \"{}\"",
                    self.algorithm.name(),
                    if self.algorithm.is_public_key() {
                        "public-key"
                    } else {
                        "utf8\", \"utf8-nfkd\", \"base64\", \"hex\" or \"whsec"
                    }
                ),
            ));
        }
        Ok(())
    }
}
