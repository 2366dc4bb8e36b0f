//! hookwall's configuration: one TOML file, checked once into typed values.
//!
//! Loading is two-staged: [`raw`] mirrors the file and rejects unknown keys; [`Config::from_raw`]
//! validates, applies the defaults named below and resolves secrets. Every error names the
//! file, the key and what to do about it.

mod dedupe;
mod listen;
mod raw;
mod secret;

pub(crate) use dedupe::{DedupeStore, OnError, RedisServers, RedisStore};
pub(crate) use listen::parse_listen_address;
pub use secret::{Secret, SecretSource};

use crate::signature::{
    Algorithm, Encoding, Key, KeyForm, Layout, Part, PublicUrl, Scheme, Spec, TimeFormat, Timestamp,
};
use http::uri::{Authority, Scheme as UriScheme};
use ipnet::IpNet;
use raw::{RawConfig, RawRoute};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Port 8443: the usual unprivileged HTTPS port, so hookwall runs as non-root.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
/// Admin endpoints on their own port, so probes and scrapes never mix with webhook traffic.
pub(crate) const DEFAULT_ADMIN_LISTEN: &str = "0.0.0.0:9090";
/// Long enough for a slow app to answer a webhook; senders time out around 30 s themselves.
pub(crate) const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// The app is on loopback: a connect that takes seconds means it is not there.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Below Node.js's 5 s `keepAliveTimeout`, so hookwall never reuses a connection the app is
/// about to close (which would fail a delivery).
pub(crate) const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
pub(crate) const DEFAULT_POOL_MAX_IDLE: usize = 64;
/// Webhook payloads are small JSON documents; 1 MiB leaves room while bounding memory.
pub(crate) const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// A whole body must arrive within this; stops slow-body (R.U.D.Y.) attacks.
pub(crate) const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Each connection costs memory (TLS buffers); this bounds it at a few tens of MiB.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Verified requests at the app at once: bounds the app's concurrency. Buffered bodies are
/// bounded by this plus `max_unverified_bodies`, times `max_body_bytes`.
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 128;
/// Bodies being read whose signature is not verified yet. Bounded apart from `max_in_flight`,
/// so senders of forgeries cannot take the slots genuine deliveries need.
pub(crate) const DEFAULT_MAX_UNVERIFIED_BODIES: usize = 256;
/// Unverified body reads one client address may hold: no single source takes every slot.
pub(crate) const DEFAULT_MAX_UNVERIFIED_PER_SOURCE: usize = 32;
/// Unverified body reads one connection may hold (HTTP/2 multiplexes many streams).
pub(crate) const DEFAULT_MAX_UNVERIFIED_PER_CONNECTION: usize = 8;
/// Webhook senders are servers that send a whole body in milliseconds; a body arriving slower
/// than 1 KiB/s after the grace period below is a slow-body attack, not a delivery.
pub(crate) const DEFAULT_MIN_BODY_RATE: u64 = 1024;
pub(crate) const DEFAULT_BODY_RATE_GRACE: Duration = Duration::from_secs(2);
/// Webhook senders send a handful of short headers.
pub(crate) const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
pub(crate) const DEFAULT_MAX_HEADERS: usize = 64;
pub(crate) const DEFAULT_MAX_H2_STREAMS: u32 = 100;
/// Slowloris bound; for HTTP/1 it also closes keep-alive connections idle this long.
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// An HTTP/2 connection with no request for this long is closed (GOAWAY). (Idle HTTP/1
/// connections already close after `header_read_timeout`.)
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Long enough for Kubernetes to take the pod out of the Service's endpoints.
pub(crate) const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::from_secs(5);
/// In-flight requests get this long to finish once hookwall stops accepting.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often certificate and secret files are checked for changes. Kubernetes itself takes
/// up to a minute to update a mounted Secret, so a few seconds adds little.
pub(crate) const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
/// Polling faster than this only burns CPU.
pub(crate) const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(100);
/// The recent deliveries page keeps this many requests: a few busy minutes, about a MiB at
/// worst (each entry's headers are capped at 4 KiB).
pub const DEFAULT_DELIVERIES: usize = 200;
/// More would make the page's ring a memory risk (tens of MiB at worst) for little use.
pub(crate) const MAX_DELIVERIES: usize = 10_000;
/// Enough deliveries to cover a day of a busy subscription, at ~100 bytes each.
pub(crate) const DEFAULT_DEDUPE_MAX_ENTRIES: usize = 100_000;

