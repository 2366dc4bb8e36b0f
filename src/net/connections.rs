//! Open client connections: how many, which are idle, and making room when full.
//!
//! `limits.max_connections` bounds memory, but a plain limit lets a flood of idle or slow
//! connections lock genuine senders out. So when the limit is reached, the connection idle
//! the longest (no request in progress — including one still in its TLS handshake or
//! trickling its headers) is asked to close and the newcomer is accepted; only when every
//! connection is busy is the newcomer refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Notify, watch};

/// One connection's activity, shared by its task and its requests.
pub(crate) struct Activity {
    active_requests: AtomicUsize,
    /// Whether any request has started on this connection.
    served: AtomicBool,
    /// Chosen to make room: never chosen (or counted) twice.
    evicting: AtomicBool,
    /// Milliseconds since the tracker's epoch when the connection last became idle.
    idle_since_ms: AtomicU64,
    epoch: Instant,
    evict: Notify,
}

impl Activity {
    fn new(epoch: Instant) -> Activity {
        Activity {
            active_requests: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            evicting: AtomicBool::new(false),
            idle_since_ms: AtomicU64::new(epoch.elapsed().as_millis() as u64),
            epoch,
            evict: Notify::new(),
        }
    }

    /// Marks a request in progress until the returned guard is dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.active_requests.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        Busy {
            activity: Arc::clone(self),
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.active_requests.load(Ordering::Acquire) == 0
    }

    /// Whether a request has ever started here (a fresh connection has sent none yet).
    pub(crate) fn has_served(&self) -> bool {
        self.served.load(Ordering::Acquire)
    }

    /// How long the connection has been idle (zero while a request is in progress).
    pub(crate) fn idle_for(&self) -> std::time::Duration {
        self.idle_since()
            .map_or(std::time::Duration::ZERO, |since| since.elapsed())
    }

    /// When the current idle spell began; `None` while a request is in progress.
    pub(crate) fn idle_since(&self) -> Option<tokio::time::Instant> {
        if !self.is_idle() {
            return None;
        }
        let since = self.idle_since_ms.load(Ordering::Acquire);
        Some((self.epoch + std::time::Duration::from_millis(since)).into())
    }

    /// Resolves when the tracker asks this connection to make room.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// A request in progress on a connection.
pub(crate) struct Busy {
    activity: Arc<Activity>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.activity.epoch.elapsed().as_millis() as u64;
        self.activity.idle_since_ms.store(now, Ordering::Release);
        self.activity.active_requests.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) struct ConnectionTracker {
    open: watch::Sender<usize>,
    registry: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    epoch: Instant,
    open_gauge: prometheus::IntGauge,
}

/// Holds one connection's place; dropping it frees the place.
pub(crate) struct ConnectionGuard {
    tracker: Arc<ConnectionTracker>,
    id: u64,
    pub(crate) activity: Arc<Activity>,
}

/// Where the drain is, as connections see it (the app's shutdown sequence moves it on).
/// Ordered: each phase includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Serving,
    /// Still accepting; telling senders to go elsewhere.
    Draining,
    /// Not accepting; finishing what is in flight.
    Closing,
}

/// The answer to a new connection.
pub(crate) enum Entry {
    Accepted(ConnectionGuard),
    /// Accepted after asking the longest-idle connection to close.
    AcceptedByEvicting(ConnectionGuard),
    /// Every connection is busy: refuse the newcomer.
    Refused,
}

impl ConnectionTracker {
    pub(crate) fn new(open_gauge: prometheus::IntGauge) -> Arc<ConnectionTracker> {
        Arc::new(ConnectionTracker {
            open: watch::Sender::new(0),
            registry: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
            open_gauge,
        })
    }

    pub(crate) fn open(&self) -> usize {
        *self.open.borrow()
    }

