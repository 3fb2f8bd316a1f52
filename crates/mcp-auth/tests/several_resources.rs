//! Several protected resources in one process and one axum router (issue 15): `/notes/mcp`
//! and `/admin/mcp`, each with its own metadata document, audience and challenges, one key
//! source for both. RFC 9728 §3: each well-known URL describes one resource, so the root URL
//! serves at most the one resource designated for it, and two designations are a
//! configuration error, never a panic.

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::{KeySource, StaticKeySource};
use mcp_auth::{ConfigError, McpAuthLayer, MetadataService, metadata_routes};
use mcp_auth_dev::TestAuthority;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const ISS: &str = "https://auth.example.com";
const NOTES: &str = "https://mcp.example.com/notes/mcp";
const ADMIN: &str = "https://mcp.example.com/admin/mcp";
const NOTES_PATH: &str = "/.well-known/oauth-protected-resource/notes/mcp";
const ADMIN_PATH: &str = "/.well-known/oauth-protected-resource/admin/mcp";
const ROOT: &str = "/.well-known/oauth-protected-resource";

fn authority() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new(ISS))
}

/// One key source, shared by both layers.
fn shared_keys() -> Arc<StaticKeySource> {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::DEFAULT_ALLOWED, 32)
        .unwrap()
        .keys;
    Arc::new(StaticKeySource::new().with_issuer(ISS, set))
}

/// The layer of `resource` (its audience), with `scope` required, on `keys`.
fn layer<K: KeySource + Clone>(
    resource: &str,
    issuer: &str,
    scope: &str,
    keys: &K,
    root: bool,
) -> McpAuthLayer {
    McpAuthLayer::builder(resource)
        .issuer(issuer)
        .key_source(keys.clone())
        .scopes_supported([scope])
        .require_scopes([scope])
        .serve_metadata_at_root(root)
        .build()
        .unwrap()
}