/// The name that labels requests matching no route; no route may take it.
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// A configuration error a person will read: the file, the key, the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {file}: {source}; check the path given to --config")]
    Read {
        /// The path given.
        file: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file is not TOML, or has an unknown key or a value of the wrong type.
    #[error("config file {file} is not valid: {message}")]
    Parse {
        /// The file (or `embedded default`).
        file: String,
        /// The TOML parser's message, with the line.
        message: String,
    },
    /// A key has a value hookwall cannot use.
    #[error("config file {file}, key `{key}`: {message}")]
    Invalid {
        /// The file (or `embedded default`).
        file: String,
        /// The dotted key, such as `limits.max_body_bytes`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// A checked configuration: what `hookwall run` serves, built once from the TOML file.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where this config came from, for messages ("embedded default" or the file path).
    pub(crate) origin: String,
    /// The file to re-read on reload; `None` for the embedded default.
    pub(crate) path: Option<PathBuf>,
    pub(crate) server: Server,
    pub(crate) admin: Admin,
    pub(crate) upstream: Upstream,
    pub(crate) limits: Limits,
    pub(crate) log: Log,
    /// The `[[route]]` tables, in file order.
    pub routes: Vec<Route>,
    /// `[dedupe]`: where the routes' duplicate suppression remembers deliveries.
    pub(crate) dedupe: DedupeStore,
}

#[derive(Clone, Debug)]
pub(crate) struct Server {
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<TlsFiles>,
    /// Runtime worker threads; `None` means one per available CPU.
    pub(crate) workers: Option<usize>,
    pub(crate) shutdown_delay: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) tls_handshake_timeout: Duration,
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) reload_interval: Duration,
    /// Peers whose `X-Forwarded-For` is believed when checking `allow_sources`.
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// Global source allowlist; a route's own list replaces it.
    pub(crate) allow_sources: Option<Vec<IpNet>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
}

#[derive(Clone, Debug)]
pub(crate) struct Admin {
    pub(crate) listen: SocketAddr,
    /// How many recent requests `/deliveries` keeps; 0 turns the page off.
    pub(crate) deliveries: usize,
    /// Body bytes the deliveries page previews. Not a file key: only the embedded
    /// development default sets it; a configured hookwall never keeps bodies.
    pub(crate) delivery_body_preview: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Upstream {
    pub(crate) target: UpstreamTarget,
    /// Time allowed for the upstream's response head.
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) pool_max_idle: usize,
}

/// Where verified requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UpstreamTarget {
    /// `http://host:port`: requests keep their path; the authority only picks the socket.
    Http { authority: Authority },
    /// `unix:/path/app.sock`: nothing but hookwall can reach the app.
    Unix { path: PathBuf },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_body_bytes: u64,
    pub(crate) body_read_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_h2_streams: u32,
    pub(crate) max_unverified_bodies: usize,
    pub(crate) max_unverified_per_source: usize,
    pub(crate) max_unverified_per_connection: usize,
    /// Bytes per second a body must average once `body_rate_grace` has passed; 0: no minimum.
    pub(crate) min_body_rate: u64,
    pub(crate) body_rate_grace: Duration,
}

impl Default for Limits {
    /// Every limit at its default, as an empty `[limits]` table gives.
    fn default() -> Limits {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_h2_streams: DEFAULT_MAX_H2_STREAMS,
            max_unverified_bodies: DEFAULT_MAX_UNVERIFIED_BODIES,
            max_unverified_per_source: DEFAULT_MAX_UNVERIFIED_PER_SOURCE,
            max_unverified_per_connection: DEFAULT_MAX_UNVERIFIED_PER_CONNECTION,
            min_body_rate: DEFAULT_MIN_BODY_RATE,
            body_rate_grace: DEFAULT_BODY_RATE_GRACE,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// JSON when stdout is not a terminal (a container), text on a terminal.
    Auto,
    Json,
    Text,
}

#[derive(Clone, Debug)]
pub(crate) struct Log {
    pub(crate) format: LogFormat,
    pub(crate) level: String,
}

/// What a route does with a request whose signature fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// Refuse it (the default).
    Enforce,
    /// Record the outcome but forward anyway, to roll hookwall out without risk.
    Shadow,
}

/// A route's duplicate suppression: how long and how many deliveries it remembers.
#[derive(Clone, Debug)]
pub struct Dedupe {
    pub(crate) window: Duration,
    pub(crate) max_entries: usize,
}

