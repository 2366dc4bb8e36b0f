//! Prometheus for real: Debian's `prometheus` server, started here on a free loopback port
//! with its own storage, scrapes hookwall's admin port every second. The tests send genuine
//! and forged deliveries and read the result back through Prometheus's HTTP API, evaluate
//! deploy/prometheus/hookwall-rules.yml against hookwall's real series, run every query of
//! the Grafana dashboard, and lint /metrics with `promtool check metrics`.

use crate::common::*;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const PROMETHEUS: &str = "prometheus";
const PROMTOOL: &str = "promtool";
const ROUTE: &str = "/webhooks/visma";
/// Every wait on Prometheus is bounded by this; it scrapes and evaluates every second.
const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(250);

/// A Prometheus server of our own, on loopback, scraping one hookwall.
struct PrometheusServer {
    child: Child,
    addr: SocketAddr,
    _storage: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `target` (hookwall's admin address), with `rule_files`.
    async fn start(target: SocketAddr, rule_files: &[PathBuf]) -> PrometheusServer {
        let storage = tempfile::tempdir().unwrap();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|path| format!("  - {}\n", path.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\
             scrape_configs:\n  - job_name: hookwall\n    static_configs:\n\
             \x20     - targets: [\"{target}\"]\n        labels:\n          namespace: webhooks\n",
            if rules.is_empty() {
                "  []\n".to_string()
            } else {
                rules.concat()
            }
        );
        let config_path = storage.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        // A free port, found by binding and closing; another process could take it in
        // between, so a Prometheus that exits at once is started again on a new one.
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut child = Command::new(PROMETHEUS)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    storage.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|err| {
                    panic!("cannot start {PROMETHEUS} (Debian package prometheus): {err}")
                });
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    eprintln!("prometheus on {addr} exited at start ({status}); retrying");
                    break;
                }
                if let Some((200, _)) = http_get(addr, "/-/ready").await {
                    let server = PrometheusServer {
                        child,
                        addr,
                        _storage: storage,
                    };
                    server.wait_for_first_scrape().await;
                    return server;
                }
                tokio::time::sleep(POLL).await;
            }
            let _ = child.kill().await;
        }
        panic!("prometheus did not become ready");
    }

    /// Waits until hookwall has been scraped, so that what the test does next shows as an
    /// increase from the values hookwall started with (as it would in production).
    async fn wait_for_first_scrape(&self) {
        self.wait_for("a first scrape of hookwall", || async {
            let up = self.by_label("up{job=\"hookwall\"}", "job").await;
            if up.get("hookwall") == Some(&1.0) {
                Ok(())
            } else {
                Err(format!("up: {up:?}"))
            }
        })
        .await
    }

    /// Runs an instant query; panics on an API error (a bad query is a test failure).
    async fn query(&self, promql: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let (status, body) = http_get(self.addr, &path)
            .await
            .expect("prometheus answers");
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 200, "query {promql}: {json}");
        assert_eq!(json["status"], "success", "query {promql}: {json}");
        json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `label value -> sample value` of an instant query's vector result.
    async fn by_label(&self, promql: &str, label: &str) -> BTreeMap<String, f64> {
        self.query(promql)
            .await
            .iter()
            .map(|sample| {
                (
                    sample["metric"][label].as_str().unwrap_or("").to_string(),
                    sample["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    async fn api(&self, path: &str) -> Value {
        let (status, body) = http_get(self.addr, path).await.expect("prometheus answers");
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }

    /// Polls until `check` returns `Some`, up to [`PATIENCE`]; then panics with `last`.
    async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match check().await {
                Ok(value) => return value,
                Err(last) if Instant::now() >= deadline => {
                    panic!("{what}: not within {PATIENCE:?}; last seen: {last}")
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// The state of `alert` in Prometheus's rule evaluation: "inactive", "pending", "firing".
    async fn alert_state(&self, alert: &str) -> (String, Value) {
        let rules = self.api("/api/v1/rules?type=alert").await;
        for group in rules["data"]["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                if rule["name"] == alert {
                    return (rule["state"].as_str().unwrap().to_string(), rule.clone());
                }
            }
        }
        panic!("no alerting rule {alert} loaded: {rules}");
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A GET over plain HTTP/1.1; `None` while nothing listens.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, Bytes)> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let request = Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, _, body) = exchange_h1(stream, request).await.ok()?;
    Some((status.as_u16(), body))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn tls_proxy(recorder: &Recorder) -> TestProxy {
    TestProxy::visma(&recorder.url()).start().await
}

/// Sends a Visma delivery, signed correctly unless `signature` is given ("" is an empty
/// signature header, which counts as a missing signature).
async fn deliver(proxy: &TestProxy, path: &str, body: &[u8], signature: Option<&str>) -> u16 {
    let request = proxy.visma_request(path, body, signature);
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    status.as_u16()
}

/// 3 genuine deliveries, 2 signed with the wrong key, 1 with an empty signature, 1 malformed
/// signature, 1 to an unknown path. Returns the expected count per outcome label.
async fn send_mixed_deliveries(proxy: &TestProxy) -> BTreeMap<&'static str, f64> {
    for n in 0..3 {
        let body = format!("{{\"event\":\"CustomerChanged\",\"n\":{n}}}");
        assert_eq!(deliver(proxy, ROUTE, body.as_bytes(), None).await, 200);
    }
    for n in 0..2 {
        let body = format!("{{\"forged\":{n}}}");
        let signature = visma_signature("guessed-key", body.as_bytes());
        assert_eq!(
            deliver(proxy, ROUTE, body.as_bytes(), Some(&signature)).await,
            401
        );
    }
    assert_eq!(deliver(proxy, ROUTE, b"{}", Some("")).await, 401);
    assert_eq!(deliver(proxy, ROUTE, b"{}", Some("not base64!")).await, 401);
    assert_eq!(deliver(proxy, "/admin", b"{}", None).await, 404);
    BTreeMap::from([
        ("forwarded", 3.0),
        ("bad_signature", 2.0),
        ("missing_signature", 1.0),
        ("malformed_signature", 1.0),
    ])
}

#[tokio::test]
async fn prometheus_scrapes_request_counts_by_outcome() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let prometheus = PrometheusServer::start(proxy.admin_addr, &[]).await;

    let expected = send_mixed_deliveries(&proxy).await;
    assert_eq!(recorder.requests().await.len(), 3);

    let query = format!("hookwall_requests_total{{job=\"hookwall\",route=\"{ROUTE}\"}}");
    let counts = prometheus
        .wait_for("hookwall_requests_total by outcome", || async {
            let counts = prometheus.by_label(&query, "outcome").await;
            let matches = expected
                .iter()
                .all(|(outcome, value)| counts.get(*outcome) == Some(value));
            if matches {
                Ok(counts)
            } else {
                Err(format!("{counts:?}"))
            }
        })
        .await;
    // Every other outcome of the route is exposed, at zero.
    for (outcome, value) in &counts {
        let want = expected.get(outcome.as_str()).copied().unwrap_or(0.0);
        assert_eq!(*value, want, "outcome {outcome}: {counts:?}");
    }
    assert!(counts.len() > expected.len(), "{counts:?}");
    let unmatched = prometheus
        .by_label(
            "hookwall_requests_total{route=\"unmatched\",outcome=\"unmatched_route\"}",
            "outcome",
        )
        .await;
    assert_eq!(unmatched.get("unmatched_route"), Some(&1.0));
    let up = prometheus.by_label("up{job=\"hookwall\"}", "job").await;
    assert_eq!(up.get("hookwall"), Some(&1.0));
    prometheus.stop().await;
}

/// A certificate for localhost that expires in `days`, made with openssl.
fn short_lived_certificate(dir: &Path, days: u32) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("short.crt"), dir.join("short.key"));
    let output = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args([
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            &days.to_string(),
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(output.status.success(), "{output:?}");
    (cert, key)
}

#[tokio::test]
async fn alerting_rules_evaluate_on_real_series_and_go_pending() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let rules = repo_path("deploy/prometheus/hookwall-rules.yml");
    let prometheus = PrometheusServer::start(proxy.admin_addr, &[rules]).await;

    // Quiet first: every rule evaluates without error and nothing is pending.
    for alert in [
        "HookwallForgedDeliveries",
        "HookwallUpstreamErrors",
        "HookwallCertificateExpiringSoon",
        "HookwallReloadFailed",
        "HookwallDedupeStoreDown",
    ] {
        let (state, rule) = prometheus
            .wait_for(&format!("{alert} evaluated"), || async {
                let (state, rule) = prometheus.alert_state(alert).await;
                if rule["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
                {
                    Ok((state, rule))
                } else {
                    Err(rule.to_string())
                }
            })
            .await;
        assert_eq!(rule["health"], "ok", "{rule}");
        assert_eq!(state, "inactive", "{rule}");
    }

    // 30 forged deliveries: ~0.1/s over the rule's 5m window, above its 0.05/s.
    for n in 0..30 {
        let body = format!("{{\"forged\":{n}}}");
        let signature = visma_signature("guessed-key", body.as_bytes());
        assert_eq!(
            deliver(&proxy, ROUTE, body.as_bytes(), Some(&signature)).await,
            401
        );
    }
    // 2 genuine deliveries the app answers 200, 2 it answers 503: half fail in the app.
    for status in [200, 200, 503, 503] {
        let body = format!("{{\"app_answers\":{status},\"n\":\"{status}-{}\"}}", rand());
        let path = format!("{ROUTE}?hw_status={status}");
        assert_eq!(deliver(&proxy, &path, body.as_bytes(), None).await, status);
    }
    // The certificate is swapped for one expiring in 7 days, as a renewal gone wrong would.
    let (cert, key) = short_lived_certificate(proxy.dir(), 7);
    std::fs::copy(&cert, proxy.dir().join("tls.crt")).unwrap();
    std::fs::copy(&key, proxy.dir().join("tls.key")).unwrap();
    proxy.running().reload().await;

    for (alert, labels) in [
        ("HookwallForgedDeliveries", vec![("route", ROUTE)]),
        ("HookwallUpstreamErrors", vec![("route", ROUTE)]),
        ("HookwallCertificateExpiringSoon", vec![]),
    ] {
        let rule = prometheus
            .wait_for(&format!("{alert} pending"), || async {
                let (state, rule) = prometheus.alert_state(alert).await;
                if state == "pending" {
                    Ok(rule)
                } else {
                    Err(rule.to_string())
                }
            })
            .await;
        let active = &rule["alerts"][0];
        assert_eq!(active["labels"]["namespace"], "webhooks", "{rule}");
        assert_eq!(active["labels"]["job"], "hookwall", "{rule}");
        for (name, value) in labels {
            assert_eq!(active["labels"][name], value, "{rule}");
        }
    }
    // The swap was a successful reload: no reload alert.
    let (state, rule) = prometheus.alert_state("HookwallReloadFailed").await;
    assert_eq!(state, "inactive", "{rule}");
    prometheus.stop().await;
}

/// A few random hex digits, so bodies (and so Visma signatures) never repeat.
fn rand() -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}

