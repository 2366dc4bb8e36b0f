//! How fast is signature verification alone, per scheme and body size (one call, and streamed
//! in 16 KiB chunks as hyper delivers a body)? Targets: ≥ 1 GB/s on 1 MiB, ≤ 2 µs for 1 KiB.
//!
//! No I/O and no proxy: `Verifier::verify_request` (headers parsed, keyed HMAC cloned, body
//! hashed or kept, constant-time compare, or a public-key check) on a correctly signed body,
//! so every iteration takes the accept path. One representative preset per shape of scheme.
//! The `empty` size is the fixed per-request cost (header parsing and decoding, key clone,
//! finalisation). Run: `cargo bench --bench verify` (add a filter, e.g. `-- visma`).

mod common;

use bytes::Bytes;
use common::json_body;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use hookwall::signature::{
    DEFAULT_TOLERANCE, Delivery, PublicUrl, RequestHead, Scheme, UnixSeconds, Verifier,
};
use http::HeaderMap;
use std::hint::black_box;
use std::time::Duration;

/// A fixed clock, so timestamped schemes sign and verify at the same instant.
const NOW: UnixSeconds = 1_750_000_000;
/// hyper hands a large HTTP/1 body over in frames of roughly this size.
const CHUNK: usize = 16 * 1024;
const SIZES: &[(&str, usize)] = &[
    ("1KiB", 1024),
    ("16KiB", 16 * 1024),
    ("256KiB", 256 * 1024),
    ("1MiB", 1024 * 1024),
];
/// For schemes that sign the URL.
const PUBLIC_URL: &str = "https://hooks.example.com/webhooks/bench";
const PATH: &str = "/webhooks/bench";
/// RFC 8032 test 1: an Ed25519 seed and its public key.
const ED25519_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const ED25519_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// One scheme to measure: the preset, the secret its sender signs with and the one hookwall
/// verifies with (the same for HMAC; private and public key for signatures).
struct Case {
    label: &'static str,
    scheme: Scheme,
    sign_with: Vec<u8>,
    verify_with: Vec<u8>,
}

fn case(label: &'static str, preset: &str, secret: &[u8]) -> Case {
    Case {
        label,
        scheme: Scheme::builtin(preset).expect("a preset"),
        sign_with: secret.to_vec(),
        verify_with: secret.to_vec(),
    }
}

/// A representative scheme of each shape: body HMACs, timestamped, several signatures per
/// header, method + URL, sorted form parameters (buffered), a token, Ed25519 and ECDSA; and
/// the schemes that are code (Adyen's fields inside the body, Contentful's signed headers).
fn cases() -> Vec<Case> {
    let ecdsa = {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the key just made");
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        (
            b64.encode(pkcs8.as_ref()).into_bytes(),
            b64.encode(pair.public_key().as_ref()).into_bytes(),
        )
    };
    vec![
        case("visma", "visma", b"visma-bench-secret"),
        case("github", "github", b"github-bench-secret"),
        case("stripe", "stripe", b"whsec_stripe-bench-secret"),
        case("slack", "slack", b"slack-bench-secret"),
        // base64 of 32 bytes after the `whsec_` prefix, as the spec requires.
        case(
            "standard-webhooks",
            "standard-webhooks",
            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2JM6KqXdyqA=",
        ),
        case("hubspot", "hubspot", b"hubspot-bench-secret"),
        case("twilio", "twilio", b"twilio-bench-token"),
        case("gitlab", "gitlab", b"gitlab-bench-token"),
        case(
            "gitlab-signed",
            "gitlab-signed",
            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2JM6KqXdyqA=",
        ),
        case("bigcommerce", "bigcommerce", b"hookwall:bench-password"),
        // Sorted query parameters (none here) then the body.
        case("zoho", "zoho", b"zoho-bench-secret-token"),
        // Hex keys, as Adyen's Customer Area shows them.
        case(
            "adyen-platform",
            "adyen-platform",
            b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
        ),
        // Fields of every notification, parsed from the whole body (buffered).
        case(
            "adyen",
            "adyen",
            b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
        ),
        // Code that streams: the canonical head first, then the body.
        case(
            "contentful",
            "contentful",
            b"contentful-bench-signing-secret-of-exactly-sixty-four-characters",
        ),
        Case {
            label: "discord",
            scheme: Scheme::builtin("discord").expect("a preset"),
            sign_with: ED25519_SEED.as_bytes().to_vec(),
            verify_with: ED25519_PUBLIC.as_bytes().to_vec(),
        },
        Case {
            label: "sendgrid",
            scheme: Scheme::builtin("sendgrid").expect("a preset"),
            sign_with: ecdsa.0,
            verify_with: ecdsa.1,
        },
    ]
}

