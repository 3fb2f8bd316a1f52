//! The Auth0 preset against tokens shaped as Auth0 documents them, re-signed by the test key
//! that a loopback server publishes at the tenant's `/.well-known/jwks.json`.
//!
//! Claim sets: Auth0 "Access Token Profiles" (auth0.com/docs/secure/tokens/access-tokens/
//! access-token-profiles: the Auth0 profile sample with `azp` and the RFC 9068 profile sample
//! with `client_id` and `jti`, `iss` with its trailing `/`, `aud` the API identifier beside
//! `…/userinfo`), "Enable Role-Based Access Control for APIs" (the `permissions` array),
//! "ID Token Structure" (`aud` the client id) and "JSON Web Key Set Properties" (`alg`, `kty`,
//! `use`, `n`, `e`, `kid`, `x5t`). Values are our own, in the documented formats.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::McpAuthLayer;
use mcp_auth::providers::Auth0;
use serde_json::json;
use std::time::Duration;

/// The API identifier registered in Auth0 (here the MCP resource URI itself).
const API: &str = "https://notes.example.com/api";
const CLIENT: &str = "pXk3bV7nR2qW9sT4yZ1mC6hJ8dF0gL5a";
const OTHER_CLIENT: &str = "Qm8vN2cX5bZ1kJ7hT4rW9sD3fG6yL0pE";
const USER: &str = "auth0|65f1c2a9e4b7d80012ab34cd";
const KID: &str = "q0Rj3tW8vZ2nX6cB1mK9sF4hL7dG5aYp";

async fn auth0() -> ProviderServer {
    ProviderServer::start(|base| {
        vec![
            (
                "/.well-known/openid-configuration".to_owned(),
                json!({
                    "issuer": format!("{base}/"),
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/oauth/token"),
                    "jwks_uri": format!("{base}/.well-known/jwks.json"),
                }),
            ),
            (
                "/.well-known/jwks.json".to_owned(),
                json!({ "keys": [provider_jwk(KID, json!({
                    "alg": "RS256", "use": "sig", "x5t": "Zm9rX2p3dDhrVjJQcjd4Tm1CNXpRLTFhYzBn",
                }))] }),
            ),
        ]
    })
    .await
}

/// An access token of the Auth0 profile (the default), with RBAC permissions.
fn auth0_profile(issuer: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "typ": "JWT", "kid": KID }),
        json!({
            "iss": issuer,
            "sub": USER,
            "aud": [API, format!("{issuer}userinfo")],
            "azp": CLIENT,
            "exp": 1_732_086_400,
            "iat": 1_732_000_000,
            "scope": "openid profile email read:notes",
            "permissions": ["read:notes", "write:notes"],
        }),
    )
}

/// The same grant under the RFC 9068 token profile.
fn rfc9068_profile(issuer: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "typ": "at+jwt", "kid": KID }),
        json!({
            "iss": issuer,
            "sub": USER,
            "aud": [API, format!("{issuer}userinfo")],
            "client_id": CLIENT,
            "exp": 1_732_086_400,
            "iat": 1_732_000_000,
            "jti": "7hWr3kVbNq2ZxMa9LcTeDs",
            "scope": "openid profile email read:notes",
        }),
    )
}

/// The ID token issued to the client at the same login.
fn id_token(issuer: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "typ": "JWT", "kid": KID }),
        json!({
            "iss": issuer,
            "sub": USER,
            "aud": CLIENT,
            "exp": 1_732_036_000,
            "iat": 1_732_000_000,
            "name": "Grace Hopper",
            "nickname": "grace",
            "picture": "https://s.gravatar.com/avatar/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "email": "grace@example.com",
            "email_verified": true,
            "updated_at": "2026-11-30T09:12:44.108Z",
            "nonce": "b1M2c3N4d5O6",
            "sid": "Xy7Kp2Lq9Zr4Tn6Vm1Bw8Cs3",
        }),
    )
}

fn preset(server: &ProviderServer) -> Auth0 {
    Auth0::new("example.us.auth0.com")
        .api_identifier(API)
        .base_url(server.base_url())
}

fn layer(preset: Auth0) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(preset)
        .scopes_supported(["read:notes", "write:notes"])
        .require_scopes(["read:notes"])
        .build()
        .unwrap()
}

fn issuer(server: &ProviderServer) -> String {
    format!("{}/", server.base_url())
}

