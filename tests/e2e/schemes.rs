//! Every scheme end to end, over TLS: deliveries signed live by the provider's own library
//! (Stripe, Slack, Standard Webhooks, Svix, GitHub) or, where the provider publishes only a
//! formula (Shopify, the generic HMAC), by that formula computed here with the hmac crate.
//! Genuine deliveries arrive byte for byte; every tampering is a 401 with its reason and
//! metric and never reaches the app; timestamps are checked in both directions against the
//! five-minute default or the route's own `tolerance`.

use crate::builder::RouteSpec;
use crate::common::Protocol;
use crate::delivery::{Case, Stage};
use crate::official;
use crate::official::{Headers, Library, Sign, header, unix_now, with_header, without_header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use std::time::Duration;

/// A Stripe-shaped event (so `stripe.Webhook.construct_event` accepts it too), with text
/// outside ASCII: the libraries sign UTF-8 and hookwall must forward the exact bytes.
const BODY: &str = r#"{"id":"evt_1PqZ","object":"event","type":"invoice.paid","data":{"object":{"customer_name":"Zoë Ñúñez ✓","amount_paid":4200}}}"#;
/// The same event with the amount changed: what a forger would send with a captured signature.
const TAMPERED: &str = r#"{"id":"evt_1PqZ","object":"event","type":"invoice.paid","data":{"object":{"customer_name":"Zoë Ñúñez ✓","amount_paid":1}}}"#;

const STRIPE_CURRENT: &str = "whsec_9kWvCj2yVn3mF0bTqLx7RZpDs5aE";
const STRIPE_PREVIOUS: &str = "whsec_previous_Hn4cQ8wK1tYb6uMz";
const SLACK_CURRENT: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_PREVIOUS: &str = "e4c1b2a0f9d8c7b6a5f4e3d2c1b0a9f8";
/// Standard Webhooks secrets are base64 after `whsec_`; these decode to 24 and 32 bytes.
const STD_CURRENT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STD_PREVIOUS: &str = "whsec_c2Vjb25kLXNlY3JldC10aGlydHktdHdvLWJ5dGVzLi4=";
const STD_UNKNOWN: &str = "whsec_dW5rbm93bi1zZWNyZXQtbm90LWNvbmZpZ3VyZWQ=";
const GITHUB_CURRENT: &str = "It's a Secret to Everybody";
const GITHUB_PREVIOUS: &str = "previous github secret";
const SHOPIFY_CURRENT: &str = "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";
const SHOPIFY_PREVIOUS: &str = "shpss_previous_0a1b2c3d4e5f6a7b8c9d";

fn stripe_route(path: &str) -> RouteSpec {
    RouteSpec::new(path, "stripe").secrets([STRIPE_CURRENT, STRIPE_PREVIOUS])
}

fn slack_route(path: &str) -> RouteSpec {
    RouteSpec::new(path, "slack").secrets([SLACK_CURRENT, SLACK_PREVIOUS])
}

fn standard_route(path: &str) -> RouteSpec {
    RouteSpec::new(path, "standard-webhooks").secrets([STD_CURRENT, STD_PREVIOUS])
}

/// `base64(HMAC-SHA256(secret, body))`: Shopify's documented signature.
fn shopify_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

fn hmac_sha512_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[tokio::test]
async fn github_deliveries_signed_by_octokit_are_forwarded_and_forgeries_refused() {
    let route = "/webhooks/github";
    let stage = Stage::start_routes([
        RouteSpec::new(route, "github").secrets([GITHUB_CURRENT, GITHUB_PREVIOUS])
    ])
    .await;
    let now = unix_now();
    let [current, previous, unknown]: [Headers; 3] = official::sign(
        Library::Octokit,
        &[
            Sign::new(&[GITHUB_CURRENT], BODY, now),
            Sign::new(&[GITHUB_PREVIOUS], BODY, now),
            Sign::new(&["a secret nobody configured"], BODY, now),
        ],
    )
    .await
    .try_into()
    .unwrap();
    let with_event = |signed: &Headers| {
        let mut all = signed.clone();
        all.push(("X-GitHub-Event".into(), "push".into()));
        all.push((
            "X-GitHub-Delivery".into(),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        ));
        all
    };
    // GitHub's legacy SHA-1 header alone is not accepted.
    let sha1_only = headers(&[(
        "X-Hub-Signature",
        "sha1=d03207e4b030cf234e3447bac4d93add4c6643d8",
    )]);
    stage
        .assert_cases(
            route,
            &[
                Case::forwarded("current secret", with_event(&current), BODY),
                Case::forwarded(
                    "second configured secret, over HTTP/2",
                    with_event(&previous),
                    BODY,
                )
                .over(Protocol::Http2),
                Case::refused("tampered body", current, TAMPERED, "bad_signature"),
                Case::refused("unknown secret", unknown, BODY, "bad_signature"),
                Case::refused("sha1 only", sha1_only, BODY, "missing_signature")
                    .mentioning("x-hub-signature-256"),
            ],
        )
        .await;
}

#[tokio::test]
async fn shopify_deliveries_signed_per_shopify_docs_are_forwarded_and_forgeries_refused() {
    let route = "/webhooks/shopify";
    let stage = Stage::start_routes([
        RouteSpec::new(route, "shopify").secrets([SHOPIFY_CURRENT, SHOPIFY_PREVIOUS])
    ])
    .await;
    let signed = |secret: &str, body: &str| {
        headers(&[
            (
                "X-Shopify-Hmac-Sha256",
                &shopify_signature(secret, body.as_bytes()),
            ),
            ("X-Shopify-Topic", "orders/create"),
            ("X-Shopify-Shop-Domain", "example.myshopify.com"),
            (
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ])
    };
    // Hex where Shopify sends base64 is malformed, not merely wrong.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SHOPIFY_CURRENT.as_bytes()).unwrap();
    mac.update(BODY.as_bytes());
    let as_hex = headers(&[(
        "X-Shopify-Hmac-Sha256",
        &hex::encode(mac.finalize().into_bytes()),
    )]);
    stage
        .assert_cases(
            route,
            &[
                Case::forwarded("current", signed(SHOPIFY_CURRENT, BODY), BODY),
                Case::forwarded("previous", signed(SHOPIFY_PREVIOUS, BODY), BODY),
                Case::refused(
                    "tampered body",
                    signed(SHOPIFY_CURRENT, BODY),
                    TAMPERED,
                    "bad_signature",
                ),
                Case::refused(
                    "unknown secret",
                    signed("shpss_guessed", BODY),
                    BODY,
                    "bad_signature",
                ),
                Case::refused("hex instead of base64", as_hex, BODY, "malformed_signature"),
            ],
        )
        .await;
}

#[tokio::test]
async fn stripe_deliveries_signed_by_stripe_python_are_forwarded_and_forgeries_refused() {
    let route = "/webhooks/stripe";
    let stage = Stage::start_routes([stripe_route(route)]).await;
    let now = unix_now();
    // About 600 KB: many HTTP/2 DATA frames, hashed as they stream in after the "t." prefix.
    let large = format!(
        r#"{{"id":"evt_large","object":"event","data":{{"lines":"{}"}}}}"#,
        "Ω".repeat(300_000)
    );
    let [current, previous, unknown, large_signed]: [Headers; 4] = official::sign(
        Library::Stripe,
        &[
            Sign::new(&[STRIPE_CURRENT], BODY, now),
            Sign::new(&[STRIPE_PREVIOUS], BODY, now),
            Sign::new(&["whsec_not_configured_anywhere"], BODY, now),
            Sign::new(&[STRIPE_CURRENT], &large, now),
        ],
    )
    .await
    .try_into()
    .unwrap();

    let mut large_tampered = large.clone().into_bytes();
    large_tampered[300_001] ^= 0x01;
    // A captured signature with its t= moved (still inside the tolerance) no longer matches.
    let value = header(&current, "stripe-signature");
    let moved = value.replacen(&format!("t={now}"), &format!("t={}", now - 1), 1);
    assert_ne!(moved, value);
    let moved = with_header(&current, "stripe-signature", moved);
    stage
        .assert_cases(
            route,
            &[
                Case::forwarded("current secret", current.clone(), BODY),
                Case::forwarded("previous secret", previous, BODY),
                Case::forwarded("600 KB body over HTTP/2", large_signed.clone(), &large)
                    .over(Protocol::Http2),
                Case::refused(
                    "one bit flipped in the middle of 600 KB",
                    large_signed,
                    &large_tampered,
                    "bad_signature",
                ),
                Case::refused("tampered body", current, TAMPERED, "bad_signature"),
                Case::refused("unknown secret", unknown, BODY, "bad_signature"),
                Case::refused("timestamp changed", moved, BODY, "bad_signature"),
            ],
        )
        .await;
}

#[tokio::test]
async fn stripe_header_with_several_v1_signatures_is_accepted_if_any_matches() {
    let route = "/webhooks/stripe";
    let stage =
        Stage::start_routes([RouteSpec::new(route, "stripe").secrets([STRIPE_CURRENT])]).await;
    let now = unix_now();
    let [rolling, neither]: [Headers; 2] = official::sign(
        Library::Stripe,
        &[
            // Stripe signs with the old and the new secret while an endpoint's secret rolls.
            Sign::new(
                &["whsec_old_secret_being_rolled", STRIPE_CURRENT],
                BODY,
                now,
            ),
            Sign::new(&["whsec_one_unknown", "whsec_two_unknown"], BODY, now),
        ],
    )
    .await
    .try_into()
    .unwrap();
    assert_eq!(
        header(&rolling, "stripe-signature").matches("v1=").count(),
        2
    );
    // Test-mode deliveries also carry a v0 entry, which is ignored.
    let with_v0 = format!(
        "{},v0={}",
        header(&rolling, "stripe-signature"),
        "0".repeat(64)
    );
    let with_v0 = with_header(&rolling, "stripe-signature", with_v0);
    stage
        .assert_cases(
            route,
            &[
                Case::forwarded("second of two v1 matches", rolling, BODY),
                Case::refused("no v1 matches", neither, BODY, "bad_signature"),
                Case::forwarded("with a v0 entry", with_v0, BODY),
            ],
        )
        .await;
}

#[tokio::test]
async fn stripe_header_with_a_valid_v1_and_an_undecodable_v1_is_forwarded_as_stripe_accepts_it() {
    // stripe-python's own test_header_contains_valid_signature: a valid header followed by
    // ",v1=bad_signature" verifies. Stripe's libraries compare each v1 as text and need one
    // match; an entry that is not hex is just one that does not match.
    let route = "/webhooks/stripe";
    let stage = Stage::start_routes([stripe_route(route)]).await;
    let now = unix_now();
    let signed = official::sign_one(Library::Stripe, Sign::new(&[STRIPE_CURRENT], BODY, now)).await;
    let value = header(&signed, "stripe-signature");
    for padded in [
        format!("{value},v1=bad_signature"),
        value.replacen(",v1=", ",v1=bad_signature,v1=", 1),
    ] {
        let headers = with_header(&signed, "stripe-signature", padded.clone());
        let verdict = official::verify(
            Library::Stripe,
            &[official::Verify {
                secret: STRIPE_CURRENT,
                body: BODY,
                headers: &headers,
                now,
            }],
        )
        .await;
        assert_eq!(verdict, vec![Ok(())], "stripe's library on {padded}");
        stage
            .assert_forwarded(route, &headers, BODY.as_bytes(), &padded)
            .await;
    }
}

#[tokio::test]
async fn slack_requests_signed_by_slack_sdk_are_forwarded_and_forgeries_refused() {
    let route = "/slack/events";
    let stage = Stage::start_routes([slack_route(route)]).await;
    // Slack sends form-encoded bodies for slash commands.
    let form =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fweather&text=Z%C3%BCrich";
    let now = unix_now();
    let [current, previous, unknown]: [Headers; 3] = official::sign(
        Library::Slack,
        &[
            Sign::new(&[SLACK_CURRENT], form, now),
            Sign::new(&[SLACK_PREVIOUS], form, now),
            Sign::new(&["0000000000000000ffffffffffffffff"], form, now),
        ],
    )
    .await
    .try_into()
    .unwrap();

    let tampered = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fdelete-all";
    let moved = with_header(&current, "x-slack-request-timestamp", (now - 1).to_string());
    let no_timestamp = without_header(&current, "x-slack-request-timestamp");
    stage
        .assert_cases(
            route,
            &[
                Case::forwarded("current secret", current.clone(), form),
                Case::forwarded("previous secret", previous, form),
                Case::refused("tampered body", current, tampered, "bad_signature"),
                Case::refused("unknown secret", unknown, form, "bad_signature"),
                Case::refused("timestamp changed", moved, form, "bad_signature"),
                Case::refused(
                    "timestamp header removed",
                    no_timestamp,
                    form,
                    "missing_signature",
                )
                .mentioning("x-slack-request-timestamp"),
            ],
        )
        .await;
}

#[tokio::test]
async fn standard_webhooks_signed_by_the_reference_library_are_forwarded_and_forgeries_refused() {
    let route = "/webhooks/standard";
    let stage = Stage::start_routes([standard_route(route)]).await;
    let now = unix_now();
    let [current, previous, both, unknown]: [Headers; 4] = official::sign(
        Library::StandardWebhooks,
        &[
            Sign::new(&[STD_CURRENT], BODY, now).id("msg_current"),
            Sign::new(&[STD_PREVIOUS], BODY, now).id("msg_previous"),
            // A sender rotating its secret signs with the old and the new one.
            Sign::new(&[STD_UNKNOWN, STD_CURRENT], BODY, now).id("msg_both"),
            Sign::new(&[STD_UNKNOWN], BODY, now).id("msg_unknown"),
        ],
    )
    .await
    .try_into()
    .unwrap();
    assert_eq!(header(&both, "webhook-signature").split(' ').count(), 2);

    // Only asymmetric (v1a) signatures: nothing an HMAC key can check.
    let asymmetric_only = with_header(
        &current,
        "webhook-signature",
        header(&current, "webhook-signature").replacen("v1,", "v1a,", 1),
    );
    let other_id = with_header(&current, "webhook-id", "msg_another");
    let moved = with_header(&current, "webhook-timestamp", (now - 1).to_string());
    stage
        .assert_cases(
            route,
            &[
                Case::forwarded("current secret", current.clone(), BODY),
                Case::forwarded("previous secret", previous, BODY),
                Case::forwarded("two signatures, one known", both, BODY),
                Case::refused("tampered body", current, TAMPERED, "bad_signature"),
                Case::refused("unknown secret", unknown, BODY, "bad_signature"),
                Case::refused("id changed", other_id, BODY, "bad_signature"),
                Case::refused("timestamp changed", moved, BODY, "bad_signature"),
                Case::refused("only v1a", asymmetric_only, BODY, "malformed_signature"),
            ],
        )
        .await;
}

#[tokio::test]
async fn svix_deliveries_with_svix_header_names_verify_on_a_standard_webhooks_route() {
    let route = "/webhooks/svix";
    let stage = Stage::start_routes([standard_route(route)]).await;
    let now = unix_now();
    let [current, previous]: [Headers; 2] = official::sign(
        Library::Svix,
        &[
            Sign::new(&[STD_CURRENT], BODY, now).id("msg_svix_1"),
            Sign::new(&[STD_PREVIOUS], BODY, now).id("msg_svix_2"),
        ],
    )
    .await
    .try_into()
    .unwrap();
    assert!(current.iter().all(|(name, _)| name.starts_with("svix-")));

    let other_id = with_header(&current, "svix-id", "msg_svix_other");
    let no_id = without_header(&current, "svix-id");
    stage
        .assert_cases(
            route,
            &[
                Case::forwarded("svix, current secret", current.clone(), BODY),
                Case::forwarded("svix, previous secret", previous, BODY),
                Case::refused("svix, tampered body", current, TAMPERED, "bad_signature"),
                Case::refused("svix, id changed", other_id, BODY, "bad_signature"),
                Case::refused("svix, id removed", no_id, BODY, "missing_signature")
                    .mentioning("svix-id"),
            ],
        )
        .await;
}

#[tokio::test]
async fn generic_hmac_routes_check_their_header_prefix_encoding_and_algorithm() {
    let stage = Stage::start_routes([
        RouteSpec::new("/hooks/sha512-hex", "hmac")
            .header("X-Signature")
            .prefix("sha512=")
            .encoding("hex")
            .algorithm("sha512")
            .secrets(["generic-current", "generic-previous"]),
        RouteSpec::new("/hooks/sha256-base64", "hmac")
            .header("X-Body-Mac")
            .encoding("base64")
            .secrets(["generic-base64"]),
    ])
    .await;
    let body = BODY.as_bytes();
    let sha512 = |secret: &str, body: &[u8]| {
        headers(&[(
            "X-Signature",
            &format!("sha512={}", hmac_sha512_hex(secret, body)),
        )])
    };
    let unprefixed = headers(&[("X-Signature", &hmac_sha512_hex("generic-current", body))]);
    // A SHA-256 MAC where SHA-512 is configured has the wrong length.
    let sha256_instead = headers(&[(
        "X-Signature",
        &format!(
            "sha512={}",
            hex::encode(
                STANDARD
                    .decode(shopify_signature("generic-current", body))
                    .unwrap()
            )
        ),
    )]);
    stage
        .assert_cases(
            "/hooks/sha512-hex",
            &[
                Case::forwarded("sha512", sha512("generic-current", body), body),
                Case::forwarded(
                    "sha512, second secret",
                    sha512("generic-previous", body),
                    body,
                ),
                Case::refused(
                    "sha512, tampered",
                    sha512("generic-current", body),
                    TAMPERED,
                    "bad_signature",
                ),
                Case::refused(
                    "sha512, prefix missing",
                    unprefixed,
                    body,
                    "malformed_signature",
                ),
                Case::refused(
                    "sha256 where sha512 is configured",
                    sha256_instead,
                    body,
                    "malformed_signature",
                )
                .reason("wrong_length"),
            ],
        )
        .await;

    let base64 = headers(&[("X-Body-Mac", &shopify_signature("generic-base64", body))]);
    stage
        .assert_cases(
            "/hooks/sha256-base64",
            &[
                Case::forwarded("sha256 base64", base64.clone(), body),
                Case::refused("sha256 base64, tampered", base64, TAMPERED, "bad_signature"),
            ],
        )
        .await;
}

/// The timestamped schemes by route name prefix, each with its own library's signature of
/// `BODY` at every one of `timestamps`: `result[i]` holds the four deliveries signed at
/// `timestamps[i]`. One run per library, the four libraries at once.
async fn sign_timestamped(timestamps: &[i64]) -> Vec<Vec<(&'static str, Headers)>> {
    let ids: Vec<String> = timestamps.iter().map(|t| format!("msg_at_{t}")).collect();
    let batch = |secret: &'static [&'static str]| -> Vec<Sign<'_>> {
        timestamps
            .iter()
            .zip(&ids)
            .map(|(timestamp, id)| Sign::new(secret, BODY, *timestamp).id(id))
            .collect()
    };
    let (stripe_batch, slack_batch, standard_batch) = (
        batch(&[STRIPE_CURRENT]),
        batch(&[SLACK_CURRENT]),
        batch(&[STD_CURRENT]),
    );
    let (stripe, slack, standard, svix) = tokio::join!(
        official::sign(Library::Stripe, &stripe_batch),
        official::sign(Library::Slack, &slack_batch),
        official::sign(Library::StandardWebhooks, &standard_batch),
        official::sign(Library::Svix, &standard_batch),
    );
    (0..timestamps.len())
        .map(|i| {
            vec![
                ("stripe", stripe[i].clone()),
                ("slack", slack[i].clone()),
                ("standard", standard[i].clone()),
                ("svix", svix[i].clone()),
            ]
        })
        .collect()
}

