//! Duplicate suppression shared through Redis (`[dedupe] store = "redis"`): several hookwalls
//! on one real Redis (plain, ACL, TLS, Sentinel, Cluster), restarts, and Redis failing —
//! killed, paused — under traffic.

use crate::builder::{Dedupe, ProxyBuilder, RouteSpec};
use crate::common::{Protocol, Recorder, TestProxy, metric_value};
use crate::hardening::{eventually, metric_or_zero};
use crate::redis_servers::{RedisServer, start_cluster};
use http::StatusCode;
use std::time::{Duration, Instant};

const ROUTE: &str = "/webhooks/visma";
/// For tests about sharing, not about timeouts: a loaded CI machine may take longer than the
/// 250 ms default for a command now and then.
const RELAXED: Duration = Duration::from_secs(2);

/// `[dedupe]` on the Redis at `url`, with the relaxed timeout.
fn redis_at(url: &str) -> Dedupe {
    Dedupe::default()
        .store("redis")
        .redis_url(url)
        .timeout(RELAXED)
}

/// hookwall's config with a deduplicating Visma route and `dedupe` as the `[dedupe]` table.
fn config(upstream: &str, dedupe: &Dedupe) -> ProxyBuilder {
    let route = RouteSpec::new(ROUTE, "visma")
        .secret_files(["secret-a"])
        .dedupe(Duration::from_secs(3600));
    TestProxy::builder()
        .plain()
        .server(|s| {
            s.shutdown_delay(Duration::ZERO)
                .shutdown_grace(Duration::from_secs(1))
        })
        .upstream(upstream)
        .upstream_with(|u| u.timeout(Duration::from_secs(5)))
        .dedupe(|_| dedupe.clone())
        .route(route)
}

async fn hookwall(upstream: &str, dedupe: &Dedupe) -> TestProxy {
    config(upstream, dedupe).start().await
}

/// A hookwall whose Redis store has answered its first health check, so a slow first
/// connect (TLS on a loaded CI machine) does not count against the test's first delivery.
async fn hookwall_up(upstream: &str, dedupe: &Dedupe) -> TestProxy {
    let proxy = hookwall(upstream, dedupe).await;
    wait_store_up(&proxy, 1.0).await;
    proxy
}

/// A Redis (in a directory that lives as long as it), the recording app, and two hookwalls
/// sharing that Redis at `redis.url()` + `database` ("" or "/0").
async fn two_on_one_redis(
    database: &str,
) -> (tempfile::TempDir, RedisServer, Recorder, [TestProxy; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), &[]).await;
    let recorder = Recorder::start().await;
    let dedupe = redis_at(&format!("{}{database}", redis.url()));
    let a = hookwall_up(&recorder.url(), &dedupe).await;
    let b = hookwall_up(&recorder.url(), &dedupe).await;
    (dir, redis, recorder, [a, b])
}

/// Posts a signed delivery of `body` (the signature is its identity) to `path_and_query`.
async fn deliver(proxy: &TestProxy, path_and_query: &str, body: &[u8]) -> (StatusCode, bool) {
    let request = proxy.visma_request(path_and_query, body, None);
    let (status, headers, _) = proxy.send(Protocol::Http1, request).await.unwrap();
    let duplicate = headers
        .get("x-hookwall-duplicate")
        .is_some_and(|value| value == "true");
    (status, duplicate)
}

fn store_errors(proxy: &TestProxy, kind: &str) -> f64 {
    metric_or_zero(
        &proxy.metrics_text(),
        &format!("hookwall_dedupe_store_errors_total{{kind=\"{kind}\"}}"),
    )
}

fn store_up(proxy: &TestProxy) -> f64 {
    metric_value(&proxy.metrics_text(), "hookwall_dedupe_store_up")
}

