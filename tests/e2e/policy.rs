//! Route policy end to end, over TLS: duplicate suppression (`dedupe`), source allowlists
//! (`allow_sources`, `server.trusted_proxies`) and shadow mode (`mode = "shadow"`), each
//! checked by what reaches the recording upstream, what the sender is answered and what the
//! metrics count.

use crate::builder::RouteSpec;
use crate::common::TestProxy;
use crate::common::{Protocol, SECRET_A, SECRET_B, visma_signature};
use crate::delivery::Stage;
use crate::official;
use crate::official::{Headers, Library, Sign, unix_now};
use http::StatusCode;
use std::time::Duration;

const VISMA: &str = "/webhooks/visma";
const BODY: &str = r#"{"event":"CustomerChanged","tenantId":"1234567","customerId":"c-42"}"#;
/// The Visma Webhook Dispatcher's published source addresses.
const VISMA_SOURCES: [&str; 3] = ["18.202.121.26", "34.242.104.102", "54.220.26.45"];
/// The usual duplicate window.
const DAY: Duration = Duration::from_secs(24 * 3600);
const STRIPE_SECRET: &str = "whsec_policy_tests_4hQ2nV8c";
const STD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn visma(secret: &str, body: &str) -> Headers {
    vec![(
        "x-vwd-signature-v1".to_string(),
        visma_signature(secret, body.as_bytes()),
    )]
}

/// The Visma route, verified with secrets A and B.
fn visma_route() -> RouteSpec {
    RouteSpec::new(VISMA, "visma").secrets([SECRET_A, SECRET_B])
}

