//! Issue 6: per-method and per-tool scopes decided at the HTTP layer, table-driven.

use axum::body::Body;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::mcp::McpPolicy;
use mcp_auth::core::scope::ImpliedScopes;
use mcp_auth::{AuthError, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
use serde_json::json;
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

fn policy() -> McpPolicy {
    McpPolicy::builder()
        .default_scopes(["mcp:read"])
        .method("tools/list", ["mcp:read"])
        .tool("whoami", ["mcp:read"])
        .tool("echo", ["mcp:read"])
        .tool("add_note", ["mcp:write"])
        .tool("admin_reset_notes", ["mcp:admin"])
        .name_any_of(
            "tools/call",
            "export",
            vec![vec!["export:notes"], vec!["mcp:admin"]],
        )
        .build()
        .unwrap()
}

fn layer(trust_headers: bool) -> McpAuthLayer {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::DEFAULT_ALLOWED, 32)
        .unwrap()
        .keys;
    let h = ImpliedScopes::builder()
        .implies("mcp:admin", ["mcp:write"])
        .implies("mcp:write", ["mcp:read"])
        .build()
        .unwrap();
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(StaticKeySource::new().with_issuer(ISS, set))
        .scopes_supported(["mcp:read", "mcp:write", "mcp:admin", "export:notes"])
        .scope_hierarchy(h)
        .mcp_policy(policy())
        .max_body(4096)
        .trust_mcp_headers(trust_headers)
        .build()
        .unwrap()
}

struct Case {
    name: &'static str,
    scope: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: String,
    status: u16,
    /// Expected `scope` of a 403 challenge, or the JSON-RPC error code of a 400.
    detail: Option<&'static str>,
}

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {"text": "hi"}}}).to_string()
}

async fn run(layer: McpAuthLayer, c: &Case) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c2, s2) = (calls.clone(), seen.clone());
    let svc = ServiceBuilder::new().layer(layer).service_fn(
        move |req: Request<mcp_auth::RequestBody<Body>>| {
            let (c2, s2) = (c2.clone(), s2.clone());
            async move {
                c2.fetch_add(1, Ordering::SeqCst);
                let b = axum::body::to_bytes(Body::new(req.into_body()), 1 << 20)
                    .await
                    .unwrap();
                s2.lock().unwrap().extend_from_slice(&b);
                Ok::<_, Infallible>(Response::new(Body::empty()))
            }
        },
    );
    let token = authority().token().aud(RES).scope(c.scope).sign();
    let mut b = Request::post("/mcp")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("content-type", "application/json");
    for (k, v) in c.headers {
        b = b.header(*k, *v);
    }
    let res = svc
        .oneshot(b.body(Body::from(c.body.clone())).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let has_error = res.extensions().get::<AuthError>().is_some();
    let body = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20)
        .await
        .unwrap();
    assert_eq!(status, c.status, "{}", c.name);
    match status {
        200 => {
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{}", c.name);
            assert_eq!(
                &*seen.lock().unwrap(),
                c.body.as_bytes(),
                "{}: body handed on unchanged",
                c.name
            );
        }
        403 => {
            assert_eq!(calls.load(Ordering::SeqCst), 0, "{}", c.name);
            assert!(has_error);
            let want = format!(
                r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this operation needs", scope="{}", resource_metadata="{MD}""#,
                c.detail.unwrap()
            );
            assert_eq!(challenge.as_deref(), Some(want.as_str()), "{}", c.name);
        }
        400 => {
            assert_eq!(calls.load(Ordering::SeqCst), 0, "{}", c.name);
            assert!(has_error);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], -32020, "{}", c.name);
            assert_eq!(v["jsonrpc"], "2.0");
            assert_eq!(challenge, None);
        }
        _ => {
            assert_eq!(calls.load(Ordering::SeqCst), 0, "{}", c.name);
            assert!(has_error);
        }
    }
}

