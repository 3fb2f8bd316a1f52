//! `Origin` validation over real HTTP (MCP Streamable HTTP transport, "Security Warning"):
//! the example allows its own origin, loopback origins and `--allowed-origin`s; any other
//! `Origin`, `null` included, gets 403 and never reaches the MCP service, even with a valid
//! token.

mod common;

use common::{bounded, http, jsonrpc_body, tools_call};
use example_mcp_server::{Config, RunningServer};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, ORIGIN, WWW_AUTHENTICATE};

async fn start() -> RunningServer {
    example_mcp_server::start(Config {
        allowed_origins: vec!["https://app.example".to_owned()],
        debug_counters: true,
        ..Config::ephemeral()
    })
    .await
    .expect("example starts")
}

/// `tools/call whoami` with `token` and `origin`: status, body text, whether the response
/// carried CORS and a challenge.
async fn whoami(
    server: &RunningServer,
    origin: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, String, bool, bool) {
    let mut req = http()
        .post(&server.mcp_url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(tools_call(1, "whoami", serde_json::json!({})).to_string());
    if let Some(o) = origin {
        req = req.header(ORIGIN, o);
    }
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = req.send().await.expect("POST");
    let status = resp.status();
    let cors = resp.headers().contains_key("access-control-allow-origin");
    let challenge = resp.headers().contains_key(WWW_AUTHENTICATE);
    (status, resp.text().await.unwrap(), cors, challenge)
}

#[tokio::test]
async fn evil_and_null_origins_get_403_and_never_reach_the_mcp_service() {
    bounded(async {
        let server = start().await;
        let token = server.mint_token("mcp:read").unwrap();
        for origin in [
            "https://evil.example",
            "null",
            "http://localhost.evil.example",
        ] {
            let (status, body, cors, challenge) = whoami(&server, Some(origin), Some(&token)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{origin}: {body}");
            assert!(body.contains("Origin not allowed"), "{origin}: {body}");
            assert!(!body.contains(&token[..20]));
            assert!(!cors && !challenge, "{origin}");
        }
        assert_eq!(server.inner_requests(), 0);
        // The counter is the one the interop suite reads.
        let counters: serde_json::Value = http()
            .get(format!("http://{}/debug/counters", server.local_addr))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(counters, serde_json::json!({"inner_requests": 0}));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn no_origin_own_loopback_and_listed_origins_work() {
    bounded(async {
        let server = start().await;
        let token = server.mint_token("mcp:read").unwrap();
        let own = url::Url::parse(&server.mcp_url)
            .unwrap()
            .origin()
            .ascii_serialization();
        let cases = [
            (None, false),
            (Some(own.as_str()), true),
            (Some("http://localhost:6274"), true),
            (Some("http://[::1]:3000"), true),
            (Some("https://app.example"), true),
        ];
        for (i, (origin, cors)) in cases.into_iter().enumerate() {
            let (status, body, has_cors, _) = whoami(&server, origin, Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{origin:?}: {body}");
            let msg = jsonrpc_body("application/json", &body);
            assert_eq!(
                msg["result"]["structuredContent"]["subject"], "dev-user",
                "{origin:?}: {body}"
            );
            assert_eq!(has_cors, cors, "{origin:?}");
            assert_eq!(server.inner_requests(), i as u64 + 1);
            // Without a token: the usual 401 challenge, for an allowed origin too.
            let (status, _, _, challenge) = whoami(&server, origin, None).await;
            assert_eq!((status, challenge), (StatusCode::UNAUTHORIZED, true));
        }
        server.shutdown().await;
    })
    .await;
}
