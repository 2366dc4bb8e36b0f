//! hookwall: a sidecar that terminates TLS, verifies the HMAC signature of every webhook,
//! answers forgeries with 401 before they reach the app, and forwards genuine deliveries to
//! the app unchanged.
//!
//! The binary is a thin shell over [`start`], which binds the listeners and reports the
//! addresses it actually bound (tests ask for port 0), and [`Running::shutdown`], which
//! drains in the order Kubernetes expects.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod config;
pub(crate) mod dev;
pub(crate) mod net;
pub mod proxy;
pub mod signature;
pub mod telemetry;
#[cfg(test)]
mod test_support;

pub use app::start::{Running, StartError, start};
