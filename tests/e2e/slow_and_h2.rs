//! Issue 9, items 6–8, end to end: slow forged bodies over HTTP/1 and HTTP/2 hold only their
//! own share of unverified reads and are cut at the minimum body rate, while genuine
//! deliveries from elsewhere go through; every refusal reaches real HTTP/2 clients (curl,
//! httpx, Node's `http2`) intact whatever the body size; and a connection stalled before its
//! first byte of TLS or HTTP does not hold the shutdown.

use crate::common::*;
use crate::hardening::*;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

const ROUTE: &str = "/webhooks/visma";

// ---------------------------------------------------------------------------------------
// Item 6: slow bodies must not lock out genuine deliveries.

/// What each forged body declares; at one byte per [`TRICKLE_EVERY`] it would take 16 s.
const SLOW_BODY_LEN: usize = 64;
const TRICKLE_EVERY: Duration = Duration::from_millis(250);
/// `limits.body_rate_grace` left at its default.
const GRACE: Duration = Duration::from_secs(2);
/// How late after the grace a slow body may be cut (a loaded 2-core CI machine).
const CUT_MARGIN: Duration = Duration::from_secs(2);
/// How long a genuine delivery may take while the attack is on.
const PROMPT: Duration = Duration::from_secs(2);
/// Genuine deliveries sent at once during the attack, alternately over HTTP/1 and HTTP/2
/// (no more than the smallest `max_in_flight` below).
const GENUINE: usize = 4;

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TCP connection to `to` from `source` (all of 127.0.0.0/8 is loopback on Linux), so
/// that hookwall sees a client address of the test's choosing.
async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// A well-formed Visma signature made with the wrong secret: it can only fail once the
/// whole body has been read.
fn forged_signature() -> String {
    visma_signature("not-the-secret", &[b'x'; SLOW_BODY_LEN])
}

/// Who attacks, and how.
struct Attack {
    /// One entry per HTTP/2 connection: its source address and how many slow streams.
    h2: Vec<(IpAddr, usize)>,
    /// One entry per group of HTTP/1 connections: their source address and how many.
    h1: Vec<(IpAddr, usize)>,
}

/// The bounds on unverified body reads the attack runs into.
struct Bounds {
    per_source: usize,
    per_connection: usize,
}

impl Attack {
    fn streams(&self) -> usize {
        self.h2.iter().chain(&self.h1).map(|(_, n)| n).sum()
    }

    /// How many slow bodies hookwall reads at once (the rest are answered 503 at once): per
    /// connection at most `per_connection`, per source address at most `per_source`.
    fn admitted(&self, bounds: &Bounds) -> usize {
        let mut by_source: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for (source, streams) in &self.h2 {
            *by_source.entry(*source).or_default() += (*streams).min(bounds.per_connection);
        }
        for (source, connections) in &self.h1 {
            *by_source.entry(*source).or_default() += *connections;
        }
        by_source
            .values()
            .map(|held| (*held).min(bounds.per_source))
            .sum()
    }
}

/// What one slow stream was answered, timed from when its head was sent.
#[derive(Debug)]
struct SlowAnswer {
    status: u16,
    retry_after: Option<String>,
    /// The `error` field of hookwall's JSON answer.
    error: String,
    after: Duration,
}

fn json_error(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("(not hookwall's JSON: {:?})", String::from_utf8_lossy(body)))
}

/// Whether `received` holds a whole HTTP/1 response (head and Content-Length body).
fn whole_response(received: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = response.parse(received) else {
        return false;
    };
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    received.len() >= head_len + length
}

