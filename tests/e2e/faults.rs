//! Faults on either side of hookwall: an upstream that is down, hangs, resets mid-response,
//! fails with 5xx or comes back; a client that goes away mid-body. Each gives a clear answer,
//! nothing is fabricated, and a verified request reaches the upstream at most once.

use crate::common::*;
use crate::hardening::*;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const ROUTE: &str = "/webhooks/visma";

async fn proxy_for(upstream: &str, settings: impl FnOnce(Upstream) -> Upstream) -> TestProxy {
    TestProxy::visma(upstream)
        .upstream_with(settings)
        .start()
        .await
}

/// `[upstream] timeout`, for the tests of an upstream that does not answer.
fn short_timeout(upstream: Upstream) -> Upstream {
    upstream.timeout(Duration::from_millis(500))
}

/// A recorder on a chosen port, so it can be stopped and started again at the same address.
async fn recorder_on(port: u16) -> tokio::process::Child {
    let mut command = Command::new("python3");
    command
        .arg(repo_path("tests/support/recorder.py"))
        .arg(port.to_string());
    spawn_ready(command).await.0
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn status_of(proxy: &TestProxy, protocol: Protocol, path: &str) -> u16 {
    let request = proxy.visma_request(path, b"{\"fault\":true}", None);
    proxy.send(protocol, request).await.unwrap().0.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_502_at_once_and_traffic_resumes_when_it_is_back() {
    let port = free_port();
    let proxy = proxy_for(&format!("http://127.0.0.1:{port}"), |u| u).await;
    let started = Instant::now();
    assert_eq!(status_of(&proxy, Protocol::Http1, ROUTE).await, 502);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(proxy.requests_total(ROUTE, "upstream_unavailable"), 1.0);

    let mut upstream = recorder_on(port).await;
    assert_eq!(status_of(&proxy, Protocol::Http1, ROUTE).await, 200);
    assert_eq!(status_of(&proxy, Protocol::Http2, ROUTE).await, 200);

    // Down again (the pooled connection dies with it), then back again.
    upstream.kill().await.unwrap();
    eventually(
        "502 once the upstream is gone",
        Duration::from_secs(5),
        || async { (status_of(&proxy, Protocol::Http1, ROUTE).await == 502).then_some(()) },
    )
    .await;
    let _upstream = recorder_on(port).await;
    eventually(
        "200 once the upstream is back",
        Duration::from_secs(5),
        || async { (status_of(&proxy, Protocol::Http2, ROUTE).await == 200).then_some(()) },
    )
    .await;
    assert!(proxy.requests_total(ROUTE, "forwarded") >= 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_upstream_is_504_at_the_timeout_and_is_not_retried() {
    let recorder = Recorder::start().await;
    let proxy = proxy_for(&recorder.url(), short_timeout).await;
    let started = Instant::now();
    let (status, _, body) = proxy
        .send(
            Protocol::Http1,
            proxy.visma_request("/webhooks/visma?hw_delay=3", b"{}", None),
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "504 after {took:?}; upstream.timeout is 500ms"
    );
    assert_eq!(proxy.requests_total(ROUTE, "upstream_timeout"), 1.0);
    assert_eq!(recorder.requests().await.len(), 1);

    // An upstream that accepts the connection and never reads or answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let accepted = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok(Ok((stream, _))) =
            tokio::time::timeout(Duration::from_secs(3), silent.accept()).await
        {
            held.push(stream);
        }
        held.len()
    });
    let proxy = proxy_for(&format!("http://{silent_addr}"), short_timeout).await;
    let started = Instant::now();
    assert_eq!(status_of(&proxy, Protocol::Http2, ROUTE).await, 504);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        accepted.await.unwrap(),
        1,
        "the request must not be retried"
    );
}

#[tokio::test]
async fn upstream_reset_mid_response_reaches_the_client_as_an_aborted_response() {
    let recorder = Recorder::start().await;
    let proxy = proxy_for(&recorder.url(), |u| u).await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let request = proxy.visma_request("/webhooks/visma?hw_partial=1&hw_body=1000", b"{}", None);
        let result = proxy.send(protocol, request).await;
        match result {
            Err(_) => {}
            Ok((status, _, body)) => panic!(
                "{protocol:?}: a truncated upstream response looked complete: {status}, {} of 1000 bytes",
                body.len()
            ),
        }
    }
    assert_eq!(recorder.requests().await.len(), 2, "no retries");
}

