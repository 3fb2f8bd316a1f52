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
