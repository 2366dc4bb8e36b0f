//! The `[dedupe]` table: where duplicate suppression keeps its memory (this process, or a
//! Redis shared by every replica) and how hookwall talks to that Redis.

use super::SecretSource;
use super::raw::{RawDedupe, RawSecret};
use super::secret::Secret;
use redis::{ConnectionAddr, IntoConnectionInfo};
use std::path::PathBuf;
use std::time::Duration;

/// A Redis on the same network answers in well under a millisecond; 250 ms rides out a
/// slow moment without letting a dead Redis add more than that to a delivery.
pub(crate) const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// Shared by every hookwall on one Redis; change it to keep several installations apart.
pub(crate) const DEFAULT_KEY_PREFIX: &str = "hookwall:";

/// Where duplicate suppression remembers deliveries.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) enum DedupeStore {
    /// In this process: forgotten on restart, not shared between replicas (the default).
    #[default]
    Memory,
    Redis(Box<RedisStore>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedisStore {
    pub(crate) servers: RedisServers,
    /// The data nodes' password (`AUTH`); the user, if any, is in the URL.
    pub(crate) password: Option<Secret>,
    /// PEM roots trusted for `rediss://` instead of the system's (a private CA).
    pub(crate) ca: Option<CaFile>,
    pub(crate) key_prefix: String,
    /// Bounds every Redis command, connecting included.
    pub(crate) timeout: Duration,
    pub(crate) on_error: OnError,
}

/// Which Redis deployment holds the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RedisServers {
    /// One server (or a managed endpoint that fails over behind one name): `redis_url`.
    Single { url: String },
    /// A master found through Redis Sentinel: `redis_sentinels` and `redis_sentinel_master`.
    Sentinel {
        sentinels: Vec<String>,
        master: String,
        /// ACL user on the master (sentinel URLs carry the sentinels' own user).
        username: Option<String>,
        sentinel_password: Option<Secret>,
    },
    /// Redis Cluster, discovered from seed nodes: `redis_cluster`.
    Cluster { seeds: Vec<String> },
}

impl RedisServers {
    /// Whether connections use TLS (every URL agrees; checked at load).
    pub(crate) fn tls(&self) -> bool {
        let first = match self {
            RedisServers::Single { url } => url,
            RedisServers::Sentinel { sentinels, .. } => &sentinels[0],
            RedisServers::Cluster { seeds } => &seeds[0],
        };
        first.starts_with("rediss://")
    }
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CaFile {
    pub(crate) path: PathBuf,
    pub(crate) pem: Vec<u8>,
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaFile({})", self.path.display())
    }
}

/// What a request gets when Redis cannot answer within `timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnError {
    /// Forward without duplicate suppression: the app may see a duplicate, never a gap.
    Forward,
    /// Answer 503 with `Retry-After`: the sender retries once Redis is back.
    Refuse,
}

impl DedupeStore {
    /// The files a reload re-reads (password files and the CA file).
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let DedupeStore::Redis(redis) = self else {
            return Vec::new();
        };
        let mut files = Vec::new();
        let mut secret_file = |secret: &Option<Secret>| {
            if let Some(Secret {
                source: SecretSource::File(path),
                ..
            }) = secret
            {
                files.push(path.clone());
            }
        };
        secret_file(&redis.password);
        if let RedisServers::Sentinel {
            sentinel_password, ..
        } = &redis.servers
        {
            secret_file(sentinel_password);
        }
        files.extend(redis.ca.iter().map(|ca| ca.path.clone()));
        files
    }
}

