//! The Okta preset against tokens shaped as Okta documents them, re-signed by the test key
//! that a loopback server publishes at the custom authorization server's key path.
//!
//! Claim sets: Okta "OpenID Connect & OAuth 2.0 overview", sections "Access token header",
//! "Access token payload" and "ID token payload"
//! (developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/): header `alg` and `kid`
//! only (no `typ`); access token `ver: 1`, `jti` `AT.…`, `iss`
//! `https://{yourOktaDomain}/oauth2/{authorizationServerId}`, `aud`, `sub`, `cid`, `uid`,
//! `scp` (an array), `auth_time`; ID token `jti` `ID.…`, `aud` the client id, `amr`, `idp`,
//! `nonce`, `at_hash`, no `cid`/`scp`. Values are our own, in the documented formats.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::McpAuthLayer;
use mcp_auth::providers::Okta;
use serde_json::json;
use std::time::Duration;

const SERVER_ID: &str = "aus8xq2r7kZQ4vT1p5d7";
const OTHER_SERVER_ID: &str = "aus1hj9d3nW2bE6cR0x4";
/// The MCP client's Okta client id, and another app's sharing `api://default`.
const CLIENT: &str = "0oa9k2h7f3XYZq1w45d7";
const OTHER_CLIENT: &str = "0oa4r1t8m6ABCd2e90x3";
const USER: &str = "00u6x2b9c1QWErt7y4d7";
const KID: &str = "Vx4T9sq0N3ZcJm8oY1KAR5kL2dB7wFhUeGpQiE6XaCs";

async fn okta() -> ProviderServer {
    ProviderServer::start(|base| {
        let mut routes = Vec::new();
        for id in [SERVER_ID, OTHER_SERVER_ID, "default"] {
            let issuer = format!("{base}/oauth2/{id}");
            let doc = json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/v1/authorize"),
                "token_endpoint": format!("{issuer}/v1/token"),
                "jwks_uri": format!("{issuer}/v1/keys"),
                "scopes_supported": ["openid", "profile", "email", "mcp:read", "mcp:write"],
            });
            routes.push((
                format!("/oauth2/{id}/.well-known/openid-configuration"),
                doc.clone(),
            ));
            routes.push((
                format!("/oauth2/{id}/.well-known/oauth-authorization-server"),
                doc,
            ));
            routes.push((
                format!("/oauth2/{id}/v1/keys"),
                json!({ "keys": [provider_jwk(KID, json!({ "alg": "RS256", "use": "sig" }))] }),
            ));
        }
        routes
    })
    .await
}

/// An access token of the custom authorization server, as the overview shows it.
fn access(base: &str, server_id: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID }),
        json!({
            "ver": 1,
            "jti": "AT.k3Yb0pV8wqN2sR6tU1xZ9cF4hJ7mL5dA0eG3iK8oPqs",
            "iss": format!("{base}/oauth2/{server_id}"),
            "aud": "api://default",
            "sub": "ada.lovelace@example.com",
            "iat": 1_732_000_000,
            "exp": 1_732_003_600,
            "cid": CLIENT,
            "uid": USER,
            "scp": ["openid", "email", "mcp:read"],
            "auth_time": 1_731_999_400,
            "groups": ["Everyone", "MCP Readers"],
        }),
    )
}

/// The ID token Okta returned to the same client with that access token.
fn id_token(base: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID }),
        json!({
            "sub": USER,
            "name": "Ada Lovelace",
            "email": "ada.lovelace@example.com",
            "ver": 1,
            "iss": format!("{base}/oauth2/{SERVER_ID}"),
            "aud": CLIENT,
            "iat": 1_732_000_000,
            "exp": 1_732_003_600,
            "jti": "ID.4QJm8Lr2Xn0vB7cT1yH5kW9sD3fG6aZeUoPiR2tNbMq",
            "amr": ["pwd"],
            "idp": "00o1abcd2EFGH3ijk4d7",
            "nonce": "n-0S6_WzA2Mj",
            "preferred_username": "ada.lovelace@example.com",
            "auth_time": 1_731_999_400,
            "at_hash": "preHo-KUsC6mDf3b8YtR2w",
        }),
    )
}

