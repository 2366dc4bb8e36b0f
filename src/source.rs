//! The client address a source allowlist is checked against.
//!
//! The direct peer, unless that peer is a trusted proxy: then `X-Forwarded-For` is read from
//! the right, skipping trusted proxies, and the first address not trusted is the client. A
//! sender cannot forge its way past the allowlist by adding entries on the left.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.iter().rev() {
        match entry.parse::<IpAddr>().map(canonical) {
            Ok(ip) if !is_trusted(&ip) => return ip,
            Ok(_) => continue,
            // Everything left of an unparsable entry is unverifiable: fall back to the peer,
            // which a source allowlist will not contain (deny by default).
            Err(_) => break,
        }
    }
    peer
}

/// IPv4-mapped IPv6 addresses (dual-stack sockets) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let ip = client_address(
            "203.0.113.9".parse().unwrap(),
            &xff("18.202.121.26"),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn trusted_peer_yields_rightmost_untrusted_forwarded_address() {
        let ip = client_address(
            "10.0.0.5".parse().unwrap(),
            &xff("1.2.3.4, 18.202.121.26, 10.0.0.7"),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip, "18.202.121.26".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn garbage_in_the_chain_falls_back_to_the_peer() {
        let ip = client_address(
            "10.0.0.5".parse().unwrap(),
            &xff("not-an-ip"),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip, "10.0.0.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv4_mapped_peers_compare_as_ipv4() {
        let ip = client_address(
            "::ffff:18.202.121.26".parse().unwrap(),
            &HeaderMap::new(),
            &[],
        );
        assert_eq!(ip, "18.202.121.26".parse::<IpAddr>().unwrap());
    }
}
