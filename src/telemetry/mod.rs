//! What hookwall tells operators: request outcomes, Prometheus metrics and log lines. It
//! depends on nothing else in the crate but `signature`'s rejection kinds.

pub mod deliveries;
pub mod logging;
pub mod metrics;
pub mod outcome;