/// An HTTP/1 connection that sends a forged head with a Content-Length, then the body a byte
/// at a time, and reads until a whole response has come (the server may keep reading the
/// rest of the body for a while after answering), the server closes, or `limit` passes.
async fn slow_h1(
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    port: u16,
    limit: Duration,
) -> Result<SlowAnswer, String> {
    let (mut reader, mut writer) = tokio::io::split(tls);
    let head = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\nContent-Length: {SLOW_BODY_LEN}\r\nx-vwd-signature-v1: {}\r\n\r\n",
        forged_signature()
    );
    writer
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    writer.flush().await.map_err(|e| e.to_string())?;
    let sent = Instant::now();
    let trickling = tokio::spawn(async move {
        for _ in 0..SLOW_BODY_LEN {
            tokio::time::sleep(TRICKLE_EVERY).await;
            if writer.write_all(b"x").await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
        // Keep the write half open until aborted: the server decides when this ends.
        std::future::pending::<()>().await;
    });
    let mut received = Vec::new();
    let mut answered = None;
    let read = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    answered.get_or_insert_with(|| sent.elapsed());
                    received.extend_from_slice(&chunk[..n]);
                    if whole_response(&received) {
                        return;
                    }
                }
            }
        }
    })
    .await;
    trickling.abort();
    if read.is_err() {
        return Err(format!(
            "no whole answer and no close within {limit:?} (got {:?})",
            String::from_utf8_lossy(&received)
        ));
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(&received) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => {
            return Err(format!(
                "closed without a whole answer: {:?}",
                String::from_utf8_lossy(&received)
            ));
        }
    };
    let retry_after = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("retry-after"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned());
    Ok(SlowAnswer {
        status: response.code.unwrap_or(0),
        retry_after,
        error: json_error(&received[head_len..]),
        after: answered.unwrap_or_default(),
    })
}

/// One HTTP/2 connection carrying `streams` slow forged requests at once (the h2 crate's
/// client: one HEADERS frame with a Content-Length, then one-byte DATA frames).
async fn slow_h2(
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    port: u16,
    streams: usize,
    limit: Duration,
) -> Vec<Result<SlowAnswer, String>> {
    let (client, connection) = h2::client::handshake(tls).await.unwrap();
    let driving = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut running = JoinSet::new();
    for _ in 0..streams {
        let mut client = client.clone().ready().await.unwrap();
        let request = http::Request::post(format!("https://localhost:{port}{ROUTE}"))
            .header("content-type", "application/json")
            .header("content-length", SLOW_BODY_LEN)
            .header("x-vwd-signature-v1", forged_signature())
            .body(())
            .unwrap();
        let (response, mut send) = client.send_request(request, false).unwrap();
        let sent = Instant::now();
        running.spawn(async move {
            let answer = async {
                let response = response.await.map_err(|e| format!("stream error: {e}"))?;
                let after = sent.elapsed();
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                let mut body = response.into_body();
                let mut bytes = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.map_err(|e| format!("body error: {e}"))?;
                    let _ = body.flow_control().release_capacity(chunk.len());
                    bytes.extend_from_slice(&chunk);
                }
                Ok(SlowAnswer {
                    status,
                    retry_after,
                    error: json_error(&bytes),
                    after,
                })
            };
            let trickle = async move {
                for _ in 0..SLOW_BODY_LEN {
                    tokio::time::sleep(TRICKLE_EVERY).await;
                    if send.send_data(Bytes::from_static(b"x"), false).is_err() {
                        break;
                    }
                }
                std::future::pending::<()>().await;
            };
            tokio::select! {
                answer = tokio::time::timeout(limit, answer) => answer
                    .unwrap_or_else(|_| Err(format!("no answer within {limit:?}"))),
                _ = trickle => unreachable!("the trickle never ends by itself"),
            }
        });
    }
    let answers = running.join_all().await;
    driving.abort();
    answers
}

fn unverified_reads(proxy: &TestProxy) -> f64 {
    metric_or_zero(&proxy.metrics_text(), "hookwall_unverified_body_reads")
}

