//! The example behind an identity provider's preset (`--provider`): a loopback server
//! publishes a test key at the preset's own JWKS path (`--base-url` points the preset at it),
//! and tokens shaped as the provider issues them call `whoami`; a token for another audience
//! gets 401.

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use example_mcp_server::{
    AuthorizationServer, Config, ExternalAs, ProviderConfig, ProviderKind, StartError,
};
use mcp_auth_dev::TestAuthority;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;

const ENTRA_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ENTRA_API: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const ENTRA_CLIENT: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const COGNITO_POOL: &str = "us-east-1_AbCdEfGhI";
const COGNITO_CLIENT: &str = "7m1234abcdefghijklmnopqrst";

/// The provider: its signing key, served at `path` of a loopback server whose URL is
/// returned (the `--base-url`). Only that path answers.
async fn provider(path: &str) -> (TestAuthority, String) {
    let authority = TestAuthority::new("https://provider.invalid");
    let jwks = authority.jwks();
    let app = Router::new().route(
        path,
        get(move || std::future::ready(axum::Json(jwks.clone()))),
    );
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (authority, base)
}

async fn start(provider: ProviderConfig) -> example_mcp_server::RunningServer {
    example_mcp_server::start(Config {
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        authorization_server: AuthorizationServer::Provider(Box::new(provider)),
        ..Config::default()
    })
    .await
    .expect("example starts")
}

/// `whoami` with `token` answers with this issuer, subject and client.
async fn assert_accepted(url: &str, token: &str, iss: &str, sub: &str, client: &str) {
    let who = call_tool(&http(), url, token, "whoami", json!({})).await;
    let who = &who["structuredContent"];
    assert_eq!(who["issuer"], json!(iss), "{who}");
    assert_eq!(who["subject"], json!(sub), "{who}");
    assert_eq!(who["client_id"], json!(client), "{who}");
    assert_eq!(who["scopes"], json!(["mcp:read"]), "{who}");
}

