//! Token validation: the [`ValidateToken`] trait and the JWT validator (RFC 9068).

use crate::context::AuthContext;
use crate::token_cache::{Confirmed, TokenCache, Verified};
use http::request::Parts;
use mcp_auth_core::claims::{Claims, ClaimsPolicy};
use mcp_auth_core::credentials::{Credentials, CredentialsRef, RawCredentials, Scheme};
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::{CheckedHeader, CompactJws, HeaderPolicy, UnverifiedJws};
use mcp_auth_core::keys::{KeyError, KeySource};
use mcp_auth_core::scope::ScopeSet;
use mcp_auth_core::{AuthError, TokenHash};
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

    /// Decides without waiting, when that is possible: `Some` with exactly the outcome
    /// [`validate`](Self::validate) would produce, or `None` to have the layer call and
    /// await `validate`. The layer calls it first on every request, so a validator that can
    /// answer from memory (a cached token, keys already loaded) spares the request a boxed
    /// future. The default answers `None`, which is always correct.
    fn validate_now(
        &self,
        credentials: CredentialsRef<'_>,
        parts: &Parts,
    ) -> Option<Result<AuthContext, AuthError>> {
        let _ = (credentials, parts);
        None
    }

    /// Recognises a token this validator accepted before, before its syntax is checked:
    /// `Some` only when the bytes of `credentials` are equal to a token that passed every
    /// check earlier (including [`RawCredentials::check`], which such bytes pass again), with
    /// exactly the outcome [`validate`](Self::validate) would produce now; `None` otherwise,
    /// and the layer goes on with the syntax check and [`validate_now`](Self::validate_now).
    ///
    /// The layer calls it first on every request: a cache of verified tokens answers a token
    /// in use with one byte comparison instead of scanning it again. An implementation must
    /// never judge the bytes themselves here (they are untrusted and unchecked). The default
    /// answers `None`, which is always correct.
    fn recall(
        &self,
        credentials: RawCredentials<'_>,
        parts: &Parts,
    ) -> Option<Result<AuthContext, AuthError>> {
        let _ = (credentials, parts);
        None
    }
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
/// Order of checks, cheapest first and all before any I/O or crypto: shape (size, two dots,
/// base64url signature), header (allow-listed `alg`, `typ`, no `crit`), claims (`iss` among
/// the configured issuers, `exp`, `nbf`, `iat`, `aud`, RFC 9068 claims, `cnf`), then the key
/// lookup and the signature. A token is accepted only when all of them pass. With a single
/// configured issuer, a `kid` that names no key of the token's algorithm in its current key
/// set is refused right after the header whenever the key source would not refetch for it
/// (see [`KeySource::cached`]), so a flood of forged `kid`s costs a header parse each.
///
/// The key is chosen by [`select_key`](mcp_auth_core::jws::select_key) before the signature
/// check: by `kid` and the token's algorithm (keys of different types may share a `kid`);
/// without a `kid` only when exactly one key of the issuer's set can verify the token's
/// algorithm. No token costs more than one signature check.
///
/// The key source is asked synchronously first ([`KeySource::cached`]); only when it cannot
/// answer from memory is its future awaited.
///
/// # Verified-token cache
///
/// A token whose signature was verified is remembered (bounded moka cache keyed by a seeded
/// hash of the end of the token's signature segment, holding the whole token, with a few
/// hundred "hot slots" in front for the tokens in use), so the same token presented again
/// skips the signature check. It is safe because:
/// - a hit requires every byte of the token to be equal to the verified one (the map finds
///   the entry by the hash, then the whole token is compared byte for byte), so only the
///   very same token can hit, whatever the hash does;
/// - every hit re-checks the token's time claims against the clock (`exp`, `nbf`, `iat`, see
///   [`ClaimsPolicy::check_time`]): the rest of the claims policy (`iss`, `aud`, RFC 9068
///   claims, scopes, ...) depends only on the byte-identical token and on a policy that cannot
///   change, so it was settled when the entry was made; an entry is evicted no later than
///   the token's `exp`;
/// - every hit checks that the key that verified the token is still in the issuer's current
///   key set (by fingerprint): once a rotation or a compromise removes it, the token is
///   verified again and refused. With a key source that keeps an epoch
///   ([`KeySource::epoch`]: the JWKS and static sources do), a hit whose key was found in the
///   current set during the same second of the clock, with no set installed since, is not
///   asked again; the epoch makes a removal visible to the very next request, and the
///   once-a-second asking keeps request-driven refreshes going;
/// - a key source that stops using a key set (the JWKS source once the set is past its
///   maximum staleness) answers the hit's lookup with its error (503 `Retry-After`), and
///   moves its epoch from one second before, so no confirmation lets a hit skip it then;
/// - the header (algorithm, `typ`, `crit`) is part of the compared bytes and was checked when
///   the entry was made; the policy cannot change afterwards.
///
/// Before moka is consulted a token must have the shape of a compact JWS (length cap, two
/// dots, base64url signature): junk never reaches moka, the key source or crypto. The one
/// look before any check ([`ValidateToken::recall`], which the layer asks first so a token
/// in use is not scanned again) only reads the presence filter and one hot slot and compares
/// bytes; it changes no state unless the bytes are those of a verified token.
///
/// What it cannot do is notice revocation, which a self-contained JWT never allows anyway.
#[derive(Clone)]
pub struct JwtValidator {
    inner: Arc<JwtInner>,
}

