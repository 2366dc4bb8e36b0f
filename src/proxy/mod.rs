//! The request path: routes, source policy, body reading and verification, duplicate
//! suppression, hookwall's own responses and forwarding to the app. Uses `config`,
//! `signature` and `telemetry`; knows nothing of sockets or TLS.

pub mod body;
pub mod dedupe;
pub mod request_id;
pub mod response;
pub mod routes;
pub mod service;
pub mod source;
pub mod upstream;
