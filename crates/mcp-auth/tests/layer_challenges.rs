//! The status table of design.md, the rejection rows one by one through the public API: exact
//! status, exact `WWW-Authenticate`, the inner service not called, the `AuthError` in the
//! extensions.

mod common;

use axum::body::Body;
use common::*;
use http::Request;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use mcp_auth::ErrorKind;
use mcp_auth::core::jws::{Algorithm, TypPolicy};
use serde_json::json;

// --- 401 without error --------------------------------------------------------------------

#[tokio::test]
async fn no_credentials_is_401_without_error() {
    let o = send(builder().build().unwrap(), get(&[])).await;
    assert_rejected(
        &o,
        401,
        Some(&format!(
            r#"Bearer resource_metadata="{MD}", scope="mcp:read""#
        )),
    );
    assert_eq!(o.error.unwrap().kind(), ErrorKind::MissingCredentials);
}

#[tokio::test]
async fn other_scheme_is_treated_as_no_credentials() {
    let o = send(builder().build().unwrap(), get(&["Basic dXNlcjpwYXNz"])).await;
    assert_rejected(
        &o,
        401,
        Some(&format!(
            r#"Bearer resource_metadata="{MD}", scope="mcp:read""#
        )),
    );
}

// --- 400 invalid_request ------------------------------------------------------------------

#[tokio::test]
async fn two_authorization_headers() {
    let t = token().sign();
    let o = send(
        builder().build().unwrap(),
        get(&[&format!("Bearer {t}"), &format!("Bearer {t}")]),
    )
    .await;
    assert_rejected(
        &o,
        400,
        Some(&invalid_request("more than one Authorization header")),
    );
}

#[tokio::test]
async fn token_in_query() {
    let t = token().sign();
    let req = Request::post(format!("/mcp?access_token={t}"))
        .body(Body::empty())
        .unwrap();
    let o = send(builder().build().unwrap(), req).await;
    assert_rejected(
        &o,
        400,
        Some(&invalid_request(
            "access tokens are accepted only in the Authorization header",
        )),
    );
    // And together with a header: two methods at once (RFC 6750 §2).
    let req = Request::post(format!("/mcp?access_token={t}"))
        .header(AUTHORIZATION, format!("Bearer {t}"))
        .body(Body::empty())
        .unwrap();
    let o = send(builder().build().unwrap(), req).await;
    assert_rejected(
        &o,
        400,
        Some(&invalid_request(
            "access tokens are accepted only in the Authorization header",
        )),
    );
}

#[tokio::test]
async fn token_in_form_body() {
    let t = token().sign();
    for with_header in [false, true] {
        let mut b = Request::post("/mcp").header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if with_header {
            b = b.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let o = send(
            builder().build().unwrap(),
            b.body(Body::from(format!("access_token={t}"))).unwrap(),
        )
        .await;
        assert_rejected(
            &o,
            400,
            Some(&invalid_request(
                "access tokens are accepted only in the Authorization header",
            )),
        );
    }
}

#[tokio::test]
async fn form_body_without_token_reaches_the_handler_unchanged() {
    let req = Request::post("/mcp")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(AUTHORIZATION, format!("Bearer {}", token().sign()))
        .body(Body::from("a=1&b=2"))
        .unwrap();
    let o = send(builder().build().unwrap(), req).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["body"], "a=1&b=2");
}

#[tokio::test]
async fn oversize_form_body_is_413() {
    let req = Request::post("/mcp")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(vec![b'a'; 2048]))
        .unwrap();
    let o = send(builder().max_form_body(1024).build().unwrap(), req).await;
    assert_rejected(&o, 413, None);
}

#[tokio::test]
async fn empty_token() {
    let o = send(builder().build().unwrap(), get(&["Bearer "])).await;
    assert_rejected(&o, 400, Some(&invalid_request("empty access token")));
}

