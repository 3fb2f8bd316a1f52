//! The layer's one decision path: a state machine over the request head that says what it
//! needs next ([`Next`]) and is resumed with the answer, without redoing any work.
//!
//! [`McpAuth::call`](crate::McpAuth) runs [`Decision::advance`] once. When that decides
//! ([`Next::Allow`], [`Next::Reject`]) nothing is boxed; otherwise the response future does
//! the one piece of I/O asked for (read the body, fetch keys, await a custom validator) and
//! hands the answer to [`Decision::resume`], until it decides. The stages, in order:
//!
//! 1. **Form body** (RFC 6750 §2.2, MCP "Token Requirements"): an
//!    `application/x-www-form-urlencoded` body is read (capped) and refused if it carries an
//!    `access_token`; more than one `Content-Type` is refused before any token work.
//! 2. **Token**: the credentials from the `Authorization` header only
//!    ([`credentials::locate`]); the verified-token cache ([`crate::token_cache`]) first, on
//!    the token's raw bytes, then the syntax check, then the validation: the JWT state
//!    machine ([`mcp_auth_core::validation`]), or a custom [`ValidateToken`] as one step.
//!    With DPoP on ([`dpop`]): the scheme rules first, then, on the `DPoP` scheme, the proof
//!    (RFC 9449 §4.3, on every request, cache hit or not) once the token is known, and the
//!    replay check ([`Next::ReplayCheck`]) once both verified.
//! 3. **Classification** (when an [`McpPolicy`] is set): what the JSON-RPC message does, from
//!    the trusted `Mcp-Method`/`Mcp-Name` headers or from the body (read, capped).
//! 4. **Grant**: the scope check (403 `insufficient_scope` naming what is missing), then the
//!    head as the inner service gets it: without the token (MCP: "MUST NOT pass through the
//!    token"), with the [`AuthContext`].

use crate::context::AuthContext;
use crate::layer::Shared;
use crate::limit::RequestTime;
use crate::token_cache::{Entry, Hit};
use crate::validate::{BoxValidateFuture, JwtValidator, ValidateToken, context, unknown_step};
use bytes::Bytes;
use http::Method;
use http::header::AUTHORIZATION;
use http::request::Parts;
use mcp_auth_core::AuthError;
use mcp_auth_core::credentials::{
    self, RawCredentials, Scheme, form_body_has_access_token, is_form_body,
};
use mcp_auth_core::introspection::{Introspected, TokenIntrospector};
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::CompactJws;
use mcp_auth_core::keys::KeyError;
use mcp_auth_core::mcp::{
    Classification, HeaderMismatch, McpHeaders, Requirement, classify, protocol_defines_mcp_headers,
};
use mcp_auth_core::validation::{Resume, Step};
use std::fmt;
use std::sync::Arc;

pub(crate) mod dpop;

/// How the layer validates tokens.
pub(crate) enum Validation {
    /// The built-in RFC 9068 JWT validation, driven step by step.
    Jwt(JwtValidator),
    /// A custom validator, awaited as one step.
    Custom(Arc<dyn DynValidate>),
}

impl fmt::Debug for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Jwt(v) => f.debug_tuple("Jwt").field(v).finish(),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// [`ValidateToken`] with its future boxed, so the layer has one type for every validator.
pub(crate) trait DynValidate: Send + Sync + 'static {
    fn validate(&self, credentials: credentials::Credentials, parts: &Parts) -> BoxValidateFuture;
}

impl<V: ValidateToken> DynValidate for V {
    fn validate(&self, credentials: credentials::Credentials, parts: &Parts) -> BoxValidateFuture {
        Box::pin(ValidateToken::validate(self, credentials, parts))
    }
}

/// RFC 9449 §7.1: the built-in validation has no DPoP support configured.
pub(crate) fn dpop_not_configured() -> AuthError {
    AuthError::invalid_token("DPoP-bound tokens are not accepted by this resource")
}

