//! Log set-up: JSON lines in containers (stdout not a terminal), readable text on a terminal.
//!
//! Lines are written by a background thread (tracing-appender), so a request never waits on
//! a write to stdout; the channel to it is bounded, and when it is full the request path
//! waits rather than dropping an audit line. `RUST_LOG` overrides `[log] level`. Nothing
//! logged anywhere in hookwall contains a secret, a signature or a body.

use crate::config::{Log, LogFormat};
use std::io::IsTerminal;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Keep the guard until exit: dropping it flushes the lines
/// still queued.
pub fn init(log: &Log) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Dependencies speak at warn; hookwall at the configured level. rustls warns about
        // every client that sends an IP address as its server name, which any client can do
        // at will: only its errors are kept.
        EnvFilter::new(format!("warn,rustls=error,hookwall={}", log.level))
    });
    let terminal = std::io::stdout().is_terminal();
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("hookwall-log")
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal && !json)
        .with_writer(writer);
    let installed = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber and its writer.
    installed.ok().map(|()| guard)
}
