//! Verifier tests: published vectors first (RFC 4231, provider documentation), then every
//! way a signature can be refused.

use super::*;
use crate::test_support::headers;
use http::HeaderValue;

const NOW: UnixSeconds = 1_700_000_000;

fn preset(name: &str) -> Scheme {
    Scheme::builtin(name).unwrap()
}

/// The headers `scheme`'s sender would send.
fn sign(scheme: &Scheme, secret: &[u8], body: &[u8], now: UnixSeconds, id: &str) -> HeaderMap {
    let delivery = Delivery {
        body,
        now,
        id,
        method: "POST",
        url: None,
    };
    let mut map = HeaderMap::new();
    for (name, value) in scheme.sign(secret, &delivery).unwrap() {
        map.append(name, value);
    }
    map
}

fn verifier(scheme: Scheme, secrets: &[&[u8]]) -> Verifier {
    let keys = secrets
        .iter()
        .map(|secret| scheme.key_from_secret(secret).unwrap())
        .collect();
    Verifier::new(scheme, keys, DEFAULT_TOLERANCE)
}

// RFC 4231 §4: HMAC-SHA-256 and HMAC-SHA-512 test cases 1, 2, 3, 4, 6 and 7.
#[test]
fn rfc4231_vectors() {
    struct Case {
        key: Vec<u8>,
        data: Vec<u8>,
        sha256: &'static str,
        sha512: &'static str,
    }
    let cases = [
        Case {
            key: vec![0x0b; 20],
            data: b"Hi There".to_vec(),
            sha256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            sha512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        },
        Case {
            key: b"Jefe".to_vec(),
            data: b"what do ya want for nothing?".to_vec(),
            sha256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            sha512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        },
        Case {
            key: vec![0xaa; 20],
            data: vec![0xdd; 50],
            sha256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            sha512: "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
        },
        Case {
            key: (1u8..=25).collect(),
            data: vec![0xcd; 50],
            sha256: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            sha512: "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
        },
        Case {
            key: vec![0xaa; 131],
            data: b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            sha256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            sha512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
        },
        Case {
            key: vec![0xaa; 131],
            data: b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
            sha256: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            sha512: "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
        },
    ];
    for case in cases {
        let sha256 = MacKey::new(Algorithm::HmacSha256, &case.key)
            .unwrap()
            .tag_of(&[&case.data]);
        assert_eq!(hex::encode(sha256.as_bytes()), case.sha256);
        let sha512 = MacKey::new(Algorithm::HmacSha512, &case.key)
            .unwrap()
            .tag_of(&[&case.data]);
        assert_eq!(hex::encode(sha512.as_bytes()), case.sha512);
    }
}

#[test]
fn visma_accepts_base64_hmac_of_body() {
    // Computed independently with Python's hmac module.
    let body = br#"{"event":"CustomerChanged","tenantId":"1234567"}"#;
    let request = headers(&[(
        "x-vwd-signature-v1",
        "qRlDdf6luYFwk67vFQR9NLRO2aQCi7Iqlb+PZsDweG4=",
    )]);
    let verified = verifier(preset("visma"), &[b"visma-secret"])
        .verify(&request, body, NOW)
        .unwrap();
    assert!(matches!(
        verified.identity(),
        DeliveryIdentity::Signature(_)
    ));
}