/// Runs `attack` against `proxy` (the forged streams from 127.0.0.2 and up) and, while every
/// admitted slow body is being read, sends genuine deliveries from 127.0.0.1 over HTTP/1 and
/// HTTP/2; then checks how the attack ended.
async fn slow_bodies_leave_genuine_deliveries_alone(
    recorder: &Recorder,
    proxy: &TestProxy,
    attack: Attack,
    bounds: Bounds,
) {
    let started = Instant::now();
    let pem = proxy.cert.as_ref().unwrap().cert_pem.clone();
    let addr = proxy.proxy_addr;
    let port = addr.port();
    let limit = GRACE + CUT_MARGIN + Duration::from_secs(2);
    let streams = attack.streams();
    let admitted = attack.admitted(&bounds);
    let refused = streams - admitted;

    // Every connection is set up (TLS and all) before the first forged head leaves, so the
    // slow bodies start within moments of each other.
    let mut connecting = JoinSet::new();
    for (index, (source, count)) in attack.h2.iter().chain(&attack.h1).enumerate() {
        let is_h2 = index < attack.h2.len();
        let connections = if is_h2 { 1 } else { *count };
        for _ in 0..connections {
            let (source, pem) = (*source, pem.clone());
            let protocol = if is_h2 {
                Protocol::Http2
            } else {
                Protocol::Http1
            };
            connecting.spawn(async move {
                let tcp = connect_from(source, addr).await;
                let tls = tls_connect(tcp, &pem, protocol).await.unwrap();
                (index, tls)
            });
        }
    }
    let connected = connecting.join_all().await;
    let mut attacking = JoinSet::new();
    for (index, tls) in connected {
        if index < attack.h2.len() {
            let streams = attack.h2[index].1;
            attacking.spawn(async move { slow_h2(tls, port, streams, limit).await });
        } else {
            attacking.spawn(async move { vec![slow_h1(tls, port, limit).await] });
        }
    }

    // Every forged body is either being read or already answered 503.
    eventually(
        "the slow bodies to be read or refused",
        GRACE / 2,
        || async {
            let text = proxy.metrics_text();
            let reading = metric_or_zero(&text, "hookwall_unverified_body_reads");
            let overloaded = metric_or_zero(
                &text,
                &format!("hookwall_requests_total{{outcome=\"overloaded\",route=\"{ROUTE}\"}}"),
            );
            (reading == admitted as f64 && overloaded == refused as f64).then_some(())
        },
    )
    .await;

    // Genuine deliveries from another address, all at once, each within PROMPT.
    let mut genuine = JoinSet::new();
    for n in 0..GENUINE {
        let protocol = if n % 2 == 0 {
            Protocol::Http1
        } else {
            Protocol::Http2
        };
        let body = format!("{{\"genuine\":{n}}}");
        let request = proxy.visma_request(ROUTE, body.as_bytes(), None);
        let pem = pem.clone();
        genuine.spawn(async move {
            let sent = Instant::now();
            let answer = tokio::time::timeout(PROMPT, async {
                let tcp = connect_from(loopback(1), addr).await;
                let tls = tls_connect(tcp, &pem, protocol).await?;
                match protocol {
                    Protocol::Http1 => exchange_h1(tls, request).await,
                    Protocol::Http2 => exchange_h2(tls, request).await,
                }
            })
            .await;
            (protocol, sent.elapsed(), answer)
        });
    }
    for (protocol, took, answer) in genuine.join_all().await {
        let (status, _, body) = answer
            .unwrap_or_else(|_| panic!("a genuine delivery over {protocol:?} took over {PROMPT:?}"))
            .unwrap_or_else(|err| panic!("a genuine delivery over {protocol:?} failed: {err}"));
        assert_eq!(
            status, 200,
            "genuine delivery over {protocol:?} after {took:?}: {body:?}"
        );
    }
    // The slow bodies were all still being read while the genuine ones went through.
    assert_eq!(
        unverified_reads(proxy),
        admitted as f64,
        "slow bodies ended before the genuine deliveries were done ({:?} into the attack)",
        started.elapsed()
    );
    assert_eq!(proxy.requests_total(ROUTE, "forwarded"), GENUINE as f64);

    // Each slow body is cut once the grace has passed (408 body_timeout), long before
    // limits.body_read_timeout (30 s); the extra streams were answered 503 at once.
    let answers: Vec<_> = attacking.join_all().await.into_iter().flatten().collect();
    assert_eq!(answers.len(), streams);
    let (mut cut, mut overloaded) = (0, 0);
    for answer in answers {
        let answer = answer.unwrap_or_else(|err| panic!("a slow stream: {err}"));
        match answer.status {
            408 => {
                assert_eq!(answer.error, "body_timeout", "{answer:?}");
                assert!(
                    answer.after >= GRACE && answer.after <= GRACE + CUT_MARGIN,
                    "a slow body was cut {:?} after its head (grace {GRACE:?}): {answer:?}",
                    answer.after
                );
                cut += 1;
            }
            503 => {
                assert_eq!(answer.error, "overloaded", "{answer:?}");
                assert_eq!(answer.retry_after.as_deref(), Some("1"), "{answer:?}");
                assert!(answer.after < GRACE, "a 503 took {:?}", answer.after);
                overloaded += 1;
            }
            _ => panic!("a slow stream was answered {answer:?}"),
        }
    }
    assert_eq!(
        (cut, overloaded),
        (admitted, refused),
        "(cut, refused) of {streams} slow streams"
    );
    assert_eq!(proxy.requests_total(ROUTE, "body_timeout"), admitted as f64);
    assert_eq!(proxy.requests_total(ROUTE, "overloaded"), refused as f64);
    assert_eq!(unverified_reads(proxy), 0.0);
    // Only the genuine deliveries reached the app.
    let reached = recorder.requests().await;
    assert_eq!(reached.len(), GENUINE);
    assert!(
        reached
            .iter()
            .all(|r| r.body().starts_with(b"{\"genuine\""))
    );
}

