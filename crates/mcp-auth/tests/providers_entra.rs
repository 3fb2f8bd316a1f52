//! The Entra ID presets against tokens shaped as Microsoft documents them, re-signed by the
//! test key that a loopback server publishes at Entra's key paths.
//!
//! Claim sets: "Access token claims reference" and "ID token claims reference"
//! (learn.microsoft.com/entra/identity-platform/access-token-claims-reference,
//! …/id-token-claims-reference; MicrosoftDocs/entra-docs `docs/identity-platform/`): header
//! `typ: JWT`, `kid` (and `x5t`, equal to it, in v1.0 only); v2.0 `aud` the API's client id,
//! `azp`, `azpacr`, `scp` space-separated, `roles`, `tid`, `oid`, `uti` instead of `jti`,
//! `ver`; v1.0 `iss` `https://sts.windows.net/{tid}/`, `appid`, `appidacr`, `amr`,
//! `unique_name`. Values are our own, in the documented formats.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::McpAuthLayer;
use mcp_auth::providers::EntraId;
use serde_json::{Value, json};
use std::time::Duration;

/// The tenant the API is registered in, and a second allowed tenant.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "b9c1f6a2-3d4e-4f50-8a61-7c8d9e0f1a2b";
/// A tenant nobody allowed.
const OTHER_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// The API's application (client) id, and its App ID URI.
const API: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const API_URI: &str = "api://mcp-notes";
/// The MCP client's application id, and another client of the tenant.
const CLIENT: &str = "a1b2c3d4-5e6f-4a8b-9c0d-1e2f3a4b5c6d";
const OTHER_CLIENT: &str = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
/// Entra key ids are the base64url SHA-1 thumbprint of the signing certificate.
const KID: &str = "CNv0OI3RwqlHFEVnaoMAshCH2XE";

async fn entra() -> ProviderServer {
    ProviderServer::start(|base| {
        let key = |issuer: String| {
            provider_jwk(KID, json!({ "use": "sig", "x5t": KID, "issuer": issuer }))
        };
        let mut routes = vec![
            // The multi-tenant keys: one set for every tenant, each key naming the template.
            (
                "/common/discovery/v2.0/keys".to_owned(),
                json!({ "keys": [key(format!("{base}/{{tenantid}}/v2.0"))] }),
            ),
            (
                "/common/discovery/keys".to_owned(),
                json!({ "keys": [provider_jwk(KID, json!({ "use": "sig", "x5t": KID }))] }),
            ),
            // What the preset must not rely on: an issuer with a placeholder.
            (
                "/common/v2.0/.well-known/openid-configuration".to_owned(),
                json!({
                    "issuer": format!("{base}/{{tenantid}}/v2.0"),
                    "jwks_uri": format!("{base}/common/discovery/v2.0/keys"),
                }),
            ),
        ];
        for t in [TENANT, TENANT_B, OTHER_TENANT] {
            routes.push((
                format!("/{t}/discovery/v2.0/keys"),
                json!({ "keys": [key(format!("{base}/{t}/v2.0"))] }),
            ));
            routes.push((
                format!("/{t}/discovery/keys"),
                json!({ "keys": [provider_jwk(KID, json!({ "use": "sig", "x5t": KID }))] }),
            ));
            routes.push((
                format!("/{t}/v2.0/.well-known/openid-configuration"),
                json!({
                    "issuer": format!("{base}/{t}/v2.0"),
                    "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys"),
                    "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
                    "id_token_signing_alg_values_supported": ["RS256"],
                }),
            ));
        }
        routes
    })
    .await
}

/// A v2.0 delegated (user) access token for the API, as the claims reference lists it.
fn v2_access(base: &str, tenant: &str) -> Fixture {
    Fixture::new(
        json!({ "typ": "JWT", "alg": "RS256", "kid": KID }),
        json!({
            "aud": API,
            "iss": format!("{base}/{tenant}/v2.0"),
            "iat": 1_732_000_000,
            "nbf": 1_732_000_000,
            "exp": 1_732_004_529,
            "aio": "AWQAm/8YAAAAm1Ym8wXbOqYm0VAm6kqEpqb0ZxqIf7NdQcJ3g1cXQm2Jwcbi1wRRV0Rz",
            "azp": CLIENT,
            "azpacr": "0",
            "name": "Megan Bowen",
            "oid": "48d31887-5fad-4d73-a9f5-3c356e68a038",
            "preferred_username": "meganb@contoso.com",
            "rh": "1.AXEAv4j5cvGGr0GRqy180BHbRysXdG4rvkNIn_Tmajm7EuNxAB1xAA.",
            "scp": "Mcp.Read Mcp.Write",
            "sid": "00a8f3a4-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "sub": "Zk9UcmFsaUxhRGVuZFdvcmxkX0JvdW5kYXJ5LTQy",
            "tid": tenant,
            "uti": "kzeN3Xx7tEa9jhBqZ3cFAA",
            "ver": "2.0",
        }),
    )
}

