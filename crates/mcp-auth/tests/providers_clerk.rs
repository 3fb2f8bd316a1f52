//! The Clerk preset against fixtures shaped as Clerk documents its tokens, re-signed by the
//! test key and published by a loopback server at the instance's JWKS path. Not tested
//! against a live Clerk instance.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::providers::Clerk;
use mcp_auth::{McpAuthLayer, TrustedIssuer};
use serde_json::json;
use std::time::Duration;

/// Clerk signs every JWT of an instance with the instance key, `kid` `ins_…`.
const KID: &str = "ins_2GIoQhbUpy0hX7B2cVkuTMinXoD";
const JWKS: &str = "/.well-known/jwks.json";
const CLIENT: &str = "client_2VTWUzvGC5UhdJCNx6xG1D98edc";
const USER: &str = "user_2GIpXOEpVyJw51rkZn9Kmnc6Sxr";

async fn instance() -> ProviderServer {
    ProviderServer::start(|base| {
        vec![
            (
                JWKS.to_owned(),
                json!({ "keys": [provider_jwk(KID, json!({ "use": "sig", "alg": "RS256" }))] }),
            ),
            (
                "/.well-known/oauth-authorization-server".to_owned(),
                json!({ "issuer": base, "jwks_uri": format!("{base}{JWKS}") }),
            ),
        ]
    })
    .await
}

/// An OAuth access token in JWT format. Header: `typ` `at+jwt` and the instance `kid`
/// (https://clerk.com/changelog/2026-01-08-jwt-oauth-access-tokens,
/// https://clerk.com/docs/guides/development/machine-auth/token-formats; the `typ` values
/// Clerk's backend SDK requires, `at+jwt` or `application/at+jwt`, and the claims it reads,
/// `client_id`, `scope`/`scp`, `jti`, `sub`, are those of clerk/javascript
/// `packages/backend/src/tokens/machine.ts` and `api/resources/IdPOAuthAccessToken.ts`).
/// `aud` is the MCP URL registered under *MCP servers*
/// (https://clerk.com/docs/references/nextjs/build-mcp-server). `iss` is the loopback
/// Frontend API.
fn access_token(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID, "typ": "at+jwt" }),
        json!({
            "iss": iss,
            "sub": USER,
            "aud": RES,
            "client_id": CLIENT,
            "scope": "email profile",
            "jti": "oat_2VTWUzvGC5UhdJCNx6xG1D98edc",
            "iat": 1_666_648_250,
            "nbf": 1_666_648_240,
            "exp": 1_666_651_850,
        }),
    )
}

/// A session token, version 2 claims (https://clerk.com/docs/guides/sessions/session-tokens):
/// `typ` `JWT`, no `aud`, no `client_id`; `azp` is the page's origin.
fn session_token(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID, "typ": "JWT" }),
        json!({
            "azp": "https://example.com",
            "exp": 1_713_158_460,
            "fva": [7, -1],
            "iat": 1_713_158_400,
            "iss": iss,
            "nbf": 1_713_158_390,
            "sid": "sess_123",
            "sts": "active",
            "sub": USER,
            "v": 2,
        }),
    )
}

fn layer(issuer: impl Into<TrustedIssuer>) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(issuer)
        .scopes_supported(["profile", "email"])
        .require_scopes(["profile"])
        .build()
        .unwrap()
}

fn preset(server: &ProviderServer) -> Clerk {
    Clerk::frontend_api("verb-noun-42.clerk.accounts.dev").base_url(server.base_url())
}

#[tokio::test]
async fn the_documented_oauth_jwt_access_token_is_accepted_and_cached() {
    let server = instance().await;
    let layer = layer(preset(&server));
    let o = send_cached(&layer, &access_token(server.base_url()).sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "email profile");
    assert_eq!(server.hits(JWKS), 1, "{:?}", server.all_hits());
    assert_eq!(
        server.all_hits().len(),
        1,
        "no discovery: {:?}",
        server.all_hits()
    );
}

