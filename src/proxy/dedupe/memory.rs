//! Duplicate suppression: remembers deliveries the upstream accepted (answered 2xx) for a
//! time window, so a sender's retry of an already-delivered webhook is not delivered twice.
//!
//! The memory is per process. With several replicas, a retry that lands on another pod is
//! forwarded again; the app must still tolerate the rare duplicate.

use crate::config::Dedupe;
use crate::signature::DeliveryIdentity;
use prometheus::IntGauge;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) struct MemoryStore {
    window: Duration,
    max_entries: usize,
    state: Mutex<State>,
    entries_gauge: IntGauge,
}

#[derive(Default)]
struct State {
    /// Delivered identities and when they were remembered.
    delivered: HashMap<DeliveryIdentity, Instant>,
    /// The same identities oldest first, for expiry and eviction.
    order: VecDeque<(DeliveryIdentity, Instant)>,
    /// Identities being forwarded right now.
    in_flight: HashSet<DeliveryIdentity>,
}

/// What to do with a verified delivery.
pub(crate) enum Decision {
    /// Not seen: forward it, then [`Ticket::delivered`] if the upstream answered 2xx.
    Forward(Ticket),
    /// Delivered within the window: answer 200 without forwarding.
    Duplicate,
    /// The same delivery is being forwarded now: answer 409 so the sender retries later.
    InFlight,
}

/// Holds a delivery's in-flight mark; dropping it without [`Ticket::delivered`] forgets the
/// attempt, so a retry after a failed first attempt is forwarded normally.
pub(crate) struct Ticket {
    store: Arc<MemoryStore>,
    identity: Option<DeliveryIdentity>,
}

impl MemoryStore {
    pub(crate) fn new(settings: &Dedupe, entries_gauge: IntGauge) -> MemoryStore {
        MemoryStore {
            window: settings.window,
            max_entries: settings.max_entries,
            state: Mutex::new(State::default()),
            entries_gauge,
        }
    }

    pub(crate) fn has_settings(&self, settings: &Dedupe) -> bool {
        self.window == settings.window && self.max_entries == settings.max_entries
    }

    pub(crate) fn check(self: &Arc<Self>, identity: DeliveryIdentity, now: Instant) -> Decision {
        let mut state = self.lock();
        self.expire(&mut state, now);
        if state.delivered.contains_key(&identity) {
            return Decision::Duplicate;
        }
        if !state.in_flight.insert(identity.clone()) {
            return Decision::InFlight;
        }
        Decision::Forward(Ticket {
            store: Arc::clone(self),
            identity: Some(identity),
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().delivered.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than losing the feature, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expire(&self, state: &mut State, now: Instant) {
        while let Some((identity, remembered)) = state.order.front() {
            let expired = now.saturating_duration_since(*remembered) >= self.window;
            if !expired && state.delivered.len() <= self.max_entries {
                break;
            }
            // Remove the map entry only if it is this one, not a later re-insertion.
            if state.delivered.get(identity) == Some(remembered) {
                state.delivered.remove(identity);
            }
            state.order.pop_front();
        }
        self.entries_gauge.set(state.delivered.len() as i64);
    }

    fn remember(&self, identity: DeliveryIdentity, now: Instant) {
        let mut state = self.lock();
        state.in_flight.remove(&identity);
        state.delivered.insert(identity.clone(), now);
        state.order.push_back((identity, now));
        self.expire(&mut state, now);
    }

    fn forget_attempt(&self, identity: &DeliveryIdentity) {
        self.lock().in_flight.remove(identity);
    }
}

impl Ticket {
    /// The upstream accepted the delivery: remember it for the window.
    pub(crate) fn delivered(mut self, now: Instant) {
        if let Some(identity) = self.identity.take() {
            self.store.remember(identity, now);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(identity) = self.identity.take() {
            self.store.forget_attempt(&identity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(window_secs: u64, max_entries: usize) -> Arc<MemoryStore> {
        Arc::new(MemoryStore::new(
            &Dedupe {
                window: Duration::from_secs(window_secs),
                max_entries,
            },
            IntGauge::new("test_entries", "test").unwrap(),
        ))
    }

    fn id(text: &str) -> DeliveryIdentity {
        DeliveryIdentity::SignedId(text.to_string())
    }

    #[test]
    fn delivered_then_repeat_is_duplicate_until_window_ends() {
        let store = store(60, 10);
        let start = Instant::now();
        let Decision::Forward(ticket) = store.check(id("a"), start) else {
            panic!("first delivery must be forwarded");
        };
        ticket.delivered(start);
        assert!(matches!(
            store.check(id("a"), start + Duration::from_secs(59)),
            Decision::Duplicate
        ));
        assert!(matches!(
            store.check(id("a"), start + Duration::from_secs(60)),
            Decision::Forward(_)
        ));
    }

    #[test]
    fn repeat_while_in_flight_is_conflict() {
        let store = store(60, 10);
        let now = Instant::now();
        let _ticket = match store.check(id("a"), now) {
            Decision::Forward(ticket) => ticket,
            _ => panic!("first must forward"),
        };
        assert!(matches!(store.check(id("a"), now), Decision::InFlight));
    }

    #[test]
    fn failed_attempt_is_forgotten() {
        let store = store(60, 10);
        let now = Instant::now();
        let Decision::Forward(ticket) = store.check(id("a"), now) else {
            panic!("first must forward");
        };
        drop(ticket); // upstream failed: no `delivered`
        assert!(matches!(store.check(id("a"), now), Decision::Forward(_)));
        assert!(store.is_empty());
    }

    #[test]
    fn oldest_entries_are_evicted_beyond_max() {
        let store = store(3600, 2);
        let now = Instant::now();
        for name in ["a", "b", "c"] {
            let Decision::Forward(ticket) = store.check(id(name), now) else {
                panic!("fresh ids forward");
            };
            ticket.delivered(now);
        }
        assert_eq!(store.len(), 2);
        assert!(matches!(store.check(id("a"), now), Decision::Forward(_)));
        assert!(matches!(store.check(id("c"), now), Decision::Duplicate));
    }
}
