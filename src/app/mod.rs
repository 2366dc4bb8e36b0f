//! The process: command line, start-up, worker runtimes, signals, the admin listener, reload
//! and the drain. It may use every other layer; nothing else uses it.

pub mod admin;
pub mod cli;
pub mod deliveries;
pub mod process;
pub mod reload;
pub mod schemes;
pub mod shutdown;
pub mod start;
pub mod summary;

/// Prints `message` as hookwall's own error and returns the failure exit code.
pub(crate) fn fail(message: impl std::fmt::Display) -> std::process::ExitCode {
    eprintln!("hookwall: {message}");
    std::process::ExitCode::FAILURE
}