/// What the decision needs next.
#[must_use]
pub(crate) enum Next {
    /// Allowed: the head is ready for the inner service (token removed, context inserted);
    /// the body is the original one unless [`Decision::take_body`] has bytes.
    Allow,
    /// Refused.
    Reject(Rejection),
    /// Read the body, at most `cap` bytes, then [`Io::Body`].
    ReadBody { cap: usize },
    /// Await `KeySource::keys(issuer, kid)` of the JWT validator, then [`Io::Keys`].
    Keys { issuer: String, kid: Option<String> },
    /// Await the custom validator, then [`Io::Validated`].
    Validate(BoxValidateFuture),
    /// Await the introspection of an opaque token (RFC 7662), then [`Io::Introspected`].
    Introspect(BoxIntrospectFuture),
    /// Await the DPoP replay store's `check_and_insert(jti, until)` (RFC 9449 §11.1), then
    /// [`Io::Replay`].
    ReplayCheck {
        jti: mcp_auth_core::dpop::JtiHash,
        until: i64,
    },
}

/// An introspection, owned: the introspector and the token it was given.
pub(crate) type BoxIntrospectFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Arc<Introspected>, AuthError>> + Send + 'static>,
>;

/// Why a request is refused, rendered by the service.
pub(crate) enum Rejection {
    /// An authorization error.
    Auth(AuthError),
    /// `insufficient_scope`, with the caller (whose scopes the challenge names, and whom the
    /// audit event names; boxed: kept off the size of every decision).
    Scope(Box<(AuthError, AuthContext)>),
    /// `Mcp-Method`/`Mcp-Name` disagree with the body: the transport's -32020 response.
    Mismatch(HeaderMismatch),
    /// A refused DPoP proof or key binding (RFC 9449 §7.1): 401 with a `DPoP` challenge.
    Proof(mcp_auth_core::dpop::DpopError),
    /// Over a memory store's rate limit (issue 18): 429 with `Retry-After`, no challenge
    /// (boxed: off the size of every decision).
    Limited(Box<crate::operations::LimitRefusal>),
}

impl From<AuthError> for Rejection {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    FormBody,
    Token,
    Classify,
    Grant,
}

/// What is waiting for keys.
pub(crate) enum Waiting {
    /// The JWT state machine, stopped at [`Step::NeedKeys`] (boxed: it holds the token's
    /// claims, and this type is moved on every request's fast path too).
    Token(Box<Resume>),
    /// A cache hit whose verifying key must be confirmed in a freshly loaded set.
    Hit(Arc<Entry>),
}

/// The decision on one request. Fresh, it holds nothing (no allocation, nothing to drop):
/// what a decision computed is kept, boxed, only when it stops for I/O.
pub(crate) struct Decision {
    saved: Option<Box<State>>,
    /// A fresh `DPoP-Nonce` for the response (RFC 9449 §8.2), when the proof's slot turned
    /// (boxed: the decision of every request carries the slot).
    nonce: Option<Box<http::HeaderValue>>,
}

impl Decision {
    pub(crate) fn new() -> Self {
        Self {
            saved: None,
            nonce: None,
        }
    }

    /// The `DPoP-Nonce` the allowed request's response carries, if one is due.
    pub(crate) fn take_nonce(&mut self) -> Option<Box<http::HeaderValue>> {
        self.nonce.take()
    }

    /// The bytes of a body that had to be read, for the inner service.
    pub(crate) fn take_body(&mut self) -> Option<Bytes> {
        self.saved.as_mut()?.body.take()
    }

    /// Runs the stages until the decision is taken or needs I/O.
    pub(crate) fn advance(&mut self, shared: &Shared, parts: &mut Parts) -> Next {
        let mut state = State::new();
        // Issue 18: the per-address limit of a memory store, before any token work.
        if let Some(limits) = &shared.memory_limits
            && let Err(r) = limits.before(&parts.headers, &parts.extensions, &state.now)
        {
            return Next::Reject(r);
        }
        let next = state.advance(shared, parts);
        if !matches!(next, Next::Allow | Next::Reject(_)) {
            self.saved = Some(Box::new(state));
        } else if state.nonce_due {
            self.nonce = dpop::fresh_nonce(shared).map(Box::new);
        }
        next
    }

