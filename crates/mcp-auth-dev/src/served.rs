//! [`ServedAuthority`]: a [`TestAuthority`] published over loopback HTTP.
//!
//! Serves, with axum on `127.0.0.1:<ephemeral>`:
//!
//! - `GET /.well-known/oauth-authorization-server` (RFC 8414) and
//!   `GET /.well-known/openid-configuration`; when the issuer has a path, the path-inserted
//!   (RFC 8414 §3.1) and path-appended (OIDC Discovery §4) forms instead;
//! - `GET /jwks`: the live JWKS (reflects [`TestAuthority::rotate`]/[`TestAuthority::retire`]).
//!
//! Fetches are counted so cache behaviour can be asserted, and the JWKS endpoint can be made
//! to fail on demand. **Not for production.**

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::TestAuthority;

struct ServeState {
    authority: TestAuthority,
    base_url: String,
    jwks_fetches: AtomicUsize,
    metadata_fetches: AtomicUsize,
    jwks_failing: AtomicBool,
    jwks_cache_control: RwLock<Option<String>>,
}

/// A running HTTP server publishing a [`TestAuthority`]'s metadata and JWKS.
///
/// Created by [`TestAuthority::serve`] or [`TestAuthority::serve_new`]. Dropping it (or
/// calling [`shutdown`](Self::shutdown)) stops the server.
pub struct ServedAuthority {
    /// The bound address (`127.0.0.1:<port>`).
    pub addr: SocketAddr,
    state: Arc<ServeState>,
    background: crate::background::Background,
}

impl fmt::Debug for ServedAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServedAuthority")
            .field("addr", &self.addr)
            .field("authority", &self.state.authority)
            .field("jwks_fetches", &self.jwks_fetches())
            .finish_non_exhaustive()
    }
}

impl ServedAuthority {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    #[must_use]
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// `http://127.0.0.1:PORT/jwks`.
    #[must_use]
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.state.base_url)
    }

    /// The URL of the RFC 8414 metadata document for the authority's issuer on this server.
    #[must_use]
    pub fn metadata_url(&self) -> String {
        let path = issuer_path(&self.state.authority.issuer());
        format!(
            "{}/.well-known/oauth-authorization-server{path}",
            self.state.base_url
        )
    }

    /// The served authority (shares keys with the one `serve` was called on).
    #[must_use]
    pub fn authority(&self) -> &TestAuthority {
        &self.state.authority
    }

    /// Number of `GET /jwks` requests received so far (including failed ones).
    #[must_use]
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Number of metadata document requests received so far.
    #[must_use]
    pub fn metadata_fetches(&self) -> usize {
        self.state.metadata_fetches.load(Ordering::SeqCst)
    }

    /// Resets both fetch counters to zero.
    pub fn reset_counters(&self) {
        self.state.jwks_fetches.store(0, Ordering::SeqCst);
        self.state.metadata_fetches.store(0, Ordering::SeqCst);
    }

    /// When `true`, `GET /jwks` answers `503 Service Unavailable` (still counted).
    pub fn set_jwks_failing(&self, failing: bool) {
        self.state.jwks_failing.store(failing, Ordering::SeqCst);
    }

    /// Sets (or clears) the `Cache-Control` header of JWKS responses, e.g. `"max-age=60"`.
    pub fn set_jwks_cache_control(&self, value: Option<&str>) {
        *self
            .state
            .jwks_cache_control
            .write()
            .unwrap_or_else(PoisonError::into_inner) = value.map(str::to_owned);
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.background.shutdown().await;
    }
}

/// The issuer's path without a trailing slash (`""` for a bare origin).
fn issuer_path(issuer: &str) -> String {
    url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

impl TestAuthority {
    /// Serves this authority's metadata and JWKS on `127.0.0.1:<ephemeral port>`.
    ///
    /// The metadata `issuer` is [`issuer()`](Self::issuer); `jwks_uri` and the endpoints point
    /// at the bound address. Use [`serve_new`](Self::serve_new) when the issuer should be the
    /// server's own URL.
    ///
    /// # Errors
    ///
    /// If binding the listener fails.
    pub async fn serve(&self) -> std::io::Result<ServedAuthority> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        serve_on(self.clone(), listener)
    }

    /// Binds `127.0.0.1:0` first, then creates an authority whose issuer is
    /// `http://127.0.0.1:PORT` and serves it.
    ///
    /// # Errors
    ///
    /// If binding fails, or (as `io::Error`) if key generation fails.
    pub async fn serve_new() -> std::io::Result<(Self, ServedAuthority)> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let authority = Self::try_new(format!("http://{addr}")).map_err(std::io::Error::other)?;
        let served = serve_on(authority.clone(), listener)?;
        Ok((authority, served))
    }
}

