//! The admin listener's recent deliveries: `GET /deliveries` (a self-contained page: inline
//! style and script allowed by hash in a strict Content-Security-Policy, nothing fetched from
//! elsewhere) and `GET /deliveries.json` (the same data and filters, for scripts).

use crate::telemetry::deliveries::{Deliveries, Filter, OutcomeFilter};
use crate::telemetry::outcome::Outcome;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The page and the policy that allows exactly its own style and script.
struct Page {
    html: Bytes,
    policy: HeaderValue,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let options: String = Outcome::ALL
        .iter()
        .map(|outcome| format!("<option value=\"{0}\">{0}</option>", outcome.label()))
        .collect();
    let html = TEMPLATE
        .replace("{{OUTCOME_OPTIONS}}", &options)
        .replace("{{STYLE}}", STYLE)
        .replace("{{SCRIPT}}", SCRIPT);
    let policy = format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
         img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sha256_source(SCRIPT),
        sha256_source(STYLE)
    );
    Page {
        html: Bytes::from(html),
        policy: HeaderValue::try_from(policy).expect("the policy is ASCII"),
    }
});

/// A CSP hash source for an inline element's exact text.
fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Answers `/deliveries` and `/deliveries.json`; `None` for any other path. Both are 404
/// when `[admin] deliveries = 0`.
pub(crate) fn respond(
    deliveries: &Deliveries,
    path: &str,
    query: Option<&str>,
) -> Option<Response<Full<Bytes>>> {
    let json = match path {
        "/deliveries" => false,
        "/deliveries.json" => true,
        _ => return None,
    };
    if !deliveries.enabled() {
        return Some(plain(
            StatusCode::NOT_FOUND,
            "the deliveries page is off ([admin] deliveries = 0 in the config file)\n".into(),
        ));
    }
    if !json {
        let mut response = Response::new(Full::new(PAGE.html.clone()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CONTENT_SECURITY_POLICY, PAGE.policy.clone());
        protect(headers);
        return Some(response);
    }
    let filter = match parse_filter(query.unwrap_or("")) {
        Ok(filter) => filter,
        Err(message) => return Some(plain(StatusCode::BAD_REQUEST, message)),
    };
    let snapshot = deliveries.snapshot(&filter);
    let body = match serde_json::to_vec(&snapshot.to_json()) {
        Ok(body) => body,
        Err(err) => {
            return Some(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode deliveries: {err}\n"),
            ));
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    protect(headers);
    Some(response)
}

/// Headers every deliveries answer carries: never cached, sniffed, framed or read by other
/// origins.
fn protect(headers: &mut http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// `route=NAME`, `outcome=accepted|refused|LABEL`, `after=ID`; empty values mean no filter.
fn parse_filter(query: &str) -> Result<Filter, String> {
    let mut filter = Filter::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if value.is_empty() {
            continue;
        }
        match key.as_ref() {
            "route" => filter.route = Some(value.into_owned()),
            "outcome" => {
                filter.outcome = Some(OutcomeFilter::parse(&value).ok_or_else(|| {
                    format!(
                        "unknown outcome {value:?}; use accepted, refused or one of {}\n",
                        Outcome::ALL.map(Outcome::label).join(", ")
                    )
                })?);
            }
            "after" => {
                filter.after = Some(value.parse().map_err(|_| {
                    format!("after={value:?} is not a delivery id (a whole number)\n")
                })?);
            }
            _ => {}
        }
    }
    Ok(filter)
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_from_the_query() {
        let filter = parse_filter("route=%2Fwebhooks%2Fvisma&outcome=refused&after=7").unwrap();
        assert_eq!(filter.route.as_deref(), Some("/webhooks/visma"));
        assert_eq!(filter.outcome, Some(OutcomeFilter::Refused));
        assert_eq!(filter.after, Some(7));
        assert_eq!(parse_filter("route=&outcome=").unwrap(), Filter::default());
        assert!(
            parse_filter("outcome=nope")
                .unwrap_err()
                .contains("bad_signature")
        );
        assert!(parse_filter("after=x").is_err());
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script() {
        let html = std::str::from_utf8(&PAGE.html).unwrap();
        let policy = PAGE.policy.to_str().unwrap();
        let between = |open: &str, close: &str| {
            let start = html.find(open).unwrap() + open.len();
            let end = start + html[start..].find(close).unwrap();
            html[start..end].to_string()
        };
        let script = between("<script>", "</script>");
        let style = between("<style>", "</style>");
        assert!(policy.contains(&format!("script-src '{}'", sha256_source(&script))));
        assert!(policy.contains(&format!("style-src '{}'", sha256_source(&style))));
        assert!(policy.starts_with("default-src 'none'"));
        // Nothing is loaded from elsewhere: no absolute or protocol-relative URLs.
        for needle in [
            "http:",
            "https:",
            "src=\"//",
            "href=\"//",
            "@import",
            "url(",
        ] {
            assert!(!html.contains(needle), "{needle}");
        }
        // The data only enters the DOM as text.
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("insertAdjacentHTML"));
        assert!(!SCRIPT.contains("eval(") && !SCRIPT.contains("document.write"));
    }
}
