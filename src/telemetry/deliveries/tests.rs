use super::headers::{MAX_HEADER_TEXT_BYTES, MAX_KEPT_HEADERS};
use super::*;
use crate::test_support::headers;
use http::{HeaderValue, Method};

fn record(deliveries: &Deliveries, route: &str, outcome: Outcome, request_headers: &HeaderMap) {
    let Some(arrival) = deliveries.arrival(&Method::POST, "/hook", request_headers, None) else {
        return;
    };
    deliveries.record(
        arrival,
        Measured::default(),
        Ending {
            route,
            outcome,
            reason: None,
            status: outcome.status().as_u16(),
            source: "127.0.0.1:4000".parse().unwrap(),
            request_id: "rid",
            total: Duration::from_micros(1500),
        },
    );
}

#[test]
fn keeps_the_last_capacity_requests_newest_first() {
    let deliveries = Deliveries::new(3, 0);
    for _ in 0..5 {
        record(&deliveries, "a", Outcome::Forwarded, &HeaderMap::new());
    }
    let snapshot = deliveries.snapshot(&Filter::default());
    let ids: Vec<u64> = snapshot.deliveries.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![5, 4, 3]);
    assert_eq!(snapshot.recorded, 5);
    assert_eq!(snapshot.oldest_id, Some(3));
}

#[test]
fn capacity_zero_records_nothing() {
    let deliveries = Deliveries::new(0, 200);
    assert!(
        deliveries
            .arrival(&Method::POST, "/", &HeaderMap::new(), None)
            .is_none()
    );
    assert!(deliveries.preview(b"body").is_none());
    assert_eq!(deliveries.recorded(), 0);
}

#[test]
fn filters_by_route_outcome_group_label_and_id() {
    let deliveries = Deliveries::new(10, 0);
    let none = HeaderMap::new();
    record(&deliveries, "visma", Outcome::Forwarded, &none);
    record(&deliveries, "visma", Outcome::BadSignature, &none);
    record(&deliveries, "github", Outcome::MissingSignature, &none);
    record(&deliveries, "unmatched", Outcome::UnmatchedRoute, &none);
    record(&deliveries, "github", Outcome::Duplicate, &none);
    let ids = |filter: Filter| -> Vec<u64> {
        deliveries
            .snapshot(&filter)
            .deliveries
            .iter()
            .map(|(id, _)| *id)
            .collect()
    };
    let route = |name: &str| Some(name.to_string());
    let outcome = |text: &str| OutcomeFilter::parse(text);
    assert_eq!(ids(Filter::default()), vec![5, 4, 3, 2, 1]);
    assert_eq!(
        ids(Filter {
            route: route("visma"),
            ..Filter::default()
        }),
        vec![2, 1]
    );
    assert_eq!(
        ids(Filter {
            outcome: outcome("accepted"),
            ..Filter::default()
        }),
        vec![5, 1]
    );
    assert_eq!(
        ids(Filter {
            outcome: outcome("refused"),
            ..Filter::default()
        }),
        vec![4, 3, 2]
    );
    assert_eq!(
        ids(Filter {
            route: route("github"),
            outcome: outcome("missing_signature"),
            ..Filter::default()
        }),
        vec![3]
    );
    assert_eq!(
        ids(Filter {
            after: Some(3),
            ..Filter::default()
        }),
        vec![5, 4]
    );
    assert_eq!(OutcomeFilter::parse("no_such_outcome"), None);
    let snapshot = deliveries.snapshot(&Filter::default());
    assert_eq!(snapshot.routes, vec!["github", "unmatched", "visma"]);
}

#[test]
fn the_json_shows_ids_and_never_a_masked_value_or_the_query() {
    let deliveries = Deliveries::new(5, 0);
    let request = headers(&[
        ("x-vwd-signature-v1", "SECRET-SIGNATURE-VALUE"),
        ("x-vwd-event-id", "evt-42"),
        ("content-length", "17"),
    ]);
    let arrival = deliveries
        .arrival(&Method::POST, "/hook", &request, None)
        .unwrap();
    deliveries.record(
        arrival,
        Measured {
            verify: Some(Duration::from_micros(120)),
            ..Measured::default()
        },
        Ending {
            route: "visma",
            outcome: Outcome::BadSignature,
            reason: Some("no signature matched"),
            status: 401,
            source: "10.0.0.1:5000".parse().unwrap(),
            request_id: "rid-1",
            total: Duration::from_millis(2),
        },
    );
    let snapshot = deliveries.snapshot(&Filter::default());
    let text = serde_json::to_string(&snapshot.to_json()).unwrap();
    assert!(!text.contains("SECRET-SIGNATURE-VALUE"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = &json["deliveries"][0];
    assert_eq!(entry["outcome"], "bad_signature");
    assert_eq!(entry["accepted"], false);
    assert_eq!(entry["status"], 401);
    assert_eq!(entry["body_bytes"], 17, "the declared length when unread");
    assert_eq!(entry["verify_ms"], 0.12);
    assert_eq!(entry["source"], "10.0.0.1:5000");
    assert_eq!(entry["sender_ids"][0]["value"], "evt-42");
    assert_eq!(entry["headers"][0]["value"], MASKED);
    assert!(entry.get("body_preview").is_none());
}

#[test]
fn the_preview_is_kept_only_when_configured_and_is_short() {
    assert!(Deliveries::new(5, 0).preview(b"{\"a\":1}").is_none());
    let dev = Deliveries::new(5, 8);
    assert_eq!(dev.preview(b"0123456789").as_deref(), Some("01234567…"));
    assert_eq!(dev.preview(b"0123").as_deref(), Some("0123"));
}

/// The memory bound: the worst-case entry (every header bound reached, longest path, reason
/// and id) is a few KiB, so a full default ring of 200 stays around a MiB. `cargo bench
/// --bench deliveries` measures a full ring's real heap use.
#[test]
fn a_worst_case_entry_stays_within_its_bounds() {
    let deliveries = Deliveries::new(1, 0);
    let long = "v".repeat(8000);
    let names: Vec<String> = (0..200)
        .map(|i| format!("x-{i:03}-{}", "n".repeat(80)))
        .collect();
    let mut request = HeaderMap::new();
    for name in &names {
        request.append(
            HeaderName::try_from(name.as_str()).unwrap(),
            HeaderValue::from_str(&long).unwrap(),
        );
    }
    let path = format!("/{}", "p".repeat(5000));
    let arrival = deliveries
        .arrival(&Method::POST, &path, &request, None)
        .unwrap();
    deliveries.record(
        arrival,
        Measured::default(),
        Ending {
            route: "visma",
            outcome: Outcome::BadSignature,
            reason: Some(&"r".repeat(5000)),
            status: 401,
            source: "127.0.0.1:1".parse().unwrap(),
            request_id: &"i".repeat(5000),
            total: Duration::ZERO,
        },
    );
    let snapshot = deliveries.snapshot(&Filter::default());
    let (_, delivery) = &snapshot.deliveries[0];
    assert!(delivery.headers.fields.len() <= MAX_KEPT_HEADERS);
    assert!(delivery.path.len() <= MAX_PATH_BYTES);
    let bound = MAX_HEADER_TEXT_BYTES
        + MAX_KEPT_HEADERS * std::mem::size_of::<(String, String)>()
        + MAX_PATH_BYTES
        + MAX_REASON_BYTES
        + MAX_REQUEST_ID_BYTES
        + MAX_METHOD_BYTES
        + 64;
    assert!(
        delivery.heap_bytes() <= bound,
        "{} > {bound}",
        delivery.heap_bytes()
    );
}