    /// Goes on with the answer to the I/O the last [`Next`] asked for.
    pub(crate) fn resume(&mut self, shared: &Shared, parts: &mut Parts, io: Io) -> Next {
        let Some(state) = self.saved.as_mut() else {
            return Next::Reject(unknown_step_error().into());
        };
        // After I/O the post-auth limits read the clock anew.
        state.now = RequestTime::default();
        let next = match io {
            Io::Body(read) => state.body_read(shared, parts, read),
            Io::Keys(answer) => state.keys_arrived(shared, parts, answer),
            Io::Validated(outcome) => state.validated(shared, parts, outcome),
            Io::Introspected(answer) => state.introspected(shared, parts, answer),
            Io::Replay(answer) => state.replay_answered(shared, parts, answer),
        };
        if matches!(next, Next::Allow) && state.nonce_due {
            self.nonce = dpop::fresh_nonce(shared).map(Box::new);
        }
        next
    }
}

/// The answer to a [`Next`]'s I/O.
pub(crate) enum Io {
    /// The body [`Next::ReadBody`] asked for, or why it could not be read.
    Body(Result<Bytes, AuthError>),
    /// `KeySource::keys`' answer to [`Next::Keys`].
    Keys(Result<Arc<KeySet>, KeyError>),
    /// The custom validator's answer to [`Next::Validate`].
    Validated(Result<AuthContext, AuthError>),
    /// The introspector's answer to [`Next::Introspect`].
    Introspected(Result<Arc<Introspected>, AuthError>),
    /// The replay store's answer to [`Next::ReplayCheck`].
    Replay(Result<mcp_auth_dpop::Replay, mcp_auth_dpop::StoreError>),
}

/// What a decision computed so far.
struct State {
    stage: Stage,
    /// The body, once it had to be read.
    body: Option<Bytes>,
    /// The caller, once the token is accepted.
    ctx: Option<AuthContext>,
    /// Known (from the verified-token cache) to satisfy the route requirement.
    grants_route: bool,
    /// Set after a cache hit whose key left the issuer's set: validate without the cache.
    bypass_cache: bool,
    waiting: Option<Waiting>,
    /// The `Mcp-*` headers to cross-check with the body being read.
    mcp_headers: Option<Box<McpHeaders>>,
    requirement: Option<Requirement>,
    /// The DPoP proof's key thumbprint, while its `jti` is checked by the replay store.
    proof_jkt: Option<Box<str>>,
    /// The proof's nonce is from the previous slot: a fresh one goes on the response.
    nonce_due: bool,
    /// The request's time on a memory rate-limit store's clock, read by the first limit
    /// check and reused by the next while the request does no I/O.
    now: RequestTime,
}

impl State {
    fn new() -> Self {
        Self {
            stage: Stage::FormBody,
            body: None,
            ctx: None,
            grants_route: false,
            bypass_cache: false,
            waiting: None,
            mcp_headers: None,
            requirement: None,
            proof_jkt: None,
            nonce_due: false,
            now: RequestTime::default(),
        }
    }

    /// Runs the stages from where the decision stopped until it decides or needs I/O.
    fn advance(&mut self, shared: &Shared, parts: &mut Parts) -> Next {
        match self.run(shared, parts) {
            Ok(next) => next,
            Err(rejection) => Next::Reject(rejection),
        }
    }

    fn run(&mut self, shared: &Shared, parts: &mut Parts) -> Result<Next, Rejection> {
        if self.stage == Stage::FormBody {
            // More than one `Content-Type`: refused before any token work.
            if is_form_body(parts)? {
                let Some(body) = &self.body else {
                    return Ok(Next::ReadBody {
                        cap: shared.max_form_body,
                    });
                };
                // RFC 6750 §2.2 / MCP: a token in a form body is refused, never used.
                if form_body_has_access_token(body) {
                    return Err(only_in_header().into());
                }
            }
            self.stage = Stage::Token;
        }
        if self.stage == Stage::Token {
            if let Some(next) = self.token(shared, parts)? {
                return Ok(next);
            }
            self.stage = Stage::Classify;
        }
        if self.stage == Stage::Classify {
            if let Some(next) = self.classify(shared, parts)? {
                return Ok(next);
            }
            self.stage = Stage::Grant;
        }
        self.grant(shared, parts)
    }