/// The scenario with hookwall's default limits: 200 slow forged streams, 100 of them
/// on two HTTP/2 connections and 100 on HTTP/1 connections, from four attacker addresses.
/// Without the fix they take every `max_in_flight` slot (128) and genuine deliveries get 503
/// until `body_read_timeout` (30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_slow_forged_bodies_with_default_limits_do_not_lock_out_genuine_deliveries() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url()).start().await;
    let attack = Attack {
        // 8 read per connection (max_unverified_per_connection), the other 42 each 503.
        h2: vec![(loopback(2), 50), (loopback(2), 50)],
        // 32 of the first 40 read (max_unverified_per_source), all 60 others.
        h1: vec![(loopback(3), 40), (loopback(4), 30), (loopback(5), 30)],
    };
    assert_eq!(attack.streams(), 200);
    let bounds = Bounds {
        per_source: 32,
        per_connection: 8,
    };
    assert_eq!(attack.admitted(&bounds), 108);
    slow_bodies_leave_genuine_deliveries_alone(&recorder, &proxy, attack, bounds).await;
}

/// Small bounds make each one visible: one attacker address holding two HTTP/2 connections
/// is held to `max_unverified_per_connection` on each, another opening seven HTTP/1
/// connections to `max_unverified_per_source`; the extra streams are 503 overloaded with
/// Retry-After, and with `max_in_flight = 4` genuine deliveries still get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_connection_and_per_source_bounds_answer_the_extra_slow_streams_503() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url())
        .limits(|l| {
            l.max_in_flight(4)
                .max_unverified_per_connection(2)
                .max_unverified_per_source(5)
        })
        .start()
        .await;
    let attack = Attack {
        h2: vec![(loopback(2), 4), (loopback(2), 4)],
        h1: vec![(loopback(3), 7)],
    };
    let bounds = Bounds {
        per_source: 5,
        per_connection: 2,
    };
    assert_eq!((attack.streams(), attack.admitted(&bounds)), (15, 9));
    slow_bodies_leave_genuine_deliveries_alone(&recorder, &proxy, attack, bounds).await;
}

