//! A development OAuth 2.1 authorization server for MCP: [`DevAuthorizationServer`].
//!
//! **Not for production.** All state (clients, codes, refresh tokens, keys) lives in memory,
//! there are no user accounts (every approval is for one configured subject), and
//! registration is open to anyone who can reach the server.
//!
//! It follows the authorization-server side of the MCP authorization specification
//! (2025-11-25 / 2026-07-28):
//!
//! | endpoint | |
//! |---|---|
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata (also `/.well-known/openid-configuration`) |
//! | `GET /jwks` | public keys (RS256 and ES256, generated at start) |
//! | `GET /authorize` | authorization code flow; PKCE `S256` and RFC 8707 `resource` required; consent page or `auto_approve` |
//! | `POST /authorize/decision` | the consent form's target |
//! | `POST /token` | `authorization_code`, `refresh_token` (rotated, reuse detected), `client_credentials` |
//! | `POST /register` | RFC 7591 dynamic client registration |
//! | `POST /admin/rotate` | key rotation, only with [`admin_endpoints(true)`](DevAuthorizationServerBuilder::admin_endpoints) |
//!
//! A `client_id` that is an `https` URL is treated as a Client ID Metadata Document and
//! fetched (5 s timeout, 64 KiB cap, no redirects), validated and cached.
//!
//! Access tokens are RFC 9068 JWTs (`typ: at+jwt`) with `iss`, `sub`, `aud` (= the `resource`),
//! `client_id`, `scope`, `iat`, `exp` and `jti`. When the issuer URL has a path (for example
//! `http://127.0.0.1:3000/auth`), every endpoint lives under that path and the metadata is at
//! the path-inserted well-known URL, so the router can be merged into an MCP server's own
//! router.
//!
//! # Example
//!
//! ```
//! use mcp_auth_dev::DevAuthorizationServer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = DevAuthorizationServer::builder()
//!     .issuer("http://127.0.0.1:3000/auth")
//!     .scopes_supported(["mcp:read", "mcp:write"])
//!     .auto_approve(true)
//!     .build()?;
//! server.register_public_client("demo-client", &["http://127.0.0.1:7777/callback"]);
//!
//! // Merge into an axum app next to the MCP endpoint:
//! let app: axum::Router = axum::Router::new().merge(server.router());
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! Or run it on its own with [`DevAuthorizationServerBuilder::serve`], which binds first and
//! uses `http://<bound address>` as issuer unless one was set.

/// The fuzz targets' view of the CIMD parser (see `fuzz/`); feature `fuzzing` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz_hooks.rs"]
pub mod __fuzz;
mod authorize;
mod cimd;
mod error;
mod metadata;
mod params;
mod register;
mod rules;
mod store;
mod token;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};

use crate::TestAuthority;
use crate::keys::{SigningKeyError, Slot};
use store::{
    AUTH_BASIC, AUTH_NONE, Client, ClientSource, GRANT_CLIENT_CREDENTIALS, GRANT_CODE,
    GRANT_REFRESH, Store,
};

pub use rules_public::{pkce_challenge_s256, redirect_uri_is_acceptable};

/// Public wrappers of the pure rules, for clients and tests.
mod rules_public {
    /// The PKCE `S256` code challenge of `code_verifier`: `BASE64URL(SHA256(verifier))`.
    #[must_use]
    pub fn pkce_challenge_s256(code_verifier: &str) -> String {
        super::rules::pkce_s256_challenge(code_verifier)
    }

    /// Whether `uri` may be registered as a redirect URI here: absolute, no fragment or
    /// userinfo, and `https`, or `http` on a loopback host (`127.0.0.1`, `[::1]`, `localhost`).
    #[must_use]
    pub fn redirect_uri_is_acceptable(uri: &str) -> bool {
        super::rules::check_redirect_uri(uri).is_ok()
    }
}

/// Error building a [`DevAuthorizationServer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevServerError {
    /// No issuer was configured (and none could be derived from a bound address).
    #[error("an issuer URL is required")]
    MissingIssuer,
    /// The issuer is not an absolute `http(s)` URL without query and fragment.
    #[error("invalid issuer `{0}`: must be an absolute http(s) URL without query or fragment")]
    InvalidIssuer(String),
    /// A scope is not a valid RFC 6749 scope token.
    #[error("invalid scope `{0}`")]
    InvalidScope(String),
    /// The signing algorithm is not `RS256` or `ES256`.
    #[error("unsupported signing algorithm `{0}` (use RS256 or ES256)")]
    UnsupportedSigningAlg(String),
    /// Key generation failed.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
    /// The HTTP client for Client ID Metadata Documents could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
    /// Binding or serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The current time in Unix seconds (the system clock unless the builder was given one).
