//! End to end on loopback: real TLS, real clients (hyper, curl), a real Python upstream.
//! Genuine Visma deliveries arrive byte for byte; every kind of refusal gets its status and
//! metric and never reaches the upstream.

use crate::common::*;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::time::Duration;

/// A body that is not UTF-8 and not JSON: forwarding must not care.
fn binary_body() -> Vec<u8> {
    let mut body = br#"{"event":"CustomerChanged","tenantId":"1234567"}"#.to_vec();
    body.extend_from_slice(&[0, 0xff, 0xfe, b'\r', b'\n', 0x80]);
    body
}

async fn tls_proxy(recorder: &Recorder) -> TestProxy {
    TestProxy::visma(&recorder.url()).start().await
}

#[tokio::test]
async fn signed_delivery_over_http1_arrives_byte_for_byte() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let body = binary_body();
    let target = "/webhooks/visma/customers?tenant=1234567&q=a%2Fb&empty=";
    let signature = visma_signature(SECRET_A, &body);
    // Written by hand so names keep their case and order exactly as a sender wrote them.
    let sent_headers: Vec<(String, String)> = [
        ("Host", "hooks.example.com"),
        ("Content-Type", "application/json"),
        ("X-VWD-Tenant-Id", "1234567"),
        ("x-vwd-event-id", "evt-42"),
        ("X-Vwd-Signature-V1", signature.as_str()),
        ("x-repeated", "one"),
        ("x-repeated", "two"),
        ("x-request-id", "sender-chosen-id"),
        ("Content-Length", &body.len().to_string()),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let mut raw = format!("POST {target} HTTP/1.1\r\n");
    for (name, value) in &sent_headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(&body);

    let response = proxy
        .raw_exchange(&raw, std::time::Duration::from_secs(5))
        .await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    // The upstream's header names and values come back as the upstream wrote them.
    assert!(
        response.contains("\r\nX-Upstream-Header: Kept-As-Is\r\n"),
        "{response}"
    );
    assert!(
        response.contains("\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with(&format!(
            "{{\"received\": true, \"bytes\": {}}}",
            body.len()
        )),
        "{response}"
    );

    let seen = recorder.requests().await;
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.request_line, format!("POST {target} HTTP/1.1"));
    assert_eq!(seen.body(), body);
    // Same headers, same order, same case; Connection (hop-by-hop) removed.
    assert_eq!(seen.headers, sent_headers);
    assert_eq!(proxy.requests_total("/webhooks/visma", "forwarded"), 1.0);
}

#[tokio::test]
async fn upstream_response_passes_through_over_hyper_http1() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let body = binary_body();
    let request = proxy.visma_request("/webhooks/visma?hw_status=201", &body, None);
    let (status, headers, response_body) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(headers["x-upstream-header"], "Kept-As-Is");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(
        &response_body[..],
        format!("{{\"received\": true, \"bytes\": {}}}", body.len()).as_bytes()
    );
    assert_eq!(recorder.requests().await[0].body(), body);
}

#[tokio::test]
async fn signed_delivery_over_http2_takes_host_from_authority() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let body = binary_body();
    let request = Request::post(proxy.url("/webhooks/visma?x=1"))
        .header("x-vwd-signature-v1", visma_signature(SECRET_B, &body))
        .header("x-vwd-notification-id", "n-1")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let (status, headers, _) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers["x-upstream-header"], "Kept-As-Is");

    let seen = &recorder.requests().await[0];
    assert_eq!(seen.request_line, "POST /webhooks/visma?x=1 HTTP/1.1");
    assert_eq!(seen.body(), body);
    let names: Vec<&str> = seen.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "host");
    assert_eq!(
        seen.header("host"),
        Some(format!("localhost:{}", proxy.proxy_addr.port()).as_str())
    );
    assert_eq!(seen.header("x-vwd-notification-id"), Some("n-1"));
    // hookwall made up a request id and passed it on.
    assert_eq!(seen.header("x-request-id").map(str::len), Some(32));
}