// ---------------------------------------------------------------------------------------
// Item 7: every refusal over HTTP/2 reaches the client intact, whatever the body's size.

/// 0 B, a small JSON-sized body, one HTTP/2 flow-control window, and one over
/// `limits.max_body_bytes` (1 MiB by default).
const REFUSED_SIZES: [usize; 4] = [0, 43, 64 * 1024, 2 * 1024 * 1024];
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One refused request: what is sent (a body of `size` bytes) and what must come back.
struct Refused {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    size: usize,
    status: u16,
    error: &'static str,
}

/// Every size for each refusal: an unknown path (404, refused before the body is read), a
/// forged signature (401 once the body is read), a malformed signature (401 before the body
/// is read), a method the route does not take (405, before the body too); either signature
/// case with a body over `max_body_bytes` is 413 from its Content-Length, before the body.
fn refusal_plan() -> Vec<Refused> {
    let mut plan = Vec::new();
    for size in REFUSED_SIZES {
        let too_large = size > MAX_BODY_BYTES;
        let signed = |status, error| {
            if too_large {
                (413, "body_too_large")
            } else {
                (status, error)
            }
        };
        let cases = [
            (
                "unknown path",
                "POST",
                "/webhooks/unknown",
                None,
                (404, "unmatched_route"),
            ),
            (
                "forged signature",
                "POST",
                ROUTE,
                Some(forged_signature()),
                signed(401, "bad_signature"),
            ),
            (
                "malformed signature",
                "POST",
                ROUTE,
                Some("not base64!".to_string()),
                signed(401, "malformed_signature"),
            ),
            (
                "method not allowed",
                "PUT",
                ROUTE,
                None,
                (405, "method_not_allowed"),
            ),
        ];
        for (name, method, path, signature, (status, error)) in cases {
            let mut headers = vec![("content-type", "application/json".to_string())];
            if let Some(signature) = signature {
                headers.push(("x-vwd-signature-v1", signature));
            }
            plan.push(Refused {
                name,
                method,
                path,
                headers,
                size,
                status,
                error,
            });
        }
    }
    plan
}

async fn refusing_proxy(recorder: &Recorder) -> TestProxy {
    TestProxy::builder()
        .upstream(&recorder.url())
        .route(RouteSpec::visma("/webhooks/visma").methods(["POST"]))
        .start()
        .await
}

/// What a client reported for one request of the plan.
#[derive(Debug, serde::Deserialize)]
struct Seen {
    name: String,
    size: usize,
    status: Option<u16>,
    http_version: Option<String>,
    body: Option<String>,
    error: Option<String>,
}

