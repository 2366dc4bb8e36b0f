//! What does the recent deliveries page cost? The memory a full ring holds (typical and
//! worst-case entries, counted from the entries' own capacities and cross-checked by the RSS
//! growth of a large ring), and the time one request's record takes on the request path
//! (taking the head, building the entry, the push into a full ring). The whole request path
//! with recording on and off is `cargo bench --bench request_path` (`request_path` vs
//! `request_path_deliveries_off`). Run: `cargo bench --bench deliveries`.

use criterion::{Criterion, criterion_group, criterion_main};
use hookwall::telemetry::deliveries::{Deliveries, Ending, Filter, Measured};
use hookwall::telemetry::outcome::Outcome;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::hint::black_box;
use std::time::Duration;

const DEFAULT_RING: usize = 200;

/// The head of a real Visma delivery (as hyper hands it over).
fn visma_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "hooks.example.com"),
        ("content-type", "application/json; charset=utf-8"),
        ("content-length", "1024"),
        ("user-agent", "Visma-Webhook-Dispatcher/1.0"),
        (
            "x-vwd-signature-v1",
            "0Y6KXEcq3pN2m1fC3rU9mB7Q2s3l7bR1Qq8w1pN0aZ4=",
        ),
        ("x-vwd-event-id", "2f1c9a7e-5b1d-4c8e-9f3a-6d7e8f9a0b1c"),
        (
            "x-vwd-notification-id",
            "7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d",
        ),
        ("x-vwd-tenant-id", "1234567"),
        (
            "x-vwd-subscription-id",
            "3c2d1e0f-9a8b-7c6d-5e4f-3a2b1c0d9e8f",
        ),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

/// As many, as long headers as a request may carry (every per-entry bound reached).
fn worst_case_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&"v".repeat(8 * 1024)).expect("visible ASCII");
    for index in 0..100 {
        let name = HeaderName::try_from(format!("x-worst-case-{index:03}-{}", "n".repeat(80)))
            .expect("a valid name");
        headers.insert(name, value.clone());
    }
    headers
}

fn record(deliveries: &Deliveries, headers: &HeaderMap, path: &str) {
    let Some(arrival) = deliveries.arrival(&Method::POST, path, headers, None) else {
        return;
    };
    let measured = Measured {
        body_bytes: Some(1024),
        verify: Some(Duration::from_micros(3)),
        app: Some(Duration::from_micros(250)),
        body_preview: None,
    };
    deliveries.record(
        arrival,
        measured,
        Ending {
            route: "visma-customers",
            outcome: Outcome::Forwarded,
            reason: None,
            status: 200,
            source: "10.1.2.3:51234".parse().expect("an address"),
            request_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            total: Duration::from_micros(300),
        },
    );
}

/// Heap bytes held per entry, and for the ring, counted from the entries' capacities.
fn counted_bytes(deliveries: &Deliveries) -> (usize, usize) {
    let snapshot = deliveries.snapshot(&Filter::default());
    let per_entry_fixed = std::mem::size_of::<hookwall::telemetry::deliveries::Delivery>()
        + 2 * std::mem::size_of::<usize>() // the Arc's counts
        + std::mem::size_of::<(u64, usize)>(); // the ring slot (id, pointer)
    let total: usize = snapshot
        .deliveries
        .iter()
        .map(|(_, delivery)| delivery.heap_bytes() + per_entry_fixed)
        .sum();
    (total / snapshot.deliveries.len().max(1), total)
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn report_memory() {
    for (label, headers, path) in [
        (
            "typical Visma delivery",
            visma_headers(),
            "/webhooks/visma".to_string(),
        ),
        (
            "worst case (every bound)",
            worst_case_headers(),
            format!("/{}", "p".repeat(4096)),
        ),
    ] {
        let ring = Deliveries::new(DEFAULT_RING, 0);
        for _ in 0..DEFAULT_RING * 2 {
            record(&ring, &headers, &path);
        }
        let (per_entry, total) = counted_bytes(&ring);
        eprintln!(
            "deliveries memory, {label}: {per_entry} B per entry, {:.1} KiB for a full ring of {DEFAULT_RING} (counted from capacities, allocator overhead not included)",
            total as f64 / 1024.0
        );
    }
    // Cross-check with the process's resident memory: a ring 50 times the default, so the
    // growth stands well above the allocator's noise.
    let large = 50 * DEFAULT_RING;
    let before = rss_bytes();
    let ring = Deliveries::new(large, 0);
    let headers = worst_case_headers();
    let path = format!("/{}", "p".repeat(4096));
    for _ in 0..large {
        record(&ring, &headers, &path);
    }
    let grown = rss_bytes().saturating_sub(before);
    eprintln!(
        "deliveries memory, RSS growth for {large} worst-case entries: {:.1} MiB = {} B per entry, so about {:.2} MiB for the default {DEFAULT_RING}",
        grown as f64 / 1024.0 / 1024.0,
        grown / large,
        (grown / large * DEFAULT_RING) as f64 / 1024.0 / 1024.0
    );
    black_box(&ring);
}

fn record_cost(c: &mut Criterion) {
    report_memory();
    let mut group = c.benchmark_group("deliveries_record");
    let headers = visma_headers();
    let full = Deliveries::new(DEFAULT_RING, 0);
    for _ in 0..DEFAULT_RING {
        record(&full, &headers, "/webhooks/visma");
    }
    group.bench_function("visma_into_full_ring", |b| {
        b.iter(|| record(&full, black_box(&headers), "/webhooks/visma"))
    });
    let off = Deliveries::new(0, 0);
    group.bench_function("recording_off", |b| {
        b.iter(|| record(&off, black_box(&headers), "/webhooks/visma"))
    });
    group.bench_function("snapshot_json_full_ring", |b| {
        b.iter(|| {
            let snapshot = full.snapshot(&Filter::default());
            serde_json::to_vec(&snapshot.to_json()).expect("encodes")
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = record_cost
}
criterion_main!(benches);