fn cases() -> Vec<Case> {
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add_note"}}
    ])
    .to_string();
    vec![
        Case {
            name: "body only, allowed",
            scope: "mcp:read",
            headers: &[],
            body: call("whoami"),
            status: 200,
            detail: None,
        },
        Case {
            name: "body only, insufficient",
            scope: "mcp:read",
            headers: &[],
            body: call("add_note"),
            status: 403,
            detail: Some("mcp:read mcp:write"),
        },
        Case {
            name: "headers and body agree",
            scope: "mcp:write",
            headers: &[("mcp-method", "tools/call"), ("mcp-name", "add_note")],
            body: call("add_note"),
            status: 200,
            detail: None,
        },
        Case {
            name: "base64 header agrees",
            scope: "mcp:write",
            headers: &[
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?YWRkX25vdGU=?="),
            ],
            body: call("add_note"),
            status: 200,
            detail: None,
        },
        Case {
            name: "headers name a harmless tool, body a privileged one",
            scope: "mcp:read",
            headers: &[("mcp-method", "tools/call"), ("mcp-name", "whoami")],
            body: call("admin_reset_notes"),
            status: 400,
            detail: None,
        },
        Case {
            name: "method header disagrees",
            scope: "mcp:admin",
            headers: &[("mcp-method", "tools/list")],
            body: call("whoami"),
            status: 400,
            detail: None,
        },
        Case {
            name: "batch needs the union",
            scope: "mcp:read",
            headers: &[],
            body: batch.clone(),
            status: 403,
            detail: Some("mcp:read mcp:write"),
        },
        Case {
            name: "batch satisfied",
            scope: "mcp:write",
            headers: &[],
            body: batch,
            status: 200,
            detail: None,
        },
        Case {
            name: "notification needs the default",
            scope: "mcp:read",
            headers: &[],
            body: json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
            status: 200,
            detail: None,
        },
        Case {
            name: "response to a server request",
            scope: "mcp:read",
            headers: &[],
            body: json!({"jsonrpc": "2.0", "id": 9, "result": {}}).to_string(),
            status: 200,
            detail: None,
        },
        Case {
            name: "unknown tool fails closed",
            scope: "mcp:write",
            headers: &[],
            body: call("rm_rf"),
            status: 403,
            detail: Some("export:notes mcp:admin mcp:read mcp:write"),
        },
        Case {
            name: "oversize body",
            scope: "mcp:admin",
            headers: &[],
            body: call(&"x".repeat(5000)),
            status: 413,
            detail: None,
        },
        Case {
            name: "non-JSON body needs every scope",
            scope: "mcp:write",
            headers: &[],
            body: "not json".into(),
            status: 403,
            detail: Some("export:notes mcp:admin mcp:read mcp:write"),
        },
        Case {
            name: "non-JSON body with every scope reaches the server",
            scope: "mcp:admin export:notes",
            headers: &[],
            body: "not json".into(),
            status: 200,
            detail: None,
        },
        Case {
            name: "hierarchy: admin implies write",
            scope: "mcp:admin",
            headers: &[],
            body: call("add_note"),
            status: 200,
            detail: None,
        },
        Case {
            name: "any-of: first alternative",
            scope: "mcp:read export:notes",
            headers: &[],
            body: call("export"),
            status: 200,
            detail: None,
        },
        Case {
            name: "any-of: second alternative",
            scope: "mcp:admin",
            headers: &[],
            body: call("export"),
            status: 200,
            detail: None,
        },
        Case {
            name: "any-of: neither, names the closest",
            scope: "mcp:write",
            headers: &[],
            body: call("export"),
            status: 403,
            detail: Some("export:notes mcp:read mcp:write"),
        },
        Case {
            name: "admin tool with write",
            scope: "mcp:write",
            headers: &[],
            body: call("admin_reset_notes"),
            status: 403,
            detail: Some("mcp:admin mcp:read mcp:write"),
        },
    ]
}

