//! What the identity-provider tests share (`tests/providers_*.rs`):
//!
//! - [`Fixture`]: a token written as the provider's documentation shows it (header and
//!   claims, copied as JSON), re-signed by the test key, its time claims moved to now with
//!   the documented lifetime kept;
//! - [`ProviderServer`]: a loopback server on `127.0.0.1` publishing the test key at the
//!   provider's own discovery and JWKS paths, counting requests per path;
//! - [`provider_jwk`]: the test key's public JWK under the provider's `kid`, with the members
//!   the provider's JWKS carries (`x5t`, `issuer`, ...);
//! - [`send_cached`]: one token through the real layer until the verified-token cache answers
//!   it, every outcome asserted equal.
//!
//! A test file uses it as `mod common; use common::providers::*;`.

use super::{Outcome, bearer, send};
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use mcp_auth::McpAuthLayer;
use mcp_auth_dev::TestAuthority;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The key every fixture is re-signed with (its issuer is never used: fixtures carry their
/// own `iss`).
pub(crate) fn signer() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new("https://fixtures.invalid"))
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The test key's public RSA JWK (`kty`, `n`, `e`) published as `kid`, with `extra` members
/// (`use`, `alg`, `x5t`, `issuer`, ...) as the provider's JWKS shows them. Tokens signed by
/// a [`Fixture`] with this `kid` verify against it. `x5c` is left out: the test key has no
/// certificate, and the validator reads only the JWK's own key members.
pub(crate) fn provider_jwk(kid: &str, extra: Value) -> Value {
    let jwks = signer().jwks();
    let rsa = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["alg"] == "RS256"))
        .expect("the test authority has an RS256 key");
    let mut jwk = Map::new();
    jwk.insert("kty".into(), json!("RSA"));
    jwk.insert("kid".into(), json!(kid));
    jwk.insert("n".into(), rsa["n"].clone());
    jwk.insert("e".into(), rsa["e"].clone());
    if let Value::Object(extra) = extra {
        jwk.extend(extra);
    }
    Value::Object(jwk)
}

/// A token as a provider's documentation shows it. [`sign`](Self::sign) re-signs it with the
/// test key (RS256; the header's `kid` is kept, so the JWKS must publish the key under it,
/// see [`provider_jwk`]) after moving `iat`, `nbf`, `exp` and `auth_time` so that the token
/// was issued [`age`](Self::issued_ago) seconds ago (30 by default) and keeps its
/// documented lifetime (`exp - iat`).
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    age: i64,
}

impl Fixture {
    /// `header` and `claims` as documented (JSON objects).
    pub(crate) fn new(header: Value, claims: Value) -> Self {
        let (Value::Object(header), Value::Object(claims)) = (header, claims) else {
            panic!("a fixture's header and claims are JSON objects");
        };
        Self {
            header,
            claims,
            age: 30,
        }
    }

    /// Sets or replaces a claim.
    pub(crate) fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// Removes a claim.
    pub(crate) fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets or replaces a header parameter.
    pub(crate) fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.to_owned(), value);
        self
    }

    /// Removes a header parameter.
    pub(crate) fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Issued `secs` seconds ago (time claims moved together, lifetime kept).
    pub(crate) fn issued_ago(mut self, secs: i64) -> Self {
        self.age = secs;
        self
    }

    /// Expired: issued a documented lifetime plus five minutes ago, so `exp` is past the
    /// 60 s leeway.
    pub(crate) fn expired(self) -> Self {
        let lifetime = self.lifetime();
        self.issued_ago(lifetime + 300)
    }

    /// The documented lifetime `exp - iat` (one hour if either is missing).
    pub(crate) fn lifetime(&self) -> i64 {
        match (self.num("exp"), self.num("iat")) {
            (Some(exp), Some(iat)) => exp - iat,
            _ => 3600,
        }
    }

    /// A claim as written.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    fn num(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }

    /// The claims as they will be signed (time claims moved to now).
    pub(crate) fn claims_now(&self) -> Map<String, Value> {
        let iat_doc = self.num("iat").or_else(|| self.num("nbf"));
        let shift = iat_doc.map_or(0, |iat| now() - self.age - iat);
        let mut claims = self.claims.clone();
        for name in ["iat", "nbf", "exp", "auth_time"] {
            if let Some(t) = self.num(name) {
                claims.insert(name.to_owned(), json!(t + shift));
            }
        }
        claims
    }

    /// The compact JWS: this header and these claims (time moved to now), signed RS256 by the
    /// test key.
    pub(crate) fn sign(&self) -> String {
        let mut b = signer().token();
        for name in ["iss", "sub", "client_id", "iat", "exp", "jti"] {
            b = b.without_claim(name);
        }
        for (k, v) in self.claims_now() {
            b = b.claim(&k, v);
        }
        b = b.without_header("typ");
        for (k, v) in &self.header {
            if k != "alg" {
                b = b.header(k, v.clone());
            }
        }
        b.sign()
    }
}

