//! Reading a signed timestamp (Unix seconds, milliseconds or RFC 3339) and checking it
//! against the clock and the route's tolerance.

use super::{Rejection, TimeFormat, UnixSeconds};
use http::HeaderName;

/// Parses `text` and checks it against `now`.
///
/// `tolerance` is inclusive: a delivery exactly `tolerance` seconds old is accepted, one
/// second more is stale — the boundary Stripe, Slack and Standard Webhooks all use. Future
/// timestamps are refused the same way, as Slack and Standard Webhooks do; Stripe's own
/// libraries accept any future timestamp, hookwall does not (a replay window should not
/// depend on the sender's clock running slow).
pub(crate) fn check(
    header: &HeaderName,
    text: &str,
    format: TimeFormat,
    now: UnixSeconds,
    tolerance: i64,
) -> Result<i64, Rejection> {
    let bad = || Rejection::BadTimestamp {
        header: header.clone(),
    };
    let seconds = match format {
        TimeFormat::UnixSeconds | TimeFormat::UnixMillis => {
            if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let value: i64 = text.parse().map_err(|_| bad())?;
            if format == TimeFormat::UnixMillis {
                value / 1000
            } else {
                value
            }
        }
        TimeFormat::Rfc3339 => parse_rfc3339(text).ok_or_else(bad)?,
    };
    let age = now.saturating_sub(seconds);
    if age > tolerance || age < -tolerance {
        return Err(Rejection::StaleTimestamp {
            header: header.clone(),
            age_seconds: age,
        });
    }
    Ok(seconds)
}

/// `2026-12-01T20:30:00.123Z` or with a `±hh:mm` offset (Box sends one), to Unix seconds.
/// humantime reads the UTC form; the offset is applied here.
fn parse_rfc3339(text: &str) -> Option<i64> {
    if text.len() > 40 {
        return None;
    }
    let (utc_text, offset_seconds) = match text.len().checked_sub(6).map(|at| text.split_at(at)) {
        Some((rest, offset))
            if (offset.starts_with('+') || offset.starts_with('-'))
                && offset.as_bytes()[3] == b':' =>
        {
            let hours: i64 = offset[1..3].parse().ok()?;
            let minutes: i64 = offset[4..6].parse().ok()?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            (format!("{rest}Z"), sign * (hours * 3600 + minutes * 60))
        }
        _ => (text.to_string(), 0),
    };
    let time = humantime::parse_rfc3339(&utc_text).ok()?;
    let seconds = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(seconds - offset_seconds)
}

/// Writes `now` as a sender would, for signing.
pub(crate) fn format(now: UnixSeconds, format: TimeFormat) -> String {
    match format {
        TimeFormat::UnixSeconds => now.to_string(),
        TimeFormat::UnixMillis => (now * 1000).to_string(),
        TimeFormat::Rfc3339 => {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64);
            humantime::format_rfc3339_seconds(time).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:10+01:00"), Some(10));
        // Box's documented form: 2020-06-19T13:22:20-07:00 is 20:22:20 UTC.
        assert_eq!(
            parse_rfc3339("2020-06-19T13:22:20-07:00"),
            parse_rfc3339("2020-06-19T20:22:20Z")
        );
        assert!(parse_rfc3339("2020-06-19T20:22:20Z").is_some());
        assert_eq!(
            parse_rfc3339("2019-11-16T10:11:12.634234626Z"),
            Some(1_573_899_072)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn milliseconds_are_read_as_seconds() {
        let header = HeaderName::from_static("t");
        assert_eq!(
            check(
                &header,
                "1700000000123",
                TimeFormat::UnixMillis,
                1_700_000_000,
                300
            ),
            Ok(1_700_000_000)
        );
    }
}