/// `/notes/mcp` and `/admin/mcp` behind their own layers, and `metadata` beside them.
fn app(notes: &McpAuthLayer, admin: &McpAuthLayer, metadata: Router) -> Router {
    Router::new()
        .route(
            "/notes/mcp",
            post(|| async { "notes" }).route_layer(notes.clone()),
        )
        .route(
            "/admin/mcp",
            post(|| async { "admin" }).route_layer(admin.clone()),
        )
        .merge(metadata)
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn call(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    Answer {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn post_mcp(app: &Router, path: &str, token: Option<&str>) -> Answer {
    let mut req = Request::post(path);
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    call(app, req.body(Body::empty()).unwrap()).await
}

async fn get(app: &Router, path: &str) -> Answer {
    call(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// The `resource` of the document served at `path` (`None` unless 200).
async fn resource_at(app: &Router, path: &str) -> Option<String> {
    let a = get(app, path).await;
    (a.status == 200).then(|| {
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        v["resource"].as_str().unwrap().to_owned()
    })
}

/// The value of `resource_metadata` in a challenge.
fn resource_metadata(challenge: &str) -> &str {
    let start = challenge.find("resource_metadata=\"").expect(challenge) + 19;
    let len = challenge[start..].find('"').unwrap();
    &challenge[start..start + len]
}

/// The path of an absolute URL on `https://mcp.example.com`.
fn path_of(url: &str) -> &str {
    url.strip_prefix("https://mcp.example.com").expect(url)
}

#[tokio::test]
async fn two_default_routers_merge_and_each_prm_is_served_at_its_own_url_only() {
    let keys = shared_keys();
    let notes = layer(NOTES, ISS, "notes:read", &keys, false);
    let admin = layer(ADMIN, ISS, "admin:read", &keys, false);
    // Plain axum merge of the two routers: no route in common, no panic.
    let merged = notes.metadata_router().merge(admin.metadata_router());
    let app = app(&notes, &admin, merged);
    assert_eq!(resource_at(&app, NOTES_PATH).await.as_deref(), Some(NOTES));
    assert_eq!(resource_at(&app, ADMIN_PATH).await.as_deref(), Some(ADMIN));
    // Nobody is designated for the root: RFC 9728 gives it to `https://mcp.example.com`,
    // which is not served here.
    assert_eq!(get(&app, ROOT).await.status, 404);
    let doc: serde_json::Value = serde_json::from_str(&get(&app, ADMIN_PATH).await.body).unwrap();
    assert_eq!(doc["scopes_supported"], serde_json::json!(["admin:read"]));
}

#[tokio::test]
async fn the_designated_root_serves_the_designated_resource_only() {
    let keys = shared_keys();
    let notes = layer(NOTES, ISS, "notes:read", &keys, true);
    let admin = layer(ADMIN, ISS, "admin:read", &keys, false);
    for metadata in [
        metadata_routes([&notes, &admin]).unwrap(),
        // Only one of them claims the root, so a plain merge works too.
        notes.metadata_router().merge(admin.metadata_router()),
    ] {
        let app = app(&notes, &admin, metadata);
        assert_eq!(resource_at(&app, ROOT).await.as_deref(), Some(NOTES));
        assert_eq!(resource_at(&app, NOTES_PATH).await.as_deref(), Some(NOTES));
        assert_eq!(resource_at(&app, ADMIN_PATH).await.as_deref(), Some(ADMIN));
        // The root answers exactly as the designated resource's own URL does.
        assert_eq!(get(&app, ROOT).await.body, get(&app, NOTES_PATH).await.body);
    }
    // The other way round: admin designated, notes not served at the root.
    let notes = layer(NOTES, ISS, "notes:read", &keys, false);
    let admin = layer(ADMIN, ISS, "admin:read", &keys, true);
    let app = app(&notes, &admin, metadata_routes([&notes, &admin]).unwrap());
    assert_eq!(resource_at(&app, ROOT).await.as_deref(), Some(ADMIN));
}

#[tokio::test]
async fn two_roots_are_a_config_error_not_a_panic() {
    let keys = shared_keys();
    let notes = layer(NOTES, ISS, "notes:read", &keys, true);
    let admin = layer(ADMIN, ISS, "admin:read", &keys, true);
    match metadata_routes::<()>([&notes, &admin]) {
        Err(ConfigError::MetadataPathConflict {
            path,
            first,
            second,
        }) => {
            assert_eq!((path.as_str(), first.as_str()), (ROOT, NOTES));
            assert_eq!(second, ADMIN);
        }
        other => panic!("expected a conflict: {other:?}"),
    }
    let e = MetadataService::merge([notes.metadata_service(), admin.metadata_service()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(ROOT) && e.contains(NOTES) && e.contains(ADMIN),
        "{e}"
    );
    // A resource without a path owns the root: a designated path resource beside it is
    // refused too, and so is one resource twice.
    let origin = layer("https://mcp.example.com/", ISS, "notes:read", &keys, false);
    assert!(matches!(
        metadata_routes::<()>([&origin, &notes]),
        Err(ConfigError::MetadataPathConflict { .. })
    ));
    let plain = layer(NOTES, ISS, "notes:read", &keys, false);
    assert!(matches!(
        metadata_routes::<()>([&plain, &plain]),
        Err(ConfigError::MetadataPathConflict { .. })
    ));
    // The bare origin and both path resources, none designated: three documents.
    let admin = layer(ADMIN, ISS, "admin:read", &keys, false);
    let all = metadata_routes([&origin, &plain, &admin]).unwrap();
    let app = app(&plain, &admin, all);
    assert_eq!(
        resource_at(&app, ROOT).await.as_deref(),
        Some("https://mcp.example.com")
    );
    assert_eq!(resource_at(&app, NOTES_PATH).await.as_deref(), Some(NOTES));
}

#[tokio::test]
async fn a_token_for_one_resource_is_refused_at_the_other() {
    let keys = shared_keys();
    let notes = layer(NOTES, ISS, "notes:read", &keys, true);
    let admin = layer(ADMIN, ISS, "admin:read", &keys, false);
    let app = app(&notes, &admin, metadata_routes([&notes, &admin]).unwrap());
    // One token carrying both scopes, so only the audience tells them apart.
    let token = |aud: &str| {
        authority()
            .token()
            .aud(aud)
            .scope("notes:read admin:read")
            .sign()
    };
    let (for_notes, for_admin) = (token(NOTES), token(ADMIN));
    let md = |p: &str| format!("https://mcp.example.com{p}");
    for (path, own, other, body, md, scope) in [
        (
            "/notes/mcp",
            &for_notes,
            &for_admin,
            "notes",
            md(NOTES_PATH),
            "notes:read",
        ),
        (
            "/admin/mcp",
            &for_admin,
            &for_notes,
            "admin",
            md(ADMIN_PATH),
            "admin:read",
        ),
    ] {
        let ok = post_mcp(&app, path, Some(own)).await;
        assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, body));
        // Twice: the second time may be answered by the verified-token cache.
        for _ in 0..2 {
            let refused = post_mcp(&app, path, Some(other)).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(
                refused.challenge.as_deref(),
                Some(
                    format!(
                        r#"Bearer error="invalid_token", error_description="token audience is not this resource", resource_metadata="{md}", scope="{scope}""#
                    )
                    .as_str()
                ),
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn each_challenge_names_its_own_served_metadata() {
    let keys = shared_keys();
    let notes = layer(NOTES, ISS, "notes:read", &keys, true);
    let admin = layer(ADMIN, ISS, "admin:read", &keys, false);
    let app = app(&notes, &admin, metadata_routes([&notes, &admin]).unwrap());
    for (path, resource, scope) in [
        ("/notes/mcp", NOTES, "notes:read"),
        ("/admin/mcp", ADMIN, "admin:read"),
    ] {
        let a = post_mcp(&app, path, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        let challenge = a.challenge.unwrap();
        let md = resource_metadata(&challenge);
        assert_eq!(
            challenge,
            format!(r#"Bearer resource_metadata="{md}", scope="{scope}""#)
        );
        // The URL it names is served, with this resource's document, not the root's.
        assert_ne!(path_of(md), ROOT);
        assert_eq!(
            resource_at(&app, path_of(md)).await.as_deref(),
            Some(resource)
        );
    }
}

/// One layer's CORS preset around both resources' metadata: every document stays readable
/// from any origin, the other layer's MCP endpoint does not become so.
#[tokio::test]
async fn one_cors_preset_keeps_every_resources_metadata_public() {
    let keys = shared_keys();
    let notes = layer(NOTES, ISS, "notes:read", &keys, true);
    let admin = layer(ADMIN, ISS, "admin:read", &keys, false);
    let app = app(&notes, &admin, metadata_routes([&notes, &admin]).unwrap()).layer(notes.cors());
    let preflight = |path: &str| {
        Request::options(path)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "mcp-protocol-version")
            .body(Body::empty())
            .unwrap()
    };
    let acao =
        |res: &http::Response<Body>| res.headers().get("access-control-allow-origin").cloned();
    for path in [NOTES_PATH, ADMIN_PATH, ROOT] {
        let res = app.clone().oneshot(preflight(path)).await.unwrap();
        assert!(acao(&res).is_some(), "{path}");
    }
    for path in ["/notes/mcp", "/admin/mcp"] {
        let res = app.clone().oneshot(preflight(path)).await.unwrap();
        assert_eq!(acao(&res), None, "{path}");
    }
}

/// Sends one HTTP/1.1 request to `addr` and returns the status and body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-length: 0\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// Both resources over loopback, with one JWKS key source against a loopback authorization
/// server: its keys are discovered and fetched once for both layers.
#[cfg(feature = "jwks")]
#[tokio::test]
async fn one_shared_jwks_source_fetches_the_keys_once_for_both() {
    let (a, served) = TestAuthority::serve_new().await.unwrap();
    let keys = Arc::new(
        mcp_auth_jwks::JwksKeySource::builder()
            .issuer(a.issuer())
            .build()
            .unwrap(),
    );
    let issuer = a.issuer();
    let notes = layer(NOTES, &issuer, "notes:read", &keys, true);
    let admin = layer(ADMIN, &issuer, "admin:read", &keys, false);
    let app = app(&notes, &admin, metadata_routes([&notes, &admin]).unwrap());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let token = |aud: &str| a.token().aud(aud).scope("notes:read admin:read").sign();
    let (for_notes, for_admin) = (token(NOTES), token(ADMIN));
    assert_eq!(
        served.jwks_fetches(),
        0,
        "nothing loaded before the first request"
    );
    // The first request loads the keys; the other layer finds them loaded.
    assert_eq!(
        http(addr, "POST", "/notes/mcp", Some(&for_notes)).await,
        (200, "notes".to_owned())
    );
    assert_eq!(
        http(addr, "POST", "/admin/mcp", Some(&for_admin)).await,
        (200, "admin".to_owned())
    );
    assert_eq!(
        http(addr, "POST", "/admin/mcp", Some(&for_notes)).await.0,
        401
    );
    assert_eq!(
        http(addr, "POST", "/notes/mcp", Some(&for_admin)).await.0,
        401
    );
    for path in [NOTES_PATH, ROOT, ADMIN_PATH] {
        let (status, body) = http(addr, "GET", path, None).await;
        assert_eq!(status, 200, "{path}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let want = if path == ADMIN_PATH { ADMIN } else { NOTES };
        assert_eq!(v["resource"], want, "{path}");
    }
    // Fresh tokens (not in either verified-token cache) at both: still no fetch.
    let again = |aud: &str| {
        a.token()
            .aud(aud)
            .scope("notes:read admin:read")
            .subject("bob")
            .sign()
    };
    assert_eq!(
        http(addr, "POST", "/notes/mcp", Some(&again(NOTES)))
            .await
            .0,
        200
    );
    assert_eq!(
        http(addr, "POST", "/admin/mcp", Some(&again(ADMIN)))
            .await
            .0,
        200
    );
    assert_eq!(served.jwks_fetches(), 1, "one fetch for both resources");
    assert_eq!(
        served.metadata_fetches(),
        1,
        "one discovery for both resources"
    );
    server.abort();
}
