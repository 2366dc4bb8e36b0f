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
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub admin: RawAdmin,
    pub upstream: Option<RawUpstream>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub dedupe: RawDedupe,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Parsed by `config::listen`, whose errors say which form is expected.
    pub listen: Option<String>,
    pub tls: Option<RawTls>,
    pub workers: Option<usize>,
    pub shutdown_delay: Option<HumanDuration>,
    pub shutdown_grace: Option<HumanDuration>,
    pub tls_handshake_timeout: Option<HumanDuration>,
    pub header_read_timeout: Option<HumanDuration>,
    pub idle_timeout: Option<HumanDuration>,
    pub reload_interval: Option<HumanDuration>,
    pub trusted_proxies: Option<Vec<String>>,
    pub allow_sources: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Option<String>,
    pub deliveries: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: String,
    pub timeout: Option<HumanDuration>,
    pub connect_timeout: Option<HumanDuration>,
    pub pool_idle_timeout: Option<HumanDuration>,
    pub pool_max_idle: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<u64>,
    pub body_read_timeout: Option<HumanDuration>,
    pub max_connections: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub max_h2_streams: Option<u32>,
    pub max_unverified_bodies: Option<usize>,
    pub max_unverified_per_source: Option<usize>,
    pub max_unverified_per_connection: Option<usize>,
    pub min_body_rate: Option<u64>,
    pub body_rate_grace: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<LogFormat>,
    pub level: Option<LogLevel>,
}

/// `[log] level`: the levels `RUST_LOG` knows, lowest first.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
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
pub struct RawRoute {
    pub path: String,
    pub scheme: String,
    #[serde(default)]
    pub secrets: Vec<RawSecret>,
    pub name: Option<String>,
    pub mode: Option<Mode>,
    pub tolerance: Option<HumanDuration>,
    pub dedupe: Option<HumanDuration>,
    pub dedupe_max_entries: Option<usize>,
    pub allow_sources: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    /// The URL the provider posts to, for schemes that sign it (Twilio, Square, HubSpot).
    pub public_url: Option<String>,
    // Only for `scheme = "hmac"`: a scheme described in the route (signature::Spec).
    pub header: Option<OneOrMany>,
    pub prefix: Option<String>,
    pub prefix_optional: Option<bool>,
    pub encoding: Option<String>,
    pub algorithm: Option<String>,
    pub signed: Option<String>,
    pub key: Option<String>,
    pub separator: Option<String>,
    pub signature_key: Option<String>,
    pub timestamp_key: Option<String>,
    pub version: Option<String>,
    pub timestamp_header: Option<String>,
    pub timestamp_format: Option<String>,
    pub id_header: Option<String>,
}

/// `header = "x-sig"`, or a list where a provider sends one header per key (DocuSign, Box).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `[dedupe]`: where duplicate suppression keeps its memory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedupe {
    pub store: Option<String>,
    pub redis_url: Option<String>,
    pub redis_sentinels: Option<Vec<String>>,
    pub redis_sentinel_master: Option<String>,
    pub redis_sentinel_password: Option<RawSecret>,
    pub redis_username: Option<String>,
    pub redis_cluster: Option<Vec<String>>,
    pub redis_password: Option<RawSecret>,
    pub redis_ca_file: Option<PathBuf>,
    pub key_prefix: Option<String>,
    pub timeout: Option<HumanDuration>,
    pub on_error: Option<String>,
}

/// One entry of `secrets = [...]`: exactly one of `env` or `file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

/// A duration written with a unit ("500ms", "30s", "5m", "24h"), parsed by humantime. One
/// type for every duration key, so each key reads the same way and errors alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

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
