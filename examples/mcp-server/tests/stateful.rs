//! `--stateful` over real HTTP on loopback: rmcp's session manager behind the layer's session
//! binding. A session opened by one user is theirs: another user's valid token with its id
//! gets 404, the same answer as a session id nobody opened, and never reaches rmcp; `DELETE`
//! ends it.

mod common;

use common::{bounded, http, initialize, jsonrpc_body, tools_call};
use example_mcp_server::{Config, RunningServer};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

async fn start() -> RunningServer {
    example_mcp_server::start(Config {
        stateful: true,
        debug_counters: true,
        ..Config::ephemeral()
    })
    .await
    .expect("example starts")
}

/// A valid `mcp:read` token of the development authorization server for `sub`.
fn token_for(server: &RunningServer, sub: &str) -> String {
    server
        .dev_authorization_server()
        .expect("dev AS")
        .authority()
        .token()
        .aud(&server.mcp_url)
        .scope("mcp:read")
        .subject(sub)
        .expires_in(600)
        .sign()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

async fn post(
    server: &RunningServer,
    method: reqwest::Method,
    token: &str,
    session: Option<&str>,
    message: Option<&Value>,
) -> Reply {
    let mut req = http()
        .request(method, &server.mcp_url)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(m) = message {
        req = req
            .header(CONTENT_TYPE, "application/json")
            .body(m.to_string());
    }
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let resp = req.send().await.expect("request");
    Reply {
        status: resp.status(),
        headers: resp.headers().clone(),
        text: resp.text().await.expect("body"),
    }
}

async fn inner_requests(server: &RunningServer) -> u64 {
    let url = server.mcp_url.replace("/mcp", "/debug/counters");
    let v: Value = http().get(url).send().await.unwrap().json().await.unwrap();
    v["inner_requests"].as_u64().unwrap()
}

/// `initialize` then `notifications/initialized` as `token`: the session id.
async fn open_session(server: &RunningServer, token: &str) -> String {
    let r = post(
        server,
        reqwest::Method::POST,
        token,
        None,
        Some(&initialize(1)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r
        .headers
        .get("mcp-session-id")
        .expect("a stateful server assigns a session")
        .to_str()
        .unwrap()
        .to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = post(server, reqwest::Method::POST, token, Some(&id), Some(&note)).await;
    assert!(r.status.is_success(), "{}: {}", r.status, r.text);
    id
}

/// A `whoami` tool call in `session` as `token`.
async fn whoami(server: &RunningServer, token: &str, session: Option<&str>) -> Reply {
    let call = tools_call(2, "whoami", json!({}));
    post(server, reqwest::Method::POST, token, session, Some(&call)).await
}

fn whoami_text(r: &Reply) -> String {
    let ct = r
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = jsonrpc_body(ct, &r.text);
    body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_session_hijacked_with_another_users_valid_token_is_404_like_an_unknown_one() {
    bounded(async {
        let server = start().await;
        let (alice, mallory) = (token_for(&server, "alice"), token_for(&server, "mallory"));
        let id = open_session(&server, &alice).await;

        let r = whoami(&server, &alice, Some(&id)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(whoami_text(&r).contains("alice"), "{}", r.text);

        let before = inner_requests(&server).await;
        let unknown = whoami(&server, &mallory, Some("no-such-session")).await;
        let hijack = whoami(&server, &mallory, Some(&id)).await;
        assert_eq!(hijack.status, StatusCode::NOT_FOUND, "{}", hijack.text);
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(
            hijack.text, unknown.text,
            "the same body as an unknown session"
        );
        let strip = |h: &HeaderMap| {
            let mut h = h.clone();
            h.remove("date");
            h
        };
        assert_eq!(
            strip(&hijack.headers),
            strip(&unknown.headers),
            "the same headers"
        );
        // Mallory cannot end alice's session either.
        let del = post(&server, reqwest::Method::DELETE, &mallory, Some(&id), None).await;
        assert_eq!(del.status, StatusCode::NOT_FOUND);
        assert_eq!(
            inner_requests(&server).await,
            before,
            "rmcp never saw mallory's requests"
        );

        // Alice's session still works; her DELETE ends it, and then it is unknown.
        let r = whoami(&server, &alice, Some(&id)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let del = post(&server, reqwest::Method::DELETE, &alice, Some(&id), None).await;
        assert!(del.status.is_success(), "{}: {}", del.status, del.text);
        let r = whoami(&server, &alice, Some(&id)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    })
    .await;
}
