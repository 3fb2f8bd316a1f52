//! The Keycloak preset against tokens shaped as Keycloak issues them, re-signed by the test
//! key that a loopback server publishes at the realm's `protocol/openid-connect/certs`.
//!
//! Claim sets: Keycloak "Server Administration Guide", section "Audience support"
//! (keycloak.org/docs/latest/server_admin/#audience-support: `aud` from the Audience mapper,
//! `account` from Audience Resolve, `azp` the client the token was issued to) and the token
//! representations of the Keycloak server (keycloak/keycloak `AccessToken`, `IDToken`,
//! `TokenUtil`: the claim `typ` is `Bearer` for access tokens, `ID` for ID tokens, `Refresh`
//! for refresh tokens; `realm_access.roles`, `resource_access.<client>.roles`, `scope`, `sid`,
//! `acr`, `allowed-origins`). Header `alg`, `typ: JWT`, `kid`. Values are our own, in the
//! formats Keycloak 26 emits.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::McpAuthLayer;
use mcp_auth::providers::Keycloak;
use serde_json::json;
use std::time::Duration;

const REALM: &str = "acme";
const OTHER_REALM: &str = "partners";
const CLIENT: &str = "mcp-inspector";
const OTHER_CLIENT: &str = "billing-frontend";
const SERVER_CLIENT: &str = "mcp-server";
const USER: &str = "5a3c9f6e-2d1b-4e8a-9c7f-0b1d2e3f4a5b";
const KID: &str = "Xw2v8Jz6kQ0tN4mR7yB1cL5pH9dF3sG-aE0uVoTiKyM";

async fn keycloak() -> ProviderServer {
    ProviderServer::start(|base| {
        let mut routes = Vec::new();
        for realm in [REALM, OTHER_REALM] {
            let issuer = format!("{base}/realms/{realm}");
            routes.push((
                format!("/realms/{realm}/.well-known/openid-configuration"),
                json!({
                    "issuer": issuer,
                    "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
                    "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                    "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
                }),
            ));
            routes.push((
                format!("/realms/{realm}/protocol/openid-connect/certs"),
                json!({ "keys": [provider_jwk(KID, json!({
                    "alg": "RS256",
                    "use": "sig",
                    "x5t": "3uX0mFf3y9W2kqvZr5nB8cT1dLg",
                    "x5t#S256": "Qm7rT2wZ9xK4vN1cB8yL5pH3dF6sG0aJ-eUoIiRtYkE",
                }))] }),
            ));
        }
        routes
    })
    .await
}

/// An access token for a user of the realm, with the MCP server's audience mapper.
fn access(base: &str, realm: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "typ": "JWT", "kid": KID }),
        json!({
            "exp": 1_732_000_300,
            "iat": 1_732_000_000,
            "auth_time": 1_731_999_980,
            "jti": "onrtac:7b1f0c2e-9a4d-4c8b-a3e1-5f6d7c8b9a0e",
            "iss": format!("{base}/realms/{realm}"),
            "aud": [RES, SERVER_CLIENT, "account"],
            "sub": USER,
            "typ": "Bearer",
            "azp": CLIENT,
            "sid": "0d9f8e7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
            "acr": "1",
            "allowed-origins": ["http://localhost:6274"],
            "realm_access": {
                "roles": ["default-roles-acme", "offline_access", "uma_authorization", "mcp-user"],
            },
            "resource_access": {
                "mcp-server": { "roles": ["notes-writer"] },
                "account": { "roles": ["manage-account", "view-profile"] },
            },
            "scope": "openid profile email",
            "email_verified": true,
            "name": "Alan Turing",
            "preferred_username": "alan",
            "given_name": "Alan",
            "family_name": "Turing",
            "email": "alan@acme.example",
        }),
    )
}

/// The ID token of the same login: `typ` `ID`, `aud` the client.
fn id_token(base: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "typ": "JWT", "kid": KID }),
        json!({
            "exp": 1_732_000_300,
            "iat": 1_732_000_000,
            "auth_time": 1_731_999_980,
            "jti": "ofrtid:1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
            "iss": format!("{base}/realms/{REALM}"),
            "aud": CLIENT,
            "sub": USER,
            "typ": "ID",
            "azp": CLIENT,
            "nonce": "xR4c2Kq9",
            "sid": "0d9f8e7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
            "at_hash": "y5Lq0aV3nW8cT2kR7bZ1dg",
            "acr": "1",
            "email_verified": true,
            "name": "Alan Turing",
            "preferred_username": "alan",
            "email": "alan@acme.example",
        }),
    )
}

fn preset(server: &ProviderServer) -> Keycloak {
    Keycloak::new("https://sso.acme.example", REALM)
        .base_url(server.base_url())
        .realm_roles()
        .client_roles(SERVER_CLIENT)
        .map_role("mcp-user", ["mcp:read"])
        .map_role("notes-writer", ["mcp:write"])
}

