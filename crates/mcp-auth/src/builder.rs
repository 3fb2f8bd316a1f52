//! [`McpAuthBuilder`]: every setting of the layer, checked once at [`build`](McpAuthBuilder::build).

use crate::config_error::ConfigError;
use crate::context::ScopePolicy;
use crate::decision::Validation;
use crate::issuer::{IssuerSettings, TrustedIssuer};
use crate::layer::{Challenges, DEFAULT_TOKEN_CACHE_CAPACITY, McpAuthLayer, Shared};
use crate::metadata::MetadataService;
use crate::response::{ChallengeCache, RenderRejection};
use crate::token_cache::TokenCache;
use crate::validate::{JwtValidator, UnixClock, ValidateToken, system_clock};
use mcp_auth_core::challenge::ChallengeTemplate;
use mcp_auth_core::checks::{ClaimCheck, MaxTokenAge};
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::credentials::DEFAULT_MAX_TOKEN_LEN;
use mcp_auth_core::jws::{Algorithm, TypPolicy};
use mcp_auth_core::keys::KeySource;
use mcp_auth_core::mcp::{McpPolicy, Requirement};
use mcp_auth_core::metadata::{ProtectedResourceMetadata, is_secure_url};
use mcp_auth_core::origin::OriginAllowList;
use mcp_auth_core::resource::{AudiencePolicy, ResourceUri};
use mcp_auth_core::scope::{FlatScopes, OFFLINE_ACCESS, ScopeHierarchy, ScopeSet};
use mcp_auth_core::validation::JwtRules;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod dpop;
mod key_source;
mod mapping;
mod operations;

pub(crate) use mapping::MappingSettings;

/// Builder of [`McpAuthLayer`]. Secure defaults: RS256/ES256 only, strict RFC 9068 `typ`
/// and claims, exact audience, 60 s leeway, `Authorization` header removed before the inner
/// service, `Origin` allowed only from the resource's own origin.
#[must_use]
pub struct McpAuthBuilder {
    resource: String,
    issuers: Vec<String>,
    authorization_servers: Vec<String>,
    key_source: Option<Arc<dyn KeySource>>,
    #[cfg(feature = "jwks")]
    jwks_uris: Vec<(String, String)>,
    /// `None`: never set (an explicit `false` with `key_source` is refused too).
    #[cfg(feature = "jwks")]
    allow_insecure_http: Option<bool>,
    max_key_staleness: Option<Duration>,
    /// The rules of the issuers of [`issuer`](Self::issuer).
    defaults: IssuerSettings,
    /// The entries of [`trusted_issuer`](Self::trusted_issuer), each with its own rules.
    trusted: Vec<TrustedIssuer>,
    scopes_supported: Option<Vec<String>>,
    required: Vec<String>,
    challenge_scopes: Option<Vec<String>>,
    hierarchy: Arc<dyn ScopeHierarchy>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    metadata_at_root: bool,
    max_token_len: usize,
    max_form_body: usize,
    pass_authorization_header: bool,
    mcp_policy: Option<McpPolicy>,
    max_body: usize,
    trust_mcp_headers: bool,
    granted_in_403: bool,
    /// `None`: the default (on for JWTs, off for a custom validator).
    token_cache: Option<u64>,
    error_description: bool,
    realm: Option<String>,
    clock: UnixClock,
    allowed_origins: Vec<String>,
    loopback_origins: bool,
    rejection: Option<Arc<dyn RenderRejection>>,
    dpop: Option<crate::decision::dpop::DpopConfig>,
    /// Rate limits, trusted proxies and the session store ([`operations`]).
    operations: crate::operations::Settings,
}

