//! Hostile input: request smuggling shapes, broken framing, abusive headers and signature
//! headers, HTTP/2 rapid reset. Each gets a clear status and a metric, nothing reaches the
//! upstream that should not, hookwall never panics and keeps serving genuine senders.

use crate::common::*;
use crate::hardening::*;
use bytes::Bytes;
use http_body_util::Full;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ROUTE: &str = "/webhooks/visma";
const WAIT: Duration = Duration::from_secs(3);

/// Panics raised outside the tests' own code (in hookwall or a dependency).
static PANICS: AtomicUsize = AtomicUsize::new(0);
static WATCH: Once = Once::new();

fn watch_for_panics() {
    WATCH.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_tests = info
                .location()
                .is_some_and(|location| location.file().starts_with("tests/"));
            if !in_tests {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// hookwall did not panic and still serves a genuine delivery.
async fn assert_unharmed(proxy: &TestProxy) {
    let request = proxy.visma_request(ROUTE, b"{\"genuine\":true}", None);
    let (status, _, _) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "hookwall panicked");
}

async fn start(recorder: &Recorder) -> TestProxy {
    watch_for_panics();
    TestProxy::visma(&recorder.url()).start().await
}

fn protocol_errors(proxy: &TestProxy, kind: &str) -> f64 {
    metric_or_zero(
        &proxy.metrics_text(),
        &format!("hookwall_protocol_errors_total{{kind=\"{kind}\"}}"),
    )
}

/// Sends raw HTTP/1.1 bytes and returns the text of everything hookwall answered.
async fn raw(proxy: &TestProxy, bytes: &[u8]) -> String {
    String::from_utf8_lossy(&proxy.raw_exchange(bytes, WAIT).await).into_owned()
}

fn status_lines(response: &str) -> usize {
    response.matches("HTTP/1.1 ").count()
}

fn signature(body: &[u8]) -> String {
    visma_signature(SECRET_A, body)
}

/// A signed request that would be forwarded if hookwall ever parsed it.
fn smuggled_request() -> String {
    format!(
        "POST /webhooks/visma?smuggled=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nx-vwd-signature-v1: {}\r\n\r\n{{}}",
        signature(b"{}")
    )
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_closed_and_nothing_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let sig = signature(b"hello");
    let shapes = [
        // CL shorter than the chunked body: a CL-reading hop would see "5\r\n" + a new request.
        format!(
            "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nx-vwd-signature-v1: {sig}\r\n\r\n5\r\nhello\r\n0\r\n\r\n{}",
            smuggled_request()
        ),
        // TE first, CL longer than the chunked body.
        format!(
            "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 300\r\nx-vwd-signature-v1: {sig}\r\n\r\n5\r\nhello\r\n0\r\n\r\n{}",
            smuggled_request()
        ),
        // CL: 0 with a chunked body.
        format!(
            "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\nx-vwd-signature-v1: {sig}\r\n\r\n5\r\nhello\r\n0\r\n\r\n{}",
            smuggled_request()
        ),
    ];
    for (n, shape) in shapes.iter().enumerate() {
        recorder.clear().await;
        let response = raw(&proxy, shape.as_bytes()).await;
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "shape {n}: {response}"
        );
        assert!(
            response.contains("Content-Length together with Transfer-Encoding"),
            "shape {n}: {response}"
        );
        assert_eq!(status_lines(&response), 1, "shape {n}: {response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("\r\nconnection: close\r\n"),
            "shape {n}: the connection must close after an ambiguous request: {response}"
        );
        let seen = recorder.requests().await;
        assert!(seen.is_empty(), "shape {n}: forwarded {seen:#?}");
    }
    assert_eq!(proxy.requests_total(ROUTE, "invalid_request"), 3.0);
    assert_eq!(proxy.requests_total(ROUTE, "forwarded"), 0.0);
    assert_unharmed(&proxy).await;
}

