//! The process: command line, start-up, worker runtimes, signals, the admin listener, reload
//! and the drain. It may use every other layer; nothing else uses it.

pub(crate) mod admin;
pub mod cli;
pub(crate) mod deliveries;
pub(crate) mod process;
pub(crate) mod reload;
pub(crate) mod schemes;
pub(crate) mod shutdown;
pub(crate) mod start;
pub(crate) mod summary;

/// Prints `message` as hookwall's own error and returns the failure exit code.
pub(crate) fn fail(message: impl std::fmt::Display) -> std::process::ExitCode {
    eprintln!("hookwall: {message}");
    std::process::ExitCode::FAILURE
}
