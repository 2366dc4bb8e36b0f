//! Listen addresses, as written in the config file or given with `--listen`: an IP address
//! and a port. A host name is refused (a listener binds an interface, not a name), and every
//! refusal says which form is expected instead of the standard library's "invalid socket
//! address syntax".

use std::net::{IpAddr, SocketAddr};

/// The forms a person can copy, for every message below.
const EXPECTED: &str = "write an IP address and a port, like \"0.0.0.0:8443\" (every interface), \
                        \"127.0.0.1:8443\" (this machine only) or \"[::]:8443\" (IPv6)";

/// Parses `IP:PORT` (IPv6 in brackets); the error names what is wrong and the expected form.
pub(crate) fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the address is empty; {EXPECTED}"));
    }
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => {
            return Err(format!(
                "{text:?} reads as an IPv6 address with no port; put the address in brackets \
                 and add the port, like \"[::1]:8443\"; {EXPECTED}"
            ));
        }
        Ok(IpAddr::V4(_)) => return Err(format!("{text:?} has no port; {EXPECTED}")),
        Err(_) => {}
    }
    if text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|inner| inner.parse::<IpAddr>().is_ok())
    {
        return Err(format!("{text:?} has no port; {EXPECTED}"));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} has no port; {EXPECTED}"));
    };
    if host.is_empty() {
        return Err(format!("{text:?} has a port but no address; {EXPECTED}"));
    }
    match port.parse::<u64>() {
        Ok(number) if number > u64::from(u16::MAX) => {
            return Err(format!("{text:?}: port {number} is over 65535; {EXPECTED}"));
        }
        Ok(_) => {}
        Err(_) => {
            return Err(format!(
                "{text:?}: {port:?} is not a port number; {EXPECTED}"
            ));
        }
    }
    let bare_host = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    match bare_host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) if !host.starts_with('[') => Err(format!(
            "{text:?}: an IPv6 address goes in brackets, like \"[::1]:8443\"; {EXPECTED}"
        )),
        Ok(_) => Err(format!("{text:?} is not a valid address; {EXPECTED}")),
        Err(_) if bare_host.contains(':') => Err(format!(
            "{text:?}: {bare_host:?} is not an IPv6 address; {EXPECTED}"
        )),
        Err(_) => Err(format!(
            "{text:?}: {host:?} is a host name, not an IP address; {EXPECTED}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_listen_address;

    #[test]
    fn accepts_ipv4_and_bracketed_ipv6() {
        assert_eq!(
            parse_listen_address("0.0.0.0:8443").unwrap().to_string(),
            "0.0.0.0:8443"
        );
        assert_eq!(
            parse_listen_address("[::1]:0").unwrap().to_string(),
            "[::1]:0"
        );
    }

    #[test]
    fn each_mistake_is_named_with_the_expected_form() {
        for (text, names) in [
            ("localhost:8443", "\"localhost\" is a host name"),
            (":8443", "has a port but no address"),
            ("0.0.0.0:70000", "port 70000 is over 65535"),
            ("0.0.0.0", "has no port"),
            ("0.0.0.0:https", "\"https\" is not a port number"),
            ("::1:8443", "in brackets"),
            ("", "empty"),
        ] {
            let message = parse_listen_address(text).unwrap_err();
            assert!(message.contains(names), "{text:?}: {message}");
            assert!(message.contains("\"0.0.0.0:8443\""), "{text:?}: {message}");
            assert!(!message.contains("invalid socket address syntax"));
        }
    }
}
