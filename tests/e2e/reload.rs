//! Reloading without a restart: certificate pairs (replaced in place or by a Kubernetes-style
//! symlink swap), secret files, the config file (polled, `Running::reload()` and a real
//! SIGHUP to the binary). A broken new file keeps what runs and counts a failure.

use crate::common::*;
use crate::hardening::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::time::Duration;

const POLL_FAST: Duration = Duration::from_millis(200);
/// So that only an explicit reload (SIGHUP, `Running::reload`) can apply a change.
const POLL_NEVER: Duration = Duration::from_secs(3600);
const ROUTE: &str = "/webhooks/visma";
/// How long a reload may take to show (the poll interval is 200 ms).
const RELOAD_WAIT: Duration = Duration::from_secs(5);

/// Replaces a file the way editors and `kubectl cp` do: write aside, then rename.
fn replace_file(path: &Path, contents: impl AsRef<[u8]>) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

fn reloads(proxy: &TestProxy, kind: &str, result: &str) -> f64 {
    metric_or_zero(
        &proxy.metrics_text(),
        &format!("hookwall_reloads_total{{kind=\"{kind}\",result=\"{result}\"}}"),
    )
}

fn cert_expiry(proxy: &TestProxy) -> f64 {
    proxy.metric("hookwall_tls_cert_expiry_timestamp_seconds")
}

