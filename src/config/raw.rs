//! The TOML file as written: serde structs that reject unknown keys.
//!
//! Nothing here is validated beyond its type; `config::Config::from_raw` turns these into the
//! checked, typed configuration the rest of hookwall uses.

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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Parsed by `config::listen`, whose errors say which form is expected.
    pub listen: Option<String>,
    pub tls: Option<RawTls>,
    pub workers: Option<usize>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub shutdown_delay: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub shutdown_grace: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub tls_handshake_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub idle_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub reload_interval: Option<Duration>,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: String,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub pool_idle_timeout: Option<Duration>,
    pub pool_max_idle: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<u64>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub body_read_timeout: Option<Duration>,
    pub max_connections: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub max_h2_streams: Option<u32>,
    pub max_unverified_bodies: Option<usize>,
    pub max_unverified_per_source: Option<usize>,
    pub max_unverified_per_connection: Option<usize>,
    pub min_body_rate: Option<u64>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub body_rate_grace: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub path: String,
    pub scheme: String,
    #[serde(default)]
    pub secrets: Vec<RawSecret>,
    pub name: Option<String>,
    pub mode: Option<String>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub tolerance: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub dedupe: Option<Duration>,
    pub dedupe_max_entries: Option<usize>,
    pub allow_sources: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    // Only for `scheme = "hmac"`.
    pub header: Option<String>,
    pub prefix: Option<String>,
    pub encoding: Option<String>,
    pub algorithm: Option<String>,
}

/// One entry of `secrets = [...]`: exactly one of `env` or `file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

/// Durations are strings with a unit ("500ms", "30s", "5m", "24h"), parsed by humantime.
mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Some).map_err(|err| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({err}); write a number and a unit, like \"500ms\", \"30s\", \"5m\" or \"24h\""
            ))
        })
    }
}
