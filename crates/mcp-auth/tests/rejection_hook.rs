//! Issue 14: the rejection hook (`McpAuthBuilder::rejection_response`). The hook renders the
//! body; the status, `WWW-Authenticate`, `Retry-After` and the `AuthError` extension stay the
//! layer's. Each case is sent through the same configuration with and without the hook: the
//! protocol parts must be identical, and equal to what the protocol requires.

use axum::body::Body;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::{KeyError, KeySource, KeysFuture, StaticKeySource};
use mcp_auth::core::mcp::McpPolicy;
use mcp_auth::{AuthError, DefaultRejection, ErrorKind, McpAuthBuilder, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const MD: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn authority() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new(ISS))
}

fn keys() -> StaticKeySource {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::DEFAULT_ALLOWED, 32)
        .unwrap()
        .keys;
    StaticKeySource::new().with_issuer(ISS, set)
}

/// Every request needs `mcp:read`; `tools/call whoami` also needs `mcp:write`.
fn builder() -> McpAuthBuilder {
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(keys())
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .max_form_body(64)
}

fn policy_builder() -> McpAuthBuilder {
    builder().mcp_policy(
        McpPolicy::builder()
            .default_scopes(["mcp:read"])
            .tool("whoami", ["mcp:write"])
            .build()
            .unwrap(),
    )
}

/// The JSON error document the issue asks for: `{"error": kind, "error_description": ..}`.
fn json_hook(calls: Arc<AtomicUsize>) -> impl Fn(&AuthError) -> Response<Bytes> + Send + Sync {
    move |e: &AuthError| {
        calls.fetch_add(1, Ordering::SeqCst);
        let error = e.kind().error_code().unwrap_or(match e.kind() {
            ErrorKind::MissingCredentials => "unauthorized",
            ErrorKind::KeySourceUnavailable => "temporarily_unavailable",
            ErrorKind::OriginNotAllowed => "origin_not_allowed",
            _ => "error",
        });
        let body = json!({"error": error, "error_description": e.description()});
        let mut res = Response::new(Bytes::from(body.to_string()));
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res
    }
}

struct Outcome {
    status: StatusCode,
    challenges: Vec<String>,
    retry_after: Vec<String>,
    content_type: Option<String>,
    error: Option<AuthError>,
    body: String,
    inner_calls: usize,
}

impl Outcome {
    fn challenge(&self) -> Option<&str> {
        assert!(self.challenges.len() <= 1, "{:?}", self.challenges);
        self.challenges.first().map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(layer: McpAuthLayer, req: Request<Body>) -> Outcome {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let svc = ServiceBuilder::new().layer(layer).service_fn(
        move |_req: Request<mcp_auth::RequestBody<Body>>| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Body::from("inner"))) }
        },
    );
    let res = svc.oneshot(req).await.unwrap();
    let all = |name| {
        res.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let challenges = all(WWW_AUTHENTICATE);
    let retry_after = all(RETRY_AFTER);
    let content_type = all(CONTENT_TYPE).into_iter().next();
    let status = res.status();
    let error = res.extensions().get::<AuthError>().cloned();
    let body = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20)
        .await
        .unwrap();
    Outcome {
        status,
        challenges,
        retry_after,
        content_type,
        error,
        body: String::from_utf8_lossy(&body).into_owned(),
        inner_calls: calls.load(Ordering::SeqCst),
    }
}

