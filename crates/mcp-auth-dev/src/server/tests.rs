//! Flow tests for the development authorization server (in-process with `oneshot`, plus
//! loopback servers for Client ID Metadata Documents and `serve`).

use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use url::Url;

use super::*;

const RESOURCE: &str = "https://mcp.example.test/mcp";
const REDIRECT: &str = "http://127.0.0.1:4567/callback";
const ISSUER: &str = "http://as.test";
// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn builder() -> DevAuthorizationServerBuilder {
    DevAuthorizationServer::builder()
        .issuer(ISSUER)
        .auto_approve(true)
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn location(&self) -> Url {
        let loc = self.headers.get("location").expect("Location header");
        Url::parse(loc.to_str().unwrap()).unwrap()
    }
    fn redirect_param(&self, name: &str) -> Option<String> {
        self.location()
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
    /// Asserts an RFC 6749 §5.2 error.
    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.json()["error"], code, "{}", self.text());
        assert_eq!(self.headers["cache-control"], "no-store");
    }
    /// Asserts an error redirect to REDIRECT with state and iss.
    fn assert_redirect_error(&self, code: &str) {
        assert_eq!(self.status, StatusCode::FOUND, "{}", self.text());
        let loc = self.location();
        assert!(loc.as_str().starts_with(REDIRECT), "{loc}");
        assert_eq!(self.redirect_param("error").as_deref(), Some(code), "{loc}");
        assert_eq!(self.redirect_param("state").as_deref(), Some("xyz"));
        assert_eq!(self.redirect_param("iss").as_deref(), Some(ISSUER));
        assert!(self.redirect_param("code").is_none());
    }
    /// Asserts a 400 page without redirect.
    fn assert_error_page(&self, code: &str) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{}", self.text());
        assert!(self.headers.get("location").is_none());
        assert!(self.text().contains(code), "{}", self.text());
    }
}