async fn wait_store_up(proxy: &TestProxy, up: f64) {
    eventually(
        &format!("hookwall_dedupe_store_up to be {up}"),
        Duration::from_secs(20),
        || async { (store_up(proxy) == up).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_another_hookwall_is_a_duplicate_and_the_app_sees_it_once() {
    let (_dir, redis, recorder, [a, b]) = two_on_one_redis("/0").await;

    let body = br#"{"event":"invoice.created","id":"retry-elsewhere"}"#;
    assert_eq!(deliver(&a, ROUTE, body).await, (StatusCode::OK, false));
    assert_eq!(deliver(&b, ROUTE, body).await, (StatusCode::OK, true));
    assert_eq!(deliver(&a, ROUTE, body).await, (StatusCode::OK, true));
    assert_eq!(recorder.requests().await.len(), 1, "the app saw it once");
    assert_eq!(b.requests_total(ROUTE, "duplicate"), 1.0);

    // One key: a hash (no body, no signature), `delivered`, expiring within the window.
    let keys = redis.keys().await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let (name, value, ttl) = &keys[0];
    assert!(
        name.starts_with("hookwall:dedupe:{") && name.ends_with('}'),
        "{name}"
    );
    assert!(!name.contains("retry-elsewhere"), "{name}");
    let signature = crate::common::visma_signature(crate::common::SECRET_A, body);
    assert!(!name.contains(&signature), "{name}");
    assert_eq!(value, "delivered");
    assert!(*ttl > 3_500_000 && *ttl <= 3_600_000, "ttl {ttl} ms");
    assert_eq!(store_up(&a), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_on_two_hookwalls_at_once_is_forwarded_once() {
    let (_dir, _redis, recorder, [a, b]) = two_on_one_redis("").await;

    // The app takes a second, so both requests overlap whichever claims first.
    let body = br#"{"id":"at-once"}"#;
    let slow = format!("{ROUTE}?hw_delay=1");
    let (first, second) = tokio::join!(deliver(&a, &slow, body), deliver(&b, &slow, body));
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(recorder.requests().await.len(), 1, "forwarded once");
    let in_flight = a.requests_total(ROUTE, "duplicate_in_flight")
        + b.requests_total(ROUTE, "duplicate_in_flight");
    assert_eq!(in_flight, 1.0);

    // Once delivered, either answers duplicate.
    assert_eq!(deliver(&b, ROUTE, body).await, (StatusCode::OK, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_releases_the_claim_so_the_retry_is_forwarded() {
    let (_dir, redis, recorder, [a, b]) = two_on_one_redis("").await;

    let body = br#"{"id":"app-said-500"}"#;
    let (status, _) = deliver(&a, &format!("{ROUTE}?hw_status=500"), body).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The release runs in the background: wait for the key to go.
    eventually(
        "the released claim to be deleted",
        Duration::from_secs(5),
        || async { redis.keys().await.is_empty().then_some(()) },
    )
    .await;
    assert_eq!(deliver(&b, ROUTE, body).await, (StatusCode::OK, false));
    assert_eq!(recorder.requests().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_hookwall_still_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), &[]).await;
    let recorder = Recorder::start().await;
    let dedupe = redis_at(&redis.url());
    let mut first = hookwall_up(&recorder.url(), &dedupe).await;
    let body = br#"{"id":"across-restart"}"#;
    assert_eq!(deliver(&first, ROUTE, body).await, (StatusCode::OK, false));
    first.running.take().unwrap().shutdown().await;
    drop(first);

    let restarted = hookwall_up(&recorder.url(), &dedupe).await;
    assert_eq!(
        deliver(&restarted, ROUTE, body).await,
        (StatusCode::OK, true)
    );
    assert_eq!(recorder.requests().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_acl_user_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), &["--requirepass", "admin-pass"]).await;
    let _: String = redis
        .query(
            ::redis::cmd("ACL")
                .arg("SETUSER")
                .arg("hookwall")
                .arg("on")
                .arg(">hook-pass")
                .arg("resetkeys")
                .arg("~hookwall:*")
                .arg("-@all")
                .arg("+get")
                .arg("+set")
                .arg("+del")
                .arg("+eval")
                .arg("+evalsha")
                .arg("+script")
                .arg("+ping")
                .arg("+hello")
                .arg("+client")
                .arg("+auth")
                .arg("+select"),
        )
        .await
        .unwrap();
    let recorder = Recorder::start().await;
    let password_file = dir.path().join("redis-password");
    std::fs::write(&password_file, "hook-pass\n").unwrap();
    let port = redis.port;
    let dedupe =
        redis_at(&format!("redis://hookwall@127.0.0.1:{port}")).redis_password_file(&password_file);
    let a = hookwall_up(&recorder.url(), &dedupe).await;
    let b = hookwall_up(&recorder.url(), &dedupe).await;
    let body = br#"{"id":"acl"}"#;
    assert_eq!(deliver(&a, ROUTE, body).await, (StatusCode::OK, false));
    assert_eq!(deliver(&b, ROUTE, body).await, (StatusCode::OK, true));
    assert_eq!(store_errors(&a, "auth"), 0.0);

    // A wrong password: counted as `auth`, and on_error = "forward" still delivers.
    std::fs::write(&password_file, "wrong").unwrap();
    let wrong = hookwall(&recorder.url(), &dedupe).await;
    let other = br#"{"id":"acl-wrong-password"}"#;
    assert_eq!(deliver(&wrong, ROUTE, other).await, (StatusCode::OK, false));
    assert!(
        store_errors(&wrong, "auth") >= 1.0,
        "{}",
        wrong.metrics_text()
    );
    assert_eq!(store_up(&wrong), 0.0);

    // The password file is reloaded like a secret: fixed, the store answers again.
    std::fs::write(&password_file, "hook-pass").unwrap();
    wrong.running().reload().await;
    wait_store_up(&wrong, 1.0).await;
    assert_eq!(deliver(&wrong, ROUTE, body).await, (StatusCode::OK, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_redis_own_tls_port() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start_tls(dir.path()).await;
    let recorder = Recorder::start().await;
    let ca_file = &redis.tls.as_ref().unwrap().ca_file;
    assert!(redis.url().starts_with("rediss://"));
    let dedupe = redis_at(&redis.url()).redis_ca_file(ca_file);
    let a = hookwall_up(&recorder.url(), &dedupe).await;
    let b = hookwall_up(&recorder.url(), &dedupe).await;
    let body = br#"{"id":"over-tls"}"#;
    assert_eq!(deliver(&a, ROUTE, body).await, (StatusCode::OK, false));
    assert_eq!(deliver(&b, ROUTE, body).await, (StatusCode::OK, true));
    assert_eq!(redis.keys().await.len(), 1);

    // Without the CA, the server's certificate is not trusted: no store, still forwarding.
    let without_ca = Dedupe::default().store("redis").redis_url(&redis.url());
    let untrusted = hookwall(&recorder.url(), &without_ca).await;
    let other = br#"{"id":"untrusted-ca"}"#;
    assert_eq!(
        deliver(&untrusted, ROUTE, other).await,
        (StatusCode::OK, false)
    );
    assert_eq!(store_up(&untrusted), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_follows_on_error_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(dir.path(), &[]).await;
    let recorder = Recorder::start().await;
    let timeout = Duration::from_secs(1);
    let base = Dedupe::default()
        .store("redis")
        .redis_url(&redis.url())
        .timeout(timeout);
    let refusing = hookwall_up(&recorder.url(), &base.clone().on_error("refuse")).await;
    let forwarding = hookwall_up(&recorder.url(), &base.on_error("forward")).await;

    // Bounded load: 3 rounds of 20 deliveries to each; Redis dies before the second.
    let mut slowest = Duration::ZERO;
    let mut round_statuses = Vec::new();
    for round in 0..3 {
        if round == 1 {
            redis.kill().await;
        }
        if round == 2 {
            redis.restart().await;
            wait_store_up(&refusing, 1.0).await;
            wait_store_up(&forwarding, 1.0).await;
        }
        let mut statuses = Vec::new();
        for n in 0..20 {
            for (proxy, name) in [(&refusing, "refuse"), (&forwarding, "forward")] {
                let body = format!("{{\"round\":{round},\"n\":{n},\"to\":\"{name}\"}}");
                let started = Instant::now();
                let (status, _) = deliver(proxy, ROUTE, body.as_bytes()).await;
                slowest = slowest.max(started.elapsed());
                statuses.push((name, status));
            }
        }
        round_statuses.push(statuses);
    }
    let count = |round: usize, name: &str, status: StatusCode| {
        round_statuses[round]
            .iter()
            .filter(|(n, s)| *n == name && *s == status)
            .count()
    };
    assert_eq!(count(0, "refuse", StatusCode::OK), 20);
    assert_eq!(count(1, "refuse", StatusCode::SERVICE_UNAVAILABLE), 20);
    assert_eq!(
        count(1, "forward", StatusCode::OK),
        20,
        "forwarded unchecked"
    );
    assert_eq!(count(2, "refuse", StatusCode::OK), 20, "recovered");
    assert_eq!(count(2, "forward", StatusCode::OK), 20);
    assert_eq!(refusing.requests_total(ROUTE, "dedupe_unavailable"), 20.0);
    for proxy in [&refusing, &forwarding] {
        let errors = store_errors(proxy, "connection") + store_errors(proxy, "timeout");
        assert!(errors >= 20.0, "{}", proxy.metrics_text());
    }
    // Generous for a loaded CI machine; what matters is no request waits on a dead Redis.
    assert!(
        slowest < timeout * 5,
        "slowest request took {slowest:?} with dedupe.timeout {timeout:?}"
    );

    // Deduplication works again after recovery.
    let body = br#"{"round":2,"n":0,"to":"refuse"}"#;
    assert_eq!(
        deliver(&forwarding, ROUTE, body).await,
        (StatusCode::OK, true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_redis_costs_at_most_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), &[]).await;
    let recorder = Recorder::start().await;
    let dedupe = Dedupe::default()
        .store("redis")
        .redis_url(&redis.url())
        .timeout(Duration::from_millis(500))
        .on_error("forward");
    let a = hookwall_up(&recorder.url(), &dedupe).await;
    assert_eq!(
        deliver(&a, ROUTE, b"{\"warm\":1}").await,
        (StatusCode::OK, false)
    );

    let _: String = redis
        .query(::redis::cmd("CLIENT").arg("PAUSE").arg(8000).arg("ALL"))
        .await
        .unwrap();
    let started = Instant::now();
    let (status, duplicate) = deliver(&a, ROUTE, b"{\"while\":\"paused\"}").await;
    let took = started.elapsed();
    assert_eq!((status, duplicate), (StatusCode::OK, false));
    assert!(
        took < Duration::from_secs(4),
        "took {took:?} while Redis paused for 8 s"
    );
    assert!(store_errors(&a, "timeout") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_settings_change_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), &[]).await;
    let recorder = Recorder::start().await;
    let a = hookwall(&recorder.url(), &Dedupe::default().store("memory")).await;
    let dedupe = redis_at(&redis.url());
    let b = hookwall_up(&recorder.url(), &dedupe).await;

    config(&recorder.url(), &dedupe).write_over(&a.config_path);
    a.running().reload().await;
    let body = br#"{"id":"after-reload"}"#;
    eventually(
        "the reload to take the Redis store",
        Duration::from_secs(10),
        || async {
            (metric_or_zero(
                &a.metrics_text(),
                "hookwall_reloads_total{kind=\"config\",result=\"success\"}",
            ) >= 1.0)
                .then_some(())
        },
    )
    .await;
    assert_eq!(deliver(&a, ROUTE, body).await, (StatusCode::OK, false));
    assert_eq!(deliver(&b, ROUTE, body).await, (StatusCode::OK, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_keeps_deliveries_and_retries_apart() {
    let dir = tempfile::tempdir().unwrap();
    let master = RedisServer::start(dir.path(), &[]).await;
    let replica_of = master.port.to_string();
    let replica = RedisServer::start(dir.path(), &["--replicaof", "127.0.0.1", &replica_of]).await;
    let sentinel = RedisServer::start_sentinel(dir.path(), &master).await;
    eventually(
        "the sentinel to know the replica",
        Duration::from_secs(30),
        || async {
            let replicas: Vec<std::collections::HashMap<String, String>> = sentinel
                .query(::redis::cmd("SENTINEL").arg("REPLICAS").arg("mymaster"))
                .await
                .ok()?;
            replicas
                .iter()
                .any(|r| {
                    r.get("flags").is_some_and(|f| f == "slave")
                        && r.get("master-link-status").is_some_and(|s| s == "ok")
                })
                .then_some(())
        },
    )
    .await;

    let recorder = Recorder::start().await;
    let dedupe = Dedupe::default()
        .store("redis")
        .redis_sentinels([sentinel.url()])
        .redis_sentinel_master("mymaster");
    let a = hookwall_up(&recorder.url(), &dedupe).await;
    let b = hookwall_up(&recorder.url(), &dedupe).await;
    let before = br#"{"id":"before-failover"}"#;
    assert_eq!(deliver(&a, ROUTE, before).await, (StatusCode::OK, false));
    eventually(
        "the replica to have the key",
        Duration::from_secs(10),
        || async {
            let size: i64 = replica.query(&mut ::redis::cmd("DBSIZE")).await.ok()?;
            (size == 1).then_some(())
        },
    )
    .await;

    let _: String = sentinel
        .query(::redis::cmd("SENTINEL").arg("FAILOVER").arg("mymaster"))
        .await
        .unwrap();
    eventually(
        "the replica to become master",
        Duration::from_secs(30),
        || async {
            let address: Vec<String> = sentinel
                .query(
                    ::redis::cmd("SENTINEL")
                        .arg("GET-MASTER-ADDR-BY-NAME")
                        .arg("mymaster"),
                )
                .await
                .ok()?;
            let role: Vec<::redis::Value> = replica.query(&mut ::redis::cmd("ROLE")).await.ok()?;
            let is_master =
                matches!(role.first(), Some(::redis::Value::BulkString(r)) if r == b"master");
            (address.get(1) == Some(&replica.port.to_string()) && is_master).then_some(())
        },
    )
    .await;

    eventually(
        "the old master to be a replica",
        Duration::from_secs(30),
        || async {
            let role: Vec<::redis::Value> = master.query(&mut ::redis::cmd("ROLE")).await.ok()?;
            matches!(role.first(), Some(::redis::Value::BulkString(r)) if r == b"slave")
                .then_some(())
        },
    )
    .await;

    // The retry of the earlier delivery, on the other hookwall: still a duplicate. Its
    // connection was to the demoted master, which refused the claim READONLY (counted);
    // hookwall asked the sentinels again and retried on the new master.
    assert_eq!(deliver(&b, ROUTE, before).await, (StatusCode::OK, true));
    assert!(store_errors(&b, "readonly") + store_errors(&b, "connection") >= 1.0);
    let after = br#"{"id":"after-failover"}"#;
    assert_eq!(deliver(&a, ROUTE, after).await, (StatusCode::OK, false));
    assert_eq!(deliver(&b, ROUTE, after).await, (StatusCode::OK, true));
    assert!(store_errors(&a, "readonly") + store_errors(&a, "connection") >= 1.0);
    assert_eq!(
        recorder.requests().await.len(),
        2,
        "each delivered once, failover or not"
    );
    let size: i64 = replica.query(&mut ::redis::cmd("DBSIZE")).await.unwrap();
    assert!(size >= 2, "the new master holds both deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_master_cluster_shares_deliveries_across_hookwalls() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path()).await;
    let recorder = Recorder::start().await;
    let seeds = |node: &RedisServer| Dedupe::default().store("redis").redis_cluster([node.url()]);
    let a = hookwall_up(&recorder.url(), &seeds(&nodes[0])).await;
    let b = hookwall_up(&recorder.url(), &seeds(&nodes[1])).await;

    for n in 0..12 {
        let body = format!("{{\"cluster\":{n}}}");
        assert_eq!(
            deliver(&a, ROUTE, body.as_bytes()).await,
            (StatusCode::OK, false),
            "{n}"
        );
        assert_eq!(
            deliver(&b, ROUTE, body.as_bytes()).await,
            (StatusCode::OK, true),
            "{n}"
        );
    }
    assert_eq!(recorder.requests().await.len(), 12);
    // The hash tag is the key's hash: keys spread over the masters, not one slot.
    let mut holding = 0;
    for node in &nodes {
        let size: i64 = node.query(&mut ::redis::cmd("DBSIZE")).await.unwrap();
        holding += usize::from(size > 0);
    }
    assert!(holding >= 2, "12 keys on {holding} of 3 masters");
}