/// One `[[route]]`: the path prefix, its scheme and secrets, and its policies.
#[derive(Clone, Debug)]
pub struct Route {
    /// The metrics label: `name` from the file, or the path.
    pub(crate) name: String,
    /// Normalised: starts with `/`, no trailing `/` (except the root route `/`).
    pub(crate) path: String,
    /// The preset, or the route's own `scheme = "hmac"` description (public for the fuzz
    /// target, which builds custom schemes the way a config file does).
    pub scheme: Scheme,
    /// The resolved secrets; more than one while a secret is rotated.
    pub secrets: Vec<Secret>,
    /// One precomputed key per secret, in the same order.
    pub keys: Vec<Key>,
    /// Where the provider posts to, for schemes that sign the URL.
    pub(crate) public_url: Option<PublicUrl>,
    pub(crate) mode: Mode,
    pub(crate) tolerance: Duration,
    /// Duplicate suppression, when the route sets `dedupe`.
    pub dedupe: Option<Dedupe>,
    pub(crate) allow_sources: Option<Vec<IpNet>>,
    /// The methods the route takes; `None`: every method but CONNECT and TRACE.
    pub(crate) methods: Option<Vec<http::Method>>,
}

impl Config {
    /// Reads, parses and validates `path`, resolving every secret.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let mut config = Config::from_toml(&text, &file)?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with_secrets(text, origin, &SecretSource::read)
    }

    /// Like [`Config::from_toml`], with secrets resolved by `resolve` instead of read from
    /// the environment and files (the embedded default's generated secret; tests).
    pub fn from_toml_with_secrets(
        text: &str,
        origin: &str,
        resolve: &dyn Fn(&SecretSource) -> Result<Secret, String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| ConfigError::Parse {
            file: origin.to_string(),
            message: err.to_string(),
        })?;
        Config::from_raw(raw, origin, resolve)
    }

    fn from_raw(
        raw: RawConfig,
        origin: &str,
        resolve: &dyn Fn(&SecretSource) -> Result<Secret, String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: origin.to_string(),
            key: key.to_string(),
            message,
        };

        let server = Server {
            listen: match raw.server.listen {
                Some(text) => {
                    parse_listen_address(&text).map_err(|m| invalid("server.listen", m))?
                }
                None => DEFAULT_LISTEN.parse().expect("valid default"),
            },
            tls: raw.server.tls.map(|tls| TlsFiles {
                cert_file: tls.cert_file,
                key_file: tls.key_file,
            }),
            workers: match raw.server.workers {
                Some(0) => {
                    return Err(invalid(
                        "server.workers",
                        "must be at least 1; remove it to use one worker per CPU".into(),
                    ));
                }
                workers => workers,
            },
            shutdown_delay: raw
                .server
                .shutdown_delay
                .map(Duration::from)
                .unwrap_or(DEFAULT_SHUTDOWN_DELAY),
            shutdown_grace: raw
                .server
                .shutdown_grace
                .map(Duration::from)
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            tls_handshake_timeout: positive(
                raw.server.tls_handshake_timeout.map(Duration::from),
                DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            )
            .map_err(|m| invalid("server.tls_handshake_timeout", m))?,
            header_read_timeout: positive(
                raw.server.header_read_timeout.map(Duration::from),
                DEFAULT_HEADER_READ_TIMEOUT,
            )
            .map_err(|m| invalid("server.header_read_timeout", m))?,
            idle_timeout: positive(
                raw.server.idle_timeout.map(Duration::from),
                DEFAULT_IDLE_TIMEOUT,
            )
            .map_err(|m| invalid("server.idle_timeout", m))?,
            reload_interval: match raw.server.reload_interval.map(Duration::from) {
                Some(interval) if interval < MIN_RELOAD_INTERVAL => {
                    return Err(invalid(
                        "server.reload_interval",
                        format!(
                            "{interval:?} would poll the files in a busy loop; use at least \"100ms\""
                        ),
                    ));
                }
                interval => interval.unwrap_or(DEFAULT_RELOAD_INTERVAL),
            },
            trusted_proxies: parse_cidrs(raw.server.trusted_proxies.unwrap_or_default())
                .map_err(|m| invalid("server.trusted_proxies", m))?,
            allow_sources: raw
                .server
                .allow_sources
                .map(parse_cidrs)
                .transpose()
                .map_err(|m| invalid("server.allow_sources", m))?,
        };

        let admin = Admin {
            listen: match raw.admin.listen {
                Some(text) => {
                    parse_listen_address(&text).map_err(|m| invalid("admin.listen", m))?
                }
                None => DEFAULT_ADMIN_LISTEN.parse().expect("valid default"),
            },
            deliveries: match raw.admin.deliveries {
                Some(count) if count > MAX_DELIVERIES => {
                    return Err(invalid(
                        "admin.deliveries",
                        format!(
                            "{count} is more than {MAX_DELIVERIES}; keep the default 200, or 0 to turn the page off"
                        ),
                    ));
                }
                count => count.unwrap_or(DEFAULT_DELIVERIES),
            },
            delivery_body_preview: 0,
        };
        if admin.listen == server.listen && admin.listen.port() != 0 {
            return Err(invalid(
                "admin.listen",
                format!(
                    "{} is also server.listen; give the admin endpoints their own port",
                    admin.listen
                ),
            ));
        }

        let raw_upstream = raw.upstream.ok_or_else(|| {
            invalid(
                "upstream",
                "missing; add an [upstream] table with url = \"http://127.0.0.1:8080\" (where your app listens)".into(),
            )
        })?;
        let upstream = Upstream {
            target: parse_upstream_url(&raw_upstream.url)
                .map_err(|m| invalid("upstream.url", m))?,
            timeout: positive(
                raw_upstream.timeout.map(Duration::from),
                DEFAULT_UPSTREAM_TIMEOUT,
            )
            .map_err(|m| invalid("upstream.timeout", m))?,
            connect_timeout: positive(
                raw_upstream.connect_timeout.map(Duration::from),
                DEFAULT_CONNECT_TIMEOUT,
            )
            .map_err(|m| invalid("upstream.connect_timeout", m))?,
            pool_idle_timeout: raw_upstream
                .pool_idle_timeout
                .map_or(DEFAULT_POOL_IDLE_TIMEOUT, Duration::from),
            pool_max_idle: raw_upstream.pool_max_idle.unwrap_or(DEFAULT_POOL_MAX_IDLE),
        };

        let limits = Limits {
            max_body_bytes: match raw.limits.max_body_bytes {
                Some(0) => {
                    return Err(invalid(
                        "limits.max_body_bytes",
                        "must be at least 1 (bytes)".into(),
                    ));
                }
                value => value.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            },
            body_read_timeout: positive(
                raw.limits.body_read_timeout.map(Duration::from),
                DEFAULT_BODY_READ_TIMEOUT,
            )
            .map_err(|m| invalid("limits.body_read_timeout", m))?,
            max_connections: at_least_one(raw.limits.max_connections, DEFAULT_MAX_CONNECTIONS)
                .map_err(|m| invalid("limits.max_connections", m))?,
            max_in_flight: at_least_one(raw.limits.max_in_flight, DEFAULT_MAX_IN_FLIGHT)
                .map_err(|m| invalid("limits.max_in_flight", m))?,
            max_header_bytes: match raw.limits.max_header_bytes {
                Some(bytes) if bytes < 1024 => {
                    return Err(invalid(
                        "limits.max_header_bytes",
                        format!("{bytes} is too small for any real request; use at least 1024"),
                    ));
                }
                value => value.unwrap_or(DEFAULT_MAX_HEADER_BYTES),
            },
            max_headers: at_least_one(raw.limits.max_headers, DEFAULT_MAX_HEADERS)
                .map_err(|m| invalid("limits.max_headers", m))?,
            max_h2_streams: match raw.limits.max_h2_streams {
                Some(0) => {
                    return Err(invalid(
                        "limits.max_h2_streams",
                        "must be at least 1".into(),
                    ));
                }
                value => value.unwrap_or(DEFAULT_MAX_H2_STREAMS),
            },
            max_unverified_bodies: at_least_one(
                raw.limits.max_unverified_bodies,
                DEFAULT_MAX_UNVERIFIED_BODIES,
            )
            .map_err(|m| invalid("limits.max_unverified_bodies", m))?,
            max_unverified_per_source: at_least_one(
                raw.limits.max_unverified_per_source,
                DEFAULT_MAX_UNVERIFIED_PER_SOURCE,
            )
            .map_err(|m| invalid("limits.max_unverified_per_source", m))?,
            max_unverified_per_connection: at_least_one(
                raw.limits.max_unverified_per_connection,
                DEFAULT_MAX_UNVERIFIED_PER_CONNECTION,
            )
            .map_err(|m| invalid("limits.max_unverified_per_connection", m))?,
            min_body_rate: raw.limits.min_body_rate.unwrap_or(DEFAULT_MIN_BODY_RATE),
            body_rate_grace: positive(
                raw.limits.body_rate_grace.map(Duration::from),
                DEFAULT_BODY_RATE_GRACE,
            )
            .map_err(|m| invalid("limits.body_rate_grace", m))?,
        };

        let log = Log {
            format: raw.log.format.unwrap_or(LogFormat::Auto),
            level: raw
                .log
                .level
                .unwrap_or(raw::LogLevel::Info)
                .as_str()
                .to_string(),
        };

        let dedupe = dedupe::from_raw(raw.dedupe, resolve)
            .map_err(|(key, message)| invalid(&key, message))?;

        if raw.routes.is_empty() {
            return Err(invalid(
                "route",
                "no [[route]] tables; add one per webhook endpoint, e.g. path = \"/webhooks/visma\", scheme = \"visma\"".into(),
            ));
        }
        let mut routes: Vec<Route> = Vec::with_capacity(raw.routes.len());
        for (index, raw_route) in raw.routes.into_iter().enumerate() {
            let route = validate_route(index, raw_route, origin, resolve)?;
            if let Some(other) = routes.iter().find(|r| r.path == route.path) {
                return Err(invalid(
                    &format!("route[{index}].path"),
                    format!(
                        "{:?} is already the path of route {:?}; each path needs one route",
                        route.path, other.name
                    ),
                ));
            }
            if let Some(other) = routes.iter().find(|r| r.name == route.name) {
                return Err(invalid(
                    &format!("route[{index}].name"),
                    format!(
                        "{:?} is already the name of the route for {:?}; names label metrics and must differ",
                        route.name, other.path
                    ),
                ));
            }
            routes.push(route);
        }

        Ok(Config {
            origin: origin.to_string(),
            path: None,
            server,
            admin,
            upstream,
            limits,
            log,
            routes,
            dedupe,
        })
    }
}