    /// The token stage: `Ok(None)` once the caller is known.
    fn token(&mut self, shared: &Shared, parts: &Parts) -> Result<Option<Next>, Rejection> {
        let Some(raw) = credentials::locate(parts, shared.max_token_len)? else {
            return Err(AuthError::missing_credentials().into());
        };
        dpop::gate(shared, raw.scheme, parts)?;
        match token_step(shared, raw, parts, self.bypass_cache) {
            TokenStep::Known(ctx, grants_route) => self.accepted(shared, parts, ctx, grants_route),
            TokenStep::Refused(e) => Err(e.into()),
            TokenStep::Keys {
                issuer,
                kid,
                waiting,
            } => {
                self.waiting = Some(waiting);
                Ok(Some(Next::Keys { issuer, kid }))
            }
            TokenStep::Validate(fut) => Ok(Some(Next::Validate(fut))),
            TokenStep::Introspect(fut) => Ok(Some(Next::Introspect(fut))),
        }
    }

    fn body_read(
        &mut self,
        shared: &Shared,
        parts: &mut Parts,
        read: Result<Bytes, AuthError>,
    ) -> Next {
        match read {
            Ok(bytes) => {
                self.body = Some(bytes);
                self.advance(shared, parts)
            }
            Err(e) => Next::Reject(e.into()),
        }
    }

    fn keys_arrived(
        &mut self,
        shared: &Shared,
        parts: &mut Parts,
        answer: Result<Arc<KeySet>, KeyError>,
    ) -> Next {
        let Some(waiting) = self.waiting.take() else {
            return Next::Reject(unknown_step_error().into());
        };
        let (token, scheme) = presented(parts, shared);
        match resume_token(shared, token, scheme, waiting, answer) {
            Some(step) => self.token_outcome(shared, parts, step),
            None => {
                // A cache hit whose verifying key left the set: the entry is gone,
                // validate again.
                self.bypass_cache = true;
                self.advance(shared, parts)
            }
        }
    }

    fn validated(
        &mut self,
        shared: &Shared,
        parts: &mut Parts,
        outcome: Result<AuthContext, AuthError>,
    ) -> Next {
        let (token, scheme) = presented(parts, shared);
        let step = validated_step(shared, token, scheme, outcome);
        self.token_outcome(shared, parts, step)
    }

    fn introspected(
        &mut self,
        shared: &Shared,
        parts: &mut Parts,
        answer: Result<Arc<Introspected>, AuthError>,
    ) -> Next {
        let (token, scheme) = presented(parts, shared);
        let step = introspected_step(shared, token, scheme, answer);
        self.token_outcome(shared, parts, step)
    }

    fn token_outcome(&mut self, shared: &Shared, parts: &mut Parts, step: TokenStep) -> Next {
        match step {
            TokenStep::Known(ctx, grants_route) => {
                match self.accepted(shared, parts, ctx, grants_route) {
                    Ok(Some(next)) => next,
                    Ok(None) => self.known(shared, parts),
                    Err(r) => Next::Reject(r),
                }
            }
            TokenStep::Refused(e) => Next::Reject(e.into()),
            TokenStep::Keys {
                issuer,
                kid,
                waiting,
            } => {
                self.waiting = Some(waiting);
                Next::Keys { issuer, kid }
            }
            TokenStep::Validate(fut) => Next::Validate(fut),
            TokenStep::Introspect(fut) => Next::Introspect(fut),
        }
    }

    pub(super) fn known(&mut self, shared: &Shared, parts: &mut Parts) -> Next {
        self.stage = Stage::Classify;
        self.advance(shared, parts)
    }

    /// The classification stage: `Ok(None)` once the requirement is known.
    fn classify(&mut self, shared: &Shared, parts: &Parts) -> Result<Option<Next>, Rejection> {
        let Some(policy) = &shared.mcp_policy else {
            return Ok(None);
        };
        // Requests that carry no JSON-RPC message (GET streams, DELETE) are never buffered.
        let classification = if parts.method == Method::POST {
            let headers = match self.mcp_headers.take() {
                Some(headers) => *headers,
                None => McpHeaders::from_headers(&parts.headers).map_err(Rejection::Mismatch)?,
            };
            match (trusted(shared, parts, &headers), &self.body) {
                (Some(c), _) => Some(c),
                (None, None) => {
                    self.mcp_headers = Some(Box::new(headers));
                    return Ok(Some(Next::ReadBody {
                        cap: shared.max_body,
                    }));
                }
                // Read here, or for the form check (then capped again to this stage's cap).
                (None, Some(body)) if body.len() > shared.max_body => {
                    return Err(AuthError::payload_too_large().into());
                }
                (None, Some(body)) => Some(classify(&headers, body).map_err(Rejection::Mismatch)?),
            }
        } else {
            None
        };
        let need = match classification {
            Some(c) => policy.requirement(&c),
            None => policy.default_requirement().clone(),
        };
        self.requirement = Some(shared.route_requirement.and(&need));
        Ok(None)
    }

