//! What an attacker tried against hookwall (issue 9), each over HTTP/1.1 and HTTP/2 where
//! both apply: a captured delivery pointed at another path, Host games, CONNECT and TRACE,
//! and an app that answers with broken framing. Every refusal has its status and metric and
//! never reaches the app.

use crate::common::*;
use http::Request;
use http_body_util::Full;
use std::time::Duration;

const ROUTE: &str = "/webhooks/visma";
const WAIT: Duration = Duration::from_secs(3);

async fn start(recorder: &Recorder) -> TestProxy {
    TestProxy::visma(&recorder.url()).start().await
}

/// Writes `raw` on a new TLS connection and returns the answer's head, which must arrive
/// within [`WAIT`] although the request's body never does.
async fn answer_head(proxy: &TestProxy, raw: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(proxy.proxy_addr)
        .await
        .unwrap();
    let pem = &proxy.cert.as_ref().unwrap().cert_pem;
    let mut tls = tls_connect(stream, pem, Protocol::Http1).await.unwrap();
    tls.write_all(raw).await.unwrap();
    let mut head = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut buffer = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed before answering");
            head.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within {WAIT:?}: the body was waited for"
    );
    response_text(head)
}

fn response_text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Spellings of `..` that apps resolve (Node's URL reads `\` as `/`, Java servers cut
/// `;params`, most decode `%2e`, `%2f`, `%5c`): a genuine delivery re-sent to any of them
/// could reach `/webhooks/admin` in the app.
const DOT_SEGMENT_PATHS: [&str; 7] = [
    "/webhooks/visma/..\\admin",
    "/webhooks/visma/..;/admin",
    "/webhooks/visma/..%2Fadmin",
    "/webhooks/visma/%2e%2e%2fadmin",
    "/webhooks/visma/..%5Cadmin",
    "/webhooks/visma/%2E%2E/admin",
    "/webhooks/visma/../admin",
];

#[tokio::test]
async fn dot_segments_in_every_spelling_are_400_over_both_protocols_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let body = b"{\"captured\":true}";
    for path in DOT_SEGMENT_PATHS {
        for protocol in [Protocol::Http1, Protocol::Http2] {
            let request = proxy.visma_request(path, body, None);
            let (status, _, answer) = proxy.send(protocol, request).await.unwrap();
            assert_eq!(status, 400, "{path} over {protocol:?}: {answer:?}");
            let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            assert_eq!(json["error"], "invalid_request", "{path}");
        }
    }
    assert!(recorder.requests().await.is_empty());
    let refused = DOT_SEGMENT_PATHS.len() as f64 * 2.0;
    assert_eq!(
        proxy.requests_total("unmatched", "invalid_request"),
        refused
    );
}

#[tokio::test]
async fn a_path_whose_lenient_reading_routes_elsewhere_is_400() {
    let recorder = Recorder::start().await;
    // A catch-all route with another secret: the raw path matches it, the app's reading of
    // the path is the Visma route.
    let catch_all = RouteSpec::new("/", "visma")
        .name("rest")
        .secret_files(["secret-b"]);
    let proxy = TestProxy::visma(&recorder.url())
        .route(catch_all)
        .start()
        .await;
    for path in [
        "/webhooks\\visma",
        "/webhooks%2Fvisma",
        "/webhooks;a=b/visma",
    ] {
        let request = proxy.visma_request(path, b"{}", None);
        let (status, _, _) = proxy.send(Protocol::Http2, request).await.unwrap();
        assert_eq!(status, 400, "{path}");
    }
    assert!(recorder.requests().await.is_empty());
}

#[tokio::test]
async fn an_accepted_request_reaches_the_app_with_its_path_byte_for_byte() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let target = "/webhooks/visma/a%2Fb/%7Ec;v=1?x=%2e%2e&y=..";
    for protocol in [Protocol::Http1, Protocol::Http2] {
        recorder.clear().await;
        let request = proxy.visma_request(target, b"{}", None);
        let (status, _, _) = proxy.send(protocol, request).await.unwrap();
        assert_eq!(status, 200, "{protocol:?}");
        let seen = recorder.requests().await;
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].target, target, "{protocol:?}");
    }
}

