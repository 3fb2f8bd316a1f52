//! An MCP server built with [rmcp](https://docs.rs/rmcp) (Streamable HTTP, stateless), made an
//! OAuth 2.1 resource server by [`McpAuthLayer`], with a development authorization server
//! ([`mcp_auth_dev::DevAuthorizationServer`]) embedded so the whole flow runs with one command.
//!
//! - Tools: `whoami`, `echo`, `add_note`, `list_notes`, `note_stats`; resources
//!   `notes://mine` and `docs://guide` (see [`server`]).
//! - Scopes: `mcp:read` for the endpoint (the layer), `mcp:write` for `add_note` and
//!   `mcp:admin` for `note_stats` (the handler, see [`policy`]); `mcp:admin` implies
//!   `mcp:write` implies `mcp:read`.
//! - Keys: the layer's default JWKS key source (crate mcp-auth-jwks), discovered from each
//!   issuer's RFC 8414 metadata or taken from an explicit `jwks_uri`.
//! - Issuers: the embedded development authorization server, an external one, or an
//!   identity provider through its preset of `mcp_auth::providers` ([`provider`]), plus any
//!   number of other external issuers trusted beside it ([`Config::also_trust`]), each with
//!   its own keys.
//!
//! [`start`] runs everything in-process and returns a [`RunningServer`]; `main.rs` adds the
//! command line and prints what to do next. **The embedded authorization server is for
//! development only.**
//!
//! ```no_run
//! # async fn demo() -> Result<(), example_mcp_server::StartError> {
//! let server = example_mcp_server::start(example_mcp_server::Config::ephemeral()).await?;
//! println!("MCP endpoint: {}", server.mcp_url);
//! let token = server.mint_token("mcp:read mcp:write"); // dev authorization server only
//! # let _ = token;
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod dpop;
pub mod fleet;
pub mod metrics;
pub mod notes;
pub mod policy;
pub mod provider;
pub mod server;
pub mod stateful;
pub mod token_mode;
mod unavailable;

use axum::Router;
use axum::extract::State;
use axum::middleware::Next;
use axum::response::Html;
use axum::routing::get;
use mcp_auth::McpAuthLayer;
use mcp_auth_dev::{DevAuthorizationServer, DevServerError, RunningDevServer};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use mcp_auth_dev::TokenFormat;
pub use notes::NoteStore;
pub use policy::{OperationPolicy, ScopeTable};
pub use provider::{ProviderConfig, ProviderError, ProviderKind, TrustedProvider};
pub use server::NotesServer;
pub use token_mode::{IntrospectionConfig, TokenModeError};

/// Default address of the MCP server.
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default address of the embedded development authorization server.
pub const DEFAULT_DEV_AS_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);
/// The path of the MCP endpoint in the default resource URI.
pub const DEFAULT_MCP_PATH: &str = "/mcp";

/// The log filter of `main.rs` when `RUST_LOG` is not set (a `RUST_LOG` replaces all of it):
/// warnings of every crate, the example's and the layer's information, except the events of
/// rmcp's Streamable HTTP service that carry a `session_id` field, which is the id in clear:
/// "session store load failed during restore" (`ERROR`, a session state it could not read;
/// the example warns in its place, without the id, `unavailable.rs`) and a debug line,
/// "session restored from external store". rmcp's other warnings and errors stay on.
pub const DEFAULT_LOG_FILTER: &str = "warn,example_mcp_server=info,mcp_auth=info,\
     rmcp::transport::streamable_http_server::tower[{session_id}]=off";
/// The `sub` of tokens the embedded authorization server issues after consent, and of
/// [`RunningServer::mint_token`] tokens, so both reach the same notes.
pub const DEV_SUBJECT: &str = "dev-user";
/// `client_id` of [`RunningServer::mint_token`] tokens.
pub const DEMO_MINT_CLIENT_ID: &str = "curl-demo";
/// A confidential client registered on the embedded authorization server, for the
/// `client_credentials` grant (its secret is random, see [`RunningServer::demo_client`]).
pub const DEMO_CLIENT_ID: &str = "demo-cli";

