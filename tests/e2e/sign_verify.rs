//! `hookwall sign` and `hookwall verify` for every scheme, checked against the providers'
//! own libraries in both directions: what hookwall signs, the library accepts; what the
//! library signs, `hookwall verify` accepts; and where a signature fails, `verify` names the
//! header and the step. The clock is fixed with `--at` on hookwall's side and frozen inside
//! the library, so the tolerance boundary itself is compared second by second.
//! (Visma's and Stripe's basic round trips are in tests/e2e/cli.rs.)

use crate::official;
use crate::official::{Headers, Library, Sign, Verify};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use std::path::PathBuf;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_hookwall");
const AT: i64 = 1_700_000_000;
const BODY: &str =
    r#"{"id":"evt_cli","object":"event","type":"charge.refunded","data":{"note":"Grüße ✓"}}"#;
const TAMPERED: &str =
    r#"{"id":"evt_cli","object":"event","type":"charge.refunded","data":{"note":"forged"}}"#;
const STRIPE_SECRET: &str = "whsec_cli_Ue8rT2mWq5Zp";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const STD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const SHOPIFY_SECRET: &str = "shpss_cli_9c8b7a6f5e4d";
const HMAC_SECRET: &str = "generic-cli-secret";

/// A scratch directory for secret and body files.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path: PathBuf = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

/// What one run of the binary printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn hookwall(args: &[String]) -> Run {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("hookwall exits")
    .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string()).collect()
}

