//! The axum glue: extractors, `require_scopes`, the RFC 9728 routes and the CORS preset.

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::metadata::ProtectedResourceMetadata;
use mcp_auth::core::resource::ResourceUri;
use mcp_auth::{AuthContext, McpAuthLayer, ScopeError, protected_resource_router};
use mcp_auth_dev::TestAuthority;
use std::sync::OnceLock;
use tower::ServiceExt;

const RES: &str = "https://host/mcp";
const ISS: &str = "https://as.example.com";
const MD: &str = "https://host/.well-known/oauth-protected-resource/mcp";

fn authority() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new(ISS))
}

fn layer() -> McpAuthLayer {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::DEFAULT_ALLOWED, 32)
        .unwrap()
        .keys;
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(StaticKeySource::new().with_issuer(ISS, set))
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .resource_name("Test MCP server")
        // The browser origins the tests below send (MCP Inspector, remote and local).
        .allowed_origin("https://inspector.example")
        .allow_loopback_origins(true)
        // The root fallback (off by default): `metadata_at_path_inserted_and_root_urls`
        // reads the document at both URLs.
        .serve_metadata_at_root(true)
        .build()
        .unwrap()
}

fn app() -> Router {
    let auth = layer();
    Router::new()
        .route(
            "/mcp",
            post(|ctx: AuthContext| async move { ctx.subject().unwrap_or_default().to_owned() }),
        )
        .route(
            "/mcp/write",
            post(|ctx: AuthContext| async move {
                ctx.require_scopes(["mcp:write"])?;
                Ok::<_, ScopeError>("written")
            }),
        )
        .route_layer(auth.clone())
        .route(
            "/open",
            post(|ctx: Option<AuthContext>| async move { format!("{}", ctx.is_some()) }),
        )
        .route("/unwired", post(|_ctx: AuthContext| async { "never" }))
        .layer(auth.cors())
        .merge(auth.metadata_router())
}

async fn call(req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let res = app().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn token(scope: &str) -> String {
    authority().token().aud(RES).scope(scope).sign()
}

#[tokio::test]
async fn router_gates_mcp_and_leaves_unknown_paths_404() {
    let (s, h, _) = call(Request::post("/mcp").body(Body::empty()).unwrap()).await;
    assert_eq!(s, 401);
    assert_eq!(
        h[WWW_AUTHENTICATE],
        format!(r#"Bearer resource_metadata="{MD}", scope="mcp:read""#).as_str()
    );
    // Browsers must be able to read the challenge.
    let (s, h, _) = call(
        Request::post("/mcp")
            .header("origin", "https://inspector.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    let exposed = h["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
        "{exposed}"
    );
    let (s, _, body) = call(
        Request::post("/mcp")
            .header(AUTHORIZATION, format!("Bearer {}", token("mcp:read")))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "user-1"));
    let (s, _, _) = call(Request::post("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn require_scopes_renders_the_layer_challenge() {
    let req = || {
        Request::post("/mcp/write")
            .header(AUTHORIZATION, format!("Bearer {}", token("mcp:read")))
            .body(Body::empty())
            .unwrap()
    };
    let (s, h, _) = call(req()).await;
    assert_eq!(s, 403);
    assert_eq!(
        h[WWW_AUTHENTICATE],
        format!(r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this operation needs", scope="mcp:read mcp:write", resource_metadata="{MD}""#).as_str()
    );
    let (s, _, body) = call(
        Request::post("/mcp/write")
            .header(
                AUTHORIZATION,
                format!("Bearer {}", token("mcp:read mcp:write")),
            )
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "written"));
}

#[tokio::test]
async fn optional_extractor_and_wiring_bug() {
    let (s, _, body) = call(Request::post("/open").body(Body::empty()).unwrap()).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "false"));
    let (s, _, body) = call(Request::post("/unwired").body(Body::empty()).unwrap()).await;
    assert_eq!(s, 500);
    assert!(body.contains("McpAuthLayer"), "{body}");
}

#[tokio::test]
async fn metadata_at_path_inserted_and_root_urls() {
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let (s, h, body) = call(Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["access-control-allow-origin"], "*");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": "https://host/mcp",
                "authorization_servers": [ISS],
                "scopes_supported": ["mcp:read", "mcp:write"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Test MCP server"
            })
        );
    }
}

#[tokio::test]
async fn metadata_head_and_preflight() {
    let (s, h, body) = call(
        Request::head("/.well-known/oauth-protected-resource/mcp")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/json");
    assert!(body.is_empty());
    let pre = Request::options("/.well-known/oauth-protected-resource/mcp")
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "mcp-protocol-version")
        .body(Body::empty())
        .unwrap();
    let (s, h, _) = call(pre).await;
    assert!(s.is_success(), "{s}");
    assert_eq!(h["access-control-allow-origin"], "*");
    // And the MCP endpoint's preflight is answered, never gated.
    let pre = Request::options("/mcp")
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,mcp-protocol-version",
        )
        .body(Body::empty())
        .unwrap();
    let (s, h, _) = call(pre).await;
    assert!(s.is_success(), "{s}");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    ] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
}

#[tokio::test]
async fn root_resource_is_served_at_root_only() {
    let r = ResourceUri::parse("https://host/").unwrap();
    let router: Router = protected_resource_router(ProtectedResourceMetadata::new(&r, [ISS]));
    let res = router
        .clone()
        .oneshot(
            Request::get("/.well-known/oauth-protected-resource")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["resource"], "https://host");
    let res = router
        .oneshot(
            Request::get("/.well-known/oauth-protected-resource/mcp")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
