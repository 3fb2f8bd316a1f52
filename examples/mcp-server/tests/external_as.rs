//! The example trusting an authorization server it did not start (`--issuer`, `--jwks-uri`),
//! and a configured public resource URI (`--resource`, as behind a proxy).

mod common;

use common::*;
use example_mcp_server::policy::{ALL_SCOPES, SCOPE_READ};
use example_mcp_server::{AuthorizationServer, Config, ExternalAs};
use mcp_auth_dev::DevAuthorizationServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};

fn loopback_any() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_issuer_discovered_from_its_metadata() {
    bounded(async {
        let external = DevAuthorizationServer::builder()
            .scopes_supported(ALL_SCOPES)
            .serve()
            .await
            .expect("external AS");
        let issuer = external.issuer().to_owned();
        let server = example_mcp_server::start(Config {
            bind: loopback_any(),
            authorization_server: AuthorizationServer::External(ExternalAs {
                issuer: issuer.clone(),
                jwks_uri: None,
            }),
            ..Config::default()
        })
        .await
        .expect("example starts");
        assert_eq!(server.as_issuer, issuer);
        assert!(server.dev_authorization_server().is_none());
        assert!(server.mint_token(SCOPE_READ).is_none());

        let http = http();
        let prm: Value = serde_json::from_str(
            &http
                .get(&server.metadata_url)
                .send()
                .await
                .expect("GET metadata")
                .text()
                .await
                .expect("body"),
        )
        .expect("JSON");
        assert_eq!(prm["authorization_servers"], json!([issuer]));

        let token = external
            .server()
            .authority()
            .token()
            .aud(&server.mcp_url)
            .scope(SCOPE_READ)
            .sign();
        let whoami = call_tool(&http, &server.mcp_url, &token, "whoami", json!({})).await;
        assert_eq!(whoami["structuredContent"]["issuer"], json!(issuer));

        // A token from the example's own kind of authority but another issuer: refused.
        let stranger = mcp_auth_dev::TestAuthority::new(issuer.clone())
            .token()
            .aud(&server.mcp_url)
            .scope(SCOPE_READ)
            .sign();
        let resp = mcp_post(&http, &server.mcp_url, Some(&stranger), &initialize(1)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNAUTHORIZED,
            "other keys, same iss"
        );
        server.shutdown().await;
        external.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_jwks_uri_and_public_resource_uri() {
    bounded(async {
        let external = DevAuthorizationServer::builder()
            .serve()
            .await
            .expect("external AS");
        let issuer = external.issuer().to_owned();
        // The public URL a proxy would serve; the example listens elsewhere.
        let public = "http://localhost:9443/api/mcp";
        let server = example_mcp_server::start(Config {
            bind: loopback_any(),
            resource: Some(public.to_owned()),
            scopes_supported: vec![SCOPE_READ.to_owned()],
            authorization_server: AuthorizationServer::External(ExternalAs {
                issuer: issuer.clone(),
                jwks_uri: Some(format!("{issuer}/jwks")),
            }),
            ..Config::default()
        })
        .await
        .expect("example starts");
        assert_eq!(server.mcp_url, public);
        assert_eq!(
            server.metadata_url,
            "http://localhost:9443/.well-known/oauth-protected-resource/api/mcp"
        );

        let http = http();
        let local = format!("http://{}/api/mcp", server.local_addr);
        let resp = mcp_post(&http, &local, None, &initialize(1)).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge_param(resp.www_authenticate(), "resource_metadata").as_deref(),
            Some(server.metadata_url.as_str())
        );
        let prm: Value = serde_json::from_str(
            &http
                .get(format!(
                    "http://{}/.well-known/oauth-protected-resource/api/mcp",
                    server.local_addr
                ))
                .send()
                .await
                .expect("GET metadata")
                .text()
                .await
                .expect("body"),
        )
        .expect("JSON");
        assert_eq!(prm["resource"], json!(public));
        assert_eq!(prm["scopes_supported"], json!([SCOPE_READ]));

        let authority = external.server().authority();
        let token = authority.token().aud(public).scope(SCOPE_READ).sign();
        let echo = call_tool(&http, &local, &token, "echo", json!({"text": "hi"})).await;
        assert_eq!(first_text(&echo), "hi");
        // A token for the listening address instead of the public resource: refused.
        let wrong = authority.token().aud(&local).scope(SCOPE_READ).sign();
        let resp = mcp_post(&http, &local, Some(&wrong), &initialize(1)).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
        server.shutdown().await;
        external.shutdown().await;
    })
    .await;
}

/// `--also-trust`: the development authorization server and an external one at once, each
/// token judged with its own issuer's keys, both listed in the metadata (the main one first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_server_and_another_issuer_at_once() {
    bounded(async {
        let external = DevAuthorizationServer::builder()
            .scopes_supported(ALL_SCOPES)
            .serve()
            .await
            .expect("external AS");
        let issuer = external.issuer().to_owned();
        let server = example_mcp_server::start(Config {
            also_trust: vec![ExternalAs {
                issuer: issuer.clone(),
                jwks_uri: None,
            }],
            ..Config::ephemeral()
        })
        .await
        .expect("example starts");
        let http = http();
        let prm: Value = http
            .get(&server.metadata_url)
            .send()
            .await
            .expect("GET metadata")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            prm["authorization_servers"],
            json!([server.as_issuer, issuer])
        );

        let ours = server.mint_token(SCOPE_READ).expect("dev token");
        let whoami = call_tool(&http, &server.mcp_url, &ours, "whoami", json!({})).await;
        assert_eq!(
            whoami["structuredContent"]["issuer"],
            json!(server.as_issuer)
        );
        let theirs = external
            .server()
            .authority()
            .token()
            .aud(&server.mcp_url)
            .scope(SCOPE_READ)
            .sign();
        let whoami = call_tool(&http, &server.mcp_url, &theirs, "whoami", json!({})).await;
        assert_eq!(whoami["structuredContent"]["issuer"], json!(issuer));

        // The external issuer's name with the development server's keys: each issuer's
        // keys stay its own (RFC 8725 §3.8).
        let crossed = server
            .dev_authorization_server()
            .expect("dev AS")
            .authority()
            .token()
            .claim("iss", json!(issuer))
            .aud(&server.mcp_url)
            .scope(SCOPE_READ)
            .sign();
        let resp = mcp_post(&http, &server.mcp_url, Some(&crossed), &initialize(1)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNAUTHORIZED,
            "keys of another issuer"
        );
        server.shutdown().await;
        external.shutdown().await;
    })
    .await;
}