/// The status of a Visma delivery signed with `secret` to `path`.
async fn status_signed_with(proxy: &TestProxy, path: &str, secret: &str) -> u16 {
    let body = format!("{{\"signed_with\":\"{secret}\"}}");
    let signature = visma_signature(secret, body.as_bytes());
    let request = proxy.visma_request(path, body.as_bytes(), Some(&signature));
    let (status, _, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    status.as_u16()
}

async fn wait_for_status(proxy: &TestProxy, path: &str, secret: &str, expected: u16, what: &str) {
    eventually(what, RELOAD_WAIT, || async {
        (status_signed_with(proxy, path, secret).await == expected).then_some(())
    })
    .await;
}

/// The usual Visma route, with the config file and secrets polled every `interval`.
fn polled(recorder: &Recorder, interval: Duration) -> ProxyBuilder {
    TestProxy::visma(&recorder.url()).server(|s| s.reload_interval(interval))
}

/// Waits until new handshakes (trusting `roots`) get `cert`, then checks that the expiry
/// metric shows it.
async fn wait_until_served(proxy: &TestProxy, roots: &str, cert: &DatedCert, what: &str) {
    eventually(&format!("{what} to be served"), RELOAD_WAIT, || async {
        (served_cert(proxy.proxy_addr, roots).await.ok()? == cert.der).then_some(())
    })
    .await;
    assert_eq!(cert_expiry(proxy), cert.not_after as f64);
}

/// rcgen's default `notAfter`, which `common::test_cert` uses: 4096-01-01.
fn default_test_cert_expiry() -> f64 {
    (unix_days(4096, 1, 1) * 86_400) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_reaches_new_handshakes_while_open_connections_keep_working() {
    let recorder = Recorder::start().await;
    let proxy = polled(&recorder, POLL_FAST).start().await;
    let old_pem = proxy.cert.as_ref().unwrap().cert_pem.clone();
    let new = dated_cert(2031, 3, 17);
    let both_roots = format!("{old_pem}{}", new.cert_pem);
    let old_der = served_cert(proxy.proxy_addr, &both_roots).await.unwrap();
    assert_ne!(old_der, new.der);
    assert_eq!(cert_expiry(&proxy), default_test_cert_expiry());

    // A keep-alive connection made on the old certificate.
    let tls = tls_to(proxy.proxy_addr, &both_roots, Protocol::Http1)
        .await
        .unwrap();
    let (mut open, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = open
        .send_request(proxy.visma_request(ROUTE, b"{}", None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();

    replace_file(&proxy.dir().join("tls.key"), &new.key_pem);
    replace_file(&proxy.cert_file(), &new.cert_pem);
    wait_until_served(&proxy, &both_roots, &new, "the new certificate").await;
    assert!(reloads(&proxy, "tls", "success") >= 1.0);

    // The connection made before the reload still works, on its old certificate.
    open.ready().await.unwrap();
    let response = open
        .send_request(proxy.visma_request(ROUTE, b"{\"after\":1}", None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    // And a new connection with only the new certificate trusted is served.
    let (status, _, _) = exchange_h2(
        tls_to(proxy.proxy_addr, &new.cert_pem, Protocol::Http2)
            .await
            .unwrap(),
        proxy.visma_request(ROUTE, b"{\"new\":1}", None),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(recorder.requests().await.len(), 3);
}

/// Kubernetes updates a mounted Secret by writing a new timestamped directory and renaming
/// the `..data` symlink onto it; `tls.crt` and `tls.key` are symlinks through `..data`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_style_symlink_swap_reloads_the_certificate() {
    let recorder = Recorder::start().await;
    let mount = tempfile::tempdir().unwrap();
    let m = mount.path();
    let first = dated_cert(2030, 1, 1);
    let second = dated_cert(2032, 2, 29);
    let write_version = |name: &str, cert: &DatedCert| {
        let dir = m.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), &cert.cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), &cert.key_pem).unwrap();
    };
    write_version("..2030_01_01", &first);
    std::os::unix::fs::symlink("..2030_01_01", m.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/tls.crt", m.join("tls.crt")).unwrap();
    std::os::unix::fs::symlink("..data/tls.key", m.join("tls.key")).unwrap();

    let proxy = polled(&recorder, POLL_FAST)
        .tls_files(&m.join("tls.crt"), &m.join("tls.key"))
        .start()
        .await;
    let roots = format!("{}{}", first.cert_pem, second.cert_pem);
    assert_eq!(
        served_cert(proxy.proxy_addr, &roots).await.unwrap(),
        first.der
    );
    assert_eq!(cert_expiry(&proxy), first.not_after as f64);

    write_version("..2032_02_29", &second);
    std::os::unix::fs::symlink("..2032_02_29", m.join("..data_tmp")).unwrap();
    std::fs::rename(m.join("..data_tmp"), m.join("..data")).unwrap();
    std::fs::remove_dir_all(m.join("..2030_01_01")).unwrap();

    wait_until_served(&proxy, &roots, &second, "the swapped certificate").await;
    assert_eq!(reloads(&proxy, "tls", "failure"), 0.0);
    let tls = tls_to(proxy.proxy_addr, &second.cert_pem, Protocol::Http1)
        .await
        .unwrap();
    let (status, _, _) = exchange_h1(tls, proxy.visma_request(ROUTE, b"{}", None))
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_or_mismatched_pair_keeps_the_last_good_certificate_and_counts_failures() {
    let recorder = Recorder::start().await;
    let proxy = polled(&recorder, POLL_FAST).start().await;
    let good_pem = proxy.cert.as_ref().unwrap().cert_pem.clone();
    let other = dated_cert(2033, 7, 1);
    let roots = format!("{good_pem}{}", other.cert_pem);
    let good_der = served_cert(proxy.proxy_addr, &roots).await.unwrap();
    let expiry = cert_expiry(&proxy);

    // Not PEM at all.
    replace_file(&proxy.cert_file(), "-----BEGIN CERTIFICATE-----\nbroken\n");
    eventually("a failed TLS reload to be counted", RELOAD_WAIT, || async {
        (reloads(&proxy, "tls", "failure") == 1.0).then_some(())
    })
    .await;
    assert_eq!(
        served_cert(proxy.proxy_addr, &roots).await.unwrap(),
        good_der
    );
    let (status, _, _) = proxy
        .send(Protocol::Http1, proxy.visma_request(ROUTE, b"{}", None))
        .await
        .unwrap();
    assert_eq!(status, 200);

    // A valid certificate whose key is not the one in tls.key.
    replace_file(&proxy.cert_file(), &other.cert_pem);
    eventually("the mismatched pair to be refused", RELOAD_WAIT, || async {
        (reloads(&proxy, "tls", "failure") == 2.0).then_some(())
    })
    .await;
    assert_eq!(
        served_cert(proxy.proxy_addr, &roots).await.unwrap(),
        good_der
    );
    assert_eq!(cert_expiry(&proxy), expiry);
    assert_eq!(reloads(&proxy, "tls", "success"), 0.0);

    // Completing the pair recovers.
    replace_file(&proxy.dir().join("tls.key"), &other.key_pem);
    wait_until_served(&proxy, &roots, &other, "the completed pair").await;
    assert_eq!(reloads(&proxy, "tls", "success"), 1.0);
}

#[tokio::test]
async fn rotated_secret_file_takes_effect_without_restart_and_an_empty_one_is_refused() {
    let recorder = Recorder::start().await;
    let proxy = polled(&recorder, POLL_FAST).start().await;
    assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_A).await, 200);
    assert_eq!(
        status_signed_with(&proxy, ROUTE, "visma-secret-c").await,
        401
    );

    replace_file(&proxy.dir().join("secret-a"), "visma-secret-c\n");
    wait_for_status(&proxy, ROUTE, "visma-secret-c", 200, "secret C to verify").await;
    assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_A).await, 401);
    assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_B).await, 200);
    assert!(reloads(&proxy, "secrets", "success") >= 1.0);

    // A secret file caught empty (truncated mid-write) must not replace the working one.
    let failures = reloads(&proxy, "secrets", "failure");
    replace_file(&proxy.dir().join("secret-a"), "");
    eventually(
        "the empty secret file to be refused",
        RELOAD_WAIT,
        || async { (reloads(&proxy, "secrets", "failure") == failures + 1.0).then_some(()) },
    )
    .await;
    assert_eq!(
        status_signed_with(&proxy, ROUTE, "visma-secret-c").await,
        200
    );
    assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_B).await, 200);
}