/// A v2.0 ID token issued to the MCP client (no `azp`, no `scp`; `aud` the client).
fn v2_id_token(base: &str) -> Fixture {
    Fixture::new(
        json!({ "typ": "JWT", "alg": "RS256", "kid": KID }),
        json!({
            "aud": CLIENT,
            "iss": format!("{base}/{TENANT}/v2.0"),
            "iat": 1_732_000_000,
            "nbf": 1_732_000_000,
            "exp": 1_732_003_600,
            "aio": "AUQAu/8YAAAA",
            "name": "Megan Bowen",
            "nonce": "0d5e1f9c-9b77-4a1c-bd43-6c4a2c0ef1a1",
            "oid": "48d31887-5fad-4d73-a9f5-3c356e68a038",
            "preferred_username": "meganb@contoso.com",
            "rh": "1.AXEAv4j5cvGGr0GRqy180BHbRw.",
            "sid": "00a8f3a4-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "sub": "b3VyT3duUGFpcndpc2VTdWJqZWN0Rm9yVGhlQ2xpZW50",
            "tid": TENANT,
            "uti": "Jq3bGzEaEUWzTmvS0d0FAA",
            "ver": "2.0",
        }),
    )
}

/// A v1.0 access token for the API (its App ID URI as `aud`), as the reference lists it.
fn v1_access(base: &str) -> Fixture {
    Fixture::new(
        json!({ "typ": "JWT", "alg": "RS256", "kid": KID, "x5t": KID }),
        json!({
            "aud": API_URI,
            "iss": format!("{base}/{TENANT}/"),
            "iat": 1_732_000_000,
            "nbf": 1_732_000_000,
            "exp": 1_732_004_200,
            "acr": "1",
            "aio": "E2ZgYNj8dL3yc1PqW3V0l9s=",
            "amr": ["pwd", "mfa"],
            "appid": CLIENT,
            "appidacr": "0",
            "family_name": "Bowen",
            "given_name": "Megan",
            "ipaddr": "203.0.113.7",
            "name": "Megan Bowen",
            "oid": "48d31887-5fad-4d73-a9f5-3c356e68a038",
            "rh": "0.AXEAv4j5cvGGr0GRqy180BHbRw.",
            "scp": "Mcp.Read",
            "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
            "tid": TENANT,
            "unique_name": "meganb@contoso.com",
            "upn": "meganb@contoso.com",
            "uti": "fqiBqXLPj0eQa82S-IYFAA",
            "ver": "1.0",
        }),
    )
}

fn layer(preset: EntraId) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(preset)
        .scopes_supported(["Mcp.Read", "Mcp.Write"])
        .require_scopes(["Mcp.Read"])
        .build()
        .unwrap()
}

fn v2(server: &ProviderServer) -> EntraId {
    EntraId::v2(TENANT)
        .api_audience(API)
        .base_url(server.base_url())
}

#[tokio::test]
async fn a_documented_v2_token_is_accepted_with_its_scopes_subject_and_client() {
    let server = entra().await;
    let layer = layer(v2(&server));
    let o = send_cached(&layer, &v2_access(server.base_url(), TENANT).sign()).await;
    assert_accepted(
        &o,
        "Zk9UcmFsaUxhRGVuZFdvcmxkX0JvdW5kYXJ5LTQy",
        Some(CLIENT),
        "Mcp.Read Mcp.Write",
    );
    let keys = format!("/{TENANT}/discovery/v2.0/keys");
    assert_eq!(server.hits(&keys), 1, "{:?}", server.all_hits());
}

