//! What the layer tests share: the test authority, the layer under test, an echo service that
//! reports what it saw, and the exact challenges of a rejection.
// Each test file uses only some of these helpers.
#![allow(dead_code)]

pub(crate) mod dpop;
pub(crate) mod providers;

use axum::body::Body;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::{Current, KeySource, KeysFuture, StaticKeySource};
use mcp_auth::{AuthContext, AuthError, ErrorKind, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tower::{ServiceBuilder, ServiceExt};

pub(crate) const RES: &str = "https://mcp.example.com/mcp";
pub(crate) const ISS: &str = "https://auth.example.com";
pub(crate) const MD: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

pub(crate) fn authority() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new(ISS))
}

pub(crate) fn keys(algs: &[Algorithm]) -> StaticKeySource {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, algs, 32).unwrap().keys;
    StaticKeySource::new().with_issuer(ISS, set)
}

pub(crate) fn builder() -> mcp_auth::McpAuthBuilder {
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(keys(&Algorithm::ALL))
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
}

/// A good token for this resource with `mcp:read`.
pub(crate) fn token() -> mcp_auth_dev::TokenBuilder {
    authority().token().aud(RES).scope("mcp:read")
}

pub(crate) struct Outcome {
    pub(crate) status: StatusCode,
    pub(crate) challenge: Option<String>,
    pub(crate) calls: usize,
    pub(crate) error: Option<AuthError>,
    pub(crate) body: serde_json::Value,
    pub(crate) retry_after: Option<String>,
}

/// Sends `req` through `layer` around an echo service that reports what it saw.
pub(crate) async fn send(layer: McpAuthLayer, req: Request<Body>) -> Outcome {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let svc = ServiceBuilder::new().layer(layer).service_fn(move |req: Request<mcp_auth::RequestBody<Body>>| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let ctx = req.extensions().get::<AuthContext>().cloned();
            let body = json!({
                "authorization_seen": req.headers().contains_key(AUTHORIZATION),
                "sub": ctx.as_ref().and_then(|c| c.subject().map(str::to_owned)),
                "client_id": ctx.as_ref().and_then(|c| c.client_id().map(str::to_owned)),
                "scopes": ctx.as_ref().map(|c| c.scopes().to_scope_string()),
                "body": String::from_utf8_lossy(&axum::body::to_bytes(Body::new(req.into_body()), 1 << 20).await.unwrap()),
            });
            Ok::<_, Infallible>(Response::new(Body::from(body.to_string())))
        }
    });
    let res = svc.oneshot(req).await.unwrap();
    outcome(res.map(Body::new), calls.load(Ordering::SeqCst)).await
}

pub(crate) async fn outcome(res: Response<Body>, calls: usize) -> Outcome {
    let status = res.status();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let retry_after = res
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let error = res.extensions().get::<AuthError>().cloned();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Outcome {
        status,
        challenge,
        calls,
        error,
        body,
        retry_after,
    }
}

pub(crate) fn get(auth: &[&str]) -> Request<Body> {
    let mut b = Request::post("/mcp");
    for a in auth {
        b = b.header(AUTHORIZATION, *a);
    }
    b.body(Body::empty()).unwrap()
}

pub(crate) fn bearer(t: &str) -> Request<Body> {
    get(&[&format!("Bearer {t}")])
}

/// Asserts a rejection: status, exact challenge, inner not called, error in extensions.
pub(crate) fn assert_rejected(o: &Outcome, status: u16, challenge: Option<&str>) {
    assert_eq!(o.status, status);
    assert_eq!(o.challenge.as_deref(), challenge);
    assert_eq!(o.calls, 0, "inner service must not be called");
    let e = o.error.as_ref().expect("AuthError in response extensions");
    assert_eq!(e.kind().status(), status);
}

pub(crate) fn invalid_token(why: &str) -> String {
    format!(
        r#"Bearer error="invalid_token", error_description="{why}", resource_metadata="{MD}", scope="mcp:read""#
    )
}

pub(crate) fn invalid_request(why: &str) -> String {
    format!(
        r#"Bearer error="invalid_request", error_description="{why}", resource_metadata="{MD}""#
    )
}

pub(crate) async fn expect_invalid_token(layer: McpAuthLayer, t: &str, why: &str) {
    let o = send(layer, bearer(t)).await;
    assert_rejected(&o, 401, Some(&invalid_token(why)));
    assert_eq!(o.error.unwrap().kind(), ErrorKind::InvalidToken);
}

/// Forwards `keys` and has nothing in memory: every token takes the state machine's resumed
/// step (after awaiting `KeySource::keys`).
#[derive(Debug)]
pub(crate) struct AsyncOnly(pub(crate) StaticKeySource);

impl KeySource for AsyncOnly {
    fn current(&self, _issuer: &str) -> Current {
        Current::Load
    }
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
        self.0.keys(issuer, kid)
    }
}
