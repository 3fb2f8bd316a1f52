//! [`McpAuthLayer`]: one configuration for the layer, the challenges and the metadata
//! document, so they can never disagree (built by [`McpAuthBuilder`](crate::McpAuthBuilder)).

use crate::builder::McpAuthBuilder;
use crate::context::{AuthContext, ScopePolicy};
use crate::decision::{
    TokenStep, Validation, introspected_step, resume_token, token_step, validated_step,
};
use crate::metadata::MetadataService;
use crate::response::{ChallengeCache, RenderRejection};
use crate::service::McpAuth;
use crate::token_cache::TokenCache;
use crate::validate::{JwtValidator, UnixClock};
use mcp_auth_core::challenge::ChallengeTemplate;
use mcp_auth_core::credentials::{RawCredentials, Scheme};
use mcp_auth_core::mcp::{McpPolicy, Requirement};
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use mcp_auth_core::origin::OriginAllowList;
use mcp_auth_core::resource::ResourceUri;
use mcp_auth_core::scope::ScopeSet;
use mcp_auth_core::{AccessToken, AuthError};
use std::fmt;
use std::sync::Arc;
use tower_layer::Layer;

/// Default capacity of the verified-token cache.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: u64 = 10_000;

/// Everything the service needs, shared by every clone.
pub(crate) struct Shared {
    pub(crate) validation: Validation,
    /// Where opaque tokens (and some issuers' JWTs) are introspected, if any are.
    pub(crate) introspection: Option<crate::introspection::Routes>,
    /// The verified-token cache in front of the validation (see [`crate::token_cache`]).
    pub(crate) cache: Option<TokenCache>,
    /// The clock of the time claims, for cache hits.
    pub(crate) clock: UnixClock,
    pub(crate) resource: ResourceUri,
    pub(crate) challenges: Challenges,
    pub(crate) scope_policy: Arc<ScopePolicy>,
    pub(crate) required: ScopeSet,
    /// `required` as a requirement, built once.
    pub(crate) route_requirement: Requirement,
    pub(crate) metadata: Arc<ProtectedResourceMetadata>,
    /// The service of `metadata` (at its path-inserted URL, and the root if designated).
    pub(crate) metadata_service: MetadataService,
    pub(crate) max_token_len: usize,
    pub(crate) max_form_body: usize,
    pub(crate) pass_authorization_header: bool,
    pub(crate) mcp_policy: Option<Arc<McpPolicy>>,
    pub(crate) max_body: usize,
    pub(crate) trust_mcp_headers: bool,
    /// The `Origin` allow-list (the CORS preset is built from it too).
    pub(crate) origins: Arc<OriginAllowList>,
    /// The rejection hook; `None` renders the layer's own bodies without a dynamic call.
    pub(crate) rejection: Option<Arc<dyn RenderRejection>>,
    /// DPoP (RFC 9449), unless its mode is off.
    pub(crate) dpop: Option<crate::decision::dpop::DpopConfig>,
    /// The decision metrics' handles (crate::metrics).
    pub(crate) metrics: crate::metrics::LayerMetrics,
    /// Rate limits and session bindings (issue 18); `None` when neither is configured.
    pub(crate) operations: Option<Arc<crate::operations::Operations>>,
    /// The limits of a memory rate-limit store, which the decision checks itself.
    pub(crate) memory_limits: Option<crate::operations::MemoryLimits>,
}

/// The challenge template, and the challenges rendered from it so far.
pub(crate) struct Challenges {
    pub(crate) template: Arc<ChallengeTemplate>,
    pub(crate) rendered: ChallengeCache,
}

/// Applies MCP authorization to a service. See the [crate docs](crate) for an example.
///
/// Cheap to clone: the configuration sits behind one `Arc`.
#[must_use]
#[derive(Clone)]
pub struct McpAuthLayer {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for McpAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuthLayer")
            .field("resource", &self.shared.resource)
            .field("validation", &self.shared.validation)
            .field(
                "token_cache",
                &self.shared.cache.as_ref().and_then(TokenCache::capacity),
            )
            .finish_non_exhaustive()
    }
}