#[tokio::test]
async fn the_documented_auth0_profile_token_is_accepted_with_permissions_as_scopes() {
    let server = auth0().await;
    let o = send_cached(
        &layer(preset(&server)),
        &auth0_profile(&issuer(&server)).sign(),
    )
    .await;
    assert_accepted(
        &o,
        USER,
        Some(CLIENT),
        "email openid profile read:notes write:notes",
    );
    assert_eq!(server.hits("/.well-known/jwks.json"), 1);
}

#[tokio::test]
async fn a_machine_to_machine_token_is_accepted() {
    let server = auth0().await;
    // Client credentials: `sub` is `{client_id}@clients`, `gty`, no userinfo audience.
    let m2m = auth0_profile(&issuer(&server))
        .claim("sub", json!(format!("{CLIENT}@clients")))
        .claim("aud", json!(API))
        .claim("gty", json!("client-credentials"))
        .claim("scope", json!("read:notes"))
        .without("permissions");
    let o = send_cached(&layer(preset(&server)), &m2m.sign()).await;
    assert_accepted(&o, &format!("{CLIENT}@clients"), Some(CLIENT), "read:notes");
}

#[tokio::test]
async fn the_rfc9068_profile_is_held_to_rfc9068() {
    let server = auth0().await;
    let l = layer(preset(&server).rfc9068_profile());
    let o = send_cached(&l, &rfc9068_profile(&issuer(&server)).sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "email openid profile read:notes");
    // An Auth0-profile token (typ JWT, no jti, azp) is not one.
    let o = send_cached(&l, &auth0_profile(&issuer(&server)).sign()).await;
    assert_invalid_token(&o, "token type is not at+jwt");
}

#[tokio::test]
async fn a_custom_domain_is_the_issuer() {
    let server = auth0().await;
    // Requested through the custom domain (here the loopback server), the token names it.
    let custom = Auth0::new("example.us.auth0.com")
        .api_identifier(API)
        .custom_domain(server.base_url());
    let o = send_cached(&layer(custom), &auth0_profile(&issuer(&server)).sign()).await;
    assert_eq!(o.status, 200, "{:?}", o.challenge);
    // The tenant's own domain is another issuer.
    let canonical = auth0_profile("https://example.us.auth0.com/").sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &canonical).await,
        "token issuer is not trusted",
    );
}

#[tokio::test]
async fn a_token_of_another_tenant_is_refused() {
    let server = auth0().await;
    let other = auth0_profile(&issuer(&server))
        .claim("iss", json!("https://another-tenant.eu.auth0.com/"))
        .sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &other).await,
        "token issuer is not trusted",
    );
}

#[tokio::test]
async fn a_token_for_another_api_is_refused() {
    let server = auth0().await;
    let other = auth0_profile(&issuer(&server))
        .claim(
            "aud",
            json!([
                "https://billing.example.com/api",
                format!("{}userinfo", issuer(&server))
            ]),
        )
        .sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &other).await,
        "token audience is not this resource",
    );
}

#[tokio::test]
async fn an_id_token_is_refused_as_an_access_token() {
    let server = auth0().await;
    let l = layer(preset(&server));
    assert_invalid_token(
        &send_cached(&l, &id_token(&issuer(&server)).sign()).await,
        "token audience is not this resource",
    );
    // With the API identifier forged in, it still has no client and no scope.
    let forged = id_token(&issuer(&server)).claim("aud", json!(API));
    assert_invalid_token(
        &send_cached(&l, &forged.sign()).await,
        "token has no client_id",
    );
    let with_azp = forged.claim("azp", json!(CLIENT));
    assert_invalid_token(
        &send_cached(&l, &with_azp.sign()).await,
        "token lacks the claims of an access token",
    );
}

#[tokio::test]
async fn a_token_of_another_application_for_the_same_api_is_refused() {
    let server = auth0().await;
    let l = layer(preset(&server).allowed_client_ids([CLIENT]));
    let other = auth0_profile(&issuer(&server))
        .claim("azp", json!(OTHER_CLIENT))
        .sign();
    assert_invalid_token(
        &send_cached(&l, &other).await,
        "token client is not allowed",
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = auth0().await;
    let token = auth0_profile(&issuer(&server)).expired().sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token expired",
    );
}

#[tokio::test]
async fn a_token_older_than_the_maximum_age_is_refused() {
    let server = auth0().await;
    // Auth0's default API token lifetime is 24 hours.
    let l = layer(preset(&server).max_token_age(Duration::from_secs(3600)));
    let stale = auth0_profile(&issuer(&server)).issued_ago(7200).sign();
    assert_invalid_token(
        &send_cached(&l, &stale).await,
        "token is older than this resource accepts",
    );
}