/// Validates `[dedupe]`. Errors are `(key, message)`; the caller adds the file.
pub(crate) fn from_raw(
    raw: RawDedupe,
    resolve: &dyn Fn(&SecretSource) -> Result<Secret, String>,
) -> Result<DedupeStore, (String, String)> {
    let err = |key: &str, message: String| (format!("dedupe.{key}"), message);
    let redis_keys = [
        ("redis_url", raw.redis_url.is_some()),
        ("redis_sentinels", raw.redis_sentinels.is_some()),
        ("redis_sentinel_master", raw.redis_sentinel_master.is_some()),
        (
            "redis_sentinel_password",
            raw.redis_sentinel_password.is_some(),
        ),
        ("redis_username", raw.redis_username.is_some()),
        ("redis_cluster", raw.redis_cluster.is_some()),
        ("redis_password", raw.redis_password.is_some()),
        ("redis_ca_file", raw.redis_ca_file.is_some()),
        ("key_prefix", raw.key_prefix.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("on_error", raw.on_error.is_some()),
    ];
    match raw.store.as_deref() {
        None | Some("memory") => {
            if let Some((key, _)) = redis_keys.iter().find(|(_, set)| *set) {
                return Err(err(
                    key,
                    "only applies with store = \"redis\"; add that or remove this key".into(),
                ));
            }
            return Ok(DedupeStore::Memory);
        }
        Some("redis") => {}
        Some(other) => {
            return Err(err(
                "store",
                format!("unknown store {other:?}; use \"memory\" (the default) or \"redis\""),
            ));
        }
    }

    if raw.redis_sentinels.is_none() {
        for key in [
            ("redis_sentinel_master", raw.redis_sentinel_master.is_some()),
            (
                "redis_sentinel_password",
                raw.redis_sentinel_password.is_some(),
            ),
        ] {
            if key.1 {
                return Err(err(
                    key.0,
                    "only applies with redis_sentinels; remove it".into(),
                ));
            }
        }
        if raw.redis_username.is_some() {
            return Err(err(
                "redis_username",
                "only applies with redis_sentinels; put the user in the URL instead, like \"redis://hookwall@host:6379\"".into(),
            ));
        }
    }

    let servers = match (raw.redis_url, raw.redis_sentinels, raw.redis_cluster) {
        (Some(url), None, None) => {
            check_url(&url).map_err(|m| err("redis_url", m))?;
            RedisServers::Single { url }
        }
        (None, Some(sentinels), None) => {
            check_urls(&sentinels).map_err(|m| err("redis_sentinels", m))?;
            let master = raw.redis_sentinel_master.ok_or_else(|| {
                err(
                    "redis_sentinel_master",
                    "missing; name the master the sentinels watch, e.g. redis_sentinel_master = \"mymaster\"".into(),
                )
            })?;
            let sentinel_password = raw
                .redis_sentinel_password
                .map(|secret| read_secret(secret, resolve))
                .transpose()
                .map_err(|(field, m)| err(&format!("redis_sentinel_password{field}"), m))?;
            RedisServers::Sentinel {
                sentinels,
                master,
                username: raw.redis_username,
                sentinel_password,
            }
        }
        (None, None, Some(seeds)) => {
            check_urls(&seeds).map_err(|m| err("redis_cluster", m))?;
            RedisServers::Cluster { seeds }
        }
        (None, None, None) => {
            return Err(err(
                "store",
                "store = \"redis\" needs one of redis_url = \"redis://host:6379/0\", redis_sentinels = [...] with redis_sentinel_master, or redis_cluster = [...]".into(),
            ));
        }
        _ => {
            return Err(err(
                "store",
                "give only one of redis_url, redis_sentinels or redis_cluster".into(),
            ));
        }
    };
    let password = raw
        .redis_password
        .map(|secret| read_secret(secret, resolve))
        .transpose()
        .map_err(|(field, m)| err(&format!("redis_password{field}"), m))?;
    let ca = match raw.redis_ca_file {
        None => None,
        Some(path) => {
            if !servers.tls() {
                return Err(err(
                    "redis_ca_file",
                    "only applies to rediss:// (TLS) URLs; use rediss:// or remove it".into(),
                ));
            }
            let pem = std::fs::read(&path).map_err(|e| {
                err(
                    "redis_ca_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(err(
                    "redis_ca_file",
                    format!(
                        "{} holds no PEM certificate; give the CA that signed the Redis server's certificate",
                        path.display()
                    ),
                ));
            }
            Some(CaFile { path, pem })
        }
    };
    let key_prefix = raw
        .key_prefix
        .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_string());
    if key_prefix.contains(['{', '}']) || key_prefix.chars().any(|c| c.is_control()) {
        return Err(err(
            "key_prefix",
            format!(
                "{key_prefix:?} must not contain braces or control characters: hookwall puts each key's hash in a Redis Cluster hash tag {{…}} itself"
            ),
        ));
    }
    let timeout = match raw.timeout.map(Duration::from) {
        Some(timeout) if timeout.is_zero() => {
            return Err(err(
                "timeout",
                "must be longer than zero; remove it to use the default \"250ms\"".into(),
            ));
        }
        timeout => timeout.unwrap_or(DEFAULT_REDIS_TIMEOUT),
    };
    let on_error = match raw.on_error.as_deref() {
        None | Some("forward") => OnError::Forward,
        Some("refuse") => OnError::Refuse,
        Some(other) => {
            return Err(err(
                "on_error",
                format!("unknown value {other:?}; use \"forward\" (the default) or \"refuse\""),
            ));
        }
    };
    Ok(DedupeStore::Redis(Box::new(RedisStore {
        servers,
        password,
        ca,
        key_prefix,
        timeout,
        on_error,
    })))
}

/// `url` for an error message, with any password in it replaced.
fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:[redacted]@{host}")
        }
        _ => url.to_string(),
    }
}

