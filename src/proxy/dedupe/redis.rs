//! The Redis dedupe store: one set of keys shared by every hookwall on the same Redis, so a
//! retry that lands on another replica, or after a restart, is still recognised.
//!
//! A delivery's key is `{key_prefix}dedupe:{<sha256>}`: the hash of the route name and the
//! delivery identity (never a secret, signature text or body), inside a Redis Cluster hash
//! tag so keys spread over the cluster's slots. Its value is a random claim token while the
//! delivery is forwarded (TTL: the in-flight TTL), then `delivered` (TTL: the route's window).
//! Every command is bounded by `dedupe.timeout`; what a request gets when Redis does not
//! answer is `dedupe.on_error`'s choice, and errors are logged once per burst.

use super::metrics::{Command, ErrorKind, StoreMetrics};
use crate::config::{self, OnError, RedisServers, RedisStore as Settings};
use crate::signature::DeliveryIdentity;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, Script, ServerErrorKind, TlsCertificates, TlsMode, Value,
};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The value of a delivered key. Claim tokens are hex, so they can never equal it.
const DELIVERED: &str = "delivered";
/// After a failed connect, commands fail at once for this long instead of each waiting out
/// its own connect (a dead Redis costs a request nothing but a counter increment).
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);
/// The background check that keeps `hookwall_dedupe_store_up` true to life without traffic
/// and reconnects before the next delivery needs the store.
const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// A connection that timed out this many times in a row is replaced: a half-open TCP
/// connection (a Redis host that vanished) never answers again. Fewer would reconnect on
/// every slow moment.
const TIMEOUTS_BEFORE_RECONNECT: u32 = 3;

/// Claims atomically: returns the key's value if it exists, else sets our token with the
/// in-flight TTL and returns nil. One round trip; works on Redis 2.6+ and Valkey.
const CLAIM_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

/// Compare-and-delete: gives a claim up only while it is still ours.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// How long a claim blocks the same delivery elsewhere: long enough to cover the whole
/// forward (connect, then the app's answer), short enough that a pod dying mid-forward
/// blocks the sender's retries for no longer than one upstream timeout.
pub(crate) fn in_flight_ttl(upstream: &config::Upstream, settings: &Settings) -> Duration {
    upstream.connect_timeout + upstream.timeout + settings.timeout + Duration::from_secs(1)
}

pub struct RedisStore {
    settings: Settings,
    in_flight_ttl: Duration,
    connection: tokio::sync::Mutex<Connection>,
    timeouts_in_a_row: AtomicU32,
    metrics: StoreMetrics,
    burst: Burst,
    claim_script: Script,
    release_script: Script,
}

/// The live connection and what makes a new one.
struct Connection {
    connector: Connector,
    live: Option<Conn>,
    /// Set while a connect is under way or has just failed: others fail fast until then.
    retry_at: Option<Instant>,
}

// One per store, built once: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Connector {
    Single(Client),
    Sentinel(SentinelClient),
    Cluster(ClusterClient),
    /// The settings made no client (the message says why; logged when built).
    Unusable(String),
}

/// A connection to one node (also a Sentinel-found master) or to a whole cluster. Both are
/// multiplexed: cloning shares one socket (per node) among every request.
#[derive(Clone)]
enum Conn {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Why a command failed before Redis could answer it.
enum Failure {
    /// A recent connect failed; not trying again yet.
    Backoff,
    Redis(RedisError),
}

impl RedisStore {
    /// Builds the store without connecting: hookwall starts (and stays ready) while Redis is
    /// down, and connects on first use and from the background health check.
    pub(crate) fn new(
        settings: Settings,
        in_flight_ttl: Duration,
        metrics: StoreMetrics,
    ) -> Arc<Self> {
        let connector = match build_connector(&settings) {
            Ok(connector) => connector,
            Err(err) => {
                let message = err.to_string();
                tracing::error!(error = %message, "cannot set up the Redis dedupe store; check the [dedupe] settings");
                Connector::Unusable(message)
            }
        };
        let store = Arc::new(RedisStore {
            settings,
            in_flight_ttl,
            connection: tokio::sync::Mutex::new(Connection {
                connector,
                live: None,
                retry_at: None,
            }),
            timeouts_in_a_row: AtomicU32::new(0),
            metrics,
            burst: Burst::default(),
            claim_script: Script::new(CLAIM_SCRIPT),
            release_script: Script::new(RELEASE_SCRIPT),
        });
        spawn_health_check(&store);
        store
    }

    pub(crate) fn has_settings(&self, settings: &Settings, in_flight_ttl: Duration) -> bool {
        self.settings == *settings && self.in_flight_ttl == in_flight_ttl
    }