type NowFn = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Builder for [`DevAuthorizationServer`]. See the [module docs](self).
#[must_use]
pub struct DevAuthorizationServerBuilder {
    issuer: Option<String>,
    bind: SocketAddr,
    auto_approve: bool,
    access_token_lifetime: Duration,
    refresh_token_lifetime: Duration,
    code_lifetime: Duration,
    scopes_supported: Vec<String>,
    anonymous_client_scopes: Option<Vec<String>>,
    allow_loopback_cimd: bool,
    loopback_redirect_any_port: bool,
    admin_endpoints: bool,
    subject: String,
    signing_alg: String,
    resources: Option<Vec<String>>,
    cimd_timeout: Duration,
    cimd_cache_ttl: Duration,
    clock: Option<NowFn>,
}

impl fmt::Debug for DevAuthorizationServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevAuthorizationServerBuilder")
            .field("issuer", &self.issuer)
            .field("bind", &self.bind)
            .field("auto_approve", &self.auto_approve)
            .field("scopes_supported", &self.scopes_supported)
            .field("clock", &self.clock.as_ref().map(|_| "<fn>"))
            .finish_non_exhaustive()
    }
}

impl Default for DevAuthorizationServerBuilder {
    fn default() -> Self {
        Self {
            issuer: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            auto_approve: false,
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            code_lifetime: Duration::from_secs(60),
            scopes_supported: vec!["mcp:read".to_owned(), "mcp:write".to_owned()],
            anonymous_client_scopes: None,
            allow_loopback_cimd: false,
            loopback_redirect_any_port: false,
            admin_endpoints: false,
            subject: "dev-user".to_owned(),
            signing_alg: "RS256".to_owned(),
            resources: None,
            cimd_timeout: Duration::from_secs(5),
            cimd_cache_ttl: Duration::from_secs(300),
            clock: None,
        }
    }
}

impl DevAuthorizationServerBuilder {
    /// The issuer URL (`iss` of tokens, `issuer` of the metadata). Endpoints are
    /// `<issuer>/authorize`, `<issuer>/token`, ... Required unless [`serve`](Self::serve)
    /// derives it from the bound address.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Address for [`serve`](Self::serve) / [`DevAuthorizationServer::serve`]
    /// (default `127.0.0.1:0`).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Skip the consent page and redirect straight back with a code (default `false`).
    pub fn auto_approve(mut self, yes: bool) -> Self {
        self.auto_approve = yes;
        self
    }

    /// Access token lifetime (default 1 hour).
    pub fn access_token_lifetime(mut self, d: Duration) -> Self {
        self.access_token_lifetime = d;
        self
    }

    /// Refresh token lifetime (default 30 days).
    pub fn refresh_token_lifetime(mut self, d: Duration) -> Self {
        self.refresh_token_lifetime = d;
        self
    }

    /// Authorization code lifetime (default 60 s). Zero makes every code expire at once.
    pub fn code_lifetime(mut self, d: Duration) -> Self {
        self.code_lifetime = d;
        self
    }

    /// Scopes this server knows (`scopes_supported`; default `mcp:read mcp:write`).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes that anonymously registered clients (DCR and Client ID Metadata Documents) may
    /// get; their requests are intersected with this list. Default: all supported scopes.
    pub fn anonymous_client_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.anonymous_client_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Accept `http://` loopback URLs (and loopback/private IP literals) as Client ID
    /// Metadata Document URLs (default `false`; for tests).
    pub fn allow_loopback_cimd(mut self, yes: bool) -> Self {
        self.allow_loopback_cimd = yes;
        self
    }

    /// Let an `http` loopback IP redirect URI match a registered one with a different port
    /// (RFC 8252 §7.3). Default `false`: redirect URIs must match exactly.
    pub fn loopback_redirect_any_port(mut self, yes: bool) -> Self {
        self.loopback_redirect_any_port = yes;
        self
    }

