//! Token introspection (RFC 7662), the rules with no I/O: what is sent, and how the answer is
//! judged.
//!
//! An opaque access token cannot be verified locally; its authorization server says whether
//! it is active. This module builds the request ([`check_token`], [`form_body`],
//! [`basic_authorization`]) and judges the answer ([`IntrospectionRules::check_answer`], or
//! [`IntrospectionRules::check_signed_answer`] for an RFC 9701 JWT answer). The fetching,
//! caching and client authentication are behind the [`TokenIntrospector`] trait, which the
//! `mcp-auth-introspect` crate implements.
//!
//! The answer is judged **like a JWT**, by the same [`ClaimsPolicy`] (issuers, audiences,
//! leeway, claim mapping, allowed clients, claim checks), so no claim rule is written twice.
//! What differs is what may be absent: RFC 7662 §2.2 makes every member but `active`
//! optional, so RFC 9068's required claims do not apply. Each absence means:
//!
//! | member | absent |
//! |---|---|
//! | `active` | the answer is unusable: 503 (it is REQUIRED, RFC 7662 §2.2) |
//! | `exp` | the server set no expiry: accepted, and cached only for the configured maximum |
//! | `iat`, `nbf` | nothing to check |
//! | `iss` | the issuer the token was sent to (whose endpoint answered); [`Verified::issuer`] says so |
//! | `aud` | refused, unless the policy's [`require_audience`](ClaimsPolicy::require_audience) is `false` (an AS that never returns it: then nothing binds the token to this resource) |
//! | `scope` | no scope granted (or what the mapping's scope sources grant) |
//! | `client_id` | no client ([`Claims::client`] is `None`): refused when the policy has an allow-list |
//! | `sub`, `username`, `jti` | none |
//! | `token_type` | `Bearer`, the only type this module accepts |
//!
//! A present member is checked as in a JWT: `exp` not past, `nbf`/`iat` not in the future (each
//! with the leeway), `iss` equal to the issuer asked, `aud` naming this resource, `token_type`
//! `Bearer` (case-insensitive), and no `cnf` (a sender-constrained token needs a proof the
//! Bearer scheme does not carry, RFC 9449 §7.2). Only rules made
//! [`with_dpop_bound_tokens`](IntrospectionRules::with_dpop_bound_tokens) (by a layer with
//! DPoP on) keep `cnf` and take `token_type` `DPoP`, for the layer to match `cnf.jkt` with
//! the request's proof (RFC 9449 §6.2) and to refuse the token on the `Bearer` scheme.
//!
//! # Errors
//!
//! A token the answer says no to (`active: false`, expired, another audience...) is refused
//! with `invalid_token`, as a JWT would be. An answer that is not a usable introspection answer
//! (not a JSON object, `active` missing or not the JSON boolean, a wrong type, a signed answer
//! that does not verify) is [`AuthError::introspection_unavailable`], a 503: never an
//! acceptance, and never a 401 for a token that may be fine.
//!
//! # Example
//!
//! ```
//! use mcp_auth_core::claims::ClaimsPolicy;
//! use mcp_auth_core::introspection::IntrospectionRules;
//! use mcp_auth_core::resource::ResourceUri;
//!
//! let issuer = "https://as.example.com";
//! let resource = ResourceUri::parse("https://mcp.example.com/mcp")?;
//! let rules = IntrospectionRules::new(issuer, ClaimsPolicy::new(resource, issuer))?;
//! let now = 1_800_000_000;
//! let answer = br#"{"active":true,"aud":"https://mcp.example.com/mcp","scope":"mcp:read",
//!     "client_id":"c1","exp":1800000030}"#;
//! let ok = rules.check_answer("opaque-token", answer, now)?;
//! assert_eq!(ok.verified.issuer(), issuer);
//! assert_eq!(ok.cache_for.as_secs(), 30);
//! assert!(rules.check_answer("opaque-token", br#"{"active":false}"#, now).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::claims::{Claims, ClaimsPolicy, Profile};
use crate::credentials::{RawCredentials, Scheme};
use crate::jwk::KeySet;
use crate::jws::{Algorithm, CompactJws, HeaderPolicy, TypPolicy};
use crate::validation::Verified;
use crate::{AuthError, TokenHash};
use serde::Deserialize;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The media type of an RFC 9701 JWT introspection answer: send it in `Accept` to ask for one
/// (RFC 9701 §4), expect it as the answer's `Content-Type` (§5).
pub const JWT_ANSWER_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// The longest positive answer is kept by default: the revocation delay (a token revoked at
/// the authorization server is still accepted for up to this long).
pub const DEFAULT_MAX_CACHE: Duration = Duration::from_secs(60);

