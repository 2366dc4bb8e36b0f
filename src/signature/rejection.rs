//! Why a signature was refused: a precise reason for the sender and the logs, grouped into the
//! few outcomes that metrics count.

use http::HeaderName;
use std::borrow::Cow;

/// A refused signature. The messages name the header and the step that failed, never the
/// expected signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The scheme's signature (or timestamp, id) header is absent.
    #[error("the {header} header is missing")]
    Missing {
        /// The header looked for.
        header: HeaderName,
    },
    /// The header is present but empty.
    #[error("the {header} header is empty")]
    Empty {
        /// The empty header.
        header: HeaderName,
    },
    /// The header is sent twice, so which one was signed is ambiguous.
    #[error("the {header} header appears more than once")]
    Duplicate {
        /// The repeated header.
        header: HeaderName,
    },
    /// The header holds bytes outside visible ASCII.
    #[error("the {header} header is not visible ASCII")]
    NotAscii {
        /// The header with the stray bytes.
        header: HeaderName,
    },
    /// The signature does not decode in the scheme's encoding.
    #[error("the {header} header is not {encoding}")]
    BadEncoding {
        /// The header holding the signature.
        header: HeaderName,
        /// The encoding expected (`hex`, `base64`, …).
        encoding: &'static str,
    },
    /// The signature decodes, but to the wrong number of bytes for the algorithm.
    #[error("the {header} header decodes to {actual} bytes, expected {expected}")]
    WrongLength {
        /// The header holding the signature.
        header: HeaderName,
        /// Bytes the algorithm's signature has.
        expected: usize,
        /// Bytes the header decoded to.
        actual: usize,
    },
    /// The header does not follow the scheme's layout (prefix, `key=value` pairs, …).
    #[error("the {header} header is malformed: {detail}")]
    BadFormat {
        /// The malformed header.
        header: HeaderName,
        /// What part of the layout is wrong.
        detail: Cow<'static, str>,
    },
    /// The timestamp header is not whole Unix seconds.
    #[error("the {header} header is not a Unix timestamp in seconds")]
    BadTimestamp {
        /// The timestamp header.
        header: HeaderName,
    },
    /// The timestamp is outside the route's tolerance (a replay, or a skewed clock).
    #[error("the {header} timestamp is {}, outside the tolerance", describe_age(*age_seconds))]
    StaleTimestamp {
        /// The timestamp header.
        header: HeaderName,
        /// How old the timestamp is; negative when it lies in the future.
        age_seconds: i64,
    },
    /// A scheme that signs body fields found one missing.
    #[error("the body has no {field}")]
    MissingField {
        /// The body field looked for.
        field: &'static str,
    },
    /// Well-formed, but no configured key produces this signature.
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
    /// No signature was sent.
    MissingSignature,
    /// A signature was sent but cannot be read.
    MalformedSignature,
    /// A readable signature that does not match.
    BadSignature,
    /// The timestamp is outside the route's tolerance.
    StaleTimestamp,
}

impl Rejection {
    pub(crate) fn kind(&self) -> RejectionKind {
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
    pub(crate) fn header(&self) -> Option<&HeaderName> {
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
    pub(crate) fn code(&self) -> &'static str {
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
