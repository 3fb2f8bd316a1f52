//! The status table of design.md, row by row, through the public API: exact status, exact
//! `WWW-Authenticate`, the inner service not called, the `AuthError` in the extensions.

use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::{Algorithm, TypPolicy};
use mcp_auth::core::keys::{KeyError, KeySource, KeysFuture, StaticKeySource};
use mcp_auth::{AuthContext, AuthError, ErrorKind, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const MD: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn authority() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new(ISS))
}

fn keys(algs: &[Algorithm]) -> StaticKeySource {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, algs, 32).unwrap().keys;
    StaticKeySource::new().with_issuer(ISS, set)
}

fn builder() -> mcp_auth::McpAuthBuilder {
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(keys(&Algorithm::ALL))
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
}

/// A good token for this resource with `mcp:read`.
fn token() -> mcp_auth_dev::TokenBuilder {
    authority().token().aud(RES).scope("mcp:read")
}

struct Outcome {
    status: StatusCode,
    challenge: Option<String>,
    calls: usize,
    error: Option<AuthError>,
    body: serde_json::Value,
    retry_after: Option<String>,
}

/// Sends `req` through `layer` around an echo service that reports what it saw.
async fn send(layer: McpAuthLayer, req: Request<Body>) -> Outcome {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let svc = ServiceBuilder::new().layer(layer).service_fn(move |req: Request<mcp_auth::RequestBody<Body>>| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let ctx = req.extensions().get::<AuthContext>().cloned();
            let body = json!({
                "authorization_seen": req.headers().contains_key(AUTHORIZATION),
                "sub": ctx.as_ref().and_then(|c| c.subject().map(str::to_owned)),
                "client_id": ctx.as_ref().and_then(|c| c.client_id().map(str::to_owned)),
                "scopes": ctx.as_ref().map(|c| c.scopes().to_scope_string()),
                "body": String::from_utf8_lossy(&axum::body::to_bytes(Body::new(req.into_body()), 1 << 20).await.unwrap()),
            });
            Ok::<_, Infallible>(Response::new(Body::from(body.to_string())))
        }
    });
    let res = svc.oneshot(req).await.unwrap();
    outcome(res.map(Body::new), calls.load(Ordering::SeqCst)).await
}

async fn outcome(res: Response<Body>, calls: usize) -> Outcome {
    let status = res.status();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let retry_after = res
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let error = res.extensions().get::<AuthError>().cloned();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Outcome {
        status,
        challenge,
        calls,
        error,
        body,
        retry_after,
    }
}

fn get(auth: &[&str]) -> Request<Body> {
    let mut b = Request::post("/mcp");
    for a in auth {
        b = b.header(AUTHORIZATION, *a);
    }
    b.body(Body::empty()).unwrap()
}

fn bearer(t: &str) -> Request<Body> {
    get(&[&format!("Bearer {t}")])
}

/// Asserts a rejection: status, exact challenge, inner not called, error in extensions.
fn assert_rejected(o: &Outcome, status: u16, challenge: Option<&str>) {
    assert_eq!(o.status, status);
    assert_eq!(o.challenge.as_deref(), challenge);
    assert_eq!(o.calls, 0, "inner service must not be called");
    let e = o.error.as_ref().expect("AuthError in response extensions");
    assert_eq!(e.kind().status(), status);
}

fn invalid_token(why: &str) -> String {
    format!(
        r#"Bearer error="invalid_token", error_description="{why}", resource_metadata="{MD}", scope="mcp:read""#
    )
}

fn invalid_request(why: &str) -> String {
    format!(
        r#"Bearer error="invalid_request", error_description="{why}", resource_metadata="{MD}""#
    )
}

async fn expect_invalid_token(layer: McpAuthLayer, t: &str, why: &str) {
    let o = send(layer, bearer(t)).await;
    assert_rejected(&o, 401, Some(&invalid_token(why)));
    assert_eq!(o.error.unwrap().kind(), ErrorKind::InvalidToken);
}

// --- the success path -------------------------------------------------------------------

#[tokio::test]
async fn success_handler_sees_context_but_not_the_token() {
    let o = send(builder().build().unwrap(), bearer(&token().sign())).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.calls, 1);
    assert_eq!(o.body["authorization_seen"], false);
    assert_eq!(o.body["sub"], "user-1");
    assert_eq!(o.body["client_id"], "client-1");
    assert_eq!(o.body["scopes"], "mcp:read");
}

#[tokio::test]
async fn lowercase_bearer_scheme_is_accepted() {
    let o = send(
        builder().build().unwrap(),
        get(&[&format!("bearer {}", token().sign())]),
    )
    .await;
    assert_eq!(o.status, 200);
}

#[tokio::test]
async fn aud_array_containing_ours_is_accepted() {
    let t = token()
        .aud_array(&["https://other.example.com", RES])
        .sign();
    assert_eq!(
        send(builder().build().unwrap(), bearer(&t)).await.status,
        200
    );
}

#[tokio::test]
async fn scope_and_scp_forms() {
    let layer = builder().build().unwrap();
    let t = token().scope("mcp:write mcp:read").sign();
    let o = send(layer.clone(), bearer(&t)).await;
    assert_eq!(
        (o.status.as_u16(), o.body["scopes"].as_str()),
        (200, Some("mcp:read mcp:write"))
    );
    let t = authority()
        .token()
        .aud(RES)
        .claim("scp", json!(["mcp:read", "x:y"]))
        .sign();
    let o = send(layer, bearer(&t)).await;
    assert_eq!(
        (o.status.as_u16(), o.body["scopes"].as_str()),
        (200, Some("mcp:read x:y"))
    );
}

