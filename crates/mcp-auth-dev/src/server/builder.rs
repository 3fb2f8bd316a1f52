//! [`DevAuthorizationServerBuilder`] and its [`DevServerError`].

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use mcp_auth_core::dpop::{DpopConfigError, DpopPolicy, Nonces};

use super::dpop::DpopSettings;
use super::limit::{AddrLimiter, DevRateLimit};
use super::options::{DEFAULT_RESOURCE_SERVER_CLIENT_ID, ResourceServerClient, TokenFormat};
use super::store::Store;
use super::{Config, DevAuthorizationServer, NowFn, RunningDevServer, Shared, rules};
use crate::TestAuthority;
use crate::keys::{SigningKeyError, Slot};

/// The default slot length of DPoP nonces ([`DevAuthorizationServerBuilder::dpop_nonce_slot`]).
pub const DEFAULT_DPOP_NONCE_SLOT: Duration = Duration::from_secs(300);

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
    /// The resource-server client's id or secret is empty or not printable ASCII.
    #[error("the resource-server client id and secret must be non-empty printable ASCII")]
    InvalidResourceServerClient,
    /// The DPoP settings are invalid (a zero nonce slot).
    #[error("DPoP: {0}")]
    Dpop(#[from] DpopConfigError),
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

/// Builder for [`DevAuthorizationServer`]. See the [module docs](crate::server).
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
    token_format: TokenFormat,
    resource_server: Option<ResourceServerClient>,
    require_dpop: bool,
    dpop_nonce_slot: Option<Duration>,
    rate_limit: Option<DevRateLimit>,
}

impl fmt::Debug for DevAuthorizationServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevAuthorizationServerBuilder")
            .field("issuer", &self.issuer)
            .field("bind", &self.bind)
            .field("auto_approve", &self.auto_approve)
            .field("scopes_supported", &self.scopes_supported)
            .field("token_format", &self.token_format)
            .field("resource_server", &self.resource_server)
            .field("require_dpop", &self.require_dpop)
            .field("dpop_nonce_slot", &self.dpop_nonce_slot)
            .field("rate_limit", &self.rate_limit)
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
            token_format: TokenFormat::Jwt,
            resource_server: None,
            require_dpop: false,
            dpop_nonce_slot: None,
            rate_limit: Some(DevRateLimit::default()),
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

    /// The form of issued access tokens: [`TokenFormat::Jwt`] (default) or
    /// [`TokenFormat::Opaque`]. Refresh tokens are opaque in both.
    pub fn token_format(mut self, format: TokenFormat) -> Self {
        self.token_format = format;
        self
    }

    /// The client a protected resource authenticates as at `/introspect` (RFC 7662 §2.1),
    /// with `client_secret_basic` or `client_secret_post`. It may only introspect.
    ///
    /// Default: id [`DEFAULT_RESOURCE_SERVER_CLIENT_ID`] and a random 256-bit secret, read
    /// back with [`DevAuthorizationServer::resource_server_client`].
    pub fn resource_server_client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.resource_server = Some(ResourceServerClient::new(
            client_id.into(),
            client_secret.into(),
        ));
        self
    }

    /// Refuse token requests without a DPoP proof (`invalid_dpop_proof`), so every access
    /// token is DPoP-bound (default `false`: a request without a proof gets a Bearer token).
    pub fn require_dpop(mut self, yes: bool) -> Self {
        self.require_dpop = yes;
        self
    }

    /// Require a server-provided nonce in every DPoP proof at the token endpoint (RFC 9449
    /// §8): a proof without one, or with a stale one, is answered 400 `use_dpop_nonce` with a
    /// fresh nonce in the `DPoP-Nonce` header (default `false`). Nonces are stateless (an HMAC
    /// over a time slot, with a secret generated at build) and valid for one to two slots of
    /// [`dpop_nonce_slot`](Self::dpop_nonce_slot).
    pub fn use_dpop_nonce(mut self, yes: bool) -> Self {
        self.dpop_nonce_slot = if yes {
            Some(self.dpop_nonce_slot.unwrap_or(DEFAULT_DPOP_NONCE_SLOT))
        } else {
            None
        };
        self
    }

    /// The slot length of DPoP nonces (default 5 minutes; at least one second). Turns nonces
    /// on, as [`use_dpop_nonce(true)`](Self::use_dpop_nonce) does.
    pub fn dpop_nonce_slot(mut self, slot: Duration) -> Self {
        self.dpop_nonce_slot = Some(slot);
        self
    }

    /// The per-address limit of `/register` and `/token` (default [`DevRateLimit::default`]:
    /// 10 per second, 100 at once, per address and endpoint; `None` turns it off). Refusals
    /// are `429 Too Many Requests` with `Retry-After` and
    /// `{"error": "temporarily_unavailable", ..}`. The address is the TCP peer, which
    /// [`serve`](Self::serve) provides; a router served without connect info is not limited.
    pub fn rate_limit(mut self, limit: Option<DevRateLimit>) -> Self {
        self.rate_limit = limit;
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
    /// signing algorithm, an invalid resource-server client, or a failure to generate keys or build the HTTP client.
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
        let resource_server = self.resource_server.unwrap_or_else(|| {
            ResourceServerClient::new(
                DEFAULT_RESOURCE_SERVER_CLIENT_ID.to_owned(),
                crate::keys::random_string(32),
            )
        });
        if !resource_server.is_valid() {
            return Err(DevServerError::InvalidResourceServerClient);
        }
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
        let mut policy = DpopPolicy::new();
        if let Some(slot) = self.dpop_nonce_slot {
            policy = policy.with_nonces(Nonces::new([crate::keys::random_string(32)], slot)?);
        }
        let dpop = DpopSettings::new(&format!("{base}/token"), policy, self.require_dpop)
            .ok_or_else(|| DevServerError::InvalidIssuer(issuer.clone()))?;
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
            token_format: self.token_format,
            resource_server,
            dpop,
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
                limiter: self.rate_limit.map(|l| Arc::new(AddrLimiter::new(l))),
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