#[test]
fn github_documented_vector() {
    // docs.github.com, "Validating webhook deliveries".
    let request = headers(&[(
        "x-hub-signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    verifier(preset("github"), &[b"It's a Secret to Everybody"])
        .verify(&request, b"Hello, World!", NOW)
        .unwrap();
}

#[test]
fn slack_documented_vector() {
    // api.slack.com "Verifying requests from Slack", as used in slack_sdk's own tests.
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let request = headers(&[
        (
            "x-slack-signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
        ("x-slack-request-timestamp", "1531420618"),
    ]);
    verifier(preset("slack"), &[b"8f742231b10e8888abcd99yyyzzz85a5"])
        .verify(&request, body, 1531420618)
        .unwrap();
}

#[test]
fn standard_webhooks_spec_vector_and_svix_names() {
    // The Standard Webhooks specification's example.
    let body = br#"{"test": 2432232314}"#;
    let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let verifier = verifier(preset("standard-webhooks"), &[secret]);
    let standard = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", signature),
    ]);
    let verified = verifier.verify(&standard, body, 1614265330).unwrap();
    assert_eq!(
        verified.identity(),
        &DeliveryIdentity::SignedId("msg_p5jXN8AQM9LWM0D4loKWxJek".into())
    );
    let svix = headers(&[
        ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("svix-timestamp", "1614265330"),
        ("svix-signature", &format!("v1a,ignored {signature}")),
    ]);
    verifier.verify(&svix, body, 1614265330).unwrap();
}

#[test]
fn quickbooks_vector_from_intuits_java_sdk() {
    // Intuit's own SDK test: github.com/intuit/QuickBooks-V3-Java-SDK,
    // ipp-v3-java-devkit/src/test/java/com/intuit/ipp/services/WebhooksServiceTest.java
    // (verifier token, payload and the intuit-signature its WebhooksService accepts).
    let body = br#"{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}"#;
    let verifier = verifier(
        preset("quickbooks"),
        &[b"b5771f19b12ddb4bcdb9f08bdc50bc63878a"],
    );
    let signed = headers(&[(
        "intuit-signature",
        "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=",
    )]);
    verifier.verify(&signed, body, NOW).unwrap();
    // The same test's refusal: another signature for the same payload.
    let forged = headers(&[("intuit-signature", "1234")]);
    assert!(verifier.verify(&forged, body, NOW).is_err());
}

#[test]
fn pagerduty_vectors_from_its_go_client() {
    // PagerDuty's docs ("Verifying Signatures", github.com/PagerDuty/developer-docs
    // docs/webhooks/04-Signatures.md) point to go-pagerduty for the Go example; its test
    // github.com/PagerDuty/go-pagerduty webhookv3/webhookv3_test.go signs this body with
    // this secret ("valid") and refuses a second signature ("mismatch").
    let secret = b"lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
    let body = br#"{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}"#;
    let verifier = verifier(preset("pagerduty"), &[secret]);
    let valid = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
    let mismatch = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";
    verifier
        .verify(&headers(&[("x-pagerduty-signature", valid)]), body, NOW)
        .unwrap();
    assert!(
        verifier
            .verify(&headers(&[("x-pagerduty-signature", mismatch)]), body, NOW)
            .is_err()
    );
    // During a secret rotation PagerDuty sends several, comma-separated; one match is enough.
    let rotating = format!("{mismatch},{valid}");
    verifier
        .verify(&headers(&[("x-pagerduty-signature", &rotating)]), body, NOW)
        .unwrap();
}

#[test]
fn buildkite_vector_from_its_go_client() {
    // Buildkite's own Go client, github.com/buildkite/go-buildkite (commit
    // 62b6fcf322c5259e786ac43db46f5c6419617411), webhook_test.go TestValidatePayload: this
    // token, this ping body and this X-Buildkite-Signature are "Valid signature"; the same
    // header with its first "f" turned into "a" is "Signature not valid".
    let body = br#"{"event":"ping","service":{"id":"c9f8372d-c0cd-43dc-9274-768a875cf6ca","provider":"webhook","settings":{"url":"https://server.com/webhooks"}},"organization":{"id":"49801950-1df0-474f-bb56-ad6a930c5cb9","graphql_id":"T3JnYW5pemF0aW9uLS0tZTBmMzk3MgsTksGkxOWYtZTZjNzczZTJiYjEy","url":"https://api.buildkite.com/v2/organizations/acme-inc","web_url":"https://buildkite.com/acme-inc","name":"ACME Inc","slug":"acme-inc","agents_url":"https://api.buildkite.com/v2/organizations/acme-inc/agents","emojis_url":"https://api.buildkite.com/v2/organizations/acme-inc/emojis","created_at":"2021-02-03T20:34:10.486Z","pipelines_url":"https://api.buildkite.com/v2/organizations/acme-inc/pipelines"},"sender":{"id":"c9f8372d-c0cd-43dc-9269-bcbb7f308e3f","name":"ACME Man"}}"#;
    let valid = "timestamp=1642080837,signature=582d496ac2d869dd97a3101c4cda346288c49a742592daf582ec64c86449f79c";
    let verifier = verifier(preset("buildkite"), &[b"29b1ff5779c76bd48ba6705eb99ff970"]);
    verifier
        .verify(
            &headers(&[("x-buildkite-signature", valid)]),
            body,
            1642080837,
        )
        .unwrap();
    let altered = valid.replacen('f', "a", 1);
    assert!(matches!(
        verifier.verify(
            &headers(&[("x-buildkite-signature", &altered)]),
            body,
            1642080837
        ),
        Err(Rejection::Mismatch)
    ));
}

#[test]
fn meta_vector_from_the_whatsapp_sdk() {
    // Meta's WhatsApp Business Platform SDK, github.com/WhatsApp/WhatsApp-Nodejs-SDK (commit
    // 58ca3d5fceea604e18393734578d9a7944a37b15): src/__tests__/utils.test.ts "signature match"
    // expects this hex HMAC of the body "test" under the app secret that jest.config.ts sets
    // (M4D_APP_SECRET: 'TEST_APP_SECRET'); src/api/webhooks.ts strips "sha256=" from
    // x-hub-signature-256 and compares the rest with it.
    let known = "0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221";
    let verifier = verifier(preset("meta"), &[b"TEST_APP_SECRET"]);
    let signed = headers(&[("x-hub-signature-256", &format!("sha256={known}"))]);
    verifier.verify(&signed, b"test", NOW).unwrap();
    assert!(matches!(
        verifier.verify(&signed, b"test ", NOW),
        Err(Rejection::Mismatch)
    ));
}

#[test]
fn standard_webhooks_ed25519_vector_from_svix_server() {
    // Svix's server (github.com/svix/svix-webhooks, commit
    // 4fc0cfb8b426c87ef7e2b937e7d896a71d456a47): server/svix-server/src/worker.rs
    // test_asymmetric_key_signing signs this message with the key pair its README prints
    // (whsk_6Xb/… / whpk_1SiA4o9h…) and asserts this v1a signature; the Standard Webhooks
    // specification shows the same signature in its example headers.
    let body = br#"{"test": 2432232314}"#;
    let public_key: &[u8] = b"whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
    let signature = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
    let verifier = verifier(preset("standard-webhooks-ed25519"), &[public_key]);
    let delivery = |id: &str| {
        headers(&[
            ("webhook-id", id),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", signature),
        ])
    };
    let verified = verifier
        .verify(&delivery("msg_p5jXN8AQM9LWM0D4loKWxJek"), body, 1614265330)
        .unwrap();
    assert_eq!(
        verified.identity(),
        &DeliveryIdentity::SignedId("msg_p5jXN8AQM9LWM0D4loKWxJek".into())
    );
    // The id is signed: another id with the same signature is refused.
    assert!(matches!(
        verifier.verify(&delivery("msg_p5jXN8AQM9LWM0D4loKWxJeK"), body, 1614265330),
        Err(Rejection::Mismatch)
    ));
    // Svix's own header names carry the same signature.
    let svix = headers(&[
        ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("svix-timestamp", "1614265330"),
        ("svix-signature", signature),
    ]);
    verifier.verify(&svix, body, 1614265330).unwrap();
}

#[test]
fn woocommerce_vector_from_its_own_tests() {
    // WooCommerce's own test, github.com/woocommerce/woocommerce (commit
    // 6147c5e685a97beb873ac2548044cf04d2a48a66),
    // plugins/woocommerce/tests/legacy/unit-tests/webhooks/crud.php test_generate_signature:
    // a new WC_Webhook (secret not set, so empty) signs the payload "secret" as this value, the
    // X-WC-Webhook-Signature it sends (WC_Webhook::generate_signature: base64 of HMAC-SHA256).
    // hookwall's configuration refuses an empty secret; the verifier is fed it directly so
    // the vector pins what the preset computes and how it encodes it.
    let verifier = verifier(preset("woocommerce"), &[b""]);
    let signed = headers(&[(
        "x-wc-webhook-signature",
        "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs=",
    )]);
    verifier.verify(&signed, b"secret", NOW).unwrap();
    assert!(matches!(
        verifier.verify(&signed, b"Secret", NOW),
        Err(Rejection::Mismatch)
    ));
}

#[test]
fn mollie_reads_its_signature_with_or_without_sha256_prefix() {
    // Mollie's SDKs strip a leading "sha256=" and compare the rest, so hookwall takes both;
    // another prefix is malformed. (Mollie's own library checks this preset end to end in
    // tests/e2e/libraries.rs; this pins the two header forms.)
    let body = br#"{"resource":"event","id":"event_1","type":"payment-link.paid"}"#;
    let verifier = verifier(preset("mollie"), &[b"mollie-secret"]);
    let tag = hex::encode(
        MacKey::new(Algorithm::HmacSha256, b"mollie-secret")
            .unwrap()
            .tag_of(&[body])
            .as_bytes(),
    );
    for value in [format!("sha256={tag}"), tag.clone()] {
        verifier
            .verify(&headers(&[("x-mollie-signature", &value)]), body, NOW)
            .unwrap_or_else(|err| panic!("{value}: {err}"));
    }
    assert!(matches!(
        verifier.verify(
            &headers(&[("x-mollie-signature", &format!("sha1={tag}"))]),
            body,
            NOW
        ),
        Err(Rejection::BadEncoding { .. })
    ));
    // What hookwall sign writes for Mollie carries the prefix, as Mollie's SDK READMEs show.
    let signed = sign(&preset("mollie"), b"mollie-secret", body, NOW, "");
    assert_eq!(
        signed["x-mollie-signature"],
        format!("sha256={tag}").as_str()
    );
}

#[test]
fn checkout_vectors_from_its_sap_commerce_plugin() {
    // Checkout.com's own SAP Commerce connector, github.com/checkout/Checkout-SAP-Cloud-Commerce-2105
    // (commit 98b1d5ff15a45f44daefb1c86bef0995e05b4f8b),
    // hybris/bin/modules/checkoutcom/checkoutevents/testsrc/com/checkout/hybris/events/validators/impl/DefaultCheckoutComRequestEventValidatorTest.java:
    // its validator accepts these cko-signature values for this payment_approved event (the
    // concatenation in createEventBody, 2018 bytes), under the signature key (NAS accounts) and
    // under the secret key (ABC accounts). Upper-case hex, as the test has it.
    let body = br#"{    "id": "evt_dh2zojguo4mebehzbqqltcfuna",    "type": "payment_approved",    "created_on": "2019-12-13T16:33:03Z",    "data": {        "id": "pay_6qugd47beltevjzfi37ngm2apy",        "action_id": "act_6qugd47beltevjzfi37ngm2apy",        "payment_type": "Regular",        "auth_code": "752422",        "response_code": "10000",        "response_summary": "Approved",        "scheme_id": "638263798022070",        "source": {            "id": "src_pmhhme2mxmaujobpnxrt5nzm7i",            "type": "card",            "billing_address": {                "address_line1": "123 Buckingham Palace Rd",                "address_line2": "",                "city": "London",                "state": "",                "country": "GB"            },            "expiry_month": 1,            "expiry_year": 2029,            "name": "Automation Bot",            "scheme": "AMEX",            "last_4": "4564",            "fingerprint": "e150213220169d17355e66a7c3cf8edb8f0f9e12050379c49db063a9e59d9431",            "bin": "345678",            "card_type": "Credit",            "issuer_country": "ES",            "product_type": "STANDARD",            "avs_check": "S",            "cvv_check": "Y"        },        "customer": {            "id": "cus_ghy7xcfznu6ujac7sfsbnpepqm",            "email": "automation.bot-46baxldf35qst518ycn89u@checkout.com"        },        "processing": {            "acquirer_transaction_id": "2186916754",            "retrieval_reference_number": "529969706445"        },        "amount": 5695,        "metadata": {            "site_id": "electronics"        },        "risk": {            "flagged": false        },        "currency": "GBP",        "processed_on": "2019-12-13T16:33:03Z",        "reference": "00000003-1576254760720"    },    "_links": {        "self": {            "href": "https://api.sandbox.checkout.com/events/evt_dh2zojguo4mebehzbqqltcfuna"        },        "payment": {            "href": "https://api.sandbox.checkout.com/payments/pay_6qugd47beltevjzfi37ngm2apy"        }    }}"#;
    for (key, signature) in [
        (
            &b"SIGNATURE_KEY"[..],
            "6E9AE0CC5858BB0A26859F028B11D59F7266640B4911D92BEBF880B60AE053CD",
        ),
        (
            &b"SECRET_KEY"[..],
            "561668318D6FF228571FC7667C70E80BC727B7D3F44AB3130A5E368ABA94C2C0",
        ),
    ] {
        let verifier = verifier(preset("checkout"), &[key]);
        let signed = headers(&[("cko-signature", signature)]);
        verifier.verify(&signed, body, NOW).unwrap();
        assert!(matches!(
            verifier.verify(&signed, &body[..body.len() - 1], NOW),
            Err(Rejection::Mismatch)
        ));
    }
}

#[test]
fn stripe_accepts_any_matching_v1_and_ignores_v0() {
    // Computed independently with Python's hmac module over "1700000000." + body.
    let good = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";
    let other = "00".repeat(32);
    let request = headers(&[(
        "stripe-signature",
        &format!("t=1700000000,v1={other},v1={good},v0={other}"),
    )]);
    verifier(preset("stripe"), &[b"whsec_test_secret"])
        .verify(&request, br#"{"id":"evt_1"}"#, NOW)
        .unwrap();
}

#[test]
fn shopify_accepts_base64_hmac_of_body() {
    let request = headers(&[(
        "x-shopify-hmac-sha256",
        "xocA3LkeJ/RvNrkxep1EUtFHuj7rIoIqZYaLU26LyPQ=",
    )]);
    verifier(preset("shopify"), &[b"shpss_secret"])
        .verify(&request, br#"{"id":1}"#, NOW)
        .unwrap();
}

#[test]
fn generic_hmac_sha512_hex_with_prefix() {
    let scheme = Scheme::custom(Spec::body_hmac(
        HeaderName::from_static("x-signature"),
        "sha512=",
        Algorithm::HmacSha512,
        Encoding::Hex,
    ));
    let request = headers(&[(
        "x-signature",
        "sha512=4d948b89a71133e81eb5922b7a2eff649adc1a068cd29c8dd9650946f0e79977511f52e06933619416f70be91b7568c258a037a5d22cd64b00cbc9cab1f981a6",
    )]);
    verifier(scheme, &[b"k"])
        .verify(&request, b"body", NOW)
        .unwrap();
}

#[test]
fn every_scheme_verifies_what_it_signs_and_refuses_a_changed_body() {
    let generic = Scheme::custom(Spec::body_hmac(
        HeaderName::from_static("x-sig"),
        "",
        Algorithm::HmacSha256,
        Encoding::Base64,
    ));
    let schemes = [
        (preset("visma"), b"secret".as_slice()),
        (preset("github"), b"secret"),
        (preset("shopify"), b"secret"),
        (preset("stripe"), b"whsec_abc"),
        (preset("slack"), b"secret"),
        (preset("standard-webhooks"), b"whsec_c2VjcmV0LWJ5dGVz"),
        (generic, b"secret"),
    ];
    for (scheme, secret) in schemes {
        let verifier = verifier(scheme.clone(), &[secret]);
        let signed = sign(&scheme, secret, b"payload", NOW, "msg_1");
        verifier
            .verify(&signed, b"payload", NOW)
            .unwrap_or_else(|err| panic!("{}: {err}", scheme.name()));
        assert_eq!(
            verifier.verify(&signed, b"payload!", NOW).unwrap_err(),
            Rejection::Mismatch,
            "{}",
            scheme.name()
        );
    }
}

#[test]
fn any_configured_secret_verifies_during_rotation() {
    let old: &[u8] = b"old-secret";
    let new: &[u8] = b"new-secret";
    let both = verifier(preset("visma"), &[new, old]);
    for secret in [old, new] {
        let signed = sign(&preset("visma"), secret, b"{}", NOW, "");
        both.verify(&signed, b"{}", NOW).unwrap();
    }
    let only_new = verifier(preset("visma"), &[new]);
    let signed_with_old = sign(&preset("visma"), old, b"{}", NOW, "");
    assert_eq!(
        only_new.verify(&signed_with_old, b"{}", NOW).unwrap_err(),
        Rejection::Mismatch
    );
}

#[test]
fn streaming_in_chunks_equals_one_shot() {
    let verifier = verifier(preset("visma"), &[b"k"]);
    let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let signed = sign(&preset("visma"), b"k", &body, NOW, "");
    let mut verification = verifier.begin(&signed, NOW).unwrap();
    for chunk in body.chunks(333) {
        verification.update(chunk);
    }
    verification.finish().unwrap();
}

fn visma_rejection(value: Option<&[u8]>) -> Rejection {
    let mut request = HeaderMap::new();
    if let Some(value) = value {
        request.insert(
            "x-vwd-signature-v1",
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    verifier(preset("visma"), &[b"k"])
        .verify(&request, b"{}", NOW)
        .unwrap_err()
}

#[test]
fn visma_refusals_name_the_failing_step() {
    assert_eq!(
        visma_rejection(None).kind(),
        RejectionKind::MissingSignature
    );
    assert_eq!(
        visma_rejection(Some(b"")).kind(),
        RejectionKind::MissingSignature
    );
    assert!(matches!(
        visma_rejection(Some(b"not base64!")),
        Rejection::BadEncoding { .. }
    ));
    // Valid base64, unpadded: refused, Visma always pads.
    assert!(matches!(
        visma_rejection(Some(b"qRlDdf6luYFwk67vFQR9NLRO2aQCi7Iqlb+PZsDweG4")),
        Rejection::BadEncoding { .. }
    ));
    assert!(matches!(
        visma_rejection(Some(b"AAAA")),
        Rejection::WrongLength {
            expected: 32,
            actual: 3,
            ..
        }
    ));
    assert!(matches!(
        visma_rejection(Some(
            "qRlDdf6luYFwk67vFQR9NLRO2aQCi7Iqlb+PZsDweG4=\u{e9}".as_bytes()
        )),
        Rejection::NotAscii { .. }
    ));
    assert_eq!(
        visma_rejection(Some(b"qRlDdf6luYFwk67vFQR9NLRO2aQCi7Iqlb+PZsDweG4=")),
        Rejection::Mismatch
    );
}

#[test]
fn duplicate_signature_headers_are_malformed() {
    let request = headers(&[
        (
            "x-vwd-signature-v1",
            "qRlDdf6luYFwk67vFQR9NLRO2aQCi7Iqlb+PZsDweG4=",
        ),
        (
            "x-vwd-signature-v1",
            "qRlDdf6luYFwk67vFQR9NLRO2aQCi7Iqlb+PZsDweG4=",
        ),
    ]);
    let err = verifier(preset("visma"), &[b"k"])
        .verify(&request, b"{}", NOW)
        .unwrap_err();
    assert!(matches!(err, Rejection::Duplicate { .. }));
    assert_eq!(err.kind(), RejectionKind::MalformedSignature);
}

#[test]
fn rejection_messages_never_contain_the_expected_signature() {
    let expected = sign(&preset("visma"), b"k", b"{}", NOW, "")["x-vwd-signature-v1"]
        .to_str()
        .unwrap()
        .to_string();
    let hex_expected = hex::encode(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &expected).unwrap(),
    );
    let err = visma_rejection(Some(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(&expected) && !text.contains(&hex_expected),
        "{text}"
    );
}

#[test]
fn timestamps_outside_tolerance_are_stale_and_the_boundary_is_inclusive() {
    let verifier = verifier(preset("slack"), &[b"s"]);
    let sign_at = |at: UnixSeconds| sign(&preset("slack"), b"s", b"x", at, "");
    let tolerance = DEFAULT_TOLERANCE.as_secs() as i64;
    verifier
        .verify(&sign_at(NOW - tolerance), b"x", NOW)
        .unwrap();
    verifier
        .verify(&sign_at(NOW + tolerance), b"x", NOW)
        .unwrap();
    for at in [NOW - tolerance - 1, NOW + tolerance + 1] {
        let err = verifier.verify(&sign_at(at), b"x", NOW).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::StaleTimestamp, "{err}");
    }
}

#[test]
fn malformed_timestamps_and_formats_are_malformed() {
    let cases: &[(Scheme, &[(&str, &str)])] = &[
        (
            preset("slack"),
            &[
                ("x-slack-signature", "v0=00"),
                ("x-slack-request-timestamp", "12x"),
            ],
        ),
        (preset("stripe"), &[("stripe-signature", "v1=00")]),
        (preset("stripe"), &[("stripe-signature", "t=1700000000")]),
        (preset("github"), &[("x-hub-signature-256", "sha1=00")]),
        (
            preset("standard-webhooks"),
            &[
                ("webhook-id", "m"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", "nocomma"),
            ],
        ),
    ];
    for (scheme, pairs) in cases {
        let secret: &[u8] = if *scheme == preset("standard-webhooks") {
            b"whsec_c2VjcmV0"
        } else {
            b"s"
        };
        let err = verifier(scheme.clone(), &[secret])
            .verify(&headers(pairs), b"x", NOW)
            .unwrap_err();
        assert_eq!(
            err.kind(),
            RejectionKind::MalformedSignature,
            "{}: {err}",
            scheme.name()
        );
    }
}

#[test]
fn standard_webhooks_secret_must_be_base64() {
    assert_eq!(
        preset("standard-webhooks")
            .key_from_secret(b"whsec_***")
            .unwrap_err(),
        KeyError::NotWhsec
    );
    assert!(
        preset("standard-webhooks")
            .key_from_secret(b"c2VjcmV0")
            .is_ok()
    );
}

#[test]
fn an_undecodable_entry_next_to_a_valid_one_does_not_refuse_the_delivery() {
    let good = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";
    for header in [
        format!("t=1700000000,v1={good},v1=bad_signature"),
        format!("t=1700000000,v1=bad_signature,v1={good}"),
    ] {
        let request = headers(&[("stripe-signature", &header)]);
        verifier(preset("stripe"), &[b"whsec_test_secret"])
            .verify(&request, br#"{"id":"evt_1"}"#, NOW)
            .unwrap();
    }
    let only_bad = headers(&[("stripe-signature", "t=1700000000,v1=bad_signature")]);
    let err = verifier(preset("stripe"), &[b"whsec_test_secret"])
        .verify(&only_bad, b"{}", NOW)
        .unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MalformedSignature);

    let body = br#"{"test": 2432232314}"#;
    let request = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,!!notbase64!! v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    verifier(
        preset("standard-webhooks"),
        &[b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    .verify(&request, body, 1614265330)
    .unwrap();
}

#[test]
fn standard_webhooks_secrets_may_omit_base64_padding() {
    let padded = preset("standard-webhooks")
        .key_from_secret(b"whsec_c2VjcmV0LWI=")
        .unwrap();
    let unpadded = preset("standard-webhooks")
        .key_from_secret(b"whsec_c2VjcmV0LWI")
        .unwrap();
    assert_eq!(
        padded.as_mac().unwrap().tag_of(&[b"x"]).as_bytes(),
        unpadded.as_mac().unwrap().tag_of(&[b"x"]).as_bytes()
    );
}

#[test]
fn stale_messages_say_old_or_future() {
    let old = Rejection::StaleTimestamp {
        header: HeaderName::from_static("webhook-timestamp"),
        age_seconds: 400,
    };
    let future = Rejection::StaleTimestamp {
        header: HeaderName::from_static("webhook-timestamp"),
        age_seconds: -400,
    };
    assert!(old.to_string().contains("400 s old"), "{old}");
    assert!(
        future.to_string().contains("400 s in the future"),
        "{future}"
    );
}

/// EasyPost's client libraries key the HMAC with the secret in Unicode NFKD, so a secret with
/// "é" precomposed (U+00E9) or decomposed ("e" + U+0301), or a compatibility character such as
/// "ﬁ" (U+FB01, NFKD "fi"), is one key; hookwall reads the secret the same way.
#[test]
fn easypost_secrets_are_read_in_nfkd() {
    let scheme = preset("easypost");
    let tag_with = |scheme: &Scheme, secret: &str| {
        scheme
            .key_from_secret(secret.as_bytes())
            .unwrap()
            .as_mac()
            .unwrap()
            .tag_of(&[b"{}"])
            .as_bytes()
            .to_vec()
    };
    let tag = |secret: &str| tag_with(&scheme, secret);
    let decomposed = tag("cafe\u{301}-ﬁx");
    assert_eq!(tag("caf\u{e9}-ﬁx"), decomposed);
    assert_eq!(tag("cafe\u{301}-fix"), decomposed);
    // The NFKD bytes, as a plain utf8 scheme would use them.
    let plain = Scheme::custom(Spec::body_hmac(
        HeaderName::from_static("x-hmac-signature"),
        "",
        Algorithm::HmacSha256,
        Encoding::Hex,
    ));
    let nfkd = tag_with(&plain, "cafe\u{301}-fix");
    assert_eq!(nfkd, decomposed);
    let as_written = tag_with(&plain, "caf\u{e9}-ﬁx");
    assert_ne!(as_written, decomposed, "utf8 keys stay as written");
    assert_eq!(
        scheme.key_from_secret(b"\xff\xfe").unwrap_err(),
        KeyError::NotUtf8
    );
}

/// WorkOS, Sanity, ElevenLabs, Onfido, Pusher and EasyPost: what `hookwall sign` writes with
/// either of two secrets (rotation) verifies against both configured; a changed body, another
/// secret, and a timestamp outside the window are refused.
#[test]
fn newer_presets_sign_verify_rotate_and_refuse() {
    let old: &[u8] = "old-secret-\u{e9}".as_bytes();
    let new: &[u8] = b"new-secret";
    for name in [
        "workos",
        "sanity",
        "elevenlabs",
        "onfido",
        "pusher",
        "easypost",
    ] {
        let scheme = preset(name);
        let both = verifier(scheme.clone(), &[new, old]);
        for secret in [old, new] {
            let signed = sign(&scheme, secret, b"{\"n\":4200}", NOW, "");
            both.verify(&signed, b"{\"n\":4200}", NOW)
                .unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(
                both.verify(&signed, b"{\"n\":1}", NOW).unwrap_err(),
                Rejection::Mismatch,
                "{name}"
            );
        }
        let forged = sign(&scheme, b"another-secret", b"{}", NOW, "");
        assert_eq!(
            both.verify(&forged, b"{}", NOW).unwrap_err(),
            Rejection::Mismatch,
            "{name}"
        );
        if scheme.spec().is_some_and(|spec| spec.has_timestamp()) {
            // The verifier's window here; each preset's own is checked end to end.
            let window = DEFAULT_TOLERANCE.as_secs() as i64;
            let stale = sign(&scheme, new, b"{}", NOW - window - 1, "");
            assert_eq!(
                both.verify(&stale, b"{}", NOW).unwrap_err().kind(),
                RejectionKind::StaleTimestamp,
                "{name}"
            );
        }
    }
}