/// Rotating a key as README describes it: add the new secret, let senders switch, remove the
/// old one — all by editing files, with no restart.
#[tokio::test]
async fn key_rotation_adds_the_new_secret_then_removes_the_old_without_restart() {
    let recorder = Recorder::start().await;
    let with_secrets = |files: &[&str]| {
        TestProxy::builder()
            .server(|s| s.reload_interval(POLL_FAST))
            .upstream(&recorder.url())
            .route(RouteSpec::new(ROUTE, "visma").secret_files(files.iter().copied()))
    };
    let proxy = with_secrets(&["secret-a"]).start().await;
    let new_secret = "visma-secret-new";
    std::fs::write(proxy.dir().join("secret-new"), new_secret).unwrap();
    assert_eq!(status_signed_with(&proxy, ROUTE, new_secret).await, 401);

    // 1. Add the new secret next to the old one.
    with_secrets(&["secret-a", "secret-new"]).write_over(&proxy.config_path);
    wait_for_status(&proxy, ROUTE, new_secret, 200, "the added secret to verify").await;
    assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_A).await, 200);

    // 2. Once every sender signs with the new one, remove the old.
    with_secrets(&["secret-new"]).write_over(&proxy.config_path);
    wait_for_status(
        &proxy,
        ROUTE,
        SECRET_A,
        401,
        "the removed secret to be refused",
    )
    .await;
    assert_eq!(status_signed_with(&proxy, ROUTE, new_secret).await, 200);

    // 3. The file of a secret added by a reload is watched too.
    replace_file(&proxy.dir().join("secret-new"), "visma-secret-newer");
    wait_for_status(&proxy, ROUTE, "visma-secret-newer", 200, "the newer secret").await;
    assert_eq!(status_signed_with(&proxy, ROUTE, new_secret).await, 401);
}

/// `config` with a second route, verified with secret B (or the file `secret_file`).
fn with_second_route(config: ProxyBuilder, secret_file: &str) -> ProxyBuilder {
    config.route(RouteSpec::new("/webhooks/second", "visma").secret_files([secret_file]))
}

#[tokio::test]
async fn running_reload_applies_a_changed_config_and_keeps_the_old_one_when_broken() {
    let recorder = Recorder::start().await;
    let config = polled(&recorder, POLL_NEVER);
    let proxy = config.clone().start().await;
    let original = std::fs::read_to_string(&proxy.config_path).unwrap();
    with_second_route(config.clone(), "secret-b").write_over(&proxy.config_path);
    // Not applied before a reload is asked for.
    assert_eq!(
        status_signed_with(&proxy, "/webhooks/second", SECRET_B).await,
        404
    );
    proxy.running().reload().await;
    wait_for_status(&proxy, "/webhooks/second", SECRET_B, 200, "the new route").await;
    assert_eq!(reloads(&proxy, "config", "success"), 1.0);

    // A config that does not parse, then one that parses but names a missing secret file.
    let missing_secret = TestProxy::builder()
        .server(|s| s.reload_interval(POLL_NEVER))
        .upstream(&recorder.url())
        .route(RouteSpec::new(ROUTE, "visma").secret_files(["/nonexistent/secret", "secret-b"]));
    let broken = [
        original.replace("[[route]]", "[[route]\n"),
        with_second_route(missing_secret, "secret-b").text(proxy.dir()),
    ];
    for (failures, text) in broken.iter().enumerate() {
        replace_file(&proxy.config_path, text);
        proxy.running().reload().await;
        eventually("the broken config to be refused", RELOAD_WAIT, || async {
            (reloads(&proxy, "config", "failure") == (failures + 1) as f64).then_some(())
        })
        .await;
        assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_A).await, 200);
        assert_eq!(
            status_signed_with(&proxy, "/webhooks/second", SECRET_B).await,
            200
        );
    }
    assert_eq!(reloads(&proxy, "config", "success"), 1.0);
}

