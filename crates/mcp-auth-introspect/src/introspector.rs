//! The per-issuer introspector: endpoint, in-flight cap, single-flight cache, counters.

use crate::ConfigError;
use crate::client_auth::ClientAuth;
use crate::http::{self, Failure, Post};
use crate::metrics::Outcome;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use mcp_auth_core::credentials::DEFAULT_MAX_TOKEN_LEN;
use mcp_auth_core::introspection::{
    IntrospectFuture, Introspected, IntrospectionRules, JWT_ANSWER_MEDIA_TYPE, TokenIntrospector,
    check_token,
};
use mcp_auth_core::keys::{Current, KeySource};
use mcp_auth_core::{AuthError, ErrorKind};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

/// Default timeout of one introspection call (connection to last byte).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on calls in flight to one issuer.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;
/// Default lifetime of a refusal (`active: false`, another audience...) in the cache.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Default number of answers kept.
pub const DEFAULT_CACHE_CAPACITY: u64 = 10_000;
/// Default cap on an answer's size, in bytes.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The `Retry-After` of a refusal for too many calls in flight.
const OVERLOADED_RETRY_AFTER: u32 = 1;

/// What the introspector did, by outcome, since it was built. Counters only grow.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntrospectionStats {
    /// Calls to the introspection endpoint (each request that went out).
    pub calls: u64,
    /// Requests answered without a call of their own: a kept answer, or another request's
    /// call for the same token that was in flight (single flight).
    pub hits: u64,
    /// Calls answered `active: true` and accepted by the rules.
    pub active: u64,
    /// Calls whose answer refused the token (`active: false`, or a rule such as the
    /// audience): `invalid_token`, kept for the negative lifetime.
    pub refused: u64,
    /// Calls that gave no usable answer (transport error, status other than 200, oversized,
    /// junk, a signed answer that does not verify), timeouts excepted.
    pub unavailable: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Requests refused before any call because the in-flight cap was reached.
    pub overloaded: u64,
    /// Metadata fetches made to find the endpoint.
    pub discovery_fetches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    hits: AtomicU64,
    active: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
    timeouts: AtomicU64,
    overloaded: AtomicU64,
    discovery_fetches: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A kept answer: the token's fate and how long it may be reused.
struct Entry {
    outcome: Result<Arc<Introspected>, AuthError>,
    ttl: Duration,
}

/// Each entry lives as long as its answer allows.
struct ByAnswer;

