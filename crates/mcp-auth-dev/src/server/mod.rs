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
//! | `POST /token` | `authorization_code`, `refresh_token` (rotated, reuse detected), `client_credentials`; DPoP-bound tokens for a request with a proof |
//! | `POST /register` | RFC 7591 dynamic client registration |
//! | `POST /introspect` | RFC 7662 introspection, for the [resource-server client](DevAuthorizationServerBuilder::resource_server_client) |
//! | `POST /revoke` | RFC 7009 revocation of access and refresh tokens |
//! | `POST /admin/rotate` | key rotation, only with [`admin_endpoints(true)`](DevAuthorizationServerBuilder::admin_endpoints) |
//!
//! `/register` and `/token` are limited per client address (IPv6 per /64): by default
//! [`DEFAULT_RATE_LIMIT_PER_SECOND`] requests per second with a burst of
//! [`DEFAULT_RATE_LIMIT_BURST`], each endpoint apart; past it `429` with `Retry-After` and
//! an OAuth JSON error ([`rate_limit`](DevAuthorizationServerBuilder::rate_limit)).
//!
//! A `client_id` that is an `https` URL is treated as a Client ID Metadata Document and
//! fetched (5 s timeout, 64 KiB cap, no redirects), validated and cached.
//!
//! Access tokens are RFC 9068 JWTs (`typ: at+jwt`) with `iss`, `sub`, `aud` (= the `resource`),
//! `client_id`, `scope`, `iat`, `exp` and `jti`, or, with
//! [`token_format(TokenFormat::Opaque)`](DevAuthorizationServerBuilder::token_format), random
//! strings whose claims only the server knows. Either way every issued access token is
//! recorded (under its hash), so `/introspect` answers for both formats and `/revoke` ends
//! one; a JWT's signature stays valid after revocation, so only a resource server that
//! introspects sees it. `/introspect` is for one resource-server client (RFC 7662 §2.1),
//! authenticated with `client_secret_basic` or `client_secret_post`, that can do nothing else.
//! When the issuer URL has a path (for example
//! `http://127.0.0.1:3000/auth`), every endpoint lives under that path and the metadata is at
//! the path-inserted well-known URL, so the router can be merged into an MCP server's own
//! router.
//!
//! # DPoP
//!
//! A token request with a `DPoP` proof (RFC 9449 §5) gets a DPoP-bound access token: its
//! claims (and its introspection answer) carry `cnf: {"jkt": <RFC 7638 thumbprint of the proof
//! key>}`, and the response says `token_type: "DPoP"`. The proof is checked with
//! mcp-auth-core's rules (RFC 9449 §4.3, `htm` `POST`, `htu` the token endpoint; no `ath`,
//! there is no access token yet) and its `jti` is refused a second time; a refused proof is
//! answered 400 `invalid_dpop_proof`. A refresh token issued with a proof to a public client is
//! bound to the key (RFC 9449 §5): refreshing it needs a proof of that key, else
//! `invalid_grant`. Refresh tokens of confidential clients are not bound (their client
//! authentication already constrains them), so such a client may change keys on refresh.
//! Without a proof tokens are Bearer, unless
//! [`require_dpop(true)`](DevAuthorizationServerBuilder::require_dpop);
//! [`use_dpop_nonce(true)`](DevAuthorizationServerBuilder::use_dpop_nonce) makes the server
//! require its own nonces (RFC 9449 §8: `use_dpop_nonce` with a `DPoP-Nonce` header). The
//! metadata lists `dpop_signing_alg_values_supported`.
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
//!
//! # Opaque tokens and introspection
//!
//! A resource server that introspects needs the endpoint (in the metadata, or
//! [`introspection_endpoint`](DevAuthorizationServer::introspection_endpoint)) and the
//! resource-server client's credentials: set them with
//! [`resource_server_client`](DevAuthorizationServerBuilder::resource_server_client), or read
//! the generated ones from [`DevAuthorizationServer::resource_server_client`].
//!
//! ```
//! use mcp_auth_dev::server::{DevAuthorizationServer, TokenFormat};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = DevAuthorizationServer::builder()
//!     .issuer("http://127.0.0.1:3000/auth")
//!     .token_format(TokenFormat::Opaque)
//!     .resource_server_client("mcp-server", "introspection-secret")
//!     .build()?;
//! assert_eq!(
//!     server.introspection_endpoint(),
//!     "http://127.0.0.1:3000/auth/introspect"
//! );
//! assert_eq!(server.resource_server_client().client_id(), "mcp-server");
//! assert_eq!(server.metadata()["revocation_endpoint"], "http://127.0.0.1:3000/auth/revoke");
//! # Ok(()) }
//! ```

