//! Flow tests for the development authorization server (in-process with `oneshot`, plus
//! loopback servers for Client ID Metadata Documents and `serve`), by endpoint; the shared
//! helpers are here.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use url::Url;

use super::*;

mod authorize;
mod cimd;
mod dpop;
mod flow;
mod introspect;
mod limit;
mod metadata;
mod register;
mod revoke;
mod token;

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

const RS_ID: &str = "mcp-rs";
const RS_SECRET: &str = "rs-s3cret-value";

/// The test builder with a known resource-server client and `format` tokens.
fn rs_builder(format: TokenFormat) -> DevAuthorizationServerBuilder {
    builder()
        .token_format(format)
        .resource_server_client(RS_ID, RS_SECRET)
}

/// How a request to `/introspect` authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
}

/// `POST /introspect` for `token` (plus `extra` parameters).
async fn introspect_with(
    app: &Router,
    token: &str,
    auth: Auth<'_>,
    extra: &[(&str, &str)],
) -> Resp {
    let mut pairs = vec![("token", token)];
    pairs.extend_from_slice(extra);
    let basic = match auth {
        Auth::Basic(id, secret) => Some((id, secret)),
        Auth::Post(id, secret) => {
            pairs.extend([("client_id", id), ("client_secret", secret)]);
            None
        }
        Auth::None => None,
    };
    post_form(app, "/introspect", &pairs, basic).await
}

/// Introspects `token` as the resource-server client; asserts 200 and returns the answer.
async fn introspect(app: &Router, token: &str) -> Value {
    let r = introspect_with(app, token, Auth::Basic(RS_ID, RS_SECRET), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["cache-control"], "no-store");
    r.json()
}

/// Asserts the RFC 7662 §2.2 inactive answer, byte for byte: `{"active":false}` and nothing
/// more.
async fn assert_inactive(app: &Router, token: &str) {
    let r = introspect_with(app, token, Auth::Basic(RS_ID, RS_SECRET), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), r#"{"active":false}"#);
}

/// A public client's token response for `mcp:read offline_access` (access and refresh).
async fn offline_tokens(app: &Router, client_id: &str) -> Value {
    let code = get_offline_code(app, client_id).await;
    let r = exchange(app, client_id, &code, VERIFIER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name} in {v}"))
}
