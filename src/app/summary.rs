//! What `hookwall check` prints: the validated config in the words and units a person wrote
//! in the file (`http://127.0.0.1:8080`, `enforce`, `24h`, `POST`), never Rust's debug forms, and
//! never a secret's value — only where each secret comes from.

use crate::config::{Config, Mode, Route, UpstreamTarget};
use crate::signature::Scheme;
use ipnet::IpNet;
use std::fmt::Write;
use std::time::Duration;

/// The summary after "config … is valid"; `tls` describes the listener's TLS (or its absence).
pub(crate) fn describe(config: &Config, tls: &str) -> String {
    let mut out = String::new();
    let server = &config.server;
    let upstream = &config.upstream;
    let limits = &config.limits;
    let _ = writeln!(out, "  server.listen    {}  {tls}", server.listen);
    let _ = writeln!(out, "  admin.listen     {}", config.admin.listen);
    let _ = writeln!(
        out,
        "  upstream.url     {}  timeout {}  connect_timeout {}",
        upstream_url(&upstream.target),
        duration(upstream.timeout),
        duration(upstream.connect_timeout)
    );
    let _ = writeln!(
        out,
        "  limits           max_body_bytes {}  max_connections {}  max_in_flight {}",
        limits.max_body_bytes, limits.max_connections, limits.max_in_flight
    );
    for route in &config.routes {
        describe_route(&mut out, route, server.allow_sources.as_deref());
    }
    out
}

fn describe_route(out: &mut String, route: &Route, server_sources: Option<&[IpNet]>) {
    let _ = writeln!(out, "  route {}", route.path);
    let _ = writeln!(out, "    name           {}", route.name);
    let _ = writeln!(out, "    scheme         {}", scheme(&route.scheme));
    let _ = writeln!(out, "    mode           {}", mode(route.mode));
    let methods = match &route.methods {
        Some(methods) => methods
            .iter()
            .map(http::Method::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        None => "every method but CONNECT and TRACE".to_string(),
    };
    let _ = writeln!(out, "    methods        {methods}");
    let sources: Vec<String> = route.secrets.iter().map(|s| s.source.to_string()).collect();
    let _ = writeln!(out, "    secrets        {}", sources.join(", "));
    let _ = writeln!(out, "    each secret    {}", route.scheme.key_description());
    let tolerance = if route.scheme.has_timestamp() {
        duration(route.tolerance)
    } else {
        format!(
            "not used (the {} scheme signs no timestamp)",
            route.scheme.name()
        )
    };
    let _ = writeln!(out, "    tolerance      {tolerance}");
    let dedupe = match &route.dedupe {
        Some(dedupe) => format!(
            "{}  dedupe_max_entries {}",
            duration(dedupe.window),
            dedupe.max_entries
        ),
        None => "off".to_string(),
    };
    let _ = writeln!(out, "    dedupe         {dedupe}");
    let allowed = match (&route.allow_sources, server_sources) {
        (Some(own), _) => cidrs(own),
        (None, Some(server)) => format!("{} (server.allow_sources)", cidrs(server)),
        (None, None) => "every source".to_string(),
    };
    let _ = writeln!(out, "    allow_sources  {allowed}");
}

/// The URL as it is written in `upstream.url`.
fn upstream_url(target: &UpstreamTarget) -> String {
    match target {
        UpstreamTarget::Http { authority } => format!("http://{authority}"),
        UpstreamTarget::Unix { path } => format!("unix:{}", path.display()),
    }
}

fn mode(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    }
}

/// The scheme's name, and for `hmac` the settings that make it up.
fn scheme(scheme: &Scheme) -> String {
    match scheme.spec() {
        // A route's own description: the keys it set, in the form `hookwall schemes` prints.
        Some(spec) if scheme.name() == crate::signature::CUSTOM_SCHEME => format!(
            "hmac  header {}  signed {}  algorithm {}  encoding {}",
            spec.headers[0],
            spec.describe_signed(),
            spec.algorithm.name(),
            spec.encoding.name()
        ),
        _ => scheme.name().to_string(),
    }
}

fn cidrs(nets: &[IpNet]) -> String {
    nets.iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duration in the largest unit that states it exactly: `24h`, `5m`, `30s`, `500ms`.
pub(crate) fn duration(value: Duration) -> String {
    let seconds = value.as_secs();
    if value.subsec_nanos() != 0 {
        return if value.subsec_nanos().is_multiple_of(1_000_000) {
            format!("{}ms", value.as_millis())
        } else {
            humantime::format_duration(value).to_string()
        };
    }
    match seconds {
        0 => "0s".to_string(),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        for (value, written) in [
            (Duration::from_secs(86_400), "24h"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(5_400), "90m"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1_500), "1500ms"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(duration(value), written);
        }
    }
}