/// The fuzz targets' view of the CIMD parser (see `fuzz/`); feature `fuzzing` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz_hooks.rs"]
pub mod __fuzz;
mod access;
mod authorize;
mod builder;
mod cimd;
mod client_auth;
mod dpop;
mod error;
mod introspect;
mod limit;
mod metadata;
mod options;
mod params;
mod register;
mod rules;
mod store;
mod token;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
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
use limit::Endpoint;
use store::{
    AUTH_BASIC, AUTH_NONE, Client, ClientSource, GRANT_CLIENT_CREDENTIALS, GRANT_CODE,
    GRANT_REFRESH, Store,
};

pub use builder::{DEFAULT_DPOP_NONCE_SLOT, DevAuthorizationServerBuilder, DevServerError};
pub use limit::{
    DEFAULT_RATE_LIMIT_BURST, DEFAULT_RATE_LIMIT_MAX_ADDRESSES, DEFAULT_RATE_LIMIT_PER_SECOND,
    DevRateLimit,
};
pub use options::{
    DEFAULT_RESOURCE_SERVER_CLIENT_ID, ResourceServerClient, TokenFormat, UnknownTokenFormat,
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

/// The current time in Unix seconds (the system clock unless the builder was given one).
type NowFn = Arc<dyn Fn() -> i64 + Send + Sync>;

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
    pub(crate) token_format: TokenFormat,
    pub(crate) resource_server: ResourceServerClient,
    pub(crate) dpop: dpop::DpopSettings,
}

/// State shared by all handlers.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) authority: TestAuthority,
    store: Mutex<Store>,
    pub(crate) http: reqwest::Client,
    clock: NowFn,
    /// The per-address limit of `/register` and `/token`, unless turned off.
    limiter: Option<Arc<limit::AddrLimiter>>,
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

    /// The form of the access tokens this server issues.
    #[must_use]
    pub fn token_format(&self) -> TokenFormat {
        self.shared.config.token_format
    }

    /// The credentials a protected resource introspects with (configured or generated; see
    /// [`DevAuthorizationServerBuilder::resource_server_client`]).
    #[must_use]
    pub fn resource_server_client(&self) -> &ResourceServerClient {
        &self.shared.config.resource_server
    }

    /// `<issuer>/introspect`: the RFC 7662 introspection endpoint.
    #[must_use]
    pub fn introspection_endpoint(&self) -> String {
        self.shared.endpoint("/introspect")
    }

    /// `<issuer>/revoke`: the RFC 7009 revocation endpoint.
    #[must_use]
    pub fn revocation_endpoint(&self) -> String {
        self.shared.endpoint("/revoke")
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
    /// issuer's path; metadata and JWKS, `/token`, `/revoke` and `/register` allow CORS from
    /// any origin (`/introspect` is for servers, not browsers).
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
                dpop::DPOP,
            ])
            .expose_headers([dpop::DPOP_NONCE])
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
            .route(
                &s.route("/token"),
                limited(s, post(token::token), Endpoint::Token),
            )
            .route(&s.route("/revoke"), post(introspect::revoke))
            .route(
                &s.route("/register"),
                limited(s, post(register::register), Endpoint::Register),
            );
        if !p.is_empty() {
            // Some clients also try the path-appended RFC 8414 form.
            api = api.route(
                &format!("{p}/.well-known/oauth-authorization-server"),
                get(metadata::metadata),
            );
        }
        let mut browser = Router::new()
            .route(&s.route("/authorize"), get(authorize::authorize))
            .route(&s.route("/authorize/decision"), post(authorize::decision))
            .route(&s.route("/introspect"), post(introspect::introspect));
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

/// `route` behind the per-address limit, if one is configured.
fn limited(
    s: &Arc<Shared>,
    route: axum::routing::MethodRouter<Arc<Shared>>,
    endpoint: Endpoint,
) -> axum::routing::MethodRouter<Arc<Shared>> {
    match &s.limiter {
        Some(l) => route.route_layer(axum::middleware::from_fn_with_state(
            (Arc::clone(l), endpoint),
            limit::limit,
        )),
        None => route,
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
