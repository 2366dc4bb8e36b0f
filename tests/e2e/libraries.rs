//! Catalogue presets checked by their providers' own libraries (PyPI and npm, pinned by
//! tests/support/requirements.txt and package-lock.json), end to end through the running
//! proxy. For each row the provider's delivery is signed in the signer program (by the
//! library where it has a signing function, else with the language's own HMAC as the
//! provider documents it; never by hookwall); hookwall forwards it byte for byte; the library
//! accepts exactly what the upstream received, and refuses it with a tampered body or checked
//! against another secret; hookwall refuses both forgeries too. Last, what `hookwall sign`
//! writes for each preset the library accepts, so hookwall writes the scheme as the
//! provider's library reads it. tests/e2e/evidence.rs counts these rows.

use crate::common::RouteSpec;
use crate::delivery::Stage;
use crate::official::{self, Headers, Library, headers_of, unix_now};
use serde_json::{Value, json};

const PUBLIC_BASE: &str = "https://hooks.example.com";

/// One preset and the library that judges it.
pub struct Row {
    pub preset: &'static str,
    pub library: Library,
    /// The package and version, as pinned (tests/e2e/evidence.rs shows them).
    pub package: &'static str,
    secret: &'static str,
    /// The provider-shaped body; `{ms}` becomes a time in milliseconds (Linear's).
    body: &'static str,
    /// A change to the signed content: the first `from` becomes `to`.
    tamper: (&'static str, &'static str),
    /// Whether the signature covers the body (basic auth does not).
    body_signed: bool,
    /// Headers the provider sends beside the signature that the library insists on, added
    /// to what `hookwall sign` writes.
    extra: &'static [(&'static str, &'static str)],
    /// Whether `hookwall sign` writes this preset (not Mailgun: its proof is in the body).
    own: bool,
}

const fn row(
    preset: &'static str,
    library: Library,
    package: &'static str,
    body: &'static str,
) -> Row {
    Row {
        preset,
        library,
        package,
        secret: "lib-secret-5d2c7a91",
        body,
        tamper: ("4200", "1"),
        body_signed: true,
        extra: &[],
        own: true,
    }
}

/// A Standard Webhooks / Svix signing secret: base64 after `whsec_`.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A Polar secret generated before 2026-09-08, shaped as Polar's server makes them (`whsec_`,
/// 37 letters and digits, a 6-character checksum); its HMAC key is the whole string.
const POLAR: &str = "whsec_vjrwzr87IZqclzVSxjxrkY8R4NKWDjj2Ho28wHHWJwQ";

const FORM: &str = "AccountSid=AC4200&Body=Zo%C3%AB+%E2%9C%93&CallSid=CA1234567890ABCDE&Digits=4200&From=%2B14158675310&To=%2B18005551212";

