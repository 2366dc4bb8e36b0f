//! Why a signature was refused: a precise reason for the sender and the logs, grouped into the
//! few outcomes that metrics count.

use http::HeaderName;
use std::borrow::Cow;

/// A refused signature. The messages name the header and the step that failed, never the
/// expected signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the {header} header is missing")]
    Missing { header: HeaderName },
    #[error("the {header} header is empty")]
    Empty { header: HeaderName },
    #[error("the {header} header appears more than once")]
    Duplicate { header: HeaderName },
    #[error("the {header} header is not visible ASCII")]
    NotAscii { header: HeaderName },
    #[error("the {header} header is not {encoding}")]
    BadEncoding {
        header: HeaderName,
        encoding: &'static str,
    },
    #[error("the {header} header decodes to {actual} bytes, expected {expected}")]
    WrongLength {
        header: HeaderName,
        expected: usize,
        actual: usize,
    },
    #[error("the {header} header is malformed: {detail}")]
    BadFormat {
        header: HeaderName,
        detail: Cow<'static, str>,
    },
    #[error("the {header} header is not a Unix timestamp in seconds")]
    BadTimestamp { header: HeaderName },
    #[error("the {header} timestamp is {}, outside the tolerance", describe_age(*age_seconds))]
    StaleTimestamp {
        header: HeaderName,
        age_seconds: i64,
    },
    #[error("the body has no {field}")]
    MissingField { field: &'static str },
    #[error("the signature does not match the body")]
    Mismatch,
}

fn describe_age(age_seconds: i64) -> String {
    if age_seconds < 0 {
        format!("{} s in the future", age_seconds.unsigned_abs())
    } else {
        format!("{age_seconds} s old")
    }
}

/// The metric-level grouping of a [`Rejection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionKind {
    MissingSignature,
    MalformedSignature,
    BadSignature,
    StaleTimestamp,
}

impl Rejection {
    pub fn kind(&self) -> RejectionKind {
        match self {
            Rejection::Missing { .. }
            | Rejection::Empty { .. }
            | Rejection::MissingField { .. } => RejectionKind::MissingSignature,
            Rejection::Duplicate { .. }
            | Rejection::NotAscii { .. }
            | Rejection::BadEncoding { .. }
            | Rejection::WrongLength { .. }
            | Rejection::BadFormat { .. }
            | Rejection::BadTimestamp { .. } => RejectionKind::MalformedSignature,
            Rejection::StaleTimestamp { .. } => RejectionKind::StaleTimestamp,
            Rejection::Mismatch => RejectionKind::BadSignature,
        }
    }

    /// The header the rejection is about, where there is one.
    pub fn header(&self) -> Option<&HeaderName> {
        match self {
            Rejection::Missing { header }
            | Rejection::Empty { header }
            | Rejection::Duplicate { header }
            | Rejection::NotAscii { header }
            | Rejection::BadEncoding { header, .. }
            | Rejection::WrongLength { header, .. }
            | Rejection::BadFormat { header, .. }
            | Rejection::BadTimestamp { header }
            | Rejection::StaleTimestamp { header, .. } => Some(header),
            Rejection::MissingField { .. } | Rejection::Mismatch => None,
        }
    }

    /// A short machine-readable reason for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Missing { .. } => "missing",
            Rejection::Empty { .. } => "empty",
            Rejection::Duplicate { .. } => "duplicate",
            Rejection::NotAscii { .. } => "not_ascii",
            Rejection::BadEncoding { .. } => "bad_encoding",
            Rejection::WrongLength { .. } => "wrong_length",
            Rejection::BadFormat { .. } => "bad_format",
            Rejection::BadTimestamp { .. } => "bad_timestamp",
            Rejection::StaleTimestamp { .. } => "stale_timestamp",
            Rejection::MissingField { .. } => "missing",
            Rejection::Mismatch => "mismatch",
        }
    }
}