fn head(headers: &HeaderMap) -> RequestHead<'_> {
    RequestHead {
        method: "POST",
        path: PATH,
        query: None,
        headers,
    }
}

/// A body of `size` bytes for `case`: the JSON filler, or for Adyen one notification whose
/// signature is written in by hookwall's signer (its fields are what is signed).
fn body_for(case: &Case, size: usize) -> Bytes {
    if !case.scheme.signs_inside_body() {
        return json_body(size);
    }
    let head = br#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","merchantAccountCode":"BenchMerchant","merchantReference":"bench-1","pspReference":"7914073381342284","success":"true","additionalData":{"filler":""#;
    let tail = br#""}}}]}"#;
    let mut text = head.to_vec();
    text.resize(size.saturating_sub(tail.len()).max(head.len()), b'x');
    text.extend_from_slice(tail);
    let signed = case
        .scheme
        .sign_body(&case.sign_with, &text)
        .expect("bench notifications can be signed");
    Bytes::from(signed)
}

/// The verifier of `case` and the headers its sender would send with `body`.
fn signed(case: &Case, body: &[u8]) -> (Verifier, HeaderMap) {
    let key = case
        .scheme
        .key_from_secret(&case.verify_with)
        .expect("bench secrets are valid for their scheme");
    let mut headers = HeaderMap::new();
    let delivery = Delivery {
        body,
        now: NOW,
        id: "msg_bench0001",
        method: "POST",
        url: Some(PUBLIC_URL),
    };
    if !case.scheme.signs_inside_body() {
        let signed = case.scheme.sign(&case.sign_with, &delivery);
        for (name, value) in signed.expect("bench bodies can be signed") {
            headers.append(name, value);
        }
    }
    let verifier = Verifier::new(case.scheme.clone(), vec![key], DEFAULT_TOLERANCE)
        .with_public_url(Some(PublicUrl {
            base: PUBLIC_URL.into(),
            route_path: PATH.into(),
        }));
    // A bench of the reject path by mistake would measure the wrong thing.
    assert!(
        verifier.verify_request(head(&headers), body, NOW).is_ok(),
        "{}: a body signed by the scheme must verify",
        case.label
    );
    (verifier, headers)
}

fn one_call(c: &mut Criterion) {
    for case in cases() {
        let mut group = c.benchmark_group(format!("verify/{}", case.label));
        let empty = body_for(&case, 0);
        let (verifier, headers) = signed(&case, &empty);
        group.throughput(Throughput::Elements(1));
        group.bench_function("empty", |b| {
            b.iter(|| verifier.verify_request(head(black_box(&headers)), black_box(&empty), NOW))
        });
        for &(label, size) in SIZES {
            let body = body_for(&case, size);
            let (verifier, headers) = signed(&case, &body);
            group.throughput(Throughput::Bytes(size as u64));
            if size >= 256 * 1024 {
                group.sampling_mode(SamplingMode::Flat);
            }
            group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
                b.iter(|| verifier.verify_request(head(black_box(&headers)), black_box(body), NOW))
            });
        }
        group.finish();
    }
}

fn streamed(c: &mut Criterion) {
    for case in cases() {
        let mut group = c.benchmark_group(format!("verify_streamed_16KiB_chunks/{}", case.label));
        for &(label, size) in SIZES {
            let body = body_for(&case, size);
            let (verifier, headers) = signed(&case, &body);
            // Frames share the body's buffer, as hyper's `Bytes` frames do.
            let chunks: Vec<Bytes> = (0..size)
                .step_by(CHUNK)
                .map(|start| body.slice(start..(start + CHUNK).min(size)))
                .collect();
            group.throughput(Throughput::Bytes(size as u64));
            if size >= 256 * 1024 {
                group.sampling_mode(SamplingMode::Flat);
            }
            group.bench_with_input(BenchmarkId::from_parameter(label), &chunks, |b, chunks| {
                b.iter(|| {
                    let mut verification = verifier
                        .begin_request(head(black_box(&headers)), NOW)
                        .expect("signed headers parse");
                    for chunk in chunks {
                        verification.update(black_box(chunk));
                    }
                    verification.finish()
                })
            });
        }
        group.finish();
    }
}

fn config() -> Criterion {
    // Short defaults so the whole suite fits in a few minutes on a 2-core machine; override
    // with `-- --measurement-time 10 --warm-up-time 3` for quiet final runs.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = one_call, streamed
}
criterion_main!(benches);