/// A loopback HTTP server (`127.0.0.1:<ephemeral>`) answering `GET` on fixed paths with JSON
/// documents, and 404 elsewhere. Requests are counted per path. Stops when dropped.
#[derive(Debug)]
pub(crate) struct ProviderServer {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: JoinHandle<()>,
}

impl ProviderServer {
    /// Binds, then serves the documents `routes(base_url)` returns as `(path, document)`
    /// (`base_url` is `http://127.0.0.1:PORT`, no trailing slash, so documents can point at
    /// the server itself).
    pub(crate) async fn start(routes: impl FnOnce(&str) -> Vec<(String, Value)>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let docs: HashMap<String, Value> = routes(&base).into_iter().collect();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let state = Arc::new(Served {
            docs,
            hits: Arc::clone(&hits),
        });
        let app = Router::new().fallback(serve_doc).with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, hits, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// `base_url` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many requests `path` has had (answered or not).
    pub(crate) fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Every path requested so far, with its count (sorted), for failure messages.
    pub(crate) fn all_hits(&self) -> Vec<(String, usize)> {
        let mut v: Vec<_> = self
            .hits
            .lock()
            .unwrap()
            .iter()
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        v.sort();
        v
    }
}

impl Drop for ProviderServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Served {
    docs: HashMap<String, Value>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

async fn serve_doc(State(state): State<Arc<Served>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    match state.docs.get(&path) {
        Some(doc) if req.method() == http::Method::GET => axum::Json(doc.clone()).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Sends `token` through `layer` three times: the first request validates it, the second
/// validates it again and admits it to the verified-token cache (admission on second use),
/// the third is answered from the cache. A refused token is never cached and is refused
/// each time. Asserts that all outcomes agree on status, challenge, subject, client and
/// scopes, that an accepted token was cached, and returns the first outcome.
pub(crate) async fn send_cached(layer: &McpAuthLayer, token: &str) -> Outcome {
    let first = send(layer.clone(), bearer(token)).await;
    let second = send(layer.clone(), bearer(token)).await;
    let cached = layer.token_cache_len();
    let third = send(layer.clone(), bearer(token)).await;
    for (n, o) in [(2, &second), (3, &third)] {
        assert_eq!(first.status, o.status, "request {n}");
        assert_eq!(first.challenge, o.challenge, "request {n}");
        assert_eq!(first.body, o.body, "request {n}");
    }
    if first.status == StatusCode::OK {
        assert!(cached >= 1, "an accepted token is admitted to the cache");
    }
    first
}

/// Asserts `o` is the accepted echo: 200, inner called once, and the subject, client id and
/// scopes (in `ScopeSet` order, space-separated) the `AuthContext` carried.
pub(crate) fn assert_accepted(o: &Outcome, sub: &str, client_id: Option<&str>, scopes: &str) {
    assert_eq!(o.status, StatusCode::OK, "challenge: {:?}", o.challenge);
    assert_eq!(o.calls, 1);
    assert_eq!(o.body["sub"], json!(sub));
    assert_eq!(o.body["client_id"], json!(client_id));
    assert_eq!(o.body["scopes"], json!(scopes));
}

/// Asserts `o` is a 401 `invalid_token` whose challenge carries `description`, the inner
/// service not called.
pub(crate) fn assert_invalid_token(o: &Outcome, description: &str) {
    assert_eq!(o.status, StatusCode::UNAUTHORIZED, "body: {}", o.body);
    assert_eq!(o.calls, 0, "inner service must not be called");
    let challenge = o.challenge.as_deref().expect("a challenge");
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"error_description="{description}""#)),
        "{challenge}"
    );
    assert_eq!(
        o.error.as_ref().map(mcp_auth::AuthError::kind),
        Some(mcp_auth::ErrorKind::InvalidToken)
    );
}