    /// Admits a new connection within `max_connections`, evicting an idle one if needed.
    pub(crate) fn admit(self: &Arc<Self>, max_connections: usize) -> Entry {
        let mut registry = self.lock();
        let mut evicted = false;
        if registry.len() >= max_connections {
            // Connections already asked to go still hold a place until their task ends
            // (a moment); they are not asked again.
            let longest_idle = registry
                .values()
                .filter(|activity| activity.is_idle() && !activity.evicting.load(Ordering::Acquire))
                // The longest idle is the one whose idle spell began first: no clock read
                // per connection while the registry is locked.
                .min_by_key(|activity| activity.idle_since());
            match longest_idle {
                Some(activity) => {
                    activity.evicting.store(true, Ordering::Release);
                    // `notify_one` stores a permit, so a connection not yet waiting still sees it.
                    activity.evict.notify_one();
                    evicted = true;
                }
                None => return Entry::Refused,
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(self.epoch));
        registry.insert(id, Arc::clone(&activity));
        drop(registry);
        self.open.send_modify(|open| *open += 1);
        self.open_gauge.inc();
        let guard = ConnectionGuard {
            tracker: Arc::clone(self),
            id,
            activity,
        };
        if evicted {
            Entry::AcceptedByEvicting(guard)
        } else {
            Entry::Accepted(guard)
        }
    }

    /// Waits until no connection is open.
    pub(crate) async fn all_closed(&self) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open == 0).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.tracker.lock().remove(&self.id);
        self.tracker.open.send_modify(|open| *open -= 1);
        self.tracker.open_gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Arc<ConnectionTracker> {
        ConnectionTracker::new(prometheus::IntGauge::new("t", "t").unwrap())
    }

    fn accepted(admission: Entry) -> ConnectionGuard {
        match admission {
            Entry::Accepted(guard) | Entry::AcceptedByEvicting(guard) => guard,
            Entry::Refused => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn at_capacity_the_longest_idle_connection_is_evicted() {
        let tracker = tracker();
        let oldest = accepted(tracker.admit(2));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let newer = accepted(tracker.admit(2));
        let admission = tracker.admit(2);
        assert!(matches!(admission, Entry::AcceptedByEvicting(_)));
        // The oldest idle one was told to go; the newer one was not.
        tokio::time::timeout(std::time::Duration::from_secs(1), oldest.activity.evicted())
            .await
            .expect("oldest evicted");
        assert!(
            tokio::time::timeout(
                std::time::Duration::from_millis(20),
                newer.activity.evicted()
            )
            .await
            .is_err()
        );
    }

    #[test]
    fn a_connection_is_evicted_once_and_then_the_next_idle_one() {
        let tracker = tracker();
        let first = accepted(tracker.admit(1));
        let second = accepted(tracker.admit(1));
        assert!(first.activity.evicting.load(Ordering::Acquire));
        // `first` has not closed yet; the next newcomer evicts `second`, not `first` again.
        let _third = accepted(tracker.admit(1));
        assert!(second.activity.evicting.load(Ordering::Acquire));
        assert_eq!(tracker.open(), 3);
        drop(first);
        drop(second);
        assert_eq!(tracker.open(), 1);
    }

    #[test]
    fn busy_connections_are_never_evicted_and_newcomers_are_refused() {
        let tracker = tracker();
        let first = accepted(tracker.admit(1));
        let _busy = first.activity.busy();
        assert!(matches!(tracker.admit(1), Entry::Refused));
        assert_eq!(tracker.open(), 1);
    }

    #[test]
    fn dropping_a_guard_frees_its_place() {
        let tracker = tracker();
        let guard = accepted(tracker.admit(1));
        assert_eq!(tracker.open(), 1);
        drop(guard);
        assert_eq!(tracker.open(), 0);
        assert!(matches!(tracker.admit(1), Entry::Accepted(_)));
    }

    #[test]
    fn idle_time_restarts_after_a_request() {
        let tracker = tracker();
        let guard = accepted(tracker.admit(4));
        let busy = guard.activity.busy();
        assert!(!guard.activity.is_idle());
        assert_eq!(guard.activity.idle_for(), std::time::Duration::ZERO);
        drop(busy);
        assert!(guard.activity.is_idle());
    }
}