/// `hookwall sign` of `body` at `at`; returns the printed header lines.
async fn sign(files: &Files, scheme: &[&str], secret: &str, body: &str, extra: &[&str]) -> Headers {
    let mut args = strings(&["sign"]);
    args.extend(strings(scheme));
    args.extend([
        "--secret-file".into(),
        files.write("sign-secret", secret),
        "--body-file".into(),
        files.write("sign-body", body),
        "--at".into(),
        AT.to_string(),
    ]);
    args.extend(strings(extra));
    let run = hookwall(&args).await;
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    run.stdout
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("a `name: value` line");
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// `hookwall verify` of `body` with `headers` at `at`.
async fn verify(
    files: &Files,
    scheme: &[&str],
    secret: &str,
    body: &str,
    headers: &Headers,
    at: i64,
    extra: &[&str],
) -> Run {
    let mut args = strings(&["verify"]);
    args.extend(strings(scheme));
    args.extend([
        "--secret-file".into(),
        files.write("verify-secret", secret),
        "--body-file".into(),
        files.write("verify-body", body),
        "--at".into(),
        at.to_string(),
    ]);
    for (name, value) in headers {
        args.push("--header".into());
        args.push(format!("{name}: {value}"));
    }
    args.extend(strings(extra));
    hookwall(&args).await
}

fn sha256_mac(secret: &str, body: &str) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha512_mac(secret: &str, body: &str) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Schemes with an official library: hookwall's `--scheme` arguments, the library, a secret.
fn with_libraries() -> [(&'static [&'static str], Library, &'static str); 5] {
    [
        (&["--scheme", "stripe"], Library::Stripe, STRIPE_SECRET),
        (&["--scheme", "slack"], Library::Slack, SLACK_SECRET),
        (
            &["--scheme", "standard-webhooks"],
            Library::StandardWebhooks,
            STD_SECRET,
        ),
        (
            &["--scheme", "standard-webhooks"],
            Library::Svix,
            STD_SECRET,
        ),
        (&["--scheme", "github"], Library::Octokit, GITHUB_SECRET),
    ]
}

#[tokio::test]
async fn what_hookwall_sign_emits_is_accepted_by_each_official_library() {
    let files = Files::new();
    for (scheme, library, secret) in with_libraries() {
        let signed = sign(&files, scheme, secret, BODY, &["--id", "msg_from_hookwall"]).await;
        let verdicts = official::verify(
            library,
            &[
                Verify {
                    secret,
                    body: BODY,
                    headers: &signed,
                    now: AT,
                },
                Verify {
                    secret,
                    body: TAMPERED,
                    headers: &signed,
                    now: AT,
                },
            ],
        )
        .await;
        assert_eq!(
            verdicts[0],
            Ok(()),
            "{} refused hookwall's {signed:?}",
            library.name()
        );
        assert!(
            verdicts[1].is_err(),
            "{} accepted a tampered body",
            library.name()
        );
    }
}

#[tokio::test]
async fn what_each_official_library_signs_passes_hookwall_verify() {
    let files = Files::new();
    for (scheme, library, secret) in with_libraries() {
        let signed = official::sign_one(library, Sign::new(&[secret], BODY, AT)).await;
        let valid = verify(&files, scheme, secret, BODY, &signed, AT, &[]).await;
        assert_eq!(
            valid.code,
            Some(0),
            "{}: {signed:?}\n{}{}",
            library.name(),
            valid.stdout,
            valid.stderr
        );
        assert!(valid.stdout.starts_with("valid"), "{}", valid.stdout);

        let tampered = verify(&files, scheme, secret, TAMPERED, &signed, AT, &[]).await;
        assert_eq!(tampered.code, Some(1), "{}", library.name());
        assert!(
            tampered.stdout.contains("does not match")
                && tampered
                    .stdout
                    .contains("step: comparing with the HMAC of the"),
            "{}: {}",
            library.name(),
            tampered.stdout
        );
    }
}

#[tokio::test]
async fn shopify_and_generic_hmac_sign_output_is_the_documented_formula() {
    let files = Files::new();
    let cases: [(&[&str], &str, String); 3] = [
        (
            &["--scheme", "shopify"],
            "x-shopify-hmac-sha256",
            STANDARD.encode(sha256_mac(SHOPIFY_SECRET, BODY)),
        ),
        (
            &[
                "--scheme",
                "hmac",
                "--hmac-header",
                "X-Signature",
                "--hmac-prefix",
                "sha512=",
                "--hmac-encoding",
                "hex",
                "--hmac-algorithm",
                "sha512",
            ],
            "x-signature",
            format!("sha512={}", hex::encode(sha512_mac(SHOPIFY_SECRET, BODY))),
        ),
        (
            &[
                "--scheme",
                "hmac",
                "--hmac-header",
                "X-Body-Mac",
                "--hmac-encoding",
                "base64",
            ],
            "x-body-mac",
            STANDARD.encode(sha256_mac(SHOPIFY_SECRET, BODY)),
        ),
    ];
    for (scheme, header, expected) in cases {
        let signed = sign(&files, scheme, SHOPIFY_SECRET, BODY, &[]).await;
        assert_eq!(signed, vec![(header.to_string(), expected)], "{scheme:?}");
        let valid = verify(&files, scheme, SHOPIFY_SECRET, BODY, &signed, AT, &[]).await;
        assert_eq!(valid.code, Some(0), "{scheme:?}: {}", valid.stdout);
        let tampered = verify(&files, scheme, SHOPIFY_SECRET, TAMPERED, &signed, AT, &[]).await;
        assert_eq!(tampered.code, Some(1), "{scheme:?}: {}", tampered.stdout);
    }
}

/// A published signature: `hookwall sign` of `body` with `secret` at `at` must print it.
struct Vector<'a> {
    scheme: &'a str,
    secret: &'a str,
    body: &'a str,
    at: &'a str,
    extra: &'a [&'a str],
    header: &'a str,
    value: &'a str,
    /// Where the vector is published.
    source: &'a str,
}

