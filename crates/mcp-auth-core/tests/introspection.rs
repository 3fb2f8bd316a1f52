//! The RFC 7662 introspection rules on their own (issue 16): what is sent, and every rule of
//! the answer, plain JSON and RFC 9701 signed.

use mcp_auth_core::claims::{ClaimMapping, ClaimsPolicy, ScopeSource};
use mcp_auth_core::introspection::{
    IntrospectionConfigError, IntrospectionRules, basic_authorization, check_token, form_body,
};
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::Algorithm;
use mcp_auth_core::resource::ResourceUri;
use mcp_auth_core::{AuthError, ErrorKind};
use mcp_auth_dev::TestAuthority;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const NOW: i64 = 1_800_000_000;
const TOKEN: &str = "opaque-token-1";
const RS_CLIENT: &str = "mcp-resource-server";

fn policy() -> ClaimsPolicy {
    ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS)
}

fn rules() -> IntrospectionRules {
    IntrospectionRules::new(ISS, policy()).unwrap()
}

fn good() -> Value {
    json!({"active": true, "iss": ISS, "aud": RES, "scope": "mcp:read mcp:write",
           "client_id": "c1", "sub": "u1", "username": "alice", "token_type": "Bearer",
           "exp": NOW + 300, "iat": NOW - 10})
}

fn with(k: &str, v: Value) -> Value {
    let mut g = good();
    g[k] = v;
    g
}

fn without(k: &str) -> Value {
    let mut g = good();
    g.as_object_mut().unwrap().remove(k);
    g
}

fn check_with(r: &IntrospectionRules, v: &Value) -> Result<String, AuthError> {
    r.check_answer(TOKEN, &serde_json::to_vec(v).unwrap(), NOW)
        .map(|i| i.verified.scopes.to_scope_string())
}

/// The refusal's kind and description.
fn refusal(r: Result<String, AuthError>) -> (ErrorKind, &'static str) {
    let e = r.expect_err("refused");
    (e.kind(), e.description())
}

fn invalid(description: &'static str) -> (ErrorKind, &'static str) {
    (ErrorKind::InvalidToken, description)
}

const UNUSABLE: (ErrorKind, &str) = (
    ErrorKind::KeySourceUnavailable,
    "the authorization server cannot introspect the token now",
);

#[test]
fn an_active_answer_for_this_resource_is_accepted_with_its_members() {
    let ok = rules()
        .check_answer(TOKEN, &serde_json::to_vec(&good()).unwrap(), NOW)
        .unwrap();
    let v = &ok.verified;
    assert_eq!(v.scopes.to_scope_string(), "mcp:read mcp:write");
    assert_eq!(v.issuer(), ISS);
    assert_eq!(v.claims.client(), Some("c1"));
    assert_eq!(v.claims.subject(), Some("u1"));
    assert_eq!(ok.username.as_deref(), Some("alice"));
    assert_eq!(v.key, [0; 32], "a plain answer is signed by no key");
    assert!(!v.token_hash.to_string().contains(TOKEN));
    // min(exp, maximum): 300 s left, the default maximum is 60 s.
    assert_eq!(ok.cache_for, Duration::from_secs(60));
    let r = rules().with_max_cache(Duration::from_secs(600));
    let ok = r
        .check_answer(TOKEN, &serde_json::to_vec(&good()).unwrap(), NOW)
        .unwrap();
    assert_eq!(ok.cache_for, Duration::from_secs(300));
}