#[tokio::test]
async fn table() {
    for c in cases() {
        run(layer(false), &c).await;
    }
}

#[tokio::test]
async fn headers_only_mode_trusts_headers_and_does_not_buffer() {
    // With the headers trusted (protocol 2026-07-28, which defines them), an oversize body
    // is not read (no 413): classification comes from the headers alone, and the inner
    // server is relied on to check them.
    let c = Case {
        name: "headers only",
        scope: "mcp:read",
        headers: &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "whoami"),
        ],
        body: call(&"x".repeat(5000)),
        status: 200,
        detail: None,
    };
    run(layer(true), &c).await;
    let c = Case {
        name: "headers only, insufficient",
        scope: "mcp:read",
        headers: &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add_note"),
        ],
        body: call("add_note"),
        status: 403,
        detail: Some("mcp:read mcp:write"),
    };
    run(layer(true), &c).await;
    // Without headers the body is still read.
    let c = Case {
        name: "no headers in trust mode",
        scope: "mcp:read",
        headers: &[],
        body: call("add_note"),
        status: 403,
        detail: Some("mcp:read mcp:write"),
    };
    run(layer(true), &c).await;
}

#[tokio::test]
async fn get_and_delete_are_not_buffered_and_need_the_default() {
    for method in ["GET", "DELETE"] {
        let token = authority().token().aud(RES).scope("mcp:read").sign();
        let svc = ServiceBuilder::new().layer(layer(false)).service_fn(
            |_req: Request<mcp_auth::RequestBody<Body>>| async {
                Ok::<_, Infallible>(Response::new(Body::empty()))
            },
        );
        // A body larger than max_body would be 413 if it were read.
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(vec![b'x'; 10_000]))
            .unwrap();
        assert_eq!(svc.oneshot(req).await.unwrap().status(), 200, "{method}");
        let token = authority().token().aud(RES).scope("other").sign();
        let svc = ServiceBuilder::new().layer(layer(false)).service_fn(
            |_req: Request<mcp_auth::RequestBody<Body>>| async {
                Ok::<_, Infallible>(Response::new(Body::empty()))
            },
        );
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(svc.oneshot(req).await.unwrap().status(), 403, "{method}");
    }
}

#[tokio::test]
async fn mismatch_error_echoes_the_request_id() {
    let token = authority().token().aud(RES).scope("mcp:admin").sign();
    let svc = ServiceBuilder::new().layer(layer(false)).service_fn(
        |_req: Request<mcp_auth::RequestBody<Body>>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        },
    );
    let body = json!({"jsonrpc": "2.0", "id": "abc", "method": "tools/call", "params": {"name": "add_note"}}).to_string();
    let req = Request::post("/mcp")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("mcp-method", "tools/call")
        .header("mcp-name", "whoami")
        .body(Body::from(body))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(Body::new(res.into_body()), 1 << 16)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        v,
        json!({"jsonrpc": "2.0", "id": "abc", "error": {"code": -32020, "message": "Mcp-Name header does not match the body"}})
    );
}