/// How to run the example.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the MCP server listens (port 0: any free port).
    pub bind: SocketAddr,
    /// The canonical resource URI (the audience tokens must carry). Default:
    /// `http://<bound address>/mcp`, with `127.0.0.1` (or `[::1]`) for an unspecified address.
    /// Behind a proxy, set the public URL.
    pub resource: Option<String>,
    /// `scopes_supported` of the protected resource metadata (and of the embedded
    /// authorization server). Default: [`policy::ALL_SCOPES`].
    pub scopes_supported: Vec<String>,
    /// Which authorization server issues the tokens.
    pub authorization_server: AuthorizationServer,
    /// Other external authorization servers whose tokens are accepted too (each with its
    /// own keys; all listed in the metadata's `authorization_servers`, after the main one).
    pub also_trust: Vec<ExternalAs>,
    /// Browser origins allowed to call the MCP endpoint besides the resource's own origin
    /// and the loopback origins, which are always allowed (`Origin` validation, MCP
    /// Streamable HTTP transport "Security Warning"). Any other `Origin` gets 403.
    pub allowed_origins: Vec<String>,
    /// Serve `GET /debug/counters`, how many requests got through the auth layer to the MCP
    /// service (tests: a refused request must not be counted). Off by default.
    pub debug_counters: bool,
    /// Opaque tokens judged by RFC 7662 introspection ([`token_mode`]): at the development
    /// server in [`TokenFormat::Opaque`] mode (credentials: its own), or at the external
    /// server ([`AuthorizationServer::External`], credentials required). `None`: JWTs only,
    /// or the defaults in opaque mode.
    pub introspection: Option<IntrospectionConfig>,
    /// Serve MCP sessions (rmcp's session manager) with each session bound to the caller
    /// that opened it ([`stateful`]). Off by default: stateless.
    pub stateful: bool,
    /// Redis for the fleet stores, its secret, and the rate limits ([`fleet`]).
    pub fleet: fleet::FleetSettings,
    /// DPoP (RFC 9449) on the layer (`--dpop`; its replay store on Redis with `fleet`).
    /// Default: off.
    pub dpop: dpop::DpopSettings,
}

/// The authorization server whose tokens the MCP server accepts.
#[derive(Debug, Clone)]
pub enum AuthorizationServer {
    /// Start the embedded development authorization server.
    Dev(DevAsConfig),
    /// Trust an external authorization server.
    External(ExternalAs),
    /// Trust an identity provider's access tokens, through its preset (`--provider`).
    Provider(Box<ProviderConfig>),
}

/// The embedded development authorization server ([`mcp_auth_dev::DevAuthorizationServer`]).
#[derive(Debug, Clone)]
pub struct DevAsConfig {
    /// Where it listens (port 0: any free port). Its issuer is `http://<bound address>`.
    pub bind: SocketAddr,
    /// Approve every authorization request without a consent page (tests, scripts).
    pub auto_approve: bool,
    /// Accept `http://` loopback Client ID Metadata Document URLs (tests; local clients).
    pub allow_loopback_cimd: bool,
    /// The form of the access tokens it issues: JWTs (default) or opaque strings that the
    /// MCP server introspects at it (`--token-format opaque`).
    pub token_format: TokenFormat,
}

impl Default for DevAsConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_DEV_AS_BIND,
            auto_approve: false,
            allow_loopback_cimd: true,
            token_format: TokenFormat::Jwt,
        }
    }
}

/// An external authorization server.
#[derive(Debug, Clone)]
pub struct ExternalAs {
    /// Its issuer identifier, exactly as in its tokens' `iss` and its metadata.
    pub issuer: String,
    /// Its JWKS URL; discovered from the issuer's metadata when `None`.
    pub jwks_uri: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND,
            resource: None,
            scopes_supported: policy::ALL_SCOPES.map(str::to_owned).to_vec(),
            authorization_server: AuthorizationServer::Dev(DevAsConfig::default()),
            also_trust: Vec::new(),
            allowed_origins: Vec::new(),
            debug_counters: false,
            introspection: None,
            stateful: false,
            dpop: dpop::DpopSettings::default(),
            fleet: fleet::FleetSettings::default(),
        }
    }
}