#[tokio::test]
async fn token_with_space_or_control_character() {
    let o = send(builder().build().unwrap(), get(&["Bearer abc def"])).await;
    assert_rejected(&o, 400, Some(&invalid_request("malformed access token")));
    let mut req = get(&[]);
    req.headers_mut().insert(
        AUTHORIZATION,
        http::HeaderValue::from_bytes(b"Bearer abc\tdef").unwrap(),
    );
    let o = send(builder().build().unwrap(), req).await;
    assert_rejected(
        &o,
        400,
        Some(&invalid_request("malformed Authorization header")),
    );
}

#[tokio::test]
async fn oversize_token() {
    let t = "a".repeat(8 * 1024 + 1);
    let o = send(builder().build().unwrap(), bearer(&t)).await;
    assert_rejected(&o, 400, Some(&invalid_request("access token too large")));
}

// --- 401 invalid_token ----------------------------------------------------------------------

#[tokio::test]
async fn alg_none() {
    expect_invalid_token(
        builder().build().unwrap(),
        &token().unsigned(),
        "token algorithm not allowed",
    )
    .await;
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key() {
    // The classic algorithm-confusion attack: HMAC keyed with the RSA public key bytes.
    for key in [
        authority().rsa_public_key_der(),
        authority().rsa_public_key_spki_der(),
        authority().rsa_public_key_pem(),
    ] {
        let t = token()
            .kid(&authority().current_kid("RS256").unwrap())
            .sign_hs256(&key);
        expect_invalid_token(
            builder().algorithms(Algorithm::ALL).build().unwrap(),
            &t,
            "token algorithm not allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn rsa_kid_with_es256_alg() {
    let t = token()
        .alg("ES256")
        .kid(&authority().current_kid("RS256").unwrap())
        .sign();
    expect_invalid_token(
        builder().build().unwrap(),
        &t,
        "token algorithm does not match its key",
    )
    .await;
}

#[tokio::test]
async fn algorithm_outside_the_allow_list() {
    let t = token().alg("PS256").sign();
    expect_invalid_token(
        builder().build().unwrap(),
        &t,
        "token algorithm not allowed",
    )
    .await;
}

#[tokio::test]
async fn bad_signature_and_unknown_kid() {
    let t = token().sign();
    let other = token().subject("admin").sign();
    // Payload of one token, signature of another.
    let (h, rest) = t.split_once('.').unwrap();
    let sig = rest.split_once('.').unwrap().1;
    let p2 = other.split('.').nth(1).unwrap();
    expect_invalid_token(
        builder().build().unwrap(),
        &format!("{h}.{p2}.{sig}"),
        "invalid token signature",
    )
    .await;
    expect_invalid_token(
        builder().build().unwrap(),
        &token().kid("forged-kid").sign(),
        "unknown signing key",
    )
    .await;
}

#[tokio::test]
async fn wrong_issuer_and_issuer_array() {
    expect_invalid_token(
        builder().build().unwrap(),
        &token()
            .claim("iss", json!("https://evil.example.com"))
            .sign(),
        "token issuer is not trusted",
    )
    .await;
    expect_invalid_token(
        builder().build().unwrap(),
        &token().claim("iss", json!([ISS])).sign(),
        "token claims are malformed",
    )
    .await;
}

#[tokio::test]
async fn audience_missing_or_other() {
    let t = authority().token().scope("mcp:read").sign();
    expect_invalid_token(builder().build().unwrap(), &t, "token has no audience").await;
    let t = authority()
        .token()
        .aud("https://mcp.example.com/other")
        .scope("mcp:read")
        .sign();
    expect_invalid_token(
        builder().build().unwrap(),
        &t,
        "token audience is not this resource",
    )
    .await;
}

#[tokio::test]
async fn expired_and_not_yet_valid() {
    expect_invalid_token(
        builder().build().unwrap(),
        &token().expires_in(-61).sign(),
        "token expired",
    )
    .await;
    assert_eq!(
        send(
            builder().build().unwrap(),
            bearer(&token().expires_in(-30).sign())
        )
        .await
        .status,
        200,
        "within leeway"
    );
    expect_invalid_token(
        builder().build().unwrap(),
        &token().not_before_in(120).sign(),
        "token not yet valid",
    )
    .await;
}

#[tokio::test]
async fn typ_jwt_in_strict_mode_and_lenient() {
    let t = token().header("typ", json!("JWT")).sign();
    expect_invalid_token(builder().build().unwrap(), &t, "token type is not at+jwt").await;
    let o = send(
        builder().typ_policy(TypPolicy::AllowJwt).build().unwrap(),
        bearer(&t),
    )
    .await;
    assert_eq!(o.status, 200);
}

#[tokio::test]
async fn crit_present() {
    let t = token().header("crit", json!(["exp"])).sign();
    expect_invalid_token(
        builder().build().unwrap(),
        &t,
        "token has critical header parameters",
    )
    .await;
}

#[tokio::test]
async fn cnf_present() {
    let t = token()
        .claim(
            "cnf",
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        )
        .sign();
    expect_invalid_token(
        builder().build().unwrap(),
        &t,
        "sender-constrained token presented without proof of possession",
    )
    .await;
}

#[tokio::test]
async fn dpop_scheme_without_dpop_support() {
    let o = send(
        builder().build().unwrap(),
        get(&[&format!("DPoP {}", token().sign())]),
    )
    .await;
    assert_rejected(
        &o,
        401,
        Some(&invalid_token(
            "DPoP-bound tokens are not accepted by this resource",
        )),
    );
}

#[tokio::test]
async fn junk_token() {
    expect_invalid_token(
        builder().build().unwrap(),
        "not-a-jwt",
        "token is not a compact JWS",
    )
    .await;
}

// --- 403 insufficient_scope ---------------------------------------------------------------

#[tokio::test]
async fn insufficient_scope_names_every_needed_scope() {
    let layer = builder().require_scopes(["mcp:write"]).build().unwrap();
    let o = send(layer.clone(), bearer(&token().scope("other:x").sign())).await;
    assert_rejected(
        &o,
        403,
        Some(&format!(
            r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this operation needs", scope="mcp:read mcp:write other:x", resource_metadata="{MD}""#
        )),
    );
    let layer = builder()
        .require_scopes(["mcp:write"])
        .granted_scopes_in_403(false)
        .build()
        .unwrap();
    let o = send(layer, bearer(&token().scope("other:x").sign())).await;
    assert_rejected(
        &o,
        403,
        Some(&format!(
            r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this operation needs", scope="mcp:read mcp:write", resource_metadata="{MD}""#
        )),
    );
}

#[tokio::test]
async fn scope_hierarchy_is_honoured() {
    let h = mcp_auth::core::scope::ImpliedScopes::builder()
        .implies("mcp:admin", ["mcp:write"])
        .implies("mcp:write", ["mcp:read"])
        .build()
        .unwrap();
    let layer = builder()
        .scopes_supported(["mcp:read", "mcp:write", "mcp:admin"])
        .scope_hierarchy(h)
        .build()
        .unwrap();
    assert_eq!(
        send(layer.clone(), bearer(&token().scope("mcp:admin").sign()))
            .await
            .status,
        200
    );
    assert_eq!(
        send(layer, bearer(&token().scope("other").sign()))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn one_layer_renders_each_rejection_with_its_own_challenge() {
    // Challenges are rendered once and reused: one layer must still tell its errors apart.
    let layer = builder().build().unwrap();
    for (t, why) in [
        (token().expires_in(-3600).sign(), "token expired"),
        (token().not_before_in(3600).sign(), "token not yet valid"),
        (token().expires_in(-3600).sign(), "token expired"),
        (token().kid("forged").sign(), "unknown signing key"),
    ] {
        let o = send(layer.clone(), bearer(&t)).await;
        assert_rejected(&o, 401, Some(&invalid_token(why)));
    }
    let o = send(layer.clone(), get(&[])).await;
    assert_rejected(
        &o,
        401,
        Some(&format!(
            r#"Bearer resource_metadata="{MD}", scope="mcp:read""#
        )),
    );
    let o = send(layer, get(&["Bearer "])).await;
    assert_rejected(&o, 400, Some(&invalid_request("empty access token")));
}
