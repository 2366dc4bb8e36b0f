//! hookwall end to end, in one test binary (one link of the crate on a 2-core machine): a
//! module per area, sharing the harness in `common` (hookwall in-process on port 0, a real
//! Python upstream, real clients) and the scenario builders beside it.

mod builder;
mod common;
mod delivery;
mod hardening;
mod official;

mod attacks;
mod catalogue;
mod cli;
mod deliveries;
mod drain;
mod evidence;
mod faults;
mod first_use;
mod hostile;
mod libraries;
mod limits;
mod logs;
mod parking;
mod pod;
mod policy;
mod prometheus;
mod proxy;
mod redis;
mod redis_servers;
mod reload;
mod schemes;
mod sign_verify;
mod slow_and_h2;
mod unix_socket;
mod version;