#[tokio::test]
async fn session_id_and_m2m_tokens_are_refused_by_their_typ() {
    let server = instance().await;
    let layer = layer(preset(&server));
    let iss = server.base_url();
    // A session token, even one that somehow named this resource.
    for t in [
        session_token(iss),
        session_token(iss).claim("aud", json!(RES)),
    ] {
        assert_invalid_token(
            &send_cached(&layer, &t.sign()).await,
            "token type is not at+jwt",
        );
    }
    // An OIDC ID token: `typ: JWT`, `aud` the OAuth application's client id.
    let id_token = access_token(iss)
        .header("typ", json!("JWT"))
        .claim("aud", json!(CLIENT))
        .without("scope")
        .claim("email", json!("jane@example.com"));
    assert_invalid_token(
        &send_cached(&layer, &id_token.sign()).await,
        "token type is not at+jwt",
    );
    // An M2M JWT: `typ: JWT`, subject a machine.
    let m2m = access_token(iss)
        .header("typ", json!("JWT"))
        .claim("sub", json!("mch_2vYVtestTESTtestTESTtestTESTtest"));
    assert_invalid_token(
        &send_cached(&layer, &m2m.sign()).await,
        "token type is not at+jwt",
    );
}

#[tokio::test]
async fn an_opaque_oauth_token_is_refused_until_introspection_exists() {
    let server = instance().await;
    let layer = layer(preset(&server));
    let o = send_cached(&layer, "oat_8XOIucKvqHVr5tYP123456789abcdefghij").await;
    assert_invalid_token(&o, "token is not a compact JWS");
    assert_eq!(server.all_hits(), vec![], "never reaches the key source");
}

#[tokio::test]
async fn a_token_for_another_api_or_without_audience_is_refused() {
    let server = instance().await;
    let layer = layer(preset(&server));
    let iss = server.base_url();
    let other = access_token(iss).claim("aud", json!("https://other.example.com/mcp"));
    let o = send_cached(&layer, &other.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    let unbound = access_token(iss).without("aud");
    assert_invalid_token(
        &send_cached(&layer, &unbound.sign()).await,
        "token has no audience",
    );
}

#[tokio::test]
async fn a_token_of_another_client_sharing_the_audience_is_refused() {
    let server = instance().await;
    let layer = layer(preset(&server).allowed_client_ids([CLIENT]));
    let iss = server.base_url();
    let ours = send_cached(&layer, &access_token(iss).sign()).await;
    assert_accepted(&ours, USER, Some(CLIENT), "email profile");
    let theirs = access_token(iss).claim("client_id", json!("client_2xhFjEI5X2qWRvtV13BzSj8H6Dk"));
    let o = send_cached(&layer, &theirs.sign()).await;
    assert_invalid_token(&o, "token client is not allowed");
    let none = access_token(iss).without("client_id");
    assert_invalid_token(
        &send_cached(&layer, &none.sign()).await,
        "token has no client_id",
    );
}

#[tokio::test]
async fn an_expired_token_and_a_stale_one_are_refused() {
    let server = instance().await;
    let iss = server.base_url();
    let layer = layer(TrustedIssuer::from(preset(&server)).max_token_age(Duration::from_secs(600)));
    let fresh = send_cached(&layer, &access_token(iss).sign()).await;
    assert_accepted(&fresh, USER, Some(CLIENT), "email profile");
    let expired = access_token(iss).expired();
    assert_invalid_token(&send_cached(&layer, &expired.sign()).await, "token expired");
    // Issued 20 minutes ago, still within its hour: older than this resource accepts.
    let stale = access_token(iss).issued_ago(1200);
    let o = send_cached(&layer, &stale.sign()).await;
    assert_invalid_token(&o, "token is older than this resource accepts");
}

#[tokio::test]
async fn a_token_of_another_instance_is_refused() {
    let server = instance().await;
    let layer = layer(preset(&server));
    let other = access_token("https://other-instance-7.clerk.accounts.dev");
    let o = send_cached(&layer, &other.sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");
}

#[tokio::test]
async fn the_long_form_of_the_access_token_typ_is_accepted_too() {
    let server = instance().await;
    let layer = layer(preset(&server));
    let long = access_token(server.base_url()).header("typ", json!("application/at+jwt"));
    let o = send_cached(&layer, &long.sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "email profile");
}