/// The default `Retry-After` (seconds) of an unusable answer.
pub const DEFAULT_RETRY_AFTER: u32 = 5;

/// The default cap on an RFC 9701 signed answer, in bytes.
pub const DEFAULT_MAX_SIGNED_ANSWER_LEN: usize = 64 * 1024;

/// Checks a token before it is sent anywhere: at most `max_len` bytes (refused as
/// `invalid_token`, "token too large") and RFC 6750 §2.1 `b64token` syntax (refused as
/// [`RawCredentials::check`] refuses it, `invalid_request`). A token that fails never reaches
/// an introspection endpoint.
pub fn check_token(token: &str, max_len: usize) -> Result<(), AuthError> {
    if token.len() > max_len {
        return Err(AuthError::invalid_token("token too large"));
    }
    if token.is_empty() {
        return Err(AuthError::invalid_request("malformed access token"));
    }
    RawCredentials::new(Scheme::Bearer, token.as_bytes())
        .check()
        .map(drop)
}

/// The `application/x-www-form-urlencoded` body of an introspection request (RFC 7662
/// §2.1): `token`, `token_type_hint=access_token`, then `client` (the client authentication
/// members: `client_id` and `client_secret` for `client_secret_post`, RFC 6749 §2.3.1;
/// `client_assertion_type` and `client_assertion` for `private_key_jwt`, RFC 7523 §2.2).
///
/// The result holds the token (and any secret in `client`): treat it as a secret.
pub fn form_body(token: &str, client: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token);
    form.append_pair("token_type_hint", "access_token");
    for (name, value) in client {
        form.append_pair(name, value);
    }
    form.finish()
}

/// The `Authorization` header value of `client_secret_basic` (RFC 6749 §2.3.1): the client id
/// and secret each encoded with `application/x-www-form-urlencoded` (Appendix B), joined by
/// `:`, in base64 (RFC 7617). The result holds the secret: treat it as one.
///
/// ```
/// use mcp_auth_core::introspection::basic_authorization;
/// // "a b:c:d" would be ambiguous; the encoding makes it "a+b:c%3Ad".
/// assert_eq!(basic_authorization("a b", "c:d"), "Basic YStiOmMlM0Fk");
/// ```
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    use base64::Engine as _;
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Why [`IntrospectionRules::new`] refused a configuration.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrospectionConfigError {
    /// The issuer is not one of the claims policy's issuers.
    #[error("the introspection issuer {0:?} is not one of the claims policy's issuers")]
    IssuerNotInPolicy(String),
    /// RFC 9701 answers were asked for with no algorithm allowed.
    #[error("signed introspection answers need at least one allowed algorithm")]
    NoAlgorithm,
}

/// How an RFC 9701 signed answer is checked: [`IntrospectionRules::with_signed_answers`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignedAnswers {
    /// This resource server's client id at the authorization server: the outer `aud` must
    /// name it (RFC 9701 §5).
    pub audience: String,
    /// Algorithms the answer may be signed with (never `none` or HMAC: [`Algorithm`]).
    pub algorithms: Vec<Algorithm>,
    /// The longest answer accepted, in bytes.
    pub max_len: usize,
}

/// A token an introspection answer vouched for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Introspected {
    /// The answer's members as claims, scopes and a token hash, as a JWT's would be. `iss` is
    /// the issuer asked when the answer had none; `key` is the fingerprint of the key that
    /// signed an RFC 9701 answer, all zeros for a plain JSON answer (nothing was signed).
    pub verified: Verified,
    /// The answer's `username`, if any (RFC 7662 §2.2).
    pub username: Option<String>,
    /// How long the answer may be reused: until `exp` and at most the configured maximum
    /// (the maximum when there is no `exp`); zero when `exp` is already past (an answer
    /// accepted within the leeway), which is not to be cached.
    pub cache_for: Duration,
    /// When the answer was judged (seconds since the epoch, the `now` of the check): a
    /// cache further along (the layer's verified-token cache) keeps it until
    /// `checked_at + cache_for`, never `cache_for` from its own admission, so a revoked
    /// token is refused within the configured maximum however many caches hold it.
    pub checked_at: i64,
}

