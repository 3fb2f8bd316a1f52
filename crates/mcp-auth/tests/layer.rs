//! The status table of design.md through the public API, the requests that pass: the success
//! path and the rest of the request path (preflight, secrets, configuration). The rejections
//! are in `layer_challenges.rs`, the key source outage in `layer_unavailable.rs`.

mod common;

use axum::body::Body;
use common::*;
use http::Request;
use mcp_auth::McpAuthLayer;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use serde_json::json;

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