#[tokio::test]
async fn broken_framing_is_400_counted_as_a_protocol_error_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let sig = signature(b"{}");
    let cases = [
        (
            "duplicate differing Content-Length",
            format!(
                "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
            ),
        ),
        (
            "a Content-Length list",
            format!(
                "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2, 3\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
            ),
        ),
        (
            "obs-fold",
            format!(
                "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
            ),
        ),
        (
            "Content-Length overflowing 64 bits",
            format!(
                "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999999\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
            ),
        ),
        (
            "negative Content-Length",
            format!(
                "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
            ),
        ),
        (
            "a NUL byte in a header value",
            format!(
                "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\0b\r\nContent-Length: 2\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
            ),
        ),
        (
            "a space before the colon",
            format!(
                "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length : 2\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
            ),
        ),
    ];
    for (n, (what, request)) in cases.iter().enumerate() {
        let response = raw(&proxy, request.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{what}: {response}");
        assert_eq!(status_lines(&response), 1, "{what}: {response}");
        eventually(what, WAIT, || async {
            (protocol_errors(&proxy, "malformed_request") == (n + 1) as f64).then_some(())
        })
        .await;
    }
    assert!(recorder.requests().await.is_empty());
    assert_unharmed(&proxy).await;
}

#[tokio::test]
async fn transfer_codings_other_than_chunked_are_400_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let sig = signature(b"hello");
    let request = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\nx-vwd-signature-v1: {sig}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    let response = raw(&proxy, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response.contains("\"error\":\"invalid_request\""),
        "{response}"
    );
    assert_eq!(proxy.requests_total(ROUTE, "invalid_request"), 1.0);

    // Chunked not last: not even a request hyper will frame.
    let request = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, gzip\r\nx-vwd-signature-v1: {sig}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    let response = raw(&proxy, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(recorder.requests().await.is_empty());
    assert_unharmed(&proxy).await;
}

#[tokio::test]
async fn huge_declared_content_length_is_413_before_any_body_arrives() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let request = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000000\r\nx-vwd-signature-v1: {}\r\n\r\n",
        signature(b"")
    );
    let response = raw(&proxy, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(proxy.requests_total(ROUTE, "body_too_large"), 1.0);
    assert!(recorder.requests().await.is_empty());
    assert_unharmed(&proxy).await;
}

#[tokio::test]
async fn duplicate_signature_headers_are_401_malformed_over_http1_and_http2() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let sig = signature(b"{}");
    // The same valid signature twice, in different case: still ambiguous, still refused.
    let request = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nX-Vwd-Signature-V1: {sig}\r\nx-vwd-signature-v1: {sig}\r\n\r\n{{}}"
    );
    let response = raw(&proxy, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(response.contains("\"reason\":\"duplicate\""), "{response}");

    let mut request = proxy.visma_request(ROUTE, b"{}", None);
    request
        .headers_mut()
        .append("x-vwd-signature-v1", signature(b"other").parse().unwrap());
    let (status, _, body) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("\"reason\":\"duplicate\""));
    assert_eq!(proxy.requests_total(ROUTE, "malformed_signature"), 2.0);
    assert!(recorder.requests().await.is_empty());
    assert_unharmed(&proxy).await;
}

#[tokio::test]
async fn huge_and_non_ascii_signature_headers_are_401_malformed() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("12 KB of base64", b"A".repeat(12 * 1024), "wrong_length"),
        (
            "12 KB of non-base64",
            b"%".repeat(12 * 1024),
            "bad_encoding",
        ),
        ("UTF-8", "sïgnåtüre=".as_bytes().to_vec(), "not_ascii"),
        (
            "Latin-1 and 0xff",
            b"\xe9t\xe9\xff\xfe".to_vec(),
            "not_ascii",
        ),
    ];
    for (n, (what, value, reason)) in cases.iter().enumerate() {
        let mut request = format!(
            "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nx-vwd-signature-v1: "
        )
        .into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n\r\n{}");
        let response = raw(&proxy, &request).await;
        assert!(response.starts_with("HTTP/1.1 401"), "{what}: {response}");
        assert!(
            response.contains(&format!("\"reason\":\"{reason}\"")),
            "{what}: {response}"
        );
        assert_eq!(
            proxy.requests_total(ROUTE, "malformed_signature"),
            (n + 1) as f64,
            "{what}"
        );
    }
    // Over HTTP/2 as well (hyper's client refuses to send non-visible bytes, so base64 only).
    let mut request = proxy.visma_request(ROUTE, b"{}", None);
    request
        .headers_mut()
        .insert("x-vwd-signature-v1", "A".repeat(12 * 1024).parse().unwrap());
    let (status, _, _) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 401);
    assert!(recorder.requests().await.is_empty());
    assert_unharmed(&proxy).await;
}