#[test]
fn only_the_json_boolean_true_is_active() {
    assert_eq!(
        refusal(check_with(&rules(), &with("active", json!(false)))),
        invalid("token is not active")
    );
    assert_eq!(
        refusal(check_with(&rules(), &json!({"active": false}))),
        invalid("token is not active")
    );
    for junk in [json!("true"), json!(1), json!(null), json!({"v": true})] {
        assert_eq!(
            refusal(check_with(&rules(), &with("active", junk.clone()))),
            UNUSABLE,
            "{junk}"
        );
    }
    assert_eq!(refusal(check_with(&rules(), &without("active"))), UNUSABLE);
    let e = rules().check_answer(TOKEN, b"[true]", NOW).unwrap_err();
    assert_eq!(e.retry_after(), Some(5));
    for body in [
        &b"not json"[..],
        b"",
        br#"{"active":true,"active":false}"#,
        br#"{"active":true,"aud":7}"#,
        br#"{"active":true,"exp":"soon"}"#,
        br#"{"active":true,"token_type":1}"#,
        br#"{"active":true,"x":{"y":1,"y":2}}"#,
    ] {
        let r = rules().check_answer(TOKEN, body, NOW).map(drop);
        assert_eq!(
            r.map_err(|e| (e.kind(), e.description())),
            Err(UNUSABLE),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let r = rules().with_retry_after(9);
    assert_eq!(
        r.check_answer(TOKEN, b"{}", NOW).unwrap_err().retry_after(),
        Some(9)
    );
}

#[test]
fn time_members_are_checked_with_the_leeway_when_present() {
    let r = rules();
    assert_eq!(
        refusal(check_with(&r, &with("exp", json!(NOW - 61)))),
        invalid("token expired")
    );
    // Within the leeway: accepted, but not to be kept.
    let ok = r
        .check_answer(
            TOKEN,
            &serde_json::to_vec(&with("exp", json!(NOW - 30))).unwrap(),
            NOW,
        )
        .unwrap();
    assert_eq!(ok.cache_for, Duration::ZERO);
    assert_eq!(
        refusal(check_with(&r, &with("nbf", json!(NOW + 120)))),
        invalid("token not yet valid")
    );
    assert_eq!(
        refusal(check_with(&r, &with("iat", json!(NOW + 120)))),
        invalid("token issued in the future")
    );
    // RFC 7662 makes `exp` optional: accepted, kept only for the maximum.
    let ok = r
        .check_answer(TOKEN, &serde_json::to_vec(&without("exp")).unwrap(), NOW)
        .unwrap();
    assert_eq!(ok.cache_for, r.max_cache());
}

#[test]
fn a_kept_answer_is_rechecked_against_the_clock() {
    let r = rules();
    let ok = r
        .check_answer(TOKEN, &serde_json::to_vec(&good()).unwrap(), NOW)
        .unwrap();
    assert_eq!(r.recheck(&ok.verified, NOW + 100), Ok(()));
    assert_eq!(
        r.recheck(&ok.verified, NOW + 400)
            .unwrap_err()
            .description(),
        "token expired"
    );
    let no_exp = r
        .check_answer(TOKEN, &serde_json::to_vec(&without("exp")).unwrap(), NOW)
        .unwrap();
    assert_eq!(r.recheck(&no_exp.verified, NOW + 10_000), Ok(()));
}

#[test]
fn the_audience_binds_the_answer_to_this_resource() {
    assert_eq!(
        refusal(check_with(
            &rules(),
            &with("aud", json!("https://other.example.com"))
        )),
        invalid("token audience is not this resource")
    );
    assert_eq!(
        check_with(&rules(), &with("aud", json!(["x", RES]))).map(drop),
        Ok(())
    );
    assert_eq!(
        refusal(check_with(&rules(), &without("aud"))),
        invalid("token has no audience")
    );
    // An AS configured as never returning `aud`: its absence is accepted, a wrong one is not.
    let mut p = policy();
    p.require_audience = false;
    let r = IntrospectionRules::new(ISS, p).unwrap();
    assert_eq!(check_with(&r, &without("aud")).map(drop), Ok(()));
    assert_eq!(
        refusal(check_with(
            &r,
            &with("aud", json!("https://other.example.com"))
        )),
        invalid("token audience is not this resource")
    );
}

#[test]
fn the_issuer_is_the_one_asked() {
    assert_eq!(
        refusal(check_with(
            &rules(),
            &with("iss", json!("https://evil.example.com"))
        )),
        invalid("token issuer is not trusted")
    );
    assert_eq!(
        refusal(check_with(&rules(), &with("iss", json!(format!("{ISS}/"))))),
        invalid("token issuer is not trusted")
    );
    // Another issuer the policy trusts is still not the one this endpoint speaks for.
    let mut p = policy();
    p.issuers.push("https://second.example.com".to_owned());
    let r = IntrospectionRules::new(ISS, p).unwrap();
    assert_eq!(
        refusal(check_with(
            &r,
            &with("iss", json!("https://second.example.com"))
        )),
        invalid("token issuer is not trusted")
    );
    // Absent: the issuer asked.
    let ok = rules()
        .check_answer(TOKEN, &serde_json::to_vec(&without("iss")).unwrap(), NOW)
        .unwrap();
    assert_eq!(ok.verified.issuer(), ISS);
    assert!(matches!(
        IntrospectionRules::new("https://evil.example.com", policy()),
        Err(IntrospectionConfigError::IssuerNotInPolicy(_))
    ));
}

#[test]
fn only_bearer_tokens_without_confirmation_pass_on_the_bearer_scheme() {
    for t in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(
            check_with(&rules(), &with("token_type", json!(t))).map(drop),
            Ok(()),
            "{t}"
        );
    }
    assert_eq!(
        check_with(&rules(), &without("token_type")).map(drop),
        Ok(())
    );
    for t in ["DPoP", "dpop", "N_A", "mac", ""] {
        assert_eq!(
            refusal(check_with(&rules(), &with("token_type", json!(t)))),
            invalid("token type is not Bearer"),
            "{t}"
        );
    }
    let cnf = invalid("sender-constrained token presented without proof of possession");
    assert_eq!(
        refusal(check_with(&rules(), &with("cnf", json!({"jkt": "abc"})))),
        cnf
    );
    // Even when the policy allows `cnf` (for DPoP): not on the Bearer scheme.
    let mut p = policy();
    p.allow_cnf = true;
    let r = IntrospectionRules::new(ISS, p).unwrap();
    assert_eq!(
        refusal(check_with(&r, &with("cnf", json!({"x5t#S256": "abc"})))),
        cnf
    );
}

#[test]
fn rfc9068_required_claims_do_not_apply_to_answers() {
    let minimal = json!({"active": true, "aud": RES});
    let ok = rules()
        .check_answer(TOKEN, &serde_json::to_vec(&minimal).unwrap(), NOW)
        .unwrap();
    assert!(ok.verified.scopes.is_empty());
    assert_eq!(ok.verified.claims.client(), None);
    assert_eq!(ok.verified.claims.subject(), None);
    assert_eq!(ok.username, None);
}

#[test]
fn scopes_and_clients_follow_the_mapping_and_the_allow_list() {
    let mut p = policy();
    p.mapping = ClaimMapping::new()
        .with_scope_sources([ScopeSource::claim("scope"), ScopeSource::claim("perms")])
        .with_client_id_claims(["appid"]);
    p.allowed_client_ids = Some(Arc::from(vec!["app-7".to_owned()]));
    let r = IntrospectionRules::new(ISS, p).unwrap();
    let answer = with("perms", json!(["tools:call"]));
    let mut answer = answer;
    answer["appid"] = json!("app-7");
    assert_eq!(
        check_with(&r, &answer).unwrap(),
        "mcp:read mcp:write tools:call"
    );
    answer["appid"] = json!("app-8");
    assert_eq!(
        refusal(check_with(&r, &answer)),
        invalid("token client is not allowed")
    );
    assert_eq!(
        refusal(check_with(&rules(), &with("scope", json!("a \"b")))),
        invalid("token scope is malformed")
    );
}

#[test]
fn the_token_is_checked_before_it_is_sent() {
    assert_eq!(check_token("abc.DEF-_~+/==", 100), Ok(()));
    assert_eq!(
        check_token(&"a".repeat(101), 100)
            .unwrap_err()
            .description(),
        "token too large"
    );
    for bad in ["", "a b", "a,b", "=abc", "tök", "a\nb"] {
        let e = check_token(bad, 100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{bad:?}");
    }
}

#[test]
fn the_request_is_a_form_with_the_hint_and_the_client_members() {
    assert_eq!(
        form_body("a+b/c=", &[]),
        "token=a%2Bb%2Fc%3D&token_type_hint=access_token"
    );
    let body = form_body("t", &[("client_id", "c 1"), ("client_secret", "s&=")]);
    assert_eq!(
        body,
        "token=t&token_type_hint=access_token&client_id=c+1&client_secret=s%26%3D"
    );
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(pairs[3], ("client_secret".to_owned(), "s&=".to_owned()));
    // RFC 6749 §2.3.1: each encoded before base64, so a `:` in the id cannot shift the split.
    use base64::Engine as _;
    let b = basic_authorization("id:1", "p@ss word");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(raw, b"id%3A1:p%40ss+word");
}

// RFC 9701 signed answers.

fn signed_rules() -> IntrospectionRules {
    rules()
        .with_signed_answers(RS_CLIENT, vec![Algorithm::RS256, Algorithm::ES256])
        .unwrap()
}

fn keys_of(a: &TestAuthority) -> KeySet {
    let jwks = serde_json::to_vec(&a.jwks()).unwrap();
    KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys
}

fn signed(a: &TestAuthority, inner: Value) -> mcp_auth_dev::TokenBuilder {
    a.token()
        .header("typ", json!("token-introspection+jwt"))
        .without_claim("sub")
        .without_claim("client_id")
        .without_claim("exp")
        .without_claim("jti")
        .aud(RS_CLIENT)
        .claim("token_introspection", inner)
}

fn check_signed(r: &IntrospectionRules, jwt: &str, keys: &KeySet) -> Result<String, AuthError> {
    r.check_signed_answer(TOKEN, jwt.as_bytes(), keys, NOW)
        .map(|i| i.verified.scopes.to_scope_string())
}

#[test]
fn a_signed_answer_is_verified_then_read_by_the_same_rules() {
    let a = TestAuthority::new(ISS);
    let keys = keys_of(&a);
    let jwt = signed(&a, good()).sign();
    let r = signed_rules();
    assert_eq!(
        r.signed_answer_kid(jwt.as_bytes()),
        Ok(a.current_kid("RS256"))
    );
    let ok = r
        .check_signed_answer(TOKEN, jwt.as_bytes(), &keys, NOW)
        .unwrap();
    assert_eq!(ok.verified.scopes.to_scope_string(), "mcp:read mcp:write");
    assert_ne!(ok.verified.key, [0; 32]);
    assert!(keys.contains_fingerprint(&ok.verified.key));
    // `application/` prefix, any case.
    let jwt = signed(&a, good())
        .header("typ", json!("Application/Token-Introspection+JWT"))
        .sign();
    assert!(check_signed(&r, &jwt, &keys).is_ok());
    // The inner rules hold: inactive and other audience are refusals of the token.
    let jwt = signed(&a, json!({"active": false})).sign();
    assert_eq!(
        refusal(check_signed(&r, &jwt, &keys)),
        invalid("token is not active")
    );
    let jwt = signed(&a, with("aud", json!("https://other.example.com"))).sign();
    assert_eq!(
        refusal(check_signed(&r, &jwt, &keys)),
        invalid("token audience is not this resource")
    );
}

#[test]
fn a_forged_or_misaddressed_signed_answer_is_unusable() {
    let a = TestAuthority::new(ISS);
    let keys = keys_of(&a);
    let r = signed_rules();
    // Signed by another authority's key, under the trusted kid.
    let evil = TestAuthority::new(ISS);
    let forged = signed(&evil, good())
        .kid(&a.current_kid("RS256").unwrap())
        .sign();
    assert_eq!(refusal(check_signed(&r, &forged, &keys)), UNUSABLE);
    // One byte of the payload changed.
    let jwt = signed(&a, good()).sign();
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[1] = signed(&a, with("scope", json!("admin")))
        .sign()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(refusal(check_signed(&r, &parts.join("."), &keys)), UNUSABLE);
    for typ in [json!("at+jwt"), json!("JWT"), json!(null)] {
        let jwt = signed(&a, good()).header("typ", typ.clone()).sign();
        assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE, "{typ}");
    }
    let jwt = signed(&a, good()).without_header("typ").sign();
    assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE);
    for aud in [json!("someone-else"), json!([]), json!(RES)] {
        let jwt = signed(&a, good()).claim("aud", aud.clone()).sign();
        assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE, "{aud}");
    }
    let jwt = signed(&a, good()).without_claim("aud").sign();
    assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE);
    let jwt = signed(&a, good())
        .claim("iss", json!("https://evil.example.com"))
        .sign();
    assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE);
    let jwt = signed(&a, good())
        .without_claim("token_introspection")
        .sign();
    assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE);
    let jwt = signed(&a, json!("active")).sign();
    assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE);
    let jwt = signed(&a, good()).unsigned();
    assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE);
    let jwt = signed(&a, good()).sign_hs256(b"secret");
    assert_eq!(refusal(check_signed(&r, &jwt, &keys)), UNUSABLE);
    // An algorithm outside the answer's allow-list.
    let r256 = rules()
        .with_signed_answers(RS_CLIENT, vec![Algorithm::ES256])
        .unwrap();
    let jwt = signed(&a, good()).sign();
    assert_eq!(refusal(check_signed(&r256, &jwt, &keys)), UNUSABLE);
    // A plain JSON body where a JWT was expected, and no signed-answer settings at all.
    let body = serde_json::to_string(&good()).unwrap();
    assert_eq!(refusal(check_signed(&r, &body, &keys)), UNUSABLE);
    assert_eq!(refusal(check_signed(&rules(), &jwt, &keys)), UNUSABLE);
    assert!(matches!(
        rules().with_signed_answers(RS_CLIENT, vec![]),
        Err(IntrospectionConfigError::NoAlgorithm)
    ));
}