/// A Redis URL hookwall can use, with no password in it (config files are not secrets).
fn check_url(url: &str) -> Result<(), String> {
    let shown = shown(url);
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(format!(
            "{shown:?} must start with redis:// (or rediss:// for TLS), like \"redis://127.0.0.1:6379/0\""
        ));
    }
    let info = url
        .into_connection_info()
        .map_err(|e| format!("{shown:?} is not a Redis URL: {e}"))?;
    if info.redis_settings().password().is_some() {
        return Err(format!(
            "{shown:?} holds a password; remove it from the URL and give redis_password = {{ env = \"REDIS_PASSWORD\" }} (or {{ file = \"…\" }})"
        ));
    }
    if !matches!(
        info.addr(),
        ConnectionAddr::Tcp(..) | ConnectionAddr::TcpTls { .. }
    ) {
        return Err(format!("{shown:?} must name a host and port"));
    }
    Ok(())
}

fn check_urls(urls: &[String]) -> Result<(), String> {
    let Some(first) = urls.first() else {
        return Err(
            "is empty; list at least one address, like [\"redis://10.0.0.5:26379\"]".into(),
        );
    };
    for url in urls {
        check_url(url)?;
        if url.starts_with("rediss://") != first.starts_with("rediss://") {
            return Err(format!(
                "{url:?} and {first:?} disagree on TLS; use rediss:// for all or for none"
            ));
        }
    }
    Ok(())
}