    /// The scope check, then the head as the inner service gets it.
    fn grant(&mut self, shared: &Shared, parts: &mut Parts) -> Result<Next, Rejection> {
        let Some(ctx) = self.ctx.take() else {
            return Err(unknown_step_error().into());
        };
        let hierarchy = shared.scope_policy.hierarchy.as_ref();
        // A cache hit already knows the answer for the route requirement alone.
        let known = self.requirement.is_none() && self.grants_route;
        let requirement = self
            .requirement
            .as_ref()
            .unwrap_or(&shared.route_requirement);
        if !known && !requirement.is_satisfied_by(ctx.scopes(), hierarchy) {
            let needed = requirement.challenge_scopes(ctx.scopes(), hierarchy);
            return Err(Rejection::Scope(Box::new((
                AuthError::insufficient_scope(needed),
                ctx,
            ))));
        }
        // Issue 18: the per-principal and per-client limits of a memory store, on the
        // accepted caller in hand.
        if let Some(limits) = &shared.memory_limits {
            limits.after(&ctx, Some(&self.now))?;
        }
        tracing::debug!(
            target: "mcp_auth::authorized",
            iss = ctx.issuer(),
            sub = ctx.subject().unwrap_or_default(),
            client_id = ctx.client_id().unwrap_or_default(),
            token = %ctx.token_hash(),
            "request authorized"
        );
        // MCP: "MUST NOT pass through the token it received from the MCP client".
        if !shared.pass_authorization_header {
            parts.headers.remove(AUTHORIZATION);
        }
        parts
            .extensions
            .insert(ctx.with_policy(shared.scope_policy.clone()));
        Ok(Next::Allow)
    }
}

/// Trusted `Mcp-Method`/`Mcp-Name`: only when the layer is told to trust them and the
/// request's protocol defines them (MCP 2026-07-28 transport, "Server Validation": only then
/// does the inner server cross-check them with the body).
fn trusted(shared: &Shared, parts: &Parts, headers: &McpHeaders) -> Option<Classification> {
    if shared.trust_mcp_headers && protocol_defines_mcp_headers(&parts.headers) {
        return headers
            .operation()
            .map(|op| Classification::Operations(vec![op]));
    }
    None
}

fn only_in_header() -> AuthError {
    AuthError::invalid_request("access tokens are accepted only in the Authorization header")
}

/// A state this path never reaches (a step resumed without its wait): refused as 503.
fn unknown_step_error() -> AuthError {
    tracing::error!(target: "mcp_auth::keys", "authorization decision resumed out of order");
    AuthError::key_source_unavailable(30)
}

/// The token stage's outcome.
pub(crate) enum TokenStep {
    /// Accepted; `true` when known (from the cache) to satisfy the route requirement.
    Known(AuthContext, bool),
    Refused(AuthError),
    Keys {
        issuer: String,
        kid: Option<String>,
        waiting: Waiting,
    },
    Validate(BoxValidateFuture),
    Introspect(BoxIntrospectFuture),
}

/// The first look at a token: a `Bearer` token in use is recognised by its bytes, in the
/// verified-token cache's hot slots, before they are scanned again (bytes equal to a token
/// that passed the syntax check pass it too). `None` leaves it to the checked path.
pub(crate) fn recall(shared: &Shared, raw: RawCredentials<'_>, now: i64) -> Option<Hit> {
    if raw.scheme != Scheme::Bearer {
        return None;
    }
    let cache = shared.cache.as_ref()?;
    let keys = match &shared.validation {
        Validation::Jwt(v) => Some(v.key_source().as_ref()),
        Validation::Custom(_) => None,
    };
    cache.recall(raw.unchecked_bytes(), keys, now)
}

