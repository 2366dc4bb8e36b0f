//! Duplicate suppression: remembers deliveries the app accepted (answered 2xx) for a route's
//! window, so a sender's retry of an already-delivered webhook is not delivered twice.
//!
//! The request path sees one interface, [`RouteDedupe::check`] → [`Decision`], whatever the
//! store: [`memory`] (this process only, the default) or [`redis`] (shared by every replica
//! and kept across restarts). [`SharedStore`] is the one connection a whole process uses.

pub(crate) mod memory;
pub(crate) mod metrics;
pub(crate) mod redis;

pub use metrics::StoreMetrics;

use crate::config::{self, DedupeStore};
use crate::signature::DeliveryIdentity;
use prometheus::IntGauge;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to do with a verified delivery.
pub enum Decision {
    /// Not seen: forward it, then [`Ticket::delivered`] if the app answered 2xx.
    Forward(Ticket),
    /// Delivered within the window: answer 200 without forwarding.
    Duplicate,
    /// The same delivery is being forwarded now: answer 409 so the sender retries later.
    InFlight,
    /// The shared store did not answer and `on_error = "refuse"`: answer 503 + Retry-After.
    Unavailable,
}

/// Holds a delivery's claim while it is forwarded. Dropping it without
/// [`Ticket::delivered`] gives the claim up, so a retry after a failed attempt is forwarded.
pub struct Ticket(TicketKind);

enum TicketKind {
    Memory(memory::Ticket),
    Redis(redis::Claim),
    /// The store could not be asked (`on_error = "forward"`): nothing to settle.
    Unclaimed,
}

impl Ticket {
    /// The app accepted the delivery: remember it for the route's window.
    pub async fn delivered(self, now: Instant) {
        match self.0 {
            TicketKind::Memory(ticket) => ticket.delivered(now),
            // Boxed, as in `check`: the Redis round trip's state is kilobytes, and every
            // request's future (one task per HTTP/2 stream) would carry room for it.
            TicketKind::Redis(claim) => Box::pin(claim.delivered()).await,
            TicketKind::Unclaimed => {}
        }
    }
}

/// The process's store, built from `[dedupe]` and kept across reloads that leave it alone.
#[derive(Clone)]
pub enum SharedStore {
    /// This process's memory (the default).
    Memory,
    /// A Redis every replica shares.
    Redis(Arc<redis::RedisStore>),
}

impl SharedStore {
    /// Builds the store for `config`, reusing `previous` (and its connections) when neither
    /// `[dedupe]` nor the upstream timeouts (which size in-flight claims) changed.
    pub fn new(
        config: &config::Config,
        metrics: &StoreMetrics,
        previous: Option<&SharedStore>,
    ) -> SharedStore {
        match &config.dedupe {
            DedupeStore::Memory => {
                metrics.set_memory();
                SharedStore::Memory
            }
            DedupeStore::Redis(settings) => {
                let in_flight_ttl = redis::in_flight_ttl(&config.upstream, settings);
                match previous {
                    Some(SharedStore::Redis(old)) if old.has_settings(settings, in_flight_ttl) => {
                        SharedStore::Redis(Arc::clone(old))
                    }
                    _ => SharedStore::Redis(redis::RedisStore::new(
                        (**settings).clone(),
                        in_flight_ttl,
                        metrics.clone(),
                    )),
                }
            }
        }
    }
}

/// One route's duplicate suppression: its window and where it is remembered.
pub struct RouteDedupe {
    window: Duration,
    store: RouteStore,
}

enum RouteStore {
    Memory(Arc<memory::MemoryStore>),
    Redis(redis::RouteKeys),
}

impl RouteDedupe {
    /// `previous` is the same route before a reload: its in-memory entries are kept when the
    /// store and settings did not change.
    pub fn new(
        route_name: &str,
        settings: &config::Dedupe,
        shared: &SharedStore,
        entries_gauge: IntGauge,
        previous: Option<&RouteDedupe>,
    ) -> RouteDedupe {
        let store =
            match shared {
                SharedStore::Memory => {
                    let kept = previous.and_then(|old| match &old.store {
                        RouteStore::Memory(store) if store.has_settings(settings) => {
                            Some(Arc::clone(store))
                        }
                        _ => None,
                    });
                    RouteStore::Memory(kept.unwrap_or_else(|| {
                        Arc::new(memory::MemoryStore::new(settings, entries_gauge))
                    }))
                }
                SharedStore::Redis(store) => {
                    RouteStore::Redis(redis::RouteKeys::new(Arc::clone(store), route_name))
                }
            };
        RouteDedupe {
            window: settings.window,
            store,
        }
    }

    /// Claims `identity` for forwarding, or says why not. With Redis this is one round trip,
    /// bounded by `dedupe.timeout`.
    pub async fn check(&self, identity: &DeliveryIdentity, now: Instant) -> Decision {
        match &self.store {
            RouteStore::Memory(store) => match store.check(identity.clone(), now) {
                memory::Decision::Forward(ticket) => {
                    Decision::Forward(Ticket(TicketKind::Memory(ticket)))
                }
                memory::Decision::Duplicate => Decision::Duplicate,
                memory::Decision::InFlight => Decision::InFlight,
            },
            // Boxed: the Redis exchange's state (~4 KiB) would otherwise be part of every
            // request's future, dedupe or not, and HTTP/2 moves that future into a task
            // per stream.
            RouteStore::Redis(keys) => match Box::pin(keys.claim(identity, self.window)).await {
                redis::ClaimResult::Claimed(claim) => {
                    Decision::Forward(Ticket(TicketKind::Redis(claim)))
                }
                redis::ClaimResult::Delivered => Decision::Duplicate,
                redis::ClaimResult::InFlight => Decision::InFlight,
                redis::ClaimResult::Failed(config::OnError::Forward) => {
                    Decision::Forward(Ticket(TicketKind::Unclaimed))
                }
                redis::ClaimResult::Failed(config::OnError::Refuse) => Decision::Unavailable,
            },
        }
    }
}