fn positive(value: Option<Duration>, default: Duration) -> Result<Duration, String> {
    match value {
        Some(duration) if duration.is_zero() => {
            Err("must be longer than zero; remove it to use the default".into())
        }
        value => Ok(value.unwrap_or(default)),
    }
}

fn at_least_one(value: Option<usize>, default: usize) -> Result<usize, String> {
    match value {
        Some(0) => Err("must be at least 1; remove it to use the default".into()),
        value => Ok(value.unwrap_or(default)),
    }
}

fn parse_cidrs(entries: Vec<String>) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{entry:?} is not an IP address or CIDR block like \"10.0.0.0/8\"")
                })
        })
        .collect()
}

fn parse_upstream_url(url: &str) -> Result<UpstreamTarget, String> {
    if let Some(path) = url.strip_prefix("unix:") {
        if !path.starts_with('/') {
            return Err(format!(
                "{url:?}: a Unix socket path must be absolute, like \"unix:/run/app/app.sock\""
            ));
        }
        return Ok(UpstreamTarget::Unix { path: path.into() });
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("{url:?} is not a URL like \"http://127.0.0.1:8080\""))?;
    if uri.scheme() != Some(&UriScheme::HTTP) {
        return Err(format!(
            "{url:?}: only http:// (or unix:) upstreams are supported; hookwall runs beside the app and forwards on loopback"
        ));
    }
    let authority = uri
        .authority()
        .filter(|a| a.port_u16().is_some())
        .cloned()
        .ok_or_else(|| format!("{url:?} needs a host and port, like \"http://127.0.0.1:8080\""))?;
    if uri.path() != "/" || uri.query().is_some() {
        return Err(format!(
            "{url:?} has a path; requests are forwarded with their own path unchanged, so give only the host and port"
        ));
    }
    Ok(UpstreamTarget::Http { authority })
}

