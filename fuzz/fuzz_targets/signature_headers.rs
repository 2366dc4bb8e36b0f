//! Fuzzes every scheme's signature-header parser through `Verifier::begin_request`/`verify`
//! with arbitrary header values, bodies, clocks and chunkings. The scheme is any preset of
//! the catalogue (the list `hookwall schemes` prints) or a route's own `scheme = "hmac"`
//! description, built from TOML by the config loader as a config file would. Beyond "never
//! panics" it checks three properties: arbitrary headers never verify (no forgery without the
//! key), hashing a body in chunks gives the same verdict as hashing it whole, and whatever a
//! scheme signs verifies while the same headers over a changed body do not.
#![no_main]

use arbitrary::Arbitrary;
use hookwall::config::{Config, Secret, SecretSource};
use hookwall::signature::{
    Delivery, Key, PublicUrl, RequestHead, Scheme, SignError, Verifier, catalogue,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use std::time::Duration;

/// Two shared secrets, as while one is rotated. 64 hex digits suit every symmetric key form
/// at once: as written, hex, base64 (the hex digits are base64 letters) and `whsec_`-less
/// whsec; Contentful's secrets are exactly 64 characters.
const SECRETS: [&[u8]; 2] = [
    b"4f1c9a0e7b2d5c8e1a3f6b9d0c2e4a7f8b1d3e5c7a9f0b2d4c6e8a1f3b5d7c9e",
    b"00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210",
];
/// Public-key presets verify with one fixed pair each: hookwall signs with the private half.
/// RFC 8032 test 1, an Ed25519 seed and its public key.
const ED25519_SEED: &[u8] = b"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const ED25519_PUBLIC: &[u8] = b"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// A P-256 key made for this target (`openssl genpkey -algorithm EC`), PKCS#8 and SPKI.
const ECDSA_PRIVATE: &[u8] = b"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQ7/fWOBF5hxLKeXR
nF3GWFe11dphDkB0T2CHffruop2hRANCAARXdFM1aqCBvdTKwThVrPRq9PCCAK+D
PWo10Hr9Jn87w+7dt24Ehla4onqpmjCRrVyL4cBjaagZWXTd0PWwJ9Kp
-----END PRIVATE KEY-----
";
const ECDSA_PUBLIC: &[u8] = b"-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEV3RTNWqggb3UysE4Vaz0avTwggCv
gz1qNdB6/SZ/O8Pu3bduBIZWuKJ6qZowka1ci+HAY2moGVl03dD1sCfSqQ==
-----END PUBLIC KEY-----
";

/// Where schemes that sign the URL are posted to.
const PATH: &str = "/webhooks/fuzz";
const PUBLIC_URL: &str = "https://hooks.example.com/webhooks/fuzz";

/// The headers the custom description below can name.
const CUSTOM_SIGNATURE: &str = "x-signature";
const CUSTOM_TIMESTAMP: &str = "x-fuzz-timestamp";
const CUSTOM_ID: &str = "x-fuzz-id";

/// Header names the catalogue reads but a delivery it signs does not carry: alternate names
/// (Standard Webhooks reading Svix's), second keys' headers, signed extra headers.
const EXTRA_HEADERS: &[&str] = &[
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-docusign-signature-2",
    "box-signature-secondary",
    "x-contentful-crn",
    CUSTOM_SIGNATURE,
    CUSTOM_TIMESTAMP,
    CUSTOM_ID,
];

/// Every header a scheme reads, so arbitrary values land where the parsers look: derived from
/// the catalogue (each preset's signature header and the headers its sender sends), plus
/// [`EXTRA_HEADERS`].
static HEADER_NAMES: LazyLock<Vec<HeaderName>> = LazyLock::new(|| {
    let mut names: Vec<HeaderName> = EXTRA_HEADERS
        .iter()
        .map(|name| HeaderName::from_static(name))
        .collect();
    for preset in catalogue::presets() {
        let scheme = Scheme::builtin(preset.name).expect("a preset finds itself");
        names.push(scheme.signature_header());
        let Some(case) = Case::preset(preset.name) else {
            continue;
        };
        let delivery = Delivery {
            body: b"{}",
            now: 1_750_000_000,
            id: "msg_1",
            method: "POST",
            url: Some(PUBLIC_URL),
        };
        if let Ok(headers) = case.scheme.sign(case.sign_with, &delivery) {
            names.extend(headers.into_iter().map(|(name, _)| name));
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
});

/// A scheme, the secrets its sender signs with, and the keys hookwall verifies with.
struct Case {
    label: String,
    scheme: Scheme,
    sign_with: &'static [u8],
    keys: Vec<Key>,
}

impl Case {
    /// A preset with secrets in its key form: the shared secrets, or for a public-key preset
    /// the fixed pair of its algorithm.
    fn preset(name: &str) -> Option<Case> {
        let scheme = Scheme::builtin(name)?;
        let shared: Result<Vec<Key>, _> = SECRETS
            .iter()
            .map(|secret| scheme.key_from_secret(secret))
            .collect();
        let (sign_with, keys) = match shared {
            // Raw hex is also an Ed25519 public key: such a preset verifies with the pair.
            Ok(keys) if matches!(keys[0], Key::Ed25519(_)) => (
                ED25519_SEED,
                vec![scheme.key_from_secret(ED25519_PUBLIC).ok()?],
            ),
            Ok(keys) => (SECRETS[0], keys),
            Err(_) => match scheme.key_from_secret(ECDSA_PUBLIC) {
                Ok(key @ Key::EcdsaP256(_)) => (ECDSA_PRIVATE, vec![key]),
                _ => panic!("{name}: no fixed secret suits this preset"),
            },
        };
        Some(Case {
            label: name.to_string(),
            scheme,
            sign_with,
            keys,
        })
    }

    /// A route's own description, through the config loader.
    fn custom(description: &Custom) -> Case {
        let toml = description.toml();
        let resolve = |source: &SecretSource| {
            let secret = match source {
                SecretSource::Env(name) if name == "SECOND" => SECRETS[1],
                _ => SECRETS[0],
            };
            Ok(Secret::literal(source.clone(), secret.to_vec()))
        };
        let config = Config::from_toml_with_secrets(&toml, "fuzz.toml", &resolve)
            .unwrap_or_else(|err| panic!("a valid description was refused: {err}\n{toml}"));
        let route = &config.routes[0];
        Case {
            label: format!("hmac:\n{toml}"),
            scheme: route.scheme.clone(),
            sign_with: SECRETS[0],
            keys: route.keys.clone(),
        }
    }
}

/// A `scheme = "hmac"` route: each field picks one of the forms the config accepts.
#[derive(Arbitrary, Debug)]
struct Custom {
    prefix: String,
    algorithm: u8,
    encoding: u8,
    key: u8,
    layout: u8,
    signed: u8,
    timestamp_format: u8,
}

impl Custom {
    fn toml(&self) -> String {
        let pick = |choice: u8, names: &[&'static str]| names[usize::from(choice) % names.len()];
        let mut lines = vec![
            "[upstream]".to_string(),
            "url = \"http://127.0.0.1:8080\"".into(),
            "[[route]]".into(),
            format!("path = \"{PATH}\""),
            "secrets = [{ env = \"FIRST\" }, { env = \"SECOND\" }]".into(),
            "scheme = \"hmac\"".into(),
            format!("header = \"{CUSTOM_SIGNATURE}\""),
        ];
        let algorithm = pick(
            self.algorithm,
            &["hmac-sha1", "hmac-sha256", "hmac-sha512", "token"],
        );
        lines.push(format!("algorithm = \"{algorithm}\""));
        // Visible ASCII, so Rust's escaping of it is TOML's.
        let prefix_ok =
            self.prefix.len() <= 32 && self.prefix.bytes().all(|b| b.is_ascii_graphic());
        let prefix = if prefix_ok { self.prefix.as_str() } else { "" };
        if algorithm == "token" {
            lines.push("encoding = \"text\"".into());
            lines.push("key = \"utf8\"".into());
            if !prefix.is_empty() {
                lines.push(format!("prefix = {prefix:?}"));
            }
            return lines.join("\n") + "\n";
        }
        lines.push(format!(
            "encoding = \"{}\"",
            pick(self.encoding, &["hex", "base64", "base64url"])
        ));
        lines.push(format!(
            "key = \"{}\"",
            pick(self.key, &["utf8", "hex", "base64", "whsec"])
        ));
        let signed = pick(
            self.signed,
            &[
                "{body}",
                "{timestamp}.{body}",
                "v0:{timestamp}:{body}",
                "{header:x-fuzz-id}.{timestamp}.{body}",
                "{method}{url}{body}",
                "{url}{form-params}",
            ],
        );
        lines.push(format!("signed = {signed:?}"));
        if signed.contains("{url}") {
            lines.push(format!("public_url = \"{PUBLIC_URL}\""));
        }
        if signed.contains("x-fuzz-id") {
            lines.push(format!("id_header = \"{CUSTOM_ID}\""));
        }
        let timestamped = signed.contains("{timestamp}");
        match self.layout % 3 {
            0 => {
                if !prefix.is_empty() {
                    lines.push(format!("prefix = {prefix:?}"));
                }
                if timestamped {
                    lines.push(format!("timestamp_header = \"{CUSTOM_TIMESTAMP}\""));
                }
            }
            1 => {
                lines.push("signature_key = \"v1\"".into());
                lines.push("timestamp_key = \"t\"".into());
            }
            _ => {
                lines.push("version = \"v1\"".into());
                if timestamped {
                    lines.push(format!("timestamp_header = \"{CUSTOM_TIMESTAMP}\""));
                }
            }
        }
        if timestamped || self.layout % 3 == 1 {
            lines.push(format!(
                "timestamp_format = \"{}\"",
                pick(self.timestamp_format, &["unix", "unix-ms", "rfc3339"])
            ));
        }
        lines.join("\n") + "\n"
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Below the catalogue's length a preset, else the custom description.
    scheme: u16,
    custom: Custom,
    headers: Vec<(u16, Vec<u8>)>,
    body: Vec<u8>,
    now: i64,
    tolerance_secs: u16,
    chunk_sizes: Vec<u8>,
    delivery_id: String,
}

fn head(headers: &HeaderMap) -> RequestHead<'_> {
    RequestHead {
        method: "POST",
        path: PATH,
        query: None,
        headers,
    }
}

/// Whether `body` verifies, asserting that hashing it in `chunk_sizes` pieces gives the same
/// verdict as hashing it whole.
fn verifies(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    chunk_sizes: &[u8],
) -> bool {
    let whole = verifier.verify_request(head(headers), body, now).is_ok();
    let streamed = match verifier.begin_request(head(headers), now) {
        Ok(mut streaming) => {
            let mut rest = body;
            for size in chunk_sizes {
                let (chunk, tail) = rest.split_at(usize::from(*size).min(rest.len()));
                streaming.update(chunk);
                rest = tail;
            }
            streaming.update(rest);
            streaming.finish().is_ok()
        }
        Err(_) => false,
    };
    assert_eq!(streamed, whole, "chunked and whole verdicts differ");
    whole
}

fuzz_target!(|input: Input| {
    let presets = catalogue::presets();
    let case = match presets.get(usize::from(input.scheme)) {
        Some(preset) => Case::preset(preset.name).expect("a preset finds itself"),
        None => Case::custom(&input.custom),
    };
    let tolerance = Duration::from_secs(u64::from(input.tolerance_secs.max(1)));
    let verifier = Verifier::new(case.scheme.clone(), case.keys.clone(), tolerance)
        .with_public_url(Some(PublicUrl {
            base: PUBLIC_URL.into(),
            route_path: PATH.into(),
        }));

    // 1. Arbitrary headers: no panic, no forgery, and streaming agrees with one shot.
    let names = &*HEADER_NAMES;
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(names[usize::from(*name) % names.len()].clone(), value);
        }
    }
    assert!(
        !verifies(
            &verifier,
            &headers,
            &input.body,
            input.now,
            &input.chunk_sizes
        ),
        "{}: arbitrary headers verified: {headers:?}",
        case.label
    );

    // 2. Round trip at a realistic time, with an id a sender could use.
    let now = input.now.rem_euclid(4_102_444_800);
    let id_ok = !input.delivery_id.is_empty()
        && input.delivery_id.len() <= 256
        && input.delivery_id.bytes().all(|b| b.is_ascii_graphic());
    if !id_ok {
        return;
    }
    let delivery = Delivery {
        body: &input.body,
        now,
        id: &input.delivery_id,
        method: "POST",
        url: Some(PUBLIC_URL),
    };
    let signed = match case.scheme.sign(case.sign_with, &delivery) {
        Ok(signed) => signed,
        // The proof is inside the body (Adyen, Mailgun, Graph), or a header hookwall does not
        // make up is signed: nothing to round-trip through headers.
        Err(SignError::ProofInBody { .. } | SignError::UnsignableHeader { .. }) => return,
        Err(err) => panic!("{}: cannot sign: {err}", case.label),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in signed {
        headers.append(name, value);
    }
    assert!(
        verifies(&verifier, &headers, &input.body, now, &input.chunk_sizes),
        "{} did not verify its own signature",
        case.label
    );
    let mut changed = input.body.clone();
    changed.push(b'!');
    let signs_body = !matches!(case.scheme.sign(case.sign_with, &Delivery { body: &changed, ..delivery.clone() }), Ok(ref other) if other.iter().all(|(n, v)| headers.get(n) == Some(v)));
    if signs_body {
        assert!(
            !verifies(&verifier, &headers, &changed, now, &input.chunk_sizes),
            "{}: a changed body verified",
            case.label
        );
    }
});
