//! The recent deliveries page and its JSON on the admin port: what is recorded for accepted
//! and refused requests, the filters, the masking (no signature ever leaves hookwall), the
//! switch that turns it off, and the page itself in a real headless Chromium driven over
//! the DevTools protocol (tests/support/browser.py) while deliveries arrive.

use crate::common::*;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A Visma route and a GitHub route, in front of the recording upstream; `deliveries` is
/// how many the page keeps (`None`: the default).
async fn start(deliveries: Option<usize>) -> (Recorder, TestProxy) {
    let recorder = Recorder::start().await;
    let github = RouteSpec::new("/webhooks/github", "github").secret_files(["secret-b"]);
    let mut proxy = TestProxy::visma(&recorder.url()).route(github);
    if let Some(deliveries) = deliveries {
        proxy = proxy.admin(|a| a.deliveries(deliveries));
    }
    (recorder, proxy.start().await)
}

/// A signed (or, with `signature`, forged) Visma delivery carrying the dispatcher's ids.
fn visma_delivery(
    proxy: &TestProxy,
    event: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Request<Full<Bytes>> {
    let mut request = proxy.visma_request("/webhooks/visma", body, signature);
    for (name, value) in [
        ("x-vwd-event-id", event),
        ("x-vwd-notification-id", "notification-7"),
        ("x-vwd-tenant-id", "1234567"),
        ("x-vwd-subscription-id", "subscription-3"),
        ("authorization", "Bearer not-for-your-eyes"),
    ] {
        request.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    request
}

/// A GitHub delivery signed with SECRET_B, as GitHub does (hex HMAC-SHA256, `sha256=`).
fn github_delivery(proxy: &TestProxy, delivery_id: &str, body: &[u8]) -> Request<Full<Bytes>> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET_B.as_bytes()).unwrap();
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    Request::post(proxy.url("/webhooks/github"))
        .header("host", format!("localhost:{}", proxy.proxy_addr.port()))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery_id)
        .header("x-hub-signature-256", signature)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap()
}