impl McpAuthLayer {
    /// A builder for the layer protecting `resource`, this server's canonical URI (RFC 8707,
    /// MCP "Canonical Server URI"): the `aud` tokens must name.
    pub fn builder(resource: impl Into<String>) -> McpAuthBuilder {
        McpAuthBuilder::new(resource.into())
    }

    /// Loads every issuer's keys now (JWKS discovery and fetch), so the first request does
    /// not pay for it. Serving before it finished is fine: requests then wait for the first
    /// load (one fetch, shared). Nothing to do with a custom validator.
    pub async fn warm_up(&self) -> Result<(), mcp_auth_core::keys::KeyError> {
        match &self.shared.validation {
            Validation::Jwt(v) => v.key_source().warm_up().await,
            Validation::Custom(_) => Ok(()),
        }
    }

    /// The JWT validator, unless the layer was built with a custom one.
    pub fn jwt_validator(&self) -> Option<&JwtValidator> {
        match &self.shared.validation {
            Validation::Jwt(v) => Some(v),
            Validation::Custom(_) => None,
        }
    }

    /// Entries in the verified-token cache (approximate; for tests and metrics).
    pub fn token_cache_len(&self) -> u64 {
        self.shared.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// The layer's decision on an access token that arrived some other way than in a
    /// request's `Authorization: Bearer` header (a WebSocket upgrade's first message, say):
    /// the same cache, syntax check and validation a request gets, without the scope check
    /// of a route. Decided without I/O whenever the keys are in memory. The token is taken
    /// as a `Bearer` token; a custom [`ValidateToken`](crate::ValidateToken) sees an empty
    /// request head.
    pub fn validate_token(
        &self,
        token: &str,
    ) -> impl std::future::Future<Output = Result<AuthContext, AuthError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let parts = http::Request::new(()).into_parts().0;
        let raw = RawCredentials::new(Scheme::Bearer, token.as_bytes());
        let first = token_step(&shared, raw, &parts, false);
        let token = AccessToken::new(token);
        async move {
            let mut step = first;
            loop {
                step = match step {
                    TokenStep::Known(ctx, _) => {
                        return Ok(ctx.with_policy(shared.scope_policy.clone()));
                    }
                    TokenStep::Refused(e) => return Err(e),
                    TokenStep::Validate(fut) => {
                        validated_step(&shared, Some(token.expose()), Scheme::Bearer, fut.await)
                    }
                    TokenStep::Introspect(fut) => {
                        introspected_step(&shared, Some(token.expose()), Scheme::Bearer, fut.await)
                    }
                    TokenStep::Keys {
                        issuer,
                        kid,
                        waiting,
                    } => {
                        let Validation::Jwt(v) = &shared.validation else {
                            return Err(AuthError::key_source_unavailable(30));
                        };
                        let answer = v.key_source().keys(&issuer, kid.as_deref()).await;
                        let token_str = Some(token.expose());
                        match resume_token(&shared, token_str, Scheme::Bearer, waiting, answer) {
                            Some(next) => next,
                            // A cache hit whose key left the set: validate again, uncached.
                            None => {
                                let raw =
                                    RawCredentials::new(Scheme::Bearer, token.expose().as_bytes());
                                token_step(&shared, raw, &parts, true)
                            }
                        }
                    }
                };
            }
        }
    }

    /// The canonical resource URI.
    pub fn resource(&self) -> &ResourceUri {
        &self.shared.resource
    }

    /// The RFC 9728 metadata document this layer's challenges point at.
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.shared.metadata
    }

    /// The challenge template (for custom responses that must match the layer's).
    pub fn challenge(&self) -> &ChallengeTemplate {
        &self.shared.challenges.template
    }

    /// The route-level scopes every request needs.
    pub fn required_scopes(&self) -> &ScopeSet {
        &self.shared.required
    }

    /// The origins allowed in a request's `Origin` header (see
    /// [`McpAuthBuilder::allowed_origin`]).
    pub fn allowed_origins(&self) -> &OriginAllowList {
        &self.shared.origins
    }
}

impl<S> Layer<S> for McpAuthLayer {
    type Service = McpAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpAuth::new(inner, self.shared.clone())
    }
}
