//! A dev authorization server driven in process (`Router::oneshot`, no socket), shared by the
//! `dev_*` targets.
#![allow(dead_code)] // each target uses a part

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use mcp_auth_dev::server::DevAuthorizationServer;
use std::cell::RefCell;
use std::sync::OnceLock;
use tower::ServiceExt as _;

pub const ISSUER: &str = "http://as.test";
pub const RESOURCE: &str = "https://mcp.example.test/mcp";
pub const PUBLIC_CLIENT: &str = "public-client";
pub const CONFIDENTIAL_CLIENT: &str = "confidential-client";
pub const SECRET: &str = "s3cret";
pub const REDIRECT: &str = "http://127.0.0.1:4567/callback";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFWm0xqTvg4vLHw8yW6xDndFzT6D6kKg";

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fn build() -> (DevAuthorizationServer, Router) {
    let server = DevAuthorizationServer::builder()
        .issuer(ISSUER)
        .auto_approve(true)
        .scopes_supported(["mcp:read", "mcp:write", "offline_access"])
        .anonymous_client_scopes(["mcp:read"])
        .build()
        .unwrap();
    server.register_public_client(PUBLIC_CLIENT, &[REDIRECT]);
    server.register_confidential_client(CONFIDENTIAL_CLIENT, SECRET, &[REDIRECT]);
    let router = server.router();
    (server, router)
}

thread_local! {
    /// The server, rebuilt every so often so its stores (capped at 10,000 items, beyond
    /// which it answers `server_error` on purpose) never fill up during a run.
    static SERVER: RefCell<(u32, Router)> = RefCell::new((0, build().1));
}

/// Sends `req` to the server and collects the answer.
pub fn send(req: Request<Body>) -> Resp {
    let router = SERVER.with(|s| {
        let mut s = s.borrow_mut();
        s.0 += 1;
        if s.0 >= 2_000 {
            *s = (0, build().1);
        }
        s.1.clone()
    });
    runtime().block_on(async move {
        let resp = router.oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
}

/// Whether the dev AS would fetch `client_id` as a metadata document (an HTTP request to
/// whatever host it names): such inputs are skipped, the fuzzer never touches the network.
pub fn would_fetch(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Form or query parameters decoded as the server decodes them.
pub fn params(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input).into_owned().collect()
}

pub fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// The server never answers 5xx to a client's bytes.
pub fn assert_not_5xx(r: &Resp) {
    assert!(
        !r.status.is_server_error(),
        "{}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

/// Runs an authorization request for `client_id` and returns the code from the redirect.
pub fn authorize_code(client_id: &str, scope: &str) -> Option<String> {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .finish();
    let r = send(
        Request::get(format!("/authorize?{q}"))
            .body(Body::empty())
            .unwrap(),
    );
    let loc = r.headers.get("location")?.to_str().ok()?;
    let (_, query) = loc.split_once('?')?;
    params(query.as_bytes())
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
}