    /// Serve `POST /admin/rotate` (default `false`).
    pub fn admin_endpoints(mut self, yes: bool) -> Self {
        self.admin_endpoints = yes;
        self
    }

    /// The `sub` of every user-approved token (default `dev-user`).
    pub fn subject(mut self, sub: impl Into<String>) -> Self {
        self.subject = sub.into();
        self
    }

    /// Access token signing algorithm: `RS256` (default) or `ES256`.
    pub fn signing_alg(mut self, alg: impl Into<String>) -> Self {
        self.signing_alg = alg.into();
        self
    }

    /// Restrict `resource` values to this list (default: any absolute URI).
    pub fn resources<I, S>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resources = Some(resources.into_iter().map(Into::into).collect());
        self
    }

    /// Timeout of a Client ID Metadata Document fetch (default 5 s).
    pub fn cimd_timeout(mut self, d: Duration) -> Self {
        self.cimd_timeout = d;
        self
    }

    /// How long a fetched Client ID Metadata Document is cached (default 5 min).
    pub fn cimd_cache_ttl(mut self, d: Duration) -> Self {
        self.cimd_cache_ttl = d;
        self
    }

    /// Replaces the clock (Unix seconds) used for code, token and cache expiry, for tests.
    pub fn clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    /// Builds the server: validates the configuration and generates keys.
    ///
    /// # Errors
    ///
    /// [`DevServerError`] for a missing or invalid issuer, an invalid scope, an unsupported
    /// signing algorithm, or a failure to generate keys or build the HTTP client.
    pub fn build(self) -> Result<DevAuthorizationServer, DevServerError> {
        let issuer = self.issuer.clone().ok_or(DevServerError::MissingIssuer)?;
        let url =
            url::Url::parse(&issuer).map_err(|_| DevServerError::InvalidIssuer(issuer.clone()))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || issuer.contains(['?', '#'])
        {
            return Err(DevServerError::InvalidIssuer(issuer));
        }
        let path_prefix = url.path().trim_end_matches('/').to_owned();
        let base = issuer.trim_end_matches('/').to_owned();
        for s in self
            .scopes_supported
            .iter()
            .chain(self.anonymous_client_scopes.iter().flatten())
        {
            if !rules::is_scope_token(s) {
                return Err(DevServerError::InvalidScope(s.clone()));
            }
        }
        let signing_slot = match self.signing_alg.as_str() {
            "RS256" => Slot::Rs,
            "ES256" => Slot::Es,
            other => return Err(DevServerError::UnsupportedSigningAlg(other.to_owned())),
        };
        let anonymous_scopes = match self.anonymous_client_scopes {
            Some(list) => rules::intersect_scopes(&list, &self.scopes_supported),
            None => self.scopes_supported.clone(),
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.cimd_timeout)
            .connect_timeout(self.cimd_timeout)
            .user_agent("mcp-auth-dev")
            .build()
            .map_err(|e| DevServerError::HttpClient(e.to_string()))?;
        let authority = TestAuthority::with_slots(issuer.clone(), &[Slot::Rs, Slot::Es])?;
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
        let config = Config {
            issuer,
            base,
            path_prefix,
            bind: self.bind,
            auto_approve: self.auto_approve,
            access_token_lifetime: secs(self.access_token_lifetime),
            refresh_token_lifetime: secs(self.refresh_token_lifetime),
            code_lifetime: secs(self.code_lifetime),
            scopes_supported: self.scopes_supported,
            anonymous_scopes,
            allow_loopback_cimd: self.allow_loopback_cimd,
            loopback_redirect_any_port: self.loopback_redirect_any_port,
            admin_endpoints: self.admin_endpoints,
            subject: self.subject,
            signing_alg: self.signing_alg,
            signing_slot,
            resources: self.resources,
            cimd_cache_ttl: secs(self.cimd_cache_ttl),
        };
        Ok(DevAuthorizationServer {
            shared: Arc::new(Shared {
                config,
                authority,
                store: Mutex::new(Store::default()),
                http,
                clock: self
                    .clock
                    .unwrap_or_else(|| Arc::new(crate::keys::now_unix)),
            }),
        })
    }

    /// Binds the configured address, sets the issuer to `http://<bound address>` if none was
    /// set, builds the server and serves it.
    ///
    /// # Errors
    ///
    /// Binding errors and everything [`build`](Self::build) can return.
    pub async fn serve(self) -> Result<RunningDevServer, DevServerError> {
        let listener = TcpListener::bind(self.bind).await?;
        let addr = listener.local_addr()?;
        let builder = if self.issuer.is_none() {
            self.issuer(format!("http://{addr}"))
        } else {
            self
        };
        let server = builder.build()?;
        Ok(server.serve_on(listener)?)
    }
}

