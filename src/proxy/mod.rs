//! The request path: routes, source policy, body reading and verification, duplicate
//! suppression, hookwall's own responses and forwarding to the app. Uses `config`,
//! `signature`, `telemetry` and the request extensions `net` attaches; knows nothing of
//! sockets or TLS.

pub mod body;
pub mod capacity;
pub mod dedupe;
pub mod phases;
pub mod refusal;
pub mod request_id;
pub mod request_metrics;
pub mod response;
pub mod routes;
pub mod service;
pub mod source;
pub mod target;
pub mod upstream;
