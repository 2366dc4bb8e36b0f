//! The binary's log: JSON lines when stdout is not a terminal, one line per request with
//! route, outcome, status, duration and request id; the request id followed from the sender
//! to the upstream; and never a secret, a signature or a body, whatever happens.

use crate::common::*;
use crate::hardening::*;
use bytes::Bytes;
use http_body_util::Full;
use std::time::Duration;

const ROUTE: &str = "/webhooks/visma";
const ROTATED_SECRET: &str = "visma-secret-rotated-never-logged";

fn request_lines(proxy: &BinaryProxy) -> Vec<serde_json::Value> {
    proxy
        .json_lines()
        .into_iter()
        .filter(|line| line["target"] == "hookwall::request")
        .collect()
}

/// The log line of the request whose request id is `id`.
async fn line_for(proxy: &BinaryProxy, id: &str) -> serde_json::Value {
    proxy
        .wait_for_log(&format!("request {id}"), Duration::from_secs(3), |line| {
            line["target"] == "hookwall::request" && line["request_id"] == id
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_request_lines_follow_the_request_id_and_never_show_secrets_signatures_or_bodies() {
    let recorder = Recorder::start().await;
    // Debug level, so the strictest log is the one checked; the format is left to `auto`.
    let mut proxy = TestProxy::visma(&recorder.url())
        .server(|s| s.shutdown_delay(Duration::from_millis(100)))
        .log(|l| l.level("debug"))
        .start_binary()
        .await;
    let port = proxy.proxy_addr.port();
    let mut secrets_and_signatures = vec![
        SECRET_A.to_string(),
        SECRET_B.to_string(),
        ROTATED_SECRET.to_string(),
    ];
    let mut bodies = Vec::new();

    // 1. Forwarded, with the sender's own request id (HTTP/1).
    let body = br#"{"marker":"BODY-forwarded-7f3a9c"}"#;
    let mut request = proxy.signed_post(ROUTE, body);
    request
        .headers_mut()
        .insert("x-request-id", "sender-req-42".parse().unwrap());
    secrets_and_signatures.push(visma_signature(SECRET_A, body));
    bodies.push("BODY-forwarded-7f3a9c");
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200);
    let line = line_for(&proxy, "sender-req-42").await;
    assert_eq!(line["message"], "request");
    assert_eq!(line["route"], ROUTE);
    assert_eq!(line["outcome"], "forwarded");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0, "{line}");
    let seen = recorder.requests().await;
    assert_eq!(seen[0].header("x-request-id"), Some("sender-req-42"));

    // 2. Forwarded without a request id (HTTP/2): one is made up and passed upstream.
    let body = br#"{"marker":"BODY-generated-id-51be0d"}"#;
    secrets_and_signatures.push(visma_signature(SECRET_A, body));
    bodies.push("BODY-generated-id-51be0d");
    let (status, _, _) = proxy
        .send(Protocol::Http2, proxy.signed_post(ROUTE, body))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let seen = recorder.requests().await;
    let generated = seen[1]
        .header("x-request-id")
        .expect("a generated request id is passed upstream")
        .to_string();
    assert_eq!(generated.len(), 32);
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
    let line = line_for(&proxy, &generated).await;
    assert_eq!(line["outcome"], "forwarded");

    // 3. A forgery: refused, and the sender can quote the id that is in the log.
    let body = br#"{"marker":"BODY-forged-c0ffee"}"#;
    let forged = visma_signature("the-attackers-guess", body);
    secrets_and_signatures.push(forged.clone());
    bodies.push("BODY-forged-c0ffee");
    let request = http::Request::post(format!("https://localhost:{port}{ROUTE}"))
        .header("host", format!("localhost:{port}"))
        .header("x-vwd-signature-v1", &forged)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let (status, headers, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 401);
    let id = headers["x-request-id"].to_str().unwrap().to_string();
    let line = line_for(&proxy, &id).await;
    assert_eq!(line["message"], "request refused");
    assert_eq!(line["outcome"], "bad_signature");
    assert_eq!(line["status"], 401);
    assert_eq!(line["level"], "WARN");

    // 4. Hostile framing and an oversized body, with bodies that must not be echoed.
    let chunk = "BODY-smuggled-body-9e8d7c6b";
    let smuggling = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nx-vwd-signature-v1: {}\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        visma_signature(SECRET_A, chunk.as_bytes()),
        chunk.len()
    );
    secrets_and_signatures.push(visma_signature(SECRET_A, chunk.as_bytes()));
    bodies.push(chunk);
    let mut tls = tls_to(proxy.proxy_addr, &proxy.cert.cert_pem, Protocol::Http1)
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tls, smuggling.as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    drop(tls);
    let big = format!("BODY-too-large-{}", "x".repeat(2 * 1024 * 1024));
    bodies.push("BODY-too-large-");
    let (status, _, _) = proxy
        .send(Protocol::Http2, proxy.signed_post(ROUTE, big.as_bytes()))
        .await
        .unwrap();
    assert_eq!(status, 413);

    // 5. A rotated secret, picked up on SIGHUP.
    std::fs::write(proxy.dir.path().join("secret-a"), ROTATED_SECRET).unwrap();
    proxy.signal("HUP");
    proxy
        .wait_for_log("the reload", Duration::from_secs(5), |line| {
            line["message"] == "config reloaded"
        })
        .await;

    proxy.signal("TERM");
    assert_eq!(
        proxy.wait_exit(Duration::from_secs(15)).await.code(),
        Some(0)
    );

    // Every line is JSON; every request line has the fields an operator filters on.
    let requests = request_lines(&proxy);
    assert_eq!(requests.len(), 5, "{requests:#?}");
    for line in &requests {
        for field in ["route", "outcome", "status", "duration_ms", "request_id"] {
            assert!(!line[field].is_null(), "{field} missing in {line}");
        }
        assert!(!line["request_id"].as_str().unwrap().is_empty(), "{line}");
    }

    let whole_log = format!(
        "{}\n{}",
        proxy.stdout_lines().join("\n"),
        proxy.stderr_lines().join("\n")
    );
    for secret in &secrets_and_signatures {
        assert!(
            !whole_log.contains(secret.as_str()),
            "the log shows a secret or signature: {secret}"
        );
    }
    for body in &bodies {
        assert!(!whole_log.contains(body), "the log shows a body: {body}");
    }
}
