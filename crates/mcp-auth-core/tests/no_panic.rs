//! Every parser that sees attacker bytes answers with a value or an error, never a panic,
//! whatever the input (property tests; the stable-toolchain stand-in for fuzzing).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::claims::Claims;
use mcp_auth_core::credentials::{
    RawCredentials, extract, is_b64token, locate, parse_authorization,
};
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::{Algorithm, HeaderPolicy, UnverifiedJws};
use mcp_auth_core::mcp::{McpHeaders, classify};
use mcp_auth_core::resource::ResourceUri;
use mcp_auth_core::scope::ScopeSet;
use proptest::prelude::*;

fn json_like() -> impl Strategy<Value = String> {
    // Bytes biased towards JSON structure, so the parsers get past their first check.
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("\"alg\":".to_owned()),
            Just("\"RS256\"".to_owned()),
            Just("\"kid\":".to_owned()),
            Just("\"typ\":\"at+jwt\"".to_owned()),
            Just("\"crit\":".to_owned()),
            Just(",".to_owned()),
            Just("\"method\":\"tools/call\"".to_owned()),
            Just("\"params\":".to_owned()),
            Just("\"name\":".to_owned()),
            Just("\"uri\":".to_owned()),
            Just("\"keys\":".to_owned()),
            Just("\"kty\":\"RSA\"".to_owned()),
            Just("\"n\":\"AQAB\"".to_owned()),
            Just("1e999".to_owned()),
            Just("\"exp\":".to_owned()),
            Just("-1".to_owned()),
            Just("null".to_owned()),
            "[ -~]{0,8}".prop_map(|s| s),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, .. ProptestConfig::default() })]

    #[test]
    fn authorization_header(s in "\\PC{0,200}") {
        let _ = parse_authorization(&s, 128);
    }

    #[test]
    fn authorization_header_ascii(s in "[ -~\\t]{0,200}") {
        let _ = parse_authorization(&s, 128);
    }

    /// Raw header bytes, as a client can send them: `locate` then `check` (the layer's two
    /// steps) agree with `extract`, and an accepted token is an RFC 6750 b64token that ends
    /// the header value (bar whitespace).
    #[test]
    fn authorization_header_bytes(
        scheme in prop_oneof!["Bearer", "bearer", "DPoP", "Basic", "[!-~]{0,8}"],
        sp in "[ \t]{0,3}",
        token in proptest::collection::vec(prop_oneof![
            3 => proptest::sample::select(b"AZaz09-._~+/=".to_vec()),
            1 => any::<u8>(),
        ], 0..64),
    ) {
        let mut value = format!("{scheme}{sp}").into_bytes();
        value.extend_from_slice(&token);
        let Ok(v) = http::HeaderValue::from_bytes(&value) else { return Ok(()) };
        let mut parts = http::Request::new(()).into_parts().0;
        parts.headers.insert(http::header::AUTHORIZATION, v);
        let two_steps = locate(&parts, 48)
            .and_then(|raw| raw.map(RawCredentials::check).transpose())
            .map(|c| c.map(|c| (c.scheme, c.expose().to_owned())))
            .map_err(|e| e.description());
        let one = extract(&parts, 48)
            .map(|c| c.map(|c| (c.scheme, c.token.expose().to_owned())))
            .map_err(|e| e.description());
        prop_assert_eq!(&two_steps, &one);
        if let Ok(Some((_, t))) = two_steps {
            prop_assert!(is_b64token(&t) && t.len() <= 48);
            let trimmed = value.trim_ascii_end();
            prop_assert!(trimmed.ends_with(t.as_bytes()));
        }
    }

    #[test]
    fn jws_any_string(s in "\\PC{0,300}") {
        let _ = UnverifiedJws::parse(&s, &HeaderPolicy::default());
    }

    #[test]
    fn jws_structured(h in json_like(), p in json_like(), sig in "[A-Za-z0-9_-]{0,90}") {
        let t = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p), sig);
        let _ = UnverifiedJws::parse(&t, &HeaderPolicy { algorithms: Algorithm::ALL.to_vec(), ..HeaderPolicy::default() });
    }

    #[test]
    /// The vectorized decoder of JWS segments is exactly as strict as the `base64` crate's
    /// URL-safe no-padding engine: same accepted strings, same bytes.
    fn base64url_decoders_agree(s in "[A-Za-z0-9_\\-+/=. \\n]{0,120}") {
        let reference = URL_SAFE_NO_PAD.decode(&s).ok();
        let simd = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(&s).ok();
        prop_assert_eq!(reference, simd);
    }

    #[test]
    fn base64url_decoders_agree_on_valid_input(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let s = URL_SAFE_NO_PAD.encode(&bytes);
        prop_assert_eq!(base64_simd::URL_SAFE_NO_PAD.decode_to_vec(&s).ok(), Some(bytes));
    }

    #[test]
    fn claims(p in json_like()) {
        if let Ok(c) = Claims::from_json(p.as_bytes()) {
            let _ = c.scopes();
        }
    }

    #[test]
    fn jwks(doc in json_like()) {
        let _ = KeySet::from_jwks(doc.as_bytes(), &Algorithm::ALL, 32);
    }

    #[test]
    fn jsonrpc_classification(body in json_like(), m in proptest::option::of("[ -~]{0,20}"), n in proptest::option::of("[ -~]{0,20}")) {
        let mut hm = http::HeaderMap::new();
        for (k, v) in [("mcp-method", m), ("mcp-name", n)] {
            if let Some(v) = v.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
                hm.insert(k, v);
            }
        }
        if let Ok(headers) = McpHeaders::from_headers(&hm) {
            let _ = classify(&headers, body.as_bytes());
        }
    }

    #[test]
    fn resource_uri(s in "\\PC{0,120}") {
        if let Ok(r) = ResourceUri::parse(&s) {
            // Canonicalization is idempotent.
            prop_assert_eq!(ResourceUri::parse(r.as_str()).map(|x| x.as_str().to_owned()), Ok(r.as_str().to_owned()));
        }
    }

    #[test]
    fn scope_strings(s in "\\PC{0,120}") {
        if let Ok(set) = ScopeSet::parse(&s) {
            prop_assert_eq!(ScopeSet::parse(&set.to_scope_string()), Ok(set));
        }
    }
}
