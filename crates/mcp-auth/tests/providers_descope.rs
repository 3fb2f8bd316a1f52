//! The Descope preset against fixtures shaped as Descope documents the tokens of an MCP
//! server of its Agentic Identity Hub, re-signed by the test key and published by a loopback
//! server at the project's JWKS path. Not tested against a live project.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::providers::Descope;
use mcp_auth::{McpAuthLayer, TrustedIssuer};
use serde_json::json;
use std::time::Duration;

const PROJECT: &str = "P2PqjhPcC8Hri2nXUY7f234F";
const SERVER: &str = "MS2vbT0bVXbAz5Uw6KzRRHzwkRTn";
const KID: &str = "SK2PqjhQGSuDPoXHLwzhLCd1cuwX";
const CLIENT: &str = "UDJQcWpoUGNDOEhyaTJuWFVZN2YyMzRGOlRQQTMz";
const USER: &str = "U2PqjtCFzEtV5M8KMcxzn2EnBc9G";

fn jwks_path() -> String {
    format!("/{PROJECT}/.well-known/jwks.json")
}

async fn project() -> ProviderServer {
    ProviderServer::start(|base| {
        vec![
            (
                jwks_path(),
                json!({ "keys": [provider_jwk(KID, json!({ "use": "sig", "alg": "RS256" }))] }),
            ),
            (
                format!("/v1/apps/agentic/{PROJECT}/{SERVER}/.well-known/openid-configuration"),
                json!({
                    "issuer": format!("{base}/v1/apps/agentic/{PROJECT}/{SERVER}"),
                    "jwks_uri": format!("{base}{}", jwks_path()),
                }),
            ),
        ]
    })
    .await
}

fn mcp_issuer(base: &str) -> String {
    format!("{base}/v1/apps/agentic/{PROJECT}/{SERVER}")
}

/// An access token of an MCP server: issuer `{base}/v1/apps/agentic/{project}/{server}` and
/// one JWKS per project (https://docs.descope.com/agentic-identity-hub/mcp-servers/discovery-url),
/// `aud` the *MCP Server URL* of the server's settings
/// (https://docs.descope.com/agentic-identity-hub/mcp-servers/settings), `scope` as granted;
/// the Descope claims `amr`, `drn`, `roles`, `permissions`, `tenants` as the session JWT
/// structure lists them (https://docs.descope.com/session-overview). Where the client id is
/// is not documented there: `azp` is assumed (the preset also reads `client_id`). The header
/// (`typ` `JWT`, an `SK…` key id) is assumed too.
fn access_token(base: &str) -> Fixture {
    Fixture::new(
        json!({ "alg": "RS256", "kid": KID, "typ": "JWT" }),
        json!({
            "amr": ["oauth"],
            "aud": [RES],
            "azp": CLIENT,
            "drn": "DS",
            "exp": 1_751_240_668,
            "iat": 1_751_240_068,
            "iss": mcp_issuer(base),
            "permissions": ["notes.read"],
            "roles": ["Tenant Admin"],
            "scope": "openid mcp:read",
            "sub": USER,
            "tenants": {},
        }),
    )
}

fn layer(issuer: impl Into<TrustedIssuer>) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(issuer)
        .scopes_supported(["mcp:read", "mcp:admin"])
        .require_scopes(["mcp:read"])
        .build()
        .unwrap()
}

fn preset(server: &ProviderServer) -> Descope {
    Descope::mcp_server(PROJECT, SERVER).base_url(server.base_url())
}

#[tokio::test]
async fn the_documented_mcp_server_access_token_is_accepted_and_cached() {
    let server = project().await;
    let layer = layer(preset(&server));
    let o = send_cached(&layer, &access_token(server.base_url()).sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "mcp:read openid");
    assert_eq!(server.hits(&jwks_path()), 1, "{:?}", server.all_hits());
    assert_eq!(
        server.all_hits().len(),
        1,
        "no discovery: {:?}",
        server.all_hits()
    );
}

#[tokio::test]
async fn project_roles_map_to_scopes_and_client_id_is_read_too() {
    let server = project().await;
    let layer = layer(preset(&server).map_role("Tenant Admin", ["mcp:admin"]));
    let base = server.base_url();
    let o = send_cached(&layer, &access_token(base).sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "mcp:admin mcp:read openid");
    // A role not mapped grants nothing.
    let member = access_token(base).claim("roles", json!(["Tenant Member"]));
    let o = send_cached(&layer, &member.sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "mcp:read openid");
    let with_client_id = access_token(base)
        .without("azp")
        .claim("client_id", json!(CLIENT));
    let o = send_cached(&layer, &with_client_id.sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "mcp:admin mcp:read openid");
}