/// Checks one client's reports against the plan, in order, and lists every request that
/// did not come back intact.
/// `version` is what the client reports as the protocol, where it reports one.
fn assert_intact(client: &str, version: Option<&str>, plan: &[Refused], seen: &[Seen]) {
    assert_eq!(seen.len(), plan.len(), "{client} reported {seen:#?}");
    let mut problems = Vec::new();
    for (expected, seen) in plan.iter().zip(seen) {
        assert_eq!(
            (seen.name.as_str(), seen.size),
            (expected.name, expected.size)
        );
        let body = seen.body.as_deref().unwrap_or_default();
        let json = serde_json::from_str::<serde_json::Value>(body).ok();
        let intact = seen.error.is_none()
            && seen.status == Some(expected.status)
            && seen.http_version.as_deref() == version
            && json
                .as_ref()
                .is_some_and(|json| json["error"] == expected.error && json["message"].is_string());
        if !intact {
            problems.push(format!(
                "{} with {} B: expected {} {}, saw {seen:?}",
                expected.name, expected.size, expected.status, expected.error
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{client}: {} of {} refusals did not arrive intact:\n{}",
        problems.len(),
        plan.len(),
        problems.join("\n")
    );
}

/// The plan as the helper scripts read it.
fn plan_file(proxy: &TestProxy, plan: &[Refused]) -> std::path::PathBuf {
    let items: Vec<_> = plan
        .iter()
        .map(|item| {
            serde_json::json!({
                "name": item.name,
                "method": item.method,
                "path": item.path,
                "headers": item.headers.iter().cloned().collect::<BTreeMap<_, _>>(),
                "size": item.size,
            })
        })
        .collect();
    let path = proxy.dir().join("plan.json");
    std::fs::write(&path, serde_json::to_vec(&items).unwrap()).unwrap();
    path
}

/// After a client's run: nothing reached the app, and every refusal was counted.
async fn assert_refused_and_counted(recorder: &Recorder, proxy: &TestProxy) {
    assert!(recorder.requests().await.is_empty());
    let sizes = REFUSED_SIZES.len() as f64;
    assert_eq!(proxy.requests_total("unmatched", "unmatched_route"), sizes);
    assert_eq!(proxy.requests_total(ROUTE, "method_not_allowed"), sizes);
    assert_eq!(proxy.requests_total(ROUTE, "body_too_large"), 2.0);
}

/// curl (Debian's, 7.88 on bookworm), one process per request, as `--http2` over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_over_http2_sees_every_refusal_whatever_the_body_size() {
    let recorder = Recorder::start().await;
    let proxy = refusing_proxy(&recorder).await;
    let plan = refusal_plan();
    let mut seen = Vec::new();
    for item in &plan {
        let body_file = proxy.dir().join(format!("body-{}", item.size));
        if !body_file.exists() {
            std::fs::write(&body_file, vec![b'x'; item.size]).unwrap();
        }
        let answer_file = proxy.dir().join("answer");
        let mut args = vec![
            "--http2".to_string(),
            "--request".to_string(),
            item.method.to_string(),
            "--data-binary".to_string(),
            format!("@{}", body_file.display()),
            "--output".to_string(),
            answer_file.display().to_string(),
            "--write-out".to_string(),
            "%{http_code} %{http_version}".to_string(),
        ];
        for (name, value) in &item.headers {
            args.push("--header".to_string());
            args.push(format!("{name}: {value}"));
        }
        args.push(proxy.url(item.path));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = proxy.curl(&args).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let written = String::from_utf8_lossy(&output.stdout).into_owned();
        let (status, version) = written.split_once(' ').unwrap_or_default();
        seen.push(Seen {
            name: item.name.to_string(),
            size: item.size,
            status: status.parse().ok(),
            http_version: Some(version.to_string()),
            body: std::fs::read_to_string(&answer_file).ok(),
            error: (!output.status.success() || !stderr.is_empty())
                .then(|| format!("curl exited {}: {stderr}", output.status)),
        });
        let _ = std::fs::remove_file(&answer_file);
    }
    assert_intact("curl", Some("2"), &plan, &seen);
    assert_refused_and_counted(&recorder, &proxy).await;
}

/// Runs a helper script (`interpreter script ORIGIN CA SERVER_NAME PLAN`) that reports one
/// JSON line per request, and checks that it exited cleanly.
async fn run_client(
    interpreter: &str,
    script: &str,
    proxy: &TestProxy,
    plan: &[Refused],
) -> Vec<Seen> {
    let plan_path = plan_file(proxy, plan);
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(interpreter)
            .arg(repo_path(script))
            .arg(format!("https://127.0.0.1:{}", proxy.proxy_addr.port()))
            .arg(proxy.cert_file())
            .arg("localhost")
            .arg(&plan_path)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} did not finish within 60 s"))
    .unwrap_or_else(|err| panic!("{interpreter} runs: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{script} exited {}:\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{script} said {line:?}: {err}"))
        })
        .collect()
}

