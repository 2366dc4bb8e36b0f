//! How fast is signature verification alone, per scheme and body size (one call, and streamed
//! in 16 KiB chunks as hyper delivers a body)? Targets: ≥ 1 GB/s on 1 MiB, ≤ 2 µs for 1 KiB.
//!
//! No I/O and no proxy: `Verifier::verify` (headers parsed, keyed HMAC cloned, body hashed,
//! constant-time compare) on a correctly signed body, so every iteration takes the accept path.
//! The `empty` size is the fixed per-request cost (header parsing and decoding, key clone,
//! finalisation). Run: `cargo bench --bench verify` (add a filter, e.g. `-- visma`).

mod common;

use bytes::Bytes;
use common::json_body;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use hookwall::signature::{
    Algorithm, DEFAULT_TOLERANCE, Encoding, GenericHmac, Scheme, UnixSeconds, Verifier,
};
use http::{HeaderMap, HeaderName};
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

struct Case {
    label: &'static str,
    scheme: Scheme,
    secret: &'static [u8],
}

fn cases() -> Vec<Case> {
    let generic = |algorithm| {
        Scheme::Hmac(GenericHmac {
            header: HeaderName::from_static("x-signature"),
            prefix: "sha256=".to_string(),
            encoding: Encoding::Hex,
            algorithm,
        })
    };
    vec![
        Case {
            label: "visma",
            scheme: Scheme::Visma,
            secret: b"visma-bench-secret",
        },
        Case {
            label: "github",
            scheme: Scheme::Github,
            secret: b"github-bench-secret",
        },
        Case {
            label: "shopify",
            scheme: Scheme::Shopify,
            secret: b"shopify-bench-secret",
        },
        Case {
            label: "stripe",
            scheme: Scheme::Stripe,
            secret: b"whsec_stripe-bench-secret",
        },
        Case {
            label: "slack",
            scheme: Scheme::Slack,
            secret: b"slack-bench-secret",
        },
        Case {
            label: "standard-webhooks",
            scheme: Scheme::StandardWebhooks,
            // base64 of 32 bytes after the `whsec_` prefix, as the spec requires.
            secret: b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2JM6KqXdyqA=",
        },
        Case {
            label: "hmac-sha256",
            scheme: generic(Algorithm::Sha256),
            secret: b"generic-bench-secret",
        },
        Case {
            label: "hmac-sha512",
            scheme: generic(Algorithm::Sha512),
            secret: b"generic-bench-secret",
        },
    ]
}

/// The verifier of `case` and the headers its sender would send with `body`.
fn signed(case: &Case, body: &[u8]) -> (Verifier, HeaderMap) {
    let key = case
        .scheme
        .key_from_secret(case.secret)
        .expect("bench secrets are valid for their scheme");
    let mut headers = HeaderMap::new();
    let signed = case.scheme.sign(&key, body, NOW, "msg_bench0001");
    for (name, value) in signed.expect("bench bodies can be signed") {
        headers.append(name, value);
    }
    let verifier = Verifier::new(case.scheme.clone(), vec![key], DEFAULT_TOLERANCE);
    // A bench of the reject path by mistake would measure the wrong thing.
    assert!(
        verifier.verify(&headers, body, NOW).is_ok(),
        "{}: a body signed by the scheme must verify",
        case.label
    );
    (verifier, headers)
}

fn one_call(c: &mut Criterion) {
    for case in cases() {
        let mut group = c.benchmark_group(format!("verify/{}", case.label));
        let empty = json_body(0);
        let (verifier, headers) = signed(&case, &empty);
        group.throughput(Throughput::Elements(1));
        group.bench_function("empty", |b| {
            b.iter(|| verifier.verify(black_box(&headers), black_box(&empty), NOW))
        });
        for &(label, size) in SIZES {
            let body = json_body(size);
            let (verifier, headers) = signed(&case, &body);
            group.throughput(Throughput::Bytes(size as u64));
            if size >= 256 * 1024 {
                group.sampling_mode(SamplingMode::Flat);
            }
            group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
                b.iter(|| verifier.verify(black_box(&headers), black_box(body), NOW))
            });
        }
        group.finish();
    }
}

fn streamed(c: &mut Criterion) {
    for case in cases() {
        let mut group = c.benchmark_group(format!("verify_streamed_16KiB_chunks/{}", case.label));
        for &(label, size) in SIZES {
            let body = json_body(size);
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
                        .begin(black_box(&headers), NOW)
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
