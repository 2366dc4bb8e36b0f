//! How many requests may be at each stage at once.
//!
//! A forwarding slot (`limits.max_in_flight`) is taken only once a request has verified, so
//! it bounds the app's concurrency and nothing else. Reading a body whose signature is not
//! verified yet takes an unverified slot, bounded in all (`max_unverified_bodies`), per client
//! address (`max_unverified_per_source`) and per connection (`max_unverified_per_connection`):
//! whoever sends forgeries slowly holds a few slots of their own, never the ones genuine
//! deliveries need.

use crate::config::Limits;
use crate::net::client::ClientConnection;
use crate::proxy::refusal::Refusal;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::outcome::Outcome;
use prometheus::IntGauge;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

pub(crate) const FORWARDING: &str = "hookwall_forwarding_requests";
pub(crate) const UNVERIFIED_READS: &str = "hookwall_unverified_body_reads";

pub(crate) struct Capacity {
    /// Verified requests at the app; the gauge is the count.
    forwarding: IntGauge,
    /// Body reads not verified yet; the gauge is the count.
    unverified: IntGauge,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

impl Capacity {
    pub(crate) fn new(metrics: &Metrics) -> Capacity {
        let forwarding = metrics.int_gauge(
            FORWARDING,
            "Verified requests being forwarded to the app (bounded by limits.max_in_flight).",
        );
        let unverified = metrics.int_gauge(
            UNVERIFIED_READS,
            "Request bodies being read whose signature is not verified yet.",
        );
        Capacity {
            forwarding,
            unverified,
            per_source: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn forwarding(&self) -> usize {
        self.forwarding.get().max(0) as usize
    }

    /// A slot to read an unverified body from `source` on `connection`, or 503 naming the
    /// bound that is full.
    pub(crate) fn read_unverified<'a>(
        &'a self,
        limits: &Limits,
        source: IpAddr,
        connection: Option<&'a ClientConnection>,
    ) -> Result<UnverifiedSlot<'a>, Refusal> {
        let full = |limit: &str| {
            Refusal::new(
                Outcome::Overloaded,
                "too many requests in flight; retry shortly",
            )
            .detail(format!("limits.{limit} reached"))
        };
        if let Some(connection) = connection {
            let held = connection.unverified_reads.fetch_add(1, Ordering::Relaxed);
            if held >= limits.max_unverified_per_connection {
                connection.unverified_reads.fetch_sub(1, Ordering::Relaxed);
                return Err(full("max_unverified_per_connection"));
            }
        }
        let mut slot = UnverifiedSlot {
            capacity: self,
            source: None,
            connection,
        };
        self.unverified.inc();
        if self.unverified.get() as usize > limits.max_unverified_bodies {
            return Err(full("max_unverified_bodies"));
        }
        let source = source_key(source);
        {
            let mut per_source = self.lock_sources();
            let held = per_source.entry(source).or_insert(0);
            if *held >= limits.max_unverified_per_source {
                return Err(full("max_unverified_per_source"));
            }
            *held += 1;
        }
        slot.source = Some(source);
        Ok(slot)
    }

    /// A slot at the app for a verified request, or 503 when `max_in_flight` are there.
    pub(crate) fn forward(&self, limits: &Limits) -> Result<ForwardingSlot<'_>, Refusal> {
        self.forwarding.inc();
        let slot = ForwardingSlot { capacity: self };
        if self.forwarding() > limits.max_in_flight {
            return Err(Refusal::new(
                Outcome::Overloaded,
                "too many requests in flight; retry shortly",
            )
            .detail("limits.max_in_flight reached"));
        }
        Ok(slot)
    }

    fn lock_sources(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The address a per-source bound counts against: an IPv4 address, or an IPv6 address's /64
/// (one host is usually given a whole /64, so counting single IPv6 addresses would give one
/// sender billions of shares).
fn source_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(network))
            }
        },
    }
}

/// Held while an unverified body is read; given back on drop (also when the sender leaves).
pub(crate) struct UnverifiedSlot<'a> {
    capacity: &'a Capacity,
    /// Set once the per-source count includes this slot.
    source: Option<IpAddr>,
    connection: Option<&'a ClientConnection>,
}

impl Drop for UnverifiedSlot<'_> {
    fn drop(&mut self) {
        self.capacity.unverified.dec();
        if let Some(connection) = self.connection {
            connection.unverified_reads.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(source) = self.source {
            let mut per_source = self.capacity.lock_sources();
            if let Some(held) = per_source.get_mut(&source) {
                *held -= 1;
                if *held == 0 {
                    per_source.remove(&source);
                }
            }
        }
    }
}

/// Held while a verified request is at the app.
pub(crate) struct ForwardingSlot<'a> {
    capacity: &'a Capacity,
}

impl Drop for ForwardingSlot<'_> {
    fn drop(&mut self) {
        self.capacity.forwarding.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    fn limits() -> Limits {
        Limits {
            max_unverified_bodies: 4,
            max_unverified_per_source: 2,
            max_unverified_per_connection: 1,
            max_in_flight: 1,
            ..Limits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn each_bound_refuses_in_turn_and_slots_come_back_on_drop() {
        let metrics = Metrics::new();
        let capacity = Capacity::new(&metrics);
        let limits = limits();
        let peer = SocketAddr::new(ip(1), 1);
        let connection = ClientConnection::new(peer);

        let first = capacity.read_unverified(&limits, ip(1), Some(&connection));
        assert!(first.is_ok());
        let refused = capacity.read_unverified(&limits, ip(1), Some(&connection));
        assert!(
            refused
                .err()
                .unwrap()
                .log_detail()
                .contains("per_connection")
        );

        let second = capacity.read_unverified(&limits, ip(1), None).unwrap();
        let refused = capacity.read_unverified(&limits, ip(1), None);
        assert!(refused.err().unwrap().log_detail().contains("per_source"));

        let third = capacity.read_unverified(&limits, ip(2), None).unwrap();
        let fourth = capacity.read_unverified(&limits, ip(3), None).unwrap();
        let refused = capacity.read_unverified(&limits, ip(4), None);
        assert!(
            refused
                .err()
                .unwrap()
                .log_detail()
                .contains("max_unverified_bodies")
        );

        drop((first, second, third, fourth));
        assert_eq!(capacity.unverified.get(), 0);
        assert_eq!(connection.unverified_reads.load(Ordering::Relaxed), 0);
        assert!(capacity.lock_sources().is_empty());
    }

    #[test]
    fn ipv6_sources_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let metrics = Metrics::new();
        let capacity = Capacity::new(&metrics);
        let limits = limits();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _first = capacity.read_unverified(&limits, a, None).unwrap();
        let _second = capacity.read_unverified(&limits, b, None).unwrap();
        let refused = capacity.read_unverified(&limits, a, None);
        assert!(refused.err().unwrap().log_detail().contains("per_source"));
        assert!(capacity.read_unverified(&limits, other, None).is_ok());
        let mapped: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        assert_eq!(source_key(mapped), ip(9));
    }

    #[test]
    fn forwarding_slots_are_bounded_by_max_in_flight() {
        let metrics = Metrics::new();
        let capacity = Capacity::new(&metrics);
        let limits = limits();
        let slot = capacity.forward(&limits).unwrap();
        assert!(capacity.forward(&limits).is_err());
        assert_eq!(capacity.forwarding(), 1);
        drop(slot);
        assert!(capacity.forward(&limits).is_ok());
        assert_eq!(capacity.forwarding(), 0);
    }
}