/// Resolved configuration.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) issuer: String,
    /// Issuer without a trailing slash; endpoint URLs are `base + "/token"` etc.
    pub(crate) base: String,
    /// The issuer's path without a trailing slash (`""` for an origin).
    pub(crate) path_prefix: String,
    pub(crate) bind: SocketAddr,
    pub(crate) auto_approve: bool,
    pub(crate) access_token_lifetime: i64,
    pub(crate) refresh_token_lifetime: i64,
    pub(crate) code_lifetime: i64,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) anonymous_scopes: Vec<String>,
    pub(crate) allow_loopback_cimd: bool,
    pub(crate) loopback_redirect_any_port: bool,
    pub(crate) admin_endpoints: bool,
    pub(crate) subject: String,
    pub(crate) signing_alg: String,
    pub(crate) signing_slot: Slot,
    pub(crate) resources: Option<Vec<String>>,
    pub(crate) cimd_cache_ttl: i64,
}

/// State shared by all handlers.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) authority: TestAuthority,
    store: Mutex<Store>,
    pub(crate) http: reqwest::Client,
    clock: NowFn,
}

impl Shared {
    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Locks the store. Never held across an `.await`.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.base)
    }

    pub(crate) fn route(&self, path: &str) -> String {
        format!("{}{path}", self.config.path_prefix)
    }
}

/// The development authorization server. Cheap to clone; clones share all state.
///
/// See the [module docs](self).
#[derive(Clone)]
pub struct DevAuthorizationServer {
    shared: Arc<Shared>,
}

impl fmt::Debug for DevAuthorizationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevAuthorizationServer")
            .field("issuer", &self.shared.config.issuer)
            .field("auto_approve", &self.shared.config.auto_approve)
            .field("keys", &self.shared.authority)
            .finish_non_exhaustive()
    }
}

impl DevAuthorizationServer {
    /// A builder with the defaults listed on its methods.
    pub fn builder() -> DevAuthorizationServerBuilder {
        DevAuthorizationServerBuilder::default()
    }

