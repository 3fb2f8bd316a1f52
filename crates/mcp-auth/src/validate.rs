//! Token validation: the [`ValidateToken`] trait (bring your own validator) and the JWT
//! validator (RFC 9068), which drives the sans-IO state machine of
//! [`mcp_auth_core::validation`].

use crate::context::AuthContext;
use http::request::Parts;
use mcp_auth_core::AuthError;
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::credentials::Credentials;
use mcp_auth_core::jws::HeaderPolicy;
use mcp_auth_core::keys::KeySource;
use mcp_auth_core::validation::{JwtRules, Step, Verified};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Checks an access token and says who is calling: bring your own validator (opaque tokens,
/// another token format), with [`McpAuthBuilder::build_with_validator`](crate::McpAuthBuilder::build_with_validator).
///
/// One method, like tower-http's `AsyncAuthorizeRequest`. The layer has already taken the
/// token from the `Authorization` header (and only from there) and checked its syntax; the
/// validator decides whether it is valid for this resource. Return `invalid_token` for any
/// bad token, and `KeySourceUnavailable` only when the token could not be judged at all.
///
/// How it fits the layer's decision path: the layer awaits [`validate`](Self::validate) as
/// one step, where the built-in JWT validation instead runs the sans-IO state machine
/// ([`mcp_auth_core::validation`]) and awaits only the key fetches it asks for. The
/// verified-token cache (see [`McpAuthBuilder::token_cache`](crate::McpAuthBuilder::token_cache))
/// sits in front of either: a token it holds is answered without calling the validator.
/// For a custom validator it is off unless asked for, since only the validator knows what
/// its answer depends on.
///
/// Any `Fn(Credentials, &Parts) -> impl Future<Output = Result<AuthContext, AuthError>>`
/// is a validator.
pub trait ValidateToken: Send + Sync + 'static {
    /// The future of a validation.
    type Future: Future<Output = Result<AuthContext, AuthError>> + Send + 'static;

    /// Validates `credentials` for the request whose head is `parts`.
    fn validate(&self, credentials: Credentials, parts: &Parts) -> Self::Future;
}

impl<F, Fut> ValidateToken for F
where
    F: Fn(Credentials, &Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AuthContext, AuthError>> + Send + 'static,
{
    type Future = Fut;

    fn validate(&self, credentials: Credentials, parts: &Parts) -> Self::Future {
        self(credentials, parts)
    }
}

/// A boxed validation future.
pub type BoxValidateFuture =
    Pin<Box<dyn Future<Output = Result<AuthContext, AuthError>> + Send + 'static>>;

/// The layer's wall clock: seconds since the Unix epoch, for the time claims (`exp`, `nbf`,
/// `iat`). Not the monotonic `mcp_auth_jwks::Clock` of the key source's cache lifetimes.
pub type UnixClock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub(crate) fn system_clock() -> UnixClock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// Validates RFC 9068 JWT access tokens against the issuers' keys.
///
/// The checks and their order are those of the state machine
/// ([`mcp_auth_core::validation`]): shape, header, claims, then the key lookup and the one
/// signature check, all before any I/O; the key source's memory
/// ([`KeySource::current`]) is read first, and only when it lacks the keys is
/// [`KeySource::keys`] awaited. The layer drives the same machine itself, with the
/// verified-token cache in front.
#[derive(Clone)]
pub struct JwtValidator {
    inner: Arc<JwtInner>,
}

struct JwtInner {
    keys: Arc<dyn KeySource>,
    rules: JwtRules,
    clock: UnixClock,
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.inner.keys)
            .field("rules", &self.inner.rules)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// A validator with the given key source and policies, and the system clock.
    pub fn new(keys: Arc<dyn KeySource>, header: HeaderPolicy, claims: ClaimsPolicy) -> Self {
        Self::with_clock(keys, header, claims, system_clock())
    }

    /// The same, with an explicit clock (seconds since the epoch).
    pub fn with_clock(
        keys: Arc<dyn KeySource>,
        header: HeaderPolicy,
        claims: ClaimsPolicy,
        clock: UnixClock,
    ) -> Self {
        Self::with_rules(keys, JwtRules::new(header, claims), clock)
    }

    /// A validator with the given key source, rules (one entry per trusted issuer,
    /// [`JwtRules::per_issuer`]) and clock.
    pub fn with_rules(keys: Arc<dyn KeySource>, rules: JwtRules, clock: UnixClock) -> Self {
        Self {
            inner: Arc::new(JwtInner { keys, rules, clock }),
        }
    }

    /// The key source.
    pub fn key_source(&self) -> &Arc<dyn KeySource> {
        &self.inner.keys
    }

    /// The claims policy of the first trusted issuer entry ([`rules`](Self::rules) has
    /// every entry's).
    pub fn claims_policy(&self) -> &ClaimsPolicy {
        self.inner.rules.claims()
    }

    /// The header policy a token meets before its issuer is known (with several issuer
    /// entries, the union of theirs; [`rules`](Self::rules) has each one's).
    pub fn header_policy(&self) -> &HeaderPolicy {
        self.inner.rules.header()
    }

    /// The rules of the state machine: one header and claims policy per trusted issuer
    /// entry.
    pub fn rules(&self) -> &JwtRules {
        &self.inner.rules
    }

    /// The validator's clock, read now.
    pub(crate) fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The state machine's first step for `token` (a checked `b64token`), with this
    /// validator's key source and clock: [`Step::Done`] whenever the key source's memory can
    /// answer, [`Step::NeedKeys`] otherwise.
    pub fn step(&self, token: &str) -> Step {
        self.inner
            .rules
            .start(token, self.inner.keys.as_ref(), self.now())
    }

    /// Validates a raw token as a bearer token: [`step`](Self::step), then the key fetches
    /// it asks for. A token bound to a key (`cnf`, which the claims policy of a layer with
    /// DPoP on takes) is refused: it needs its proof (RFC 9449 §7.2).
    pub async fn validate_token(&self, token: &str) -> Result<AuthContext, AuthError> {
        let ctx = drive(self.inner.keys.as_ref(), self.step(token))
            .await
            .map(context)?;
        match crate::decision::dpop::bound_on_bearer(&ctx) {
            Some(e) => Err(e),
            None => Ok(ctx),
        }
    }
}

/// Runs the state machine from `step` to its decision, doing the I/O each step asks for.
pub(crate) async fn drive(keys: &dyn KeySource, mut step: Step) -> Result<Verified, AuthError> {
    loop {
        step = match step {
            Step::Done(done) => return done,
            Step::NeedKeys {
                issuer,
                kid,
                resume,
            } => resume.keys(keys.keys(&issuer, kid.as_deref()).await),
            other => return Err(unknown_step(&other)),
        };
    }
}

/// A step of a newer `mcp-auth-core` than this layer knows how to drive: refused as 503, so
/// a version mismatch never lets a token through.
pub(crate) fn unknown_step(step: &Step) -> AuthError {
    tracing::error!(target: "mcp_auth::keys", ?step, "validation step this layer cannot drive");
    AuthError::key_source_unavailable(30)
}

/// The context of a verified token.
pub(crate) fn context(v: Verified) -> AuthContext {
    AuthContext::new(v.claims, v.scopes, v.token_hash)
}

impl ValidateToken for JwtValidator {
    type Future = BoxValidateFuture;

    fn validate(&self, credentials: Credentials, _parts: &Parts) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if credentials.scheme == mcp_auth_core::credentials::Scheme::DPoP {
                return Err(crate::decision::dpop_not_configured());
            }
            this.validate_token(credentials.token.expose()).await
        })
    }
}
