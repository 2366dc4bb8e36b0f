//! Every limit that protects hookwall from slow, greedy or flooding clients, driven over real
//! TLS: header and body read timeouts, in-flight and connection limits (with eviction of idle
//! connections), header size and count, HTTP/2 streams and the HTTP/2 idle timeout.

use crate::common::*;
use crate::hardening::*;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROUTE: &str = "/webhooks/visma";

/// The timeouts a test waits out, and the ones it keeps out of the way.
const SHORT: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(30);

async fn proxy_with(
    recorder: &Recorder,
    server: impl FnOnce(Server) -> Server,
    limits: impl FnOnce(Limits) -> Limits,
) -> TestProxy {
    TestProxy::visma(&recorder.url())
        .server(server)
        .limits(limits)
        .start()
        .await
}

fn cert_pem(proxy: &TestProxy) -> String {
    proxy.cert.as_ref().unwrap().cert_pem.clone()
}

fn protocol_errors(proxy: &TestProxy, kind: &str) -> f64 {
    metric_or_zero(
        &proxy.metrics_text(),
        &format!("hookwall_protocol_errors_total{{kind=\"{kind}\"}}"),
    )
}

/// What a trickling sender saw.
struct Trickled {
    received: Vec<u8>,
    /// When the first response bytes arrived, after the first byte was sent.
    answered: Option<Duration>,
    /// When the server closed the connection (`None`: still open at the limit).
    closed: Option<Duration>,
}

/// Writes `head`, then `trickle` one byte every `every`, while reading.
async fn trickle(
    proxy: &TestProxy,
    head: &[u8],
    trickle: &[u8],
    every: Duration,
    limit: Duration,
) -> Trickled {
    let tls = tls_to(proxy.proxy_addr, &cert_pem(proxy), Protocol::Http1)
        .await
        .unwrap();
    let (mut reader, mut writer) = tokio::io::split(tls);
    let started = Instant::now();
    writer.write_all(head).await.unwrap();
    let trickled = trickle.to_vec();
    let writing = tokio::spawn(async move {
        for byte in trickled {
            tokio::time::sleep(every).await;
            if writer.write_all(&[byte]).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
        writer
    });
    let mut received = Vec::new();
    let mut answered = None;
    let closed = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(read) => {
                    answered.get_or_insert(started.elapsed());
                    received.extend_from_slice(&chunk[..read]);
                }
            }
        }
    })
    .await
    .ok();
    writing.abort();
    Trickled {
        received,
        answered,
        closed,
    }
}

#[tokio::test]
async fn slowloris_headers_are_cut_off_at_header_read_timeout() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s.header_read_timeout(SHORT), |l| l).await;
    let endless_headers =
        b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(4);
    let trickled = trickle(
        &proxy,
        b"POST /webhooks/visma HTTP/1.1\r\nHost: localhost\r\n",
        &endless_headers,
        Duration::from_millis(20),
        Duration::from_secs(4),
    )
    .await;
    let closed = trickled.closed.expect("a trickling sender must be cut off");
    assert!(
        closed >= Duration::from_millis(400) && closed < Duration::from_millis(2500),
        "closed after {closed:?}, header_read_timeout is 500ms"
    );
    eventually(
        "the header timeout to be counted",
        Duration::from_secs(2),
        || async { (protocol_errors(&proxy, "header_timeout") == 1.0).then_some(()) },
    )
    .await;
    assert!(recorder.requests().await.is_empty());
}

#[tokio::test]
async fn idle_http1_keep_alive_connection_is_closed_after_header_read_timeout() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s.header_read_timeout(SHORT), |l| l).await;
    let body = b"{}";
    let mut request = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nx-vwd-signature-v1: {}\r\n\r\n",
        visma_signature(SECRET_A, body)
    )
    .into_bytes();
    request.extend_from_slice(body);
    let trickled = trickle(
        &proxy,
        &request,
        b"",
        Duration::ZERO,
        Duration::from_secs(4),
    )
    .await;
    let text = String::from_utf8_lossy(&trickled.received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let closed = trickled
        .closed
        .expect("an idle keep-alive connection must be closed");
    assert!(
        closed < Duration::from_millis(2500),
        "closed after {closed:?}"
    );
}

