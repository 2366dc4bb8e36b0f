//! The request path: routes, source policy, body reading and verification, duplicate
//! suppression, hookwall's own responses and forwarding to the app. Uses `config`,
//! `signature`, `telemetry` and the request extensions `net` attaches; knows nothing of
//! sockets or TLS.

pub(crate) mod body;
pub(crate) mod capacity;
pub mod dedupe;
pub(crate) mod phases;
pub(crate) mod refusal;
pub(crate) mod request_id;
pub(crate) mod request_metrics;
pub(crate) mod response;
pub(crate) mod routes;
pub mod service;
pub(crate) mod source;
pub(crate) mod target;
pub(crate) mod upstream;
