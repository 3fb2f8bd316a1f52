//! Issue 13 (hardening) through the layer: more than one `Content-Type` (defect 9).

use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Request, Response};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::mcp::McpPolicy;
use mcp_auth::{AuthError, ErrorKind, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
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

fn layer(policy: bool) -> McpAuthLayer {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::DEFAULT_ALLOWED, 32)
        .unwrap()
        .keys;
    let mut b = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(StaticKeySource::new().with_issuer(ISS, set))
        .scopes_supported(["mcp:read"])
        .require_scopes(["mcp:read"]);
    if policy {
        b = b.mcp_policy(
            McpPolicy::builder()
                .default_scopes(["mcp:read"])
                .build()
                .unwrap(),
        );
    }
    b.build().unwrap()
}

/// Status, `WWW-Authenticate`, the `AuthError` and how often the inner service ran.
async fn send(
    layer: McpAuthLayer,
    req: Request<Body>,
) -> (u16, Option<String>, Option<AuthError>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let svc = ServiceBuilder::new().layer(layer).service_fn(
        move |_req: Request<mcp_auth::RequestBody<Body>>| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Body::empty())) }
        },
    );
    let res = svc.oneshot(req).await.unwrap();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let error = res.extensions().get::<AuthError>().cloned();
    (
        res.status().as_u16(),
        challenge,
        error,
        calls.load(Ordering::SeqCst),
    )
}

/// Defect 9: the form-body check read only the first `Content-Type`, so with `JSON` then
/// `form` a form body carrying `access_token` was not seen as a form and reached the inner
/// service, which might read the second type. More than one `Content-Type` (two lines, or
/// two values joined by a comma) is refused with 400 `invalid_request` before any token
/// work: an invalid token gets the same answer, not a 401.
#[tokio::test]
async fn more_than_one_content_type_is_400_before_token_work() {
    let good = authority().token().aud(RES).scope("mcp:read").sign();
    let want = format!(
        r#"Bearer error="invalid_request", error_description="more than one Content-Type header", resource_metadata="{MD}""#
    );
    let types: [&[&str]; 4] = [
        &["application/json", "application/x-www-form-urlencoded"],
        &["application/x-www-form-urlencoded", "application/json"],
        &["application/json", "application/json"],
        &["application/json, application/x-www-form-urlencoded"],
    ];
    for policy in [false, true] {
        for cts in types {
            for auth in [
                Some(format!("Bearer {good}")),
                Some("Bearer not.a.token".to_owned()),
                None,
            ] {
                let mut b = Request::post("/mcp");
                for ct in cts {
                    b = b.header(CONTENT_TYPE, *ct);
                }
                if let Some(a) = &auth {
                    b = b.header(AUTHORIZATION, a);
                }
                let req = b.body(Body::from(format!("access_token={good}"))).unwrap();
                let (status, challenge, error, calls) = send(layer(policy), req).await;
                let case = format!("{cts:?}, policy {policy}, auth {}", auth.is_some());
                assert_eq!(status, 400, "{case}");
                assert_eq!(challenge.as_deref(), Some(want.as_str()), "{case}");
                assert_eq!(error.unwrap().kind(), ErrorKind::InvalidRequest, "{case}");
                assert_eq!(calls, 0, "{case}");
            }
        }
    }
    // One Content-Type, JSON or form without a token, still passes.
    for ct in ["application/json", "application/x-www-form-urlencoded"] {
        let req = Request::post("/mcp")
            .header(CONTENT_TYPE, ct)
            .header(AUTHORIZATION, format!("Bearer {good}"))
            .body(Body::from("a=1"))
            .unwrap();
        let (status, _, _, calls) = send(layer(false), req).await;
        assert_eq!((status, calls), (200, 1), "{ct}");
    }
}
