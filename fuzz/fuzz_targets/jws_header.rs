//! The compact JWS split and the JOSE header (RFC 7515 §4, §7.1). Two readers of the header
//! exist: the fast path without serde (`plain_header`) and serde_json. On every input both
//! accept they must read the same members; the fast path must never take what serde refuses.
//! The public path (`CheckedHeader::parse`, `UnverifiedJws::parse`) must not panic and must
//! keep its promises (allowed algorithm, signature present).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::jws::__fuzz::{plain_header, serde_header};
use mcp_auth_core::jws::{
    Algorithm, CheckedHeader, CompactJws, HeaderPolicy, TypPolicy, UnverifiedJws,
};

fuzz_target!(|data: &[u8]| {
    // 1. The header bytes as decoded from the first segment.
    if let Some(plain) = plain_header(data) {
        let serde = serde_header(data)
            .unwrap_or_else(|| panic!("plain_header took a header serde refuses: {plain:?}"));
        assert_eq!(plain, serde, "the two header readers disagree");
        assert!(
            !plain.crit && !plain.b64,
            "plain_header must leave crit/b64 to serde"
        );
    }
    // 2. The same bytes as the header of a token, through the public checks.
    let h = URL_SAFE_NO_PAD.encode(data);
    let token = format!("{h}.eyJpc3MiOiJ4In0.c2ln");
    for typ in [TypPolicy::Strict, TypPolicy::AllowJwt] {
        let policy = HeaderPolicy {
            typ,
            ..HeaderPolicy::default()
        };
        if let Ok(c) = CheckedHeader::parse(&token, &policy) {
            assert!(policy.algorithms.contains(&c.alg()));
            let view = serde_header(data)
                .or_else(|| plain_header(data))
                .expect("accepted header has a reading");
            assert_eq!(view.alg.as_deref(), Some(c.alg().as_str()));
            assert_eq!(view.kid.as_deref(), c.kid());
            assert!(!view.crit && !view.b64, "crit/b64 accepted");
        }
    }
    // 3. The whole input as a token (split, header, payload decode).
    if let Ok(s) = std::str::from_utf8(data) {
        let policy = HeaderPolicy {
            algorithms: Algorithm::ALL.to_vec(),
            typ: TypPolicy::AllowJwt,
            max_token_len: 4096,
        };
        if let Ok(j) = CompactJws::split(s, policy.max_token_len) {
            assert_eq!(j.token(), s);
            assert!(s.ends_with(j.signature_b64()));
        }
        if let Ok(mut u) = UnverifiedJws::parse(s, &policy) {
            assert!(policy.algorithms.contains(&u.alg()));
            let _ = u.take_unverified_payload();
        }
    }
});
