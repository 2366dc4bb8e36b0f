//! Log set-up: JSON lines in containers (stdout not a terminal), readable text on a terminal.
//!
//! `RUST_LOG` overrides `[log] level` for debugging. Nothing logged anywhere in hookwall
//! contains a secret, a signature or a body.

use crate::config::{Log, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init(log: &Log) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Dependencies speak at warn; hookwall at the configured level.
        EnvFilter::new(format!("warn,hookwall={}", log.level))
    });
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout);
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
