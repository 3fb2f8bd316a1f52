//! Regression tests for what `fuzz/` found (docs/security.md, "Fuzzing"): each case is a
//! token mcp-auth accepted and jsonwebtoken, given the same key and settings, refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::claims::Claims;
use mcp_auth_core::jws::{CheckedHeader, HeaderPolicy, TypPolicy};

fn header_token(header: &str) -> String {
    format!("{}.eyJpc3MiOiJ4In0.c2ln", URL_SAFE_NO_PAD.encode(header))
}

fn header_ok(header: &str) -> bool {
    let policy = HeaderPolicy {
        typ: TypPolicy::AllowJwt,
        ..HeaderPolicy::default()
    };
    CheckedHeader::parse(&header_token(header), &policy).is_ok()
}

/// `fuzz/` differential: `{"alg":"ES256","jku":1}` was accepted (registered parameters other
/// than `alg`/`kid`/`typ` were ignored whatever their type). RFC 7515 §4.1 gives each a type;
/// a header that breaks it is refused, and an embedded `jwk` is refused outright.
#[test]
fn registered_header_parameters_must_have_their_type() {
    for bad in [
        r#"{"alg":"ES256","jku":1}"#,
        r#"{"alg":"ES256","x5u":{}}"#,
        r#"{"alg":"ES256","x5t":true}"#,
        r#"{"alg":"ES256","x5t#S256":[]}"#,
        r#"{"alg":"ES256","x5c":"MIIB"}"#,
        r#"{"alg":"ES256","x5c":[1]}"#,
        r#"{"alg":"ES256","cty":2}"#,
        r#"{"alg":"ES256","enc":3}"#,
        r#"{"alg":"ES256","zip":4}"#,
        r#"{"alg":"ES256","url":5}"#,
        r#"{"alg":"ES256","nonce":6}"#,
        r#"{"alg":"ES256","jwk":{"kty":"EC"}}"#,
        r#"{"alg":"ES256","jwk":{}}"#,
    ] {
        assert!(!header_ok(bad), "accepted {bad}");
    }
    for good in [
        r#"{"alg":"ES256"}"#,
        r#"{"alg":"ES256","x5t":"abc","x5t#S256":"def","cty":"JWT"}"#,
        r#"{"alg":"ES256","x5c":["MIIB"],"jku":"https://as/jwks","x5u":"https://as/x"}"#,
        r#"{"alg":"ES256","jwk":null,"x5c":null,"custom":1}"#,
    ] {
        assert!(header_ok(good), "refused {good}");
    }
}