/// Paths `/stripe{suffix}`, `/slack{suffix}`, `/standard{suffix}`, `/svix{suffix}`.
fn timestamped_paths(suffix: &str) -> [String; 4] {
    ["stripe", "slack", "standard", "svix"].map(|scheme| format!("/{scheme}{suffix}"))
}

/// One route per timestamped scheme at `paths` (the svix route is a standard-webhooks route
/// too), each with `tolerance` when given.
fn timestamped_routes(paths: &[String; 4], tolerance: Option<Duration>) -> Vec<RouteSpec> {
    let schemes = [
        ("stripe", STRIPE_CURRENT),
        ("slack", SLACK_CURRENT),
        ("standard-webhooks", STD_CURRENT),
        ("standard-webhooks", STD_CURRENT),
    ];
    paths
        .iter()
        .zip(schemes)
        .map(|(path, (scheme, secret))| {
            let route = RouteSpec::new(path, scheme).secrets([secret]);
            match tolerance {
                Some(tolerance) => route.tolerance(tolerance),
                None => route,
            }
        })
        .collect()
}

#[tokio::test]
async fn timestamps_beyond_five_minutes_past_or_future_are_401_stale_timestamp() {
    let stage = Stage::start_routes(timestamped_routes(&timestamped_paths(""), None)).await;
    let now = unix_now();
    let offsets = [-200, 200, -400, 400];
    let signed_at = sign_timestamped(&offsets.map(|offset| now + offset)).await;
    for (offset, deliveries) in offsets.iter().zip(&signed_at) {
        for (scheme, signed) in deliveries {
            let what = format!("{scheme} at now{offset:+}");
            // 100 s inside the default window on either side: accepted, whatever the test's
            // pace; 100 s outside it: refused.
            let case = if offset.abs() < 300 {
                Case::forwarded(&what, signed.clone(), BODY)
            } else {
                Case::refused(&what, signed.clone(), BODY, "stale_timestamp")
                    .reason("stale_timestamp")
                    .mentioning(timestamp_header(scheme))
            };
            stage.assert_cases(&format!("/{scheme}"), &[case]).await;
        }
    }
}

