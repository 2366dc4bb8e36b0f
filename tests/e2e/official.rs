//! The providers' own libraries as independent signers and verifiers: the programs in
//! tests/support/signers/, run as subprocesses. Nothing here shares code with hookwall, so a
//! delivery they sign proves hookwall reads the scheme as the provider writes it, and a
//! header `hookwall sign` emits that they accept proves hookwall writes it as they read it.

use crate::common::repo_path;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Importing a provider library takes a second or two on a busy machine; a signer that has
/// not answered in this long is hung.
const SIGNER_TIMEOUT: Duration = Duration::from_secs(60);

/// Header name and value pairs, in the order the library produced them.
pub type Headers = Vec<(String, String)>;

/// An official library, pinned by tests/support/requirements.txt or package-lock.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    /// PyPI `standardwebhooks`, the Standard Webhooks reference library.
    StandardWebhooks,
    /// PyPI `svix`: the same scheme under `svix-*` header names.
    Svix,
    /// PyPI `stripe`.
    Stripe,
    /// PyPI `slack_sdk`.
    Slack,
    /// npm `@octokit/webhooks-methods`, GitHub's.
    Octokit,
    /// npm `discord-interactions`, `@sendgrid/eventwebhook`, `@paddle/paddle-node-sdk`,
    /// `@linear/sdk`, `@mux/mux-node`, `@shopify/shopify-api`, `@zoom/rivet` and `chargebee`,
    /// behind one program: ops name their provider (tests/e2e/catalogue.rs, libraries.rs).
    Catalogue,
    /// PyPI `hubspot-api-client`, `squareup`, `razorpay`, `gocardless-pro`,
    /// `coinbase-commerce`, `line-bot-sdk`, `box-sdk-gen`, `twilio` and `mailgun`, behind one
    /// program the same way (tests/e2e/libraries.rs).
    CataloguePython,
    /// npm `@adyen/api-library` (its HmacValidator), with ops of its own.
    Adyen,
    /// npm `@contentful/node-apps-toolkit` (signRequest, verifyRequest), with ops of its own.
    Contentful,
}

impl Library {
    pub fn name(self) -> &'static str {
        match self {
            Library::StandardWebhooks => "standardwebhooks (PyPI)",
            Library::Svix => "svix (PyPI)",
            Library::Stripe => "stripe (PyPI)",
            Library::Slack => "slack_sdk (PyPI)",
            Library::Octokit => "@octokit/webhooks-methods (npm)",
            Library::Catalogue => "the catalogue's npm libraries (catalogue_signer.mjs)",
            Library::CataloguePython => "the catalogue's PyPI libraries (catalogue_signer.py)",
            Library::Adyen => "@adyen/api-library (npm)",
            Library::Contentful => "@contentful/node-apps-toolkit (npm)",
        }
    }

    fn command(self) -> Command {
        let (program, script) = match self {
            Library::StandardWebhooks => ("python3", "standardwebhooks_signer.py"),
            Library::Svix => ("python3", "svix_signer.py"),
            Library::Stripe => ("python3", "stripe_signer.py"),
            Library::Slack => ("python3", "slack_signer.py"),
            Library::Octokit => ("node", "github_signer.mjs"),
            Library::Catalogue => ("node", "catalogue_signer.mjs"),
            Library::CataloguePython => ("python3", "catalogue_signer.py"),
            Library::Adyen => ("node", "adyen_signer.mjs"),
            Library::Contentful => ("node", "contentful_signer.mjs"),
        };
        let mut command = Command::new(program);
        command.arg(repo_path("tests/support/signers").join(script));
        command
    }
}

/// One delivery to sign: the secrets to sign with (one signature each, where the scheme
/// carries several), the body text, the signed timestamp and the delivery id.
#[derive(Clone, Debug)]
pub struct Sign<'a> {
    pub secrets: &'a [&'a str],
    pub body: &'a str,
    pub timestamp: i64,
    pub id: &'a str,
}

