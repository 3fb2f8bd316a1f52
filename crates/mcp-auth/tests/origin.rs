//! `Origin` validation (MCP Streamable HTTP transport, "Security Warning") and CORS
//! preflights through the layer: 403 before any token work, preflights with no credential or
//! body, and the CORS preset built from the same allow-list.

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use mcp_auth::core::credentials::Credentials;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::{AuthContext, AuthError, ConfigError, ErrorKind, McpAuthLayer, ValidateToken};
use mcp_auth_dev::TestAuthority;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const OWN: &str = "https://mcp.example.com";
const EVIL: &str = "https://evil.example";

fn authority() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new(ISS))
}

fn builder() -> mcp_auth::McpAuthBuilder {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys;
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(StaticKeySource::new().with_issuer(ISS, set))
        .scopes_supported(["mcp:read"])
        .require_scopes(["mcp:read"])
}

fn token() -> String {
    authority().token().aud(RES).scope("mcp:read").sign()
}

/// What the inner service received, one entry per call.
#[derive(Debug, Clone, Default)]
struct Seen {
    method: String,
    credential_headers: Vec<String>,
    body: Vec<u8>,
}

struct Outcome {
    status: StatusCode,
    headers: http::HeaderMap,
    error: Option<AuthError>,
    body: String,
    seen: Vec<Seen>,
}

