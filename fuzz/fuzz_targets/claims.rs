//! The JWT claims payload (RFC 7519 §4, RFC 9068 §2.2): parse, then the policy at a fixed
//! time. An accepted claims set satisfies what the policy promises (issuer, audience,
//! expiry with leeway).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_core::claims::{Claims, ClaimsPolicy};
use mcp_auth_core::resource::{AudiencePolicy, ResourceUri};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://as.example.com";
const RES: &str = "https://mcp.example.com/mcp";

fuzz_target!(|data: &[u8]| {
    let Ok(c) = Claims::from_json(data) else {
        return;
    };
    let again = Claims::from_json_vec(data.to_vec()).expect("from_json and from_json_vec agree");
    assert_eq!(c, again);
    let _ = c.get("tenant");
    let _ = c.extra();
    let _ = c.scopes();
    let _ = c.client();
    for (audience_policy, rfc9068) in [
        (AudiencePolicy::Exact, true),
        (AudiencePolicy::AllowTrailingSlash, false),
        (AudiencePolicy::Normalized, false),
    ] {
        let mut p = ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS);
        p.audience_policy = audience_policy;
        p.require_rfc9068_claims = rfc9068;
        if p.check(&c, NOW).is_ok() {
            assert_eq!(c.iss.as_deref(), Some(ISS));
            let exp = c.exp.expect("accepted without exp");
            assert!(NOW < exp.saturating_add(60), "accepted after exp + leeway");
            assert!(c.nbf.is_none_or(|n| n <= NOW + 60));
            assert!(c.aud.as_ref().is_some_and(|a| !a.is_empty()));
            assert!(c.cnf.is_none());
            if rfc9068 {
                assert!(
                    c.sub.is_some() && c.client_id.is_some() && c.iat.is_some() && c.jti.is_some()
                );
            }
            assert!(c.scopes().is_ok());
            assert!(p.check_time(&c, NOW).is_ok());
        }
    }
});