fn validate_route(
    index: usize,
    raw: RawRoute,
    origin: &str,
    resolve: &dyn Fn(&SecretSource) -> Result<Secret, String>,
) -> Result<Route, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        file: origin.to_string(),
        key: format!("route[{index}].{key}"),
        message,
    };

    let path = normalize_route_path(&raw.path).map_err(|m| invalid("path", m))?;
    let scheme = scheme_from_raw(&raw).map_err(|(key, m)| invalid(key, m))?;
    let name = match raw.name {
        Some(name) if name.trim().is_empty() => {
            return Err(invalid(
                "name",
                "must not be empty; remove it to use the path".into(),
            ));
        }
        Some(name) if name == UNMATCHED_ROUTE => {
            return Err(invalid(
                "name",
                "\"unmatched\" labels requests that match no route; choose another name".into(),
            ));
        }
        Some(name) => name,
        None => path.clone(),
    };

    if raw.secrets.is_empty() {
        return Err(invalid(
            "secrets",
            "no secrets; add one, e.g. secrets = [{ env = \"VISMA_WEBHOOK_SECRET\" }]".into(),
        ));
    }
    let mut secrets = Vec::with_capacity(raw.secrets.len());
    let mut keys = Vec::with_capacity(raw.secrets.len());
    for (position, raw_secret) in raw.secrets.into_iter().enumerate() {
        let key_prefix = format!("secrets[{position}]");
        let source = match (raw_secret.env, raw_secret.file) {
            (Some(var), None) => SecretSource::Env(var),
            (None, Some(file)) => SecretSource::File(file),
            _ => {
                return Err(invalid(
                    &key_prefix,
                    "give exactly one of env = \"VAR\" or file = \"/path\"".into(),
                ));
            }
        };
        let field = match source {
            SecretSource::Env(_) => "env",
            SecretSource::File(_) => "file",
        };
        let secret = resolve(&source).map_err(|m| invalid(&format!("{key_prefix}.{field}"), m))?;
        let key = scheme.key_from_secret(secret.bytes()).map_err(|m| {
            invalid(
                &format!("{key_prefix}.{field}"),
                format!("the {source}: {m}"),
            )
        })?;
        secrets.push(secret);
        keys.push(key);
    }

    let mode = raw.mode.unwrap_or(Mode::Enforce);

    let tolerance = match raw.tolerance.map(Duration::from) {
        Some(_) if !scheme.has_timestamp() => {
            return Err(invalid(
                "tolerance",
                format!(
                    "the {} scheme signs no timestamp, so there is nothing to check; remove it",
                    scheme.name()
                ),
            ));
        }
        Some(tolerance) if tolerance.as_secs() == 0 => {
            return Err(invalid("tolerance", "must be at least 1s".into()));
        }
        tolerance => tolerance.unwrap_or_else(|| scheme.default_tolerance()),
    };

    let dedupe = match (raw.dedupe.map(Duration::from), raw.dedupe_max_entries) {
        (Some(window), _) if window.is_zero() => {
            return Err(invalid(
                "dedupe",
                "must be longer than zero; remove it to turn duplicate suppression off".into(),
            ));
        }
        (Some(window), max_entries) => Some(Dedupe {
            window,
            max_entries: match max_entries {
                Some(0) => return Err(invalid("dedupe_max_entries", "must be at least 1".into())),
                value => value.unwrap_or(DEFAULT_DEDUPE_MAX_ENTRIES),
            },
        }),
        (None, Some(_)) => {
            return Err(invalid(
                "dedupe_max_entries",
                "only applies with dedupe = \"24h\" (a window); add dedupe or remove this".into(),
            ));
        }
        (None, None) => None,
    };

    let allow_sources = raw
        .allow_sources
        .map(parse_cidrs)
        .transpose()
        .map_err(|m| invalid("allow_sources", m))?;

    let methods = raw
        .methods
        .map(parse_methods)
        .transpose()
        .map_err(|m| invalid("methods", m))?;
    let public_url = match (raw.public_url, scheme.signs_url()) {
        (None, true) => {
            return Err(invalid(
                "public_url",
                format!(
                    "the {} scheme signs the URL it posts to; add public_url = \"https://your.host{path}\" (the URL configured at the provider)",
                    scheme.name()
                ),
            ));
        }
        (Some(_), false) if !scheme.signs_public_path() => {
            return Err(invalid(
                "public_url",
                format!(
                    "the {} scheme does not sign the URL, so nothing uses it; remove it",
                    scheme.name()
                ),
            ));
        }
        (Some(url), _) => Some(PublicUrl {
            base: parse_public_url(&url).map_err(|m| invalid("public_url", m))?,
            route_path: path.clone(),
        }),
        (None, false) => None,
    };

    Ok(Route {
        name,
        path,
        scheme,
        secrets,
        keys,
        public_url,
        mode,
        tolerance,
        dedupe,
        allow_sources,
        methods,
    })
}