#[tokio::test]
async fn curl_over_http1_and_http2_with_a_chunked_body() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let body_file = proxy.dir().join("body.json");
    let body = br#"{"event":"InvoiceCreated","id":7}"#;
    std::fs::write(&body_file, body).unwrap();
    let signature = format!("x-vwd-signature-v1: {}", visma_signature(SECRET_A, body));
    let data = format!("@{}", body_file.display());
    let url = proxy.url("/webhooks/visma");
    for (version, extra) in [
        ("--http1.1", None),
        ("--http2", None),
        ("--http1.1", Some("Transfer-Encoding: chunked")),
    ] {
        let mut args = vec![
            version,
            "--data-binary",
            &data,
            "-H",
            &signature,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
        ];
        if let Some(header) = extra {
            args.extend(["-H", header]);
        }
        args.push(&url);
        let output = proxy.curl(&args).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let expected_version = if version == "--http2" { "2" } else { "1.1" };
        assert_eq!(
            stdout,
            format!("200 {expected_version}"),
            "{version} {extra:?}: {output:?}"
        );
    }
    let seen = recorder.requests().await;
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.body(), body);
        assert!(request.header("transfer-encoding").is_none());
        assert_eq!(request.header("content-length"), Some("33"));
    }
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let body = b"{}";
    let request = Request::post(proxy.url("/webhooks/visma"))
        .header("host", "localhost")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "private")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .header("proxy-authorization", "Basic abc")
        .header("x-end-to-end", "kept")
        .header("x-vwd-signature-v1", visma_signature(SECRET_A, body))
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200);
    let seen = &recorder.requests().await[0];
    let names: Vec<String> = seen.headers.iter().map(|(n, _)| n.to_lowercase()).collect();
    for dropped in [
        "connection",
        "x-hop",
        "keep-alive",
        "te",
        "trailer",
        "proxy-authorization",
    ] {
        assert!(
            !names.contains(&dropped.to_string()),
            "{dropped} was forwarded: {names:?}"
        );
    }
    assert_eq!(seen.header("x-end-to-end"), Some("kept"));
}

/// Sends a refused request and checks status, metric and that the upstream never saw it.
async fn assert_refused(
    proxy: &TestProxy,
    recorder: &Recorder,
    request: Request<Full<Bytes>>,
    status: u16,
    route: &str,
    outcome: &str,
) -> serde_json::Value {
    let before = proxy.requests_total(route, outcome);
    let (got, headers, body) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(
        got.as_u16(),
        status,
        "{outcome}: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        proxy.requests_total(route, outcome),
        before + 1.0,
        "{outcome}"
    );
    assert!(
        recorder.requests().await.is_empty(),
        "{outcome} reached the upstream"
    );
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers.contains_key("x-request-id"));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"], outcome);
    if status == 401 {
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("x-vwd-signature-v1"), "{challenge}");
    }
    json
}