#[tokio::test]
async fn an_application_token_grants_its_app_roles() {
    let server = entra().await;
    // Client credentials: no `scp`, the granted app roles in `roles`, `sub` = `oid`.
    let app_only = v2_access(server.base_url(), TENANT)
        .without("scp")
        .without("name")
        .without("preferred_username")
        .without("sid")
        .claim("azpacr", json!("1"))
        .claim("roles", json!(["Mcp.Read"]))
        .claim("idtyp", json!("app"))
        .claim("sub", json!("9d6b3e1f-2a4c-4e8b-b0d1-7f2e3c4a5b6d"))
        .claim("oid", json!("9d6b3e1f-2a4c-4e8b-b0d1-7f2e3c4a5b6d"));
    let o = send_cached(&layer(v2(&server)), &app_only.sign()).await;
    assert_accepted(
        &o,
        "9d6b3e1f-2a4c-4e8b-b0d1-7f2e3c4a5b6d",
        Some(CLIENT),
        "Mcp.Read",
    );

    // Mapped, the roles grant what the map says and nothing else.
    let mapped = v2(&server).map_role("Notes.Reader", ["Mcp.Read"]);
    let token = app_only
        .claim("roles", json!(["Notes.Reader", "Unmapped.Role"]))
        .sign();
    let o = send_cached(&layer(mapped), &token).await;
    assert_accepted(
        &o,
        "9d6b3e1f-2a4c-4e8b-b0d1-7f2e3c4a5b6d",
        Some(CLIENT),
        "Mcp.Read",
    );
}

#[tokio::test]
async fn a_token_of_another_tenant_is_refused() {
    let server = entra().await;
    let o = send_cached(
        &layer(v2(&server)),
        &v2_access(server.base_url(), OTHER_TENANT).sign(),
    )
    .await;
    assert_invalid_token(&o, "token issuer is not trusted");
}