    /// The issuer URL.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.shared.config.issuer
    }

    /// `<issuer>/.well-known/...`: the RFC 8414 metadata URL (path-inserted form).
    #[must_use]
    pub fn metadata_url(&self) -> String {
        metadata::metadata_url(&self.shared)
    }

    /// The RFC 8414 metadata document.
    #[must_use]
    pub fn metadata(&self) -> Value {
        metadata::document(&self.shared)
    }

    /// The public JWKS.
    #[must_use]
    pub fn jwks(&self) -> Value {
        self.shared.authority.jwks()
    }

    /// The key holder, sharing keys with this server: mint tokens that validate like the
    /// server's own (`server.authority().token().aud(..).sign()`).
    #[must_use]
    pub fn authority(&self) -> &TestAuthority {
        &self.shared.authority
    }

    /// Adds a new RS256 and a new ES256 key, which sign from now on; old keys stay published.
    /// Returns the new kids.
    ///
    /// # Errors
    ///
    /// If key generation fails.
    pub fn rotate_keys(&self) -> Result<Vec<String>, SigningKeyError> {
        rotate_keys(&self.shared)
    }

    /// Removes a key from the JWKS (tokens it signed stop validating).
    pub fn retire_key(&self, kid: &str) {
        self.shared.authority.retire(kid);
    }

    /// Registers a public client (`token_endpoint_auth_method: none`) with a fixed id,
    /// allowed every supported scope. Replaces any client with that id.
    pub fn register_public_client(&self, client_id: &str, redirect_uris: &[&str]) {
        self.insert_client(client_id, None, redirect_uris);
    }

    /// Registers a confidential client (`client_secret_basic` or `client_secret_post`) that
    /// may use every grant, `client_credentials` included. Replaces any client with that id.
    pub fn register_confidential_client(
        &self,
        client_id: &str,
        client_secret: &str,
        redirect_uris: &[&str],
    ) {
        self.insert_client(client_id, Some(client_secret.to_owned()), redirect_uris);
    }

    fn insert_client(&self, client_id: &str, secret: Option<String>, redirect_uris: &[&str]) {
        let confidential = secret.is_some();
        let mut grant_types = vec![GRANT_CODE.to_owned(), GRANT_REFRESH.to_owned()];
        if confidential {
            grant_types.push(GRANT_CLIENT_CREDENTIALS.to_owned());
        }
        let client = Client {
            client_id: client_id.to_owned(),
            secret,
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            name: Some(client_id.to_owned()),
            auth_method: if confidential { AUTH_BASIC } else { AUTH_NONE },
            grant_types,
            scopes: self.shared.config.scopes_supported.clone(),
            source: ClientSource::Preregistered,
        };
        self.shared
            .store()
            .clients
            .insert(client_id.to_owned(), client);
    }

    /// The axum router with every endpoint (see the [module docs](self)). Paths are under the
    /// issuer's path; metadata and JWKS, `/token` and `/register` allow CORS from any origin.
    pub fn router(&self) -> Router {
        let s = &self.shared;
        let p = &s.config.path_prefix;
        let cors = CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("mcp-protocol-version"),
            ])
            .max_age(Duration::from_secs(600));
        let mut api = Router::new()
            .route(
                &format!("/.well-known/oauth-authorization-server{p}"),
                get(metadata::metadata),
            )
            .route(
                &format!("{p}/.well-known/openid-configuration"),
                get(metadata::metadata),
            )
            .route(&s.route("/jwks"), get(metadata::jwks))
            .route(&s.route("/token"), post(token::token))
            .route(&s.route("/register"), post(register::register));
        if !p.is_empty() {
            // Some clients also try the path-appended RFC 8414 form.
            api = api.route(
                &format!("{p}/.well-known/oauth-authorization-server"),
                get(metadata::metadata),
            );
        }
        let mut browser = Router::new()
            .route(&s.route("/authorize"), get(authorize::authorize))
            .route(&s.route("/authorize/decision"), post(authorize::decision));
        if s.config.admin_endpoints {
            browser = browser.route(&s.route("/admin/rotate"), post(admin_rotate));
        }
        api.layer(cors)
            .merge(browser)
            .layer(DefaultBodyLimit::max(64 * 1024))
            .with_state(Arc::clone(s))
    }

    /// Binds the configured address and serves [`router`](Self::router).
    ///
    /// # Errors
    ///
    /// If binding fails.
    pub async fn serve(&self) -> std::io::Result<RunningDevServer> {
        let listener = TcpListener::bind(self.shared.config.bind).await?;
        self.serve_on(listener)
    }

    /// Serves [`router`](Self::router) on an already bound listener.
    ///
    /// # Errors
    ///
    /// If the listener has no local address.
    pub fn serve_on(&self, listener: TcpListener) -> std::io::Result<RunningDevServer> {
        let addr = listener.local_addr()?;
        let router = self.router();
        Ok(RunningDevServer {
            addr,
            server: self.clone(),
            background: crate::background::Background::serve(listener, router),
        })
    }
}

fn rotate_keys(shared: &Shared) -> Result<Vec<String>, SigningKeyError> {
    let keys = shared.authority.keys();
    Ok(vec![keys.rotate(Slot::Rs)?, keys.rotate(Slot::Es)?])
}

async fn admin_rotate(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let result = tokio::task::spawn_blocking(move || rotate_keys(&shared)).await;
    match result {
        Ok(Ok(kids)) => axum::Json(serde_json::json!({ "kids": kids })).into_response(),
        _ => error::OAuthError::server_error("key rotation failed").into_response(),
    }
}

/// A running [`DevAuthorizationServer`]. Dropping it (or [`shutdown`](Self::shutdown)) stops
/// the server.
pub struct RunningDevServer {
    /// The bound address.
    pub addr: SocketAddr,
    server: DevAuthorizationServer,
    background: crate::background::Background,
}

impl fmt::Debug for RunningDevServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningDevServer")
            .field("addr", &self.addr)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl RunningDevServer {
    /// `http://<addr>`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The served configuration (register clients, rotate keys, mint tokens).
    #[must_use]
    pub fn server(&self) -> &DevAuthorizationServer {
        &self.server
    }

    /// The issuer URL.
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.server.issuer()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.background.shutdown().await;
    }
}
