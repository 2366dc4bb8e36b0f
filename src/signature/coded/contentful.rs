//! Contentful's request verification (webhooks and app events): `x-contentful-signature` is
//! hex HMAC-SHA256 of a canonical request, `method \n path \n headers \n body`, where the
//! headers are the ones `x-contentful-signed-headers` names, lower-cased, trimmed, sorted
//! and written `name:value` joined by `;`. The list always includes the timestamp
//! (`x-contentful-timestamp`, milliseconds) and the list itself. The path is escaped the way
//! `@contentful/node-apps-toolkit` does it (`getNormalizedEncodedURI`).
//!
//! The header list is chosen by the sender per request, so a [`super::super::Spec`] cannot
//! describe it; but the body comes last, so the MAC still streams: [`begin`] builds the
//! canonical prefix from the head, and the engine feeds the body after it.

use super::super::{
    Algorithm, Encoding, PublicUrl, Rejection, RequestHead, Tag, TimeFormat, UnixSeconds,
    single_header, timestamp,
};
use http::{HeaderMap, HeaderName};

/// The signature header.
pub(crate) static SIGNATURE: HeaderName = HeaderName::from_static("x-contentful-signature");
/// When the request was signed, in Unix milliseconds.
pub(crate) static TIMESTAMP: HeaderName = HeaderName::from_static("x-contentful-timestamp");
/// The comma-separated names of the signed headers.
pub(crate) static SIGNED_HEADERS: HeaderName =
    HeaderName::from_static("x-contentful-signed-headers");

/// Contentful signs a handful of context headers; more than this is not a real request.
const MAX_SIGNED_HEADERS: usize = 32;

/// Contentful's signing secrets are exactly 64 characters (its API refuses others).
pub(crate) const SECRET_LEN: usize = 64;

/// Reads the signature and builds the signed text that precedes the body.
pub(crate) fn begin(
    head: RequestHead<'_>,
    public_url: Option<&PublicUrl>,
    now: UnixSeconds,
    tolerance: i64,
) -> Result<(Vec<Tag>, Vec<u8>), Rejection> {
    let signature = single_header(head.headers, &SIGNATURE)?;
    let offered = Encoding::Hex.decode_signature(&SIGNATURE, signature, Algorithm::HmacSha256)?;
    let stamp = single_header(head.headers, &TIMESTAMP)?;
    timestamp::check(&TIMESTAMP, stamp, TimeFormat::UnixMillis, now, tolerance)?;
    // `check` accepted digits only; the library signs the number as parsed (no leading zeros).
    let millis: i64 = stamp.parse().map_err(|_| Rejection::BadTimestamp {
        header: TIMESTAMP.clone(),
    })?;
    let listed = single_header(head.headers, &SIGNED_HEADERS)?;
    let signed = signed_headers(head.headers, listed)?;
    let target = match public_url {
        Some(url) => path_of(&url.for_request(head.path, head.query)).to_string(),
        None => match head.query {
            Some(query) => format!("{}?{query}", head.path),
            None => head.path.to_string(),
        },
    };
    Ok((
        vec![offered],
        canonical_prefix(head.method, &target, signed, millis),
    ))
}

/// The listed headers present in the request, as the library picks them: only names written
/// in lower case can match, each once, values trimmed. The timestamp and the list itself are
/// left out here: [`canonical_prefix`] writes them as the library recomputes them.
fn signed_headers(headers: &HeaderMap, listed: &str) -> Result<Vec<(String, String)>, Rejection> {
    let names: Vec<&str> = listed.split(',').collect();
    if names.len() > MAX_SIGNED_HEADERS {
        return Err(Rejection::BadFormat {
            header: SIGNED_HEADERS.clone(),
            detail: "more than 32 signed headers".into(),
        });
    }
    let mut picked: Vec<(String, String)> = Vec::new();
    for name in names {
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if header.as_str() != name
            || header == TIMESTAMP
            || header == SIGNED_HEADERS
            || picked.iter().any(|(seen, _)| seen == name)
        {
            continue;
        }
        let mut values = headers.get_all(&header).iter();
        let Some(value) = values.next() else {
            continue;
        };
        if values.next().is_some() {
            return Err(Rejection::Duplicate { header });
        }
        let value = value
            .to_str()
            .map_err(|_| Rejection::NotAscii {
                header: header.clone(),
            })?
            .trim();
        picked.push((name.to_string(), value.to_string()));
    }
    Ok(picked)
}

/// `method \n path \n name:value;… \n`: everything the signature covers before the body.
/// `target` is the path with its query, as posted; `signed` the other signed headers.
pub(crate) fn canonical_prefix(
    method: &str,
    target: &str,
    mut signed: Vec<(String, String)>,
    millis: i64,
) -> Vec<u8> {
    signed.push((TIMESTAMP.as_str().to_string(), millis.to_string()));
    signed.push((SIGNED_HEADERS.as_str().to_string(), String::new()));
    signed.sort();
    let names: Vec<&str> = signed.iter().map(|(name, _)| name.as_str()).collect();
    let list = names.join(",");
    let headers: Vec<String> = signed
        .iter()
        .map(|(name, value)| {
            if name == SIGNED_HEADERS.as_str() {
                format!("{name}:{list}")
            } else {
                format!("{name}:{value}")
            }
        })
        .collect();
    format!(
        "{method}\n{}\n{}\n",
        normalized_target(target),
        headers.join(";")
    )
    .into_bytes()
}

/// The path and query of an absolute URL (`https://host/a?b` → `/a?b`).
fn path_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |at| &url[at + 3..]);
    after_scheme
        .find('/')
        .map_or("/", |slash| &after_scheme[slash..])
}

/// The library's `getNormalizedEncodedURI`: the query (up to a second `?`) escaped as a
/// query component, then the whole escaped as a URI (which escapes the `%` signs again).
fn normalized_target(target: &str) -> String {
    let mut parts = target.split('?');
    let path = parts.next().unwrap_or("");
    let search = parts.next().unwrap_or("");
    let joined = if search.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", escape(search, COMPONENT_SAFE))
    };
    escape(&joined, URI_SAFE)
}

/// Characters JavaScript's `encodeURIComponent` (and Node's `querystring.escape`) keep.
const COMPONENT_SAFE: &[u8] = b"-_.!~*'()";
/// Characters `encodeURI` keeps besides those.
const URI_SAFE: &[u8] = b"-_.!~*'();,/?:@&=+$#";

fn escape(text: &str, safe: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || safe.contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_escaped_like_the_toolkit() {
        // querystring.escape then encodeURI: "=" and "&" become %3D, %26, then %253D, %2526.
        assert_eq!(
            normalized_target("/hooks/cf?a=1&b=x y"),
            "/hooks/cf?a%253D1%2526b%253Dx%2520y"
        );
        assert_eq!(normalized_target("/hooks/cf"), "/hooks/cf");
        assert_eq!(normalized_target("/a b"), "/a%20b");
        assert_eq!(path_of("https://hooks.example.com/cf?x=1"), "/cf?x=1");
    }

    #[test]
    fn canonical_prefix_lists_the_signed_headers_sorted() {
        let prefix = canonical_prefix(
            "POST",
            "/hooks",
            vec![("x-contentful-topic".into(), "Entry.publish".into())],
            1_700_000_000_123,
        );
        assert_eq!(
            String::from_utf8(prefix).unwrap(),
            "POST\n/hooks\nx-contentful-signed-headers:x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic;x-contentful-timestamp:1700000000123;x-contentful-topic:Entry.publish\n"
        );
    }
}
