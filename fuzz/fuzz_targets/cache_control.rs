//! `Cache-Control` of a JWKS or metadata response (RFC 9111 §5.2.2) and `Content-Type`:
//! never a panic, and the lifetime always within `[min, max]` and refresh-ahead before it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_jwks::__fuzz::{is_json_content_type, parse_cache_control, refresh_ahead, ttl};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (max_age, no_store, no_cache) = parse_cache_control(Some(s));
    let (min, max) = (Duration::from_secs(30), Duration::from_secs(86_400));
    let t = ttl(Some(s), min, max);
    assert!(t >= min && t <= max);
    if no_store || no_cache || max_age.is_none() {
        assert_eq!(t, min);
    }
    let r = refresh_ahead(t);
    assert!(r <= t);
    let _ = is_json_content_type(Some(s));
});
