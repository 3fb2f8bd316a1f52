//! The `Authorization` header value (RFC 6750 §2.1, RFC 9449 §7.1): `parse_authorization`
//! and the layer's two steps (`locate` on raw header bytes, then `check`) must agree, and an
//! accepted token is an RFC 6750 b64token within the length cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_core::credentials::{
    RawCredentials, extract, is_b64token, locate, parse_authorization,
};

const MAX: usize = 256;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(Some(c)) = parse_authorization(s, MAX)
    {
        let t = c.token.expose();
        assert!(t.len() <= MAX, "token over the cap");
        assert!(is_b64token(t), "accepted token is not a b64token");
    }
    // As a client sends it: raw header bytes.
    let Ok(v) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut parts = http::Request::new(()).into_parts().0;
    parts.headers.insert(http::header::AUTHORIZATION, v);
    let two_steps = locate(&parts, MAX).and_then(|raw| raw.map(RawCredentials::check).transpose());
    let one_step = extract(&parts, MAX);
    match (&two_steps, &one_step) {
        (Ok(Some(a)), Ok(Some(b))) => {
            assert_eq!(a.scheme, b.scheme);
            assert_eq!(a.expose(), b.token.expose());
            assert!(is_b64token(a.expose()));
        }
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind()),
        _ => panic!(
            "locate+check and extract disagree: {:?} vs {:?}",
            two_steps.as_ref().map(|o| o.is_some()),
            one_step.as_ref().map(|o| o.is_some())
        ),
    }
});