/// Python's httpx with HTTP/2 (the h2 package), all requests on one client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpx_over_http2_sees_every_refusal_whatever_the_body_size() {
    let recorder = Recorder::start().await;
    let proxy = refusing_proxy(&recorder).await;
    let plan = refusal_plan();
    let seen = run_client("python3", "tests/support/h2_refusals.py", &proxy, &plan).await;
    assert_intact("httpx", Some("HTTP/2"), &plan, &seen);
    assert_refused_and_counted(&recorder, &proxy).await;
}

/// Node's built-in `http2` client, all requests on one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_http2_sees_every_refusal_whatever_the_body_size() {
    let recorder = Recorder::start().await;
    let proxy = refusing_proxy(&recorder).await;
    let plan = refusal_plan();
    let seen = run_client("node", "tests/support/h2_refusals.mjs", &proxy, &plan).await;
    assert_intact("node", None, &plan, &seen);
    assert_refused_and_counted(&recorder, &proxy).await;
}

// ---------------------------------------------------------------------------------------
// Item 8: the shutdown does not wait for connections stalled before their first byte.

/// A short drain; the timeouts a stalled connection would otherwise hold it for.
fn stall_server(server: Server) -> Server {
    server
        .shutdown_delay(Duration::from_millis(100))
        .shutdown_grace(Duration::from_secs(20))
        .tls_handshake_timeout(Duration::from_secs(10))
        .header_read_timeout(Duration::from_secs(10))
}
/// shutdown_delay + the one second a connection accepted before the stop gets, with room
/// for a loaded machine; well before the 10 s timeouts above.
const EXIT_WITHIN: Duration = Duration::from_secs(5);

/// The first bytes of a TLS ClientHello: a record header announcing 512 bytes, the
/// handshake header, the legacy version, and then nothing more.
const PARTIAL_CLIENT_HELLO: [u8; 11] = [
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// Opens each connection (sending its bytes, if any), waits until hookwall holds them all,
/// sends SIGTERM, and checks that the process drained and exited 0 within [`EXIT_WITHIN`],
/// logging that it stopped accepting.
async fn stalled_connections_do_not_hold_the_shutdown(
    mut proxy: BinaryProxy,
    first_bytes: &[&[u8]],
) {
    let mut stalled = Vec::new();
    for bytes in first_bytes {
        let mut stream = TcpStream::connect(proxy.proxy_addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        stalled.push(stream);
    }
    eventually(
        "hookwall to hold the stalled connections",
        Duration::from_secs(5),
        || async {
            let open = metric_or_zero(&proxy.metrics_text().await, "hookwall_connections_open");
            (open == first_bytes.len() as f64).then_some(())
        },
    )
    .await;
    proxy.signal("TERM");
    let signalled = Instant::now();
    let status = proxy.wait_exit(EXIT_WITHIN).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exited after {took:?}");
    let messages: Vec<String> = proxy
        .json_lines()
        .iter()
        .filter_map(|line| line["message"].as_str().map(str::to_string))
        .collect();
    for expected in [
        "stopped accepting; waiting for in-flight requests",
        "drained: every connection closed",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "no {expected:?} line; log: {messages:#?}"
        );
    }
    drop(stalled);
}

/// A TCP connection that never sends a byte, and one that stops in the middle of its
/// ClientHello: without the fix the process stays up until `tls_handshake_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_does_not_wait_for_stalled_tls_handshakes() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url())
        .server(stall_server)
        .start_binary()
        .await;
    stalled_connections_do_not_hold_the_shutdown(proxy, &[b"", &PARTIAL_CLIENT_HELLO]).await;
}

/// On a plain-text listener: a connection that never sends a byte, and one that sent the
/// first two bytes of what could be the HTTP/2 preface; without the fix the process stays up
/// until `header_read_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_does_not_wait_for_silent_plain_text_connections() {
    let recorder = Recorder::start().await;
    let proxy = TestProxy::visma(&recorder.url())
        .plain()
        .server(stall_server)
        .start_binary()
        .await;
    stalled_connections_do_not_hold_the_shutdown(proxy, &[b"", b"PR"]).await;
}