fn preset(server: &ProviderServer) -> Okta {
    Okta::custom_authorization_server("example.okta.com", SERVER_ID)
        .audience("api://default")
        .base_url(server.base_url())
}

fn layer(preset: Okta) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(preset)
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_documented_access_token_is_accepted_with_its_scopes_subject_and_client() {
    let server = okta().await;
    let o = send_cached(
        &layer(preset(&server)),
        &access(server.base_url(), SERVER_ID).sign(),
    )
    .await;
    assert_accepted(
        &o,
        "ada.lovelace@example.com",
        Some(CLIENT),
        "email mcp:read openid",
    );
    assert_eq!(server.hits(&format!("/oauth2/{SERVER_ID}/v1/keys")), 1);
}

#[tokio::test]
async fn groups_map_to_scopes_when_asked() {
    let server = okta().await;
    let l = layer(preset(&server).map_group("MCP Readers", ["mcp:read"]));
    let token = access(server.base_url(), SERVER_ID)
        .claim("scp", json!(["openid"]))
        .sign();
    let o = send_cached(&l, &token).await;
    assert_accepted(
        &o,
        "ada.lovelace@example.com",
        Some(CLIENT),
        "mcp:read openid",
    );
}

#[tokio::test]
async fn a_token_of_another_authorization_server_is_refused() {
    let server = okta().await;
    let token = access(server.base_url(), OTHER_SERVER_ID).sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token issuer is not trusted",
    );
}

#[tokio::test]
async fn a_token_for_another_api_is_refused() {
    let server = okta().await;
    let token = access(server.base_url(), SERVER_ID)
        .claim("aud", json!("https://api.example.com"))
        .sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token audience is not this resource",
    );
}

#[tokio::test]
async fn an_id_token_is_refused_as_an_access_token() {
    let server = okta().await;
    let l = layer(preset(&server));
    assert_invalid_token(
        &send_cached(&l, &id_token(server.base_url()).sign()).await,
        "token audience is not this resource",
    );
    // Even with the server's audience, an ID token has no `cid`…
    let aud = id_token(server.base_url()).claim("aud", json!("api://default"));
    assert_invalid_token(
        &send_cached(&l, &aud.sign()).await,
        "token has no client_id",
    );
    // …and no `scp`.
    let cid = aud.claim("cid", json!(CLIENT));
    assert_invalid_token(
        &send_cached(&l, &cid.sign()).await,
        "token lacks the claims of an access token",
    );
}

#[tokio::test]
async fn a_token_of_another_client_sharing_api_default_is_refused() {
    let server = okta().await;
    let l = layer(preset(&server).allowed_client_ids([CLIENT]));
    let ok = access(server.base_url(), SERVER_ID).sign();
    assert_eq!(send_cached(&l, &ok).await.status, 200);
    let other = access(server.base_url(), SERVER_ID)
        .claim("cid", json!(OTHER_CLIENT))
        .sign();
    assert_invalid_token(
        &send_cached(&l, &other).await,
        "token client is not allowed",
    );
}

#[tokio::test]
async fn the_default_server_preset_reads_api_default() {
    let server = okta().await;
    let l = layer(Okta::default_server("example.okta.com").base_url(server.base_url()));
    let o = send_cached(&l, &access(server.base_url(), "default").sign()).await;
    assert_eq!(o.status, 200, "{:?}", o.challenge);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = okta().await;
    let token = access(server.base_url(), SERVER_ID).expired().sign();
    assert_invalid_token(
        &send_cached(&layer(preset(&server)), &token).await,
        "token expired",
    );
}

#[tokio::test]
async fn a_token_older_than_the_maximum_age_is_refused() {
    let server = okta().await;
    let l = layer(preset(&server).max_token_age(Duration::from_secs(900)));
    let stale = access(server.base_url(), SERVER_ID).issued_ago(1800).sign();
    assert_invalid_token(
        &send_cached(&l, &stale).await,
        "token is older than this resource accepts",
    );
    let fresh = access(server.base_url(), SERVER_ID).issued_ago(60).sign();
    assert_eq!(send_cached(&l, &fresh).await.status, 200);
}