#[tokio::test]
async fn every_signature_failure_is_401_with_its_reason_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let body = b"{\"a\":1}";
    let valid = visma_signature(SECRET_A, body);
    let route = "/webhooks/visma";

    let mut unsigned = proxy.visma_request(route, body, None);
    unsigned.headers_mut().remove("x-vwd-signature-v1");
    let json = assert_refused(&proxy, &recorder, unsigned, 401, route, "missing_signature").await;
    assert_eq!(json["reason"], "missing");

    let empty = proxy.visma_request(route, body, Some(""));
    let json = assert_refused(&proxy, &recorder, empty, 401, route, "missing_signature").await;
    assert_eq!(json["reason"], "empty");

    let not_base64 = proxy.visma_request(route, body, Some("%%%not-base64%%%"));
    let json = assert_refused(
        &proxy,
        &recorder,
        not_base64,
        401,
        route,
        "malformed_signature",
    )
    .await;
    assert_eq!(json["reason"], "bad_encoding");

    let short = proxy.visma_request(route, body, Some("c2hvcnQ="));
    let json = assert_refused(&proxy, &recorder, short, 401, route, "malformed_signature").await;
    assert_eq!(json["reason"], "wrong_length");

    let mut duplicated = proxy.visma_request(route, body, None);
    duplicated
        .headers_mut()
        .append("x-vwd-signature-v1", valid.parse().unwrap());
    let json = assert_refused(
        &proxy,
        &recorder,
        duplicated,
        401,
        route,
        "malformed_signature",
    )
    .await;
    assert_eq!(json["reason"], "duplicate");

    let wrong_secret = proxy.visma_request(route, body, Some(&visma_signature("guess", body)));
    let json = assert_refused(&proxy, &recorder, wrong_secret, 401, route, "bad_signature").await;
    assert_eq!(json["reason"], "mismatch");

    let tampered = proxy.visma_request(route, b"{\"a\":2}", Some(&valid));
    let json = assert_refused(&proxy, &recorder, tampered, 401, route, "bad_signature").await;
    // The refusal never shows the expected signature.
    assert!(
        !json
            .to_string()
            .contains(&visma_signature(SECRET_A, b"{\"a\":2}"))
    );
}

#[tokio::test]
async fn unknown_paths_are_404_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let body = b"{}";
    for path in ["/webhooks/vismax", "/", "/admin"] {
        // Signed correctly: the path alone decides.
        let request = proxy.visma_request(path, body, None);
        assert_refused(
            &proxy,
            &recorder,
            request,
            404,
            "unmatched",
            "unmatched_route",
        )
        .await;
    }
}

/// POSTs `body_file` to the Visma route with curl, with `options` and the `signature` header
/// line and without `Expect: 100-continue`; stdout is the status curl saw.
async fn curl_post_file(
    proxy: &TestProxy,
    options: &[&str],
    signature: &str,
    body_file: &std::path::Path,
) -> std::process::Output {
    let data = format!("@{}", body_file.display());
    let url = proxy.url("/webhooks/visma");
    let mut args = options.to_vec();
    args.extend([
        "-H",
        "Expect:",
        "-H",
        signature,
        "--data-binary",
        &data,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url,
    ]);
    proxy.curl(&args).await
}

#[tokio::test]
async fn oversized_bodies_are_413_by_length_and_by_counted_stream() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url())
        .limits(|l| l.max_body_bytes(1000))
        .start()
        .await;
    let big = vec![b'x'; 1001];
    let request = proxy.visma_request("/webhooks/visma", &big, None);
    let (status, headers, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 413);
    assert_eq!(headers["connection"], "close");

    // Exactly at the limit is fine.
    let request = proxy.visma_request("/webhooks/visma", &big[..1000], None);
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200);

    // Chunked, so only counting the streamed bytes can catch it; curl keeps sending.
    let body_file = proxy.dir().join("big.bin");
    std::fs::write(&body_file, vec![b'y'; 200_000]).unwrap();
    let signature = format!("x-vwd-signature-v1: {}", visma_signature(SECRET_A, b""));
    let output = curl_post_file(
        &proxy,
        &["--http1.1", "-H", "Transfer-Encoding: chunked"],
        &signature,
        &body_file,
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "413", "{output:?}");
    assert_eq!(
        proxy.requests_total("/webhooks/visma", "body_too_large"),
        2.0
    );
    assert_eq!(recorder.requests().await.len(), 1);
}

#[tokio::test]
async fn a_sender_still_writing_a_huge_body_reads_the_413() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url())
        .limits(|l| l.max_body_bytes(1024))
        .start()
        .await;
    // 8 MiB with Content-Length and no Expect: curl writes the body while hookwall has
    // already answered; without a lingering close the reset would lose the 413.
    let body_file = proxy.dir().join("huge.bin");
    std::fs::write(&body_file, vec![b'z'; 8 * 1024 * 1024]).unwrap();
    let signature = "x-vwd-signature-v1: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    for version in ["--http1.1", "--http2"] {
        let output = curl_post_file(&proxy, &[version], signature, &body_file).await;
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "413",
            "{version}: {output:?}"
        );
    }
    assert!(recorder.requests().await.is_empty());
}