pub fn rows() -> Vec<Row> {
    use Library::{Catalogue as Npm, CataloguePython as PyPI};
    vec![
        row(
            "hubspot",
            PyPI,
            "hubspot-api-client==12.0.0",
            r#"[{"eventId":4200,"subscriptionType":"contact.propertyChange","portalId":62515,"objectId":123,"propertyName":"firstname","propertyValue":"Zoë"}]"#,
        ),
        row(
            "square",
            PyPI,
            "squareup==46.0.0.20260916",
            r#"{"merchant_id":"6SSW7HV8K2ST5","type":"payment.updated","event_id":"13b867cf-db3d-4b1c-90b6-2f32a9d78124","data":{"type":"payment","id":"KkAkhdMs","object":{"payment":{"amount_money":{"amount":4200,"currency":"EUR"},"note":"Zoë ✓"}}}}"#,
        ),
        row(
            "razorpay",
            PyPI,
            "razorpay==2.0.1",
            r#"{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","payload":{"payment":{"entity":{"id":"pay_DESlfW9H8K9uqM","amount":4200,"currency":"INR","description":"Zoë ✓"}}}}"#,
        ),
        row(
            "gocardless",
            PyPI,
            "gocardless-pro==3.22.0",
            r#"{"events":[{"id":"EV0042","created_at":"2026-12-01T12:00:00.000Z","action":"confirmed","resource_type":"payments","links":{"payment":"PM4200"},"details":{"description":"Zoë ✓"}}],"meta":{"webhook_id":"WB0042"}}"#,
        ),
        row(
            "coinbase-commerce",
            PyPI,
            "coinbase-commerce==1.0.1",
            r#"{"id":1,"scheduled_for":"2026-12-01T12:00:00Z","event":{"id":"24934862-d980-46cb-9402-43c81b0cdba6","type":"charge:confirmed","data":{"code":"66BEOV2A","pricing":{"local":{"amount":"4200.00","currency":"USD"}},"name":"Zoë ✓"}}}"#,
        ),
        row(
            "line",
            PyPI,
            "line-bot-sdk==3.27.0",
            r#"{"destination":"U0a1b2c3d4e5f","events":[{"type":"message","mode":"active","timestamp":1462629479859,"message":{"id":"4200","type":"text","text":"Zoë ✓"}}]}"#,
        ),
        Row {
            extra: &[
                ("box-delivery-id", "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f"),
                ("box-signature-version", "1"),
                ("box-signature-algorithm", "HmacSHA256"),
            ],
            ..row(
                "box",
                PyPI,
                "box-sdk-gen==1.17.0",
                r#"{"type":"webhook_event","id":"eac8ba1e","trigger":"FILE.UPLOADED","source":{"id":"4200","type":"file","name":"Zoë ✓.pdf"}}"#,
            )
        },
        Row {
            tamper: ("Digits=4200", "Digits=9999"),
            ..row("twilio", PyPI, "twilio==9.13.0", FORM)
        },
        Row {
            tamper: ("a8ce0edb", "b9df1fec"),
            own: false,
            ..row(
                "mailgun",
                PyPI,
                "mailgun==1.10.0",
                r#"{"event":"delivered","id":"CPgfbmQMTCKtHW6uIWtuVe","recipient":"zoë@example.com"}"#,
            )
        },
        // A next-gen webhook event, the kind Mollie signs (classic webhooks carry only an id and
        // no signature).
        row(
            "mollie",
            PyPI,
            "mollie-api-py==1.10.20",
            r#"{"resource":"event","id":"event_GvJ8WHrp5isUdRub9CJyH","type":"payment-link.paid","entityId":"pl_qng5gbbv8NAZ5gpM5ZYgx","createdAt":"2026-12-01T12:00:00.0Z","_embedded":{"entity":{"resource":"payment-link","id":"pl_qng5gbbv8NAZ5gpM5ZYgx","amount":{"value":"42.00","currency":"EUR"},"description":"Zoë ✓ 4200"}}}"#,
        ),
        row(
            "linear",
            Npm,
            "@linear/sdk@98.0.0",
            r#"{"action":"create","type":"Issue","data":{"id":"4200","title":"Zoë ✓"},"url":"https://linear.app/x/issue/X-1","webhookTimestamp":{ms}}"#,
        ),
        row(
            "mux",
            Npm,
            "@mux/mux-node@15.3.0",
            r#"{"type":"video.asset.ready","id":"3a56ac3d","data":{"id":"0201p02fGKPE","duration":4200,"passthrough":"Zoë ✓"}}"#,
        ),
        Row {
            extra: &[
                ("x-shopify-topic", "orders/create"),
                ("x-shopify-shop-domain", "hookwall-test.myshopify.com"),
                ("x-shopify-api-version", "2025-01"),
                (
                    "x-shopify-webhook-id",
                    "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                ),
            ],
            ..row(
                "shopify",
                Npm,
                "@shopify/shopify-api@13.1.0",
                r#"{"id":820982911946154508,"total_price":"4200.00","customer":{"first_name":"Zoë ✓"}}"#,
            )
        },
        // Zoom's library checks the signature over JSON.stringify of the parsed body, so the
        // body is compact JSON, as Zoom sends it.
        row(
            "zoom",
            Npm,
            "@zoom/rivet@0.4.0",
            r#"{"event":"meeting.started","payload":{"account_id":"AAAAAABBBB","object":{"id":"4200","topic":"Zoë ✓"}},"event_ts":1654503849680}"#,
        ),
        row(
            "notion",
            Npm,
            "@notionhq/client@5.26.0",
            r#"{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","type":"page.content_updated","entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"},"data":{"updated_blocks":[{"id":"4200","type":"block"}],"title":"Zoë ✓"}}"#,
        ),
        Row {
            secret: WHSEC,
            ..row(
                "openai",
                PyPI,
                "openai==3.57.0",
                r#"{"object":"event","id":"evt_685343a1381c819085d44c354e1b330e","type":"response.completed","created_at":1750287018,"data":{"id":"resp_4200","note":"Zoë ✓"}}"#,
            )
        },
        Row {
            secret: WHSEC,
            ..row(
                "resend",
                Npm,
                "resend@6.38.0",
                r#"{"type":"email.delivered","created_at":"2026-12-01T12:00:00.000Z","data":{"email_id":"56761188-7520-42d8-8898-ff6fc54ce618","to":["zoë@example.com"],"subject":"Order 4200 ✓"}}"#,
            )
        },
        Row {
            secret: WHSEC,
            ..row(
                "clerk",
                Npm,
                "@clerk/backend@3.25.0",
                r#"{"type":"user.created","object":"event","data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC","first_name":"Zoë ✓","last_sign_in_at":4200},"timestamp":1654012591835,"instance_id":"ins_123"}"#,
            )
        },
        Row {
            secret: WHSEC,
            ..row(
                "replicate",
                Npm,
                "replicate@1.4.0",
                r#"{"id":"ufawqhfynnddngldkgtslldrkq","status":"succeeded","input":{"prompt":"Zoë ✓"},"metrics":{"predict_time":4200}}"#,
            )
        },
        // Liveblocks' handler refuses event types it does not know: userEntered is one.
        Row {
            secret: WHSEC,
            ..row(
                "liveblocks",
                Npm,
                "@liveblocks/node@3.24.2",
                r#"{"type":"userEntered","data":{"projectId":"605a50b01a36d5ea7a2e9104","roomId":"room-4200","connectionId":42,"userId":"zoë ✓","enteredAt":"2026-12-01T12:00:00.000Z","numActiveUsers":1}}"#,
            )
        },
        // Polar's SDK takes the secret as written and tries both its keys (the string's UTF-8
        // and the base64 after whsec_); the proxy's check above is what pins the UTF-8 one.
        Row {
            secret: POLAR,
            ..row(
                "polar",
                Npm,
                "@polar-sh/sdk@1.0.1",
                r#"{"type":"order.created","timestamp":"2026-12-01T12:00:00Z","data":{"id":"b2b3c4d5-0000-4000-8000-000000004200","total_amount":4200,"currency":"usd","customer":{"name":"Zoë ✓"}}}"#,
            )
        },
        Row {
            secret: "chargebee-hooks:pa55:word",
            body_signed: false,
            ..row(
                "chargebee",
                Npm,
                "chargebee@3.33.0",
                r#"{"id":"ev_16BHbhF4s42tO2lK","event_type":"invoice_generated","content":{"invoice":{"id":"4200","total":4200}}}"#,
            )
        },
        // WorkOS signs the time in milliseconds; its library allows 3 minutes either side.
        row(
            "workos",
            Npm,
            "@workos-inc/node@12.3.0",
            r#"{"id":"event_01JD3PR4Y8ZQ5KX2MV7W","event":"user.created","data":{"object":"user","id":"user_01JD3PR4Y8","email":"zoe@example.com","first_name":"Zoë ✓","last_name":"4200"},"created_at":"2026-12-01T12:00:00.000Z"}"#,
        ),
        // A GROQ-powered webhook's default body: the document after the change.
        row(
            "sanity",
            Npm,
            "@sanity/webhook@4.0.4",
            r#"{"_id":"post-4200","_type":"post","_rev":"IvVLxlGQjUcBGT2cKPAYqS","title":"Zoë ✓","slug":{"_type":"slug","current":"zoe"}}"#,
        ),
        row(
            "elevenlabs",
            Npm,
            "@elevenlabs/elevenlabs-js@2.73.0",
            r#"{"type":"post_call_transcription","event_timestamp":1796170000,"data":{"agent_id":"agent_4200","conversation_id":"conv_01JD3PR4","transcript":[{"role":"user","message":"Zoë ✓"}]}}"#,
        ),
        row(
            "onfido",
            Npm,
            "@onfido/api@6.2.0",
            r#"{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"4200cb2d-9f3a","status":"complete","completed_at_iso8601":"2026-12-01T12:00:00Z","href":"https://api.eu.onfido.com/v3.6/checks/4200cb2d-9f3a"}}}"#,
        ),
        // Pusher's library also wants the app key Pusher sends and a JSON content type.
        Row {
            extra: &[
                ("x-pusher-key", "278d425bdf160c739803"),
                ("content-type", "application/json"),
            ],
            ..row(
                "pusher",
                Npm,
                "pusher@5.3.4",
                r#"{"time_ms":1796170000000,"events":[{"name":"member_added","channel":"presence-room-4200","user_id":"Zoë ✓"}]}"#,
            )
        },
        // A secret outside ASCII ("é" precomposed, the "ﬁ" ligature): EasyPost's library keys
        // the HMAC with its NFKD form, so hookwall must too, both verifying and signing. The
        // weight is a float, as EasyPost sends it.
        Row {
            secret: "caf\u{e9}-\u{fb01}x-5d2c7a91",
            ..row(
                "easypost",
                Npm,
                "@easypost/api@8.9.0",
                r#"{"object":"Event","description":"tracker.updated","mode":"test","result":{"object":"Tracker","tracking_code":"EZ4200000000","status":"in_transit","weight":136.0,"carrier_detail":{"origin_location":"Zoë ✓"}}}"#,
            )
        },
    ]
}

fn path(preset: &str) -> String {
    format!("/lib/{preset}")
}

fn public_url(preset: &str) -> String {
    format!("{PUBLIC_BASE}{}", path(preset))
}

/// A secret configured nowhere: the provider's secret with more characters. A whsec_ secret
/// gets four base64 characters of non-zero bytes, so it still decodes and to another key (zero
/// bytes would not do: HMAC pads a short key with zeros).
fn other_secret(secret: &str) -> String {
    if secret.starts_with("whsec_") {
        format!("{secret}eHl6")
    } else {
        format!("{secret}x")
    }
}

/// Runs each library's ops in one run of its program, both programs at once, and gives the
/// results back in the order of `ops`.
async fn run_all(ops: Vec<(Library, Value)>) -> Vec<Value> {
    let of = |library: Library| -> Vec<Value> {
        ops.iter()
            .filter(|(which, _)| *which == library)
            .map(|(_, op)| op.clone())
            .collect()
    };
    let (npm, pypi) = tokio::join!(
        official::run(Library::Catalogue, of(Library::Catalogue)),
        official::run(Library::CataloguePython, of(Library::CataloguePython)),
    );
    let (mut npm, mut pypi) = (npm.into_iter(), pypi.into_iter());
    ops.iter()
        .map(|(library, _)| match library {
            Library::Catalogue => npm.next().unwrap(),
            _ => pypi.next().unwrap(),
        })
        .collect()
}

/// A signed delivery: its headers and body (Mailgun's signer writes the body).
struct Signed {
    headers: Headers,
    body: String,
}

fn signed(result: &Value, body: &str) -> Signed {
    Signed {
        headers: headers_of(result),
        body: result["body"].as_str().unwrap_or(body).to_string(),
    }
}

fn verify_op(row: &Row, secret: &str, body: &str, headers: &Headers) -> (Library, Value) {
    (
        row.library,
        json!({"op": "verify", "provider": row.preset, "url": public_url(row.preset),
               "secret": secret, "body": body, "headers": headers}),
    )
}

#[tokio::test]
async fn providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses() {
    let rows = rows();
    let paths: Vec<String> = rows.iter().map(|row| path(row.preset)).collect();
    let routes = rows.iter().zip(&paths).map(|(row, path)| {
        let route = RouteSpec::new(path, row.preset).secrets([row.secret]);
        if hookwall::signature::Scheme::builtin(row.preset)
            .unwrap()
            .signs_url()
        {
            route.public_url(&public_url(row.preset))
        } else {
            route
        }
    });
    let stage = Stage::start_routes(routes).await;

    // Libraries that check a delivery's age read the real clock, so everything is signed now.
    // Linear's allows a minute either side of its body's webhookTimestamp: set half a minute
    // ahead, it leaves a slow machine 90 s between signing and verifying.
    let now = unix_now();
    let millis = ((now + 30) * 1000).to_string();
    let bodies: Vec<String> = rows
        .iter()
        .map(|row| row.body.replace("{ms}", &millis))
        .collect();
    let others: Vec<String> = rows.iter().map(|row| other_secret(row.secret)).collect();
    let sign_op = |row: &Row, secret: &str, body: &str| {
        (
            row.library,
            json!({"op": "sign", "provider": row.preset, "url": public_url(row.preset),
                   "secrets": [secret], "body": body, "timestamp": now}),
        )
    };
    let mut ops = Vec::new();
    for ((row, body), other) in rows.iter().zip(&bodies).zip(&others) {
        ops.push(sign_op(row, row.secret, body));
        ops.push(sign_op(row, other, body));
    }
    let results = run_all(ops).await;

    // Through the proxy: the genuine delivery arrives unchanged; the forgeries do not.
    let mut verify_ops = Vec::new();
    let mut expected = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let genuine = signed(&results[index * 2], &bodies[index]);
        let forged = signed(&results[index * 2 + 1], &bodies[index]);
        let arrived = stage
            .assert_forwarded(
                &paths[index],
                &genuine.headers,
                genuine.body.as_bytes(),
                row.preset,
            )
            .await;
        let arrived_body = String::from_utf8(arrived.body()).unwrap();
        stage
            .assert_refused(
                &paths[index],
                &forged.headers,
                forged.body.as_bytes(),
                401,
                "bad_signature",
                &format!("{}: signed with another secret", row.preset),
            )
            .await;
        // The library judges exactly what the upstream received.
        verify_ops.push(verify_op(row, row.secret, &arrived_body, &arrived.headers));
        expected.push((row.preset, true, "the delivery hookwall forwarded"));
        verify_ops.push(verify_op(
            row,
            &others[index],
            &arrived_body,
            &arrived.headers,
        ));
        expected.push((row.preset, false, "checked against another secret"));
        if row.body_signed {
            let (from, to) = row.tamper;
            assert!(genuine.body.contains(from), "{}: tamper", row.preset);
            let tampered = genuine.body.replacen(from, to, 1);
            stage
                .assert_refused(
                    &paths[index],
                    &genuine.headers,
                    tampered.as_bytes(),
                    401,
                    "bad_signature",
                    &format!("{}: tampered", row.preset),
                )
                .await;
            verify_ops.push(verify_op(row, row.secret, &tampered, &arrived.headers));
            expected.push((row.preset, false, "a tampered body"));
        }
        // What `hookwall sign` writes, the library accepts.
        if row.own {
            let scheme = hookwall::signature::Scheme::builtin(row.preset).unwrap();
            let url = public_url(row.preset);
            let delivery = hookwall::signature::Delivery {
                body: bodies[index].as_bytes(),
                now,
                // Standard Webhooks libraries refuse an empty webhook-id.
                id: "msg_2lHookwallSign0000000000001",
                method: "POST",
                url: scheme.signs_url().then_some(url.as_str()),
            };
            let mut own: Headers = scheme
                .sign(row.secret.as_bytes(), &delivery)
                .unwrap_or_else(|err| panic!("{}: hookwall sign: {err}", row.preset))
                .into_iter()
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
                .collect();
            own.extend(
                row.extra
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_string())),
            );
            verify_ops.push(verify_op(row, row.secret, &bodies[index], &own));
            expected.push((row.preset, true, "what hookwall sign wrote"));
        }
    }
    let verdicts = run_all(verify_ops).await;
    let wrong: Vec<String> = verdicts
        .iter()
        .zip(&expected)
        .filter(|(verdict, (_, valid, _))| verdict["valid"] != *valid)
        .map(|(verdict, (preset, valid, what))| {
            format!("{preset}: {what}: library said {verdict}, expected valid={valid}")
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Zoom's endpoint.url_validation: hookwall answers it itself, and its answer is the one
/// Zoom's own library (@zoom/rivet) gives to the same signed request.
#[tokio::test]
async fn hookwall_answers_zooms_url_validation_as_zooms_library_does() {
    const SECRET: &str = "zoom-secret-token-4f1c";
    let stage = Stage::start_routes([RouteSpec::new("/lib/zoom", "zoom").secrets([SECRET])]).await;
    let now = unix_now();
    let body = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let signed = official::run(
        Library::Catalogue,
        vec![json!({"op": "sign", "provider": "zoom", "secrets": [SECRET], "body": body, "timestamp": now})],
    )
    .await;
    let headers = headers_of(&signed[0]);
    let answer = stage.deliver("/lib/zoom", &headers, body.as_bytes()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let library = official::run(
        Library::Catalogue,
        vec![
            json!({"op": "zoom_url_validation", "secret": SECRET, "body": body,
                    "signature": official::header(&headers, "x-zm-signature"),
                    "timestamp": official::header(&headers, "x-zm-request-timestamp")}),
        ],
    )
    .await;
    assert_eq!(library[0]["status"], 200, "{library:?}");
    assert_eq!(answer.json(), library[0]["body"]);
}

/// The `svix` preset itself (svix-* header names first), judged by Svix's own library: what
/// Svix signs is forwarded, and Svix verifies exactly what the upstream received. (schemes.rs
/// sends Svix's deliveries to a `standard-webhooks` route, which also reads svix-* names.)
#[tokio::test]
async fn the_svix_preset_forwards_what_svixs_library_signs_and_svix_verifies_what_arrived() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &str = r#"{"type":"invoice.paid","data":{"amount":4200,"customer":"Zoë ✓"}}"#;
    let stage = Stage::start_routes([RouteSpec::new("/lib/svix", "svix").secrets([SECRET])]).await;
    let now = unix_now();
    let signed = official::sign_one(
        Library::Svix,
        official::Sign::new(&[SECRET], BODY, now).id("msg_lib_svix"),
    )
    .await;
    let arrived = stage
        .assert_forwarded("/lib/svix", &signed, BODY.as_bytes(), "svix")
        .await;
    let tampered = BODY.replace("4200", "1");
    stage
        .assert_refused(
            "/lib/svix",
            &signed,
            tampered.as_bytes(),
            401,
            "bad_signature",
            "svix tampered",
        )
        .await;
    let arrived_body = String::from_utf8(arrived.body()).unwrap();
    let verdicts = official::verify(
        Library::Svix,
        &[
            official::Verify {
                secret: SECRET,
                body: &arrived_body,
                headers: &arrived.headers,
                now,
            },
            official::Verify {
                secret: SECRET,
                body: &tampered,
                headers: &arrived.headers,
                now,
            },
        ],
    )
    .await;
    assert_eq!(verdicts[0], Ok(()), "{verdicts:?}");
    assert!(verdicts[1].is_err(), "{verdicts:?}");
}