async fn send(proxy: &TestProxy, request: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap) {
    let (status, headers, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    (status, headers)
}

async fn deliveries_json(proxy: &TestProxy, query: &str) -> (StatusCode, String) {
    let (status, _, body) = plain_get(proxy.admin_addr, &format!("/deliveries.json{query}")).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn deliveries(proxy: &TestProxy, query: &str) -> Vec<Value> {
    let (status, text) = deliveries_json(proxy, query).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    json["deliveries"].as_array().unwrap().clone()
}

fn outcomes(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect()
}

fn header_value<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .map(|h| h["value"].as_str().unwrap())
}

#[tokio::test]
async fn the_json_lists_accepted_and_refused_newest_first_with_ids_and_masked_headers() {
    let (_recorder, proxy) = start(None).await;
    let body = br#"{"event":"CustomerChanged","marker":"BODY-NEVER-KEPT"}"#;
    let good = visma_signature(SECRET_A, body);
    let forged = visma_signature("not-the-secret", body);

    let (status, _) = send(&proxy, visma_delivery(&proxy, "event-1", body, None)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused_headers) = send(
        &proxy,
        visma_delivery(&proxy, "event-2", body, Some(&forged)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let unmatched = Request::post(proxy.url("/nowhere?token=QUERY-NEVER-KEPT"))
        .header("host", "localhost")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (status, _) = send(&proxy, unmatched).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, text) = deliveries_json(&proxy, "").await;
    assert_eq!(status, StatusCode::OK);
    for secret in [
        good.as_str(),
        forged.as_str(),
        "not-for-your-eyes",
        "BODY-NEVER-KEPT",
        "QUERY-NEVER-KEPT",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["capacity"], 200);
    assert_eq!(json["recorded"], 3);
    let entries = json["deliveries"].as_array().unwrap();
    assert_eq!(
        outcomes(entries),
        vec!["unmatched_route", "bad_signature", "forwarded"]
    );

    let (unmatched, refused, accepted) = (&entries[0], &entries[1], &entries[2]);
    assert_eq!(unmatched["route"], "unmatched");
    assert_eq!(unmatched["path"], "/nowhere");
    assert_eq!(unmatched["status"], 404);

    assert_eq!(refused["route"], "/webhooks/visma");
    assert_eq!(refused["accepted"], false);
    assert_eq!(refused["status"], 401);
    assert!(!refused["reason"].as_str().unwrap().is_empty());
    assert_eq!(
        refused["request_id"],
        refused_headers["x-request-id"].to_str().unwrap()
    );
    assert!(refused["verify_ms"].is_number(), "{refused}");
    assert!(
        refused["app_ms"].is_null(),
        "a refused delivery never reaches the app"
    );

    assert_eq!(accepted["accepted"], true);
    assert_eq!(accepted["status"], 200);
    assert_eq!(accepted["method"], "POST");
    assert_eq!(accepted["body_bytes"], body.len());
    assert!(accepted["verify_ms"].is_number() && accepted["app_ms"].is_number());
    assert!(accepted["total_ms"].as_f64().unwrap() >= accepted["app_ms"].as_f64().unwrap());
    assert!(
        accepted["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let ids: Vec<(&str, &str)> = accepted["sender_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| (id["name"].as_str().unwrap(), id["value"].as_str().unwrap()))
        .collect();
    for expected in [
        ("x-vwd-event-id", "event-1"),
        ("x-vwd-notification-id", "notification-7"),
        ("x-vwd-tenant-id", "1234567"),
        ("x-vwd-subscription-id", "subscription-3"),
    ] {
        assert!(ids.contains(&expected), "{expected:?} not in {ids:?}");
    }
    assert_eq!(
        header_value(accepted, "x-vwd-signature-v1"),
        Some("[masked]")
    );
    assert_eq!(header_value(accepted, "authorization"), Some("[masked]"));
    assert_eq!(
        header_value(accepted, "content-type"),
        Some("application/json")
    );
    assert!(
        accepted.get("body_preview").is_none(),
        "bodies are never kept"
    );

    // The same filters as the page.
    assert_eq!(
        outcomes(&deliveries(&proxy, "?outcome=refused").await),
        vec!["unmatched_route", "bad_signature"]
    );
    assert_eq!(
        outcomes(&deliveries(&proxy, "?outcome=accepted").await),
        vec!["forwarded"]
    );
    assert_eq!(
        outcomes(&deliveries(&proxy, "?route=%2Fwebhooks%2Fvisma").await),
        vec!["bad_signature", "forwarded"]
    );
    assert_eq!(
        outcomes(&deliveries(&proxy, "?route=%2Fwebhooks%2Fvisma&outcome=bad_signature").await),
        vec!["bad_signature"]
    );
    let after = accepted["id"].as_u64().unwrap();
    assert_eq!(
        outcomes(&deliveries(&proxy, &format!("?after={after}")).await),
        vec!["unmatched_route", "bad_signature"]
    );
    let (status, text) = deliveries_json(&proxy, "?outcome=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("accepted, refused"), "{text}");
}

#[tokio::test]
async fn the_page_is_self_contained_under_a_strict_policy() {
    let (_recorder, proxy) = start(None).await;
    let (status, headers, body) = plain_get(proxy.admin_addr, "/deliveries").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'sha256-"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external reference"
    );
    assert!(html.contains("<label for=\"route\">") && html.contains("<label for=\"outcome\">"));

    let (_, json_headers, _) = plain_get(proxy.admin_addr, "/deliveries.json").await;
    assert_eq!(json_headers["content-type"], "application/json");
    assert_eq!(json_headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn deliveries_0_turns_the_page_off_and_records_nothing() {
    let (_recorder, proxy) = start(Some(0)).await;
    let body = br#"{"n":1}"#;
    let (status, _) = send(&proxy, visma_delivery(&proxy, "event-1", body, None)).await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/deliveries", "/deliveries.json"] {
        let (status, _, text) = plain_get(proxy.admin_addr, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(String::from_utf8_lossy(&text).contains("deliveries = 0"));
    }
    let deliveries = proxy.running().proxy.deliveries();
    assert!(!deliveries.enabled());
    assert_eq!(deliveries.recorded(), 0);
}

#[tokio::test]
async fn the_ring_keeps_only_the_configured_number() {
    let (_recorder, proxy) = start(Some(3)).await;
    for n in 0..5 {
        let body = format!("{{\"n\":{n}}}");
        let (status, _) = send(
            &proxy,
            visma_delivery(&proxy, &format!("event-{n}"), body.as_bytes(), None),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, text) = deliveries_json(&proxy, "").await;
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["recorded"], 5);
    let events: Vec<&str> = json["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sender_ids"][0]["value"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["event-4", "event-3", "event-2"]);
}

/// Headless Chromium, driven by tests/support/browser.py over the DevTools protocol.
struct Browser {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    async fn start() -> Browser {
        let mut child = Command::new("python3")
            .arg(repo_path("tests/support/browser.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the browser driver");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("chromium starts within 60 s")
            .unwrap()
            .expect("the browser driver printed nothing (is chromium installed? .ci/install)");
        assert!(ready.starts_with("READY "), "{ready}");
        Browser {
            _child: child,
            stdin,
            lines,
        }
    }

    async fn command(&mut self, command: Value) -> Value {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no answer to {command}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the browser driver exited on {command}"));
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["ok"], true, "{command}: {answer}");
        answer["value"].clone()
    }

    async fn eval(&mut self, expression: &str) -> Value {
        self.command(json!({"op": "eval", "expr": expression}))
            .await
    }

    /// Waits (bounded) until `expression` is truthy in the page.
    async fn wait_for(&mut self, expression: &str) -> Value {
        self.command(json!({"op": "wait", "expr": expression, "timeout": 20}))
            .await
    }

    async fn select(&mut self, id: &str, value: &str) {
        let script = format!(
            "(() => {{ const s = document.getElementById({id}); s.value = {value}; \
             s.dispatchEvent(new Event('change', {{bubbles: true}})); return s.value; }})()",
            id = json!(id),
            value = json!(value)
        );
        assert_eq!(self.eval(&script).await, json!(value));
    }

    async fn screenshot(&mut self, path: &std::path::Path) {
        self.command(json!({"op": "screenshot", "path": path.to_str().unwrap()}))
            .await;
        assert!(std::fs::metadata(path).unwrap().len() > 1000, "{path:?}");
    }

    async fn quit(mut self) {
        self.command(json!({"op": "quit"})).await;
    }
}

/// Where the page's screenshots go: under target/ (CARGO_TARGET_TMPDIR), kept after the run.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deliveries-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_page_in_chromium_shows_deliveries_as_they_arrive_filters_and_masks() {
    let (_recorder, proxy) = start(None).await;
    let mut browser = Browser::start().await;
    browser
        .command(json!({"op": "viewport", "width": 1280, "height": 720}))
        .await;
    let page = format!("http://{}/deliveries", proxy.admin_addr);
    browser
        .command(json!({"op": "navigate", "url": page}))
        .await;
    browser
        .wait_for("!document.getElementById('empty').hidden")
        .await;
    // Set once: still there at the end only if the page never reloaded.
    browser.eval("window.loadedOnce = 'yes'").await;

    // Deliveries arrive while the page is open.
    let body = br#"{"event":"CustomerChanged","tenantId":"1234567","entityId":"10001"}"#;
    let good = visma_signature(SECRET_A, body);
    let forged = visma_signature("an-old-secret", body);
    for (event, signature, expected) in [
        ("2f1c9a7e-0001", None, StatusCode::OK),
        ("2f1c9a7e-0002", None, StatusCode::OK),
        (
            "2f1c9a7e-0003",
            Some(forged.as_str()),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let (status, _) = send(&proxy, visma_delivery(&proxy, event, body, signature)).await;
        assert_eq!(status, expected);
    }
    let (status, _) = send(
        &proxy,
        github_delivery(
            &proxy,
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            br#"{"ref":"refs/heads/main"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let unsigned = Request::post(proxy.url("/webhooks/github"))
        .header("host", "localhost")
        .header("x-github-delivery", "9a1b-unsigned")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (status, _) = send(&proxy, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    browser
        .wait_for("document.querySelectorAll('#rows tr.delivery').length === 5")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#rows tr[data-accepted=\"true\"]').length")
            .await,
        3
    );
    assert_eq!(
        browser
            .eval("[...document.querySelectorAll('#rows tr.delivery')].map(r => r.dataset.outcome).join(',')")
            .await,
        "missing_signature,forwarded,bad_signature,forwarded,forwarded"
    );
    let first_row_text = browser
        .eval("document.querySelector('#rows tr.delivery:last-child').innerText")
        .await;
    assert!(
        first_row_text.as_str().unwrap().contains("2f1c9a7e-0001"),
        "the oldest row shows its Visma event id: {first_row_text}"
    );

    // Filters narrow the rows (and the URL says so).
    browser.select("outcome", "refused").await;
    browser
        .wait_for("document.querySelectorAll('#rows tr.delivery').length === 2 && [...document.querySelectorAll('#rows tr.delivery')].every(r => r.dataset.accepted === 'false')")
        .await;
    assert_eq!(browser.eval("location.search").await, "?outcome=refused");
    browser
        .wait_for("[...document.getElementById('route').options].some(o => o.value === '/webhooks/github')")
        .await;
    browser.select("route", "/webhooks/github").await;
    browser
        .wait_for("document.querySelectorAll('#rows tr.delivery').length === 1 && document.querySelector('#rows tr.delivery').dataset.outcome === 'missing_signature'")
        .await;
    browser.select("outcome", "").await;
    browser
        .wait_for("document.querySelectorAll('#rows tr.delivery').length === 2")
        .await;
    browser.select("route", "").await;
    browser
        .wait_for("document.querySelectorAll('#rows tr.delivery').length === 5")
        .await;

    // A real click opens the forged delivery's headers, masked.
    browser.click_row_of("2f1c9a7e-0003").await;
    browser
        .wait_for("document.querySelector('tr.detail table.headers') !== null")
        .await;
    let detail = browser
        .eval("document.querySelector('tr.detail').innerText")
        .await;
    let detail = detail.as_str().unwrap();
    assert!(detail.contains("x-vwd-signature-v1"), "{detail}");
    assert!(detail.contains("[masked]"), "{detail}");
    assert!(
        detail.contains("x-vwd-tenant-id") && detail.contains("1234567"),
        "{detail}"
    );
    assert_eq!(
        browser
            .eval(
                "(() => { const secret = [...document.querySelectorAll('tr.detail table.headers tbody tr')]\
                 .filter(r => /signature|authorization/.test(r.querySelector('th').textContent)); \
                 return secret.length === 2 && secret.every(r => r.querySelector('td').textContent === '[masked]' \
                 && r.querySelector('td').classList.contains('masked')); })()"
            )
            .await,
        true
    );
    let whole_page = browser.eval("document.documentElement.outerHTML").await;
    let whole_page = whole_page.as_str().unwrap();
    for secret in [good.as_str(), forged.as_str(), "not-for-your-eyes"] {
        assert!(!whole_page.contains(secret), "{secret} is on the page");
    }
    assert_eq!(
        browser
            .eval("document.querySelector('button[aria-expanded=\"true\"]') !== null")
            .await,
        true
    );

    // Nothing was blocked by the policy, and nothing threw.
    let problems = browser.command(json!({"op": "problems"})).await;
    assert_eq!(problems, json!([]), "console problems: {problems}");

    // The artifacts: wide light, wide dark, and a phone (no sideways scrolling).
    let dir = artifacts();
    browser.screenshot(&dir.join("deliveries.png")).await;

    // A hostile header value arrives: it is shown as text, never run as markup.
    let hostile = "<img src=x onerror=\"window.pwned=1\">";
    let (status, _) = send(&proxy, visma_delivery(&proxy, hostile, body, None)).await;
    assert_eq!(status, StatusCode::OK);
    browser
        .wait_for("document.querySelectorAll('#rows tr.delivery').length === 6")
        .await;
    assert_eq!(
        browser
            .eval(
                "window.pwned === undefined && document.querySelectorAll('#rows img').length === 0"
            )
            .await,
        true
    );
    assert!(
        browser
            .eval("document.getElementById('rows').textContent")
            .await
            .as_str()
            .unwrap()
            .contains(hostile)
    );
    assert_eq!(
        browser.eval("window.loadedOnce").await,
        "yes",
        "the page reloaded"
    );

    // The dark and phone views, with the hostile row in them.
    browser
        .command(json!({"op": "color_scheme", "value": "dark"}))
        .await;
    assert_eq!(
        browser
            .eval("getComputedStyle(document.body).backgroundColor")
            .await,
        "rgb(18, 20, 23)"
    );
    browser.screenshot(&dir.join("deliveries-dark.png")).await;
    browser
        .command(json!({"op": "color_scheme", "value": "light"}))
        .await;
    browser
        .command(json!({"op": "viewport", "width": 390, "height": 844, "mobile": true}))
        .await;
    browser
        .wait_for("document.documentElement.scrollWidth <= 390")
        .await;
    browser.screenshot(&dir.join("deliveries-phone.png")).await;
    let problems = browser.command(json!({"op": "problems"})).await;
    assert_eq!(problems, json!([]), "console problems: {problems}");
    browser.quit().await;
}

impl Browser {
    /// Clicks (a real mouse event) the row whose text contains `text`.
    async fn click_row_of(&mut self, text: &str) {
        let mark = format!(
            "(() => {{ const row = [...document.querySelectorAll('#rows tr.delivery')].find(r => r.textContent.includes({text})); \
             if (!row) return false; row.classList.add('under-test'); return true; }})()",
            text = json!(text)
        );
        assert_eq!(self.eval(&mark).await, true, "no row shows {text}");
        self.command(
            json!({"op": "click", "selector": "#rows tr.under-test td[data-label='Route']"}),
        )
        .await;
    }
}

/// The embedded default (`hookwall` with no config) prints the page's address, and there,
/// for development only, the page previews bodies.
#[tokio::test]
async fn the_embedded_default_prints_the_page_and_previews_bodies() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("HOOKWALL_SECRET", "embedded-deliveries-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut page = None;
    let mut proxy = None;
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["deliveries", url, ..] => page = Some(url.to_string()),
                ["proxy", url, ..] => proxy = Some(url.to_string()),
                _ => {}
            }
            if line.contains("hookwall sign") {
                break;
            }
        }
    })
    .await
    .expect("banner printed");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let page = page.expect("the banner names the deliveries page");
    let proxy = proxy.unwrap();
    assert!(
        page.starts_with("http://127.0.0.1:") && page.ends_with("/deliveries"),
        "{page}"
    );

    let body = r#"{"event":"CustomerChanged","tenantId":"1234567"}"#;
    let signature = visma_signature("embedded-deliveries-secret", body.as_bytes());
    let output = Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
            body,
        ])
        .arg("-H")
        .arg(format!("x-vwd-signature-v1: {signature}"))
        .arg(&proxy)
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200");

    let output = Command::new("curl")
        .args(["-s", &format!("{page}.json")])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains(&signature), "{text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    let entry = &json["deliveries"][0];
    assert_eq!(entry["outcome"], "forwarded");
    assert_eq!(entry["body_preview"], body);
    assert_eq!(header_value(entry, "x-vwd-signature-v1"), Some("[masked]"));

    let pid = child.id().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}