/// Sends `req` through `layer` around an inner service that answers every method, OPTIONS
/// included, and records the credential headers and the body it got.
async fn send(layer: McpAuthLayer, req: Request<Body>) -> Outcome {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let svc = ServiceBuilder::new().layer(layer).service_fn(
        move |req: Request<mcp_auth::RequestBody<Body>>| {
            let log = log.clone();
            async move {
                let credential_headers = ["authorization", "proxy-authorization", "cookie", "dpop"]
                    .into_iter()
                    .filter(|h| req.headers().contains_key(*h))
                    .map(str::to_owned)
                    .collect();
                let method = req.method().to_string();
                let body = axum::body::to_bytes(Body::new(req.into_body()), 1 << 20)
                    .await
                    .unwrap()
                    .to_vec();
                log.lock().unwrap().push(Seen {
                    method,
                    credential_headers,
                    body,
                });
                Ok::<_, Infallible>(Response::new(Body::from("inner")))
            }
        },
    );
    let res = svc.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(Body::new(body), 1 << 20)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    Outcome {
        status: parts.status,
        error: parts.extensions.get::<AuthError>().cloned(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        seen,
    }
}

fn post_with(origins: &[&[u8]], token: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/mcp");
    for o in origins {
        b = b.header(ORIGIN, HeaderValue::from_bytes(o).unwrap());
    }
    if let Some(t) = token {
        b = b.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

/// The 403 of a refused `Origin`: fixed JSON-RPC body, no challenge, no CORS header, the
/// error in the extensions, inner not called.
fn assert_origin_refused(o: &Outcome) {
    assert_eq!(o.status, StatusCode::FORBIDDEN);
    assert!(o.seen.is_empty(), "inner service called: {:?}", o.seen);
    assert!(!o.headers.contains_key(WWW_AUTHENTICATE));
    assert_eq!(o.headers[CONTENT_TYPE], "application/json");
    let body: serde_json::Value = serde_json::from_str(&o.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Forbidden: Origin not allowed"}})
    );
    assert_eq!(
        o.error.as_ref().map(AuthError::kind),
        Some(ErrorKind::OriginNotAllowed)
    );
}

/// A validator that counts every call the layer makes to it (`validate`, its one method)
/// and accepts nothing.
#[derive(Clone, Default)]
struct Spy(Arc<AtomicUsize>);

impl ValidateToken for Spy {
    type Future = std::future::Ready<Result<AuthContext, AuthError>>;
    fn validate(&self, _c: Credentials, _p: &http::request::Parts) -> Self::Future {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err(AuthError::invalid_token("spy")))
    }
}

#[tokio::test]
async fn disallowed_origin_is_403_before_any_token_work() {
    let spy = Spy::default();
    let layer = builder().build_with_validator(spy.clone()).unwrap();
    let t = token();
    for origin in [EVIL.as_bytes(), b"null", b"http://localhost:6274"] {
        let o = send(layer.clone(), post_with(&[origin], Some(&t))).await;
        assert_origin_refused(&o);
    }
    // A form body with a token, a token in the query: still the Origin first.
    let req = Request::post("/mcp?access_token=x")
        .header(ORIGIN, EVIL)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("access_token=x"))
        .unwrap();
    assert_origin_refused(&send(layer.clone(), req).await);
    assert_eq!(spy.0.load(Ordering::SeqCst), 0, "the validator was asked");
    // The spy is wired: without Origin the token reaches it.
    let o = send(layer, post_with(&[], Some(&t))).await;
    assert_eq!(o.status, 401);
    assert!(spy.0.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn a_valid_cached_token_does_not_pass_a_bad_origin() {
    let layer = builder().build().unwrap();
    let t = token();
    for _ in 0..3 {
        // Used enough to be in the verified-token cache and its hot slot.
        assert_eq!(
            send(layer.clone(), post_with(&[], Some(&t))).await.status,
            200
        );
    }
    assert_origin_refused(&send(layer.clone(), post_with(&[EVIL.as_bytes()], Some(&t))).await);
    let o = send(layer, post_with(&[OWN.as_bytes()], Some(&t))).await;
    assert_eq!((o.status, o.body.as_str()), (StatusCode::OK, "inner"));
}

#[tokio::test]
async fn repeated_non_ascii_or_odd_spellings_of_origin_are_403() {
    let layer = builder().allowed_origin(EVIL).build().unwrap();
    let t = token();
    for origins in [
        &[OWN.as_bytes(), OWN.as_bytes()][..],
        &[OWN.as_bytes(), EVIL.as_bytes()],
        &[b"https://mcp.example.com\xff"],
        &[b"https://MCP.example.com"],
        &[b"https://mcp.example.com:443"],
        &[b"https://mcp.example.com/"],
        &[b" https://mcp.example.com"],
        &[b""],
    ] {
        let o = send(layer.clone(), post_with(origins, Some(&t))).await;
        assert_origin_refused(&o);
    }
}

#[tokio::test]
async fn no_origin_own_origin_and_listed_origins_work() {
    let layer = builder()
        .allowed_origins(["HTTPS://App.Example:443", "null"])
        .build()
        .unwrap();
    let t = token();
    for origins in [
        &[][..],
        &[OWN.as_bytes()],
        &[b"https://app.example"],
        &[b"null"],
    ] {
        let o = send(layer.clone(), post_with(origins, Some(&t))).await;
        assert_eq!(o.status, 200, "{origins:?}");
        assert_eq!(o.seen.len(), 1);
        // And without a token, the usual 401: the Origin check decides nothing else.
        let o = send(layer.clone(), post_with(origins, None)).await;
        assert_eq!(o.status, 401);
        assert!(o.headers.contains_key(WWW_AUTHENTICATE));
    }
}

#[tokio::test]
async fn loopback_origins_only_with_the_preset() {
    let t = token();
    let local = [
        &b"http://localhost:6274"[..],
        b"http://127.0.0.1:8080",
        b"https://[::1]:3000",
    ];
    for origin in local {
        let o = send(builder().build().unwrap(), post_with(&[origin], Some(&t))).await;
        assert_origin_refused(&o);
        let layer = builder().allow_loopback_origins(true).build().unwrap();
        assert_eq!(
            send(layer, post_with(&[origin], Some(&t))).await.status,
            200
        );
    }
    let layer = builder().allow_loopback_origins(true).build().unwrap();
    for origin in [&b"http://localhost.evil.example"[..], b"http://127.0.0.2"] {
        assert_origin_refused(&send(layer.clone(), post_with(&[origin], Some(&t))).await);
    }
}

#[test]
fn a_bad_allow_list_entry_is_a_config_error() {
    for bad in [
        "*",
        "https://app.example/",
        "app.example",
        "ftp://app.example",
    ] {
        let e = builder().allowed_origin(bad).build().unwrap_err();
        assert!(matches!(e, ConfigError::Origin(_)), "{bad}: {e}");
    }
}

fn preflight(origin: &str) -> http::request::Builder {
    Request::options("/mcp")
        .header(ORIGIN, origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
}

/// Defect 2 of issue 13: a request shaped like a preflight reached the inner service
/// undecided with its `Authorization` header (and any body).
#[tokio::test]
async fn preflight_reaches_inner_without_credentials_or_body() {
    let layer = builder().build().unwrap();
    let req = preflight(OWN)
        .header(AUTHORIZATION, format!("Bearer {}", token()))
        .header("proxy-authorization", "Basic dXNlcjpwYXNz")
        .header("cookie", "session=1")
        .header("dpop", "proof")
        .body(Body::empty())
        .unwrap();
    let o = send(layer.clone(), req).await;
    assert_eq!((o.status, o.body.as_str()), (StatusCode::OK, "inner"));
    assert_eq!(o.seen.len(), 1);
    assert_eq!(o.seen[0].method, "OPTIONS");
    assert_eq!(o.seen[0].credential_headers, Vec::<String>::new());
    assert!(o.seen[0].body.is_empty());
    // Even with the dangerous switch on: nothing checked a preflight's token.
    let layer = builder()
        .dangerously_keep_authorization_header(true)
        .build()
        .unwrap();
    let req = preflight(OWN)
        .header(AUTHORIZATION, "Bearer x")
        .body(Body::empty())
        .unwrap();
    let o = send(layer, req).await;
    assert_eq!(o.seen[0].credential_headers, Vec::<String>::new());
}

#[tokio::test]
async fn preflight_with_a_body_or_a_query_token_is_refused() {
    let layer = builder().build().unwrap();
    let with_length = preflight(OWN)
        .header("content-length", "21")
        .body(Body::from(r#"{"method":"tools/call"}"#))
        .unwrap();
    let chunked = preflight(OWN)
        .header("transfer-encoding", "chunked")
        .body(Body::from("x"))
        .unwrap();
    let query = Request::options("/mcp?access_token=abc")
        .header(ORIGIN, OWN)
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap();
    for req in [with_length, chunked, query] {
        let o = send(layer.clone(), req).await;
        assert_eq!(o.status, 400);
        assert!(o.seen.is_empty(), "inner service called: {:?}", o.seen);
        assert_eq!(
            o.error.as_ref().map(AuthError::kind),
            Some(ErrorKind::InvalidRequest)
        );
    }
    // `Content-Length: 0` is no body.
    let req = preflight(OWN)
        .header("content-length", "0")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(layer, req).await.seen.len(), 1);
}

#[tokio::test]
async fn preflight_from_a_disallowed_origin_is_403_first() {
    let req = preflight(EVIL)
        .header("content-length", "1")
        .body(Body::from("x"))
        .unwrap();
    assert_origin_refused(&send(builder().build().unwrap(), req).await);
}

/// The CORS preset and the layer share one list; the metadata stays open to any origin.
#[tokio::test]
async fn cors_preset_answers_allowed_origins_only() {
    let auth = builder()
        .allowed_origin("https://app.example")
        // The root fallback (off by default): the last request reads the root URL.
        .serve_metadata_at_root(true)
        .build()
        .unwrap();
    let app = || {
        Router::new()
            .route("/mcp", post(|| async { "ok" }))
            .route_layer(auth.clone())
            .layer(auth.cors())
            .merge(auth.metadata_router())
    };
    let acao = |res: &Response<Body>| {
        res.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for (origin, allowed) in [("https://app.example", true), (OWN, true), (EVIL, false)] {
        let res = app()
            .oneshot(preflight(origin).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(acao(&res), allowed.then(|| origin.to_owned()), "{origin}");
        let req = Request::post("/mcp")
            .header(ORIGIN, origin)
            .header(AUTHORIZATION, format!("Bearer {}", token()))
            .body(Body::empty())
            .unwrap();
        let res = app().oneshot(req).await.unwrap();
        assert_eq!(res.status(), if allowed { 200 } else { 403 }, "{origin}");
        assert_eq!(acao(&res), allowed.then(|| origin.to_owned()), "{origin}");
        let md = Request::get("/.well-known/oauth-protected-resource/mcp")
            .header(ORIGIN, origin)
            .body(Body::empty())
            .unwrap();
        let res = app().oneshot(md).await.unwrap();
        assert_eq!(
            (res.status(), acao(&res).as_deref()),
            (StatusCode::OK, Some("*"))
        );
    }
    // Merged inside the preset (the earlier wiring), the metadata is still readable from
    // any origin.
    let inside: Router = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .route_layer(auth.clone())
        .merge(auth.metadata_router())
        .layer(auth.cors());
    let md = Request::get("/.well-known/oauth-protected-resource")
        .header(ORIGIN, EVIL)
        .body(Body::empty())
        .unwrap();
    let res = inside.oneshot(md).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(acao(&res).is_some_and(|v| v == "*" || v == EVIL));
}
