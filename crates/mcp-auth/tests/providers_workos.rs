//! The WorkOS AuthKit preset against fixtures shaped as WorkOS documents its Connect access
//! tokens, ID tokens and session tokens, re-signed by the test key and published by a
//! loopback server at the AuthKit domain's JWKS path. Not tested against a live environment.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::providers::WorkOs;
use mcp_auth::{McpAuthLayer, TrustedIssuer};
use serde_json::json;
use std::time::Duration;

const KID: &str = "sso_oidc_key_pair_01HQSXZ4V1RXWJ0ZBA6NRD3XYC";
const JWKS: &str = "/oauth2/jwks";
const CLIENT: &str = "client_01JP8BD0CZ401TDF9X54NT5ZEK";
const ENV_CLIENT: &str = "client_123456789";
const USER: &str = "user_01JQ0E27VT3MH79RY0FVA4QBP9";

async fn authkit() -> ProviderServer {
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

/// A Connect user access token: the claims table of
/// https://workos.com/docs/authkit/connect/token-claims (`aud` the resource indicator,
/// `client_id` the requesting application, `sid` the consent, `scope`) with the values of the
/// decoded access token of https://workos.com/docs/reference/workos-connect/token. The header
/// is not documented there: `typ` `JWT` and a WorkOS key-pair `kid` are assumed. `iss` is the
/// loopback AuthKit domain.
fn access_token(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID, "typ": "JWT" }),
        json!({
            "iss": iss,
            "aud": RES,
            "sub": USER,
            "client_id": CLIENT,
            "org_id": "org_01HRDMC6CM357W30QMHMQ96Q0S",
            "sid": "app_consent_01JQ0E27WE4K1RCMH7Q094M1GJ",
            "scope": "mcp:read mcp:write",
            "jti": "01JQ0E27ZXE4XNHVP870S6PWYN",
            "exp": 1_742_698_034,
            "iat": 1_742_697_734,
        }),
    )
}

/// The ID token of the same response (https://workos.com/docs/reference/workos-connect/token):
/// `aud` the application's client id, no `client_id`, no `scope`.
fn id_token(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID, "typ": "JWT" }),
        json!({
            "iss": iss,
            "aud": CLIENT,
            "sub": USER,
            "email": "marcelina.davis@example.com",
            "email_verified": true,
            "name": "Marcelina Davis",
            "org_id": "org_01HRDMC6CM357W30QMHMQ96Q0S",
            "exp": 1_742_698_034,
            "iat": 1_742_697_734,
        }),
    )
}

/// An AuthKit session access token (https://workos.com/docs/reference/authkit/session-tokens):
/// the application's own sign-in, no `aud`, no `client_id`.
fn session_token(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID, "typ": "JWT" }),
        json!({
            "iss": iss,
            "sub": "user_01HBEQKA6K4QJAS93VPE39W1JT",
            "act": { "sub": "admin@foocorp.com" },
            "org_id": "org_01HRDMC6CM357W30QMHMQ96Q0S",
            "role": "member",
            "roles": ["member"],
            "permissions": ["posts:read", "posts:write"],
            "entitlements": ["audit-logs"],
            "sid": "session_01HQSXZGF8FHF7A9ZZFCW4387R",
            "jti": "01HQSXZXPPFPKMDD32RKTFY6PV",
            "exp": 1_709_193_857,
            "iat": 1_709_193_557,
        }),
    )
}

fn layer(issuer: impl Into<TrustedIssuer>) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(issuer)
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .build()
        .unwrap()
}

fn preset(server: &ProviderServer) -> WorkOs {
    WorkOs::authkit_domain("acme.authkit.app").base_url(server.base_url())
}

#[tokio::test]
async fn the_documented_connect_access_token_is_accepted_and_cached() {
    let server = authkit().await;
    let layer = layer(preset(&server));
    let o = send_cached(&layer, &access_token(server.base_url()).sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "mcp:read mcp:write");
    assert_eq!(server.hits(JWKS), 1, "{:?}", server.all_hits());
    assert_eq!(
        server.all_hits().len(),
        1,
        "no discovery: {:?}",
        server.all_hits()
    );
}