fn answer_like() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    // Bytes biased towards introspection answers, so the rules get past the JSON parse.
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just("\"active\":".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            Just("\"true\"".to_owned()),
            Just(format!("\"aud\":\"{RES}\"")),
            Just(format!("\"iss\":\"{ISS}\"")),
            Just("\"exp\":".to_owned()),
            Just("\"token_type\":".to_owned()),
            Just("\"cnf\":".to_owned()),
            Just("\"scope\":".to_owned()),
            Just("\"username\":".to_owned()),
            Just("1e999".to_owned()),
            Just("-1".to_owned()),
            Just("null".to_owned()),
            "[ -~]{0,8}".prop_map(|s| s),
        ],
        0..30,
    )
    .prop_map(|v| v.concat().into_bytes())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, .. Default::default() })]

    /// Any bytes: a value or an error, never a panic; and nothing is accepted unless it is a
    /// JSON object whose `active` is the boolean `true`.
    #[test]
    fn any_answer_is_judged_without_panic(body in answer_like()) {
        let mut p = policy();
        p.require_audience = false;
        let r = IntrospectionRules::new(ISS, p).unwrap();
        if r.check_answer(TOKEN, &body, NOW).is_ok() {
            let v: Value = serde_json::from_slice(&body).unwrap();
            proptest::prop_assert_eq!(&v["active"], &json!(true));
        }
    }
}