#[tokio::test]
async fn huge_or_non_utf8_values_of_other_headers_are_forwarded_byte_for_byte() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let big = "z".repeat(12 * 1024);
    let mut request = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nx-vwd-signature-v1: {}\r\nX-Big: {big}\r\nX-Note: caf",
        signature(b"{}")
    )
    .into_bytes();
    request.extend_from_slice(b"\xe9 \xff\r\n\r\n{}");
    let response = raw(&proxy, &request).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = recorder.requests().await;
    assert_eq!(seen.len(), 1);
    // The recorder decodes header bytes as Latin-1, as HTTP/1.1 parsers do.
    assert_eq!(seen[0].header("x-note"), Some("caf\u{e9} \u{ff}"));
    assert_eq!(seen[0].header("x-big"), Some(big.as_str()));
    assert_unharmed(&proxy).await;
}

/// CVE-2023-44487: open streams and reset them at once, faster than they are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_rapid_reset_is_cut_off_counted_and_other_connections_are_unaffected() {
    let recorder = Recorder::start().await;
    let proxy = start(&recorder).await;
    let pem = proxy.cert.as_ref().unwrap().cert_pem.clone();

    // A genuine sender, busy on its own connection for the whole attack.
    let genuine = {
        let addr = proxy.proxy_addr;
        let pem = pem.clone();
        tokio::spawn(async move {
            let tls = tls_to(addr, &pem, Protocol::Http2).await.unwrap();
            let (mut sender, connection) = hyper::client::conn::http2::handshake(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(tls),
            )
            .await
            .unwrap();
            tokio::spawn(connection);
            let mut statuses = Vec::new();
            for n in 0..20 {
                let body = format!("{{\"genuine\":{n}}}");
                let request =
                    http::Request::post(format!("https://localhost:{}{ROUTE}", addr.port()))
                        .header(
                            "x-vwd-signature-v1",
                            visma_signature(SECRET_A, body.as_bytes()),
                        )
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                let response = sender.send_request(request).await.unwrap();
                statuses.push(response.status().as_u16());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses
        })
    };

    let mut attacker = RawH2::connect(proxy.proxy_addr, &pem).await;
    assert!(
        attacker
            .read_until(WAIT, |f| f.kind == SETTINGS && f.flags & ACK == 0)
            .await
    );
    let authority = format!("localhost:{}", proxy.proxy_addr.port());
    let block = hpack_block(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", &authority),
        (":path", "/rapid-reset"),
    ]);
    let mut burst = Vec::new();
    for n in 0..1000u32 {
        let stream = 1 + 2 * n;
        burst.extend(frame_bytes(HEADERS, END_HEADERS, stream, &block));
        burst.extend(frame_bytes(RST_STREAM, 0, stream, &CANCEL.to_be_bytes()));
    }
    // The server may close the connection before it has read everything.
    let _ = attacker.write(&burst).await;
    let mut goaway = None;
    attacker
        .read_until(Duration::from_secs(5), |frame| {
            goaway = frame.goaway();
            goaway.is_some()
        })
        .await;
    let (_, code) = goaway.expect("hookwall must answer a rapid reset with GOAWAY");
    assert_eq!(code, ENHANCE_YOUR_CALM);
    assert!(
        !attacker.read_until(WAIT, |_| false).await,
        "the connection must be closed"
    );
    // Counted when the connection task ends: at once here, since the attacker hangs up (an
    // attacker that stays connected is drained by the lingering close for up to 5 s first).
    drop(attacker);
    eventually(
        "the rapid reset to be counted",
        Duration::from_secs(7),
        || async { (protocol_errors(&proxy, "http2_too_many_resets") == 1.0).then_some(()) },
    )
    .await;

    let statuses = tokio::time::timeout(Duration::from_secs(20), genuine)
        .await
        .expect("the genuine sender finishes")
        .unwrap();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(recorder.requests().await.len(), 20);
    assert!(
        proxy.requests_total("unmatched", "unmatched_route") < 1000.0,
        "every reset stream was served anyway"
    );
    assert_unharmed(&proxy).await;
}
