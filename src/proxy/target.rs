//! What a request names, checked before it is routed: its path as the app may resolve it, and
//! its Host.
//!
//! Visma (like most senders) signs only the body, so a captured delivery could be re-sent to
//! any path. Apps resolve paths in different ways: Node's `URL` reads `\` as `/`, Java servers
//! cut `;parameters` from segments, most decode `%2e` and `%2f`. Routing decides on a view
//! that reads the path every such way at once, and a path whose readings disagree is refused.

use http::header::{self, HeaderMap};
use http::{Uri, Version};
use std::borrow::Cow;

/// The path routing decides on: `\` read as `/`; percent-encoded unreserved characters and
/// `%2f`/`%5c` decoded; `;parameters` cut from each segment; empty segments dropped.
/// Refuses any path in which that view has a `.` or `..` segment.
pub(crate) fn routing_path(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    let decoded = decode_for_routing(raw);
    let mut normalised = String::with_capacity(decoded.len());
    for segment in decoded.split('/') {
        let name = segment.split(';').next().unwrap_or("");
        if name == "." || name == ".." {
            return Err("the path has a dot segment (also written with \\, %2e, %2f, %5c or ;)");
        }
        if !name.is_empty() {
            normalised.push('/');
            normalised.push_str(name);
        }
    }
    if normalised.is_empty() {
        normalised.push('/');
    }
    if raw.ends_with('/') && normalised.len() > 1 {
        normalised.push('/');
    }
    Ok(if normalised == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(normalised)
    })
}

/// Decodes what changes how a path routes and nothing else: `\` and `%5c` to `/`, `%2f` to
/// `/`, and percent-encoded unreserved characters (RFC 3986 §2.3) to themselves.
fn decode_for_routing(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b == b'\\' || b == b'%') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'\\' {
            out.push('/');
            index += 1;
            continue;
        }
        if byte == b'%'
            && let Some(decoded) = bytes
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
        {
            match decoded {
                b'/' | b'\\' => {
                    out.push('/');
                    index += 3;
                    continue;
                }
                b'-' | b'.' | b'_' | b'~' => {
                    out.push(decoded as char);
                    index += 3;
                    continue;
                }
                _ if decoded.is_ascii_alphanumeric() => {
                    out.push(decoded as char);
                    index += 3;
                    continue;
                }
                _ => {}
            }
        }
        // Any other byte, including a percent-encoding that stays encoded. `raw` is a valid
        // URI path, so it is ASCII.
        out.push(byte as char);
        index += 1;
    }
    Cow::Owned(out)
}

/// Why the request's Host is unacceptable (RFC 9112 §3.2, RFC 9113 §8.3.1), if it is: none on
/// HTTP/1.1, more than one, one that is no valid authority or carries userinfo, or on HTTP/2
/// a `host` that disagrees with `:authority`.
pub(crate) fn host_problem(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<&'static str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Some("more than one Host field");
    }
    let authority = uri.authority().map(|authority| authority.as_str());
    if version == Version::HTTP_2 {
        return match (host, authority) {
            (None, None) => Some("no :authority and no Host"),
            (Some(host), Some(authority))
                if !host.as_bytes().eq_ignore_ascii_case(authority.as_bytes()) =>
            {
                Some("Host disagrees with :authority")
            }
            (Some(host), _) => invalid_authority(host.as_bytes()),
            (None, Some(authority)) => invalid_authority(authority.as_bytes()),
        };
    }
    match host {
        None if version == Version::HTTP_11 => Some("no Host field"),
        None => None,
        Some(host) => invalid_authority(host.as_bytes()),
    }
}

