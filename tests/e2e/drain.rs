//! Graceful drain of the real binary on SIGTERM: `/readyz` flips at once, HTTP/1 responses
//! ask senders to reconnect (`Connection: close`), HTTP/2 connections get GOAWAY while their
//! streams finish, in-flight requests get `shutdown_grace`, and under continuous keep-alive
//! load no request the proxy accepted is lost.

use crate::common::*;
use crate::hardening::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_secs(1);

/// The real binary with the usual Visma route, draining for `delay` then `grace`.
async fn draining(recorder: &Recorder, delay: Duration, grace: Duration) -> BinaryProxy {
    TestProxy::visma(&recorder.url())
        .server(|s| s.shutdown_delay(delay).shutdown_grace(grace))
        .start_binary()
        .await
}

async fn h1_connection(
    proxy: &BinaryProxy,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tls = tls_to(proxy.proxy_addr, &proxy.cert.cert_pem, Protocol::Http1)
        .await
        .unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flips_readyz_at_once_keeps_serving_with_connection_close_then_exits_0() {
    let recorder = Recorder::start().await;
    let mut proxy = draining(&recorder, Duration::from_secs(2), Duration::from_secs(5)).await;
    let delay = Duration::from_secs(2);
    assert_eq!(proxy.readyz().await, 200);

    // A pooled keep-alive connection opened before the signal.
    let mut pooled = h1_connection(&proxy).await;
    let response = pooled
        .send_request(proxy.signed_post("/webhooks/visma", b"{\"n\":1}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("connection").is_none());
    response.into_body().collect().await.unwrap();

    proxy.signal("TERM");
    let signalled = Instant::now();
    eventually(
        "/readyz to answer 503",
        Duration::from_millis(500),
        || async { (proxy.readyz().await == 503).then_some(()) },
    )
    .await;

    // During shutdown_delay: the pooled connection and a new one are still served, and each
    // response asks the sender to reconnect elsewhere.
    pooled.ready().await.unwrap();
    let response = pooled
        .send_request(proxy.signed_post("/webhooks/visma", b"{\"n\":2}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["connection"], "close");
    response.into_body().collect().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(2), pooled.ready())
            .await
            .expect("the client learns the connection is closing")
            .is_err(),
        "the pooled connection must not be reused after Connection: close"
    );
    let (status, headers, _) = proxy
        .send(
            Protocol::Http1,
            proxy.signed_post("/webhooks/visma", b"{\"n\":3}"),
        )
        .await
        .expect("new connections are still accepted during shutdown_delay");
    assert_eq!(status, 200);
    assert_eq!(headers["connection"], "close");
    assert!(
        signalled.elapsed() < delay,
        "the checks above must run inside shutdown_delay (took {:?})",
        signalled.elapsed()
    );

    let status = proxy.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() >= delay - Duration::from_millis(100),
        "exited {:?} after SIGTERM, before shutdown_delay ran out",
        signalled.elapsed()
    );
    assert_eq!(recorder.requests().await.len(), 3);
    proxy
        .wait_for_log("the drain's end", Duration::from_secs(1), |line| {
            line["message"] == "drained: every connection closed"
        })
        .await;
}

/// Sends `request` (to a slow upstream) on its own connection and returns once the upstream
/// has it: a request in flight when the test sends SIGTERM.
async fn in_flight_at_the_upstream(
    proxy: &BinaryProxy,
    recorder: &Recorder,
    request: http::Request<Full<Bytes>>,
) -> tokio::task::JoinHandle<Result<(http::StatusCode, http::HeaderMap, Bytes), String>> {
    let addr = proxy.proxy_addr;
    let cert = proxy.cert.cert_pem.clone();
    let in_flight = tokio::spawn(async move {
        let tls = tls_to(addr, &cert, Protocol::Http1).await.unwrap();
        exchange_h1(tls, request).await
    });
    eventually(
        "the upstream to receive the slow request",
        Duration::from_secs(5),
        || async { (recorder.requests().await.len() == 1).then_some(()) },
    )
    .await;
    in_flight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_in_flight_completes_within_the_grace_and_exit_is_0() {
    let recorder = Recorder::start().await;
    let mut proxy = draining(
        &recorder,
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .await;
    let request = proxy.signed_post("/webhooks/visma?hw_delay=1.5", b"{\"slow\":true}");
    let in_flight = in_flight_at_the_upstream(&proxy, &recorder, request).await;
    proxy.signal("TERM");
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the in-flight request finishes")
        .unwrap()
        .expect("the in-flight request gets its whole response");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"{\"received\": true, \"bytes\": 13}");
    let status = proxy.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_slower_than_the_grace_is_cut_off_exit_is_1_and_the_log_says_so() {
    let recorder = Recorder::start().await;
    let mut proxy = draining(
        &recorder,
        Duration::from_millis(100),
        Duration::from_secs(1),
    )
    .await;
    let request = proxy.signed_post("/webhooks/visma?hw_delay=6", b"{}");
    let in_flight = in_flight_at_the_upstream(&proxy, &recorder, request).await;
    proxy.signal("TERM");
    let signalled = Instant::now();
    let status = proxy.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(1), "requests were cut off");
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "exit must come at delay + grace, not when the upstream answers ({:?})",
        signalled.elapsed()
    );
    let line = proxy
        .wait_for_log("the cut-off report", Duration::from_secs(1), |line| {
            line["message"] == "shutdown_grace passed; cutting off what is left"
        })
        .await;
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["requests_cut"], 1, "{line}");
    assert_eq!(line["connections_cut"], 1, "{line}");
    let cut = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the client notices the cut")
        .unwrap();
    assert!(
        cut.is_err(),
        "a cut-off request must not look answered: {cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_connection_gets_goaway_while_its_in_flight_stream_completes() {
    let recorder = Recorder::start().await;
    let mut proxy = draining(
        &recorder,
        Duration::from_millis(300),
        Duration::from_secs(5),
    )
    .await;
    let mut h2 = RawH2::connect(proxy.proxy_addr, &proxy.cert.cert_pem).await;
    let port = proxy.proxy_addr.port();
    h2.write(&signed_post_headers(
        1,
        port,
        "/webhooks/visma?hw_delay=1",
        b"",
    ))
    .await
    .unwrap();
    eventually(
        "the upstream to receive stream 1",
        Duration::from_secs(5),
        || async { (recorder.requests().await.len() == 1).then_some(()) },
    )
    .await;
    proxy.signal("TERM");

    let mut goaway_at = None;
    let mut response_at = None;
    let mut stream_ended_at = None;
    let mut frames = 0;
    let closed = loop {
        match h2.next_frame(Duration::from_secs(5)).await {
            Ok(Some(frame)) => {
                frames += 1;
                if frame.goaway().is_some() && goaway_at.is_none() {
                    goaway_at = Some(frames);
                }
                if frame.stream == 1 && frame.kind == HEADERS {
                    assert!(frame.is_status_200(), "stream 1 must be answered 200");
                    response_at = Some(frames);
                }
                if frame.stream == 1 && frame.flags & END_STREAM != 0 {
                    stream_ended_at = Some(frames);
                }
                assert!(frame.reset_code().is_none(), "stream reset: {frame:?}");
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    let goaways: Vec<(u32, u32)> = h2.seen.iter().filter_map(|f| f.goaway()).collect();
    assert!(!goaways.is_empty(), "no GOAWAY on SIGTERM: {:?}", h2.seen);
    assert!(
        goaways.iter().all(|(_, code)| *code == NO_ERROR),
        "{goaways:?}"
    );
    assert!(
        goaways.last().unwrap().0 >= 1,
        "the final GOAWAY must keep stream 1: {goaways:?}"
    );
    let goaway_at = goaway_at.unwrap();
    let response_at = response_at.expect("stream 1 answered");
    assert!(
        goaway_at < response_at,
        "GOAWAY must come at once, before the slow stream's answer"
    );
    assert!(stream_ended_at.is_some(), "stream 1 must end normally");
    assert!(
        closed,
        "hookwall closes the connection once the stream is done"
    );
    let status = proxy.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

/// A connection that never sent a request (TLS done, ALPN h2, no preface) is idle: it must
/// not hold the drain for the whole grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_without_a_request_does_not_hold_the_drain() {
    let recorder = Recorder::start().await;
    let mut proxy = draining(
        &recorder,
        Duration::from_millis(100),
        Duration::from_secs(4),
    )
    .await;
    let _silent = tls_to(proxy.proxy_addr, &proxy.cert.cert_pem, Protocol::Http2)
        .await
        .unwrap();
    eventually(
        "the silent connection to be accepted",
        Duration::from_secs(2),
        || async {
            let text = proxy.metrics_text().await;
            (metric_or_zero(&text, "hookwall_connections_open") == 1.0).then_some(())
        },
    )
    .await;
    proxy.signal("TERM");
    let signalled = Instant::now();
    let status = proxy.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    let cut = proxy
        .stdout_lines()
        .into_iter()
        .find(|line| line.contains("shutdown_grace passed"));
    assert!(
        cut.is_none() && signalled.elapsed() < Duration::from_secs(2),
        "the drain waited {:?} for a connection that never sent a request: {cut:?}",
        signalled.elapsed()
    );
}

/// A sender that connected while hookwall still accepted must get its request served, even
/// when the request arrives a moment after the listener stopped: the connection was
/// accepted, and the sender cannot tell an unread request from a lost one. (Under load this
/// is the race that loses a request in `sigterm_under_keep_alive_load_loses_no_request`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_accepted_before_the_listener_stops_gets_its_first_request_served() {
    let recorder = Recorder::start().await;
    let mut proxy = draining(
        &recorder,
        Duration::from_millis(300),
        Duration::from_secs(5),
    )
    .await;
    proxy.signal("TERM");
    eventually("/readyz to answer 503", Duration::from_secs(1), || async {
        (proxy.readyz().await == 503).then_some(())
    })
    .await;
    // Connected (TLS and all) during shutdown_delay…
    let tls = tls_to(proxy.proxy_addr, &proxy.cert.cert_pem, Protocol::Http1)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    // …and the request leaves just after the listener stopped accepting.
    proxy
        .wait_for_log("the listener to stop", Duration::from_secs(2), |line| {
            line["message"] == "stopped accepting; waiting for in-flight requests"
        })
        .await;
    let answer = match sender
        .try_send_request(proxy.signed_post("/webhooks/visma", b"{\"late\":1}"))
        .await
    {
        Ok(response) => Ok(response.status()),
        Err(err) => Err(format!(
            "{} (hookwall {} the request)",
            err.error(),
            if err.message().is_some() {
                "closed the connection before the client could send"
            } else {
                "closed the connection without reading"
            }
        )),
    };
    assert_eq!(answer, Ok(http::StatusCode::OK));
    assert_eq!(
        proxy.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

/// What one load client saw.
#[derive(Default, Debug)]
struct Tally {
    /// 200s with their complete body.
    answered: u64,
    answered_after_sigterm: u64,
    /// HTTP/1 responses after SIGTERM that carried `Connection: close`.
    told_to_close: u64,
    /// Connection attempts that failed (TCP refused or reset during the TLS handshake),
    /// with how long after SIGTERM; no request was sent on them.
    refused_connects: Vec<Duration>,
    /// Requests the client library reports were never written (HTTP/1), or that an HTTP/2
    /// GOAWAY refused before they were processed; both are safe to resend and were resent.
    not_sent: u64,
    /// Requests that were (or may have been) sent and got no complete response.
    lost: Vec<String>,
}

struct Load {
    proxy_addr: std::net::SocketAddr,
    cert_pem: String,
    sigterm: OnceLock<Instant>,
    answered_total: AtomicU64,
    stop_by: OnceLock<Instant>,
}

impl Load {
    fn since_sigterm(&self) -> Option<Duration> {
        self.sigterm.get().map(|at| at.elapsed())
    }

    fn should_stop(&self, sent: u64) -> bool {
        sent >= 2_000 || self.stop_by.get().is_some_and(|by| Instant::now() >= *by)
    }

    fn request(&self, worker: usize, n: u64) -> http::Request<Full<Bytes>> {
        // Every eighth request is slow, so some are in flight when the listener stops.
        let path = if n % 8 == 7 {
            "/webhooks/visma?hw_delay=0.2"
        } else {
            "/webhooks/visma"
        };
        let body = format!("{{\"worker\":{worker},\"n\":{n}}}");
        signed_post(self.proxy_addr.port(), path, body.as_bytes())
    }

    /// Records a connection attempt that failed; returns whether the worker should stop.
    fn refused(&self, tally: &mut Tally, worker: usize, error: String) -> bool {
        match self.since_sigterm() {
            Some(after) => {
                tally.refused_connects.push(after);
                true
            }
            None => {
                tally.lost.push(format!(
                    "worker {worker}: connect failed before SIGTERM: {error}"
                ));
                true
            }
        }
    }

    async fn check_answer(
        &self,
        tally: &mut Tally,
        worker: usize,
        n: u64,
        response: http::Response<hyper::body::Incoming>,
    ) {
        let status = response.status();
        let closing = response
            .headers()
            .get("connection")
            .is_some_and(|v| v == "close");
        match response
            .into_body()
            .collect()
            .await
            .map(|body| body.to_bytes())
        {
            Ok(body) if status == 200 && body.starts_with(b"{\"received\": true") => {
                tally.answered += 1;
                self.answered_total.fetch_add(1, Ordering::Relaxed);
                if self.sigterm.get().is_some() {
                    tally.answered_after_sigterm += 1;
                    tally.told_to_close += u64::from(closing);
                }
            }
            Ok(_) => tally
                .lost
                .push(format!("worker {worker} request {n}: answered {status}")),
            Err(err) => tally
                .lost
                .push(format!("worker {worker} request {n}: body cut: {err}")),
        }
    }
}

type Sent = Result<
    http::Response<hyper::body::Incoming>,
    hyper::client::conn::TrySendError<http::Request<Full<Bytes>>>,
>;

/// A load client's keep-alive connection: HTTP/1 or HTTP/2, opened, checked and sent on
/// alike, so one loop drives both.
trait KeepAlive: Sized {
    const NAME: &'static str;
    async fn open(load: &Load) -> Result<Self, String>;
    async fn is_ready(&mut self) -> bool;
    async fn send(&mut self, request: http::Request<Full<Bytes>>) -> Sent;
    /// Whether a failed request was never processed, so resending it is safe.
    fn unsent(err: &hyper::client::conn::TrySendError<http::Request<Full<Bytes>>>) -> bool {
        err.message().is_some()
    }
}

struct Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl KeepAlive for Http1 {
    const NAME: &'static str = "HTTP/1";

    async fn open(load: &Load) -> Result<Self, String> {
        let tls = tls_to(load.proxy_addr, &load.cert_pem, Protocol::Http1).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Http1(sender))
    }

    async fn is_ready(&mut self) -> bool {
        self.0.ready().await.is_ok()
    }

    async fn send(&mut self, request: http::Request<Full<Bytes>>) -> Sent {
        self.0.try_send_request(request).await
    }
}

struct Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>);

impl KeepAlive for Http2 {
    const NAME: &'static str = "HTTP/2";

    async fn open(load: &Load) -> Result<Self, String> {
        let tls = tls_to(load.proxy_addr, &load.cert_pem, Protocol::Http2).await?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Http2(sender))
    }

    async fn is_ready(&mut self) -> bool {
        self.0.ready().await.is_ok()
    }

    async fn send(&mut self, request: http::Request<Full<Bytes>>) -> Sent {
        self.0.try_send_request(request).await
    }

    /// A GOAWAY also refuses the streams it did not process.
    fn unsent(err: &hyper::client::conn::TrySendError<http::Request<Full<Bytes>>>) -> bool {
        err.message().is_some() || refused_by_goaway(err.error())
    }
}

/// Whether an HTTP/2 request failed because the server's GOAWAY refused it unprocessed.
fn refused_by_goaway(err: &hyper::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<h2::Error>())
        .is_some_and(|h2| {
            h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR)
        })
}

/// Sends requests on one keep-alive connection at a time, reconnecting when it closes,
/// until the load stops, and tallies what came of each.
async fn load_client<C: KeepAlive>(load: Arc<Load>, worker: usize) -> Tally {
    let mut tally = Tally::default();
    let mut sender: Option<C> = None;
    let mut n = 0u64;
    let mut attempts = 0u64;
    while !load.should_stop(n) && attempts < 10_000 {
        attempts += 1;
        let usable = match sender.as_mut() {
            Some(open) => open.is_ready().await,
            None => false,
        };
        if !usable {
            match C::open(&load).await {
                Ok(new_sender) => sender = Some(new_sender),
                Err(err) => {
                    if load.refused(&mut tally, worker, err) {
                        break;
                    }
                    continue;
                }
            }
        }
        let request = load.request(worker, n);
        match sender.as_mut().unwrap().send(request).await {
            Ok(response) => load.check_answer(&mut tally, worker, n, response).await,
            Err(err) if C::unsent(&err) => {
                tally.not_sent += 1;
                sender = None;
                continue;
            }
            Err(err) => {
                tally.lost.push(format!(
                    "worker {worker} request {n} ({}, {:?} after SIGTERM): {:?}",
                    C::NAME,
                    load.since_sigterm(),
                    err.error()
                ));
                sender = None;
            }
        }
        n += 1;
    }
    tally
}

/// THE drain test: clients with pooled keep-alive connections (three HTTP/1, three HTTP/2)
/// send continuously while hookwall gets SIGTERM. Every request sent gets a complete
/// answer; the only failures allowed are connection attempts after the listener closed;
/// the upstream saw exactly the requests that were answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_keep_alive_load_loses_no_request() {
    let recorder = Recorder::start().await;
    let mut proxy = draining(&recorder, Duration::from_secs(1), Duration::from_secs(5)).await;
    let load = Arc::new(Load {
        proxy_addr: proxy.proxy_addr,
        cert_pem: proxy.cert.cert_pem.clone(),
        sigterm: OnceLock::new(),
        answered_total: AtomicU64::new(0),
        stop_by: OnceLock::new(),
    });
    let mut clients = Vec::new();
    for worker in 0..6 {
        let load = Arc::clone(&load);
        clients.push((
            worker % 2 == 0,
            tokio::spawn(async move {
                if worker % 2 == 0 {
                    load_client::<Http1>(load, worker).await
                } else {
                    load_client::<Http2>(load, worker).await
                }
            }),
        ));
    }
    eventually("the load to get going", Duration::from_secs(20), || async {
        (load.answered_total.load(Ordering::Relaxed) >= 60).then_some(())
    })
    .await;

    let _ = load.sigterm.set(Instant::now());
    let _ = load
        .stop_by
        .set(Instant::now() + DELAY + Duration::from_secs(3));
    proxy.signal("TERM");

    let mut tallies = Vec::new();
    for (http1, client) in clients {
        let tally = tokio::time::timeout(Duration::from_secs(20), client)
            .await
            .expect("load clients stop by themselves")
            .unwrap();
        tallies.push((http1, tally));
    }
    let status = proxy.wait_exit(Duration::from_secs(10)).await;

    let lost: Vec<&String> = tallies.iter().flat_map(|(_, t)| &t.lost).collect();
    assert!(
        lost.is_empty(),
        "requests lost in the drain: {lost:#?}\n{tallies:#?}"
    );
    assert_eq!(status.code(), Some(0), "{tallies:#?}");
    for (http1, tally) in &tallies {
        assert!(
            tally.answered_after_sigterm > 0,
            "load must continue into the drain: {tally:?}"
        );
        assert!(
            tally
                .refused_connects
                .iter()
                .all(|after| *after >= DELAY - Duration::from_millis(100)),
            "connections refused while hookwall should still accept: {tally:?}"
        );
        if *http1 {
            assert!(tally.told_to_close > 0, "{tally:?}");
        }
    }
    let answered: u64 = tallies.iter().map(|(_, t)| t.answered).sum();
    let seen = recorder.requests().await.len() as u64;
    assert_eq!(
        seen, answered,
        "the upstream saw {seen} requests but {answered} were answered: {tallies:#?}"
    );
    eprintln!("drain under load: {answered} answered; {tallies:?}");
}