#[tokio::test]
async fn every_allowed_algorithm_verifies() {
    let layer = builder().algorithms(Algorithm::ALL).build().unwrap();
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let o = send(layer.clone(), bearer(&token().alg(alg).sign())).await;
        assert_eq!(o.status, 200, "{alg}");
    }
    // The published RSA keys carry `alg` RS256 / PS256: RFC 8725 §3.1 binds each key to that
    // one algorithm, so the same key with another RSA algorithm is refused.
    for alg in ["RS384", "RS512", "PS384", "PS512"] {
        let t = token().alg(alg).sign();
        expect_invalid_token(layer.clone(), &t, "token algorithm does not match its key").await;
    }
}

#[tokio::test]
async fn dangerous_passthrough_keeps_the_header_when_asked() {
    let layer = builder()
        .dangerously_keep_authorization_header(true)
        .build()
        .unwrap();
    let o = send(layer, bearer(&token().sign())).await;
    assert_eq!(o.body["authorization_seen"], true);
}

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

// --- 503 --------------------------------------------------------------------------------------

#[derive(Debug)]
struct DownKeySource;

impl KeySource for DownKeySource {
    fn keys<'a>(&'a self, _issuer: &'a str, _kid: Option<&'a str>) -> KeysFuture<'a> {
        Box::pin(std::future::ready(Err(KeyError::Unavailable {
            retry_after: 7,
            reason: "connection refused".into(),
        })))
    }
}

#[tokio::test]
async fn key_source_unreachable_is_503_with_retry_after_and_no_challenge() {
    let layer = builder().key_source(DownKeySource).build().unwrap();
    let o = send(layer, bearer(&token().sign())).await;
    assert_rejected(&o, 503, None);
    assert_eq!(o.retry_after.as_deref(), Some("7"));
}

#[tokio::test]
async fn junk_never_reaches_the_key_source() {
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);
    impl KeySource for Counting {
        fn keys<'a>(&'a self, _i: &'a str, _k: Option<&'a str>) -> KeysFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(std::future::ready(Err(KeyError::UnknownIssuer)))
        }
    }
    let ks = Arc::new(Counting::default());
    let layer = builder().key_source(ks.clone()).build().unwrap();
    for t in [
        "junk".to_owned(),
        token().unsigned(),
        token().expires_in(-3600).sign(),
        token()
            .claim("iss", json!("https://evil.example.com"))
            .sign(),
        authority().token().aud("https://elsewhere").sign(),
    ] {
        assert_eq!(send(layer.clone(), bearer(&t)).await.status, 401);
    }
    assert_eq!(ks.0.load(Ordering::SeqCst), 0);
}

// --- the rest of the request path ---------------------------------------------------------

#[tokio::test]
async fn cors_preflight_is_never_gated() {
    let req = Request::options("/mcp")
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap();
    let layer = builder().allow_loopback_origins(true).build().unwrap();
    let o = send(layer, req).await;
    assert_eq!((o.status.as_u16(), o.calls), (200, 1));
}

#[tokio::test]
async fn error_bodies_and_logs_never_hold_the_token() {
    let t = token().expires_in(-3600).sign();
    let o = send(builder().build().unwrap(), bearer(&t)).await;
    let e = o.error.unwrap();
    for s in [format!("{e}"), format!("{e:?}"), o.challenge.unwrap()] {
        assert!(
            !s.contains(&t[..20]) && !s.contains(t.rsplit('.').next().unwrap()),
            "{s}"
        );
    }
}

#[test]
fn config_errors() {
    use mcp_auth::ConfigError;
    let b = || {
        McpAuthLayer::builder(RES)
            .issuer(ISS)
            .key_source(StaticKeySource::new())
    };
    assert!(matches!(
        McpAuthLayer::builder("not a uri")
            .issuer(ISS)
            .key_source(StaticKeySource::new())
            .build(),
        Err(ConfigError::Resource(_))
    ));
    assert!(matches!(
        McpAuthLayer::builder("https://h/x#frag")
            .issuer(ISS)
            .key_source(StaticKeySource::new())
            .build(),
        Err(ConfigError::Resource(_))
    ));
    assert!(matches!(
        McpAuthLayer::builder(RES)
            .key_source(StaticKeySource::new())
            .build(),
        Err(ConfigError::NoIssuer)
    ));
    assert!(matches!(
        McpAuthLayer::builder(RES)
            .issuer("http://as.example.com")
            .key_source(StaticKeySource::new())
            .build(),
        Err(ConfigError::Issuer(_))
    ));
    // Without a key source, the default is a JWKS key source for the issuers.
    #[cfg(not(feature = "jwks"))]
    assert!(matches!(
        McpAuthLayer::builder(RES).issuer(ISS).build(),
        Err(ConfigError::NoKeySource)
    ));
    #[cfg(feature = "jwks")]
    assert!(McpAuthLayer::builder(RES).issuer(ISS).build().is_ok());
    assert!(matches!(
        b().require_scopes(["offline_access"]).build(),
        Err(ConfigError::OfflineAccess)
    ));
    assert!(matches!(
        b().scopes_supported(["mcp:read", "offline_access"]).build(),
        Err(ConfigError::OfflineAccess)
    ));
    assert!(matches!(
        b().scopes_supported(["a"]).require_scopes(["b"]).build(),
        Err(ConfigError::UnsupportedScope(_))
    ));
    assert!(matches!(
        b().require_scopes(["bad\"scope"]).build(),
        Err(ConfigError::Scope(_))
    ));
    assert!(matches!(
        b().algorithms([]).build(),
        Err(ConfigError::NoAlgorithms)
    ));
    assert!(b().build().is_ok());
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