/// Reads a route's `methods`: HTTP method tokens, never CONNECT or TRACE (hookwall refuses
/// those on every route), at least one.
fn parse_methods(names: Vec<String>) -> Result<Vec<http::Method>, String> {
    if names.is_empty() {
        return Err("lists no method; list at least one, like [\"POST\"], or remove it to allow every method but CONNECT and TRACE".into());
    }
    let mut methods: Vec<http::Method> = Vec::with_capacity(names.len());
    for name in names {
        let method = http::Method::from_bytes(name.as_bytes())
            .ok()
            .filter(|_| !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase()))
            .ok_or_else(|| {
                format!("{name:?} is not an HTTP method; write it in capitals, like \"POST\"")
            })?;
        if method == http::Method::CONNECT || method == http::Method::TRACE {
            return Err(format!("{name} is never forwarded by hookwall; remove it"));
        }
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Ok(methods)
}

/// An absolute http(s) URL without fragment; kept as written, minus a trailing `/`, since the
/// provider signs exactly the URL it was given.
fn parse_public_url(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|_| {
        format!("{url:?} is not a URL like \"https://hooks.example.com/webhooks/twilio\"")
    })?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.authority().is_none() {
        return Err(format!(
            "{url:?} must be absolute, starting with https://, as configured at the provider"
        ));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(format!(
            "{url:?}: give it without query or fragment; the request's own query is appended"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Reads `scheme` and, for `hmac`, the route's own description. Errors carry the key they
/// concern.
fn scheme_from_raw(raw: &RawRoute) -> Result<Scheme, (&'static str, String)> {
    let custom_keys = [
        ("header", raw.header.is_some()),
        ("prefix", raw.prefix.is_some()),
        ("prefix_optional", raw.prefix_optional.is_some()),
        ("encoding", raw.encoding.is_some()),
        ("algorithm", raw.algorithm.is_some()),
        ("signed", raw.signed.is_some()),
        ("key", raw.key.is_some()),
        ("separator", raw.separator.is_some()),
        ("signature_key", raw.signature_key.is_some()),
        ("timestamp_key", raw.timestamp_key.is_some()),
        ("version", raw.version.is_some()),
        ("timestamp_header", raw.timestamp_header.is_some()),
        ("timestamp_format", raw.timestamp_format.is_some()),
        ("id_header", raw.id_header.is_some()),
    ];
    if let Some(scheme) = Scheme::builtin(&raw.scheme) {
        if let Some((key, _)) = custom_keys.iter().find(|(_, set)| *set) {
            return Err((
                key,
                format!(
                    "only applies to scheme = \"hmac\"; the {} scheme fixes its own; remove it",
                    raw.scheme
                ),
            ));
        }
        return Ok(scheme);
    }
    if raw.scheme != crate::signature::CUSTOM_SCHEME {
        return Err((
            "scheme",
            format!(
                "unknown scheme {:?}; use one of {} (`hookwall schemes` lists them)",
                raw.scheme,
                crate::signature::catalogue::names().join(", ")
            ),
        ));
    }
    let header_name = |key: &'static str, name: &str| {
        http::HeaderName::try_from(name)
            .map_err(|_| (key, format!("{name:?} is not a valid header name")))
    };
    let headers = match &raw.header {
        None => {
            return Err((
                "header",
                "scheme = \"hmac\" needs the signature header's name, e.g. header = \"x-signature\""
                    .to_string(),
            ));
        }
        Some(raw::OneOrMany::One(name)) => vec![header_name("header", name)?],
        Some(raw::OneOrMany::Many(names)) if !names.is_empty() => names
            .iter()
            .map(|name| header_name("header", name))
            .collect::<Result<Vec<_>, _>>()?,
        Some(raw::OneOrMany::Many(_)) => {
            return Err(("header", "name at least one header".to_string()));
        }
    };
    let encoding = match raw.encoding.as_deref() {
        Some(name) => Encoding::from_name(name).ok_or((
            "encoding",
            format!(
                "unknown encoding {name:?}; use \"hex\", \"base64\", \"base64url\" or \"text\""
            ),
        ))?,
        None => {
            return Err((
                "encoding",
                "scheme = \"hmac\" needs encoding = \"hex\" or \"base64\"".into(),
            ));
        }
    };
    let algorithm = match raw.algorithm.as_deref() {
        None => Algorithm::HmacSha256,
        Some(name) => Algorithm::from_name(name).ok_or((
            "algorithm",
            format!(
                "unknown algorithm {name:?}; use \"sha256\", \"sha512\", \"sha1\", \"ed25519\", \"ecdsa-p256-sha256\" or \"token\""
            ),
        ))?,
    };
    let prefix = raw.prefix.clone().unwrap_or_default();
    if !prefix.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err((
            "prefix",
            format!("{prefix:?} must be visible ASCII, as in a header value like \"sha256=\""),
        ));
    }
    let layout = match (&raw.signature_key, &raw.version) {
        (Some(_), Some(_)) => {
            return Err((
                "version",
                "give signature_key (for \"t=…,v1=…\" headers) or version (for \"v1,<sig> v1,<sig>\"), not both".into(),
            ));
        }
        (Some(signature_key), None) => Layout::Pairs {
            separator: match raw.separator.as_deref() {
                None => ',',
                Some(text) if text.chars().count() == 1 => text.chars().next().unwrap_or(','),
                Some(other) => {
                    return Err((
                        "separator",
                        format!("{other:?} must be one character, like \",\" or \";\""),
                    ));
                }
            },
            signature_key: signature_key.clone(),
            timestamp_key: raw.timestamp_key.clone(),
        },
        (None, Some(version)) => Layout::Versioned {
            version: version.clone(),
        },
        (None, None) => Layout::Whole {
            prefix: prefix.clone(),
            prefix_optional: raw.prefix_optional.unwrap_or(false),
        },
    };
    if raw.timestamp_key.is_some() && raw.signature_key.is_none() {
        return Err((
            "timestamp_key",
            "only applies with signature_key (a \"t=…,v1=…\" header); use timestamp_header for a header of its own".into(),
        ));
    }
    if raw.separator.is_some() && raw.signature_key.is_none() {
        return Err((
            "separator",
            "only applies with signature_key; remove it".into(),
        ));
    }
    if raw.prefix_optional.is_some() && prefix.is_empty() {
        return Err((
            "prefix_optional",
            "only applies with a prefix, such as prefix = \"sha256=\"; remove it".into(),
        ));
    }
    if raw.prefix.is_some() && !matches!(layout, Layout::Whole { .. }) {
        return Err((
            "prefix",
            "only applies to a header holding one signature; remove it".into(),
        ));
    }
    let timestamp_format = match raw.timestamp_format.as_deref() {
        None => TimeFormat::UnixSeconds,
        Some(name) => TimeFormat::from_name(name).ok_or((
            "timestamp_format",
            format!("unknown format {name:?}; use \"unix\", \"unix-ms\" or \"rfc3339\""),
        ))?,
    };
    let timestamp = match (&raw.timestamp_header, &raw.timestamp_key) {
        (Some(name), _) => Some(Timestamp {
            header: Some(header_name("timestamp_header", name)?),
            format: timestamp_format,
        }),
        (None, Some(_)) => Some(Timestamp {
            header: None,
            format: timestamp_format,
        }),
        (None, None) if raw.timestamp_format.is_some() => {
            return Err((
                "timestamp_format",
                "only applies with timestamp_header or timestamp_key; remove it".into(),
            ));
        }
        (None, None) => None,
    };
    let signed = match raw.signed.as_deref() {
        None if algorithm == Algorithm::Token => Vec::new(),
        None => vec![Part::Body],
        Some(template) => Part::parse_template(template).map_err(|m| ("signed", m))?,
    };
    let key = match raw.key.as_deref() {
        None if algorithm.is_public_key() => KeyForm::PublicKey,
        None => KeyForm::Utf8,
        Some(name) => KeyForm::from_name(name).ok_or((
            "key",
            format!("unknown key form {name:?}; use \"utf8\", \"utf8-nfkd\", \"base64\", \"hex\", \"whsec\" or \"public-key\""),
        ))?,
    };
    let id = raw
        .id_header
        .as_deref()
        .map(|name| header_name("id_header", name))
        .transpose()?;
    let spec = Spec {
        headers,
        layout,
        signed,
        algorithm,
        encoding,
        key,
        timestamp,
        id,
        alternate: None,
    };
    spec.validate()?;
    Ok(Scheme::custom(spec))
}

/// Checks a route path and strips a trailing `/`, so `/webhooks/visma/` and `/webhooks/visma`
/// configure the same route.
fn normalize_route_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with \"/\""));
    }
    if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{path:?} must be a plain path, without query, fragment or spaces"
        ));
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(format!(
            "{path:?} must not contain \".\" or \"..\" segments"
        ));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

#[cfg(test)]
mod tests;