#[tokio::test]
async fn multi_tenant_accepts_each_allowed_tenant_and_binds_tid_to_the_issuer() {
    let server = entra().await;
    let preset = || {
        EntraId::multi_tenant_v2([TENANT, TENANT_B])
            .api_audience(API)
            .base_url(server.base_url())
    };
    let l = layer(preset());
    for t in [TENANT, TENANT_B] {
        let o = send_cached(&l, &v2_access(server.base_url(), t).sign()).await;
        assert_eq!(o.status, 200, "{t}: {:?}", o.challenge);
    }
    // One key set for every tenant: the allowed tenants' issuers name one jwks_uri, which
    // says they share keys, so the key source fetches it once for both. The placeholder
    // document is never read.
    assert_eq!(server.hits("/common/discovery/v2.0/keys"), 1);
    assert_eq!(
        server.hits("/common/v2.0/.well-known/openid-configuration"),
        0
    );

    // A tenant not in the list.
    let o = send_cached(&l, &v2_access(server.base_url(), OTHER_TENANT).sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");

    // An allowed issuer, but the token speaks for another tenant.
    let crossed = v2_access(server.base_url(), TENANT).claim("tid", json!(TENANT_B));
    let o = send_cached(&l, &crossed.sign()).await;
    assert_invalid_token(&o, "token tenant does not match its issuer");
    let no_tid = v2_access(server.base_url(), TENANT).without("tid");
    assert_invalid_token(
        &send_cached(&l, &no_tid.sign()).await,
        "token tenant does not match its issuer",
    );
}

#[tokio::test]
async fn a_token_for_another_api_is_refused() {
    let server = entra().await;
    // Microsoft Graph's application id: a token the client got for Graph.
    let graph = v2_access(server.base_url(), TENANT)
        .claim("aud", json!("00000003-0000-0000-c000-000000000000"));
    let o = send_cached(&layer(v2(&server)), &graph.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
}

#[tokio::test]
async fn an_id_token_is_refused_as_an_access_token() {
    let server = entra().await;
    let l = layer(v2(&server));
    // As issued: `aud` is the client.
    let o = send_cached(&l, &v2_id_token(server.base_url()).sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    // Even when the client and the API are one registration (`aud` the API's id), an ID
    // token has no `azp` and no `scp`/`roles`.
    let same_app = v2_id_token(server.base_url()).claim("aud", json!(API));
    let o = send_cached(&l, &same_app.sign()).await;
    assert_invalid_token(&o, "token has no client_id");
    // And with an `azp` forged in, the missing `scp`/`roles` still refuse it.
    let with_azp = v2_id_token(server.base_url())
        .claim("aud", json!(API))
        .claim("azp", json!(CLIENT));
    assert_invalid_token(
        &send_cached(&l, &with_azp.sign()).await,
        "token lacks the claims of an access token",
    );
}

#[tokio::test]
async fn a_token_of_another_client_sharing_the_audience_is_refused() {
    let server = entra().await;
    let l = layer(v2(&server).allowed_client_ids([CLIENT]));
    assert_eq!(
        send_cached(&l, &v2_access(server.base_url(), TENANT).sign())
            .await
            .status,
        200
    );
    let other = v2_access(server.base_url(), TENANT).claim("azp", json!(OTHER_CLIENT));
    let o = send_cached(&l, &other.sign()).await;
    assert_invalid_token(&o, "token client is not allowed");
}

#[tokio::test]
async fn a_v1_token_is_refused_where_v2_is_configured() {
    let server = entra().await;
    let l = layer(v2(&server).api_audience(API_URI));
    // As issued: the v1.0 issuer is not a v2.0 issuer.
    let o = send_cached(&l, &v1_access(server.base_url()).sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");
    // With the v2.0 issuer and client claim pasted in, `ver` still refuses it.
    let relabelled = v1_access(server.base_url())
        .claim("iss", json!(format!("{}/{TENANT}/v2.0", server.base_url())))
        .claim("azp", json!(CLIENT));
    assert_invalid_token(
        &send_cached(&l, &relabelled.sign()).await,
        "token version is not the one this resource accepts",
    );
}

#[tokio::test]
async fn a_documented_v1_token_is_accepted_by_the_v1_preset() {
    let server = entra().await;
    let l = layer(
        EntraId::v1(TENANT)
            .api_audience(API_URI)
            .base_url(server.base_url()),
    );
    let o = send_cached(&l, &v1_access(server.base_url()).sign()).await;
    assert_accepted(
        &o,
        "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
        Some(CLIENT),
        "Mcp.Read",
    );
    assert_eq!(server.hits(&format!("/{TENANT}/discovery/keys")), 1);
    // A v2.0 token is not a v1.0 one.
    let o = send_cached(&l, &v2_access(server.base_url(), TENANT).sign()).await;
    assert_invalid_token(&o, "token issuer is not trusted");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = entra().await;
    let token = v2_access(server.base_url(), TENANT).expired().sign();
    assert_invalid_token(
        &send_cached(&layer(v2(&server)), &token).await,
        "token expired",
    );
}

#[tokio::test]
async fn a_token_older_than_the_maximum_age_is_refused() {
    let server = entra().await;
    let l = layer(v2(&server).max_token_age(Duration::from_secs(600)));
    // Entra tokens live 60 to 90 minutes: 20 minutes old is still unexpired.
    let fresh = v2_access(server.base_url(), TENANT).issued_ago(60).sign();
    assert_eq!(send_cached(&l, &fresh).await.status, 200);
    let stale = v2_access(server.base_url(), TENANT).issued_ago(1200);
    assert!(stale.claims_now()["exp"].as_i64().unwrap() > common::providers::now());
    assert_invalid_token(
        &send_cached(&l, &stale.sign()).await,
        "token is older than this resource accepts",
    );
}

#[test]
fn the_fixtures_keep_the_documented_shape() {
    let f = v2_access("https://login.microsoftonline.com", TENANT);
    for claim in [
        "aud", "iss", "azp", "scp", "tid", "oid", "uti", "ver", "sub",
    ] {
        assert!(f.get(claim).is_some(), "{claim}");
    }
    assert_eq!(f.get("jti"), None, "Entra sends uti, not jti");
    assert_eq!(f.get("ver"), Some(&Value::from("2.0")));
    let v1 = v1_access("https://sts.windows.net");
    assert!(v1.get("appid").is_some() && v1.get("azp").is_none());
}

#[tokio::test]
async fn a_cached_token_is_refused_once_it_passes_the_maximum_age() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    let server = entra().await;
    let skew = Arc::new(AtomicI64::new(0));
    let s = Arc::clone(&skew);
    let l = McpAuthLayer::builder(RES)
        .trusted_issuer(v2(&server).max_token_age(Duration::from_secs(600)))
        .require_scopes(["Mcp.Read"])
        .clock(move || common::providers::now() + s.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let token = v2_access(server.base_url(), TENANT).issued_ago(60).sign();
    assert_eq!(send_cached(&l, &token).await.status, 200);
    assert_eq!(l.token_cache_len(), 1, "admitted to the cache");
    // Twenty minutes later the token is unexpired but past the maximum age: the cache hit
    // runs the age check again (it reads the clock).
    skew.store(1200, Ordering::SeqCst);
    let o = send_cached(&l, &token).await;
    assert_invalid_token(&o, "token is older than this resource accepts");
}
