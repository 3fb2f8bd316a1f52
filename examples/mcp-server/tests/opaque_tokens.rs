//! Opaque access tokens (issue 16): `--token-format opaque` (the development authorization
//! server issues random strings, the layer introspects them there) and `--introspection`
//! (an external authorization server's opaque tokens), over real loopback HTTP; and the
//! command line refusing bad values with a message naming the flag.

mod common;

use common::*;
use example_mcp_server::policy::ALL_SCOPES;
use example_mcp_server::token_mode::ClientCredentials;
use example_mcp_server::{
    AuthorizationServer, Config, DevAsConfig, ExternalAs, IntrospectionConfig, RunningServer,
    TokenFormat,
};
use mcp_auth_dev::DevAuthorizationServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

fn loopback_any() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A client-credentials token from `token_endpoint` for `resource`.
async fn client_credentials(
    token_endpoint: &str,
    (id, secret): (&str, &str),
    resource: &str,
    scope: &str,
) -> String {
    let resp = http()
        .post(token_endpoint)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", scope),
        ]))
        .send()
        .await
        .expect("POST /token");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// RFC 7009 revocation by the client the token was issued to.
async fn revoke(endpoint: &str, (id, secret): (&str, &str), token: &str) {
    let resp = http()
        .post(endpoint)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", token),
            ("token_type_hint", "access_token"),
        ]))
        .send()
        .await
        .expect("POST /revoke");
    assert_eq!(resp.status(), StatusCode::OK, "RFC 7009 §2.2");
}