/// `whoami` with `token` is refused with 401 `invalid_token`.
async fn assert_refused(url: &str, token: &str, why: &str) {
    let resp = mcp_post(
        &http(),
        url,
        Some(token),
        &tools_call(1, "whoami", json!({})),
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{why}: {resp:?}");
    assert!(
        resp.www_authenticate().contains("invalid_token"),
        "{why}: {}",
        resp.www_authenticate()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_realm_tokens() {
    bounded(async {
        let (keys, base) = provider("/realms/acme/protocol/openid-connect/certs").await;
        let mut p = ProviderConfig::new(ProviderKind::Keycloak);
        p.domain = Some("https://sso.example.com".into());
        p.realm = Some("acme".into());
        p.client_ids = vec!["mcp-inspector".into()];
        p.base_url = Some(base.clone());
        let server = start(p).await;
        let iss = format!("{base}/realms/acme");
        assert_eq!(server.as_issuer, iss);

        // The metadata names the realm as the authorization server.
        let prm: Value = http()
            .get(&server.metadata_url)
            .send()
            .await
            .expect("GET metadata")
            .json()
            .await
            .expect("JSON");
        assert_eq!(prm["authorization_servers"], json!([iss]));

        // An access token as Keycloak writes it (Audience mapper: the resource URI).
        let token = |aud: Value, typ: &str| {
            keys.token()
                .header("typ", json!("JWT"))
                .claim("iss", json!(iss))
                .claim("aud", aud)
                .claim("typ", json!(typ))
                .claim("azp", json!("mcp-inspector"))
                .without_claim("client_id")
                .subject("f1a2b3c4-5d6e-4f70-8a91-b2c3d4e5f607")
                .claim("sid", json!("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"))
                .claim("acr", json!("1"))
                .claim(
                    "realm_access",
                    json!({"roles": ["default-roles-acme", "offline_access"]}),
                )
                .claim(
                    "resource_access",
                    json!({"account": {"roles": ["manage-account"]}}),
                )
                .scope("openid profile email mcp:read")
                .claim("preferred_username", json!("alice"))
                .sign()
        };
        let good = token(json!([server.mcp_url, "account"]), "Bearer");
        let sub = "f1a2b3c4-5d6e-4f70-8a91-b2c3d4e5f607";
        let url = &server.mcp_url;
        // Keycloak's `scope` holds OpenID scopes too: the layer reports what it grants.
        let who = call_tool(&http(), url, &good, "whoami", json!({})).await;
        let who = &who["structuredContent"];
        assert_eq!(who["issuer"], json!(iss), "{who}");
        assert_eq!(who["subject"], json!(sub), "{who}");
        assert_eq!(who["client_id"], json!("mcp-inspector"), "{who}");
        assert!(
            who["scopes"]
                .as_array()
                .is_some_and(|s| s.contains(&json!("mcp:read"))),
            "{who}"
        );
        assert_refused(
            url,
            &token(json!(["account"]), "Bearer"),
            "another audience",
        )
        .await;
        assert_refused(url, &token(json!([server.mcp_url]), "ID"), "an ID token").await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_v2_tenant_tokens() {
    bounded(async {
        let (keys, base) = provider(&format!("/{ENTRA_TENANT}/discovery/v2.0/keys")).await;
        let mut p = ProviderConfig::new(ProviderKind::EntraV2);
        p.tenants = vec![ENTRA_TENANT.into()];
        p.audiences = vec![ENTRA_API.into()];
        p.base_url = Some(base.clone());
        p.authorization_server = Some("https://login.example.com/mcp-tenant".into());
        let server = example_mcp_server::start(Config {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            authorization_server: AuthorizationServer::Provider(Box::new(p)),
            // Nothing listens there: its keys are not loaded, the provider's tokens still work.
            also_trust: vec![ExternalAs {
                issuer: "http://127.0.0.1:9".into(),
                jwks_uri: None,
            }],
            ..Config::default()
        })
        .await
        .expect("example starts");
        let iss = format!("{base}/{ENTRA_TENANT}/v2.0");
        let provider = server.provider.as_ref().expect("a provider");
        assert_eq!(provider.issuers, std::slice::from_ref(&iss));
        assert_eq!(provider.audiences, [ENTRA_API]);

        // --authorization-server replaces the issuer in the metadata, first; --also-trust after.
        let prm: Value = http()
            .get(&server.metadata_url)
            .send()
            .await
            .expect("GET metadata")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            prm["authorization_servers"],
            json!(["https://login.example.com/mcp-tenant", "http://127.0.0.1:9"])
        );
        let sub = "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ";

        // A v2.0 access token as Entra writes it: `typ: JWT`, the API's client id as `aud`,
        // `azp`, `tid`, `scp`, `uti` instead of `jti`.
        let token = |aud: &str| {
            keys.token()
                .header("typ", json!("JWT"))
                .claim("iss", json!(iss))
                .claim("aud", json!(aud))
                .claim("azp", json!(ENTRA_CLIENT))
                .claim("azpacr", json!("0"))
                .claim("tid", json!(ENTRA_TENANT))
                .claim("oid", json!("00000000-0000-0000-66f3-3332eca7ea81"))
                .claim("ver", json!("2.0"))
                .claim("scp", json!("mcp:read"))
                .claim("uti", json!("fqiBqXLPj0eQa82S-IYFAA"))
                .claim("rh", json!("0.AAAA"))
                .claim("preferred_username", json!("abeli@microsoft.com"))
                .subject(sub)
                .without_claim("client_id")
                .without_claim("jti")
                .sign()
        };
        let url = &server.mcp_url;
        assert_accepted(url, &token(ENTRA_API), &iss, sub, ENTRA_CLIENT).await;
        assert_refused(
            url,
            &token("a1b2c3d4-5e6f-4a8b-9c0d-1e2f3a4b5c6d"),
            "another API",
        )
        .await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cognito_user_pool_tokens() {
    bounded(async {
        let (keys, base) = provider(&format!("/{COGNITO_POOL}/.well-known/jwks.json")).await;
        let mut p = ProviderConfig::new(ProviderKind::Cognito);
        p.region = Some("us-east-1".into());
        p.user_pool = Some(COGNITO_POOL.into());
        p.client_ids = vec![COGNITO_CLIENT.into()];
        p.base_url = Some(base.clone());
        p.map_roles = vec![("mcp-writers".into(), vec!["mcp:write".into()])];
        let server = start(p).await;
        let iss = format!("{base}/{COGNITO_POOL}");
        let sub = "aaaaaaaa-bbbb-cccc-dddd-example";

        // A Cognito access token: no `typ` header, no `aud`, `token_use: access`.
        let token = |client: &str| {
            keys.token()
                .without_header("typ")
                .claim("iss", json!(iss))
                .claim("client_id", json!(client))
                .claim("token_use", json!("access"))
                .claim("version", json!(2))
                .claim("origin_jti", json!("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"))
                .claim("auth_time", json!(1_500_009_400))
                .claim("username", json!("my-test-user"))
                .scope("mcp:read")
                .subject(sub)
        };
        let url = &server.mcp_url;
        assert_accepted(
            url,
            &token(COGNITO_CLIENT).sign(),
            &iss,
            sub,
            COGNITO_CLIENT,
        )
        .await;
        let other_aud = token(COGNITO_CLIENT)
            .aud("https://other.example.com/mcp")
            .sign();
        assert_refused(url, &other_aud, "another resource's aud").await;
        let other_client = token("1example23456789").sign();
        assert_refused(url, &other_client, "an app client not listed").await;
        let id_token = token(COGNITO_CLIENT).claim("token_use", json!("id")).sign();
        assert_refused(url, &id_token, "an ID token").await;
        // --map-role: a user pool group grants a scope of this server.
        let writer = token(COGNITO_CLIENT)
            .claim("cognito:groups", json!(["mcp-writers"]))
            .sign();
        let who = call_tool(&http(), url, &writer, "whoami", json!({})).await;
        let scopes = &who["structuredContent"]["scopes"];
        assert!(
            scopes
                .as_array()
                .is_some_and(|s| s.contains(&json!("mcp:write"))),
            "{who}"
        );
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_missing_provider_parameter_stops_the_start_naming_the_flag() {
    let mut p = ProviderConfig::new(ProviderKind::Cognito);
    p.region = Some("us-east-1".into());
    p.user_pool = Some(COGNITO_POOL.into());
    let err = example_mcp_server::start(Config {
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        authorization_server: AuthorizationServer::Provider(Box::new(p)),
        ..Config::default()
    })
    .await
    .expect_err("no client ids");
    assert!(matches!(err, StartError::Provider(_)), "{err:?}");
    assert!(err.to_string().contains("needs --client-id"), "{err}");

    // A parameter the preset itself refuses (a pool of another region) names the provider.
    let mut p = ProviderConfig::new(ProviderKind::Cognito);
    p.region = Some("us-east-1".into());
    p.user_pool = Some("us-west-2_AbCdEfGhI".into());
    p.client_ids = vec![COGNITO_CLIENT.into()];
    let err = example_mcp_server::start(Config {
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        authorization_server: AuthorizationServer::Provider(Box::new(p)),
        ..Config::default()
    })
    .await
    .expect_err("pool of another region");
    assert!(err.to_string().contains("AWS Cognito preset"), "{err}");
}
