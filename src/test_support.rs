//! Helpers shared by the unit tests of several modules.

use http::{HeaderMap, HeaderName, HeaderValue};

/// A header map of `(name, value)` pairs, in order, repeated names kept.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::try_from(*name).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    map
}