impl Config {
    /// Everything on `127.0.0.1:0`, with the development authorization server approving every
    /// request and accepting loopback Client ID Metadata Documents: for tests.
    pub fn ephemeral() -> Self {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            bind: any,
            authorization_server: AuthorizationServer::Dev(DevAsConfig {
                bind: any,
                auto_approve: true,
                allow_loopback_cimd: true,
                token_format: TokenFormat::Jwt,
            }),
            ..Self::default()
        }
    }
}

/// Why the example could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A listener could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (another instance running? choose another address; port 0 picks a free one)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The authorization layer refused the configuration (resource URI, issuer, scopes).
    #[error("authorization configuration: {0}")]
    Auth(#[from] mcp_auth::ConfigError),
    /// The embedded authorization server could not be built.
    #[error("development authorization server: {0}")]
    DevServer(#[from] DevServerError),
    /// The embedded authorization server's keys could not be loaded.
    #[error("keys of the development authorization server: {0}")]
    Keys(#[from] mcp_auth::core::keys::KeyError),
    /// The scope hierarchy is invalid.
    #[error("scope hierarchy: {0}")]
    Scope(#[from] mcp_auth::core::scope::InvalidScope),
    /// The layer's per-tool policy is invalid.
    #[error("MCP policy: {0}")]
    Policy(#[from] mcp_auth::core::mcp::PolicyError),
    /// The identity provider's parameters are incomplete or do not apply to it.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// The opaque-token settings are incomplete or do not apply ([`token_mode`]).
    #[error("{0}")]
    TokenMode(#[from] TokenModeError),
    /// The DPoP flags do not fit together, or the Redis replay store cannot be reached.
    #[error("DPoP: {0}")]
    Dpop(String),
    /// The fleet flags do not fit together, or Redis cannot be reached ([`fleet`]).
    #[error("fleet: {0}")]
    Fleet(String),
}

/// The running example. Dropping it stops both servers; prefer [`shutdown`](Self::shutdown),
/// which also waits for them.
pub struct RunningServer {
    /// The MCP endpoint: the canonical resource URI.
    pub mcp_url: String,
    /// The RFC 9728 protected resource metadata URL (path-inserted form).
    pub metadata_url: String,
    /// The issuer of the authorization server (with a provider, its first issuer).
    pub as_issuer: String,
    /// The identity provider trusted through its preset, if any.
    pub provider: Option<TrustedProvider>,
    /// Where the MCP server listens.
    pub local_addr: SocketAddr,
    introspection: Option<token_mode::Introspected>,
    counters: Arc<Counters>,
    dev: Option<Dev>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

struct Dev {
    running: RunningDevServer,
    demo_secret: String,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("mcp_url", &self.mcp_url)
            .field("metadata_url", &self.metadata_url)
            .field("as_issuer", &self.as_issuer)
            .field("provider", &self.provider)
            .field("local_addr", &self.local_addr)
            .field("dev", &self.dev.as_ref().map(|d| d.running.addr))
            .finish_non_exhaustive()
    }
}

/// Stops a [`RunningServer`] from anywhere (a signal handler, another task).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// Asks the servers to stop (open requests are finished).
    pub fn shutdown(&self) {
        self.0.cancel();
    }
}

impl RunningServer {
    /// How many requests got through the auth layer to the MCP service so far (also served
    /// at `GET /debug/counters` with [`Config::debug_counters`]).
    pub fn inner_requests(&self) -> u64 {
        self.counters.inner_requests.load(Ordering::SeqCst)
    }

    /// Where and how the main issuer's opaque tokens are introspected, if they are.
    pub fn introspection(&self) -> Option<&token_mode::Introspected> {
        self.introspection.as_ref()
    }

    /// The embedded development authorization server, if it runs.
    pub fn dev_authorization_server(&self) -> Option<&DevAuthorizationServer> {
        self.dev.as_ref().map(|d| d.running.server())
    }

    /// The RFC 8414 metadata URL of the embedded authorization server, if it runs.
    pub fn as_metadata_url(&self) -> Option<String> {
        self.dev_authorization_server()
            .map(DevAuthorizationServer::metadata_url)
    }

    /// A fresh access token from the embedded authorization server's keys, for this server's
    /// resource, with `scope` (space-separated), `sub` [`DEV_SUBJECT`], `client_id`
    /// [`DEMO_MINT_CLIENT_ID`], valid one hour. `None` with an external authorization server,
    /// and when the embedded one issues opaque tokens (a minted token is a JWT: get an
    /// opaque one from its token endpoint, e.g. with [`demo_client`](Self::demo_client)).
    pub fn mint_token(&self, scope: &str) -> Option<String> {
        let dev = self.dev_authorization_server()?;
        if dev.token_format() != TokenFormat::Jwt {
            return None;
        }
        dev.authority()
            .token()
            .aud(&self.mcp_url)
            .scope(scope)
            .subject(DEV_SUBJECT)
            .client_id(DEMO_MINT_CLIENT_ID)
            .expires_in(3600)
            .try_sign()
            .ok()
    }

    /// The confidential client registered on the embedded authorization server:
    /// `(client_id, client_secret)`, for `grant_type=client_credentials`.
    pub fn demo_client(&self) -> Option<(&str, &str)> {
        self.dev
            .as_ref()
            .map(|d| (DEMO_CLIENT_ID, d.demo_secret.as_str()))
    }

    /// A handle that stops the servers.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Runs until [`ShutdownHandle::shutdown`] is called, then stops.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stop_dev().await;
    }

    /// Stops both servers and waits for them.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    async fn stop_dev(&mut self) {
        if let Some(dev) = self.dev.take() {
            dev.running.shutdown().await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// `http://host:port` for a bound address, with loopback for an unspecified IP.
fn loopback_origin(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            format!(
                "http://{}",
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
            )
        }
        _ => format!("http://{addr}"),
    }
}

/// Starts the MCP server (and, in [`AuthorizationServer::Dev`] mode, the development
/// authorization server) and returns once both accept connections.
///
/// # Errors
///
/// [`StartError`] when a listener cannot be bound, the configuration is refused, or the
/// embedded authorization server's keys cannot be loaded.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let listener = bind(config.bind).await?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.bind,
        source,
    })?;
    let resource = config
        .resource
        .clone()
        .unwrap_or_else(|| format!("{}{DEFAULT_MCP_PATH}", loopback_origin(local_addr)));

    // A provider's parameters are checked before anything else starts.
    let preset = match &config.authorization_server {
        AuthorizationServer::Provider(p) => Some((p, p.trusted_issuer()?)),
        _ => None,
    };
    token_mode::check(&config.authorization_server, config.introspection.as_ref())?;
    let (issuer, dev) = match &config.authorization_server {
        AuthorizationServer::Dev(dev) => {
            let (dev, issuer) = start_dev_as(dev, &config.scopes_supported).await?;
            (issuer, Some(dev))
        }
        AuthorizationServer::External(ext) => (ext.issuer.clone(), None),
        AuthorizationServer::Provider(_) => (
            preset
                .as_ref()
                .and_then(|(_, t)| t.issuers().first().cloned())
                .unwrap_or_default(),
            None,
        ),
    };

    let mut builder = McpAuthLayer::builder(&resource)
        .require_scopes(policy::ENDPOINT_SCOPES)
        .scope_hierarchy(policy::scope_hierarchy()?)
        .mcp_policy(policy::layer_policy()?)
        .resource_name("mcp-auth example: notes")
        // Browser pages: the resource's own origin (always), loopback pages (local tools such
        // as MCP Inspector) and what the configuration adds; any other Origin is 403.
        .allow_loopback_origins(true)
        .allowed_origins(config.allowed_origins.iter().cloned());
    // Opaque tokens of the main issuer introspected (token_mode): its entry, listed first.
    let introspected = token_mode::main_issuer(
        &config.authorization_server,
        config.introspection.as_ref(),
        dev.as_ref().map(|d| d.running.server()),
    )?;
    let introspects = introspected.is_some();
    let mut introspection = None;
    if let Some((trusted, summary)) = introspected {
        introspection = Some(summary);
        for url in std::iter::once(&issuer).chain(config.also_trust.iter().map(|e| &e.issuer)) {
            builder = builder.authorization_server(url);
        }
        builder = builder.trusted_issuer(trusted);
    }
    // The main issuer first: clients take the metadata's first authorization server.
    let external = match &config.authorization_server {
        AuthorizationServer::Dev(_) if !introspects => {
            builder = builder.issuer(&issuer);
            None
        }
        AuthorizationServer::External(ext) if !introspects => Some(ext),
        _ => None,
    };
    let mut provider = None;
    if let Some((p, trusted)) = preset {
        provider = Some(TrustedProvider {
            kind: p.kind,
            issuers: trusted.issuers().to_vec(),
            audiences: p.audiences(),
        });
        // `authorization_servers` (RFC 9728 §2) lists the provider first, as clients take the
        // first one: `--authorization-server` or the preset's issuers, then `--also-trust`.
        let main = match &p.authorization_server {
            Some(url) => vec![url.clone()],
            None => trusted.issuers().to_vec(),
        };
        for url in main
            .iter()
            .chain(config.also_trust.iter().map(|e| &e.issuer))
        {
            builder = builder.authorization_server(url);
        }
        builder = builder.trusted_issuer(trusted);
    }
    for ext in external.into_iter().chain(&config.also_trust) {
        builder = match &ext.jwks_uri {
            Some(uri) => builder.jwks_uri(&ext.issuer, uri),
            None => builder.issuer(&ext.issuer),
        };
    }
    if !config.scopes_supported.is_empty() {
        builder = builder.scopes_supported(config.scopes_supported.iter().cloned());
    }
    let fleet = config
        .fleet
        .connect(config.dpop.mode != dpop::DpopFlag::Off, config.stateful)
        .await?;
    let recent_load_failures = Arc::new(unavailable::RecentLoadFailures::default());
    let rmcp_sessions = match (&fleet, config.stateful) {
        (Some(f), true) => {
            Some(f.rmcp_sessions(stateful::SESSION_IDLE, recent_load_failures.clone())?)
        }
        _ => None,
    };
    if config.stateful {
        builder = stateful::bind_sessions(builder, fleet.as_ref())?;
    }
    let builder = config.dpop.apply(builder, fleet.as_ref()).await?;
    let builder = config.fleet.apply_limits(builder, fleet.as_ref())?;
    let auth = builder.build()?;
    match (auth.warm_up().await, &dev) {
        (Ok(()), _) => {}
        // Loopback, and ours: a failure here is a bug, not an outage.
        (Err(e), Some(_)) => return Err(e.into()),
        // An external authorization server's outage must not stop us from starting: its
        // tokens get 503 until its keys can be had.
        (Err(e), None) => tracing::warn!(
            error = %e,
            "some issuer's keys are not loaded yet; its tokens get 503 until they are"
        ),
    }
    let mcp_url = auth.resource().as_str().to_owned();
    let metadata_url = auth.resource().metadata_url();

    let shutdown = CancellationToken::new();
    let counters = Arc::new(Counters::default());
    let mut router = router(
        &auth,
        local_addr,
        counters.clone(),
        shutdown.child_token(),
        config.stateful,
        rmcp_sessions,
        recent_load_failures,
    );
    if config.debug_counters {
        let c = counters.clone();
        router = router.route(
            "/debug/counters",
            get(move || {
                let inner = c.inner_requests.load(Ordering::SeqCst);
                std::future::ready(axum::Json(serde_json::json!({ "inner_requests": inner })))
            }),
        );
    }
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        // The peer's address reaches the layer (the per-address rate limit).
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled_owned().await });
        if let Err(e) = serve.await {
            tracing::error!("MCP server stopped: {e}");
        }
    });
    tracing::info!(%mcp_url, %issuer, "MCP server listening on {local_addr}");

    Ok(RunningServer {
        mcp_url,
        metadata_url,
        as_issuer: issuer,
        provider,
        local_addr,
        introspection,
        counters,
        dev,
        shutdown,
        task: Some(task),
    })
}