impl fmt::Debug for McpAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuthBuilder")
            .field("resource", &self.resource)
            .field("issuers", &self.issuers)
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl McpAuthBuilder {
    pub(crate) fn new(resource: String) -> Self {
        Self {
            resource,
            issuers: Vec::new(),
            authorization_servers: Vec::new(),
            key_source: None,
            #[cfg(feature = "jwks")]
            jwks_uris: Vec::new(),
            #[cfg(feature = "jwks")]
            allow_insecure_http: None,
            max_key_staleness: None,
            defaults: IssuerSettings::default(),
            trusted: Vec::new(),
            scopes_supported: None,
            required: Vec::new(),
            challenge_scopes: None,
            hierarchy: Arc::new(FlatScopes),
            resource_name: None,
            resource_documentation: None,
            metadata_at_root: false,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            max_form_body: 64 * 1024,
            pass_authorization_header: false,
            mcp_policy: None,
            max_body: 1024 * 1024,
            trust_mcp_headers: false,
            granted_in_403: true,
            token_cache: None,
            error_description: true,
            realm: None,
            clock: system_clock(),
            allowed_origins: Vec::new(),
            loopback_origins: false,
            rejection: None,
            dpop: None,
            operations: Default::default(),
        }
    }

    /// Trusts tokens from this issuer (exact `iss` match, RFC 9068 §4). May be called more
    /// than once; each issuer's keys stay its own (RFC 8725 §3.8). Issuers are listed in the
    /// metadata's `authorization_servers` unless [`authorization_server`](Self::authorization_server) is used.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Trusts the issuers of `issuer` with that entry's own rules (audiences, `typ`,
    /// algorithms, claim mapping, required claims, claim checks): see [`TrustedIssuer`], and
    /// the presets of [`crate::providers`]. May be called more than once, and beside
    /// [`issuer`](Self::issuer), whose issuers keep the rules set on this builder. An issuer
    /// trusted twice is a [`ConfigError::Rules`] at build. Its issuers are listed in the
    /// metadata's `authorization_servers` as [`issuer`](Self::issuer)'s are.
    pub fn trusted_issuer(mut self, issuer: impl Into<TrustedIssuer>) -> Self {
        self.trusted.push(issuer.into());
        self
    }

    /// Lists an authorization server in the metadata explicitly (instead of the issuers).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Uses `jwks_uri` for `issuer`'s keys instead of discovering it (default JWKS key
    /// source only: with [`key_source`](Self::key_source) it is a
    /// [`ConfigError::IgnoredByKeySource`]). Also trusts `issuer`.
    #[cfg(feature = "jwks")]
    pub fn jwks_uri(mut self, issuer: impl Into<String>, jwks_uri: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if !self.issuers.contains(&issuer) {
            self.issuers.push(issuer.clone());
        }
        self.jwks_uris.push((issuer, jwks_uri.into()));
        self
    }

    /// Lets the default JWKS key source fetch plain-http URLs off loopback (never do this in
    /// production). Loopback http is always allowed. Setting it at all (`true` or `false`)
    /// together with [`key_source`](Self::key_source) is a
    /// [`ConfigError::IgnoredByKeySource`]: that source has its own setting.
    #[cfg(feature = "jwks")]
    pub fn allow_insecure_http(mut self, on: bool) -> Self {
        self.allow_insecure_http = Some(on);
        self
    }

    /// How long the default JWKS key source may keep using an issuer's last good keys,
    /// counted from their last successful fetch, while they cannot be revalidated (default
    /// 24 h, [`mcp_auth_jwks::DEFAULT_MAX_STALENESS`]). Past it, requests get 503 with
    /// `Retry-After` until the issuer answers again, and cached tokens verified with those
    /// keys are refused too. With [`key_source`](Self::key_source) it is a
    /// [`ConfigError::IgnoredByKeySource`]: configure that source instead
    /// ([`JwksKeySourceBuilder::max_staleness`](mcp_auth_jwks::JwksKeySourceBuilder::max_staleness)).
    #[cfg(feature = "jwks")]
    pub fn max_key_staleness(mut self, max: Duration) -> Self {
        self.max_key_staleness = Some(max);
        self
    }

    /// Where keys come from: a JWKS key source (crate `mcp-auth-jwks`) or a
    /// [`StaticKeySource`](mcp_auth_core::keys::StaticKeySource). It replaces the default
    /// JWKS key source, so the options only that source reads (`jwks_uri`,
    /// `allow_insecure_http`, `max_key_staleness`) are refused with it at build
    /// ([`ConfigError::IgnoredByKeySource`]).
    pub fn key_source(mut self, keys: impl KeySource) -> Self {
        self.key_source = Some(Arc::new(keys));
        self
    }

    /// The algorithm allow-list (RFC 8725 §3.1). Default RS256 and ES256. `none` and HMAC
    /// cannot be expressed.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.defaults.algorithms = algs.into_iter().collect();
        self
    }

    /// The `typ` rule (default [`TypPolicy::Strict`]).
    pub fn typ_policy(mut self, typ: TypPolicy) -> Self {
        self.defaults.typ = typ;
        self
    }

    /// How `aud` is compared with the resource URI (default [`AudiencePolicy::Exact`]). It
    /// does not apply to an [`additional_audience`](Self::additional_audience), which is
    /// always compared byte for byte.
    pub fn audience_policy(mut self, policy: AudiencePolicy) -> Self {
        self.defaults.audience_policy = policy;
        self
    }

    /// Also accepts tokens whose `aud` is `audience`: the name the authorization server gives
    /// this API when it is not the resource URI, such as Entra's application (client) id GUID,
    /// `api://…` (Entra, Okta's `api://default`) or an Auth0 API identifier. May be called
    /// more than once.
    ///
    /// Any RFC 7519 StringOrURI (§2) is accepted: a non-empty string without whitespace or
    /// control characters, which must be an RFC 3986 URI if it contains `:`; else
    /// [`build`](Self::build) fails with [`ConfigError::Audience`]. It is compared with each
    /// `aud` value byte for byte, case-sensitively (RFC 7519 §4.1.3), with no canonical form
    /// even for a URL (`https://api.example.com` does not match `https://api.example.com/`)
    /// and whatever the [`audience_policy`](Self::audience_policy), which applies to the
    /// resource URI only.
    ///
    /// ```
    /// use mcp_auth::McpAuthLayer;
    /// use mcp_auth::core::keys::StaticKeySource;
    ///
    /// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://login.microsoftonline.com/00000000-aaaa-bbbb-cccc-000000000000/v2.0")
    ///     .key_source(StaticKeySource::new())
    ///     // Entra v2: `aud` is the API's application (client) id.
    ///     .additional_audience("00000000-1111-2222-3333-444444444444")
    ///     .additional_audience("api://my-api")
    ///     .build()?;
    ///
    /// let refused = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     .additional_audience("api://my-api ") // a trailing space, pasted with the value
    ///     .build();
    /// assert!(matches!(refused, Err(mcp_auth::ConfigError::Audience(_))));
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn additional_audience(mut self, audience: impl Into<String>) -> Self {
        self.defaults.extra_audiences.push(audience.into());
        self
    }

    /// Clock skew allowed on `exp`/`nbf`/`iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.defaults.leeway = leeway;
        self
    }

    /// Accepts only tokens issued to these clients (read where
    /// [`client_id_claims`](Self::client_id_claims) says).
    pub fn allowed_client_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.defaults.allowed_client_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a rule of this deployment on the verified claims (a tenant allow-list, `acr`
    /// values, `token_use`, ...): a [`ClaimCheck`], or a closure
    /// `Fn(&Claims) -> Result<(), ClaimRejection>`. It runs after the signature check; a
    /// token it refuses is 401 `invalid_token` with its description. A check that does not
    /// read the clock is settled for a cached token by the validation that admitted it; one
    /// that does ([`ClaimCheck::reads_clock`]) runs again on every cache hit. See
    /// [`mcp_auth_core::checks`].
    ///
    /// ```
    /// use mcp_auth::McpAuthLayer;
    /// use mcp_auth::core::checks::{ClaimIn, ClaimRejection};
    /// use mcp_auth::core::claims::Claims;
    /// use mcp_auth::core::keys::StaticKeySource;
    ///
    /// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     // Entra: only these tenants.
    ///     .claim_check(ClaimIn::new("tid", ["72f988bf-86f1-41af-91ab-2d7cd011db47"]))
    ///     // A rule of one's own.
    ///     .claim_check(|c: &Claims| match c.sub.as_deref() {
    ///         Some(s) if !s.starts_with("svc-") => Ok(()),
    ///         _ => Err(ClaimRejection::new("service accounts may not call this server")),
    ///     })
    ///     .build()?;
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn claim_check(mut self, check: impl ClaimCheck) -> Self {
        self.defaults.checks.push(check);
        self
    }

    /// Refuses tokens issued (`iat`, then required) more than `max` ago, whatever their
    /// `exp`: a [`MaxTokenAge`] claim check, which reads the clock and so runs on every
    /// cache hit too.
    pub fn max_token_age(self, max: Duration) -> Self {
        self.claim_check(MaxTokenAge::new(max))
    }

    /// `scopes_supported` of the metadata. Defaults to the required scopes.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Scopes every request through this layer needs (403 `insufficient_scope` otherwise).
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The scopes named in a 401 challenge (MCP "Scope Selection Strategy"). Defaults to the
    /// required scopes, else `scopes_supported`.
    pub fn challenge_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.challenge_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The scope hierarchy (MCP 2026-07-28: servers MUST account for scope hierarchies).
    /// Default: flat.
    pub fn scope_hierarchy(mut self, hierarchy: impl ScopeHierarchy + 'static) -> Self {
        self.hierarchy = Arc::new(hierarchy);
        self
    }

    /// `resource_name` of the metadata (RFC 9728 §2, RECOMMENDED).
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `resource_documentation` of the metadata.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// Also serves this resource's metadata document at the root URL
    /// `/.well-known/oauth-protected-resource` (default off; no effect for a resource
    /// without a path, which is served only there anyway).
    ///
    /// By default a resource with a path (`https://host/notes/mcp`) is served only at its
    /// path-inserted URL (`/.well-known/oauth-protected-resource/notes/mcp`), the one every
    /// challenge names in `resource_metadata`: RFC 9728 §3 forms the URL from the resource
    /// identifier, the root URL describes the resource identified by the bare origin, and
    /// §3.3 makes a client discard a document whose `resource` is not the identifier it
    /// formed the URL from. MCP clients (2025-11-25 and later) follow `resource_metadata`,
    /// or try the path-inserted URL first. Turn this on only as a fallback for clients that
    /// probe the root alone and accept a document for the server URL they dialed.
    ///
    /// Only one resource of a server may be served at the root: joining the metadata of two
    /// designated layers with [`MetadataService::merge`](crate::MetadataService::merge) (or
    /// `mcp_auth::metadata_routes` with axum) is a
    /// [`ConfigError::MetadataPathConflict`]. Merging two such axum routers with
    /// `Router::merge` directly panics, as axum does for any overlapping route.
    pub fn serve_metadata_at_root(mut self, on: bool) -> Self {
        self.metadata_at_root = on;
        self
    }

    /// Cap on the token length in bytes (default 8 KiB; longer is 400 `invalid_request`).
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Cap on a form-encoded body inspected for a forbidden `access_token` (default 64 KiB;
    /// larger is 413).
    pub fn max_form_body(mut self, len: usize) -> Self {
        self.max_form_body = len;
        self
    }

    /// Per-method and per-tool scopes (see [`McpPolicy`]). With a policy, the JSON-RPC body
    /// of each POST is read (up to [`max_body`](Self::max_body), else 413), classified,
    /// cross-checked with the `Mcp-Method`/`Mcp-Name` headers (400 with JSON-RPC error -32020
    /// on a mismatch) and handed to the inner service unchanged. GET and DELETE requests are
    /// not buffered and need the policy's default scopes.
    pub fn mcp_policy(mut self, policy: McpPolicy) -> Self {
        self.mcp_policy = Some(policy);
        self
    }

    /// Cap on a JSON-RPC body read for [`mcp_policy`](Self::mcp_policy) (default 1 MiB).
    pub fn max_body(mut self, len: usize) -> Self {
        self.max_body = len;
        self
    }

    /// Classify from the `Mcp-Method`/`Mcp-Name` headers alone, without reading the body
    /// (default off), when the request carries them and exactly one `MCP-Protocol-Version`
    /// header whose value is exactly a version that defines them
    /// ([`VERSIONS_WITH_MCP_HEADERS`](mcp_auth_core::mcp::VERSIONS_WITH_MCP_HEADERS):
    /// `2026-07-28`). Every other request (no headers; the version header absent, repeated,
    /// padded, unknown, `2025-06-18` or `2025-11-25`) is classified from the body as
    /// without this option. Only safe when the inner MCP server rejects requests whose
    /// headers disagree with their body, as the transport spec requires of servers that
    /// process the body; rmcp does for 2026-07-28 and later, reading the first
    /// `MCP-Protocol-Version` value, and every request trusted here is one it checks.
    pub fn trust_mcp_headers(mut self, on: bool) -> Self {
        self.trust_mcp_headers = on;
        self
    }

    /// Capacity of the verified-token cache (default [`DEFAULT_TOKEN_CACHE_CAPACITY`] tokens
    /// with the JWT validator, off with a custom one; `0` turns it off). A token is cached
    /// from its second accepted use, and every hit re-checks the clock and (for a JWT) that
    /// the verifying key is still the issuer's; the argument is in the docs of
    /// [`ValidateToken`].
    pub fn token_cache(mut self, capacity: u64) -> Self {
        self.token_cache = Some(capacity);
        self
    }

    /// Whether a 403 also lists the scopes the token holds (default on). See
    /// [`ChallengeTemplate::with_granted_scopes_in_403`].
    pub fn granted_scopes_in_403(mut self, on: bool) -> Self {
        self.granted_in_403 = on;
        self
    }

    /// Whether challenges carry `error_description` (default on; fixed texts, no token data).
    pub fn error_description(mut self, on: bool) -> Self {
        self.error_description = on;
        self
    }

    /// `realm` in challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The clock, in seconds since the epoch (tests, simulations).
    pub fn clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Also allows browser pages from `origin` (`scheme://host[:port]`, http or https) to
    /// call the server; may be called more than once. Entries are normalised as browsers
    /// serialize origins (lowercase scheme and host, default port dropped); a path, query,
    /// user info or another scheme is a [`ConfigError::Origin`] at build. `"null"` allows
    /// `Origin: null` (sandboxed frames, `file:` pages), which is otherwise refused.
    ///
    /// MCP Streamable HTTP transport, "Security Warning": servers MUST validate `Origin` on
    /// all incoming connections (DNS rebinding). The layer does, first, before any token
    /// work: a request **without** `Origin` (a non-browser client) passes on to the token
    /// checks; one whose `Origin` is not allowed, or with more than one `Origin` header, is
    /// 403 and never reaches the validator, the token cache or the inner service. The
    /// resource URI's own origin is always allowed; nothing else is by default.
    #[cfg_attr(
        feature = "axum",
        doc = "The [`cors`](McpAuthLayer::cors) preset answers the same origins and no others."
    )]
    #[cfg_attr(
        not(feature = "axum"),
        doc = "The `cors` preset (feature `axum`) answers the same origins and no others."
    )]
    ///
    /// ```
    /// # use mcp_auth::McpAuthLayer;
    /// # use mcp_auth::core::keys::StaticKeySource;
    /// let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     .allowed_origin("https://app.example.com")
    ///     .build()
    ///     .unwrap();
    /// assert!(auth.allowed_origins().allows(b"https://app.example.com"));
    /// assert!(auth.allowed_origins().allows(b"https://mcp.example.com"));
    /// assert!(!auth.allowed_origins().allows(b"https://evil.example"));
    /// ```
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// [`allowed_origin`](Self::allowed_origin) for each of `origins`.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Allows every loopback origin: `http` or `https` with host `localhost`, `127.0.0.1` or
    /// `[::1]`, any port (default off). For local development and local tools such as MCP
    /// Inspector (`http://localhost:6274`); a DNS rebinding page never has a loopback origin.
    pub fn allow_loopback_origins(mut self, on: bool) -> Self {
        self.loopback_origins = on;
        self
    }

    /// Renders the body (and any extra headers) of the layer's rejections, for example a
    /// JSON error document (default: [`DefaultRejection`](crate::DefaultRejection), today's
    /// empty bodies). The layer still sets the status, `WWW-Authenticate`, `Retry-After` and
    /// the [`AuthError`](crate::AuthError) extension after the hook, so the hook cannot drop
    /// the challenge or change the status; see [`RenderRejection`] for exactly what it gets
    /// and what it may set.
    ///
    /// The hook renders every 400, 401, 403, 413 and 503 of the layer, the `Origin` 403
    /// included, but not the `Mcp-Method`/`Mcp-Name` mismatch (400 with JSON-RPC error
    /// -32020): the MCP transport fixes that body, so it is always the layer's. A handler's
    /// own [`ScopeError`](crate::ScopeError) is the handler's response, not the layer's.
    /// Accepted requests never call the hook.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{HeaderValue, Response, header::CONTENT_TYPE};
    /// use mcp_auth::{AuthError, McpAuthLayer};
    /// # use mcp_auth::core::keys::StaticKeySource;
    ///
    /// let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     .rejection_response(|e: &AuthError| {
    ///         let body = serde_json::json!({
    ///             "error": e.kind().error_code().unwrap_or("unauthorized"),
    ///             "error_description": e.description(),
    ///         });
    ///         let mut res = Response::new(Bytes::from(body.to_string()));
    ///         res.headers_mut()
    ///             .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    ///         res
    ///     })
    ///     .build()?;
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn rejection_response(mut self, render: impl RenderRejection) -> Self {
        self.rejection = Some(Arc::new(render));
        self
    }

    /// **Dangerous.** Leaves the `Authorization` header on the request the inner service
    /// sees. MCP forbids passing the token on ("MUST NOT pass through the token it received
    /// from the MCP client"); use only when the inner service is known not to forward it.
    pub fn dangerously_keep_authorization_header(mut self, on: bool) -> Self {
        self.pass_authorization_header = on;
        self
    }

    /// Builds the layer with the JWT validator and the verified-token cache (unless
    /// [`token_cache`](Self::token_cache) is `0`).
    #[cfg_attr(
        feature = "jwks",
        doc = "Without [`key_source`](Self::key_source), keys come from a \
               [`JwksKeySource`](mcp_auth_jwks::JwksKeySource) that discovers each issuer's \
               `jwks_uri` (RFC 8414, then OpenID Connect) unless [`jwks_uri`](Self::jwks_uri) \
               names it; call [`McpAuthLayer::warm_up`] to load the keys before serving."
    )]
    #[cfg_attr(
        not(feature = "jwks"),
        doc = "Without the `jwks` feature a [`key_source`](Self::key_source) is required \
               (`ConfigError::NoKeySource` otherwise)."
    )]
    pub fn build(mut self) -> Result<McpAuthLayer, ConfigError> {
        // A preset's own error first: it names the parameter to fix, where the key source
        // built from a misconfigured preset would only say that something is missing.
        if let Some(e) = self.trusted.iter_mut().find_map(|t| t.error.take()) {
            return Err(e);
        }
        let keys = match self.key_source.clone() {
            Some(k) => {
                self.check_no_default_source_options()?;
                k
            }
            None => self.default_key_source()?,
        };
        let capacity = self.token_cache.unwrap_or(DEFAULT_TOKEN_CACHE_CAPACITY);
        self.finish(capacity, |rules, clock| {
            Validation::Jwt(JwtValidator::with_rules(keys, rules, clock))
        })
    }

    /// Builds the layer with a custom validator (opaque tokens, another token format). The
    /// issuer and key settings still shape the metadata document; the validator alone decides.
    /// The verified-token cache is off unless [`token_cache`](Self::token_cache) turns it on
    /// (see [`ValidateToken`] for when that is right).
    pub fn build_with_validator<V: ValidateToken>(
        self,
        validator: V,
    ) -> Result<McpAuthLayer, ConfigError> {
        if self.trusted.iter().any(|t| t.introspection.is_some()) {
            return Err(ConfigError::Introspection(
                "a custom validator decides alone: introspection is for the built-in validation"
                    .to_owned(),
            ));
        }
        let capacity = self.token_cache.unwrap_or(0);
        self.finish(capacity, |_, _| Validation::Custom(Arc::new(validator)))
    }

    /// Checks every setting and builds the layer around the validation `validation` makes
    /// from the rules of every trusted issuer and the clock.
    fn finish(
        mut self,
        cache_capacity: u64,
        validation: impl FnOnce(JwtRules, UnixClock) -> Validation,
    ) -> Result<McpAuthLayer, ConfigError> {
        let resource = ResourceUri::parse(&self.resource)?;
        if self.issuers.is_empty() && self.trusted.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if let Some(e) = self.trusted.iter_mut().find_map(|t| t.error.take()) {
            return Err(e);
        }
        let mut origins = OriginAllowList::new();
        origins.allow(resource.origin())?;
        for o in &self.allowed_origins {
            origins.allow(o)?;
        }
        if self.loopback_origins {
            origins.allow_loopback();
        }
        let issuers: Vec<String> = self
            .issuers
            .iter()
            .chain(self.trusted.iter().flat_map(|t| &t.issuers))
            .cloned()
            .collect();
        if let Some(bad) = issuers.iter().find(|i| !is_secure_url(i)) {
            return Err(ConfigError::Issuer(bad.clone()));
        }
        if self.trusted.iter().any(|t| t.issuers.is_empty()) {
            return Err(ConfigError::NoIssuer);
        }
        // One header and claims policy per entry: the builder's own issuers, then each
        // trusted issuer entry (RFC 8725 §3.8: each issuer judged by its own rules).
        let mut entries = Vec::with_capacity(1 + self.trusted.len());
        if !self.issuers.is_empty() {
            let (header, mut claims) =
                self.defaults
                    .policies(&resource, &self.issuers, self.max_token_len)?;
            dpop::take_cnf(self.dpop.as_ref(), &mut claims);
            entries.push((header, claims));
        }
        let mut routes = crate::introspection::Routes::default();
        for t in &mut self.trusted {
            let (header, mut claims) =
                t.settings
                    .policies(&resource, &t.issuers, self.max_token_len)?;
            dpop::take_cnf(self.dpop.as_ref(), &mut claims);
            if let Some(introspection) = t.introspection.take() {
                let [issuer] = t.issuers.as_slice() else {
                    return Err(ConfigError::Introspection(
                        "an introspecting issuer entry names exactly one issuer".to_owned(),
                    ));
                };
                routes.add(issuer, &claims, introspection)?;
            }
            entries.push((header, claims));
        }
        let required = ScopeSet::try_from_iter(&self.required)?;
        if required.contains(OFFLINE_ACCESS) {
            return Err(ConfigError::OfflineAccess);
        }
        let supported: Vec<String> = match self.scopes_supported {
            Some(s) => s,
            None => required.iter().map(|s| s.as_str().to_owned()).collect(),
        };
        let supported_set = ScopeSet::try_from_iter(&supported)?;
        if supported_set.contains(OFFLINE_ACCESS) {
            return Err(ConfigError::OfflineAccess);
        }
        // A required scope must be obtainable, unless a hierarchy grants it through another.
        if let Some(s) = required
            .iter()
            .find(|r| !supported_set.iter().any(|s| self.hierarchy.implies(s, r)))
        {
            return Err(ConfigError::UnsupportedScope(s.as_str().to_owned()));
        }
        let challenge_scopes = match self.challenge_scopes {
            Some(c) => ScopeSet::try_from_iter(&c)?,
            None if !required.is_empty() => required.clone(),
            None => supported_set,
        };
        if challenge_scopes.contains(OFFLINE_ACCESS) {
            return Err(ConfigError::OfflineAccess);
        }
        if let Some(p) = &self.mcp_policy
            && p.requirement(&mcp_auth_core::mcp::Classification::Uncertain)
                .all_scopes()
                .contains(OFFLINE_ACCESS)
        {
            return Err(ConfigError::OfflineAccess);
        }
        let mut metadata = ProtectedResourceMetadata::new(
            &resource,
            if self.authorization_servers.is_empty() {
                issuers
            } else {
                self.authorization_servers
            },
        );
        metadata.scopes_supported = supported;
        metadata.resource_name = self.resource_name;
        metadata.resource_documentation = self.resource_documentation;
        let challenge = ChallengeTemplate::new(resource.metadata_url(), challenge_scopes);
        let challenge = dpop::advertised(self.dpop.as_ref(), &mut metadata, challenge);
        metadata.validate(Some(&resource))?;
        let metadata_service = MetadataService::new(metadata.clone());
        let metadata_service = if self.metadata_at_root {
            metadata_service.with_root_fallback()
        } else {
            metadata_service
        };

        let mut challenge = challenge
            .with_granted_scopes_in_403(self.granted_in_403)
            .with_error_description(self.error_description);
        if let Some(realm) = self.realm {
            challenge = challenge.with_realm(realm);
        }
        let claims_policies: Vec<ClaimsPolicy> = entries.iter().map(|(_, c)| c.clone()).collect();
        let rules = JwtRules::per_issuer(entries)?;
        let introspection = (!routes.is_empty()).then_some(routes);
        let challenge = Arc::new(challenge);
        let mcp_policy = self.mcp_policy.map(Arc::new);
        let cache = (cache_capacity > 0).then(|| TokenCache::new(cache_capacity, claims_policies));
        let (memory_limits, operations) = self.operations.build();
        Ok(McpAuthLayer {
            shared: Arc::new(Shared {
                validation: validation(rules, self.clock.clone()),
                introspection,
                cache,
                clock: self.clock,
                scope_policy: Arc::new(ScopePolicy {
                    hierarchy: self.hierarchy,
                    challenge: challenge.clone(),
                    mcp: mcp_policy.clone(),
                }),
                resource,
                challenges: Challenges {
                    template: challenge,
                    rendered: ChallengeCache::default(),
                },
                route_requirement: Requirement::all_of(required.clone()),
                required,
                metadata: Arc::new(metadata),
                metadata_service,
                max_token_len: self.max_token_len,
                max_form_body: self.max_form_body,
                pass_authorization_header: self.pass_authorization_header,
                mcp_policy,
                max_body: self.max_body,
                trust_mcp_headers: self.trust_mcp_headers,
                origins: Arc::new(origins),
                rejection: self.rejection,
                dpop: self.dpop,
                metrics: Default::default(),
                memory_limits,
                operations,
            }),
        })
    }
}