#[tokio::test]
async fn the_project_inbound_apps_issuer_is_its_own() {
    let server = project().await;
    let base = server.base_url();
    let layer = layer(Descope::inbound_apps(PROJECT).base_url(base));
    let project_token = access_token(base).claim("iss", json!(format!("{base}/v1/apps/{PROJECT}")));
    let o = send_cached(&layer, &project_token.sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), "mcp:read openid");
    // A token of one of the project's MCP servers is not one of its Inbound Apps'.
    let o = send_cached(&layer, &access_token(base).sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");
}

#[tokio::test]
async fn an_id_token_or_a_session_token_is_refused() {
    let server = project().await;
    let layer = layer(preset(&server));
    let base = server.base_url();
    // The ID token of the same sign-in: `aud` the client id.
    let id_token = access_token(base)
        .claim("aud", json!(CLIENT))
        .without("scope")
        .claim("email", json!("jane@example.com"));
    let o = send_cached(&layer, &id_token.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    // Session tokens of the project's own application: the project id as issuer, or the
    // fully qualified form of the AWS API Gateway JWT template.
    for iss in [
        PROJECT.to_owned(),
        format!("https://api.descope.com/{PROJECT}"),
    ] {
        let session = access_token(base)
            .claim("iss", json!(iss))
            .without("aud")
            .without("azp");
        let o = send_cached(&layer, &session.sign()).await;
        assert_invalid_token(&o, "token issuer is not trusted");
    }
}

#[tokio::test]
async fn a_token_for_another_api_is_refused() {
    let server = project().await;
    let layer = layer(preset(&server));
    let other =
        access_token(server.base_url()).claim("aud", json!(["https://crm.example.com/mcp"]));
    let o = send_cached(&layer, &other.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
}

#[tokio::test]
async fn a_token_of_another_mcp_server_of_the_project_is_refused() {
    let server = project().await;
    let layer = layer(preset(&server));
    let base = server.base_url();
    // Signed by the same project key, for the same URL, but issued for another server.
    let other = access_token(base).claim(
        "iss",
        json!(format!(
            "{base}/v1/apps/agentic/{PROJECT}/MS2otherServer000000000000"
        )),
    );
    let o = send_cached(&layer, &other.sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");
}

#[tokio::test]
async fn a_token_of_another_client_sharing_the_audience_is_refused() {
    let server = project().await;
    let layer = layer(preset(&server).allowed_client_ids([CLIENT]));
    let base = server.base_url();
    let ours = send_cached(&layer, &access_token(base).sign()).await;
    assert_accepted(&ours, USER, Some(CLIENT), "mcp:read openid");
    let theirs = access_token(base).claim("azp", json!("UDJQcWpoUGNDOEhyaTJuWFVZN2YyMzRGOkRDUjk5"));
    let o = send_cached(&layer, &theirs.sign()).await;
    assert_invalid_token(&o, "token client is not allowed");
}

#[tokio::test]
async fn an_expired_token_and_a_stale_one_are_refused() {
    let server = project().await;
    let base = server.base_url();
    let layer = layer(TrustedIssuer::from(preset(&server)).max_token_age(Duration::from_secs(300)));
    let fresh = send_cached(&layer, &access_token(base).sign()).await;
    assert_accepted(&fresh, USER, Some(CLIENT), "mcp:read openid");
    let expired = access_token(base).expired();
    assert_invalid_token(&send_cached(&layer, &expired.sign()).await, "token expired");
    // Issued 8 minutes ago, inside its documented 10: older than 5 minutes.
    let stale = access_token(base).issued_ago(480);
    let o = send_cached(&layer, &stale.sign()).await;
    assert_invalid_token(&o, "token is older than this resource accepts");
}

#[test]
fn ids_that_cannot_be_descope_ids_are_refused_at_build() {
    for (preset, needle) in [
        (Descope::inbound_apps(""), "project id"),
        (
            Descope::mcp_server(PROJECT, "MS2 pasted with a space"),
            "MCP server id",
        ),
    ] {
        let refused = McpAuthLayer::builder(RES).trusted_issuer(preset).build();
        assert!(
            matches!(&refused, Err(mcp_auth::ConfigError::Preset(e))
                if e.provider() == "Descope" && e.to_string().contains(needle)),
            "{refused:?}"
        );
    }
}