/// The token's decision from its raw credentials: the cache on the raw bytes, the syntax
/// check, the cache (moka), then the validation.
pub(crate) fn token_step(
    shared: &Shared,
    raw: RawCredentials<'_>,
    parts: &Parts,
    bypass_cache: bool,
) -> TokenStep {
    // One clock read per decision: the cache's re-check and the validation share it.
    let now = (shared.clock)();
    if !bypass_cache && let Some(hit) = recall(shared, raw, now) {
        return hit_step(hit);
    }
    let creds = match raw.check() {
        Ok(creds) => creds,
        Err(e) => return TokenStep::Refused(e),
    };
    // With DPoP on, `DPoP` tokens are cached too, each entry answering only its scheme.
    let dpop = creds.scheme == Scheme::DPoP;
    let cache = shared
        .cache
        .as_ref()
        .filter(|_| !bypass_cache && (!dpop || shared.dpop.is_some()));
    let v = match &shared.validation {
        Validation::Jwt(v) => v,
        Validation::Custom(custom) => {
            if let Some(hit) =
                cache.and_then(|c| c.lookup(creds.expose().as_bytes(), None, now, dpop))
            {
                return hit_step(hit);
            }
            return TokenStep::Validate(custom.validate(creds.to_credentials(), parts));
        }
    };
    if dpop && shared.dpop.is_none() {
        return TokenStep::Refused(dpop_not_configured());
    }
    let token = creds.expose();
    let keys = v.key_source().as_ref();
    // The shape of a compact JWS first, once: junk never reaches the cache (moka) or the
    // key source. What has another shape is an opaque token: introspected by the one
    // issuer configured for it, or refused (crate::introspection, the routing).
    let jws = match CompactJws::split(token, v.header_policy().max_token_len) {
        Ok(jws) => jws,
        Err(e) => {
            let Some(introspector) = shared.introspection.as_ref().and_then(|r| r.opaque(token))
            else {
                return TokenStep::Refused(e);
            };
            if let Some(hit) = cache.and_then(|c| c.lookup(token.as_bytes(), None, now, dpop)) {
                return hit_step(hit);
            }
            return introspect(introspector, token);
        }
    };
    if let Some(hit) = cache.and_then(|c| c.lookup(token.as_bytes(), Some(keys), now, dpop)) {
        return hit_step(hit);
    }
    // An issuer that introspects its JWTs too: routed by the unverified `iss` (only ever to
    // a configured issuer's endpoint), never validated locally.
    if let Some(routes) = shared.introspection.as_ref().filter(|r| r.has_always())
        && let Some(introspector) = jws
            .unverified_issuer()
            .and_then(|iss| routes.always_for(&iss))
    {
        return introspect(introspector, token);
    }
    let step = v.rules().start_compact(jws, keys, now);
    jwt_outcome(shared, Some(token), creds.scheme, step)
}

/// The introspection of `token` by `introspector`, as an owned future (the token copied
/// once, only on this path).
fn introspect(introspector: &Arc<dyn TokenIntrospector>, token: &str) -> TokenStep {
    let (introspector, token) = (Arc::clone(introspector), token.to_owned());
    TokenStep::Introspect(Box::pin(
        async move { introspector.introspect(&token).await },
    ))
}

/// An introspection's answer; an accepted token is offered to the cache, reusable no longer
/// than the introspector may reuse the answer.
pub(crate) fn introspected_step(
    shared: &Shared,
    token: Option<&str>,
    scheme: Scheme,
    answer: Result<Arc<Introspected>, AuthError>,
) -> TokenStep {
    match answer {
        Ok(answer) => {
            let ctx = context(answer.verified.clone());
            // RFC 9449 §7.2: never a bound token on `Bearer` (the answer keeps `cnf` only
            // on a layer with DPoP on), and refused before the cache could admit it.
            if scheme == Scheme::Bearer
                && let Some(e) = dpop::bound_on_bearer(&ctx)
            {
                return TokenStep::Refused(e);
            }
            if let (Some(cache), Some(token)) = (&shared.cache, token) {
                let dpop = scheme == Scheme::DPoP;
                cache.admit_introspected(token, &ctx, answer.reusable_until(), dpop, |ctx| {
                    grants_route(shared, ctx)
                });
            }
            TokenStep::Known(ctx, false)
        }
        Err(e) => TokenStep::Refused(e),
    }
}