async fn whoami(server: &RunningServer, token: &str) -> McpResponse {
    mcp_post(
        &http(),
        &server.mcp_url,
        Some(token),
        &tools_call(1, "whoami", json!({})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_mode_accepts_a_dev_token_and_refuses_it_once_revoked_after_the_cache_maximum() {
    bounded(async {
        let max = Duration::from_secs(2);
        let server = example_mcp_server::start(Config {
            bind: loopback_any(),
            authorization_server: AuthorizationServer::Dev(DevAsConfig {
                bind: loopback_any(),
                auto_approve: true,
                token_format: TokenFormat::Opaque,
                ..DevAsConfig::default()
            }),
            introspection: Some(IntrospectionConfig {
                max_cache: Some(max),
                ..IntrospectionConfig::default()
            }),
            ..Config::default()
        })
        .await
        .expect("example starts");
        // A minted token would be a JWT: none in opaque mode.
        assert_eq!(server.mint_token("mcp:read"), None);
        let dev = server.dev_authorization_server().expect("dev AS");
        let summary = server.introspection().expect("introspected");
        assert_eq!(
            summary.endpoint.as_deref(),
            Some(dev.introspection_endpoint().as_str())
        );
        assert_eq!(summary.max_cache, max);
        let client = server.demo_client().expect("demo client");
        let token = client_credentials(
            &format!("{}/token", server.as_issuer),
            client,
            &server.mcp_url,
            "mcp:read mcp:write",
        )
        .await;
        assert!(!token.contains('.'), "an opaque token");

        let r = whoami(&server, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let who = &r.body["result"]["structuredContent"];
        assert_eq!(who["client_id"], "demo-cli");
        assert_eq!(who["issuer"], server.as_issuer.as_str());
        assert_eq!(who["scopes"], json!(["mcp:read", "mcp:write"]));

        // A token the AS never issued: refused (inactive), not 503.
        let r = whoami(&server, "bm90LWlzc3VlZC1ieS1hbnlvbmU").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
        assert!(r.www_authenticate().contains("invalid_token"), "{r:?}");

        revoke(&dev.revocation_endpoint(), client, &token).await;
        let revoked_at = Instant::now();
        // Within the revocation delay the kept answer is still used.
        let r = whoami(&server, &token).await;
        if revoked_at.elapsed() < max {
            assert_eq!(r.status, StatusCode::OK, "before the maximum: {r:?}");
        }
        tokio::time::sleep(max + Duration::from_millis(600)).await;
        let r = whoami(&server, &token).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "after the maximum: {r:?}"
        );
        assert!(r.www_authenticate().contains("invalid_token"), "{r:?}");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_mode_judges_an_external_servers_opaque_tokens() {
    bounded(async {
        let external = DevAuthorizationServer::builder()
            .scopes_supported(ALL_SCOPES)
            .token_format(TokenFormat::Opaque)
            .resource_server_client("notes-mcp", "rs-secret-for-this-test")
            .serve()
            .await
            .expect("external AS");
        external
            .server()
            .register_confidential_client("agent", "agent-secret", &[]);
        let start = |secret: &str| {
            example_mcp_server::start(Config {
                bind: loopback_any(),
                authorization_server: AuthorizationServer::External(ExternalAs {
                    issuer: external.issuer().to_owned(),
                    jwks_uri: None,
                }),
                // The endpoint is discovered from the issuer's RFC 8414 metadata.
                introspection: Some(IntrospectionConfig {
                    client: Some(ClientCredentials::Secret {
                        client_id: "notes-mcp".to_owned(),
                        secret: secret.to_owned(),
                    }),
                    endpoint: None,
                    max_cache: Some(Duration::from_secs(5)),
                }),
                ..Config::default()
            })
        };
        let server = start("rs-secret-for-this-test").await.expect("starts");
        assert_eq!(server.introspection().expect("on").endpoint, None);
        let token = client_credentials(
            &format!("{}/token", external.issuer()),
            ("agent", "agent-secret"),
            &server.mcp_url,
            "mcp:read",
        )
        .await;
        assert!(!token.contains('.'));
        let r = whoami(&server, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["result"]["structuredContent"]["client_id"], "agent");
        // mcp:write is not granted: the tool refuses, the layer let the call in.
        let r = mcp_post(
            &http(),
            &server.mcp_url,
            Some(&token),
            &tools_call(2, "add_note", json!({"text": "x"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
        server.shutdown().await;

        // Wrong credentials at the endpoint: the AS refuses the call, so the token's fate is
        // unknown: 503 with Retry-After, never 200 and never 401.
        let server = start("not-the-secret").await.expect("starts");
        let r = whoami(&server, &token).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
        assert!(r.headers.contains_key("retry-after"), "{r:?}");
        server.shutdown().await;
        external.shutdown().await;
    })
    .await;
}

/// Runs the example binary with `args`; it must refuse them. Returns its standard error.
fn run_failing(args: &[&str]) -> String {
    run_refused(example_command(args), &format!("{args:?}"))
}

#[test]
fn bad_opaque_token_flags_stop_the_example_with_a_message_naming_the_flag() {
    const ANY: &[&str] = &["--bind", "127.0.0.1:0"];
    const EXT: &[&str] = &["--issuer", "http://127.0.0.1:9", "--introspection"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--token-format", "paseto"],
            "unknown token format `paseto` (use jwt or opaque)",
        ),
        (
            vec!["--introspection-max-cache", "0"],
            "is not a number of seconds from 1 to 3600",
        ),
        (
            vec!["--introspection-max-cache", "60s"],
            "is not a number of seconds from 1 to 3600",
        ),
        (vec!["--introspection"], "--issuer <ISSUER>"),
        (
            [EXT, &["--introspection-client-id", "c"]].concat(),
            "--introspection-secret <SECRET>|--introspection-key-file <PATH>",
        ),
        (
            [EXT, &["--introspection-secret", "s"]].concat(),
            "--introspection-client-id <CLIENT_ID>",
        ),
        (
            [
                EXT,
                &[
                    "--introspection-client-id",
                    "c",
                    "--introspection-secret",
                    "s",
                    "--introspection-key-file",
                    "k.pem",
                ],
            ]
            .concat(),
            "cannot be used with",
        ),
        (
            vec!["--token-format", "opaque", "--issuer", "http://127.0.0.1:9"],
            "cannot be used with",
        ),
        (
            vec!["--introspection-endpoint", "http://127.0.0.1:9/i"],
            "\n  --introspection\n",
        ),
        (
            [
                ANY,
                &[
                    "--dev-as-bind",
                    "127.0.0.1:0",
                    "--introspection-max-cache",
                    "5",
                ],
            ]
            .concat(),
            "--introspection-max-cache needs --token-format opaque",
        ),
        (
            [
                ANY,
                &[
                    "--provider",
                    "okta",
                    "--domain",
                    "example.okta.com",
                    "--introspection-max-cache",
                    "5",
                ],
            ]
            .concat(),
            "introspection does not apply to --provider",
        ),
        (
            [
                ANY,
                EXT,
                &[
                    "--introspection-client-id",
                    "c",
                    "--introspection-key-file",
                    "/nonexistent/mcp-auth-key.pem",
                ],
            ]
            .concat(),
            "--introspection-key-file /nonexistent/mcp-auth-key.pem:",
        ),
    ];
    for (args, expected) in &cases {
        let err = run_failing(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // A refused endpoint: the error names it, never the secret.
    let err = run_failing(
        &[
            ANY,
            EXT,
            &[
                "--introspection-client-id",
                "c",
                "--introspection-secret",
                "T0P-S3CRET-VALUE",
                "--introspection-endpoint",
                "ftp://127.0.0.1:9/introspect",
            ],
        ]
        .concat(),
    );
    assert!(err.contains("ftp://127.0.0.1:9/introspect"), "{err}");
    assert!(!err.contains("T0P-S3CRET-VALUE"), "{err}");
}