#[tokio::test]
async fn slow_body_is_408_body_timeout_and_never_forwarded() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s, |l| l.body_read_timeout(SHORT)).await;
    let body = vec![b'b'; 64];
    let head = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 64\r\nx-vwd-signature-v1: {}\r\n\r\nbbbb",
        visma_signature(SECRET_A, &body)
    );
    let trickled = trickle(
        &proxy,
        head.as_bytes(),
        &body[4..],
        Duration::from_millis(100),
        Duration::from_secs(4),
    )
    .await;
    let text = String::from_utf8_lossy(&trickled.received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\":\"body_timeout\""), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    let answered = trickled.answered.unwrap();
    assert!(
        answered >= Duration::from_millis(400) && answered < Duration::from_millis(2500),
        "answered after {answered:?}, body_read_timeout is 500ms"
    );
    assert_eq!(proxy.requests_total(ROUTE, "body_timeout"), 1.0);
    assert!(recorder.requests().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_answers_503_with_retry_after_then_recovers() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s, |l| l.max_in_flight(1)).await;
    let slow = proxy.visma_request("/webhooks/visma?hw_delay=1", b"{\"slow\":1}", None);
    let addr = proxy.proxy_addr;
    let pem = cert_pem(&proxy);
    let first = tokio::spawn(async move {
        exchange_h1(tls_to(addr, &pem, Protocol::Http1).await.unwrap(), slow).await
    });
    eventually(
        "the slow request to be in flight",
        Duration::from_secs(5),
        || async { (recorder.requests().await.len() == 1).then_some(()) },
    )
    .await;

    for protocol in [Protocol::Http1, Protocol::Http2] {
        let request = proxy.visma_request(ROUTE, b"{\"second\":1}", None);
        let (status, headers, body) = proxy.send(protocol, request).await.unwrap();
        assert_eq!(status, 503, "{protocol:?}");
        assert_eq!(headers["retry-after"], "1");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "overloaded");
    }
    assert_eq!(proxy.requests_total(ROUTE, "overloaded"), 2.0);

    let (status, _, _) = first.await.unwrap().unwrap();
    assert_eq!(status, 200);
    let request = proxy.visma_request(ROUTE, b"{\"third\":1}", None);
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(recorder.requests().await.len(), 2);
}

/// An attacker holds connections open without sending a request (half of them without even
/// a TLS handshake); a genuine sender still gets through, by evicting the longest idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_flood_does_not_lock_out_a_genuine_delivery() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(
        &recorder,
        |s| s.tls_handshake_timeout(LONG).header_read_timeout(LONG),
        |l| l.max_connections(4),
    )
    .await;
    let mut flood = Vec::new();
    for n in 0..12 {
        if n % 2 == 0 {
            flood.push(Err(TcpStream::connect(proxy.proxy_addr).await.unwrap()));
        } else {
            // A completed handshake may itself be evicted by the next connection; that is fine.
            if let Ok(tls) = tls_to(proxy.proxy_addr, &cert_pem(&proxy), Protocol::Http1).await {
                flood.push(Ok(tls));
            }
        }
    }
    eventually(
        "the flood to be accepted",
        Duration::from_secs(5),
        || async { (proxy.metric("hookwall_connections_total") == 12.0).then_some(()) },
    )
    .await;

    let started = Instant::now();
    let request = proxy.visma_request(ROUTE, b"{\"genuine\":true}", None);
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    let evicted = proxy.metric("hookwall_connections_evicted_total");
    assert!(evicted >= 9.0, "evicted {evicted}");
    assert_eq!(
        proxy.metric("hookwall_connections_rejected_total{reason=\"max_connections\"}"),
        0.0
    );
    assert_eq!(recorder.requests().await.len(), 1);
    drop(flood);
}