struct JwtInner {
    keys: Arc<dyn KeySource>,
    header: HeaderPolicy,
    claims: ClaimsPolicy,
    clock: Clock,
    cache: Option<TokenCache>,
}

/// Default capacity of the verified-token cache.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: u64 = 10_000;

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.inner.keys)
            .field("header", &self.inner.header)
            .field("claims", &self.inner.claims)
            .field(
                "token_cache",
                &self.inner.cache.as_ref().map(TokenCache::capacity),
            )
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// A validator with the given key source and policies, the system clock and a
    /// verified-token cache of [`DEFAULT_TOKEN_CACHE_CAPACITY`] entries.
    pub fn new(keys: Arc<dyn KeySource>, header: HeaderPolicy, claims: ClaimsPolicy) -> Self {
        Self::with_options(
            keys,
            header,
            claims,
            system_clock(),
            DEFAULT_TOKEN_CACHE_CAPACITY,
        )
    }

    /// The same, with an explicit clock (seconds since the epoch) and token cache capacity
    /// (`0` turns the cache off).
    pub fn with_options(
        keys: Arc<dyn KeySource>,
        header: HeaderPolicy,
        claims: ClaimsPolicy,
        clock: Clock,
        token_cache_capacity: u64,
    ) -> Self {
        let cache = (token_cache_capacity > 0).then(|| TokenCache::new(token_cache_capacity));
        Self {
            inner: Arc::new(JwtInner {
                keys,
                header,
                claims,
                clock,
                cache,
            }),
        }
    }

    /// The key source.
    pub fn key_source(&self) -> &Arc<dyn KeySource> {
        &self.inner.keys
    }

    /// The claims policy.
    pub fn claims_policy(&self) -> &ClaimsPolicy {
        &self.inner.claims
    }

    /// The header policy.
    pub fn header_policy(&self) -> &HeaderPolicy {
        &self.inner.header
    }

    /// Entries in the verified-token cache (approximate; for tests and metrics).
    pub fn token_cache_len(&self) -> u64 {
        self.inner.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// The keys of `iss` for `kid` from the key source's memory, or `None` when only the
    /// asynchronous [`KeySource::keys`] can answer.
    fn keys_now(&self, iss: &str, kid: Option<&str>) -> Result<Option<Arc<KeySet>>, AuthError> {
        match self.inner.keys.cached(iss, kid) {
            None => Ok(None),
            Some(r) => r.map(Some).map_err(|e| key_error(iss, e)),
        }
    }

    async fn keys_for(&self, iss: &str, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        self.inner
            .keys
            .keys(iss, kid)
            .await
            .map_err(|e| key_error(iss, e))
    }

    /// Validates a raw token.
    ///
    /// Decided without awaiting whenever the key source can answer from memory (see
    /// [`validate_token_now`](Self::validate_token_now)); otherwise the key source is awaited.
    pub async fn validate_token(&self, token: &str) -> Result<AuthContext, AuthError> {
        if let Some(ctx) = self.try_now(token)? {
            return Ok(ctx);
        }
        self.validate_awaiting_keys(token).await
    }

    /// Validates a raw token without waiting: `Some` with exactly what
    /// [`validate_token`](Self::validate_token) would answer, or `None` when the key source
    /// must do I/O first (nothing loaded yet, a refresh due, an unknown `kid` that may be
    /// refetched).
    pub fn validate_token_now(&self, token: &str) -> Option<Result<AuthContext, AuthError>> {
        self.try_now(token).transpose()
    }

    /// `Ok(None)`: the key source must be awaited.
    fn try_now(&self, token: &str) -> Result<Option<AuthContext>, AuthError> {
        let inner = &self.inner;
        // The shape of a compact JWS first: junk never reaches the cache.
        let jws = CompactJws::split(token, inner.header.max_token_len)?;
        let signature = jws.signature_b64();
        if let Some(hit) = self.cache_hit(token.as_bytes()) {
            match self.answer_hit(&hit, token.as_bytes())? {
                Hit::Valid(ctx) => return Ok(Some(ctx)),
                Hit::AwaitKeys => return Ok(None),
                // Dropped from the cache: verified again below (and most likely refused).
                Hit::KeyGone => {}
            }
        }
        let header = jws.check_header(&inner.header)?;
        // One issuer: a `kid` that names no key of the token's algorithm in its current set,
        // while the source would not refetch, is refused before the payload is even decoded
        // (a forged-`kid` flood costs a header parse). With several issuers the payload's
        // `iss` picks the set first.
        let early = match (header.kid(), inner.claims.issuers.as_slice()) {
            (Some(kid), [iss]) => match self.keys_now(iss, Some(kid))? {
                Some(keys) => {
                    header.select_key(&keys)?;
                    Some(keys)
                }
                None => None,
            },
            _ => None,
        };
        let parsed = self.parse(header)?;
        // The claims check has made the payload's `iss` that one issuer: the set looked up
        // for the `kid` above is the one, so the key source is asked once.
        let keys = match early {
            Some(keys) => keys,
            None => match self.keys_now(parsed.issuer(), parsed.jws.kid())? {
                Some(keys) => keys,
                None => return Ok(None),
            },
        };
        self.verify(token, signature, parsed, &keys).map(Some)
    }

    /// The path of [`validate_token`](Self::validate_token) that awaits the key source.
    async fn validate_awaiting_keys(&self, token: &str) -> Result<AuthContext, AuthError> {
        let inner = &self.inner;
        let jws = CompactJws::split(token, inner.header.max_token_len)?;
        let signature = jws.signature_b64();
        if let Some(hit) = self.cache_hit(token.as_bytes()) {
            inner.claims.check_time(hit.ctx.claims(), (inner.clock)())?;
            let keys = self.keys_for(hit.ctx.issuer(), None).await?;
            if let Some(ctx) = self.still_valid(&hit, &keys, token.as_bytes()) {
                return Ok(ctx);
            }
        }
        let parsed = self.parse(jws.check_header(&inner.header)?)?;
        let keys = self.keys_for(parsed.issuer(), parsed.jws.kid()).await?;
        self.verify(token, signature, parsed, &keys)
    }

    /// The cached entry of this very token, if any.
    fn cache_hit(&self, token: &[u8]) -> Option<Arc<Verified>> {
        let cache = self.inner.cache.as_ref()?;
        cache.get(cache.key(token), token)
    }

    /// [`ValidateToken::recall`]: a token byte-identical to a verified one that sits in a
    /// hot slot of the cache, answered as [`try_now`](Self::try_now) would (the shape check it
    /// skips is passed by such bytes, which were a compact JWS when they were verified; and a
    /// compact JWS, three strict base64url segments, is an RFC 6750 `b64token`). Anything
    /// else, including tokens only moka holds, is left to the checked path: unchecked bytes
    /// never reach moka.
    fn recall_token(&self, token: &[u8]) -> Option<Result<AuthContext, AuthError>> {
        let cache = self.inner.cache.as_ref()?;
        match cache.recall(cache.key(token), token, |hit| self.answer_hit(hit, token))? {
            Ok(Hit::Valid(ctx)) => Some(Ok(ctx)),
            Err(e) => Some(Err(e)),
            Ok(Hit::AwaitKeys | Hit::KeyGone) => None,
        }
    }

    /// A cache hit, re-checked against the clock and the issuer's current keys.
    fn answer_hit(&self, hit: &Arc<Verified>, token: &[u8]) -> Result<Hit, AuthError> {
        let inner = &self.inner;
        let now = (inner.clock)();
        inner.claims.check_time(hit.ctx.claims(), now)?;
        // The key was found in the current set this second, and no set has been installed
        // since: it is still there (see `Confirmed`).
        let epoch = inner.keys.epoch();
        if let Some(epoch) = epoch
            && hit.confirmed.holds(now, epoch)
        {
            return Ok(Hit::Valid(hit.ctx.clone()));
        }
        // No kid: only the current set is wanted, never an unknown-kid refetch.
        let Some(keys) = self.keys_now(hit.ctx.issuer(), None)? else {
            return Ok(Hit::AwaitKeys);
        };
        Ok(match self.still_valid(hit, &keys, token) {
            Some(ctx) => {
                if let Some(epoch) = epoch {
                    hit.confirmed.set(now, epoch);
                }
                Hit::Valid(ctx)
            }
            None => Hit::KeyGone,
        })
    }

    /// A cache hit whose claims were re-checked is still good while the key that verified
    /// it is in the issuer's current set; once the key is gone the entry is dropped and the
    /// token verified again (and most likely refused).
    fn still_valid(&self, hit: &Arc<Verified>, keys: &KeySet, token: &[u8]) -> Option<AuthContext> {
        if keys.contains_fingerprint(&hit.key) {
            return Some(hit.ctx.clone());
        }
        if let Some(cache) = &self.inner.cache {
            cache.remove(cache.key(token), hit);
        }
        None
    }

    /// Everything that needs no key, cheapest first: header (already checked), payload,
    /// claims policy against the clock, scopes.
    fn parse<'t>(&self, header: CheckedHeader<'t>) -> Result<Parsed<'t>, AuthError> {
        let mut jws = header.decode()?;
        let claims = Claims::from_json_vec(jws.take_unverified_payload())?;
        let scopes = self
            .inner
            .claims
            .check_scopes(&claims, (self.inner.clock)())?;
        Ok(Parsed {
            jws,
            claims,
            scopes,
        })
    }

    /// The signature check, then the context (remembered in the token cache).
    fn verify(
        &self,
        token: &str,
        signature: &str,
        parsed: Parsed<'_>,
        keys: &KeySet,
    ) -> Result<AuthContext, AuthError> {
        let key = parsed.jws.verify(keys)?;
        let exp = parsed.claims.exp.unwrap_or_default();
        let ctx = AuthContext::new(
            parsed.claims,
            parsed.scopes,
            TokenHash::of_signature(signature.as_bytes()),
        );
        if let Some(cache) = &self.inner.cache {
            cache.offer(cache.key(token.as_bytes()), || Verified {
                token: token.into(),
                ctx: ctx.clone(),
                key: *key.fingerprint(),
                exp,
                confirmed: Confirmed::new(),
            });
        }
        Ok(ctx)
    }
}