#[tokio::test]
async fn first_reload_failure_fires_the_reload_alert() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let rules = repo_path("deploy/prometheus/hookwall-rules.yml");
    let prometheus = PrometheusServer::start(proxy.admin_addr, &[rules]).await;
    // The config now names a secret file that is empty: the reload fails, hookwall keeps
    // the running config.
    std::fs::write(proxy.dir().join("secret-b"), "").unwrap();
    proxy.running().reload().await;
    let (state, rule) = prometheus
        .wait_for("HookwallReloadFailed firing", || async {
            let (state, rule) = prometheus.alert_state("HookwallReloadFailed").await;
            if state == "firing" {
                Ok((state, rule))
            } else {
                let gauge = prometheus.query("hookwall_reload_last_success").await;
                Err(format!("{state}; hookwall_reload_last_success: {gauge:?}"))
            }
        })
        .await;
    assert_eq!(state, "firing", "{rule}");
    prometheus.stop().await;
}

#[tokio::test]
async fn every_dashboard_query_runs_and_the_main_panels_show_data() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    let prometheus = PrometheusServer::start(proxy.admin_addr, &[]).await;
    send_mixed_deliveries(&proxy).await;

    let output = std::process::Command::new("python3")
        .arg(repo_path("tests/support/dashboard.py"))
        .args(["queries", "--rate-interval", "1m"])
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    let queries: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(queries.len() >= 10, "{queries:?}");

    // These panels must show something once deliveries were scraped twice or more.
    let with_data = [
        "Deliveries forwarded",
        "Forged or unsigned",
        "Requests by outcome",
        "Refusals by route and reason",
        "Request latency",
        "App latency",
        "App responses by status class",
        "Certificate expires in",
        "Versions running",
    ];
    prometheus
        .wait_for("rates over two scrapes", || async {
            let forwarded = prometheus
                .query("sum(rate(hookwall_requests_total{outcome=\"forwarded\"}[1m])) > 0")
                .await;
            if forwarded.is_empty() {
                Err("no rate yet".to_string())
            } else {
                Ok(())
            }
        })
        .await;
    for query in &queries {
        let panel = query["panel"].as_str().unwrap();
        let expr = query["expr"].as_str().unwrap();
        // Panics on a query Prometheus rejects.
        let result = prometheus.query(expr).await;
        if with_data.contains(&panel) {
            assert!(
                !result.is_empty(),
                "panel {panel:?}: {expr} returned nothing"
            );
        }
    }
    prometheus.stop().await;
}

