//! Regression tests for what `fuzz/` found in the key source (docs/security.md, "Fuzzing").

mod common;
use common::FakeFetcher;
use mcp_auth_core::keys::KeySource;
use mcp_auth_jwks::{FetchResponse, JwksKeySource, ManualClock};
use serde_json::json;
use std::sync::Arc;

/// `fuzz/` discovery: a `jwks_uri` the URL parser reads leniently (`https:/host/..`, one
/// slash) passed the https check as `https://host/..` but the raw string went to the
/// fetcher, which may parse it otherwise. The fetcher must be handed the URL that was checked.
#[tokio::test]
async fn discovered_jwks_uri_is_fetched_as_checked() {
    const ISS: &str = "https://as.example.com";
    const META: &str = "https://as.example.com/.well-known/oauth-authorization-server";
    const CHECKED: &str = "https://keys.example.com/jwks";
    let f = FakeFetcher::new();
    f.set(
        META,
        FetchResponse::json(
            json!({"issuer": ISS, "jwks_uri": "https:/keys.example.com/jwks"}).to_string(),
        ),
    );
    f.set_jwks(CHECKED, &["k1"], None);
    let src = JwksKeySource::builder()
        .issuer(ISS)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert_eq!(f.urls(), [META, CHECKED]);
    assert!(src.keys(ISS, Some("k1")).await.unwrap().contains_kid("k1"));
}

/// `fuzz/` discovery: a metadata document with a byte that is not UTF-8 in a member the key
/// source ignores was accepted (serde_json does not decode ignored members). RFC 8259 §8.1:
/// JSON text is UTF-8; such a document is not one, and no key set is loaded from it.
#[tokio::test]
async fn metadata_that_is_not_utf8_is_refused() {
    const ISS: &str = "https://as.example.com";
    const META: &str = "https://as.example.com/.well-known/oauth-authorization-server";
    const OIDC: &str = "https://as.example.com/.well-known/openid-configuration";
    const KEYS: &str = "https://as.example.com/jwks";
    let body = format!(r#"{{"issuer":"{ISS}","jwks_uri":"{KEYS}","x":"#).into_bytes();
    let body = [body, b"\"\xaf\"}".to_vec()].concat();
    let f = FakeFetcher::new();
    f.set(META, FetchResponse::json(body.clone()));
    f.set(OIDC, FetchResponse::json(body));
    f.set_jwks(KEYS, &["k1"], None);
    let src = JwksKeySource::builder()
        .issuer(ISS)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    assert!(src.warm_up().await.is_err());
    assert_eq!(f.count(KEYS), 0);
}
