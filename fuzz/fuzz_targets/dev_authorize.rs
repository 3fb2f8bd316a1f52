//! The dev AS's authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1, RFC 7636, RFC 8707):
//! any query string. Never a 5xx, and never a redirect to a URI the client did not register
//! (OAuth 2.1 §4.1.2.1: errors about the client or redirect URI are not redirected).
#![no_main]

#[path = "common/dev.rs"]
mod dev;

use axum::body::Body;
use http::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = dev::params(data);
    if p.iter()
        .any(|(k, v)| k == "client_id" && dev::would_fetch(v))
    {
        return;
    }
    // The request target must be a valid URI: percent-encode what is not.
    let q: String = data
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let Ok(req) = Request::get(format!("/authorize?{q}")).body(Body::empty()) else {
        return;
    };
    let r = dev::send(req);
    dev::assert_not_5xx(&r);
    if r.status.is_redirection() {
        let loc = r
            .headers
            .get("location")
            .expect("a redirect has a Location");
        let loc = loc.to_str().expect("ASCII Location");
        assert!(
            loc.starts_with(&format!("{}?", dev::REDIRECT)),
            "redirected to an unregistered URI: {loc}"
        );
        let client = dev::get(&dev::params(q.as_bytes()), "client_id").map(str::to_owned);
        assert!(
            matches!(
                client.as_deref(),
                Some(dev::PUBLIC_CLIENT | dev::CONFIDENTIAL_CLIENT)
            ),
            "redirect for an unknown client {client:?}"
        );
    }
});
