//! Idle HTTP/1 keep-alive connections are parked (hyper's state and buffers released, the
//! TLS connection kept) and woken by their next bytes: whatever arrives after a pause — one
//! delivery, a pipelined pair, a head split across the pause, a refusal — is answered on the
//! same connection and forwarded byte for byte. `hookwall_connections_parked` shows it.

use crate::common::*;
use crate::hardening::*;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const ROUTE: &str = "/webhooks/visma";

fn signed_request(body: &[u8], signature_secret: &str) -> Vec<u8> {
    let mut request = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nx-vwd-signature-v1: {}\r\n\r\n",
        body.len(),
        visma_signature(signature_secret, body)
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Reads `count` complete HTTP/1 responses (each with a Content-Length) and returns their
/// status codes.
async fn read_responses<S: AsyncRead + Unpin>(stream: &mut S, count: usize) -> Vec<u16> {
    let mut buffer = Vec::new();
    let mut statuses = Vec::new();
    let mut chunk = [0u8; 4096];
    while statuses.len() < count {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = response.parse(&buffer) {
            let length: usize = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .expect("hookwall's answers carry a Content-Length");
            if buffer.len() >= head + length {
                statuses.push(response.code.unwrap());
                buffer.drain(..head + length);
                continue;
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .expect("the connection stays open");
        assert!(
            read > 0,
            "closed after {} of {count} answers",
            statuses.len()
        );
        buffer.extend_from_slice(&chunk[..read]);
    }
    assert!(buffer.is_empty(), "nothing more than the answers");
    statuses
}

/// A TLS HTTP/1 connection to the proxy.
async fn connect(proxy: &TestProxy) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let cert = &proxy.cert.as_ref().unwrap().cert_pem;
    tls_to(proxy.proxy_addr, cert, Protocol::Http1)
        .await
        .unwrap()
}

async fn parked_now(proxy: &TestProxy, expected: f64) {
    eventually(
        &format!("hookwall_connections_parked to be {expected}"),
        Duration::from_secs(5),
        || async { (proxy.metric("hookwall_connections_parked") == expected).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_parked_connection_answers_whatever_comes_next_on_the_same_connection() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url()).start().await;
    let mut tls = connect(&proxy).await;
    let bodies: Vec<Vec<u8>> = (1..=5)
        .map(|n| format!("{{\"delivery\":{n},\"text\":\"Zoë ✓\"}}").into_bytes())
        .collect();

    // A fresh connection is not parked before its first request (hyper's header timeout
    // guards it); after its answer it is.
    tls.write_all(&signed_request(&bodies[0], SECRET_A))
        .await
        .unwrap();
    assert_eq!(read_responses(&mut tls, 1).await, [200]);
    parked_now(&proxy, 1.0).await;

    // A pipelined pair wakes it; both are answered, in order.
    let mut pair = signed_request(&bodies[1], SECRET_A);
    pair.extend_from_slice(&signed_request(&bodies[2], SECRET_A));
    tls.write_all(&pair).await.unwrap();
    assert_eq!(read_responses(&mut tls, 2).await, [200, 200]);
    parked_now(&proxy, 1.0).await;

    // A head split across a pause: the first part wakes it, and it is not parked again
    // with half a request read.
    let split = signed_request(&bodies[3], SECRET_A);
    let (first, rest) = split.split_at(40);
    tls.write_all(first).await.unwrap();
    parked_now(&proxy, 0.0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(proxy.metric("hookwall_connections_parked"), 0.0);
    tls.write_all(rest).await.unwrap();
    assert_eq!(read_responses(&mut tls, 1).await, [200]);
    parked_now(&proxy, 1.0).await;

    // A forgery is refused with its body unread by the app, and the next delivery on the
    // connection is still read from the right place.
    let mut forged_then_genuine = signed_request(b"{\"forged\":true}", "not-the-secret");
    forged_then_genuine.extend_from_slice(&signed_request(&bodies[4], SECRET_A));
    tls.write_all(&forged_then_genuine).await.unwrap();
    assert_eq!(read_responses(&mut tls, 2).await, [401, 200]);

    let forwarded: Vec<Vec<u8>> = recorder.requests().await.iter().map(|r| r.body()).collect();
    let genuine = [0, 1, 2, 3, 4].map(|i| bodies[i].clone());
    assert_eq!(
        forwarded, genuine,
        "each genuine delivery forwarded once, unchanged"
    );
    assert_eq!(
        proxy.metric("hookwall_connections_open"),
        1.0,
        "one connection throughout"
    );
}

#[tokio::test]
async fn a_parked_connection_is_closed_at_the_keep_alive_timeout_and_counted() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url())
        .server(|s| s.header_read_timeout(Duration::from_millis(600)))
        .start()
        .await;
    let mut tls = connect(&proxy).await;
    tls.write_all(&signed_request(b"{}", SECRET_A))
        .await
        .unwrap();
    assert_eq!(read_responses(&mut tls, 1).await, [200]);
    assert!(
        closed_within(&mut tls, Duration::from_secs(5)).await,
        "a parked connection must still be closed when idle past header_read_timeout"
    );
    assert_eq!(proxy.metric("hookwall_connections_idle_closed_total"), 1.0);
    parked_now(&proxy, 0.0).await;
    assert_eq!(
        metric_or_zero(
            &proxy.metrics_text(),
            "hookwall_protocol_errors_total{kind=\"header_timeout\"}"
        ),
        0.0,
        "an idle sender is not a protocol error"
    );
}

#[tokio::test]
async fn a_parked_connection_makes_room_at_once_when_the_limit_is_reached() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url())
        .limits(|l| l.max_connections(1))
        .start()
        .await;
    let mut parked = connect(&proxy).await;
    parked
        .write_all(&signed_request(b"{\"n\":1}", SECRET_A))
        .await
        .unwrap();
    assert_eq!(read_responses(&mut parked, 1).await, [200]);
    parked_now(&proxy, 1.0).await;

    // A new sender at the limit: the parked connection is closed to make room, without
    // the graceful close's lingering, and the newcomer is served.
    let mut newcomer = connect(&proxy).await;
    newcomer
        .write_all(&signed_request(b"{\"n\":2}", SECRET_A))
        .await
        .unwrap();
    assert_eq!(read_responses(&mut newcomer, 1).await, [200]);
    assert!(
        closed_within(&mut parked, Duration::from_secs(2)).await,
        "the parked connection must be closed to make room"
    );
    assert_eq!(proxy.metric("hookwall_connections_evicted_total"), 1.0);
    // Its place is free while this side still holds its end open (a graceful close would
    // linger up to 5 s for it).
    eventually("one connection open", Duration::from_secs(2), || async {
        (proxy.metric("hookwall_connections_open") == 1.0).then_some(())
    })
    .await;
    assert_eq!(recorder.requests().await.len(), 2);
    drop(parked);
}