impl<'a> Sign<'a> {
    pub fn new(secrets: &'a [&'a str], body: &'a str, timestamp: i64) -> Sign<'a> {
        Sign {
            secrets,
            body,
            timestamp,
            id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        }
    }

    pub fn id(mut self, id: &'a str) -> Sign<'a> {
        self.id = id;
        self
    }
}

/// One verification by the library, with its clock fixed at `now`.
#[derive(Clone, Debug)]
pub struct Verify<'a> {
    pub secret: &'a str,
    pub body: &'a str,
    pub headers: &'a Headers,
    pub now: i64,
}

/// Signs every delivery in one run of the library's signer.
pub async fn sign(library: Library, deliveries: &[Sign<'_>]) -> Vec<Headers> {
    let ops = deliveries
        .iter()
        .map(|delivery| {
            json!({
                "op": "sign",
                "secrets": delivery.secrets,
                "body": delivery.body,
                "timestamp": delivery.timestamp,
                "id": delivery.id,
            })
        })
        .collect();
    run(library, ops).await.iter().map(headers_of).collect()
}

/// The `headers` a signer's result carries, as name and value pairs in its order.
pub fn headers_of(result: &Value) -> Headers {
    result["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no headers in {result}"))
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_string(),
                pair[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Signs one delivery.
pub async fn sign_one(library: Library, delivery: Sign<'_>) -> Headers {
    sign(library, &[delivery]).await.remove(0)
}

/// The library's verdict on each delivery: `Ok` or the library's own reason.
pub async fn verify(library: Library, deliveries: &[Verify<'_>]) -> Vec<Result<(), String>> {
    let ops = deliveries
        .iter()
        .map(|delivery| {
            json!({
                "op": "verify",
                "secret": delivery.secret,
                "body": delivery.body,
                "headers": delivery.headers,
                "now": delivery.now,
                "tolerance": 300,
            })
        })
        .collect();
    run(library, ops)
        .await
        .into_iter()
        .map(|result| match result["valid"].as_bool() {
            Some(true) => Ok(()),
            Some(false) => Err(result["reason"].as_str().unwrap_or("").to_string()),
            None => panic!("{}: no verdict in {result}", library.name()),
        })
        .collect()
}

/// Runs raw protocol ops (for signers with ops of their own) and returns their results.
pub async fn run(library: Library, ops: Vec<Value>) -> Vec<Value> {
    let count = ops.len();
    let request = serde_json::to_vec(&json!({ "ops": ops })).unwrap();
    let mut child = library
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start the {} signer: {err}", library.name()));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&request).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(SIGNER_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the {} signer did not answer", library.name()))
        .unwrap();
    assert!(
        output.status.success(),
        "the {} signer failed ({}); are the test dependencies installed? .ci/install does it\n{}",
        library.name(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "the {} signer wrote no JSON ({err}): {}",
            library.name(),
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), count, "{}: {answer}", library.name());
    results
}

/// The value of `name` (any case).
pub fn header<'a>(headers: &'a Headers, name: &str) -> &'a str {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

/// A copy of `headers` with the value of `name` replaced.
pub fn with_header(headers: &Headers, name: &str, value: impl Into<String>) -> Headers {
    let value = value.into();
    assert!(
        headers
            .iter()
            .any(|(key, _)| key.eq_ignore_ascii_case(name))
    );
    headers
        .iter()
        .map(|(key, old)| {
            if key.eq_ignore_ascii_case(name) {
                (key.clone(), value.clone())
            } else {
                (key.clone(), old.clone())
            }
        })
        .collect()
}

/// A copy of `headers` without `name`.
pub fn without_header(headers: &Headers, name: &str) -> Headers {
    headers
        .iter()
        .filter(|(key, _)| !key.eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

/// Seconds since the Unix epoch, as hookwall's clock reads it.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
