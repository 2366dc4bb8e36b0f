//! The client address a source allowlist is checked against.
//!
//! The direct peer, unless that peer is a trusted proxy: then `X-Forwarded-For` is read from
//! the right, skipping trusted proxies, and the first address not trusted is the client. A
//! sender cannot forge its way past the allowlist by adding entries on the left.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

pub(crate) fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted_proxies: &[IpNet],
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Walk from the right: the nearest hops first. A line that is not visible ASCII, or an
    // entry that is not an address, ends the walk: everything left of it is unverifiable,
    // so fall back to the peer, which a source allowlist will not contain (deny by default).
    let lines: Vec<&http::HeaderValue> = headers.get_all("x-forwarded-for").iter().collect();
    for line in lines.into_iter().rev() {
        let Ok(text) = line.to_str() else {
            return peer;
        };
        for entry in text.rsplit(',').map(str::trim) {
            match entry.parse::<IpAddr>().map(canonical) {
                Ok(ip) if !is_trusted(&ip) => return ip,
                Ok(_) => continue,
                Err(_) => return peer,
            }
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
    fn a_non_ascii_line_ends_the_walk_instead_of_being_skipped() {
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("18.202.121.26"));
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes("\u{e9}t\u{e9}, 10.0.0.9".as_bytes()).unwrap(),
        );
        let ip = client_address(
            "10.0.0.5".parse().unwrap(),
            &headers,
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip, "10.0.0.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn several_lines_are_one_list_read_from_the_right() {
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.8"));
        let ip = client_address(
            "10.0.0.5".parse().unwrap(),
            &headers,
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip, "2.2.2.2".parse::<IpAddr>().unwrap());
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