async fn send(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Resp {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_form(
    app: &Router,
    uri: &str,
    pairs: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Resp {
    let mut req = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let cred = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        req = req.header("authorization", format!("Basic {cred}"));
    }
    send(app, req.body(Body::from(form(pairs))).unwrap()).await
}

async fn post_json(app: &Router, uri: &str, body: &Value) -> Resp {
    send(
        app,
        Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

use base64::Engine as _;

async fn register_public(app: &Router) -> String {
    let r = post_json(
        app,
        "/register",
        &json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "Test client",
        }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    assert!(v.get("client_secret").is_none());
    v["client_id"].as_str().unwrap().to_owned()
}

/// `/authorize?...` with defaults, `set` overriding or adding, `omit` removing.
fn authorize_uri(client_id: &str, set: &[(&str, &str)], omit: &[&str]) -> String {
    let challenge = pkce_challenge_s256(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
        ("scope", "mcp:read"),
        ("state", "xyz"),
    ];
    params.retain(|(k, _)| !omit.contains(k) && !set.iter().any(|(s, _)| s == k));
    params.extend_from_slice(set);
    format!("/authorize?{}", form(&params))
}

async fn get_code(app: &Router, client_id: &str) -> String {
    let r = get(app, &authorize_uri(client_id, &[], &[])).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    assert!(r.location().as_str().starts_with(REDIRECT));
    assert_eq!(r.redirect_param("state").as_deref(), Some("xyz"));
    assert_eq!(r.redirect_param("iss").as_deref(), Some(ISSUER));
    r.redirect_param("code").unwrap()
}

/// A code for `mcp:read offline_access`: its exchange also returns a refresh token.
async fn get_offline_code(app: &Router, client_id: &str) -> String {
    let r = get(
        app,
        &authorize_uri(client_id, &[("scope", "mcp:read offline_access")], &[]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    r.redirect_param("code").unwrap()
}

async fn exchange(app: &Router, client_id: &str, code: &str, verifier: &str) -> Resp {
    post_form(
        app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_id", client_id),
            ("resource", RESOURCE),
        ],
        None,
    )
    .await
}

async fn refresh(app: &Router, client_id: &str, token: &str) -> Resp {
    post_form(
        app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ],
        None,
    )
    .await
}

/// Verifies a JWT against the server's JWKS with jsonwebtoken; returns (header, claims).
fn verify_jwt(server: &DevAuthorizationServer, token: &str, aud: &str) -> (Value, Value) {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let header = decode_header(token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(server.jwks()).unwrap();
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[server.issuer()]);
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let data = decode::<Value>(token, &key, &v).unwrap();
    (serde_json::to_value(&header).unwrap(), data.claims)
}

#[tokio::test]
async fn metadata_and_jwks() {
    let server = builder().build().unwrap();
    let app = server.router();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::OK);
        let m = r.json();
        assert_eq!(m["issuer"], ISSUER);
        assert_eq!(m["authorization_endpoint"], "http://as.test/authorize");
        assert_eq!(m["token_endpoint"], "http://as.test/token");
        assert_eq!(m["registration_endpoint"], "http://as.test/register");
        assert_eq!(m["jwks_uri"], "http://as.test/jwks");
        assert_eq!(m["response_types_supported"], json!(["code"]));
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            json!(["none", "client_secret_post", "client_secret_basic"])
        );
        assert_eq!(m["scopes_supported"], json!(["mcp:read", "mcp:write"]));
        assert_eq!(m["client_id_metadata_document_supported"], true);
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert!(
            m["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("refresh_token"))
        );
    }
    let r = get(&app, "/jwks").await;
    let kids: Vec<String> = r.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, ["rs256-1", "es256-1"]);

    let new = server.rotate_keys().unwrap();
    assert_eq!(new, ["rs256-2", "es256-2"]);
    assert_eq!(
        get(&app, "/jwks").await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // The admin endpoint is off by default.
    let r = post_form(&app, "/admin/rotate", &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let admin = builder().admin_endpoints(true).build().unwrap();
    let r = post_form(&admin.router(), "/admin/rotate", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["kids"], json!(["rs256-2", "es256-2"]));
    // CORS for browser clients on metadata.
    let r = send(
        &app,
        Request::get("/.well-known/oauth-authorization-server")
            .header("origin", "http://localhost:6274")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn issuer_with_path_mounts_under_it() {
    let server = DevAuthorizationServer::builder()
        .issuer("http://127.0.0.1:3000/auth")
        .build()
        .unwrap();
    let app = server.router();
    assert_eq!(
        server.metadata_url(),
        "http://127.0.0.1:3000/.well-known/oauth-authorization-server/auth"
    );
    let r = get(&app, "/.well-known/oauth-authorization-server/auth").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["token_endpoint"],
        "http://127.0.0.1:3000/auth/token"
    );
    assert_eq!(
        get(&app, "/auth/.well-known/openid-configuration")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(get(&app, "/auth/jwks").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/jwks").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn builder_rejects_bad_config() {
    assert!(matches!(
        DevAuthorizationServer::builder().build(),
        Err(DevServerError::MissingIssuer)
    ));
    for bad in ["not a url", "ftp://x/", "https://x/?q", "https://x/#f"] {
        assert!(matches!(
            DevAuthorizationServer::builder().issuer(bad).build(),
            Err(DevServerError::InvalidIssuer(_))
        ));
    }
    assert!(matches!(
        builder().scopes_supported(["a b"]).build(),
        Err(DevServerError::InvalidScope(_))
    ));
    assert!(matches!(
        builder().signing_alg("HS256").build(),
        Err(DevServerError::UnsupportedSigningAlg(_))
    ));
}

#[tokio::test]
async fn happy_path_dcr_pkce_refresh() {
    let server = builder()
        .scopes_supported(["mcp:read", "mcp:write"])
        .build()
        .unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let code = get_offline_code(&app, &client_id).await;
    let r = exchange(&app, &client_id, &code, VERIFIER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["cache-control"], "no-store");
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "mcp:read");
    let (header, claims) = verify_jwt(&server, t["access_token"].as_str().unwrap(), RESOURCE);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["sub"], "dev-user");
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["scope"], "mcp:read");
    assert!(claims["jti"].is_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    // Refresh: new tokens, rotated refresh token, narrowing allowed, widening refused.
    let rt1 = t["refresh_token"].as_str().unwrap();
    let r = refresh(&app, &client_id, rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t2 = r.json();
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    verify_jwt(&server, t2["access_token"].as_str().unwrap(), RESOURCE);
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2),
            ("client_id", &client_id),
            ("scope", "mcp:read mcp:write"),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
}

#[tokio::test]
async fn es256_signing() {
    let server = builder().signing_alg("ES256").build().unwrap();
    let app = server.router();
    server.register_public_client("pub", &[REDIRECT]);
    let code = get_code(&app, "pub").await;
    let t = exchange(&app, "pub", &code, VERIFIER).await.json();
    let (header, _) = verify_jwt(&server, t["access_token"].as_str().unwrap(), RESOURCE);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "es256-1");
}

#[tokio::test]
async fn pkce_missing_or_plain_is_refused() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let r = get(&app, &authorize_uri(&client_id, &[], &["code_challenge"])).await;
    r.assert_redirect_error("invalid_request");
    let r = get(
        &app,
        &authorize_uri(&client_id, &[], &["code_challenge_method"]),
    )
    .await;
    r.assert_redirect_error("invalid_request");
    let r = get(
        &app,
        &authorize_uri(
            &client_id,
            &[
                ("code_challenge", VERIFIER),
                ("code_challenge_method", "plain"),
            ],
            &[],
        ),
    )
    .await;
    r.assert_redirect_error("invalid_request");
    assert!(
        r.redirect_param("error_description")
            .unwrap()
            .contains("plain")
    );
    let r = get(
        &app,
        &authorize_uri(&client_id, &[("code_challenge", "short")], &[]),
    )
    .await;
    r.assert_redirect_error("invalid_request");
}

#[tokio::test]
async fn wrong_or_missing_verifier_is_invalid_grant() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    let other = "x".repeat(43);
    exchange(&app, &client_id, &code, &other)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // The code was burnt by the failed attempt.
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    let code = get_code(&app, &client_id).await;
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn redirect_uri_mismatch() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    // At /authorize: an error page, never a redirect to the unregistered URI.
    for bad in [
        "http://127.0.0.1:4567/callback/",
        "http://127.0.0.1:4568/callback",
        "https://evil.example/callback",
    ] {
        let r = get(
            &app,
            &authorize_uri(&client_id, &[("redirect_uri", bad)], &[]),
        )
        .await;
        r.assert_error_page("invalid_request");
    }
    // Unknown client: page too.
    let r = get(&app, &authorize_uri("nope", &[], &[])).await;
    r.assert_error_page("invalid_client");
    let r = get(&app, &authorize_uri(&client_id, &[], &["client_id"])).await;
    r.assert_error_page("invalid_request");

    // At /token: redirect_uri must equal the authorized one.
    let code = get_code(&app, &client_id).await;
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:4567/other"),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn loopback_any_port_option() {
    let app = builder()
        .loopback_redirect_any_port(true)
        .build()
        .unwrap()
        .router();
    let client_id = register_public(&app).await;
    let other_port = "http://127.0.0.1:9999/callback";
    let r = get(
        &app,
        &authorize_uri(&client_id, &[("redirect_uri", other_port)], &[]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert!(r.location().as_str().starts_with(other_port));
}

#[tokio::test]
async fn resource_rules() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    get(&app, &authorize_uri(&client_id, &[], &["resource"]))
        .await
        .assert_redirect_error("invalid_target");
    for bad in ["mcp.example.test/mcp", "https://mcp.example.test/mcp#frag"] {
        get(&app, &authorize_uri(&client_id, &[("resource", bad)], &[]))
            .await
            .assert_redirect_error("invalid_target");
    }
    let two = format!(
        "{}&resource=https%3A%2F%2Fother.example%2F",
        authorize_uri(&client_id, &[], &[])
    );
    get(&app, &two)
        .await
        .assert_redirect_error("invalid_target");

    // A different resource at /token than the one authorized.
    let code = get_code(&app, &client_id).await;
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
            ("resource", "https://other.example/mcp"),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_target");

    // Allow-listed resources.
    let app = builder().resources([RESOURCE]).build().unwrap().router();
    let client_id = register_public(&app).await;
    get(
        &app,
        &authorize_uri(
            &client_id,
            &[("resource", "https://other.example/mcp")],
            &[],
        ),
    )
    .await
    .assert_redirect_error("invalid_target");
    get_code(&app, &client_id).await;
}

#[tokio::test]
async fn other_authorize_errors_redirect() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    get(
        &app,
        &authorize_uri(&client_id, &[("response_type", "token")], &[]),
    )
    .await
    .assert_redirect_error("unsupported_response_type");
    get(&app, &authorize_uri(&client_id, &[("scope", "admin")], &[]))
        .await
        .assert_redirect_error("invalid_scope");
    // Repeated parameter: not trusted enough to redirect.
    let dup = format!("{}&state=again", authorize_uri(&client_id, &[], &[]));
    get(&app, &dup).await.assert_error_page("invalid_request");
}

#[tokio::test]
async fn refresh_token_only_with_offline_access() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    assert!(t["access_token"].is_string());
    assert!(t.get("refresh_token").is_none(), "{t}");
    let code = get_offline_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    assert!(t["refresh_token"].is_string(), "{t}");
    assert_eq!(
        t["scope"], "mcp:read",
        "offline_access is not an access-token scope"
    );
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_offline_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    let rt = t["refresh_token"].as_str().unwrap();
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // The refresh token issued from the code is revoked.
    refresh(&app, &client_id, rt)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Codes are bound to their client.
    let other = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    exchange(&app, &other, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn expired_code_is_refused() {
    let app = builder()
        .code_lifetime(Duration::ZERO)
        .build()
        .unwrap()
        .router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // With an injected clock: valid at 59 s, expired at 60 s.
    let now = Arc::new(AtomicI64::new(1_700_000_000));
    let clock = Arc::clone(&now);
    let app = builder()
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .unwrap()
        .router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    now.fetch_add(59, Ordering::SeqCst);
    assert_eq!(
        exchange(&app, &client_id, &code, VERIFIER).await.status,
        StatusCode::OK
    );
    let code = get_code(&app, &client_id).await;
    now.fetch_add(60, Ordering::SeqCst);
    let r = exchange(&app, &client_id, &code, VERIFIER).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn refresh_token_reuse_after_rotation() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_offline_code(&app, &client_id).await;
    let rt1 = exchange(&app, &client_id, &code, VERIFIER).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = refresh(&app, &client_id, &rt1).await;
    assert_eq!(r.status, StatusCode::OK);
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    // Old token again: refused, and the whole grant is revoked.
    refresh(&app, &client_id, &rt1)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    refresh(&app, &client_id, &rt2)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    refresh(&app, &client_id, "garbage")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn dcr_rules() {
    let app = builder()
        .scopes_supported(["mcp:read", "mcp:write", "mcp:admin"])
        .anonymous_client_scopes(["mcp:read", "mcp:write"])
        .build()
        .unwrap()
        .router();
    let r = post_json(
        &app,
        "/register",
        &json!({"redirect_uris": ["http://app.example.com/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri");
    for uri in [
        "http://[::1]:5000/cb",
        "http://localhost/cb",
        "https://app.example.com/cb",
    ] {
        let r = post_json(
            &app,
            "/register",
            &json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{uri}: {}", r.text());
    }
    // Scope intersection with the anonymous allow-list.
    let r = post_json(
        &app,
        "/register",
        &json!({"redirect_uris": [REDIRECT], "scope": "mcp:write mcp:admin"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v = r.json();
    assert_eq!(v["scope"], "mcp:write");
    // Default auth method client_secret_basic: a secret is issued.
    assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
    assert!(v["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(v["client_secret_expires_at"], 0);
    // Without scope: the whole allow-list.
    let v = post_json(&app, "/register", &json!({"redirect_uris": [REDIRECT]}))
        .await
        .json();
    assert_eq!(v["scope"], "mcp:read mcp:write");
    // Not JSON.
    let r = send(
        &app,
        Request::post("/register")
            .header("content-type", "text/plain")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_client_metadata");
    let r = send(
        &app,
        Request::post("/register")
            .header("content-type", "application/json")
            .body(Body::from("{"))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_client_metadata");
}

#[tokio::test]
async fn confidential_client_and_client_credentials() {
    let app = builder().build().unwrap().router();
    let r = post_json(
        &app,
        "/register",
        &json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    let v = r.json();
    let id = v["client_id"].as_str().unwrap().to_owned();
    let secret = v["client_secret"].as_str().unwrap().to_owned();

    let cc = |extra: Vec<(&'static str, String)>| {
        let mut p = vec![("grant_type", "client_credentials".to_owned())];
        p.extend(extra);
        p
    };
    let post = |pairs: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
        let app = app.clone();
        async move {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let basic = basic.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
            post_form(&app, "/token", &refs, basic).await
        }
    };
    // client_secret_post.
    let r = post(
        cc(vec![
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
            ("resource", RESOURCE.to_owned()),
        ]),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json().get("refresh_token").is_none());
    // client_secret_basic works too.
    let r = post(
        cc(vec![("resource", RESOURCE.to_owned())]),
        Some((id.clone(), secret.clone())),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Wrong secret, unknown client, no secret: 401 invalid_client.
    post(
        cc(vec![("resource", RESOURCE.to_owned())]),
        Some((id.clone(), "wrong".to_owned())),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let r = post(
        cc(vec![("resource", RESOURCE.to_owned())]),
        Some(("nobody".to_owned(), "x".to_owned())),
    )
    .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(r.headers.contains_key("www-authenticate"));
    post(
        cc(vec![
            ("client_id", id.clone()),
            ("resource", RESOURCE.to_owned()),
        ]),
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Two authentication methods at once.
    post(
        cc(vec![
            ("client_secret", secret.clone()),
            ("resource", RESOURCE.to_owned()),
        ]),
        Some((id.clone(), secret.clone())),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    // resource is required.
    post(cc(vec![]), Some((id.clone(), secret.clone())))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_target");
    // A public client cannot use client_credentials.
    let public = register_public(&app).await;
    post(
        cc(vec![
            ("client_id", public),
            ("resource", RESOURCE.to_owned()),
        ]),
        None,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    // Unknown grant type; missing grant type; not a form.
    post(
        vec![("grant_type", "password".to_owned())],
        Some((id.clone(), secret.clone())),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    post(vec![], Some((id, secret)))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let r = send(
        &app,
        Request::post("/token")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn consent_page_flow() {
    let server = builder().auto_approve(false).build().unwrap();
    let app = server.router();
    let r = post_json(
        &app,
        "/register",
        &json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "client_name": "<script>alert(1)</script> Evil",
        }),
    )
    .await;
    let client_id = r.json()["client_id"].as_str().unwrap().to_owned();

    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let html = page.text();
    assert!(html.contains(&format!(
        "An MCP client is asking to access <strong>{RESOURCE}</strong> on your behalf"
    )));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Evil"));
    assert!(!html.contains("<script>"));
    assert!(html.contains("127.0.0.1:4567"));
    assert!(html.contains("mcp:read"));
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let decide = |decision: &'static str, cookie: Option<String>, id: String| {
        let app = app.clone();
        async move {
            let mut req = Request::post("/authorize/decision")
                .header("content-type", "application/x-www-form-urlencoded");
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let body = form(&[("request_id", &id), ("decision", decision)]);
            send(&app, req.body(Body::from(body)).unwrap()).await
        }
    };
    // Without the consent cookie (cross-site forgery): refused, and the request is consumed.
    let r = decide("approve", None, request_id.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.headers.get("location").is_none());
    let r = decide("approve", Some(cookie.clone()), request_id.clone()).await;
    r.assert_error_page("invalid_request");

    // Approve.
    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    let html = page.text();
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = decide("approve", Some(cookie.clone()), request_id.clone()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.redirect_param("state").as_deref(), Some("xyz"));
    assert_eq!(r.redirect_param("iss").as_deref(), Some(ISSUER));
    let code = r.redirect_param("code").unwrap();
    assert_eq!(
        exchange(&app, &client_id, &code, VERIFIER).await.status,
        StatusCode::OK
    );
    // The request id is single-use.
    decide("approve", Some(cookie), request_id)
        .await
        .assert_error_page("invalid_request");

    // Deny.
    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    let html = page.text();
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = decide("deny", Some(cookie), request_id).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.redirect_param("error").as_deref(), Some("access_denied"));
    assert_eq!(r.redirect_param("state").as_deref(), Some("xyz"));
    assert_eq!(r.redirect_param("iss").as_deref(), Some(ISSUER));
}

/// Serves `make(<document URL>)` at `http://127.0.0.1:PORT/client.json`.
async fn serve_cimd(make: impl Fn(&str) -> Value) -> (String, RunningDoc) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let doc = make(&url);
    let app = Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, RunningDoc(task))
}

struct RunningDoc(tokio::task::JoinHandle<()>);
impl Drop for RunningDoc {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test]
async fn cimd_happy_path() {
    let (client_id, _doc) = serve_cimd(|url| {
        json!({
            "client_id": url,
            "client_name": "CIMD Client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        })
    })
    .await;
    let server = builder().allow_loopback_cimd(true).build().unwrap();
    let app = server.router();
    let code = get_code(&app, &client_id).await;
    let r = exchange(&app, &client_id, &code, VERIFIER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, claims) = verify_jwt(
        &server,
        r.json()["access_token"].as_str().unwrap(),
        RESOURCE,
    );
    assert_eq!(claims["client_id"], client_id);

    // Consent page names the document's host.
    let app = builder()
        .auto_approve(false)
        .allow_loopback_cimd(true)
        .build()
        .unwrap()
        .router();
    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("CIMD Client"));
    assert!(page.text().contains("identified by its metadata document"));

    // Without allow_loopback_cimd an http loopback client_id is refused (page, no redirect).
    let app = builder().build().unwrap().router();
    get(&app, &authorize_uri(&client_id, &[], &[]))
        .await
        .assert_error_page("invalid_client");
}

#[tokio::test]
async fn cimd_client_id_mismatch_is_refused() {
    let (client_id, _doc) = serve_cimd(|_url| {
        json!({
            "client_id": "https://someone-else.example/client.json",
            "client_name": "Impostor",
            "redirect_uris": [REDIRECT],
        })
    })
    .await;
    let app = builder()
        .allow_loopback_cimd(true)
        .build()
        .unwrap()
        .router();
    let r = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    r.assert_error_page("invalid_client");
    // Also at the token endpoint.
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn cimd_fetch_failures() {
    let app = builder()
        .allow_loopback_cimd(true)
        .build()
        .unwrap()
        .router();
    // Nothing listening on the port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/client.json", listener.local_addr().unwrap());
    drop(listener);
    get(&app, &authorize_uri(&dead, &[], &[]))
        .await
        .assert_error_page("invalid_client");
    // Too large.
    let (big, _doc) = serve_cimd(
        |url| json!({"client_id": url, "redirect_uris": [REDIRECT], "pad": "x".repeat(70 * 1024)}),
    )
    .await;
    let r = get(&app, &authorize_uri(&big, &[], &[])).await;
    r.assert_error_page("invalid_client");
    assert!(r.text().contains("too large"));
}

#[tokio::test]
async fn serve_over_loopback() {
    let running = DevAuthorizationServer::builder()
        .auto_approve(true)
        .serve()
        .await
        .unwrap();
    let base = running.base_url();
    assert_eq!(running.issuer(), base);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    assert_eq!(meta["issuer"], base);
    let reg: Value = http
        .post(meta["registration_endpoint"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap();
    let resp = http
        .get(format!("{base}{}", authorize_uri(client_id, &[], &[])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tok: Value = http
        .post(meta["token_endpoint"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
        ]))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let (_, claims) = verify_jwt(
        running.server(),
        tok["access_token"].as_str().unwrap(),
        RESOURCE,
    );
    assert_eq!(claims["iss"], base);
    running.shutdown().await;
}