fn layer(preset: Keycloak) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(preset)
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_access_token_is_accepted_with_its_mapped_roles_subject_and_client() {
    let server = keycloak().await;
    let o = send_cached(
        &layer(preset(&server)),
        &access(server.base_url(), REALM).sign(),
    )
    .await;
    // `scope` is read as it is; only mapped roles grant anything (`offline_access` and the
    // account roles do not).
    assert_accepted(
        &o,
        USER,
        Some(CLIENT),
        "email mcp:read mcp:write openid profile",
    );
    assert_eq!(
        server.hits(&format!("/realms/{REALM}/protocol/openid-connect/certs")),
        1
    );
}

#[tokio::test]
async fn the_server_client_as_audience_is_accepted_when_named() {
    let server = keycloak().await;
    // "Included Client Audience": `aud` names the server's client, not the resource URI.
    let token = access(server.base_url(), REALM)
        .claim("aud", json!([SERVER_CLIENT, "account"]))
        .sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token audience is not this resource",
    );
    let named = layer(preset(&server).audience(SERVER_CLIENT));
    assert_eq!(send_cached(&named, &token).await.status, 200);
}

#[tokio::test]
async fn a_token_of_another_realm_is_refused() {
    let server = keycloak().await;
    let token = access(server.base_url(), OTHER_REALM).sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token issuer is not trusted",
    );
}

#[tokio::test]
async fn a_token_for_another_api_is_refused() {
    let server = keycloak().await;
    // A new realm's default: only the `account` console's audience.
    let token = access(server.base_url(), REALM)
        .claim("aud", json!("account"))
        .sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token audience is not this resource",
    );
}

#[tokio::test]
async fn an_id_or_refresh_token_is_refused_as_an_access_token() {
    let server = keycloak().await;
    let l = layer(preset(&server));
    assert_invalid_token(
        &send_cached(&l, &id_token(server.base_url()).sign()).await,
        "token audience is not this resource",
    );
    // With the resource as `aud` (an audience mapper added to ID tokens too), `typ` refuses it.
    let id_with_aud = id_token(server.base_url()).claim("aud", json!([RES, CLIENT]));
    assert_invalid_token(
        &send_cached(&l, &id_with_aud.sign()).await,
        "token is not an access token",
    );
    for typ in [json!("Refresh"), json!("bearer"), json!(null)] {
        let other = access(server.base_url(), REALM).claim("typ", typ.clone());
        assert_invalid_token(
            &send_cached(&l, &other.sign()).await,
            "token is not an access token",
        );
    }
    let untyped = access(server.base_url(), REALM).without("typ");
    assert_invalid_token(
        &send_cached(&l, &untyped.sign()).await,
        "token is not an access token",
    );
}

#[tokio::test]
async fn a_token_of_another_client_sharing_the_audience_is_refused() {
    let server = keycloak().await;
    let l = layer(preset(&server).allowed_client_ids([CLIENT]));
    assert_eq!(
        send_cached(&l, &access(server.base_url(), REALM).sign())
            .await
            .status,
        200
    );
    let other = access(server.base_url(), REALM)
        .claim("azp", json!(OTHER_CLIENT))
        .sign();
    assert_invalid_token(
        &send_cached(&l, &other).await,
        "token client is not allowed",
    );
}

#[tokio::test]
async fn a_token_without_a_mapped_role_lacks_the_scope() {
    let server = keycloak().await;
    let token = access(server.base_url(), REALM)
        .claim(
            "realm_access",
            json!({ "roles": ["default-roles-acme", "offline_access"] }),
        )
        .sign();
    let o = send_cached(&layer(preset(&server)), &token).await;
    assert_eq!(o.status, 403);
    assert_eq!(o.calls, 0);
    assert!(
        o.challenge
            .unwrap()
            .starts_with(r#"Bearer error="insufficient_scope""#)
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = keycloak().await;
    let token = access(server.base_url(), REALM).expired().sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token expired",
    );
}

#[tokio::test]
async fn a_token_older_than_the_maximum_age_is_refused() {
    let server = keycloak().await;
    // An access token whose lifespan an admin raised to a day, used after two hours.
    let l = layer(preset(&server).max_token_age(Duration::from_secs(3600)));
    let long_lived = access(server.base_url(), REALM).claim("exp", json!(1_732_086_400));
    assert_eq!(
        send_cached(&l, &long_lived.clone().issued_ago(60).sign())
            .await
            .status,
        200
    );
    assert_invalid_token(
        &send_cached(&l, &long_lived.issued_ago(7200).sign()).await,
        "token is older than this resource accepts",
    );
}