/// Rules made for a layer with DPoP on keep `cnf` and take `token_type` `DPoP` (RFC 9449
/// §6.2): the layer matches `cnf.jkt` with the proof and refuses the token on `Bearer`.
#[test]
fn dpop_bound_answers_only_when_the_rules_take_them() {
    let bound = with("cnf", json!({"jkt": "0ZcOCORZNYy"}));
    let dpop = with("token_type", json!("DPoP"));
    let r = rules().with_dpop_bound_tokens(true);
    let ok = r
        .check_answer(TOKEN, &serde_json::to_vec(&bound).unwrap(), NOW)
        .unwrap();
    assert_eq!(ok.verified.claims.cnf, Some(json!({"jkt": "0ZcOCORZNYy"})));
    assert_eq!(check_with(&r, &dpop).map(drop), Ok(()));
    // Still no other token type.
    assert_eq!(
        refusal(check_with(&r, &with("token_type", json!("mac")))),
        invalid("token type is not Bearer")
    );
    // Off (the default, and explicitly): refused as before.
    for r in [rules(), rules().with_dpop_bound_tokens(false)] {
        assert_eq!(
            refusal(check_with(&r, &bound)),
            invalid("sender-constrained token presented without proof of possession")
        );
        assert_eq!(
            refusal(check_with(&r, &dpop)),
            invalid("token type is not Bearer")
        );
    }
}