#[tokio::test]
async fn upstream_5xx_is_passed_through_unchanged_and_not_retried() {
    let recorder = Recorder::start().await;
    let proxy = proxy_for(&recorder.url(), |u| u).await;
    for (status, protocol) in [
        (500, Protocol::Http1),
        (502, Protocol::Http2),
        (503, Protocol::Http1),
        (504, Protocol::Http2),
    ] {
        let request = proxy.visma_request(
            &format!("/webhooks/visma?hw_status={status}"),
            b"{\"n\":1}",
            None,
        );
        let (got, headers, body) = proxy.send(protocol, request).await.unwrap();
        assert_eq!(got.as_u16(), status, "{protocol:?}");
        assert_eq!(headers["x-upstream-header"], "Kept-As-Is");
        assert_eq!(&body[..], b"{\"received\": true, \"bytes\": 7}");
    }
    assert_eq!(proxy.requests_total(ROUTE, "forwarded"), 4.0);
    assert_eq!(
        proxy.metric(
            "hookwall_upstream_responses_total{route=\"/webhooks/visma\",status_class=\"5xx\"}"
        ),
        4.0
    );
    assert_eq!(recorder.requests().await.len(), 4);
}

#[tokio::test]
async fn verified_request_reaches_the_upstream_at_most_once_even_when_it_resets() {
    let recorder = Recorder::start().await;
    let proxy = proxy_for(&recorder.url(), |u| u).await;
    for (n, protocol) in [Protocol::Http1, Protocol::Http2].into_iter().enumerate() {
        let started = Instant::now();
        assert_eq!(
            status_of(&proxy, protocol, "/webhooks/visma?hw_reset=1").await,
            502,
            "{protocol:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            recorder.requests().await.len(),
            n + 1,
            "{protocol:?}: the upstream saw the request more than once"
        );
    }
    assert_eq!(proxy.requests_total(ROUTE, "upstream_unavailable"), 2.0);
}

/// A signed head, then only part of the declared body.
fn partial_h1_request() -> Vec<u8> {
    let body = vec![b'p'; 1000];
    let mut raw = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\nx-vwd-signature-v1: {}\r\n\r\n",
        visma_signature(SECRET_A, &body)
    )
    .into_bytes();
    raw.extend_from_slice(&body[..100]);
    raw
}

#[tokio::test]
async fn http1_client_leaving_mid_body_is_never_forwarded_and_counted_body_incomplete() {
    let recorder = Recorder::start().await;
    let proxy = proxy_for(&recorder.url(), |u| u).await;
    let pem = proxy.cert.as_ref().unwrap().cert_pem.clone();
    let mut tls = tls_to(proxy.proxy_addr, &pem, Protocol::Http1)
        .await
        .unwrap();
    tls.write_all(&partial_h1_request()).await.unwrap();
    tls.flush().await.unwrap();
    eventually(
        "the request to be in flight",
        Duration::from_secs(2),
        || async { (proxy.metric("hookwall_in_flight_requests") == 1.0).then_some(()) },
    )
    .await;
    drop(tls);
    eventually(
        "the abandoned request to be counted",
        Duration::from_secs(3),
        || async { (proxy.requests_total(ROUTE, "body_incomplete") == 1.0).then_some(()) },
    )
    .await;
    assert_eq!(proxy.metric("hookwall_in_flight_requests"), 0.0);
    assert!(recorder.requests().await.is_empty());
}

async fn h2_partial_body(proxy: &TestProxy) -> RawH2 {
    let pem = proxy.cert.as_ref().unwrap().cert_pem.clone();
    let mut h2 = RawH2::connect(proxy.proxy_addr, &pem).await;
    let body = vec![b'p'; 1000];
    let mut frames = signed_post_headers(1, proxy.proxy_addr.port(), ROUTE, &body);
    frames.extend(frame_bytes(DATA, 0, 1, &body[..100]));
    h2.write(&frames).await.unwrap();
    eventually(
        "the request to be in flight",
        Duration::from_secs(2),
        || async { (proxy.metric("hookwall_in_flight_requests") == 1.0).then_some(()) },
    )
    .await;
    h2
}

/// Once the abandoned request has ended: it never reached the app and is counted (and
/// logged) as `body_incomplete`.
async fn assert_abandoned_mid_body(proxy: &TestProxy, recorder: &Recorder) {
    eventually("the request to end", Duration::from_secs(3), || async {
        (proxy.metric("hookwall_in_flight_requests") == 0.0).then_some(())
    })
    .await;
    assert!(recorder.requests().await.is_empty());
    assert_eq!(
        proxy.requests_total(ROUTE, "body_incomplete"),
        1.0,
        "a request abandoned mid-body must be counted (and logged) as body_incomplete"
    );
}

#[tokio::test]
async fn http2_client_resetting_mid_body_is_never_forwarded_and_counted_body_incomplete() {
    let recorder = Recorder::start().await;
    let proxy = proxy_for(&recorder.url(), |u| u).await;
    let mut h2 = h2_partial_body(&proxy).await;
    h2.write(&frame_bytes(RST_STREAM, 0, 1, &CANCEL.to_be_bytes()))
        .await
        .unwrap();
    assert_abandoned_mid_body(&proxy, &recorder).await;
}

#[tokio::test]
async fn http2_client_closing_mid_body_is_never_forwarded_and_counted_body_incomplete() {
    let recorder = Recorder::start().await;
    let proxy = proxy_for(&recorder.url(), |u| u).await;
    let h2 = h2_partial_body(&proxy).await;
    drop(h2);
    assert_abandoned_mid_body(&proxy, &recorder).await;
}