/// What a re-checked cache hit comes to.
enum Hit {
    /// Still good: the context to answer with.
    Valid(AuthContext),
    /// The key source cannot say from memory whether the verifying key is still current.
    AwaitKeys,
    /// The verifying key left the issuer's set: the entry was dropped.
    KeyGone,
}

/// A token whose header and claims passed every check that needs no key.
struct Parsed<'t> {
    jws: UnverifiedJws<'t>,
    claims: Claims,
    scopes: ScopeSet,
}

impl Parsed<'_> {
    fn issuer(&self) -> &str {
        self.claims.iss.as_deref().unwrap_or_default()
    }
}

fn key_error(iss: &str, e: KeyError) -> AuthError {
    match e {
        KeyError::UnknownIssuer => AuthError::invalid_token("token issuer is not trusted"),
        KeyError::Unavailable {
            retry_after,
            reason,
        } => {
            tracing::error!(target: "mcp_auth::keys", issuer = iss, %reason, "key source unavailable");
            AuthError::key_source_unavailable(retry_after)
        }
        _ => AuthError::key_source_unavailable(30),
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

    fn validate_now(
        &self,
        credentials: CredentialsRef<'_>,
        _parts: &Parts,
    ) -> Option<Result<AuthContext, AuthError>> {
        if credentials.scheme == Scheme::DPoP {
            return None;
        }
        self.validate_token_now(credentials.expose())
    }

    fn recall(
        &self,
        credentials: RawCredentials<'_>,
        _parts: &Parts,
    ) -> Option<Result<AuthContext, AuthError>> {
        if credentials.scheme == Scheme::DPoP {
            return None;
        }
        self.recall_token(credentials.unchecked_bytes())
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