    /// Runs one command, bounded by `dedupe.timeout` (connecting included), and records its
    /// latency, its error kind and whether the store answers.
    ///
    /// A command refused by a demoted master (READONLY) or cut off with its connection is
    /// sent once more on a new connection within the same timeout: after a failover the
    /// first request finds the new master instead of failing.
    async fn exec<T, F, Fut>(&self, command: Command, op: F) -> Result<T, ErrorKind>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let started = Instant::now();
        let result = tokio::time::timeout(self.settings.timeout, async {
            let conn = self.connect().await?;
            match op(conn).await {
                Err(err)
                    if matches!(classify(&err), ErrorKind::ReadOnly | ErrorKind::Connection) =>
                {
                    self.metrics.error(classify(&err));
                    self.connection.lock().await.live = None;
                    let conn = self.connect().await?;
                    op(conn).await.map_err(Failure::Redis)
                }
                answer => answer.map_err(Failure::Redis),
            }
        })
        .await;
        self.metrics.observe(command, started.elapsed());
        let (kind, detail) = match result {
            Ok(Ok(value)) => {
                self.timeouts_in_a_row.store(0, Ordering::Relaxed);
                self.metrics.set_up(true);
                self.burst.answered();
                return Ok(value);
            }
            Err(_elapsed) => (
                ErrorKind::Timeout,
                format!(
                    "no answer within dedupe.timeout ({:?})",
                    self.settings.timeout
                ),
            ),
            Ok(Err(Failure::Backoff)) => (
                ErrorKind::Connection,
                "not connected; reconnecting".to_string(),
            ),
            Ok(Err(Failure::Redis(err))) => (classify(&err), err.to_string()),
        };
        // Any error answer may come from a node that is no longer the right one (a demoted
        // master answers READONLY, a script error may wrap it): start over. A slow answer
        // only after several in a row.
        let replace = match kind {
            ErrorKind::Timeout => {
                self.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1
                    >= TIMEOUTS_BEFORE_RECONNECT
            }
            _ => true,
        };
        if replace {
            self.timeouts_in_a_row.store(0, Ordering::Relaxed);
            self.connection.lock().await.live = None;
        }
        self.metrics.error(kind);
        self.metrics.set_up(false);
        self.burst.failed(kind, &detail, self.settings.on_error);
        Err(kind)
    }

    /// The live connection, connecting first when there is none.
    async fn connect(&self) -> Result<Conn, Failure> {
        let mut state = self.connection.lock().await;
        if let Some(conn) = &state.live {
            return Ok(conn.clone());
        }
        if state.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(Failure::Backoff);
        }
        // Set before trying, so it also holds when this attempt is cut off by the timeout.
        state.retry_at = Some(Instant::now() + RECONNECT_BACKOFF);
        let timeout = self.settings.timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let conn = match &mut state.connector {
            Connector::Single(client) => client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map(Conn::Node),
            Connector::Sentinel(client) => client
                .get_async_connection_with_config(&config)
                .await
                .map(Conn::Node),
            Connector::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            Connector::Unusable(message) => Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "the [dedupe] Redis settings made no client",
                message.clone(),
            ))),
        }
        .map_err(Failure::Redis)?;
        state.retry_at = None;
        state.live = Some(conn.clone());
        Ok(conn)
    }

    async fn ping(&self) {
        let _ = self
            .exec(Command::Ping, |mut conn| async move {
                redis::cmd("PING").query_async::<String>(&mut conn).await
            })
            .await;
    }
}

/// Pings the store every [`HEALTH_CHECK_INTERVAL`] for as long as it exists.
fn spawn_health_check(store: &Arc<RedisStore>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let store = Arc::downgrade(store);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(HEALTH_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Holds the store only while pinging, so a replaced store is dropped.
            let Some(store) = store.upgrade() else {
                return;
            };
            store.ping().await;
        }
    });
}

fn classify(err: &RedisError) -> ErrorKind {
    match err.kind() {
        _ if err.is_timeout() => ErrorKind::Timeout,
        redis::ErrorKind::AuthenticationFailed
        | redis::ErrorKind::Server(ServerErrorKind::NoPerm) => ErrorKind::Auth,
        redis::ErrorKind::Server(ServerErrorKind::ReadOnly) => ErrorKind::ReadOnly,
        _ if err.to_string().contains("READONLY") => ErrorKind::ReadOnly,
        _ if err.is_io_error()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || err.is_unrecoverable_error()
            || err.is_cluster_error() =>
        {
            ErrorKind::Connection
        }
        _ => ErrorKind::Server,
    }
}