/// `fuzz/` differential: `nbf: -1` was accepted. A NumericDate before 1970 is refused (no
/// issuer writes one; unsigned readers such as jsonwebtoken refuse it).
#[test]
fn negative_numeric_dates_are_refused() {
    for bad in [
        r#"{"nbf":-1}"#,
        r#"{"iat":-1}"#,
        r#"{"exp":-1}"#,
        r#"{"nbf":-0.5}"#,
        r#"{"exp":1e15}"#,
    ] {
        assert!(Claims::from_json(bad.as_bytes()).is_err(), "accepted {bad}");
    }
    let c = Claims::from_json(br#"{"nbf":0,"iat":-0.0,"exp":999999999999999}"#).unwrap();
    assert_eq!(
        (c.nbf, c.iat, c.exp),
        (Some(0), Some(0), Some(999_999_999_999_999))
    );
}

/// `fuzz/` differential: `nbf: T.6` was read as `T` (rounded down), so the token was
/// valid up to a second before its `nbf`. Fractions round towards refusal: `exp` down,
/// `nbf` and `iat` up (RFC 7519 §4.1.4-4.1.6).
#[test]
fn fractional_dates_round_towards_refusal() {
    let c = Claims::from_json(br#"{"exp":100.9,"nbf":100.1,"iat":100.5}"#).unwrap();
    assert_eq!((c.exp, c.nbf, c.iat), (Some(100), Some(101), Some(101)));
    let c = Claims::from_json(br#"{"exp":100,"nbf":100,"iat":100.0}"#).unwrap();
    assert_eq!((c.exp, c.nbf, c.iat), (Some(100), Some(100), Some(100)));
}

/// `fuzz/` differential: `{"alg":"ES256","x":"\xaf"}` (invalid UTF-8) and
/// `{"alg":"ES256","x":"\udc00"}` (a lone surrogate) were accepted: serde_json does not decode
/// members a struct ignores. RFC 8259 §8.1-8.2: the header is refused.
#[test]
fn header_with_invalid_text_in_an_ignored_member_is_refused() {
    let policy = HeaderPolicy {
        typ: TypPolicy::AllowJwt,
        ..HeaderPolicy::default()
    };
    let token = |header: &[u8]| format!("{}.eyJpc3MiOiJ4In0.c2ln", URL_SAFE_NO_PAD.encode(header));
    for bad in [
        &b"{\"alg\":\"ES256\",\"x\":\"\xaf\"}"[..],
        br#"{"alg":"ES256","x":"\udc00"}"#,
        br#"{"alg":"ES256","x":["\ud800"]}"#,
        br#"{"alg":"ES256","x":{"\udfff":1}}"#,
    ] {
        assert!(
            CheckedHeader::parse(&token(bad), &policy).is_err(),
            "accepted {}",
            String::from_utf8_lossy(bad)
        );
    }
    for good in [
        br#"{"alg":"ES256","x":"\ud83d\ude00","y":"\u00e9"}"#,
        "{\"alg\":\"ES256\",\"x\":\"\u{e9}\"}".as_bytes(),
    ] {
        assert!(CheckedHeader::parse(&token(good), &policy).is_ok());
    }
}

/// `fuzz/` mcp_classify: a body with bytes that are not UTF-8 in a member the classifier does
/// not read (`{"method":"tools/call","x":"\xff",...}`) was classified as that request. It is
/// not JSON text (RFC 8259 §8.1): Uncertain, so every scope is needed.
#[test]
fn body_that_is_not_utf8_is_not_classified() {
    use mcp_auth_core::mcp::{Classification, McpHeaders, classify};
    let body =
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"x\":\"\xff\",\"method\":\"tools/call\",\"params\":{\"name\":\"whoami\"}}";
    assert_eq!(
        classify(&McpHeaders::default(), body),
        Ok(Classification::Uncertain)
    );
    let ok = br#"{"jsonrpc":"2.0","id":1,"x":"\u00e9","method":"tools/call","params":{"name":"whoami"}}"#;
    assert!(matches!(
        classify(&McpHeaders::default(), ok),
        Ok(Classification::Operations(ops)) if ops.len() == 1
    ));
}

/// `fuzz/` mcp_classify (CI smoke on the merged code): `{"j":33E466}`, a number no JSON
/// parser can hold in a member the classifier does not read, was classified (as a response,
/// no operation). Likewise a lone surrogate or a duplicate member in an ignored place: the
/// inner service's parser reads such a body differently or not at all. Uncertain, so every
/// scope is needed; a body that follows the JSON rules is classified as before.
#[test]
fn body_that_breaks_the_json_rules_is_not_classified() {
    use mcp_auth_core::mcp::{Classification, McpHeaders, classify};
    let call = r#""jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami""#;
    for body in [
        r#"{"j":33E466}"#.to_owned(),
        format!(r#"{{{call}}},"x":1e400}}"#),
        format!(r#"{{{call}}},"x":"\udc00"}}"#),
        format!(r#"{{{call},"x":1,"x":2}}}}"#),
        format!(r#"[{{{call}}},"x":{{"y":1,"y":2}}}}]"#),
    ] {
        assert_eq!(
            classify(&McpHeaders::default(), body.as_bytes()),
            Ok(Classification::Uncertain),
            "{body}"
        );
    }
    let ok = format!(r#"{{{call},"arguments":{{"n":1e300,"s":"\u00e9"}}}}}}"#);
    assert!(matches!(
        classify(&McpHeaders::default(), ok.as_bytes()),
        Ok(Classification::Operations(ops)) if ops.len() == 1
    ));
}