/// The header a refused timestamp of each timestamped scheme is named by.
fn timestamp_header(scheme: &str) -> &'static str {
    match scheme {
        "stripe" => "stripe-signature",
        "slack" => "x-slack-request-timestamp",
        "standard" => "webhook-timestamp",
        _ => "svix-timestamp",
    }
}

#[tokio::test]
async fn a_route_tolerance_replaces_the_five_minute_default() {
    let short = Duration::from_secs(30);
    let long = Duration::from_secs(15 * 60);
    let mut routes = timestamped_routes(&timestamped_paths("-30s"), Some(short));
    routes.extend(timestamped_routes(&timestamped_paths("-15m"), Some(long)));
    let stage = Stage::start_routes(routes).await;
    let now = unix_now();
    // (offset, route suffix, forwarded): 5 s old is inside 30 s and 90 s either way is not;
    // ten minutes either way is stale by default, but inside a 15-minute tolerance.
    let cases = [
        (-5, "-30s", true),
        (-90, "-30s", false),
        (90, "-30s", false),
        (-600, "-15m", true),
        (600, "-15m", true),
    ];
    let signed_at = sign_timestamped(&cases.map(|(offset, _, _)| now + offset)).await;
    for ((offset, suffix, forwarded), deliveries) in cases.iter().zip(&signed_at) {
        for (scheme, signed) in deliveries {
            let what = format!("{scheme}: now{offset:+}, tolerance {}", &suffix[1..]);
            let case = if *forwarded {
                Case::forwarded(&what, signed.clone(), BODY)
            } else {
                Case::refused(&what, signed.clone(), BODY, "stale_timestamp")
            };
            stage
                .assert_cases(&format!("/{scheme}{suffix}"), &[case])
                .await;
        }
    }
}