#[tokio::test]
async fn sign_reproduces_the_providers_published_vectors() {
    let files = Files::new();
    let slack_body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let vectors = [
        Vector {
            scheme: "github",
            secret: "It's a Secret to Everybody",
            body: "Hello, World!",
            at: "0",
            extra: &[],
            header: "x-hub-signature-256",
            value: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            source: "docs.github.com, validating webhook deliveries",
        },
        Vector {
            scheme: "github",
            secret: "mysecret",
            body: r#"{"foo":"bar"}"#,
            at: "0",
            extra: &[],
            header: "x-hub-signature-256",
            value: "sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484236bda3",
            source: "@octokit/webhooks-methods test/sign.test.ts",
        },
        Vector {
            scheme: "slack",
            secret: "8f742231b10e8888abcd99yyyzzz85a5",
            body: slack_body,
            at: "1531420618",
            extra: &[],
            header: "x-slack-signature",
            value: "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            source: "Slack, verifying requests from Slack",
        },
        Vector {
            scheme: "standard-webhooks",
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            body: r#"{"test": 2432232314}"#,
            at: "1614265330",
            extra: &["--id", "msg_p5jXN8AQM9LWM0D4loKWxJek"],
            header: "webhook-signature",
            value: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            source: "standardwebhooks test_sign_function",
        },
    ];
    for Vector {
        scheme,
        secret,
        body,
        at,
        extra,
        header: name,
        value: expected,
        source,
    } in vectors
    {
        let mut args = strings(&["sign", "--scheme", scheme, "--at", at]);
        args.extend([
            "--secret-file".into(),
            files.write("vector-secret", secret),
            "--body-file".into(),
            files.write("vector-body", body),
        ]);
        args.extend(strings(extra));
        let run = hookwall(&args).await;
        assert_eq!(run.code, Some(0), "{source}: {}", run.stderr);
        let line = format!("{name}: {expected}");
        assert!(
            run.stdout.lines().any(|printed| printed == line),
            "{source}: expected {line:?} in\n{}",
            run.stdout
        );
    }
}

/// A delivery `hookwall verify` must refuse, and the words its reason must contain.
struct Failure<'a> {
    scheme: &'a [&'a str],
    secret: &'a str,
    headers: Headers,
    /// The clock for `--at`.
    at: i64,
    expected: Vec<&'a str>,
}