/// `limits.max_connections` bounds memory, so it must hold even when idle connections
/// arrive faster than evicted ones finish closing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_idle_connections_never_leaves_more_than_max_connections_open() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(
        &recorder,
        |s| s.tls_handshake_timeout(LONG),
        |l| l.max_connections(4),
    )
    .await;
    let mut burst = Vec::new();
    for _ in 0..40 {
        burst.push(TcpStream::connect(proxy.proxy_addr).await.unwrap());
    }
    eventually(
        "the burst to be accepted",
        Duration::from_secs(5),
        || async { (proxy.metric("hookwall_connections_total") == 40.0).then_some(()) },
    )
    .await;
    let (open, still_open) = open_after_eviction(&proxy, burst, 4.0).await;
    assert!(
        open <= 4.0 && still_open <= 4,
        "max_connections = 4 but hookwall holds {open} open (clients see {still_open} open); evicted {}",
        proxy.metric("hookwall_connections_evicted_total")
    );
}

/// How many connections hookwall holds open once evicted ones had time to close (a correct
/// tracker settles at once; at most 3 s), and how many of `streams` the client still sees
/// open.
async fn open_after_eviction<S>(proxy: &TestProxy, streams: Vec<S>, limit: f64) -> (f64, usize)
where
    S: tokio::io::AsyncRead + Unpin,
{
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut open = proxy.metric("hookwall_connections_open");
    while open > limit && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        open = proxy.metric("hookwall_connections_open");
    }
    let mut still_open = 0;
    for mut stream in streams {
        still_open += usize::from(!closed_within(&mut stream, Duration::from_millis(50)).await);
    }
    (open, still_open)
}

/// Eviction must free the place of a connection that finished its TLS handshake but sent
/// no request: HTTP/1 (ALPN http/1.1) and HTTP/2 (ALPN h2, no connection preface).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_connections_past_the_tls_handshake_are_closed() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(
        &recorder,
        |s| s.header_read_timeout(LONG).idle_timeout(LONG),
        |l| l.max_connections(4),
    )
    .await;
    let pem = cert_pem(&proxy);
    let mut idle = Vec::new();
    for n in 0..12 {
        let protocol = if n % 2 == 0 {
            Protocol::Http1
        } else {
            Protocol::Http2
        };
        idle.push(tls_to(proxy.proxy_addr, &pem, protocol).await.unwrap());
    }
    let (status, _, _) = proxy
        .send(
            Protocol::Http1,
            proxy.visma_request(ROUTE, b"{\"genuine\":true}", None),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (open, still_open) = open_after_eviction(&proxy, idle, 4.0).await;
    assert!(
        open <= 4.0 && still_open <= 4,
        "max_connections = 4, yet {open} connections are open ({still_open} of the 12 idle ones); evicted {}",
        proxy.metric("hookwall_connections_evicted_total")
    );
}

#[tokio::test]
async fn fresh_tls_connection_without_a_request_is_closed_at_header_read_timeout() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s.header_read_timeout(SHORT), |l| l).await;
    let started = Instant::now();
    let mut tls = tls_to(proxy.proxy_addr, &cert_pem(&proxy), Protocol::Http1)
        .await
        .unwrap();
    assert!(
        closed_within(&mut tls, Duration::from_secs(4)).await,
        "still open"
    );
    assert!(started.elapsed() < Duration::from_millis(2500));
}

/// A client that completes TLS with ALPN h2 and never sends the HTTP/2 preface is idle.
#[tokio::test]
async fn http2_connection_that_never_sends_the_preface_is_closed_by_idle_timeout() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s.idle_timeout(SHORT), |l| l).await;
    let mut tls = tls_to(proxy.proxy_addr, &cert_pem(&proxy), Protocol::Http2)
        .await
        .unwrap();
    assert!(
        closed_within(&mut tls, Duration::from_secs(4)).await,
        "an h2 connection without a preface is still open 4 s after idle_timeout = 500ms; open connections: {}",
        proxy.metric("hookwall_connections_open")
    );
}

