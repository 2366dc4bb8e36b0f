//! The TOML file as written: serde structs that reject unknown keys.
//!
//! Nothing here is validated beyond its type; `config::Config::from_raw` turns these into the
//! checked, typed configuration the rest of hookwall uses.

use super::{LogFormat, Mode};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) server: RawServer,
    #[serde(default)]
    pub(crate) admin: RawAdmin,
    pub(crate) upstream: Option<RawUpstream>,
    #[serde(default)]
    pub(crate) limits: RawLimits,
    #[serde(default)]
    pub(crate) log: RawLog,
    #[serde(default, rename = "route")]
    pub(crate) routes: Vec<RawRoute>,
    #[serde(default)]
    pub(crate) dedupe: RawDedupe,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// Parsed by `config::listen`, whose errors say which form is expected.
    pub(crate) listen: Option<String>,
    pub(crate) tls: Option<RawTls>,
    pub(crate) workers: Option<usize>,
    pub(crate) shutdown_delay: Option<HumanDuration>,
    pub(crate) shutdown_grace: Option<HumanDuration>,
    pub(crate) tls_handshake_timeout: Option<HumanDuration>,
    pub(crate) header_read_timeout: Option<HumanDuration>,
    pub(crate) idle_timeout: Option<HumanDuration>,
    pub(crate) reload_interval: Option<HumanDuration>,
    pub(crate) trusted_proxies: Option<Vec<String>>,
    pub(crate) allow_sources: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) listen: Option<String>,
    pub(crate) deliveries: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub(crate) url: String,
    pub(crate) timeout: Option<HumanDuration>,
    pub(crate) connect_timeout: Option<HumanDuration>,
    pub(crate) pool_idle_timeout: Option<HumanDuration>,
    pub(crate) pool_max_idle: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) body_read_timeout: Option<HumanDuration>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) max_header_bytes: Option<usize>,
    pub(crate) max_headers: Option<usize>,
    pub(crate) max_h2_streams: Option<u32>,
    pub(crate) max_unverified_bodies: Option<usize>,
    pub(crate) max_unverified_per_source: Option<usize>,
    pub(crate) max_unverified_per_connection: Option<usize>,
    pub(crate) min_body_rate: Option<u64>,
    pub(crate) body_rate_grace: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub(crate) format: Option<LogFormat>,
    pub(crate) level: Option<LogLevel>,
}

/// `[log] level`: the levels `RUST_LOG` knows, lowest first.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) path: String,
    pub(crate) scheme: String,
    #[serde(default)]
    pub(crate) secrets: Vec<RawSecret>,
    pub(crate) name: Option<String>,
    pub(crate) mode: Option<Mode>,
    pub(crate) tolerance: Option<HumanDuration>,
    pub(crate) dedupe: Option<HumanDuration>,
    pub(crate) dedupe_max_entries: Option<usize>,
    pub(crate) allow_sources: Option<Vec<String>>,
    pub(crate) methods: Option<Vec<String>>,
    /// The URL the provider posts to, for schemes that sign it (Twilio, Square, HubSpot).
    pub(crate) public_url: Option<String>,
    // Only for `scheme = "hmac"`: a scheme described in the route (signature::Spec).
    pub(crate) header: Option<OneOrMany>,
    pub(crate) prefix: Option<String>,
    pub(crate) prefix_optional: Option<bool>,
    pub(crate) encoding: Option<String>,
    pub(crate) algorithm: Option<String>,
    pub(crate) signed: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) separator: Option<String>,
    pub(crate) signature_key: Option<String>,
    pub(crate) timestamp_key: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) timestamp_header: Option<String>,
    pub(crate) timestamp_format: Option<String>,
    pub(crate) id_header: Option<String>,
}

/// `header = "x-sig"`, or a list where a provider sends one header per key (DocuSign, Box).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `[dedupe]`: where duplicate suppression keeps its memory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDedupe {
    pub(crate) store: Option<String>,
    pub(crate) redis_url: Option<String>,
    pub(crate) redis_sentinels: Option<Vec<String>>,
    pub(crate) redis_sentinel_master: Option<String>,
    pub(crate) redis_sentinel_password: Option<RawSecret>,
    pub(crate) redis_username: Option<String>,
    pub(crate) redis_cluster: Option<Vec<String>>,
    pub(crate) redis_password: Option<RawSecret>,
    pub(crate) redis_ca_file: Option<PathBuf>,
    pub(crate) key_prefix: Option<String>,
    pub(crate) timeout: Option<HumanDuration>,
    pub(crate) on_error: Option<String>,
}

/// One entry of `secrets = [...]`: exactly one of `env` or `file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecret {
    pub(crate) env: Option<String>,
    pub(crate) file: Option<PathBuf>,
}

/// A duration written with a unit ("500ms", "30s", "5m", "24h"), parsed by humantime. One
/// type for every duration key, so each key reads the same way and errors alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub Duration);

impl From<HumanDuration> for Duration {
    fn from(duration: HumanDuration) -> Duration {
        duration.0
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map(HumanDuration).map_err(|err| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({err}); write a number and a unit, like \"500ms\", \"30s\", \"5m\" or \"24h\""
            ))
        })
    }
}