impl Introspected {
    /// The last instant (seconds since the epoch) at which the answer may be reused.
    pub fn reusable_until(&self) -> i64 {
        let secs = i64::try_from(self.cache_for.as_secs()).unwrap_or(i64::MAX);
        self.checked_at.saturating_add(secs)
    }
}

/// The future returned by [`TokenIntrospector::introspect`].
pub type IntrospectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<Introspected>, AuthError>> + Send + 'a>>;

/// Where introspection answers come from, for one issuer: the I/O the validation driver
/// awaits for an opaque token, as [`KeySource`](crate::keys::KeySource) is for keys. The
/// `mcp-auth-introspect` crate implements it (HTTP, cache, single flight, in-flight cap).
///
/// Contract: [`introspect`](Self::introspect) answers with the judgment of
/// [`IntrospectionRules`] (a kept answer re-checked with [`IntrospectionRules::recheck`]); a
/// failure to get a usable answer is a 503 ([`AuthError::introspection_unavailable`] or
/// [`AuthError::introspection_overloaded`]), never an acceptance. `token` has passed
/// [`check_token`], or is checked by the implementation before it is sent.
pub trait TokenIntrospector: Send + Sync + fmt::Debug + 'static {
    /// The issuer whose endpoint is asked.
    fn issuer(&self) -> &str;

    /// Whether `token` is active for this resource now, and what it grants.
    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a>;
}

impl<T: TokenIntrospector + ?Sized> TokenIntrospector for Arc<T> {
    fn issuer(&self) -> &str {
        (**self).issuer()
    }

    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a> {
        (**self).introspect(token)
    }
}

/// The members read besides the claims. serde's derive refuses a duplicate of these.
#[derive(Deserialize)]
struct Head {
    active: Option<serde_json::Value>,
    token_type: Option<String>,
    username: Option<String>,
}

/// The rules an introspection answer from one issuer must satisfy.
#[derive(Debug, Clone)]
pub struct IntrospectionRules {
    issuer: String,
    claims: ClaimsPolicy,
    max_cache: Duration,
    retry_after: u32,
    signed: Option<SignedAnswers>,
    /// `cnf` and `token_type` `DPoP` kept ([`with_dpop_bound_tokens`](Self::with_dpop_bound_tokens)).
    dpop_bound: bool,
}

impl IntrospectionRules {
    /// Rules for answers from `issuer`'s introspection endpoint, judged by `claims` (which
    /// must list `issuer`). Positive answers are kept at most [`DEFAULT_MAX_CACHE`]; plain
    /// JSON answers are expected.
    pub fn new(
        issuer: impl Into<String>,
        claims: ClaimsPolicy,
    ) -> Result<Self, IntrospectionConfigError> {
        let issuer = issuer.into();
        if !claims.accepts_issuer(&issuer) {
            return Err(IntrospectionConfigError::IssuerNotInPolicy(issuer));
        }
        Ok(Self {
            issuer,
            claims,
            max_cache: DEFAULT_MAX_CACHE,
            retry_after: DEFAULT_RETRY_AFTER,
            signed: None,
            dpop_bound: false,
        })
    }

    /// Sets the longest a positive answer is kept: the revocation delay.
    #[must_use]
    pub fn with_max_cache(mut self, max: Duration) -> Self {
        self.max_cache = max;
        self
    }

