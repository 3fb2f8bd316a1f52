//! Token validation: the [`ValidateToken`] trait and the JWT validator (RFC 9068).

use crate::context::AuthContext;
use http::request::Parts;
use mcp_auth_core::AuthError;
use mcp_auth_core::claims::{Claims, ClaimsPolicy};
use mcp_auth_core::credentials::{Credentials, Scheme};
use mcp_auth_core::jws::{HeaderPolicy, UnverifiedJws};
use mcp_auth_core::keys::{KeyError, KeySource};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Checks an access token and says who is calling.
///
/// The layer has already taken the token from the `Authorization` header (and only from
/// there); a validator decides whether it is valid for this resource. Return
/// `invalid_token` for any bad token, and `KeySourceUnavailable` only when the token could
/// not be judged at all.
pub trait ValidateToken: Send + Sync + 'static {
    /// The future of a validation.
    type Future: Future<Output = Result<AuthContext, AuthError>> + Send + 'static;

    /// Validates `credentials` for the request whose head is `parts`.
    fn validate(&self, credentials: Credentials, parts: &Parts) -> Self::Future;
}

/// A boxed validation future.
pub type BoxValidateFuture =
    Pin<Box<dyn Future<Output = Result<AuthContext, AuthError>> + Send + 'static>>;

/// The clock of a validator: seconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub(crate) fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// Validates RFC 9068 JWT access tokens against the issuers' keys.
///
/// Order of checks, cheapest first and all before any I/O or crypto: header (allow-listed
/// `alg`, `typ`, no `crit`, size), claims (`iss` among the configured issuers, `exp`, `nbf`,
/// `iat`, `aud`, RFC 9068 claims, `cnf`), then the key lookup and the signature. A token is
/// accepted only when all of them pass.
#[derive(Clone)]
pub struct JwtValidator {
    inner: Arc<JwtInner>,
}

struct JwtInner {
    keys: Arc<dyn KeySource>,
    header: HeaderPolicy,
    claims: ClaimsPolicy,
    clock: Clock,
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.inner.keys)
            .field("header", &self.inner.header)
            .field("claims", &self.inner.claims)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// A validator with the given key source and policies.
    pub fn new(keys: Arc<dyn KeySource>, header: HeaderPolicy, claims: ClaimsPolicy) -> Self {
        Self::with_clock(keys, header, claims, system_clock())
    }

    /// The same, with an explicit clock (tests, simulations).
    pub fn with_clock(
        keys: Arc<dyn KeySource>,
        header: HeaderPolicy,
        claims: ClaimsPolicy,
        clock: Clock,
    ) -> Self {
        Self {
            inner: Arc::new(JwtInner {
                keys,
                header,
                claims,
                clock,
            }),
        }
    }

    /// The claims policy.
    pub fn claims_policy(&self) -> &ClaimsPolicy {
        &self.inner.claims
    }

    /// The header policy.
    pub fn header_policy(&self) -> &HeaderPolicy {
        &self.inner.header
    }

    /// Validates a raw token.
    pub async fn validate_token(&self, token: &str) -> Result<AuthContext, AuthError> {
        let inner = &self.inner;
        let jws = UnverifiedJws::parse(token, &inner.header)?;
        let claims = Claims::from_json(jws.unverified_payload())?;
        // Everything that needs no key first: junk never reaches the key source.
        inner.claims.check(&claims, (inner.clock)())?;
        let scopes = claims.scopes()?;
        let iss = claims.iss.as_deref().unwrap_or_default();
        let keys = inner.keys.keys(iss, jws.kid()).await.map_err(|e| match e {
            KeyError::UnknownIssuer => AuthError::invalid_token("token issuer is not trusted"),
            KeyError::Unavailable { retry_after, reason } => {
                tracing::error!(target: "mcp_auth::keys", issuer = iss, %reason, "key source unavailable");
                AuthError::key_source_unavailable(retry_after)
            }
            _ => AuthError::key_source_unavailable(30),
        })?;
        jws.verify(&keys)?;
        Ok(AuthContext::new(
            claims,
            scopes,
            mcp_auth_core::TokenHash::of(token.as_bytes()),
        ))
    }
}

impl ValidateToken for JwtValidator {
    type Future = BoxValidateFuture;

    fn validate(&self, credentials: Credentials, _parts: &Parts) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if credentials.scheme == Scheme::DPoP {
                // RFC 9449 §7.1: DPoP is not configured on this validator.
                return Err(AuthError::invalid_token(
                    "DPoP-bound tokens are not accepted by this resource",
                ));
            }
            this.validate_token(credentials.token.expose()).await
        })
    }
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
