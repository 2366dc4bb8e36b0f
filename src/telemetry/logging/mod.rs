//! Log set-up and a batched writer (a `write(2)` per line measured a third of the per-request CPU).
//!
//! JSON lines in containers (stdout not a terminal), readable text on a terminal.
//!
//! A request must not pay for a `write(2)` and a thread wake-up per log line (measured: about
//! a third of the per-request CPU under load). So lines go into a shared buffer and one
//! flusher thread writes the buffer out every [`FLUSH_INTERVAL`] in a single write. The
//! buffer is bounded: past [`MAX_BUFFERED`] the logging thread writes it out itself, so a log
//! flood slows requests down rather than growing memory or dropping audit lines.
//!
//! `RUST_LOG` overrides `[log] level`. Nothing logged anywhere in hookwall contains a secret,
//! a signature or a body.

mod json;

pub use json::JsonLines;

use crate::config::{Log, LogFormat};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How stale a log line may get before it reaches stdout.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Buffered bytes beyond which the logging thread flushes synchronously.
const MAX_BUFFERED: usize = 1024 * 1024;

/// Dependencies speak at warn, hookwall at the configured level; `RUST_LOG` (when it parses)
/// replaces both. Either way rustls is held to its errors unless `RUST_LOG` names it: it warns
/// about every client that sends an IP address as its server name (load balancers, health
/// checks, anything connecting by address), one line per handshake that nobody can act on.
fn filter(log: &Log, rust_log: Option<String>) -> EnvFilter {
    let configured = || EnvFilter::new(format!("warn,rustls=error,hookwall={}", log.level));
    match rust_log {
        Some(directives) if !directives.trim().is_empty() => {
            let directives = if directives.contains("rustls") {
                directives
            } else {
                format!("{directives},rustls=error")
            };
            EnvFilter::try_new(directives).unwrap_or_else(|_| configured())
        }
        _ => configured(),
    }
}

/// Installs the global subscriber. Keep the guard until exit: dropping it writes out what is
/// still buffered.
pub(crate) fn init(log: &Log) -> Option<FlushGuard> {
    let filter = filter(log, std::env::var("RUST_LOG").ok());
    let terminal = std::io::stdout().is_terminal();
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let writer = BatchedStdout::start();
    let guard = FlushGuard {
        writer: writer.clone(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal && !json)
        .with_writer(writer);
    let installed = if json {
        builder.event_format(JsonLines).try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber and its writer.
    installed.ok().map(|()| guard)
}

/// Writes everything still buffered when dropped (at exit).
pub(crate) struct FlushGuard {
    writer: BatchedStdout,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.writer.shared.flush_now();
    }
}

/// A [`MakeWriter`] whose lines are written to stdout in batches.
#[derive(Clone)]
pub(crate) struct BatchedStdout {
    shared: Arc<Shared>,
}

struct Shared {
    buffer: Mutex<Vec<u8>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn flush_now(&self) {
        let pending = std::mem::take(&mut *self.lock());
        write_out(&pending);
    }
}

fn write_out(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    // Nowhere to report a failing stdout; the process keeps serving.
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

impl BatchedStdout {
    fn start() -> BatchedStdout {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::with_capacity(64 * 1024)),
        });
        let flusher = Arc::clone(&shared);
        // If the thread cannot start, lines are still written once the buffer fills.
        let _ = std::thread::Builder::new()
            .name("hookwall-log".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_INTERVAL);
                    flusher.flush_now();
                }
            });
        BatchedStdout { shared }
    }
}

/// Collects one event's fragments, then appends the whole line to the shared buffer.
pub(crate) struct LineWriter {
    shared: Arc<Shared>,
    line: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let mut buffer = self.shared.lock();
        buffer.extend_from_slice(&self.line);
        if buffer.len() >= MAX_BUFFERED {
            let pending = std::mem::take(&mut *buffer);
            drop(buffer);
            write_out(&pending);
        }
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            shared: Arc::clone(&self.shared),
            line: Vec::with_capacity(512),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    /// Whether an event of `level` from `target` gets through the filter built from `rust_log`.
    fn passes(rust_log: Option<&str>, target_is_rustls: bool, level: Level) -> bool {
        let log = Log {
            format: LogFormat::Json,
            level: "info".into(),
        };
        let subscriber =
            tracing_subscriber::registry().with(filter(&log, rust_log.map(String::from)));
        tracing::subscriber::with_default(subscriber, || match (target_is_rustls, level) {
            (true, Level::WARN) => tracing::enabled!(target: "rustls::server::hs", Level::WARN),
            (true, _) => tracing::enabled!(target: "rustls::server::hs", Level::ERROR),
            (false, _) => tracing::enabled!(target: "hookwall::request", Level::INFO),
        })
    }

    #[test]
    fn rustls_warnings_stay_out_of_the_log_whatever_rust_log_says_unless_it_names_rustls() {
        for rust_log in [
            None,
            Some(""),
            Some("info"),
            Some("debug"),
            Some("not a [filter"),
        ] {
            assert!(
                !passes(rust_log, true, Level::WARN),
                "RUST_LOG={rust_log:?}"
            );
            assert!(
                passes(rust_log, true, Level::ERROR),
                "RUST_LOG={rust_log:?}"
            );
            assert!(
                passes(rust_log, false, Level::INFO),
                "RUST_LOG={rust_log:?}"
            );
        }
        assert!(passes(Some("info,rustls=debug"), true, Level::WARN));
    }
}
