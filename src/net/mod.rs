//! The network side of the proxy listener: accepting, connection tracking and limits, TLS,
//! and driving each connection with hyper. It uses `config` and `telemetry`, not the proxy.

pub mod connections;
pub mod linger;
pub mod read_ahead;
pub mod server;
pub mod tls;