#[tokio::test]
async fn an_id_token_is_refused_as_an_access_token() {
    let server = authkit().await;
    let layer = layer(preset(&server));
    let iss = server.base_url();
    let o = send_cached(&layer, &id_token(iss).sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    // Even one whose audience happened to be this resource: it names no client.
    let o = send_cached(&layer, &id_token(iss).claim("aud", json!(RES)).sign()).await;
    assert_invalid_token(&o, "token has no client_id");
}

#[tokio::test]
async fn a_session_token_is_refused() {
    let server = authkit().await;
    let layer = layer(preset(&server));
    // Its documented issuer is not the AuthKit domain.
    let user_management = session_token("https://api.workos.com/user_management/client_123456789");
    let o = send_cached(&layer, &user_management.sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");
    // Under a custom authentication domain shared with Connect: it has no audience.
    let o = send_cached(&layer, &session_token(server.base_url()).sign()).await;
    assert_invalid_token(&o, "token has no audience");
}

#[tokio::test]
async fn a_token_for_another_api_or_for_the_environment_is_refused() {
    let server = authkit().await;
    let layer = layer(preset(&server));
    let iss = server.base_url();
    let other = access_token(iss).claim("aud", json!("https://api.other.example.com"));
    let o = send_cached(&layer, &other.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    // No resource configured, or an M2M token: `aud` is the environment client id.
    let m2m = access_token(iss)
        .claim("aud", json!(ENV_CLIENT))
        .claim("sub", json!(CLIENT))
        .without("sid");
    let o = send_cached(&layer, &m2m.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
}

#[tokio::test]
async fn a_token_of_another_client_sharing_the_audience_is_refused() {
    let server = authkit().await;
    let layer = layer(preset(&server).allowed_client_ids([CLIENT]));
    let iss = server.base_url();
    let ours = send_cached(&layer, &access_token(iss).sign()).await;
    assert_accepted(&ours, USER, Some(CLIENT), "mcp:read mcp:write");
    // Another MCP client, registered by DCR, with a token for this same resource.
    let theirs = access_token(iss).claim("client_id", json!("client_01JQ4ZD5S1CBE9M0J0B1HPVB1P"));
    let o = send_cached(&layer, &theirs.sign()).await;
    assert_invalid_token(&o, "token client is not allowed");
}

#[tokio::test]
async fn an_expired_token_and_a_stale_one_are_refused() {
    let server = authkit().await;
    let iss = server.base_url();
    let layer = layer(TrustedIssuer::from(preset(&server)).max_token_age(Duration::from_secs(120)));
    let fresh = send_cached(&layer, &access_token(iss).sign()).await;
    assert_accepted(&fresh, USER, Some(CLIENT), "mcp:read mcp:write");
    let expired = access_token(iss).expired();
    assert_invalid_token(&send_cached(&layer, &expired.sign()).await, "token expired");
    // Issued 4 minutes ago, inside its documented 5 minutes: older than 2 minutes.
    let stale = access_token(iss).issued_ago(240);
    let o = send_cached(&layer, &stale.sign()).await;
    assert_invalid_token(&o, "token is older than this resource accepts");
}

#[tokio::test]
async fn a_token_of_another_authkit_environment_is_refused() {
    let server = authkit().await;
    let layer = layer(preset(&server));
    let other = access_token("https://other-env.authkit.app");
    let o = send_cached(&layer, &other.sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");
}
#[test]
fn the_session_token_api_is_refused_as_an_issuer() {
    let refused = McpAuthLayer::builder(RES)
        .trusted_issuer(WorkOs::authkit_domain("https://api.workos.com"))
        .build();
    assert!(
        matches!(&refused, Err(mcp_auth::ConfigError::Preset(e))
            if e.provider() == "WorkOS AuthKit" && e.to_string().contains("session tokens")),
        "{refused:?}"
    );
}