#[tokio::test]
async fn a_missing_repeated_or_invalid_host_is_400_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let body = b"{}";
    let signature = visma_signature(SECRET_A, body);
    let head = |hosts: &str| {
        format!(
            "POST {ROUTE} HTTP/1.1\r\n{hosts}Content-Length: 2\r\nx-vwd-signature-v1: {signature}\r\n\r\n{{}}"
        )
    };
    for (what, hosts) in [
        ("no Host", String::new()),
        ("two Host fields", "Host: a\r\nHost: b\r\n".to_string()),
        ("a space", "Host: a b\r\n".to_string()),
        ("userinfo", "Host: user@localhost\r\n".to_string()),
        ("a port over 65535", "Host: localhost:70000\r\n".to_string()),
    ] {
        let answer = response_text(proxy.raw_exchange(head(&hosts).as_bytes(), WAIT).await);
        assert!(answer.starts_with("HTTP/1.1 400"), "{what}: {answer}");
        assert!(answer.contains("invalid_request"), "{what}: {answer}");
    }
    // The control: the same request with one valid Host is forwarded.
    let answer = response_text(
        proxy
            .raw_exchange(head("Host: localhost\r\n").as_bytes(), WAIT)
            .await,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(recorder.requests().await.len(), 1);

    // HTTP/2: a host field that disagrees with :authority.
    recorder.clear().await;
    let mut request = proxy.visma_request(ROUTE, body, None);
    request
        .headers_mut()
        .insert("host", "elsewhere.example".parse().unwrap());
    let (status, _, _) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 400);
    assert!(recorder.requests().await.is_empty());
    assert_eq!(proxy.requests_total(ROUTE, "invalid_request"), 6.0);
}

#[tokio::test]
async fn connect_and_trace_are_405_before_the_body_is_read_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    for method in ["CONNECT", "TRACE"] {
        // A body is announced and never sent: the answer must not wait for it.
        let head = format!(
            "{method} {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nx-vwd-signature-v1: {}\r\n\r\n",
            visma_signature(SECRET_A, b"")
        );
        let answer = answer_head(&proxy, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{method}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("\r\nallow: "),
            "{answer}"
        );
    }
    assert!(recorder.requests().await.is_empty());
    assert_eq!(proxy.requests_total(ROUTE, "method_not_allowed"), 2.0);
}

#[tokio::test]
async fn a_route_with_methods_takes_only_those_and_answers_others_405_with_allow() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::builder()
        .upstream(&recorder.url())
        .route(
            RouteSpec::new(ROUTE, "visma")
                .name("visma")
                .methods(["POST", "PUT"])
                .secret_files(["secret-a"]),
        )
        .start()
        .await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let mut request = proxy.visma_request(ROUTE, b"{}", None);
        *request.method_mut() = http::Method::PATCH;
        let (status, headers, _) = proxy.send(protocol, request).await.unwrap();
        assert_eq!(status, 405, "{protocol:?}");
        assert_eq!(headers["allow"], "POST, PUT");
        let (status, _, _) = proxy
            .send(protocol, proxy.visma_request(ROUTE, b"{}", None))
            .await
            .unwrap();
        assert_eq!(status, 200, "{protocol:?}");
    }
    let seen = recorder.requests().await;
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|request| request.request_line.starts_with("POST "))
    );
    assert_eq!(proxy.requests_total("visma", "method_not_allowed"), 2.0);
}

#[tokio::test]
async fn an_app_answer_with_length_beside_chunked_reaches_senders_whole() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let path = format!("{ROUTE}?hw_framing=length_and_chunked");
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let request = proxy.visma_request(&path, b"{}", None);
        let (status, headers, body) = proxy.send(protocol, request).await.unwrap();
        assert_eq!(status, 200, "{protocol:?}");
        assert_eq!(&body[..], b"hello world", "{protocol:?}");
        assert!(
            headers
                .get("content-length")
                .is_none_or(|length| length == "11"),
            "{protocol:?}: {headers:?}"
        );
    }
    // curl reads the answer as a sender would, over both protocols.
    for flag in ["--http1.1", "--http2"] {
        let url = proxy.url(&path);
        let signature = visma_signature(SECRET_A, b"{}");
        let output = proxy
            .curl(&[
                flag,
                "-H",
                &format!("x-vwd-signature-v1: {signature}"),
                "--data-binary",
                "{}",
                &url,
            ])
            .await;
        assert!(output.status.success(), "{flag}: {output:?}");
        assert_eq!(&output.stdout[..], b"hello world", "{flag}");
    }
}

#[tokio::test]
async fn an_unasked_101_from_the_app_is_502() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let path = format!("{ROUTE}?hw_status=101");
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let request: Request<Full<bytes::Bytes>> = proxy.visma_request(&path, b"{}", None);
        let (status, _, body) = proxy.send(protocol, request).await.unwrap();
        assert_eq!(status, 502, "{protocol:?}");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "upstream_bad_response");
    }
    assert_eq!(proxy.requests_total(ROUTE, "upstream_bad_response"), 2.0);
}