/// A token stage waiting for keys, resumed with the key source's answer: `None` when it
/// was a cache hit whose verifying key left the issuer's set (the entry is dropped; the token
/// must be validated again without the cache).
pub(crate) fn resume_token(
    shared: &Shared,
    token: Option<&str>,
    scheme: Scheme,
    waiting: Waiting,
    answer: Result<Arc<KeySet>, KeyError>,
) -> Option<TokenStep> {
    match waiting {
        Waiting::Token(resume) => Some(jwt_outcome(shared, token, scheme, (*resume).keys(answer))),
        Waiting::Hit(entry) => match shared.cache.as_ref()?.confirm(&entry, answer)? {
            Hit::NeedKeys(_) => None,
            hit => Some(hit_step(hit)),
        },
    }
}

/// A custom validator's answer; an accepted token is offered to the cache (when it is on).
pub(crate) fn validated_step(
    shared: &Shared,
    token: Option<&str>,
    scheme: Scheme,
    outcome: Result<AuthContext, AuthError>,
) -> TokenStep {
    match outcome {
        Ok(ctx) => {
            // With DPoP on, a custom validator's bound token on `Bearer` is refused too
            // (without DPoP, the validator alone decides, as it always did).
            if shared.dpop.is_some()
                && scheme == Scheme::Bearer
                && let Some(e) = dpop::bound_on_bearer(&ctx)
            {
                return TokenStep::Refused(e);
            }
            if let (Some(cache), Some(token)) = (&shared.cache, token) {
                let dpop = scheme == Scheme::DPoP;
                cache.admit(token, &ctx, None, dpop, |ctx| grants_route(shared, ctx));
            }
            TokenStep::Known(ctx, false)
        }
        Err(e) => TokenStep::Refused(e),
    }
}

/// Whether `ctx`'s scopes satisfy the layer's route requirement (remembered by the cache).
fn grants_route(shared: &Shared, ctx: &AuthContext) -> bool {
    let hierarchy = shared.scope_policy.hierarchy.as_ref();
    shared
        .route_requirement
        .is_satisfied_by(ctx.scopes(), hierarchy)
}

fn hit_step(hit: Hit) -> TokenStep {
    match hit {
        Hit::Valid(ctx, grants_route) => TokenStep::Known(ctx, grants_route),
        Hit::Refused(e) => TokenStep::Refused(e),
        Hit::NeedKeys(entry) => TokenStep::Keys {
            issuer: entry.ctx.issuer().to_owned(),
            kid: None,
            waiting: Waiting::Hit(entry),
        },
    }
}

/// A JWT state machine step, as the token stage sees it; an accepted token is offered to
/// the cache.
fn jwt_outcome(shared: &Shared, token: Option<&str>, scheme: Scheme, step: Step) -> TokenStep {
    match step {
        Step::Done(Ok(verified)) => {
            let key = verified.key;
            let ctx = context(verified);
            // RFC 9449 §7.2: with DPoP on the claims policy takes `cnf`; on `Bearer` a bound
            // token is still refused, before the cache could admit it.
            if scheme == Scheme::Bearer
                && let Some(e) = dpop::bound_on_bearer(&ctx)
            {
                return TokenStep::Refused(e);
            }
            if let (Some(cache), Some(token)) = (&shared.cache, token) {
                let dpop = scheme == Scheme::DPoP;
                cache.admit(token, &ctx, Some(key), dpop, |ctx| {
                    grants_route(shared, ctx)
                });
            }
            TokenStep::Known(ctx, false)
        }
        Step::Done(Err(e)) => TokenStep::Refused(e),
        Step::NeedKeys {
            issuer,
            kid,
            resume,
        } => TokenStep::Keys {
            issuer,
            kid,
            waiting: Waiting::Token(Box::new(resume)),
        },
        other => TokenStep::Refused(unknown_step(&other)),
    }
}

/// The request's token and scheme again (the token stays in the head until the grant), for
/// the cache and the DPoP proof. A `DPoP` token only on a layer with DPoP on.
fn presented<'p>(parts: &'p Parts, shared: &Shared) -> (Option<&'p str>, Scheme) {
    let Some(raw) = credentials::locate(parts, shared.max_token_len)
        .ok()
        .flatten()
    else {
        return (None, Scheme::Bearer);
    };
    if raw.scheme == Scheme::DPoP && shared.dpop.is_none() {
        return (None, raw.scheme);
    }
    (raw.check().ok().map(|c| c.expose()), raw.scheme)
}

#[cfg(test)]
mod tests;