fn serve_on(authority: TestAuthority, listener: TcpListener) -> std::io::Result<ServedAuthority> {
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let path = issuer_path(&authority.issuer());
    let state = Arc::new(ServeState {
        authority,
        base_url,
        jwks_fetches: AtomicUsize::new(0),
        metadata_fetches: AtomicUsize::new(0),
        jwks_failing: AtomicBool::new(false),
        jwks_cache_control: RwLock::new(None),
    });
    let router = Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server{path}"),
            get(metadata),
        )
        .route(
            &format!("{path}/.well-known/openid-configuration"),
            get(metadata),
        )
        .route("/jwks", get(jwks))
        .with_state(Arc::clone(&state));
    Ok(ServedAuthority {
        addr,
        state,
        background: crate::background::Background::serve(listener, router),
    })
}

fn metadata_document(state: &ServeState) -> Value {
    let base = &state.base_url;
    json!({
        "issuer": state.authority.issuer(),
        "jwks_uri": format!("{base}/jwks"),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
    })
}

async fn metadata(State(state): State<Arc<ServeState>>) -> Response {
    state.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(metadata_document(&state)).into_response()
}

async fn jwks(State(state): State<Arc<ServeState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if state.jwks_failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "JWKS unavailable (test)").into_response();
    }
    let mut resp = axum::Json(state.authority.jwks()).into_response();
    let cc = state
        .jwks_cache_control
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(value) = cc.and_then(|v| HeaderValue::from_str(&v).ok()) {
        resp.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    resp
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// Minimal HTTP/1.1 GET over a fresh connection: (status, headers, body).
    pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8(buf).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    #[tokio::test]
    async fn serves_metadata_and_live_jwks() {
        let authority = TestAuthority::new("https://issuer.example");
        let served = authority.serve().await.unwrap();
        assert_eq!(served.base_url(), format!("http://{}", served.addr));

        let (status, _, body) =
            http_get(served.addr, "/.well-known/oauth-authorization-server").await;
        assert_eq!(status, 200);
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["issuer"], "https://issuer.example");
        assert_eq!(doc["jwks_uri"], served.jwks_uri());
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        let (status, _, body) = http_get(served.addr, "/.well-known/openid-configuration").await;
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), doc);
        assert_eq!(served.metadata_fetches(), 2);

        assert_eq!(served.jwks_fetches(), 0);
        let (status, head, body) = http_get(served.addr, "/jwks").await;
        assert_eq!(status, 200);
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json")
        );
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            authority.jwks()
        );
        assert_eq!(served.jwks_fetches(), 1);

        // Live: rotation and retirement show up.
        let kid = authority.rotate("ES256");
        authority.retire("rs256-1");
        let (_, _, body) = http_get(served.addr, "/jwks").await;
        let jwks: Value = serde_json::from_str(&body).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert!(kids.contains(&kid.as_str()));
        assert!(!kids.contains(&"rs256-1"));
        assert_eq!(served.jwks_fetches(), 2);

        served.set_jwks_cache_control(Some("max-age=60"));
        let (_, head, _) = http_get(served.addr, "/jwks").await;
        assert!(
            head.to_ascii_lowercase()
                .contains("cache-control: max-age=60")
        );
        served.set_jwks_failing(true);
        let (status, _, _) = http_get(served.addr, "/jwks").await;
        assert_eq!(status, 503);
        assert_eq!(served.jwks_fetches(), 4);
        served.reset_counters();
        assert_eq!(served.jwks_fetches(), 0);

        let (status, _, _) = http_get(served.addr, "/nope").await;
        assert_eq!(status, 404);

        let addr = served.addr;
        served.shutdown().await;
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn serve_new_uses_bound_address_as_issuer() {
        let (authority, served) = TestAuthority::serve_new().await.unwrap();
        assert_eq!(authority.issuer(), served.base_url());
        assert_eq!(
            served.metadata_url(),
            format!(
                "{}/.well-known/oauth-authorization-server",
                served.base_url()
            )
        );
        let (status, _, body) =
            http_get(served.addr, "/.well-known/oauth-authorization-server").await;
        assert_eq!(status, 200);
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["issuer"], served.base_url());
        let token = authority.token().sign();
        assert!(token.contains('.'));
    }

    #[tokio::test]
    async fn issuer_with_path_uses_path_inserted_metadata() {
        let authority = TestAuthority::new("https://issuer.example/tenant-a");
        let served = authority.serve().await.unwrap();
        let (status, _, body) = http_get(
            served.addr,
            "/.well-known/oauth-authorization-server/tenant-a",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["issuer"],
            "https://issuer.example/tenant-a"
        );
        let (status, _, _) =
            http_get(served.addr, "/tenant-a/.well-known/openid-configuration").await;
        assert_eq!(status, 200);
        let (status, _, _) = http_get(served.addr, "/.well-known/oauth-authorization-server").await;
        assert_eq!(status, 404);
    }
}
