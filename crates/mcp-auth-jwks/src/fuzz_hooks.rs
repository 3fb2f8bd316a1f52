//! Entry points for the `cargo fuzz` targets (feature `fuzzing`, not part of the API, no
//! semver promise): the pure rules are crate-private, and `Cache-Control` reaches them only
//! through a fetch whose outcome (a lifetime) is not observable from outside.

use std::time::Duration;

/// `Cache-Control` as the key source reads it: `(max-age, no-store, no-cache)`.
pub fn parse_cache_control(value: Option<&str>) -> (Option<u64>, bool, bool) {
    let d = crate::rules::parse_cache_control(value);
    (d.max_age, d.no_store, d.no_cache)
}

/// The lifetime a key set with these directives gets, clamped to `[min, max]`.
pub fn ttl(value: Option<&str>, min: Duration, max: Duration) -> Duration {
    crate::rules::ttl(&crate::rules::parse_cache_control(value), min, max)
}

/// The refresh-ahead point of a lifetime.
pub fn refresh_ahead(ttl: Duration) -> Duration {
    crate::rules::refresh_ahead(ttl)
}

/// Whether a `Content-Type` is read as JSON.
pub fn is_json_content_type(value: Option<&str>) -> bool {
    crate::rules::is_json_content_type(value)
}