/// Errors carry the sub-key (`.env`, `.file` or none) they concern.
fn read_secret(
    raw: RawSecret,
    resolve: &dyn Fn(&SecretSource) -> Result<Secret, String>,
) -> Result<Secret, (String, String)> {
    let (source, field) = match (raw.env, raw.file) {
        (Some(var), None) => (SecretSource::Env(var), ".env"),
        (None, Some(file)) => (SecretSource::File(file), ".file"),
        _ => {
            return Err((
                String::new(),
                "give exactly one of env = \"VAR\" or file = \"/path\"".into(),
            ));
        }
    };
    let secret = resolve(&source).map_err(|m| (field.to_string(), m))?;
    if std::str::from_utf8(secret.bytes()).is_err() {
        return Err((
            field.to_string(),
            format!("the {source} is not UTF-8 text, which a Redis password must be"),
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError, Secret, SecretSource};
    use super::*;

    fn fixed_secrets(source: &SecretSource) -> Result<Secret, String> {
        Ok(Secret::literal(source.clone(), b"redis-pass".to_vec()))
    }

    fn parse(dedupe: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:8080\"\n[dedupe]\n{dedupe}\n[[route]]\npath = \"/w\"\nscheme = \"visma\"\nsecrets = [{{ env = \"S\" }}]\ndedupe = \"24h\"\n"
        );
        Config::from_toml_with_secrets(&text, "/etc/hookwall/hookwall.toml", &fixed_secrets)
    }

    fn error(dedupe: &str) -> String {
        parse(dedupe).unwrap_err().to_string()
    }

    #[test]
    fn memory_is_the_default_and_redis_keys_need_redis() {
        assert_eq!(parse("").unwrap().dedupe, DedupeStore::Memory);
        assert_eq!(
            parse("store = \"memory\"").unwrap().dedupe,
            DedupeStore::Memory
        );
        let err = error("redis_url = \"redis://127.0.0.1:6379\"");
        assert!(err.contains("`dedupe.redis_url`"), "{err}");
        assert!(err.contains("store = \"redis\""), "{err}");
        let err = error("store = \"disk\"");
        assert!(
            err.contains("`dedupe.store`") && err.contains("\"memory\""),
            "{err}"
        );
    }

    #[test]
    fn the_contract_parses_with_its_values() {
        let config = parse(
            r#"store = "redis"
redis_url = "rediss://hookwall@redis.internal:6380/0"
redis_password = { env = "REDIS_PASSWORD" }
key_prefix = "hw:"
timeout = "100ms"
on_error = "refuse""#,
        )
        .unwrap();
        let DedupeStore::Redis(redis) = config.dedupe else {
            panic!("redis store expected");
        };
        assert_eq!(
            redis.servers,
            RedisServers::Single {
                url: "rediss://hookwall@redis.internal:6380/0".into()
            }
        );
        assert!(redis.servers.tls());
        assert_eq!(redis.password.unwrap().bytes(), b"redis-pass");
        assert_eq!(redis.key_prefix, "hw:");
        assert_eq!(redis.timeout, Duration::from_millis(100));
        assert_eq!(redis.on_error, OnError::Refuse);
    }

    #[test]
    fn redis_defaults() {
        let DedupeStore::Redis(redis) = parse("store = \"redis\"\nredis_url = \"redis://r:6379\"")
            .unwrap()
            .dedupe
        else {
            panic!("redis store expected");
        };
        assert_eq!(redis.key_prefix, DEFAULT_KEY_PREFIX);
        assert_eq!(redis.timeout, DEFAULT_REDIS_TIMEOUT);
        assert_eq!(redis.on_error, OnError::Forward);
        assert!(redis.password.is_none());
    }

    #[test]
    fn sentinel_and_cluster_settings() {
        let config = parse(
            r#"store = "redis"
redis_sentinels = ["redis://s1:26379", "redis://s2:26379"]
redis_sentinel_master = "mymaster"
redis_username = "hookwall"
redis_sentinel_password = { file = "/run/sentinel-pass" }"#,
        )
        .unwrap();
        let DedupeStore::Redis(redis) = &config.dedupe else {
            panic!("redis store expected");
        };
        assert!(matches!(
            &redis.servers,
            RedisServers::Sentinel { master, username: Some(user), sentinel_password: Some(_), sentinels }
                if master == "mymaster" && user == "hookwall" && sentinels.len() == 2
        ));
        assert_eq!(
            config.dedupe.files(),
            vec![PathBuf::from("/run/sentinel-pass")]
        );

        let config = parse("store = \"redis\"\nredis_cluster = [\"redis://n1:6379\"]").unwrap();
        assert!(matches!(
            &config.dedupe,
            DedupeStore::Redis(redis) if matches!(&redis.servers, RedisServers::Cluster { seeds } if seeds.len() == 1)
        ));
    }

    #[test]
    fn mistakes_are_named_with_their_fix() {
        let cases = [
            ("store = \"redis\"", "`dedupe.store`", "redis_url"),
            (
                "store = \"redis\"\nredis_url = \"redis://a:1\"\nredis_cluster = [\"redis://b:1\"]",
                "`dedupe.store`",
                "only one of",
            ),
            (
                "store = \"redis\"\nredis_url = \"http://a:1\"",
                "`dedupe.redis_url`",
                "redis://",
            ),
            (
                "store = \"redis\"\nredis_url = \"redis://:hunter2@a:1\"",
                "`dedupe.redis_url`",
                "redis_password",
            ),
            (
                "store = \"redis\"\nredis_sentinels = [\"redis://s:26379\"]",
                "`dedupe.redis_sentinel_master`",
                "mymaster",
            ),
            (
                "store = \"redis\"\nredis_url = \"redis://a:1\"\nredis_username = \"u\"",
                "`dedupe.redis_username`",
                "in the URL",
            ),
            (
                "store = \"redis\"\nredis_cluster = [\"redis://a:1\", \"rediss://b:1\"]",
                "`dedupe.redis_cluster`",
                "TLS",
            ),
            (
                "store = \"redis\"\nredis_url = \"redis://a:1\"\nkey_prefix = \"{x}\"",
                "`dedupe.key_prefix`",
                "hash tag",
            ),
            (
                "store = \"redis\"\nredis_url = \"redis://a:1\"\ntimeout = \"0s\"",
                "`dedupe.timeout`",
                "longer than zero",
            ),
            (
                "store = \"redis\"\nredis_url = \"redis://a:1\"\non_error = \"panic\"",
                "`dedupe.on_error`",
                "\"refuse\"",
            ),
            (
                "store = \"redis\"\nredis_url = \"redis://a:1\"\nredis_ca_file = \"/ca.pem\"",
                "`dedupe.redis_ca_file`",
                "rediss://",
            ),
            (
                "store = \"redis\"\nredis_url = \"redis://a:1\"\nredis_password = {}",
                "`dedupe.redis_password`",
                "exactly one of",
            ),
        ];
        for (dedupe, key, fix) in cases {
            let err = error(dedupe);
            assert!(err.contains("/etc/hookwall/hookwall.toml"), "{err}");
            assert!(err.contains(key), "{dedupe}: {err}");
            assert!(err.contains(fix), "{dedupe}: {err}");
            assert!(!err.contains("hunter2"), "a password in an error: {err}");
        }
    }

    #[test]
    fn the_kubernetes_component_config_is_valid() {
        let yaml = include_str!("../../deploy/kubernetes/components/redis/hookwall-config.yaml");
        let toml: String = yaml
            .split_once("hookwall.toml: |\n")
            .expect("a hookwall.toml key")
            .1
            .lines()
            .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
            .collect();
        let config =
            Config::from_toml_with_secrets(&toml, "components/redis", &fixed_secrets).unwrap();
        assert!(matches!(config.dedupe, DedupeStore::Redis(_)));
        assert!(config.routes.iter().all(|route| route.dedupe.is_some()));
    }
}