#[tokio::test]
async fn verify_names_the_failing_header_and_step_for_every_scheme() {
    let files = Files::new();
    let stripe = official::sign_one(Library::Stripe, Sign::new(&[STRIPE_SECRET], BODY, AT)).await;
    let slack = official::sign_one(Library::Slack, Sign::new(&[SLACK_SECRET], BODY, AT)).await;
    let standard = official::sign_one(
        Library::StandardWebhooks,
        Sign::new(&[STD_SECRET], BODY, AT),
    )
    .await;
    let svix = official::sign_one(Library::Svix, Sign::new(&[STD_SECRET], BODY, AT)).await;
    let github = official::sign_one(Library::Octokit, Sign::new(&[GITHUB_SECRET], BODY, AT)).await;
    let pair = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
    let reading = "step: reading the header";
    let decoding = "step: decoding the signature";
    let clock = "step: checking the timestamp";
    let comparing = "step: comparing with the HMAC of the body";
    // Stripe signs the timestamp too.
    let comparing_signed = "step: comparing with the HMAC of the signed content";

    let cases = vec![
        Failure {
            scheme: &["--scheme", "github"],
            secret: GITHUB_SECRET,
            headers: vec![],
            at: AT,
            expected: vec!["x-hub-signature-256 header is missing", reading],
        },
        Failure {
            scheme: &["--scheme", "github"],
            secret: GITHUB_SECRET,
            headers: pair(
                "X-Hub-Signature-256",
                &official::header(&github, "x-hub-signature-256").replace("sha256=", "sha1="),
            ),
            at: AT,
            expected: vec!["x-hub-signature-256 header is malformed", decoding],
        },
        Failure {
            scheme: &["--scheme", "github"],
            secret: "another secret",
            headers: github.clone(),
            at: AT,
            expected: vec!["does not match", comparing],
        },
        Failure {
            scheme: &["--scheme", "shopify"],
            secret: SHOPIFY_SECRET,
            headers: pair("X-Shopify-Hmac-Sha256", "not/base64!"),
            at: AT,
            expected: vec!["x-shopify-hmac-sha256 header is not base64", decoding],
        },
        Failure {
            scheme: &["--scheme", "shopify"],
            secret: SHOPIFY_SECRET,
            headers: pair("X-Shopify-Hmac-Sha256", "AAAA"),
            at: AT,
            expected: vec!["x-shopify-hmac-sha256 header decodes to 3 bytes", decoding],
        },
        Failure {
            scheme: &["--scheme", "stripe"],
            secret: STRIPE_SECRET,
            headers: pair(
                "Stripe-Signature",
                &official::header(&stripe, "stripe-signature").replacen(&format!("t={AT},"), "", 1),
            ),
            at: AT,
            expected: vec!["stripe-signature header is malformed", "t=", decoding],
        },
        Failure {
            scheme: &["--scheme", "stripe"],
            secret: STRIPE_SECRET,
            headers: stripe.clone(),
            at: AT + 400,
            expected: vec!["stripe-signature timestamp", "400 s", clock],
        },
        Failure {
            scheme: &["--scheme", "stripe"],
            secret: "whsec_other",
            headers: stripe.clone(),
            at: AT,
            expected: vec!["does not match", comparing_signed],
        },
        Failure {
            scheme: &["--scheme", "slack"],
            secret: SLACK_SECRET,
            headers: official::without_header(&slack, "x-slack-request-timestamp"),
            at: AT,
            expected: vec!["x-slack-request-timestamp header is missing", reading],
        },
        Failure {
            scheme: &["--scheme", "slack"],
            secret: SLACK_SECRET,
            headers: official::with_header(&slack, "x-slack-request-timestamp", "yesterday"),
            at: AT,
            expected: vec![
                "x-slack-request-timestamp header is not a Unix timestamp",
                clock,
            ],
        },
        Failure {
            scheme: &["--scheme", "slack"],
            secret: SLACK_SECRET,
            headers: slack.clone(),
            at: AT - 400,
            expected: vec!["x-slack-request-timestamp timestamp", clock],
        },
        Failure {
            scheme: &["--scheme", "standard-webhooks"],
            secret: STD_SECRET,
            headers: official::without_header(&standard, "webhook-id"),
            at: AT,
            expected: vec!["webhook-id header is missing", reading],
        },
        Failure {
            scheme: &["--scheme", "standard-webhooks"],
            secret: STD_SECRET,
            headers: official::with_header(&standard, "webhook-signature", "v1 no-comma"),
            at: AT,
            expected: vec!["webhook-signature header is malformed", decoding],
        },
        Failure {
            scheme: &["--scheme", "standard-webhooks"],
            secret: STD_SECRET,
            headers: svix.clone(),
            at: AT + 400,
            expected: vec!["svix-timestamp timestamp", clock],
        },
        Failure {
            scheme: &[
                "--scheme",
                "hmac",
                "--hmac-header",
                "X-Signature",
                "--hmac-prefix",
                "sha256=",
            ],
            secret: HMAC_SECRET,
            headers: pair("X-Signature", &hex::encode(sha256_mac(HMAC_SECRET, BODY))),
            at: AT,
            expected: vec!["x-signature header is malformed", "prefix", decoding],
        },
    ];
    for Failure {
        scheme,
        secret,
        headers,
        at,
        expected,
    } in cases
    {
        let run = verify(&files, scheme, secret, BODY, &headers, at, &[]).await;
        assert_eq!(run.code, Some(1), "{scheme:?} {headers:?}: {}", run.stderr);
        assert!(run.stdout.starts_with("invalid: "), "{}", run.stdout);
        for words in expected {
            assert!(
                run.stdout.contains(words),
                "{scheme:?} {headers:?}: expected {words:?} in {}",
                run.stdout
            );
        }
    }
}