#[tokio::test]
async fn stalled_tls_handshake_is_closed_at_tls_handshake_timeout_and_counted() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s.tls_handshake_timeout(SHORT), |l| l).await;
    let started = Instant::now();
    let mut stalled = TcpStream::connect(proxy.proxy_addr).await.unwrap();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(4)).await,
        "still open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(2500),
        "closed after {took:?}"
    );
    eventually(
        "the failed handshake to be counted",
        Duration::from_secs(2),
        || async { (proxy.metric("hookwall_tls_handshake_failures_total") == 1.0).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_busy_a_newcomer_is_refused_and_counted() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s, |l| l.max_connections(2)).await;
    let mut slow = Vec::new();
    for n in 0..2 {
        let request = proxy.visma_request(
            "/webhooks/visma?hw_delay=1.5",
            format!("{{\"slow\":{n}}}").as_bytes(),
            None,
        );
        let addr = proxy.proxy_addr;
        let pem = cert_pem(&proxy);
        slow.push(tokio::spawn(async move {
            exchange_h1(tls_to(addr, &pem, Protocol::Http1).await.unwrap(), request).await
        }));
    }
    eventually(
        "both slow requests to be in flight",
        Duration::from_secs(5),
        || async { (recorder.requests().await.len() == 2).then_some(()) },
    )
    .await;
    let refused = proxy
        .send(
            Protocol::Http1,
            proxy.visma_request(ROUTE, b"{\"third\":1}", None),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(
        proxy.metric("hookwall_connections_rejected_total{reason=\"max_connections\"}"),
        1.0
    );
    for request in slow {
        assert_eq!(request.await.unwrap().unwrap().0, 200);
    }
    let (status, _, _) = proxy
        .send(
            Protocol::Http1,
            proxy.visma_request(ROUTE, b"{\"later\":1}", None),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn oversized_header_block_is_431_over_http1_and_http2() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s, |l| l.max_header_bytes(2048)).await;
    let big = "v".repeat(3000);
    let raw = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\nContent-Length: 0\r\n\r\n"
    );
    let response = proxy
        .raw_exchange(raw.as_bytes(), Duration::from_secs(3))
        .await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    eventually(
        "the oversized head to be counted",
        Duration::from_secs(2),
        || async { (protocol_errors(&proxy, "header_too_large") == 1.0).then_some(()) },
    )
    .await;

    let mut request = proxy.visma_request(ROUTE, b"{}", None);
    request.headers_mut().insert("x-big", big.parse().unwrap());
    let (status, _, _) = proxy.send(Protocol::Http2, request).await.unwrap();
    assert_eq!(status, 431);

    // Just under the limit is fine.
    let mut request = proxy.visma_request(ROUTE, b"{}", None);
    request
        .headers_mut()
        .insert("x-big", "v".repeat(1500).parse().unwrap());
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(recorder.requests().await.len(), 1);
}

fn with_headers(proxy: &TestProxy, count: usize) -> Request<Full<Bytes>> {
    let mut request = proxy.visma_request(ROUTE, b"{}", None);
    for n in 0..count {
        request.headers_mut().insert(
            format!("x-h{n}").parse::<http::HeaderName>().unwrap(),
            "1".parse().unwrap(),
        );
    }
    request
}

#[tokio::test]
async fn too_many_headers_is_431_over_http1() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s, |l| l.max_headers(20)).await;
    let (status, _, _) = proxy
        .send(Protocol::Http1, with_headers(&proxy, 30))
        .await
        .unwrap();
    assert_eq!(status, 431);
    eventually(
        "the header count to be counted",
        Duration::from_secs(2),
        || async { (protocol_errors(&proxy, "header_too_large") == 1.0).then_some(()) },
    )
    .await;
    let (status, _, _) = proxy
        .send(Protocol::Http1, with_headers(&proxy, 10))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(recorder.requests().await.len(), 1);
}