/// Waits until the upstream has received `count` requests in all.
async fn upstream_received(stage: &Stage, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if stage.recorder.requests().await.len() >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream never received request {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts a 200 duplicate answer that did not reach the upstream.
async fn assert_duplicate(stage: &Stage, route: &str, headers: &Headers, body: &str, what: &str) {
    let seen_before = stage.recorder.requests().await.len();
    let duplicates_before = stage.proxy.requests_total(route, "duplicate");
    let answer = stage.deliver(route, headers, body.as_bytes()).await;
    assert_eq!(answer.status, StatusCode::OK, "{what}: {answer:?}");
    assert_eq!(
        answer
            .headers
            .get("x-hookwall-duplicate")
            .map(|v| v.to_str().unwrap()),
        Some("true"),
        "{what}: {answer:?}"
    );
    assert_eq!(answer.json()["status"], "duplicate", "{what}");
    assert_eq!(
        stage.proxy.requests_total(route, "duplicate"),
        duplicates_before + 1.0,
        "{what}"
    );
    assert_eq!(
        stage.recorder.requests().await.len(),
        seen_before,
        "{what}: a duplicate reached the upstream"
    );
}

#[tokio::test]
async fn a_repeat_after_a_2xx_answer_is_200_duplicate_and_not_forwarded() {
    let stage = Stage::start_routes([visma_route().dedupe(DAY)]).await;
    let signed = visma(SECRET_A, BODY);
    stage
        .assert_forwarded(VISMA, &signed, BODY.as_bytes(), "first delivery")
        .await;
    assert_duplicate(&stage, VISMA, &signed, BODY, "repeat over HTTP/1.1").await;

    let answer = stage
        .deliver_with(Protocol::Http2, VISMA, &signed, BODY.as_bytes())
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["x-hookwall-duplicate"], "true");
    assert!(answer.headers.contains_key("x-request-id"));

    assert_eq!(stage.recorder.requests().await.len(), 1);
    assert_eq!(stage.proxy.requests_total(VISMA, "duplicate"), 2.0);
    assert_eq!(stage.proxy.requests_total(VISMA, "forwarded"), 1.0);
    assert_eq!(
        stage
            .proxy
            .metric("hookwall_dedupe_entries{route=\"/webhooks/visma\"}"),
        1.0
    );
}

#[tokio::test]
async fn a_repeat_while_the_first_is_still_being_forwarded_is_409() {
    let stage = Stage::start_routes([visma_route().dedupe(DAY)]).await;
    let signed = visma(SECRET_A, BODY);
    // The upstream holds the first delivery for 3 s; the repeat arrives meanwhile.
    let first = stage.deliver("/webhooks/visma?hw_delay=3", &signed, BODY.as_bytes());
    let repeat = async {
        upstream_received(&stage, 1).await;
        stage.deliver(VISMA, &signed, BODY.as_bytes()).await
    };
    let (first, repeat) = tokio::join!(first, repeat);

    assert_eq!(repeat.status, StatusCode::CONFLICT, "{repeat:?}");
    assert_eq!(repeat.json()["error"], "duplicate_in_flight");
    assert!(repeat.headers.contains_key("retry-after"), "{repeat:?}");
    assert_eq!(
        stage.proxy.requests_total(VISMA, "duplicate_in_flight"),
        1.0
    );
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(stage.recorder.requests().await.len(), 1);

    // Once the first was answered 2xx, a repeat is a plain duplicate.
    assert_duplicate(&stage, VISMA, &signed, BODY, "after the first finished").await;
}

#[tokio::test]
async fn a_repeat_after_a_failed_first_attempt_is_forwarded_again() {
    let stage = Stage::start_routes([visma_route().dedupe(DAY)]).await;
    let signed = visma(SECRET_A, BODY);

    let failed = stage
        .deliver("/webhooks/visma?hw_status=500", &signed, BODY.as_bytes())
        .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let reset = stage
        .deliver("/webhooks/visma?hw_reset=1", &signed, BODY.as_bytes())
        .await;
    assert_eq!(reset.status, StatusCode::BAD_GATEWAY, "{reset:?}");
    assert_eq!(stage.recorder.requests().await.len(), 2);

    stage
        .assert_forwarded(VISMA, &signed, BODY.as_bytes(), "retry after 500 and 502")
        .await;
    assert_duplicate(&stage, VISMA, &signed, BODY, "repeat after the 200").await;
    assert_eq!(stage.proxy.requests_total(VISMA, "duplicate"), 1.0);
}

#[tokio::test]
async fn a_repeat_after_the_dedupe_window_is_forwarded_again() {
    let stage = Stage::start_routes([visma_route().dedupe(Duration::from_secs(1))]).await;
    let signed = visma(SECRET_A, BODY);
    stage
        .assert_forwarded(VISMA, &signed, BODY.as_bytes(), "first")
        .await;
    assert_duplicate(&stage, VISMA, &signed, BODY, "inside the window").await;
    // Repeat until the one-second window has passed; bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = stage.deliver(VISMA, &signed, BODY.as_bytes()).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        if !answer.headers.contains_key("x-hookwall-duplicate") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still a duplicate 10 s into a 1 s window"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stage.recorder.requests().await.len(), 2);
    assert_eq!(stage.proxy.requests_total(VISMA, "forwarded"), 2.0);
}

#[tokio::test]
async fn beyond_dedupe_max_entries_the_oldest_delivery_is_forgotten() {
    let stage = Stage::start_routes([visma_route().dedupe(DAY).dedupe_max_entries(2)]).await;
    let bodies = [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#];
    for body in bodies {
        stage
            .assert_forwarded(VISMA, &visma(SECRET_A, body), body.as_bytes(), body)
            .await;
    }
    assert_eq!(
        stage
            .proxy
            .metric("hookwall_dedupe_entries{route=\"/webhooks/visma\"}"),
        2.0
    );
    stage
        .assert_forwarded(
            VISMA,
            &visma(SECRET_A, bodies[0]),
            bodies[0].as_bytes(),
            "the oldest, evicted",
        )
        .await;
    assert_duplicate(
        &stage,
        VISMA,
        &visma(SECRET_A, bodies[2]),
        bodies[2],
        "the newest",
    )
    .await;
}

#[tokio::test]
async fn without_dedupe_every_repeat_is_forwarded() {
    let stage = Stage::start_routes([visma_route()]).await;
    let signed = visma(SECRET_A, BODY);
    for attempt in 1..=3 {
        stage
            .assert_forwarded(
                VISMA,
                &signed,
                BODY.as_bytes(),
                &format!("attempt {attempt}"),
            )
            .await;
    }
    assert_eq!(stage.proxy.requests_total(VISMA, "duplicate"), 0.0);
}

#[tokio::test]
async fn a_visma_delivery_is_identified_by_its_signature() {
    let stage = Stage::start_routes([visma_route().dedupe(DAY)]).await;
    let other_body = r#"{"event":"CustomerChanged","tenantId":"1234567","customerId":"c-43"}"#;
    // The same body under the other configured secret is another signature: not a duplicate.
    for (secret, body) in [(SECRET_A, BODY), (SECRET_B, BODY), (SECRET_A, other_body)] {
        stage
            .assert_forwarded(
                VISMA,
                &visma(secret, body),
                body.as_bytes(),
                &format!("first with {secret}"),
            )
            .await;
    }
    for (secret, body) in [(SECRET_A, BODY), (SECRET_B, BODY), (SECRET_A, other_body)] {
        assert_duplicate(
            &stage,
            VISMA,
            &visma(secret, body),
            body,
            &format!("repeat with {secret}"),
        )
        .await;
    }
    // A forgery replaying nothing valid is refused, never answered as a duplicate.
    stage
        .assert_refused(
            VISMA,
            &visma("guess", BODY),
            BODY.as_bytes(),
            401,
            "bad_signature",
            "forged",
        )
        .await;
}

#[tokio::test]
async fn a_standard_webhooks_delivery_is_identified_by_its_signed_id() {
    let route = "/webhooks/standard";
    let stage = Stage::start_routes([RouteSpec::new(route, "standard-webhooks")
        .secrets([STD_SECRET])
        .dedupe(DAY)])
    .await;
    let now = unix_now();
    let [first, retry, other_id, forged]: [Headers; 4] = official::sign(
        Library::StandardWebhooks,
        &[
            Sign::new(&[STD_SECRET], BODY, now).id("msg_dedupe_1"),
            // The sender's retry: same id, new timestamp, so a new signature.
            Sign::new(&[STD_SECRET], BODY, now + 1).id("msg_dedupe_1"),
            Sign::new(&[STD_SECRET], BODY, now).id("msg_dedupe_2"),
            Sign::new(&["whsec_Zm9yZ2VkLXNlY3JldC1ieXRlcy0xMjM0"], BODY, now + 2)
                .id("msg_dedupe_1"),
        ],
    )
    .await
    .try_into()
    .unwrap();
    let svix_retry = official::sign_one(
        Library::Svix,
        Sign::new(&[STD_SECRET], BODY, now + 3).id("msg_dedupe_1"),
    )
    .await;

    stage
        .assert_forwarded(route, &first, BODY.as_bytes(), "first attempt")
        .await;
    assert_duplicate(&stage, route, &retry, BODY, "retry re-signed later").await;
    assert_duplicate(&stage, route, &svix_retry, BODY, "retry with svix-* names").await;
    stage
        .assert_forwarded(route, &other_id, BODY.as_bytes(), "same body, other id")
        .await;
    stage
        .assert_refused(
            route,
            &forged,
            BODY.as_bytes(),
            401,
            "bad_signature",
            "known id, forged signature",
        )
        .await;
}

#[tokio::test]
async fn a_stripe_replay_is_a_duplicate_but_a_re_signed_retry_is_not() {
    // Stripe signs no delivery id, so the identity is the signature: an exact replay is
    // caught; Stripe's own retry carries a new t= and so a new signature, and is forwarded.
    let route = "/webhooks/stripe";
    let stage = Stage::start_routes([RouteSpec::new(route, "stripe")
        .secrets([STRIPE_SECRET])
        .dedupe(DAY)])
    .await;
    let now = unix_now();
    let [first, retry]: [Headers; 2] = official::sign(
        Library::Stripe,
        &[
            Sign::new(&[STRIPE_SECRET], BODY, now),
            Sign::new(&[STRIPE_SECRET], BODY, now + 1),
        ],
    )
    .await
    .try_into()
    .unwrap();
    stage
        .assert_forwarded(route, &first, BODY.as_bytes(), "first")
        .await;
    assert_duplicate(&stage, route, &first, BODY, "exact replay").await;
    stage
        .assert_forwarded(route, &retry, BODY.as_bytes(), "re-signed retry")
        .await;
}

#[tokio::test]
async fn a_source_outside_allow_sources_is_403_before_any_signature_check() {
    let stage = Stage::start_routes([visma_route().allow_sources(VISMA_SOURCES)]).await;
    let signed = visma(SECRET_A, BODY);
    let json = stage
        .assert_refused(
            VISMA,
            &signed,
            BODY.as_bytes(),
            403,
            "source_denied",
            "genuine delivery from 127.0.0.1",
        )
        .await;
    assert!(json["message"].is_string(), "{json}");
    stage
        .assert_refused(
            VISMA,
            &[],
            BODY.as_bytes(),
            403,
            "source_denied",
            "unsigned delivery from 127.0.0.1",
        )
        .await;
    // Without trusted proxies, X-Forwarded-For is the sender's claim and is ignored.
    let mut claiming = signed.clone();
    claiming.push(("X-Forwarded-For".into(), "18.202.121.26".into()));
    stage
        .assert_refused(
            VISMA,
            &claiming,
            BODY.as_bytes(),
            403,
            "source_denied",
            "X-Forwarded-For from an untrusted peer",
        )
        .await;
    assert_eq!(stage.proxy.requests_total(VISMA, "missing_signature"), 0.0);
}

#[tokio::test]
async fn an_allowed_source_still_needs_a_valid_signature() {
    let stage = Stage::start_routes([visma_route().allow_sources(["127.0.0.0/8", "::1"])]).await;
    stage
        .assert_forwarded(VISMA, &visma(SECRET_A, BODY), BODY.as_bytes(), "allowed")
        .await;
    stage
        .assert_refused(
            VISMA,
            &visma("guess", BODY),
            BODY.as_bytes(),
            401,
            "bad_signature",
            "allowed source, forged signature",
        )
        .await;
}

#[tokio::test]
async fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_forwarded_address() {
    let stage = Stage::start_with(
        TestProxy::builder()
            .server(|s| s.trusted_proxies(["127.0.0.1/32", "10.0.0.0/8"]))
            .route(visma_route().allow_sources(VISMA_SOURCES)),
    )
    .await;
    let signed = visma(SECRET_A, BODY);
    // (X-Forwarded-For header lines, forwarded?)
    let cases: &[(&[&str], bool)] = &[
        (&["18.202.121.26"], true),
        (&["203.0.113.7"], false),
        // The load balancer appended the real client last; a sender's own entry is left.
        (&["203.0.113.7, 54.220.26.45"], true),
        (&["18.202.121.26, 203.0.113.7"], false),
        // Trusted hops (the ingress at 10.x) are skipped from the right.
        (&["34.242.104.102, 10.1.2.3"], true),
        (&["34.242.104.102", "10.1.2.3"], true),
        (&["18.202.121.26", "203.0.113.7"], false),
        // No header: the client is the trusted proxy itself, which is not allowed.
        (&[], false),
        (&["unknown"], false),
        (&["18.202.121.26, not-an-address"], false),
    ];
    for (lines, forwarded) in cases {
        let mut headers = signed.clone();
        for line in *lines {
            headers.push(("X-Forwarded-For".into(), line.to_string()));
        }
        let what = format!("X-Forwarded-For {lines:?}");
        if *forwarded {
            let arrived = stage
                .assert_forwarded(VISMA, &headers, BODY.as_bytes(), &what)
                .await;
            let forwarded_for: Vec<&str> = arrived
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
                .map(|(_, value)| value.as_str())
                .collect();
            assert_eq!(&forwarded_for, lines, "{what}: forwarded unchanged");
        } else {
            stage
                .assert_refused(
                    VISMA,
                    &headers,
                    BODY.as_bytes(),
                    403,
                    "source_denied",
                    &what,
                )
                .await;
        }
    }
}

#[tokio::test]
async fn an_unreadable_forwarded_for_line_is_not_skipped_to_reach_an_allowed_address() {
    // A sender adds two X-Forwarded-For lines: an allowed address, then one with a byte
    // outside visible ASCII. A trusted proxy that appends the address it saw to the last
    // line makes that line "été, 203.0.113.7". The real client, 203.0.113.7, is not allowed;
    // the line holding it cannot be read, so everything left of it is unverifiable and the
    // client must fall back to the peer (deny by default), never to the sender's own line.
    let stage = Stage::start_with(
        TestProxy::builder()
            .server(|s| s.trusted_proxies(["127.0.0.1/32"]))
            .route(visma_route().allow_sources(VISMA_SOURCES)),
    )
    .await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let mut request = stage.request(VISMA, &visma(SECRET_A, BODY), BODY.as_bytes());
        let headers = request.headers_mut();
        headers.append(
            "x-forwarded-for",
            http::HeaderValue::from_static("18.202.121.26"),
        );
        headers.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xe9t\xe9, 203.0.113.7").unwrap(),
        );
        let (status, _, body) = stage.proxy.send(protocol, request).await.unwrap();
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{protocol:?}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert!(stage.recorder.requests().await.is_empty());
    assert_eq!(stage.proxy.requests_total(VISMA, "source_denied"), 2.0);
}

#[tokio::test]
async fn server_allow_sources_apply_to_routes_without_their_own_list() {
    let internal = RouteSpec::new("/webhooks/internal", "visma")
        .allow_sources(["127.0.0.1"])
        .secrets([SECRET_A]);
    let stage = Stage::start_with(
        TestProxy::builder()
            .server(|s| s.allow_sources(VISMA_SOURCES))
            .route(visma_route())
            .route(internal),
    )
    .await;
    let signed = visma(SECRET_A, BODY);
    stage
        .assert_refused(
            VISMA,
            &signed,
            BODY.as_bytes(),
            403,
            "source_denied",
            "global list",
        )
        .await;
    stage
        .assert_forwarded(
            "/webhooks/internal",
            &signed,
            BODY.as_bytes(),
            "route list replaces the global one",
        )
        .await;
}

fn shadow_verdicts(stage: &Stage, route: &str, outcome: &str) -> f64 {
    stage.proxy.metric(&format!(
        "hookwall_shadow_verdicts_total{{outcome=\"{outcome}\",route=\"{route}\"}}"
    ))
}

/// Asserts that a delivery failing verification with `verdict` is still forwarded byte for
/// byte, counted as `shadow_forwarded` and by verdict.
async fn assert_shadow_forwarded(
    stage: &Stage,
    route: &str,
    headers: &Headers,
    body: &str,
    verdict: &str,
) {
    let seen_before = stage.recorder.requests().await.len();
    let shadow_before = stage.proxy.requests_total(route, "shadow_forwarded");
    let forwarded_before = stage.proxy.requests_total(route, "forwarded");
    let verdict_before = shadow_verdicts(stage, route, verdict);
    let answer = stage.deliver(route, headers, body.as_bytes()).await;
    assert_eq!(answer.status, StatusCode::OK, "{verdict}: {answer:?}");
    let seen = stage.recorder.requests().await;
    assert_eq!(seen.len(), seen_before + 1, "{verdict}: not forwarded");
    assert_eq!(seen.last().unwrap().body(), body.as_bytes(), "{verdict}");
    assert_eq!(
        stage.proxy.requests_total(route, "shadow_forwarded"),
        shadow_before + 1.0,
        "{verdict}"
    );
    assert_eq!(
        stage.proxy.requests_total(route, "forwarded"),
        forwarded_before,
        "{verdict}: counted as a genuine forward"
    );
    assert_eq!(
        shadow_verdicts(stage, route, verdict),
        verdict_before + 1.0,
        "{verdict}: verdict not counted"
    );
}

#[tokio::test]
async fn shadow_mode_forwards_forgeries_and_counts_each_verdict() {
    let stage = Stage::start_routes([visma_route().mode("shadow")]).await;
    assert_shadow_forwarded(&stage, VISMA, &visma("guess", BODY), BODY, "bad_signature").await;
    assert_shadow_forwarded(&stage, VISMA, &vec![], BODY, "missing_signature").await;
    let not_base64 = vec![(
        "x-vwd-signature-v1".to_string(),
        "%%not-base64%%".to_string(),
    )];
    assert_shadow_forwarded(&stage, VISMA, &not_base64, BODY, "malformed_signature").await;

    // A genuine delivery is an ordinary forward and adds no verdict.
    stage
        .assert_forwarded(VISMA, &visma(SECRET_B, BODY), BODY.as_bytes(), "genuine")
        .await;
    assert_eq!(stage.proxy.requests_total(VISMA, "shadow_forwarded"), 3.0);
    for verdict in ["bad_signature", "missing_signature", "malformed_signature"] {
        assert_eq!(shadow_verdicts(&stage, VISMA, verdict), 1.0, "{verdict}");
    }
    assert_eq!(shadow_verdicts(&stage, VISMA, "stale_timestamp"), 0.0);
    for refusal in ["bad_signature", "missing_signature", "malformed_signature"] {
        assert_eq!(stage.proxy.requests_total(VISMA, refusal), 0.0, "{refusal}");
    }
}

#[tokio::test]
async fn shadow_mode_counts_stale_timestamps_and_still_forwards() {
    let route = "/webhooks/stripe";
    let stage = Stage::start_routes([RouteSpec::new(route, "stripe")
        .secrets([STRIPE_SECRET])
        .mode("shadow")])
    .await;
    let now = unix_now();
    let [stale, future, genuine]: [Headers; 3] = official::sign(
        Library::Stripe,
        &[
            Sign::new(&[STRIPE_SECRET], BODY, now - 400),
            Sign::new(&[STRIPE_SECRET], BODY, now + 400),
            Sign::new(&[STRIPE_SECRET], BODY, now),
        ],
    )
    .await
    .try_into()
    .unwrap();
    assert_shadow_forwarded(&stage, route, &stale, BODY, "stale_timestamp").await;
    assert_shadow_forwarded(&stage, route, &future, BODY, "stale_timestamp").await;
    stage
        .assert_forwarded(route, &genuine, BODY.as_bytes(), "genuine")
        .await;
    assert_eq!(shadow_verdicts(&stage, route, "stale_timestamp"), 2.0);
}