impl moka::Expiry<[u8; 32], Arc<Entry>> for ByAnswer {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

enum Endpoint {
    Explicit(Url),
    Discover { issuer: Url, found: OnceCell<Url> },
}

struct Inner {
    rules: IntrospectionRules,
    client: ClientAuth,
    http: reqwest::Client,
    endpoint: Endpoint,
    timeout: Duration,
    max_answer_bytes: usize,
    max_token_len: usize,
    negative_ttl: Duration,
    allow_insecure_http: bool,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    cache: moka::future::Cache<[u8; 32], Arc<Entry>>,
    /// The cache key: HMAC-SHA256 of the token under a key drawn when the introspector was
    /// built, so the cache holds no token and nobody can aim for a collision.
    hasher: hmac::Key,
    signed_keys: Option<Arc<dyn KeySource>>,
    stats: Counters,
    metrics: crate::metrics::Keys,
}

/// An RFC 7662 introspection client for one issuer, with its cache. Cheap to clone (one
/// `Arc`). See the [crate docs](crate).
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Introspector")
            .field("issuer", &i.rules.issuer())
            .field("client", &i.client)
            .field("timeout", &i.timeout)
            .field("max_in_flight", &i.max_in_flight)
            .field("entries", &i.cache.entry_count())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Introspector`]: [`Introspector::builder`].
#[must_use]
pub struct IntrospectorBuilder {
    rules: IntrospectionRules,
    client: ClientAuth,
    endpoint: Option<String>,
    timeout: Duration,
    max_in_flight: usize,
    negative_ttl: Duration,
    capacity: u64,
    max_answer_bytes: usize,
    max_token_len: usize,
    allow_insecure_http: bool,
    signed_keys: Option<Arc<dyn KeySource>>,
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("issuer", &self.rules.issuer())
            .field("client", &self.client)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl IntrospectorBuilder {
    /// The endpoint to call, instead of the issuer metadata's `introspection_endpoint`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Timeout of one call, connection to last byte (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Cap on calls in flight to this issuer (default [`DEFAULT_MAX_IN_FLIGHT`]); a new
    /// token beyond it is refused with a 503 and `Retry-After: 1`.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// How long a refusal is kept (default [`DEFAULT_NEGATIVE_TTL`]).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// How many answers are kept at most (default [`DEFAULT_CACHE_CAPACITY`]).
    pub fn cache_capacity(mut self, n: u64) -> Self {
        self.capacity = n;
        self
    }

    /// Cap on an answer's size (default [`DEFAULT_MAX_ANSWER_BYTES`]).
    pub fn max_answer_bytes(mut self, n: usize) -> Self {
        self.max_answer_bytes = n;
        self
    }

    /// Cap on a token's size before it is sent (default
    /// [`DEFAULT_MAX_TOKEN_LEN`](mcp_auth_core::credentials::DEFAULT_MAX_TOKEN_LEN)).
    pub fn max_token_len(mut self, n: usize) -> Self {
        self.max_token_len = n;
        self
    }

    /// Allows plain http endpoints on any host (default: only loopback). Tokens and client
    /// secrets then cross the network in clear: for tests and private networks only.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The issuer's keys, to verify RFC 9701 signed answers (the rules must have
    /// [`with_signed_answers`](IntrospectionRules::with_signed_answers)).
    pub fn signed_answer_keys(mut self, keys: Arc<dyn KeySource>) -> Self {
        self.signed_keys = Some(keys);
        self
    }

    /// Checks the settings and builds the introspector. No I/O: metadata is fetched on the
    /// first call.
    pub fn build(self) -> Result<Introspector, ConfigError> {
        if self.max_in_flight == 0 {
            return Err(ConfigError::Zero("max_in_flight"));
        }
        if self.max_answer_bytes == 0 {
            return Err(ConfigError::Zero("max_answer_bytes"));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::Zero("timeout"));
        }
        if self.rules.signed_answers().is_some() != self.signed_keys.is_some() {
            return Err(ConfigError::SignedAnswers);
        }
        let endpoint = match self.endpoint {
            Some(url) => Endpoint::Explicit(
                http::check_url(&url, self.allow_insecure_http)
                    .map_err(|reason| ConfigError::Endpoint { url, reason })?,
            ),
            None => Endpoint::Discover {
                issuer: http::check_url(self.rules.issuer(), self.allow_insecure_http)
                    .map_err(|_| ConfigError::Issuer(self.rules.issuer().to_owned()))?,
                found: OnceCell::new(),
            },
        };
        let hasher = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| ConfigError::HttpClient("no randomness for the cache key".into()))?;
        let cache = moka::future::Cache::builder()
            .max_capacity(self.capacity)
            .expire_after(ByAnswer)
            .build();
        let metrics = crate::metrics::Keys::new(self.rules.issuer());
        Ok(Introspector {
            inner: Arc::new(Inner {
                http: http::client(self.timeout).map_err(ConfigError::HttpClient)?,
                rules: self.rules,
                client: self.client,
                endpoint,
                timeout: self.timeout,
                max_answer_bytes: self.max_answer_bytes,
                max_token_len: self.max_token_len,
                negative_ttl: self.negative_ttl,
                allow_insecure_http: self.allow_insecure_http,
                in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
                max_in_flight: self.max_in_flight,
                cache,
                hasher,
                signed_keys: self.signed_keys,
                stats: Counters::default(),
                metrics,
            }),
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Introspector {
    /// A builder for `rules`' issuer, authenticating as `client`.
    pub fn builder(rules: IntrospectionRules, client: ClientAuth) -> IntrospectorBuilder {
        IntrospectorBuilder {
            rules,
            client,
            endpoint: None,
            timeout: DEFAULT_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            capacity: DEFAULT_CACHE_CAPACITY,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            allow_insecure_http: false,
            signed_keys: None,
        }
    }

    /// The issuer this introspector asks.
    pub fn issuer(&self) -> &str {
        self.inner.rules.issuer()
    }

    /// The rules answers are judged by.
    pub fn rules(&self) -> &IntrospectionRules {
        &self.inner.rules
    }

    /// The counters.
    pub fn stats(&self) -> IntrospectionStats {
        let s = &self.inner.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IntrospectionStats {
            calls: get(&s.calls),
            hits: get(&s.hits),
            active: get(&s.active),
            refused: get(&s.refused),
            unavailable: get(&s.unavailable),
            timeouts: get(&s.timeouts),
            overloaded: get(&s.overloaded),
            discovery_fetches: get(&s.discovery_fetches),
        }
    }

    /// Whether `token` is active for this resource, now: a kept answer (checked again
    /// against the clock) or one call to the endpoint, shared by every concurrent request
    /// with the same token.
    ///
    /// # Errors
    ///
    /// - the token's size or syntax ([`check_token`]): nothing is sent;
    /// - `invalid_token`: the answer refuses it (see
    ///   [`IntrospectionRules::check_answer`]);
    /// - [`AuthError::introspection_overloaded`]: too many calls in flight;
    /// - [`AuthError::introspection_unavailable`]: no usable answer (both 503 with
    ///   `Retry-After`).
    pub async fn introspect(&self, token: &str) -> Result<Arc<Introspected>, AuthError> {
        let inner = &self.inner;
        check_token(token, inner.max_token_len)?;
        let key = self.cache_key(token);
        let mut called = false;
        let entry = inner
            .cache
            .try_get_with(key, async {
                called = true;
                self.call(token).await
            })
            .await
            .map_err(|e| (*e).clone())?;
        if !called {
            bump(&inner.stats.hits);
            inner.metrics.hit();
        }
        match &entry.outcome {
            Ok(answer) => {
                inner.rules.recheck(&answer.verified, unix_now())?;
                Ok(answer.clone())
            }
            Err(e) => Err(e.clone()),
        }
    }

    fn cache_key(&self, token: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.inner.hasher, token.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(tag.as_ref());
        key
    }

    /// One call and its judgment: an entry to keep (accepted or refused), or a 503 kept
    /// by no one.
    async fn call(&self, token: &str) -> Result<Arc<Entry>, AuthError> {
        let inner = &self.inner;
        let Ok(_permit) = inner.in_flight.clone().try_acquire_owned() else {
            bump(&inner.stats.overloaded);
            inner.metrics.call(Outcome::Overloaded);
            tracing::warn!(
                target: "mcp_auth::introspection",
                issuer = inner.rules.issuer(),
                "introspection calls in flight at the cap: token refused with 503"
            );
            return Err(AuthError::introspection_overloaded(OVERLOADED_RETRY_AFTER));
        };
        let unavailable = || AuthError::introspection_unavailable(inner.rules.retry_after());
        let url = self.endpoint().await?;
        bump(&inner.stats.calls);
        let now = unix_now();
        let prepared = inner
            .client
            .prepare(token, inner.rules.issuer(), now)
            .map_err(|reason| {
                tracing::error!(target: "mcp_auth::introspection", reason, "client authentication");
                unavailable()
            })?;
        let signed = inner.rules.signed_answers().is_some();
        let post = Post {
            url,
            authorization: prepared.authorization.as_deref().map(String::as_str),
            body: &prepared.body,
            accept: if signed {
                JWT_ANSWER_MEDIA_TYPE
            } else {
                "application/json"
            },
            expect_type: signed.then_some(JWT_ANSWER_MEDIA_TYPE),
        };
        let body = match http::post(&inner.http, post, inner.timeout, inner.max_answer_bytes).await
        {
            Ok(body) => body,
            Err(failure) => {
                bump(if matches!(failure, Failure::Timeout) {
                    &inner.stats.timeouts
                } else {
                    &inner.stats.unavailable
                });
                inner.metrics.call(if matches!(failure, Failure::Timeout) {
                    Outcome::Timeout
                } else {
                    Outcome::Unavailable
                });
                tracing::error!(
                    target: "mcp_auth::introspection",
                    issuer = inner.rules.issuer(),
                    %failure,
                    "introspection call failed"
                );
                return Err(unavailable());
            }
        };
        let judged = if signed {
            self.judge_signed(token, &body).await
        } else {
            inner.rules.check_answer(token, &body, unix_now())
        };
        match judged {
            Ok(answer) => {
                bump(&inner.stats.active);
                inner.metrics.call(Outcome::Active);
                Ok(Arc::new(Entry {
                    ttl: answer.cache_for,
                    outcome: Ok(Arc::new(answer)),
                }))
            }
            Err(e) if e.kind() == ErrorKind::KeySourceUnavailable => {
                bump(&inner.stats.unavailable);
                inner.metrics.call(Outcome::Unavailable);
                tracing::error!(
                    target: "mcp_auth::introspection",
                    issuer = inner.rules.issuer(),
                    "unusable introspection answer"
                );
                Err(e)
            }
            Err(e) => {
                bump(&inner.stats.refused);
                inner.metrics.call(Outcome::Refused);
                tracing::debug!(
                    target: "mcp_auth::introspection",
                    reason = e.description(),
                    "introspection refused the token"
                );
                Ok(Arc::new(Entry {
                    outcome: Err(e),
                    ttl: inner.negative_ttl,
                }))
            }
        }
    }

    /// An RFC 9701 answer, verified with the issuer's keys (refetched once for an unknown
    /// `kid`, as the key source allows).
    async fn judge_signed(&self, token: &str, body: &[u8]) -> Result<Introspected, AuthError> {
        let inner = &self.inner;
        let rules = &inner.rules;
        let unavailable = || AuthError::introspection_unavailable(rules.retry_after());
        let source = inner.signed_keys.as_ref().ok_or_else(unavailable)?;
        let kid = rules.signed_answer_kid(body)?;
        let keys = match source.current(rules.issuer()) {
            Current::Keys { keys, .. } if kid.as_deref().is_none_or(|k| keys.contains_kid(k)) => {
                keys
            }
            _ => source
                .keys(rules.issuer(), kid.as_deref())
                .await
                .map_err(|e| {
                    tracing::error!(target: "mcp_auth::introspection", %e, "answer keys");
                    unavailable()
                })?,
        };
        rules.check_signed_answer(token, body, &keys, unix_now())
    }

    /// The endpoint: explicit, or found once in the issuer's metadata.
    async fn endpoint(&self) -> Result<&Url, AuthError> {
        let inner = &self.inner;
        match &inner.endpoint {
            Endpoint::Explicit(url) => Ok(url),
            Endpoint::Discover { issuer, found } => {
                found.get_or_try_init(|| self.discover(issuer)).await
            }
        }
    }

    /// RFC 8414 §3: the first metadata document found, whose `issuer` is the configured one
    /// (§3.3), with an `introspection_endpoint` tokens may be sent to.
    async fn discover(&self, issuer: &Url) -> Result<Url, AuthError> {
        let inner = &self.inner;
        let unavailable = || AuthError::introspection_unavailable(inner.rules.retry_after());
        let mut last = String::new();
        for url in http::discovery_urls(issuer) {
            bump(&inner.stats.discovery_fetches);
            let body =
                match http::get(&inner.http, &url, inner.timeout, inner.max_answer_bytes).await {
                    Ok(body) => body,
                    Err(f) => {
                        last = format!("{url}: {f}");
                        continue;
                    }
                };
            let doc: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(doc) => doc,
                Err(_) => {
                    last = format!("{url}: not JSON");
                    continue;
                }
            };
            if doc.get("issuer").and_then(|v| v.as_str()) != Some(inner.rules.issuer()) {
                last = format!("{url}: metadata of another issuer");
                continue;
            }
            let Some(endpoint) = doc.get("introspection_endpoint").and_then(|v| v.as_str()) else {
                last = format!("{url}: no introspection_endpoint");
                continue;
            };
            match http::check_url(endpoint, inner.allow_insecure_http) {
                Ok(u) => return Ok(u),
                Err(reason) => last = format!("{url}: introspection_endpoint refused: {reason}"),
            }
        }
        tracing::error!(
            target: "mcp_auth::introspection",
            issuer = inner.rules.issuer(),
            reason = %last,
            "no introspection endpoint found"
        );
        Err(unavailable())
    }
}

impl TokenIntrospector for Introspector {
    fn issuer(&self) -> &str {
        self.inner.rules.issuer()
    }

    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a> {
        Box::pin(Self::introspect(self, token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::claims::ClaimsPolicy;
    use mcp_auth_core::resource::ResourceUri;

    fn introspector() -> Introspector {
        let iss = "https://as.example.com";
        let policy = ClaimsPolicy::new(ResourceUri::parse("https://mcp.example.com").unwrap(), iss);
        let rules = IntrospectionRules::new(iss, policy).unwrap();
        Introspector::builder(rules, ClientAuth::client_secret_post("rs", "hunter2"))
            .endpoint("https://as.example.com/introspect")
            .build()
            .unwrap()
    }

    #[test]
    fn the_cache_key_is_a_keyed_hash_that_holds_no_token() {
        let (a, b) = (introspector(), introspector());
        let token = "a-token-of-32-bytes-exactly-here";
        let key = a.cache_key(token);
        assert_eq!(key, a.cache_key(token), "stable within one introspector");
        assert_ne!(key, a.cache_key("a-token-of-32-bytes-exactly-hera"));
        assert_ne!(key, b.cache_key(token), "a fresh key per introspector");
        assert_ne!(&key[..], token.as_bytes());
    }

    #[test]
    fn debug_shows_no_secret() {
        let i = introspector();
        let shown = format!("{i:?}");
        assert!(shown.contains("client_secret_post"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
