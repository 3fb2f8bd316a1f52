//! The hyper server on 127.0.0.1:0, driven by a plain hyper client: the challenge without a
//! token, the metadata document, a token minted by mcp-auth-dev, and a POST body reaching the
//! handler byte for byte through the layer's MCP classification.

use bytes::Bytes;
use example_hyper_server::{auth_layer, serve};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mcp_auth_dev::TestAuthority;
use serde_json::{Value, json};
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

const ISS: &str = "https://auth.example.test";

struct Server {
    addr: SocketAddr,
    resource: String,
    authority: TestAuthority,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Server {
    let authority = TestAuthority::new(ISS);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let jwks = serde_json::to_vec(&authority.jwks()).unwrap();
    let auth = auth_layer(&resource, ISS, &jwks).unwrap();
    let task = tokio::spawn(serve(listener, auth));
    Server {
        addr,
        resource,
        authority,
        task,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One request on a new HTTP/1.1 connection.
async fn send(s: &Server, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", s.addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let res = sender.send_request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn call(note: &str) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "add_note", "arguments": {"text": note}},
    })
    .to_string()
}

#[tokio::test]
async fn without_a_token_the_challenge_points_at_the_metadata() {
    let s = start().await;
    let res = send(&s, "POST", "/mcp", None, &call("hi")).await;
    assert_eq!(res.status, 401);
    let challenge = res.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let md = format!(
        "resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\"",
        s.addr
    );
    assert!(challenge.contains(&md), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "no error without credentials: {challenge}"
    );
    assert!(res.body.is_empty());
}

#[tokio::test]
async fn the_metadata_is_served_without_a_token() {
    let s = start().await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let res = send(&s, "GET", path, None, "").await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.headers["content-type"], "application/json");
        assert_eq!(res.headers["access-control-allow-origin"], "*");
        assert_eq!(res.headers["cache-control"], "public, max-age=300");
        let doc = res.json();
        assert_eq!(doc["resource"], s.resource.as_str());
        assert_eq!(doc["authorization_servers"], json!([ISS]));
        assert_eq!(doc["scopes_supported"], json!(["mcp:read"]));
    }
    assert_eq!(send(&s, "GET", "/elsewhere", None, "").await.status, 404);
    let res = send(
        &s,
        "POST",
        "/.well-known/oauth-protected-resource",
        None,
        "",
    )
    .await;
    assert_eq!(res.status, 405);
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_the_body_intact() {
    let s = start().await;
    let token = s
        .authority
        .token()
        .aud(&s.resource)
        .scope("mcp:read")
        .subject("alice")
        .sign();
    // Larger than one read of the connection, with non-ASCII text: the layer reads it whole
    // to classify the call, and the handler must get the same bytes.
    let body = call(&"é ✓ note ".repeat(4000));
    assert!(body.len() > 40_000);
    let res = send(&s, "POST", "/mcp", Some(&token), &body).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let seen = res.json();
    assert_eq!(seen["subject"], "alice");
    assert_eq!(
        seen["authorization_seen"], false,
        "the token is not passed through"
    );
    assert_eq!(seen["body"].as_str().unwrap(), body);
}

#[tokio::test]
async fn a_token_for_another_resource_or_scope_is_refused() {
    let s = start().await;
    let other = s
        .authority
        .token()
        .aud("https://other.example/mcp")
        .scope("mcp:read")
        .sign();
    let res = send(&s, "POST", "/mcp", Some(&other), &call("x")).await;
    assert_eq!(res.status, 401);
    let challenge = res.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    let weak = s.authority.token().aud(&s.resource).scope("other").sign();
    let res = send(&s, "POST", "/mcp", Some(&weak), &call("x")).await;
    assert_eq!(res.status, 403);
    let challenge = res.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    // The scope needed (followed by the ones granted, the layer's default).
    assert!(challenge.contains("scope=\"mcp:read"), "{challenge}");
}