async fn start_dev_as(
    config: &DevAsConfig,
    scopes: &[String],
) -> Result<(Dev, String), StartError> {
    let listener = bind(config.bind).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.bind,
        source,
    })?;
    let issuer = loopback_origin(addr);
    let mut builder = DevAuthorizationServer::builder()
        .issuer(&issuer)
        .subject(DEV_SUBJECT)
        .auto_approve(config.auto_approve)
        .allow_loopback_cimd(config.allow_loopback_cimd)
        .token_format(config.token_format);
    if !scopes.is_empty() {
        builder = builder.scopes_supported(scopes.iter().cloned());
    }
    let server = builder.build()?;
    let demo_secret = random_secret();
    server.register_confidential_client(DEMO_CLIENT_ID, &demo_secret, &[]);
    let running = server
        .serve_on(listener)
        .map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
    tracing::info!(%issuer, "development authorization server listening on {addr}");
    Ok((
        Dev {
            running,
            demo_secret,
        },
        issuer,
    ))
}

fn random_secret() -> String {
    use rand::Rng as _;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// What got through the auth layer.
#[derive(Debug, Default)]
struct Counters {
    /// Requests the MCP service (rmcp) received.
    inner_requests: AtomicU64,
}

async fn count_inner(
    State(counters): State<Arc<Counters>>,
    req: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    counters.inner_requests.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

/// The HTTP app: the MCP endpoint behind the auth layer, CORS for browser clients from the
/// allowed origins around it, the RFC 9728 metadata beside it (open to any origin).
fn router(
    auth: &McpAuthLayer,
    local_addr: SocketAddr,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    stateful: bool,
    rmcp_sessions: Option<Arc<dyn stateful::RmcpSessionStore>>,
    recent_load_failures: Arc<unavailable::RecentLoadFailures>,
) -> Router {
    let resource = auth.resource();
    let path = match resource.path() {
        "" => "/",
        p => p,
    };
    let notes = Arc::new(NoteStore::new());
    let handler = NotesServer::new(notes);
    let config = StreamableHttpServerConfig::default()
        .with_json_response(true)
        .with_allowed_hosts(allowed_hosts(resource.as_str(), local_addr))
        .with_cancellation_token(shutdown);
    let app = if stateful {
        // rmcp's 500 for a session state it could not read from Redis is the 503 it means.
        Router::new()
            .route_service(path, stateful::service(handler, config, rmcp_sessions))
            .route_layer(axum::middleware::from_fn_with_state(
                recent_load_failures,
                unavailable::session_store_errors,
            ))
    } else {
        let mcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(NeverSessionManager::default()),
            // Stateless (MCP 2026-07-28 is sessionless): any POST stands alone, so a single
            // `tools/call` works without `initialize`, and any instance can serve it.
            config.with_legacy_session_mode(false),
        );
        Router::new().route_service(path, mcp)
    };
    let mut app = app
        .route_layer(axum::middleware::from_fn_with_state(counters, count_inner))
        .route_layer(auth.clone())
        .route_layer(axum::middleware::from_fn(unavailable::retry_after_on_503));
    if path != "/" {
        let page = index_page(resource.as_str(), &resource.metadata_url());
        app = app.route("/", get(move || std::future::ready(Html(page.clone()))));
    }
    app.layer(auth.cors()).merge(auth.metadata_router())
}

/// Hosts rmcp accepts in `Host` (DNS rebinding protection): loopback, the resource's host,
/// and the address we listen on.
fn allowed_hosts(resource: &str, local_addr: SocketAddr) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    if let Ok(url) = url::Url::parse(resource)
        && let Some(host) = url.host_str()
    {
        hosts.push(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        );
    }
    if !local_addr.ip().is_unspecified() {
        hosts.push(local_addr.ip().to_string());
    }
    hosts.dedup();
    hosts
}

fn index_page(resource: &str, metadata_url: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (resource, metadata_url) = (escape(resource), escape(metadata_url));
    format!(
        "<!doctype html><meta charset=\"utf-8\"><title>mcp-auth example</title>\
         <h1>mcp-auth example MCP server</h1>\
         <p>MCP endpoint (Streamable HTTP, OAuth required): <code>{resource}</code></p>\
         <p>Protected resource metadata: <a href=\"{metadata_url}\">{metadata_url}</a></p>"
    )
}
