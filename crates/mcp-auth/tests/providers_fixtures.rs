//! The provider fixture kit itself (tests/common/providers.rs): a documented token shape,
//! re-signed by the test key under the provider's own `kid`, verifies through the real layer
//! with its JWKS fetched from the loopback server at the provider's path; its time claims are
//! moved to now with the documented lifetime kept.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, now, provider_jwk, send_cached,
};
use mcp_auth::McpAuthLayer;
use mcp_auth::core::jws::TypPolicy;
use serde_json::json;

const KID: &str = "kit-Zm9vYmFy";
const ISS_PATH: &str = "/tenant-1";
const JWKS_PATH: &str = "/tenant-1/discovery/keys";

async fn server() -> ProviderServer {
    ProviderServer::start(|base| {
        vec![
            (
                format!("{ISS_PATH}/.well-known/openid-configuration"),
                json!({ "issuer": format!("{base}{ISS_PATH}"), "jwks_uri": format!("{base}{JWKS_PATH}") }),
            ),
            (
                JWKS_PATH.to_owned(),
                json!({ "keys": [provider_jwk(KID, json!({ "use": "sig", "x5t": KID }))] }),
            ),
        ]
    })
    .await
}

fn fixture(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "typ": "JWT", "alg": "RS256", "kid": KID, "x5t": KID }),
        json!({
            "iss": iss,
            "aud": "api://kit",
            "sub": "user-kit",
            "azp": "client-kit",
            "scope": "mcp:read",
            "iat": 1_700_000_000,
            "nbf": 1_700_000_000,
            "exp": 1_700_003_600,
            "jti": "kit-1",
        }),
    )
}

fn layer(server: &ProviderServer) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .jwks_uri(server.url(ISS_PATH), server.url(JWKS_PATH))
        .typ_policy(TypPolicy::AllowJwt)
        .additional_audience("api://kit")
        .client_id_claims(["azp"])
        .scopes_supported(["mcp:read"])
        .require_scopes(["mcp:read"])
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_fixture_verifies_against_the_served_provider_key_and_is_cached() {
    let server = server().await;
    let layer = layer(&server);
    let token = fixture(&server.url(ISS_PATH)).sign();
    let o = send_cached(&layer, &token).await;
    assert_accepted(&o, "user-kit", Some("client-kit"), "mcp:read");
    assert_eq!(server.hits(JWKS_PATH), 1, "{:?}", server.all_hits());
}

#[tokio::test]
async fn time_claims_move_to_now_and_keep_the_documented_lifetime() {
    let f = fixture("https://unused.invalid");
    let claims = f.claims_now();
    let iat = claims["iat"].as_i64().unwrap();
    assert!((now() - 31..=now() - 29).contains(&iat), "{iat}");
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
    let old = f.issued_ago(7200).claims_now();
    assert!(old["exp"].as_i64().unwrap() < now());
    // Everything else is as written.
    assert_eq!(claims["jti"], json!("kit-1"));
}

#[tokio::test]
async fn an_expired_fixture_is_refused_through_the_layer() {
    let server = server().await;
    let layer = layer(&server);
    let token = fixture(&server.url(ISS_PATH)).expired().sign();
    let o = send_cached(&layer, &token).await;
    assert_invalid_token(&o, "token expired");
}

#[tokio::test]
async fn a_kid_the_provider_does_not_publish_is_refused() {
    let server = server().await;
    let layer = layer(&server);
    let token = fixture(&server.url(ISS_PATH))
        .header("kid", json!("another-kid"))
        .sign();
    let o = send_cached(&layer, &token).await;
    assert_eq!(o.status, 401);
    assert_eq!(o.calls, 0);
}