fn build_connector(settings: &Settings) -> RedisResult<Connector> {
    // The Redis client builds its TLS configuration from rustls's process default.
    crate::net::tls::install_process_default();
    let certificates = || TlsCertificates {
        client_tls: None,
        root_cert: settings.ca.as_ref().map(|ca| ca.pem.clone()),
    };
    let password = settings.password.as_ref().map(secret_text);
    match &settings.servers {
        RedisServers::Single { url } => {
            let info = url.as_str().into_connection_info()?;
            let mut redis_settings = info.redis_settings().clone();
            if let Some(password) = &password {
                redis_settings = redis_settings.set_password(password);
            }
            let info = info.set_redis_settings(redis_settings);
            let client = if settings.ca.is_some() {
                Client::build_with_tls(info, certificates())?
            } else {
                Client::open(info)?
            };
            Ok(Connector::Single(client))
        }
        RedisServers::Cluster { seeds } => {
            let infos = seeds
                .iter()
                .map(|url| url.as_str().into_connection_info())
                .collect::<RedisResult<Vec<_>>>()?;
            let username = infos[0].redis_settings().username().map(str::to_string);
            let mut builder = ClusterClient::builder(infos)
                .connection_timeout(settings.timeout)
                .response_timeout(settings.timeout)
                // dedupe.timeout bounds the whole command; retries only fill it.
                .retries(2);
            if let Some(username) = username {
                builder = builder.username(username);
            }
            if let Some(password) = &password {
                builder = builder.password(password);
            }
            if settings.servers.tls() {
                builder = builder.tls(TlsMode::Secure);
                if settings.ca.is_some() {
                    builder = builder.certs(certificates());
                }
            }
            Ok(Connector::Cluster(builder.build()?))
        }
        RedisServers::Sentinel {
            sentinels,
            master,
            username,
            sentinel_password,
        } => {
            let infos = sentinels
                .iter()
                .map(|url| url.as_str().into_connection_info())
                .collect::<RedisResult<Vec<_>>>()?;
            let sentinel_user = infos[0].redis_settings().username().map(str::to_string);
            let addrs = infos.iter().map(|info| info.addr().clone());
            let mut builder =
                SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?;
            if let Some(user) = sentinel_user {
                builder = builder.set_client_to_sentinel_username(user);
            }
            if let Some(secret) = sentinel_password {
                builder = builder.set_client_to_sentinel_password(secret_text(secret));
            }
            if let Some(user) = username {
                builder = builder.set_client_to_redis_username(user);
            }
            if let Some(password) = &password {
                builder = builder.set_client_to_redis_password(password);
            }
            if settings.servers.tls() {
                builder = builder
                    .set_client_to_sentinel_tls_mode(TlsMode::Secure)
                    .set_client_to_redis_tls_mode(TlsMode::Secure);
                if settings.ca.is_some() {
                    builder = builder
                        .set_client_to_sentinel_certificates(certificates())
                        .set_client_to_redis_certificates(certificates());
                }
            }
            Ok(Connector::Sentinel(builder.build()?))
        }
    }
}

/// Config checked that Redis passwords are UTF-8.
fn secret_text(secret: &config::Secret) -> String {
    String::from_utf8_lossy(secret.bytes()).into_owned()
}

/// Logs the start and the end of a run of errors, not each error: a Redis outage under load
/// is one warning and one recovery line, while the counters carry the volume.
#[derive(Default)]
struct Burst {
    failing: AtomicBool,
    errors: AtomicU64,
    since: Mutex<Option<Instant>>,
}

impl Burst {
    fn failed(&self, kind: ErrorKind, detail: &str, on_error: OnError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.failing.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let consequence = match on_error {
            OnError::Forward => "deliveries are forwarded without duplicate suppression",
            OnError::Refuse => "deliveries are refused with 503 and Retry-After",
        };
        tracing::warn!(
            kind = kind.label(),
            error = detail,
            "the Redis dedupe store is not answering; {consequence} until it does (dedupe.on_error); \
             further errors are counted in hookwall_dedupe_store_errors_total, not logged"
        );
    }

    fn answered(&self) {
        if !self.failing.load(Ordering::Relaxed) || !self.failing.swap(false, Ordering::AcqRel) {
            return;
        }
        let errors = self.errors.swap(0, Ordering::Relaxed);
        let seconds = self
            .since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map_or(0.0, |since| since.elapsed().as_secs_f64());
        tracing::info!(
            errors,
            seconds,
            "the Redis dedupe store answers again; duplicate suppression is back"
        );
    }
}

/// One route's keys in the shared store.
pub(crate) struct RouteKeys {
    store: Arc<RedisStore>,
    /// SHA-256 of the route name: the same delivery on two routes is two deliveries.
    route_digest: [u8; 32],
}

pub(crate) enum ClaimResult {
    /// Ours: forward it, then settle the claim.
    Claimed(Claim),
    Delivered,
    InFlight,
    /// The store did not answer; `on_error` says what to do.
    Failed(OnError),
}