#[tokio::test]
async fn polled_broken_config_file_keeps_the_old_config() {
    let recorder = Recorder::start().await;
    let proxy = polled(&recorder, POLL_FAST).start().await;
    replace_file(&proxy.config_path, "[[route]\nthis is not toml");
    eventually(
        "the broken config file to be refused",
        RELOAD_WAIT,
        || async { (total_reload_failures(&proxy) == 1.0).then_some(()) },
    )
    .await;
    assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_A).await, 200);
    assert_eq!(status_signed_with(&proxy, ROUTE, SECRET_B).await, 200);
}

fn total_reload_failures(proxy: &TestProxy) -> f64 {
    ["config", "secrets", "tls"]
        .iter()
        .map(|kind| reloads(proxy, kind, "failure"))
        .sum()
}

/// `hookwall_reloads_total{kind}` documents the kinds `tls`, `config` and `secrets`: a
/// change to the config file itself, found by polling, is a config reload.
#[tokio::test]
async fn polled_config_file_change_is_counted_as_kind_config() {
    let recorder = Recorder::start().await;
    let proxy = polled(&recorder, POLL_FAST).start().await;
    let original = std::fs::read_to_string(&proxy.config_path).unwrap();
    replace_file(&proxy.config_path, format!("{original}\n# edited\n"));
    eventually("the edited config to be reloaded", RELOAD_WAIT, || async {
        (reloads(&proxy, "config", "success") + reloads(&proxy, "secrets", "success") >= 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(
        reloads(&proxy, "config", "success"),
        1.0,
        "a polled config file change was counted as another kind: {:?}",
        proxy
            .metrics_text()
            .lines()
            .filter(|line| line.starts_with("hookwall_reloads_total"))
            .collect::<Vec<_>>()
    );
    assert_eq!(reloads(&proxy, "secrets", "success"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_to_the_binary_reloads_the_config() {
    let recorder = Recorder::start().await;
    let config =
        polled(&recorder, POLL_NEVER).server(|s| s.shutdown_delay(Duration::from_millis(100)));
    let mut proxy = config.clone().start_binary().await;
    with_second_route(config, "secret-b").write_over(&proxy.config_path);
    let second = |proxy: &BinaryProxy| {
        let body = b"{\"second\":true}";
        let port = proxy.proxy_addr.port();
        http::Request::post(format!("https://localhost:{port}/webhooks/second"))
            .header("host", format!("localhost:{port}"))
            .header("x-vwd-signature-v1", visma_signature(SECRET_B, body))
            .body(Full::new(Bytes::from_static(body)))
            .unwrap()
    };
    let (status, _, _) = proxy.send(Protocol::Http1, second(&proxy)).await.unwrap();
    assert_eq!(status, 404, "applied before SIGHUP");

    proxy.signal("HUP");
    proxy
        .wait_for_log("the reload", RELOAD_WAIT, |line| {
            line["message"] == "config reloaded"
        })
        .await;
    let (status, _, _) = proxy.send(Protocol::Http2, second(&proxy)).await.unwrap();
    assert_eq!(status, 200);
    let metrics = proxy.metrics_text().await;
    assert_eq!(
        metric_or_zero(
            &metrics,
            "hookwall_reloads_total{kind=\"config\",result=\"success\"}"
        ),
        1.0
    );
    // SIGHUP reloads; it does not stop the process.
    proxy.signal("TERM");
    assert_eq!(
        proxy.wait_exit(Duration::from_secs(15)).await.code(),
        Some(0)
    );
}