#[tokio::test]
async fn dead_upstream_is_502_and_slow_upstream_is_504() {
    // A port nothing listens on: bind, note it, close.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let proxy = TestProxy::visma(&format!("http://{dead_addr}"))
        .start()
        .await;
    let request = proxy.visma_request("/webhooks/visma", b"{}", None);
    let (status, _, body) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        proxy.requests_total("/webhooks/visma", "upstream_unavailable"),
        1.0
    );

    let recorder = Recorder::start().await;
    let slow = TestProxy::visma(&recorder.url())
        .upstream_with(|u| u.timeout(Duration::from_millis(300)))
        .start()
        .await;
    let request = slow.visma_request("/webhooks/visma?hw_delay=2", b"{}", None);
    let started = std::time::Instant::now();
    let (status, _, _) = slow.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 504);
    assert!(started.elapsed() < std::time::Duration::from_millis(1500));
    assert_eq!(
        slow.requests_total("/webhooks/visma", "upstream_timeout"),
        1.0
    );
}

#[tokio::test]
async fn upstream_status_and_errors_pass_through_and_are_counted() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let request = proxy.visma_request("/webhooks/visma?hw_status=503", b"{}", None);
    let (status, headers, _) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(headers["x-upstream-header"], "Kept-As-Is");
    assert_eq!(proxy.requests_total("/webhooks/visma", "forwarded"), 1.0);
    assert_eq!(
        proxy.metric(
            "hookwall_upstream_responses_total{route=\"/webhooks/visma\",status_class=\"5xx\"}"
        ),
        1.0
    );
    let count = proxy.metric("hookwall_upstream_duration_seconds_count{route=\"/webhooks/visma\"}");
    assert_eq!(count, 1.0);
}

#[tokio::test]
async fn upstream_connections_are_pooled_and_reused() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    for _ in 0..5 {
        let request = proxy.visma_request("/webhooks/visma", b"{}", None);
        let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
        assert_eq!(status, 200);
    }
    let ports: std::collections::HashSet<u16> = recorder
        .requests()
        .await
        .iter()
        .map(|r| r.client_port)
        .collect();
    assert_eq!(ports.len(), 1, "5 sequential deliveries used {ports:?}");
}

#[tokio::test]
async fn both_rotated_secrets_verify() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    for secret in [SECRET_A, SECRET_B] {
        let body = format!("{{\"signed_with\":\"{secret}\"}}");
        let signature = visma_signature(secret, body.as_bytes());
        let request = proxy.visma_request("/webhooks/visma", body.as_bytes(), Some(&signature));
        let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
        assert_eq!(status, 200, "{secret}");
    }
    assert_eq!(recorder.requests().await.len(), 2);
}

#[tokio::test]
async fn admin_endpoints_answer_and_metrics_use_route_names() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::builder()
        .upstream(&recorder.url())
        .route(RouteSpec::visma("/webhooks/visma").name("visma-customers"))
        .start()
        .await;
    let request = proxy.visma_request("/webhooks/visma", b"{}", None);
    proxy.send(Protocol::Http1, request).await.unwrap();

    let (status, _, _) = plain_get(proxy.admin_addr, "/livez").await;
    assert_eq!(status, 200);
    let (status, _, _) = plain_get(proxy.admin_addr, "/readyz").await;
    assert_eq!(status, 200);
    let (status, headers, body) = plain_get(proxy.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(
        metric_value(
            &text,
            "hookwall_requests_total{outcome=\"forwarded\",route=\"visma-customers\"}"
        ),
        1.0
    );
    for name in [
        "hookwall_request_duration_seconds_bucket",
        "hookwall_upstream_duration_seconds_bucket",
        "hookwall_in_flight_requests 0",
        &format!(
            "hookwall_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "hookwall_requests_total{outcome=\"unmatched_route\",route=\"unmatched\"} 0",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
}
