//! The DPoP proof checks and the nonce check see attacker bytes: whatever the input, they
//! answer with a value or an error, never a panic (property tests).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Method, Uri};
use mcp_auth_core::AccessToken;
use mcp_auth_core::dpop::{DpopPolicy, Nonces, ProofRequest};
use mcp_auth_core::resource::ResourceUri;
use proptest::prelude::*;
use std::time::Duration;

fn json_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just(",".to_owned()),
            Just("\"typ\":\"dpop+jwt\"".to_owned()),
            Just("\"alg\":\"ES256\"".to_owned()),
            Just("\"alg\":\"EdDSA\"".to_owned()),
            Just("\"jwk\":".to_owned()),
            Just("\"kty\":\"EC\"".to_owned()),
            Just("\"kty\":\"OKP\"".to_owned()),
            Just("\"kty\":\"RSA\"".to_owned()),
            Just("\"crv\":\"P-256\"".to_owned()),
            Just("\"crv\":\"Ed25519\"".to_owned()),
            Just("\"x\":\"AAAA\"".to_owned()),
            Just("\"n\":\"AQAB\"".to_owned()),
            Just("\"d\":\"AA\"".to_owned()),
            Just("\"htu\":\"https://h/mcp\"".to_owned()),
            Just("\"htu\":\"https://[::1\"".to_owned()),
            Just("\"iat\":1e999".to_owned()),
            Just("\"iat\":-9223372036854775808".to_owned()),
            Just("\"jti\":\"x\"".to_owned()),
            Just("\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"".to_owned()),
            "[ -~]{0,6}",
        ],
        0..14,
    )
    .prop_map(|parts| parts.concat())
}

fn check(proof: &str, now: i64) {
    let Ok(value) = HeaderValue::from_str(proof) else {
        return;
    };
    let resource = ResourceUri::parse("https://h/mcp").unwrap();
    let token = AccessToken::new("t");
    let uri: Uri = "/mcp".parse().unwrap();
    let req = ProofRequest::new(&Method::POST, &uri, &resource, &token, Some("j"), now);
    let nonces = Nonces::new([[3u8; 32]], Duration::from_secs(1)).unwrap();
    for policy in [DpopPolicy::new(), DpopPolicy::new().with_nonces(nonces)] {
        let _ = policy.check([&value], &req);
    }
}

proptest! {
    #[test]
    fn any_header_value(s in "[ -~]{0,200}", now in any::<i64>()) {
        check(&s, now);
    }

    #[test]
    fn jws_shaped_json(h in json_like(), p in json_like(), sig in "[A-Za-z0-9_-]{0,90}", now in any::<i64>()) {
        check(&format!("{}.{}.{sig}", URL_SAFE_NO_PAD.encode(&h), URL_SAFE_NO_PAD.encode(&p)), now);
    }

    #[test]
    fn any_nonce(s in "[ -~]{0,64}", now in any::<i64>(), slot in 1u64..u64::MAX) {
        let nonces = Nonces::new([[3u8; 32]], Duration::from_secs(slot)).unwrap();
        let _ = nonces.verify(&s, now);
        let _ = nonces.issue(now);
        let _ = nonces.fresh_due(&s, now);
    }
}