/// `limits.max_headers` must bound HTTP/2 requests too, not only HTTP/1.
#[tokio::test]
async fn too_many_headers_is_431_over_http2() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s, |l| l.max_headers(20)).await;
    let (status, _, _) = proxy
        .send(Protocol::Http2, with_headers(&proxy, 30))
        .await
        .unwrap();
    assert_eq!(
        status,
        431,
        "30 headers passed max_headers = 20 over HTTP/2; the upstream saw {:?}",
        recorder.requests().await.first().map(|r| r.headers.len())
    );
    assert!(recorder.requests().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_max_concurrent_streams_is_advertised_and_enforced() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s, |l| l.max_h2_streams(2)).await;
    let mut h2 = RawH2::connect(proxy.proxy_addr, &cert_pem(&proxy)).await;
    assert!(
        h2.read_until(Duration::from_secs(3), |f| f.kind == SETTINGS
            && f.flags & ACK == 0)
            .await
    );
    let advertised = h2.seen.last().unwrap().settings();
    assert!(
        advertised.contains(&(SETTINGS_MAX_CONCURRENT_STREAMS, 2)),
        "{advertised:?}"
    );
    // Our SETTINGS ACK (sent on reading) precedes these on the wire.
    let port = proxy.proxy_addr.port();
    let mut burst = Vec::new();
    for stream in [1, 3, 5] {
        burst.extend(signed_post_headers(
            stream,
            port,
            "/webhooks/visma?hw_delay=0.5",
            b"",
        ));
    }
    h2.write(&burst).await.unwrap();
    let mut answered = Vec::new();
    let mut refused = Vec::new();
    let done = h2
        .read_until(Duration::from_secs(5), |frame| {
            if frame.kind == HEADERS && frame.is_status_200() {
                answered.push(frame.stream);
            }
            if frame.reset_code() == Some(REFUSED_STREAM) {
                refused.push(frame.stream);
            }
            answered.len() + refused.len() == 3
        })
        .await;
    assert!(done, "frames: {:?}", h2.seen);
    answered.sort();
    assert_eq!(answered, [1, 3]);
    assert_eq!(refused, [5]);
    assert_eq!(recorder.requests().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connection_gets_goaway_after_idle_timeout_but_a_busy_one_does_not() {
    let recorder = Recorder::start().await;
    let proxy = proxy_with(&recorder, |s| s.idle_timeout(SHORT), |l| l).await;
    let started = Instant::now();
    let mut idle = RawH2::connect(proxy.proxy_addr, &cert_pem(&proxy)).await;
    assert!(
        idle.read_until(Duration::from_secs(4), |f| f.kind == GOAWAY)
            .await,
        "no GOAWAY: {:?}",
        idle.seen
    );
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(400) && after < Duration::from_millis(2500),
        "GOAWAY after {after:?}"
    );
    assert_eq!(idle.seen.last().unwrap().goaway().unwrap().1, NO_ERROR);
    assert!(
        !idle.read_until(Duration::from_secs(3), |_| false).await,
        "the connection must close after the GOAWAY"
    );
    assert_eq!(proxy.metric("hookwall_connections_idle_closed_total"), 1.0);

    // A request slower than idle_timeout keeps its connection busy, not idle.
    let mut busy = RawH2::connect(proxy.proxy_addr, &cert_pem(&proxy)).await;
    busy.write(&signed_post_headers(
        1,
        proxy.proxy_addr.port(),
        "/webhooks/visma?hw_delay=1.2",
        b"",
    ))
    .await
    .unwrap();
    let mut order = Vec::new();
    busy.read_until(Duration::from_secs(5), |frame| {
        if frame.kind == GOAWAY || (frame.kind == HEADERS && frame.stream == 1) {
            order.push(frame.kind);
        }
        frame.kind == GOAWAY
    })
    .await;
    assert_eq!(
        order,
        [HEADERS, GOAWAY],
        "the busy connection was sent GOAWAY before its answer: {:?}",
        busy.seen
    );
    assert!(busy.seen.iter().any(|f| f.stream == 1 && f.is_status_200()));
}