#[tokio::test]
async fn tolerance_boundary_matches_the_official_verifiers_except_stripes_future_window() {
    let files = Files::new();
    let libraries: [(&[&str], Library, &str); 4] = [
        (&["--scheme", "stripe"], Library::Stripe, STRIPE_SECRET),
        (&["--scheme", "slack"], Library::Slack, SLACK_SECRET),
        (
            &["--scheme", "standard-webhooks"],
            Library::StandardWebhooks,
            STD_SECRET,
        ),
        (
            &["--scheme", "standard-webhooks"],
            Library::Svix,
            STD_SECRET,
        ),
    ];
    // The delivery is signed at AT and checked at AT + age: exactly 300 s old or early is
    // inside the five-minute window, 301 s is outside.
    let ages = [300, 301, -300, -301];
    for (scheme, library, secret) in libraries {
        let signed = official::sign_one(library, Sign::new(&[secret], BODY, AT)).await;
        let checks: Vec<Verify> = ages
            .iter()
            .map(|age| Verify {
                secret,
                body: BODY,
                headers: &signed,
                now: AT + age,
            })
            .collect();
        let library_verdicts = official::verify(library, &checks).await;
        for (age, library_verdict) in ages.iter().zip(library_verdicts) {
            let hookwall_accepts = verify(&files, scheme, secret, BODY, &signed, AT + age, &[])
                .await
                .code
                == Some(0);
            let inside = age.abs() <= 300;
            assert_eq!(
                hookwall_accepts,
                inside,
                "hookwall, {} delivery checked {age} s after signing",
                library.name()
            );
            // Stripe's libraries only refuse old deliveries: `timestamp < now - tolerance`.
            // One from the future is accepted however far ahead; hookwall refuses it beyond
            // the tolerance, as Slack's and Standard Webhooks' libraries do.
            let library_expected = inside || (library == Library::Stripe && *age < 0);
            assert_eq!(
                library_verdict.is_ok(),
                library_expected,
                "{}, checked {age} s after signing: {library_verdict:?}",
                library.name()
            );
        }
    }
}

#[tokio::test]
async fn verify_tolerance_flag_moves_the_boundary_both_ways() {
    let files = Files::new();
    let signed = official::sign_one(Library::Slack, Sign::new(&[SLACK_SECRET], BODY, AT)).await;
    for (age, accepted) in [(30, true), (31, false), (-30, true), (-31, false)] {
        let run = verify(
            &files,
            &["--scheme", "slack"],
            SLACK_SECRET,
            BODY,
            &signed,
            AT + age,
            &["--tolerance", "30s"],
        )
        .await;
        assert_eq!(run.code == Some(0), accepted, "age {age}: {}", run.stdout);
    }
}

#[tokio::test]
async fn sign_for_standard_webhooks_makes_up_a_message_id_when_none_is_given() {
    let files = Files::new();
    let first = sign(
        &files,
        &["--scheme", "standard-webhooks"],
        STD_SECRET,
        BODY,
        &[],
    )
    .await;
    let second = sign(
        &files,
        &["--scheme", "standard-webhooks"],
        STD_SECRET,
        BODY,
        &[],
    )
    .await;
    let id = official::header(&first, "webhook-id");
    assert!(id.starts_with("msg_"), "{first:?}");
    assert_ne!(id, official::header(&second, "webhook-id"));
    assert_eq!(
        official::header(&first, "webhook-timestamp"),
        AT.to_string()
    );
    let verdict = official::verify(
        Library::StandardWebhooks,
        &[Verify {
            secret: STD_SECRET,
            body: BODY,
            headers: &first,
            now: AT,
        }],
    )
    .await;
    assert_eq!(verdict, vec![Ok(())]);
}
