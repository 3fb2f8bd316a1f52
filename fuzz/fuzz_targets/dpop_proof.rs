//! The DPoP proof check (RFC 9449 §4.3), the new surface of issue 17: every `DPoP` header
//! value a client can send goes through `DpopPolicy::check` before any key is trusted. It must
//! never panic, whatever the bytes; a proof it accepts must carry a well-formed RFC 7638
//! thumbprint and be remembered at least until now. The input is used twice: as the raw
//! header value, and as the JOSE header of a proof with a fixed, well-formed payload (so the
//! header and `jwk` readers are reached past the split).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::AccessToken;
use mcp_auth_core::dpop::{DpopPolicy, ProofRequest, cnf_jkt, jwk_thumbprint};
use mcp_auth_core::resource::ResourceUri;

const NOW: i64 = 1_800_000_000;

fn check(policy: &DpopPolicy, value: &HeaderValue) {
    let resource = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
    let uri: http::Uri = "/mcp".parse().unwrap();
    let token = AccessToken::new("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln");
    let req = ProofRequest::new(
        &http::Method::POST,
        &uri,
        &resource,
        &token,
        Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
        NOW,
    );
    if let Ok(proof) = policy.check([value], &req) {
        let t = proof.thumbprint();
        assert_eq!(
            t.len(),
            43,
            "an RFC 7638 SHA-256 thumbprint is 43 base64url chars"
        );
        assert!(URL_SAFE_NO_PAD.decode(t).is_ok());
        assert!(proof.remember_until() >= NOW);
    }
}

fuzz_target!(|data: &[u8]| {
    let policy = DpopPolicy::new();
    // 1. The bytes as the header value itself.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        check(&policy, &value);
    }
    // 2. The bytes as the proof's JOSE header, with a payload that passes the claim checks.
    let payload = serde_json::json!({
        "jti": "j-1", "htm": "POST", "htu": "https://mcp.example.com/mcp", "iat": NOW,
        "ath": "b1nX8QbYqgSldTMZ3jXnI1tL0zrmUZ0tC3VbXq8hYfM"
    });
    let proof = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(data),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode([7u8; 64])
    );
    if let Ok(value) = HeaderValue::from_str(&proof) {
        check(&policy, &value);
    }
    // 3. The bytes as JSON: a `jwk` to thumbprint, a `cnf` to read.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(map) = value.as_object()
            && let Some(t) = jwk_thumbprint(map)
        {
            assert_eq!(t.len(), 43);
        }
        let _ = cnf_jkt(Some(&value));
    }
});
