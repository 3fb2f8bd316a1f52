//! Discovery of the `jwks_uri`: RFC 8414 path insertion, the OpenID Connect fallback, the
//! issuer check, clear errors.
//!
//! Cache behaviour with a counting fake fetcher and a manual clock: no network, no real sleeps.

mod common;

use common::FakeFetcher;
use mcp_auth_core::keys::{KeyError, KeySource};
use mcp_auth_jwks::{FetchResponse, JwksError, JwksKeySource, ManualClock};
use serde_json::json;
use std::sync::Arc;

fn metadata(issuer: &str, jwks_uri: &str) -> FetchResponse {
    FetchResponse::json(json!({"issuer": issuer, "jwks_uri": jwks_uri}).to_string())
}

#[tokio::test]
async fn discovery_rfc8414_path_insertion() {
    const T1: &str = "https://as.example.com/tenant1";
    const META: &str = "https://as.example.com/.well-known/oauth-authorization-server/tenant1";
    const KEYS: &str = "https://keys.example.com/tenant1/jwks";
    let f = FakeFetcher::new();
    f.set(META, metadata(T1, KEYS));
    f.set_jwks(KEYS, &["t1"], None);
    let src = JwksKeySource::builder()
        .issuer(T1)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert_eq!(f.urls(), [META, KEYS]);
    assert!(src.keys(T1, Some("t1")).await.unwrap().contains_kid("t1"));
    // The discovered jwks_uri is reused.
    src.refresh(T1).await.unwrap();
    assert_eq!((f.count(META), f.count(KEYS)), (1, 2));
    let s = src.stats();
    assert_eq!((s.discovery_fetches, s.fetches), (1, 2));
}

#[tokio::test]
async fn discovery_falls_back_to_openid_connect() {
    const T2: &str = "https://as.example.com/tenant2";
    const IDP: &str = "https://idp.example.com";
    let f = FakeFetcher::new();
    // Path issuer: RFC 8414 and OIDC insertion answer 404, OIDC appending answers.
    f.set(
        "https://as.example.com/tenant2/.well-known/openid-configuration",
        metadata(T2, "https://as.example.com/tenant2/keys"),
    );
    f.set_jwks("https://as.example.com/tenant2/keys", &["t2"], None);
    // Host-only issuer: RFC 8414 answers an HTML page, OIDC answers.
    f.set(
        "https://idp.example.com/.well-known/oauth-authorization-server",
        FetchResponse::new(http::StatusCode::OK, "<html>login</html>")
            .with_content_type("text/html"),
    );
    f.set(
        "https://idp.example.com/.well-known/openid-configuration",
        metadata(IDP, "https://idp.example.com/jwks"),
    );
    f.set_jwks("https://idp.example.com/jwks", &["idp"], None);
    let src = JwksKeySource::builder()
        .issuer(T2)
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert!(src.keys(T2, Some("t2")).await.unwrap().contains_kid("t2"));
    assert!(
        src.keys(IDP, Some("idp"))
            .await
            .unwrap()
            .contains_kid("idp")
    );
    for url in [
        "https://as.example.com/.well-known/oauth-authorization-server/tenant2",
        "https://as.example.com/.well-known/openid-configuration/tenant2",
        "https://as.example.com/tenant2/.well-known/openid-configuration",
        "https://idp.example.com/.well-known/oauth-authorization-server",
        "https://idp.example.com/.well-known/openid-configuration",
    ] {
        assert_eq!(f.count(url), 1, "{url}");
    }
}

#[tokio::test]
async fn discovery_refuses_a_mismatching_issuer() {
    const T1: &str = "https://as.example.com/tenant1";
    const META: &str = "https://as.example.com/.well-known/oauth-authorization-server/tenant1";
    for found in [
        "https://evil.example.com/tenant1",
        "https://as.example.com/tenant1/",
        "https://AS.example.com/tenant1",
        "https://as.example.com",
    ] {
        let f = FakeFetcher::new();
        f.set(META, metadata(found, "https://as.example.com/jwks"));
        f.set_jwks("https://as.example.com/jwks", &["k1"], None);
        // An OIDC document with the right issuer must not rescue a mismatching RFC 8414 one.
        f.set(
            "https://as.example.com/.well-known/openid-configuration/tenant1",
            metadata(T1, "https://as.example.com/jwks"),
        );
        let src = JwksKeySource::builder()
            .issuer(T1)
            .fetcher(Arc::clone(&f))
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let err = src.warm_up().await.unwrap_err();
        assert!(
            matches!(&err, JwksError::IssuerMismatch { found: f, expected, .. } if f == found && expected == T1),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("names issuer") && msg.contains("refused"),
            "{msg}"
        );
        assert_eq!(
            src.stats().fetches,
            0,
            "no JWKS fetched for a refused issuer"
        );
        let Err(KeyError::Unavailable { reason, .. }) = src.keys(T1, None).await else {
            panic!("expected Unavailable");
        };
        assert!(reason.contains("names issuer"), "{reason}");
    }
}

#[tokio::test]
async fn discovery_errors_are_clear() {
    const IDP: &str = "https://idp.example.com";
    // Nothing found anywhere.
    let f = FakeFetcher::new();
    let src = JwksKeySource::builder()
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(matches!(err, JwksError::Discovery { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("oauth-authorization-server answered HTTP 404")
            && msg.contains("openid-configuration answered HTTP 404"),
        "{msg}"
    );
    // A discovered jwks_uri on plain http is refused.
    f.set(
        "https://idp.example.com/.well-known/oauth-authorization-server",
        metadata(IDP, "http://idp.example.com/jwks"),
    );
    let src = JwksKeySource::builder()
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(matches!(err, JwksError::InvalidUrl { .. }), "{err:?}");
    // No jwks_uri.
    f.set(
        "https://idp.example.com/.well-known/oauth-authorization-server",
        FetchResponse::json(json!({"issuer": IDP}).to_string()),
    );
    let src = JwksKeySource::builder()
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(err.to_string().contains("no `jwks_uri`"), "{err}");
}