fn invalid_authority(value: &[u8]) -> Option<&'static str> {
    if value.contains(&b'@') {
        return Some("Host carries userinfo");
    }
    // An empty Host is what RFC 9112 tells a client with no authority to send.
    if value.is_empty() {
        return None;
    }
    let invalid = Some("Host is not a valid host[:port]");
    let Ok(authority) = http::uri::Authority::try_from(value) else {
        return invalid;
    };
    // `Authority` takes any digits after the colon; a port is at most 65535.
    let has_port = authority
        .as_str()
        .rsplit(']')
        .next()
        .is_some_and(|tail| tail.contains(':'));
    if has_port && authority.port_u16().is_none() {
        return invalid;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_route_as_written() {
        for path in ["/webhooks/visma", "/webhooks/visma/", "/", "/a/b%20c"] {
            assert!(
                matches!(routing_path(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
        assert_eq!(routing_path("/a/%41").unwrap(), "/a/A");
    }

    #[test]
    fn dot_segments_in_every_spelling_are_refused() {
        for path in [
            "/webhooks/visma/../admin",
            "/webhooks/visma/..\\admin",
            "/webhooks/visma/..;/admin",
            "/webhooks/visma/..;x=1/admin",
            "/webhooks/visma/..%2Fadmin",
            "/webhooks/visma/..%2fadmin",
            "/webhooks/visma/%2e%2e%2fadmin",
            "/webhooks/visma/%2E%2E/admin",
            "/webhooks/visma/..%5Cadmin",
            "/webhooks/visma/..%5cadmin",
            "/webhooks/visma/.%2e/admin",
            "/webhooks/visma/./x",
            "/webhooks/visma\\..\\..\\admin",
            "/webhooks/visma/..",
        ] {
            assert!(routing_path(path).is_err(), "{path} should be refused");
        }
    }

    #[test]
    fn names_that_only_contain_dots_are_not_dot_segments() {
        for path in [
            "/webhooks/visma/..x",
            "/webhooks/.well-known",
            "/a/...",
            "/a/x..",
        ] {
            assert!(routing_path(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn the_routing_view_reads_the_path_as_lenient_apps_do() {
        assert_eq!(routing_path("/webhooks\\visma").unwrap(), "/webhooks/visma");
        assert_eq!(
            routing_path("/webhooks%2Fvisma").unwrap(),
            "/webhooks/visma"
        );
        assert_eq!(
            routing_path("/webhooks;jsessionid=1/visma").unwrap(),
            "/webhooks/visma"
        );
        assert_eq!(routing_path("/webhooks//visma").unwrap(), "/webhooks/visma");
        assert_eq!(
            routing_path("/%77ebhooks/visma").unwrap(),
            "/webhooks/visma"
        );
        // A percent-encoding of a reserved character other than / stays encoded.
        assert_eq!(routing_path("/a%3Fb").unwrap(), "/a%3Fb");
    }

    fn headers(hosts: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for host in hosts {
            map.append(header::HOST, host.parse().unwrap());
        }
        map
    }

    #[test]
    fn http1_needs_exactly_one_valid_host() {
        let uri: Uri = "/webhooks/visma".parse().unwrap();
        let v11 = Version::HTTP_11;
        assert_eq!(
            host_problem(v11, &uri, &headers(&["hooks.example.com"])),
            None
        );
        assert_eq!(host_problem(v11, &uri, &headers(&["127.0.0.1:8443"])), None);
        assert_eq!(host_problem(v11, &uri, &headers(&["[::1]:8443"])), None);
        assert_eq!(host_problem(v11, &uri, &headers(&[""])), None);
        assert!(host_problem(v11, &uri, &headers(&[])).is_some());
        assert!(host_problem(v11, &uri, &headers(&["a", "b"])).is_some());
        assert!(host_problem(v11, &uri, &headers(&["a b"])).is_some());
        assert!(host_problem(v11, &uri, &headers(&["user@host"])).is_some());
        assert!(host_problem(v11, &uri, &headers(&["host:99999999"])).is_some());
        assert_eq!(host_problem(Version::HTTP_10, &uri, &headers(&[])), None);
    }

    #[test]
    fn http2_host_must_agree_with_authority() {
        let uri: Uri = "https://hooks.example.com/webhooks/visma".parse().unwrap();
        let v2 = Version::HTTP_2;
        assert_eq!(host_problem(v2, &uri, &headers(&[])), None);
        assert_eq!(
            host_problem(v2, &uri, &headers(&["HOOKS.example.com"])),
            None
        );
        assert!(host_problem(v2, &uri, &headers(&["other.example.com"])).is_some());
        let no_authority: Uri = "/webhooks/visma".parse().unwrap();
        assert!(host_problem(v2, &no_authority, &headers(&[])).is_some());
        assert_eq!(host_problem(v2, &no_authority, &headers(&["h"])), None);
    }
}
