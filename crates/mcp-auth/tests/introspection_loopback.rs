//! The HTTP introspector (feature `introspection`) in the layer, against the development
//! authorization server in opaque-token mode on 127.0.0.1: an opaque token accepted with its
//! scopes and subject, then revoked at the AS (RFC 7009) and refused once the configured
//! maximum (the revocation delay) is over, and accepted before it.
#![cfg(feature = "introspection")]

mod common;
use common::{RES, bearer, send};

use axum::body::Body;
use http::Request;
use mcp_auth::introspection::{ClientAuth, Introspection};
use mcp_auth::{McpAuthLayer, TrustedIssuer};
use mcp_auth_dev::{DevAuthorizationServer, TokenFormat};
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

const RS_ID: &str = "mcp-resource-server";
const RS_SECRET: &str = "rs-secret-for-the-loopback-test";

/// `POST path` with a form body and HTTP Basic client authentication, in process.
async fn post(server: &DevAuthorizationServer, path: &str, form: &str, basic: &str) -> Value {
    let req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(Body::from(form.to_owned()))
        .unwrap();
    let res = server.router().oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opaque_token_of_the_dev_as_is_introspected_and_its_revocation_seen() {
    let running = DevAuthorizationServer::builder()
        .token_format(TokenFormat::Opaque)
        .resource_server_client(RS_ID, RS_SECRET)
        .scopes_supported(["mcp:read", "mcp:write"])
        .serve()
        .await
        .unwrap();
    let server = running.server();
    server.register_confidential_client("agent", "agent-secret", &[]);
    let basic = mcp_auth::core::introspection::basic_authorization("agent", "agent-secret");
    let basic = basic.trim_start_matches("Basic ");
    // RES percent-encoded for the form.
    let form = "grant_type=client_credentials&scope=mcp%3Aread\
                &resource=https%3A%2F%2Fmcp.example.com%2Fmcp";
    assert_eq!(RES, "https://mcp.example.com/mcp");
    let t = post(server, "/token", form, basic).await;
    let token = t["access_token"].as_str().expect("a token").to_owned();
    assert!(!token.contains('.'), "an opaque token: {token}");

    let layer = McpAuthLayer::builder(RES)
        .trusted_issuer(
            TrustedIssuer::new(running.issuer()).introspection(
                Introspection::new(ClientAuth::client_secret_basic(RS_ID, RS_SECRET))
                    .max_cache(Duration::from_secs(3)),
            ),
        )
        .require_scopes(["mcp:read"])
        .build()
        .unwrap();
    for _ in 0..3 {
        let o = send(layer.clone(), bearer(&token)).await;
        assert_eq!(o.status, 200, "{:?}", o.error);
        assert_eq!(o.body["client_id"], "agent");
        assert_eq!(o.body["scopes"], "mcp:read");
    }
    // Revoked at the AS: accepted until the maximum is over (the caches may not ask again
    // before), then asked again and refused.
    let revoked = post(server, "/revoke", &format!("token={token}"), basic).await;
    assert_eq!(revoked, Value::Null, "RFC 7009: 200 with an empty body");
    let o = send(layer.clone(), bearer(&token)).await;
    assert_eq!(o.status, 200, "within the revocation delay: {:?}", o.error);
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let o = send(layer.clone(), bearer(&token)).await;
    assert_eq!(o.status, 401);
    assert_eq!(o.error.unwrap().description(), "token is not active");
    running.shutdown().await;
}