impl RouteKeys {
    pub(crate) fn new(store: Arc<RedisStore>, route_name: &str) -> RouteKeys {
        RouteKeys {
            store,
            route_digest: Sha256::digest(route_name.as_bytes()).into(),
        }
    }

    fn key(&self, identity: &DeliveryIdentity) -> String {
        let mut hash = Sha256::new();
        hash.update(b"hookwall dedupe v1\0");
        hash.update(self.route_digest);
        match identity {
            DeliveryIdentity::SignedId(id) => {
                hash.update([1]);
                hash.update(id.as_bytes());
            }
            DeliveryIdentity::Signature(tag) => {
                hash.update([2]);
                hash.update(tag.as_bytes());
            }
        }
        format!(
            "{}dedupe:{{{}}}",
            self.store.settings.key_prefix,
            hex::encode(hash.finalize())
        )
    }

    /// Claims the delivery for `window`'s route, atomically across every hookwall.
    pub(crate) async fn claim(&self, identity: &DeliveryIdentity, window: Duration) -> ClaimResult {
        let store = &self.store;
        let key = self.key(identity);
        let token = claim_token();
        let ttl_ms = millis(store.in_flight_ttl);
        let (script, key_ref, token_ref) = (&store.claim_script, &key, &token);
        let answer = store
            .exec(Command::Claim, |mut conn| async move {
                script
                    .key(key_ref)
                    .arg(token_ref)
                    .arg(ttl_ms)
                    .invoke_async::<Option<String>>(&mut conn)
                    .await
            })
            .await;
        match answer {
            Ok(None) => ClaimResult::Claimed(Claim {
                store: Arc::clone(store),
                key,
                token,
                window,
                settled: false,
            }),
            Ok(Some(value)) if value == DELIVERED => ClaimResult::Delivered,
            Ok(Some(_)) => ClaimResult::InFlight,
            Err(_) => ClaimResult::Failed(store.settings.on_error),
        }
    }
}

/// A delivery this hookwall claimed. Dropped without [`Claim::delivered`], it is released
/// in the background (compare-and-delete, bounded by the timeout): drop cannot wait.
pub(crate) struct Claim {
    store: Arc<RedisStore>,
    key: String,
    token: String,
    window: Duration,
    settled: bool,
}

impl Claim {
    /// The app answered 2xx: the key becomes `delivered` for the route's window. If Redis
    /// cannot take it, the claim stays until its in-flight TTL ends (retries get 409 until
    /// then, and are forwarded after).
    pub(crate) async fn delivered(mut self) {
        self.settled = true;
        let window_ms = millis(self.window);
        let key = &self.key;
        let _ = self
            .store
            .exec(Command::Deliver, |mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(DELIVERED)
                    .arg("PX")
                    .arg(window_ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = Arc::clone(&self.store);
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        runtime.spawn(async move {
            let (script, key, token) = (&store.release_script, &key, &token);
            let _ = store
                .exec(Command::Release, |mut conn| async move {
                    script
                        .key(key)
                        .arg(token)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await;
        });
    }
}

/// 128 random bits: no other claim, by any pod, ever holds the same token.
fn claim_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Still unique enough per process and time that a compare-and-delete cannot remove
        // another pod's claim by accident in practice.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        bytes = nanos.to_le_bytes();
    }
    hex::encode(bytes)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_the_identity_and_route_and_carry_a_hash_tag() {
        let settings = Settings {
            servers: RedisServers::Single {
                url: "redis://127.0.0.1:1".into(),
            },
            password: None,
            ca: None,
            key_prefix: "hw:".into(),
            timeout: Duration::from_millis(50),
            on_error: OnError::Forward,
        };
        let metrics = crate::telemetry::metrics::Metrics::new();
        let store = RedisStore::new(
            settings,
            Duration::from_secs(1),
            StoreMetrics::new(&metrics),
        );
        let route_a = RouteKeys::new(Arc::clone(&store), "a");
        let route_b = RouteKeys::new(store, "b");
        let id = DeliveryIdentity::SignedId("msg_secretish_42".into());
        let key = route_a.key(&id);
        assert!(key.starts_with("hw:dedupe:{"), "{key}");
        assert!(key.ends_with('}'), "{key}");
        assert_eq!(key.len(), "hw:dedupe:{}".len() + 64);
        assert!(!key.contains("msg_secretish_42"));
        assert_eq!(key, route_a.key(&id), "stable");
        assert_ne!(key, route_b.key(&id), "per route");
        assert_ne!(
            key,
            route_a.key(&DeliveryIdentity::SignedId("other".into()))
        );
    }

    #[test]
    fn claim_tokens_never_read_as_delivered() {
        let token = claim_token();
        assert_eq!(token.len(), 32);
        assert_ne!(token, DELIVERED);
        assert_ne!(token, claim_token());
    }
}
