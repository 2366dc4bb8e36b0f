//! The network side of the proxy listener: accepting, connection tracking and limits, TLS,
//! and driving each connection with hyper. It uses `config` and `telemetry`; requests go to
//! a [`client::Handler`], so it does not know the proxy.

pub mod client;
pub mod connections;
pub mod linger;
pub mod read_ahead;
pub mod server;
pub mod tls;
pub mod wire;