    /// Sets the `Retry-After` (seconds) of an unusable answer.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = secs;
        self
    }

    /// Keeps `cnf` and takes `token_type` `DPoP` (RFC 9449 §6.2) instead of refusing them:
    /// only for a caller that then requires, on the `DPoP` scheme, that `cnf.jkt` is the
    /// thumbprint of the request's proof key, and refuses a token with `cnf` on the `Bearer`
    /// scheme (the layer does both when DPoP is on). Off by default. On, it also sets the
    /// claims policy's [`allow_cnf`](ClaimsPolicy::allow_cnf).
    #[must_use]
    pub fn with_dpop_bound_tokens(mut self, on: bool) -> Self {
        self.dpop_bound = on;
        if on {
            self.claims.allow_cnf = true;
        }
        self
    }

    /// Expects RFC 9701 signed answers: the outer `aud` must be `audience` (this resource
    /// server's client id), the signature one of `algorithms` by a key of the issuer.
    pub fn with_signed_answers(
        mut self,
        audience: impl Into<String>,
        algorithms: Vec<Algorithm>,
    ) -> Result<Self, IntrospectionConfigError> {
        if algorithms.is_empty() {
            return Err(IntrospectionConfigError::NoAlgorithm);
        }
        self.signed = Some(SignedAnswers {
            audience: audience.into(),
            algorithms,
            max_len: DEFAULT_MAX_SIGNED_ANSWER_LEN,
        });
        Ok(self)
    }

    /// The issuer whose endpoint answers.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The claims policy.
    pub fn claims(&self) -> &ClaimsPolicy {
        &self.claims
    }

    /// The longest a positive answer is kept.
    pub fn max_cache(&self) -> Duration {
        self.max_cache
    }

    /// The `Retry-After` of an unusable answer.
    pub fn retry_after(&self) -> u32 {
        self.retry_after
    }

    /// The RFC 9701 settings, when signed answers are expected.
    pub fn signed_answers(&self) -> Option<&SignedAnswers> {
        self.signed.as_ref()
    }

    fn unusable(&self) -> AuthError {
        AuthError::introspection_unavailable(self.retry_after)
    }

    /// Judges a plain JSON answer (RFC 7662 §2.2) for `token` at `now` (seconds since the
    /// epoch). See the [module docs](self) for each rule.
    pub fn check_answer(
        &self,
        token: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Introspected, AuthError> {
        self.judge(token, body.to_vec(), [0; 32], now)
    }

    fn judge(
        &self,
        token: &str,
        body: Vec<u8>,
        key: [u8; 32],
        now: i64,
    ) -> Result<Introspected, AuthError> {
        let head: Head = serde_json::from_slice(&body).map_err(|_| self.unusable())?;
        // RFC 7662 §2.2: `active` is REQUIRED and a boolean; only `true` vouches for the
        // token. Anything else is not an answer to act on.
        match head.active {
            Some(serde_json::Value::Bool(true)) => {}
            Some(serde_json::Value::Bool(false)) => {
                return Err(AuthError::invalid_token("token is not active"));
            }
            _ => return Err(self.unusable()),
        }
        // Duplicates at any depth, nesting and the registered members' types: an answer the
        // JWT parser refuses is not usable either.
        let mut claims =
            Claims::from_json_with(body, &self.claims.mapping).map_err(|_| self.unusable())?;
        // RFC 7662 §2.2 `token_type` (optional, RFC 6749 §7.1 types are case-insensitive):
        // on the Bearer scheme only a bearer token.
        // With DPoP-bound tokens taken, a `DPoP` token (RFC 9449 §6.2) too.
        let dpop = self.dpop_bound;
        if head.token_type.as_deref().is_some_and(|t| {
            !(t.eq_ignore_ascii_case("bearer") || (dpop && t.eq_ignore_ascii_case("dpop")))
        }) {
            return Err(AuthError::invalid_token("token type is not Bearer"));
        }
        // RFC 9449 §7.2 / RFC 8705 §3: a sender-constrained token presented as a bearer token
        // without its proof must be refused, whatever the policy says of DPoP. Only rules
        // that take DPoP-bound tokens keep the `cnf`, for the caller (a layer with DPoP on)
        // to match `cnf.jkt` with the proof, and to refuse it on the `Bearer` scheme.
        if claims.cnf.is_some() && !dpop {
            return Err(AuthError::invalid_token(
                "sender-constrained token presented without proof of possession",
            ));
        }
        // The answer comes from this issuer's endpoint: a present `iss` must name it, an
        // absent one is taken to be it.
        match &claims.iss {
            Some(iss) if *iss == self.issuer => {}
            Some(_) => return Err(AuthError::invalid_token("token issuer is not trusted")),
            None => claims.iss = Some(self.issuer.clone()),
        }
        let scopes = self.claims.check_as(&claims, now, Profile::Introspection)?;
        self.claims.check_verified(&claims, now)?;
        let cache_for = match claims.exp {
            Some(exp) => {
                let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
                Duration::from_secs(left).min(self.max_cache)
            }
            None => self.max_cache,
        };
        Ok(Introspected {
            verified: Verified {
                claims,
                scopes,
                token_hash: TokenHash::of(token.as_bytes()),
                key,
            },
            username: head.username,
            cache_for,
            checked_at: now,
        })
    }

    /// What a later use of a kept answer must check again at `now`: `exp` (when present),
    /// `nbf`, `iat` and the claim checks that read the clock, by the rules of the first
    /// check. Everything else was settled by the answer and this immutable policy.
    pub fn recheck(&self, verified: &Verified, now: i64) -> Result<(), AuthError> {
        self.claims
            .recheck_as(&verified.claims, now, Profile::Introspection)
    }

    /// The `kid` of an RFC 9701 signed answer's header, to pick the issuer's key set (a
    /// [`KeySource`](crate::keys::KeySource) lookup) before
    /// [`check_signed_answer`](Self::check_signed_answer). Unusable (503) when the answer is
    /// not a signed JWT these rules accept, or signed answers are not configured.
    pub fn signed_answer_kid(&self, jwt: &[u8]) -> Result<Option<String>, AuthError> {
        let (_, policy) = self.signed_policy()?;
        let jwt = std::str::from_utf8(jwt).map_err(|_| self.unusable())?;
        let header = self.signed_header(jwt, &policy)?;
        Ok(header.kid().map(str::to_owned))
    }

    fn signed_policy(&self) -> Result<(&SignedAnswers, HeaderPolicy), AuthError> {
        let signed = self.signed.as_ref().ok_or_else(|| self.unusable())?;
        let policy = HeaderPolicy {
            algorithms: signed.algorithms.clone(),
            typ: TypPolicy::Strict,
            max_token_len: signed.max_len,
        };
        Ok((signed, policy))
    }

    fn signed_header<'t>(
        &self,
        jwt: &'t str,
        policy: &HeaderPolicy,
    ) -> Result<crate::jws::CheckedHeader<'t>, AuthError> {
        // RFC 9701 §5: `typ` is `token-introspection+jwt` (RFC 7515 §4.1.9 lets the
        // `application/` prefix be omitted; compared case-insensitively).
        let typ_ok = |t: Option<&str>, _| {
            t.is_some_and(|t| {
                t.eq_ignore_ascii_case("token-introspection+jwt")
                    || t.eq_ignore_ascii_case(JWT_ANSWER_MEDIA_TYPE)
            })
        };
        CompactJws::split(jwt.trim_ascii(), policy.max_token_len)
            .and_then(|jws| {
                jws.check_header_typed(policy, typ_ok, "answer type is not token-introspection+jwt")
            })
            .map_err(|_| self.unusable())
    }

    /// Judges an RFC 9701 signed answer (the body of a response of type
    /// [`JWT_ANSWER_MEDIA_TYPE`]) for `token` at `now`, verified with `keys`, the issuer's key
    /// set: the header (`typ` `token-introspection+jwt`, an allowed algorithm), the
    /// signature, the outer `iss` (this issuer) and `aud` (this resource server's client
    /// id), then the `token_introspection` member by the rules of
    /// [`check_answer`](Self::check_answer). Any failure of the envelope is unusable (503).
    pub fn check_signed_answer(
        &self,
        token: &str,
        jwt: &[u8],
        keys: &KeySet,
        now: i64,
    ) -> Result<Introspected, AuthError> {
        let (signed, policy) = self.signed_policy()?;
        let jwt = std::str::from_utf8(jwt).map_err(|_| self.unusable())?;
        let mut jws = self
            .signed_header(jwt, &policy)?
            .decode()
            .map_err(|_| self.unusable())?;
        let key = jws.verify(keys).map_err(|_| self.unusable())?;
        let outer =
            Claims::from_json_vec(jws.take_unverified_payload()).map_err(|_| self.unusable())?;
        // RFC 9701 §5: `iss` is the authorization server, `aud` the resource server's
        // client id.
        if outer.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(self.unusable());
        }
        if !outer
            .aud
            .as_deref()
            .is_some_and(|aud| aud.contains(&signed.audience))
        {
            return Err(self.unusable());
        }
        let Ok(Some(inner @ serde_json::Value::Object(_))) = outer.get("token_introspection")
        else {
            return Err(self.unusable());
        };
        let body = serde_json::to_vec(&inner).map_err(|_| self.unusable())?;
        self.judge(token, body, *key.fingerprint(), now)
    }
}