#[tokio::test]
async fn promtool_check_metrics_finds_nothing_in_real_metrics() {
    let recorder = Recorder::start().await;
    let proxy = tls_proxy(&recorder).await;
    send_mixed_deliveries(&proxy).await;
    // Provoke the series created on first use too: a reload, a failed TLS handshake
    // (plain HTTP to the TLS port), an HTTP protocol error inside TLS.
    proxy.running().reload().await;
    let mut plain = TcpStream::connect(proxy.proxy_addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    drop(plain);
    proxy
        .raw_exchange(b"NOT HTTP AT ALL\r\n\r\n", Duration::from_secs(5))
        .await;
    let deadline = Instant::now() + PATIENCE;
    while !proxy.metrics_text().contains("hookwall_reloads_total{") {
        assert!(Instant::now() < deadline, "{}", proxy.metrics_text());
        tokio::time::sleep(POLL).await;
    }

    let (status, body) = http_get(proxy.admin_addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let mut promtool = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) runs");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(&body)
        .await
        .unwrap();
    let output = tokio::time::timeout(PATIENCE, promtool.wait_with_output())
        .await
        .expect("promtool finishes")
        .unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && findings.trim().is_empty(),
        "promtool check metrics: {findings}\n--- /metrics:\n{}",
        String::from_utf8_lossy(&body)
    );
}