fn post(headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut b = Request::post("/mcp");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Sends `req()` through `b()` without a hook and with the JSON hook; asserts the protocol
/// parts are the same and the hook's body is the JSON document for the error. Returns the
/// hooked outcome.
async fn with_and_without_hook(
    b: impl Fn() -> McpAuthBuilder,
    req: impl Fn() -> Request<Body>,
) -> Outcome {
    let plain = send(b().build().unwrap(), req()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let hooked = send(
        b().rejection_response(json_hook(calls.clone()))
            .build()
            .unwrap(),
        req(),
    )
    .await;
    assert_eq!(hooked.status, plain.status);
    assert_eq!(hooked.challenges, plain.challenges);
    assert_eq!(hooked.retry_after, plain.retry_after);
    assert_eq!(hooked.error, plain.error);
    assert_eq!(hooked.inner_calls, 0, "inner service must not be called");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the hook renders it once");
    let e = hooked.error.clone().expect("AuthError in the extensions");
    assert_eq!(e.kind().status(), hooked.status);
    assert_eq!(hooked.content_type.as_deref(), Some("application/json"));
    assert_eq!(hooked.json()["error_description"], e.description());
    hooked
}

#[tokio::test]
async fn missing_credentials_is_401_with_the_challenge_and_the_json_body() {
    let o = with_and_without_hook(builder, || post(&[], "")).await;
    assert_eq!(o.status, 401);
    assert_eq!(
        o.challenge(),
        Some(format!(r#"Bearer resource_metadata="{MD}", scope="mcp:read""#).as_str())
    );
    assert_eq!(o.json()["error"], "unauthorized");
    assert_eq!(o.error.unwrap().kind(), ErrorKind::MissingCredentials);
}

#[tokio::test]
async fn invalid_token_is_401_invalid_token_and_the_body_holds_no_token() {
    let token = authority().token().aud("https://elsewhere.example").sign();
    let o =
        with_and_without_hook(builder, || post(&[("authorization", &bearer(&token))], "")).await;
    assert_eq!(o.status, 401);
    let why = o.error.as_ref().unwrap().description();
    assert_eq!(
        o.challenge(),
        Some(
            format!(
                r#"Bearer error="invalid_token", error_description="{why}", resource_metadata="{MD}", scope="mcp:read""#
            )
            .as_str()
        )
    );
    assert_eq!(
        o.json(),
        json!({"error": "invalid_token", "error_description": why})
    );
    let sig = token.rsplit('.').next().unwrap();
    assert!(!o.body.contains(sig) && !o.body.contains(&token));
}

#[tokio::test]
async fn invalid_request_is_400_with_its_challenge() {
    let o = with_and_without_hook(builder, || {
        let mut r = post(&[], "");
        *r.uri_mut() = "/mcp?access_token=abc".parse().unwrap();
        r
    })
    .await;
    assert_eq!(o.status, 400);
    let why = o.error.as_ref().unwrap().description();
    assert_eq!(
        o.challenge(),
        Some(
            format!(
                r#"Bearer error="invalid_request", error_description="{why}", resource_metadata="{MD}""#
            )
            .as_str()
        )
    );
    assert_eq!(o.json()["error"], "invalid_request");
}

#[tokio::test]
async fn insufficient_scope_is_403_with_the_scope_in_the_challenge() {
    let token = authority().token().aud(RES).scope("mcp:read").sign();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#;
    let o = with_and_without_hook(policy_builder, || {
        post(
            &[
                ("authorization", &bearer(&token)),
                ("content-type", "application/json"),
            ],
            body,
        )
    })
    .await;
    assert_eq!(o.status, 403);
    let c = o.challenge().unwrap();
    assert!(c.starts_with(r#"Bearer error="insufficient_scope""#), "{c}");
    assert!(c.contains(r#"scope="mcp:read mcp:write""#), "{c}");
    assert_eq!(o.json()["error"], "insufficient_scope");
    let e = o.error.unwrap();
    assert_eq!(
        e.required_scopes().unwrap().to_scope_string(),
        "mcp:read mcp:write"
    );
}

#[tokio::test]
async fn payload_too_large_is_413_without_a_challenge() {
    let o = with_and_without_hook(builder, || {
        post(
            &[("content-type", "application/x-www-form-urlencoded")],
            &"a=b&".repeat(64),
        )
    })
    .await;
    assert_eq!(o.status, 413);
    assert_eq!(o.challenge(), None);
    assert_eq!(o.json()["error"], "invalid_request");
}

#[derive(Debug)]
struct DownKeySource;

impl KeySource for DownKeySource {
    fn keys<'a>(&'a self, _issuer: &'a str, _kid: Option<&'a str>) -> KeysFuture<'a> {
        Box::pin(std::future::ready(Err(KeyError::Unavailable {
            retry_after: 7,
            reason: "connection refused".into(),
        })))
    }
}

#[tokio::test]
async fn key_source_down_is_503_with_retry_after_and_no_challenge() {
    let token = authority().token().aud(RES).scope("mcp:read").sign();
    let o = with_and_without_hook(
        || builder().key_source(DownKeySource),
        || post(&[("authorization", &bearer(&token))], ""),
    )
    .await;
    assert_eq!(o.status, 503);
    assert_eq!(o.challenge(), None);
    assert_eq!(o.retry_after, ["7"]);
    assert_eq!(o.json()["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn origin_403_goes_through_the_hook_without_a_challenge() {
    let o =
        with_and_without_hook(builder, || post(&[("origin", "https://evil.example")], "")).await;
    assert_eq!(o.status, 403);
    assert_eq!(o.challenge(), None);
    assert_eq!(
        o.json(),
        json!({"error": "origin_not_allowed", "error_description": AuthError::origin_not_allowed().description()})
    );
    assert_eq!(o.error.unwrap().kind(), ErrorKind::OriginNotAllowed);
}

/// The -32020 body is fixed by the MCP transport (it carries the request's `id`): the hook is
/// not called for it and the body stays the layer's.
#[tokio::test]
async fn header_mismatch_keeps_the_jsonrpc_body_and_skips_the_hook() {
    let token = authority()
        .token()
        .aud(RES)
        .scope("mcp:read mcp:write")
        .sign();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = policy_builder()
        .rejection_response(json_hook(calls.clone()))
        .build()
        .unwrap();
    let body = r#"{"jsonrpc":"2.0","id":"abc","method":"tools/call","params":{"name":"whoami"}}"#;
    let o = send(
        layer,
        post(
            &[
                ("authorization", &bearer(&token)),
                ("content-type", "application/json"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            body,
        ),
    )
    .await;
    assert_eq!(o.status, 400);
    assert_eq!(o.challenge(), None);
    assert_eq!(o.inner_calls, 0);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "hook not called for -32020"
    );
    assert_eq!(
        o.json(),
        json!({"jsonrpc": "2.0", "id": "abc", "error": {"code": -32020, "message": "Mcp-Name header does not match the body"}})
    );
    assert_eq!(o.error.unwrap().kind(), ErrorKind::InvalidRequest);
}

/// A hook that tries to answer 200, drop or replace the challenge, invent a `Retry-After`
/// and swap the `AuthError` gets none of it; its own extra header is kept.
fn hostile_hook(e: &AuthError) -> Response<Bytes> {
    let mut res = Response::new(Bytes::from_static(b"{}"));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    if e.kind() != ErrorKind::MissingCredentials {
        h.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        h.append(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    h.insert(RETRY_AFTER, HeaderValue::from_static("999"));
    h.insert("x-custom", HeaderValue::from_static("kept"));
    res.extensions_mut()
        .insert(AuthError::invalid_token("not the real error"));
    res
}

#[tokio::test]
async fn a_hook_cannot_drop_the_challenge_or_change_the_status() {
    let hostile = || builder().rejection_response(hostile_hook);
    // No credentials: the hook sets no challenge at all, the layer's is there.
    let o = send(hostile().build().unwrap(), post(&[], "")).await;
    assert_eq!(o.status, 401);
    assert_eq!(
        o.challenges,
        [format!(
            r#"Bearer resource_metadata="{MD}", scope="mcp:read""#
        )]
    );
    assert!(o.retry_after.is_empty(), "{:?}", o.retry_after);
    assert_eq!(o.error.unwrap().kind(), ErrorKind::MissingCredentials);
    assert_eq!(o.body, "{}");

    // Invalid token: the hook's two challenges are replaced by the layer's one.
    let o = send(
        hostile().build().unwrap(),
        post(&[("authorization", "Bearer junk")], ""),
    )
    .await;
    assert_eq!(o.status, 401);
    assert_eq!(o.challenges.len(), 1);
    assert!(o.challenges[0].starts_with(r#"Bearer error="invalid_token""#));
    let e = o.error.unwrap();
    assert_ne!(e.description(), "not the real error");

    // 503 and the Origin 403 have no challenge: the hook's are removed; Retry-After is the
    // layer's.
    let token = authority().token().aud(RES).scope("mcp:read").sign();
    let o = send(
        hostile().key_source(DownKeySource).build().unwrap(),
        post(&[("authorization", &bearer(&token))], ""),
    )
    .await;
    assert_eq!(o.status, 503);
    assert!(o.challenges.is_empty(), "{:?}", o.challenges);
    assert_eq!(o.retry_after, ["7"]);
    let o = send(
        hostile().build().unwrap(),
        post(&[("origin", "https://evil.example")], ""),
    )
    .await;
    assert_eq!(o.status, 403);
    assert!(o.challenges.is_empty(), "{:?}", o.challenges);
    assert!(o.retry_after.is_empty());
    assert_eq!(o.error.unwrap().kind(), ErrorKind::OriginNotAllowed);
}

#[tokio::test]
async fn a_hook_keeps_its_other_headers() {
    let layer = builder().rejection_response(hostile_hook).build().unwrap();
    let svc = ServiceBuilder::new().layer(layer).service_fn(
        |_req: Request<mcp_auth::RequestBody<Body>>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        },
    );
    let res = svc.oneshot(post(&[], "")).await.unwrap();
    assert_eq!(res.headers()["x-custom"], "kept");
}

#[tokio::test]
async fn accepted_requests_never_call_the_hook() {
    let token = authority().token().aud(RES).scope("mcp:read").sign();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = builder()
        .rejection_response(json_hook(calls.clone()))
        .build()
        .unwrap();
    for _ in 0..3 {
        let o = send(
            layer.clone(),
            post(&[("authorization", &bearer(&token))], ""),
        )
        .await;
        assert_eq!(o.status, 200);
        assert_eq!(o.body, "inner");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// `DefaultRejection` set explicitly answers exactly as no hook: today's bodies.
#[tokio::test]
async fn default_rejection_is_todays_responses() {
    let requests: [fn() -> Request<Body>; 3] = [
        || post(&[], ""),
        || post(&[("authorization", "Bearer junk")], ""),
        || post(&[("origin", "https://evil.example")], ""),
    ];
    for req in requests {
        let plain = send(builder().build().unwrap(), req()).await;
        let default = send(
            builder()
                .rejection_response(DefaultRejection::default())
                .build()
                .unwrap(),
            req(),
        )
        .await;
        assert_eq!(default.status, plain.status);
        assert_eq!(default.challenges, plain.challenges);
        assert_eq!(default.content_type, plain.content_type);
        assert_eq!(default.body, plain.body);
        assert_eq!(default.error, plain.error);
    }
    let origin = send(
        builder().build().unwrap(),
        post(&[("origin", "https://evil.example")], ""),
    )
    .await;
    assert_eq!(
        origin.json(),
        json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Forbidden: Origin not allowed"}})
    );
    assert_eq!(
        send(builder().build().unwrap(), post(&[], "")).await.body,
        ""
    );
}
