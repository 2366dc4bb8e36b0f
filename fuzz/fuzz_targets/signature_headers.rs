//! Fuzzes every scheme's signature-header parser through `Verifier::begin`/`verify` with
//! arbitrary header values, bodies, clocks and chunkings. Beyond "never panics" it checks
//! three properties: arbitrary headers never verify (no forgery without the key), hashing a
//! body in chunks gives the same verdict as hashing it whole, and whatever a scheme signs
//! verifies while the same headers over a changed body do not.
#![no_main]

use arbitrary::Arbitrary;
use hookwall::signature::{Algorithm, Encoding, GenericHmac, Scheme, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

/// Every header a scheme reads, so arbitrary values land where the parsers look.
const HEADER_NAMES: &[&str] = &[
    "x-vwd-signature-v1",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-signature",
];

/// Valid for every scheme: standard-webhooks needs base64 after `whsec_`.
const SECRETS: [&[u8]; 2] = [
    b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    b"whsec_c2Vjb25kIGtleQ==",
];

#[derive(Arbitrary, Debug)]
struct Input {
    scheme: u8,
    generic_prefix: String,
    generic_base64: bool,
    generic_sha512: bool,
    headers: Vec<(u8, Vec<u8>)>,
    body: Vec<u8>,
    now: i64,
    tolerance_secs: u16,
    chunk_sizes: Vec<u8>,
    delivery_id: String,
}

fn scheme(input: &Input) -> Scheme {
    match input.scheme % 7 {
        0 => Scheme::Visma,
        1 => Scheme::Github,
        2 => Scheme::Shopify,
        3 => Scheme::Stripe,
        4 => Scheme::Slack,
        5 => Scheme::StandardWebhooks,
        _ => Scheme::Hmac(GenericHmac {
            header: HeaderName::from_static("x-signature"),
            prefix: input.generic_prefix.clone(),
            encoding: if input.generic_base64 {
                Encoding::Base64
            } else {
                Encoding::Hex
            },
            algorithm: if input.generic_sha512 {
                Algorithm::Sha512
            } else {
                Algorithm::Sha256
            },
        }),
    }
}

fuzz_target!(|input: Input| {
    let scheme = scheme(&input);
    let keys: Vec<_> = SECRETS
        .iter()
        .map(|secret| {
            scheme
                .key_from_secret(secret)
                .expect("fixed secrets are valid")
        })
        .collect();
    let tolerance = Duration::from_secs(u64::from(input.tolerance_secs.max(1)));
    let verifier = Verifier::new(scheme.clone(), keys.clone(), tolerance);

    // 1. Arbitrary headers: no panic, no forgery, and streaming agrees with one shot.
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            let name = HEADER_NAMES[usize::from(*name) % HEADER_NAMES.len()];
            headers.append(HeaderName::from_static(name), value);
        }
    }
    let whole = verifier.verify(&headers, &input.body, input.now);
    assert!(whole.is_err(), "arbitrary headers verified: {headers:?}");
    if let Ok(mut streaming) = verifier.begin(&headers, input.now) {
        let mut rest = &input.body[..];
        for size in &input.chunk_sizes {
            let (chunk, tail) = rest.split_at(usize::from(*size).min(rest.len()));
            streaming.update(chunk);
            rest = tail;
        }
        streaming.update(rest);
        assert_eq!(streaming.finish().is_ok(), whole.is_ok());
    }

    // 2. Round trip at a realistic time, with ids and prefixes a config or sender could use.
    let now = input.now.rem_euclid(4_102_444_800);
    let id_ok = !input.delivery_id.is_empty()
        && input.delivery_id.len() <= 256
        && input.delivery_id.bytes().all(|b| b.is_ascii_graphic());
    let prefix_ok = input.generic_prefix.bytes().all(|b| b.is_ascii_graphic());
    if id_ok && prefix_ok {
        for key in &keys {
            let mut signed = HeaderMap::new();
            let headers = scheme
                .sign(key, &input.body, now, &input.delivery_id)
                .expect("visible-ASCII ids and prefixes make valid header values");
            for (name, value) in headers {
                signed.append(name, value);
            }
            assert!(
                verifier.verify(&signed, &input.body, now).is_ok(),
                "{} did not verify its own signature",
                scheme.name()
            );
            let mut changed = input.body.clone();
            changed.push(b'!');
            assert!(verifier.verify(&signed, &changed, now).is_err());
        }
    }
});