/// Issue 13, defect 1: `trust_mcp_headers(true)` trusted `Mcp-Method`/`Mcp-Name` under any
/// protocol version, so an `mcp:read` token naming `whoami` in the headers ran an admin tool
/// named in the body wherever the inner server does not cross-check (protocols that do not
/// define the headers). Unless the request carries exactly one `MCP-Protocol-Version:
/// 2026-07-28`, the body decides: the mismatch is refused (400, -32020) and never reaches
/// the inner service; headers that agree with the body give the body's requirement (403).
#[tokio::test]
async fn trusted_headers_need_a_protocol_version_that_defines_them() {
    type Headers = &'static [(&'static str, &'static str)];
    const LYING: [(&str, &str); 2] = [("mcp-method", "tools/call"), ("mcp-name", "whoami")];
    const HONEST: [(&str, &str); 2] = [
        ("mcp-method", "tools/call"),
        ("mcp-name", "admin_reset_notes"),
    ];
    let versions: [(&str, Headers); 8] = [
        ("absent", &[]),
        ("2025-06-18", &[("mcp-protocol-version", "2025-06-18")]),
        ("2025-11-25", &[("mcp-protocol-version", "2025-11-25")]),
        ("padded", &[("mcp-protocol-version", " 2026-07-28")]),
        ("trailing space", &[("mcp-protocol-version", "2026-07-28 ")]),
        ("unknown later", &[("mcp-protocol-version", "2027-01-01")]),
        (
            "repeated, first defines them",
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-protocol-version", "2025-06-18"),
            ],
        ),
        (
            "repeated, same value",
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-protocol-version", "2026-07-28"),
            ],
        ),
    ];
    for (label, version) in versions {
        let headers = |mcp: [(&'static str, &'static str); 2]| -> Headers {
            Vec::leak([version, &mcp[..]].concat())
        };
        run(
            layer(true),
            &Case {
                name: label,
                scope: "mcp:read",
                headers: headers(LYING),
                body: call("admin_reset_notes"),
                status: 400,
                detail: None,
            },
        )
        .await;
        run(
            layer(true),
            &Case {
                name: label,
                scope: "mcp:read",
                headers: headers(HONEST),
                body: call("admin_reset_notes"),
                status: 403,
                detail: Some("mcp:admin mcp:read"),
            },
        )
        .await;
    }
    // The fast path still works with the one version that defines the headers: the body
    // is not read (a body over `max_body` would be 413), the headers decide.
    for (tool, status, detail) in [
        ("whoami", 200, None),
        ("admin_reset_notes", 403, Some("mcp:admin mcp:read")),
    ] {
        let headers: Headers = Vec::leak(vec![
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", tool),
        ]);
        run(
            layer(true),
            &Case {
                name: "2026-07-28",
                scope: "mcp:read",
                headers,
                body: call(&format!("{tool}{}", "x".repeat(5000))),
                status,
                detail,
            },
        )
        .await;
    }
}

/// Issue 13, defect 7: positional `params` were read by field order, so
/// `"params": ["whoami", "admin_reset_notes"]` was classified as the harmless `whoami`.
/// A non-object `params` (or message) makes the body Uncertain: every scope is needed.
#[tokio::test]
async fn positional_params_need_every_scope() {
    let every = Some("export:notes mcp:admin mcp:read mcp:write");
    let bodies = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["whoami", "admin_reset_notes"]}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "whoami"}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": 1}),
        json!([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
               {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": ["whoami"]}]),
        json!([["tools/call", 1, {"name": "whoami"}]]),
    ];
    for body in bodies {
        for (scope, status) in [("mcp:read", 403), ("mcp:write export:notes", 403)] {
            run(
                layer(false),
                &Case {
                    name: "positional",
                    scope,
                    headers: &[],
                    body: body.to_string(),
                    status,
                    detail: every,
                },
            )
            .await;
        }
        run(
            layer(false),
            &Case {
                name: "positional with every scope",
                scope: "mcp:admin export:notes",
                headers: &[],
                body: body.to_string(),
                status: 200,
                detail: None,
            },
        )
        .await;
    }
    // `null` params are no params: a named method without a name needs what unknown names
    // need (fail closed), an unnamed one its own rule.
    run(
        layer(false),
        &Case {
            name: "null params on tools/call",
            scope: "mcp:write",
            headers: &[],
            body: json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": null})
                .to_string(),
            status: 403,
            detail: every,
        },
    )
    .await;
    run(
        layer(false),
        &Case {
            name: "null params on tools/list",
            scope: "mcp:read",
            headers: &[],
            body: json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": null})
                .to_string(),
            status: 200,
            detail: None,
        },
    )
    .await;
}
