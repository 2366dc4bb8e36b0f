//! The process: command line, start-up, worker runtimes, signals, the admin listener, reload
//! and the drain. It may use every other layer; nothing else uses it.

pub mod admin;
pub mod cli;
pub mod reload;
pub mod shutdown;
pub mod start;
pub mod summary;
