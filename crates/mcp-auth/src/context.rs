//! What a handler learns about the caller: [`AuthContext`].

mod sealed;

use mcp_auth_core::challenge::ChallengeTemplate;
use mcp_auth_core::claims::Claims;
use mcp_auth_core::mcp::{Classification, McpPolicy};
use mcp_auth_core::scope::{FlatScopes, ScopeHierarchy, ScopeSet};
use mcp_auth_core::{AuthError, TokenHash};
use std::sync::Arc;

/// The verified identity behind a request, inserted into the request extensions by
/// [`McpAuth`](crate::McpAuth) before the inner service runs.
///
/// Cheap to clone. Holds no token: only its claims and a short hash for logs.
#[derive(Clone, Debug)]
pub struct AuthContext {
    inner: Arc<Inner>,
    policy: Option<Arc<ScopePolicy>>,
    /// The thumbprint of the key whose DPoP proof this request carried (RFC 9449): per
    /// request, never in the verified-token cache.
    dpop_jkt: Option<Arc<str>>,
}

#[derive(Debug)]
struct Inner {
    claims: Claims,
    scopes: ScopeSet,
    token_hash: TokenHash,
    /// The memory limit store's keyed hashes of this principal and client id, computed on
    /// the first limited request (issue 18): a cached token's are not hashed again.
    limit_memo: crate::limit::KeyMemo,
}

/// How [`AuthContext::require_scopes`] decides and what it answers with.
#[derive(Debug)]
pub(crate) struct ScopePolicy {
    pub(crate) hierarchy: Arc<dyn ScopeHierarchy>,
    pub(crate) challenge: Arc<ChallengeTemplate>,
    pub(crate) mcp: Option<Arc<McpPolicy>>,
}

impl AuthContext {
    /// A context for verified `claims`. Validators call this after every check passed.
    pub fn new(claims: Claims, scopes: ScopeSet, token_hash: TokenHash) -> Self {
        Self {
            inner: Arc::new(Inner {
                claims,
                scopes,
                token_hash,
                limit_memo: Default::default(),
            }),
            policy: None,
            dpop_jkt: None,
        }
    }

    /// The rate limiter's cached keyed hashes for this context ([`crate::limit`]).
    pub(crate) fn limit_memo(&self) -> &crate::limit::KeyMemo {
        &self.inner.limit_memo
    }

    /// The same context for a request whose DPoP proof, by the key of thumbprint `jkt`,
    /// verified (and was not a replay).
    pub(crate) fn with_dpop(mut self, jkt: &str) -> Self {
        self.dpop_jkt = Some(Arc::from(jkt));
        self
    }

    /// Whether the request was sender-constrained: made with the `DPoP` scheme, its proof
    /// checked (RFC 9449 §4.3), the token's `cnf.jkt` that proof's key, the proof not a
    /// replay. A handler can require it for one tool.
    pub fn is_sender_constrained(&self) -> bool {
        self.dpop_jkt.is_some()
    }

    /// The RFC 7638 SHA-256 thumbprint (base64url) of the key the request proved possession
    /// of: the token's `cnf.jkt`. `None` for a `Bearer` request.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    pub(crate) fn with_policy(mut self, policy: Arc<ScopePolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The subject: the resource owner (or the client, for client-credentials tokens). `sub`,
    /// or the layer's [`subject_claim`](crate::McpAuthBuilder::subject_claim), read once when
    /// the token was validated ([`Claims::subject`]).
    pub fn subject(&self) -> Option<&str> {
        self.inner.claims.subject()
    }

    /// The client: `client_id`, else `azp`, or the first of the layer's
    /// [`client_id_claims`](crate::McpAuthBuilder::client_id_claims) the token has, read once
    /// when the token was validated ([`Claims::client`]).
    pub fn client_id(&self) -> Option<&str> {
        self.inner.claims.client()
    }

    /// `iss`, already checked against the configured issuers.
    pub fn issuer(&self) -> &str {
        self.inner.claims.iss.as_deref().unwrap_or_default()
    }

    /// The granted scopes (`scope` and `scp` merged).
    pub fn scopes(&self) -> &ScopeSet {
        &self.inner.scopes
    }

    /// Every claim of the token.
    pub fn claims(&self) -> &Claims {
        &self.inner.claims
    }

    /// A short hash of the token, safe to log.
    pub fn token_hash(&self) -> TokenHash {
        self.inner.token_hash
    }

    /// A key for per-user state (MCP security best practices: key state as
    /// `<user_id>:<handle>`, with the user taken from the verified token): `iss` and `sub`
    /// joined, so two issuers' subjects never collide.
    pub fn user_key(&self) -> String {
        format!("{}#{}", self.issuer(), self.subject().unwrap_or_default())
    }

    /// Whether the token satisfies every scope in `required` (the layer's scope hierarchy
    /// applies).
    pub fn has_scopes(&self, required: &ScopeSet) -> bool {
        match &self.policy {
            Some(p) => self.inner.scopes.satisfies(required, p.hierarchy.as_ref()),
            None => self.inner.scopes.satisfies(required, &FlatScopes),
        }
    }

    /// Whether the layer's [`McpPolicy`] would let this token perform `method` on `name`
    /// (a tool, prompt or resource URI). True when the layer has no policy.
    ///
    /// Use it in a list handler to hide what the caller cannot call (e.g. filtering
    /// `tools/list`): doing it in the handler keeps streaming responses intact, where a layer
    /// rewriting response bytes would not.
    pub fn may(&self, method: &str, name: Option<&str>) -> bool {
        match &self.policy {
            Some(p) => match &p.mcp {
                Some(mcp) => mcp
                    .requirement(&Classification::Operations(vec![McpPolicy::operation(
                        method, name,
                    )]))
                    .is_satisfied_by(&self.inner.scopes, p.hierarchy.as_ref()),
                None => true,
            },
            None => true,
        }
    }

    /// Checks that the token holds `required`; otherwise an `insufficient_scope` error naming
    /// all of `required` (MCP: one challenge with every scope the operation needs).
    /// Invalid scope strings count as not held.
    pub fn require_scopes<I, S>(&self, required: I) -> Result<(), ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let Ok(required) = ScopeSet::try_from_iter(required) else {
            return Err(self.scope_error(AuthError::insufficient_scope(ScopeSet::new())));
        };
        if self.has_scopes(&required) {
            Ok(())
        } else {
            Err(self.scope_error(AuthError::insufficient_scope(required)))
        }
    }

    fn scope_error(&self, error: AuthError) -> ScopeError {
        let challenge = self
            .policy
            .as_ref()
            .and_then(|p| p.challenge.render(&error, Some(&self.inner.scopes)));
        ScopeError { error, challenge }
    }
}

/// A failed [`AuthContext::require_scopes`]: 403 with the same `insufficient_scope` challenge
/// the layer sends. With the `axum` feature it is an `IntoResponse`.
#[derive(Debug, Clone)]
pub struct ScopeError {
    error: AuthError,
    challenge: Option<String>,
}

impl ScopeError {
    /// The underlying error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The `WWW-Authenticate` value.
    pub fn challenge(&self) -> Option<&str> {
        self.challenge.as_deref()
    }

    /// The 403 response, with any body type.
    pub fn into_http_response<B: Default>(self) -> http::Response<B> {
        let value = self
            .challenge
            .and_then(|c| http::HeaderValue::from_str(&c).ok());
        crate::response::rejection(self.error, value)
    }
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for ScopeError {}
