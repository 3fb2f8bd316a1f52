//! [`JwksKeySource`]: the cache and the request-time lookups. The builder is in `builder`,
//! the state of one key set (shared by the issuers naming one `jwks_uri`) in `jwks`,
//! fetching and refreshing in `loading`, the maximum staleness in `staleness`.

use crate::clock::Clock;
use crate::error::JwksError;
use crate::fetch::Fetcher;
use foldhash::fast::RandomState;
use futures_util::future::join_all;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::Algorithm;
use mcp_auth_core::keys::{Current, KeyError, KeySource, KeysFuture};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::{debug, trace};

mod builder;
mod jwks;
mod loading;
mod staleness;
#[cfg(test)]
mod tests;
pub use builder::{
    DEFAULT_KID_COOLDOWN, DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_TTL,
    DEFAULT_MIN_TTL, DEFAULT_RETRY_BACKOFF, DEFAULT_TIMEOUT, JwksKeySourceBuilder,
};
pub use staleness::DEFAULT_MAX_STALENESS;

#[cfg(doc)]
use jwks::RefetchGate;
use jwks::{Cached, Jwks, later};

#[cfg(doc)]
use mcp_auth_core::jwk::DEFAULT_MAX_KEYS;

/// A production [`KeySource`]: JWKS per issuer (shared per `jwks_uri`), fetched and cached.
///
/// See the [crate docs](crate) for the behaviour. Clones share one cache, one HTTP client and
/// one set of counters.
#[derive(Debug, Clone)]
pub struct JwksKeySource {
    inner: Arc<Inner>,
}

/// Counters since the source was built. Read with [`JwksKeySource::stats`].
///
/// Fetches, errors, refetches and refreshes count per key set, not per issuer: the issuers
/// configured with one `jwks_uri` share one set, so one fetch serves them all. Hits, misses,
/// stale serves and refusals count requests, whichever issuer they name.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwksStats {
    /// JWKS fetches attempted (successful or not).
    pub fetches: u64,
    /// Metadata (discovery) fetches attempted.
    pub discovery_fetches: u64,
    /// Loads that failed (discovery, transport, status, content type, size or content).
    pub fetch_errors: u64,
    /// Lookups answered from memory without waiting for a fetch ([`KeySource::current`]
    /// answering with the key set, or [`KeySource::keys`] without a fetch).
    pub hits: u64,
    /// Requests that waited for a fetch (first load of an issuer, or an unknown `kid`).
    pub misses: u64,
    /// Requests answered with keys past their lifetime (while revalidating or during an
    /// outage).
    pub stale_serves: u64,
    /// Requests with an unknown `kid` answered without a fetch because of the cooldown or the
    /// negative cache.
    pub cooldown_rejections: u64,
    /// Fetches started because of an unknown `kid`.
    pub kid_refetches: u64,
    /// Refreshes started ahead of (or after) expiry, in the background.
    pub background_refreshes: u64,
    /// Requests refused with [`KeyError::Unavailable`] because the last good keys were
    /// past the maximum staleness and could not be revalidated.
    pub staleness_refusals: u64,
}

#[derive(Debug, Default)]
struct Counters {
    fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    fetch_errors: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    stale_serves: AtomicU64,
    cooldown_rejections: AtomicU64,
    kid_refetches: AtomicU64,
    background_refreshes: AtomicU64,
    staleness_refusals: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug)]
struct Config {
    algorithms: Vec<Algorithm>,
    kid_cooldown: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    retry_backoff: Duration,
    max_staleness: Duration,
    max_response_bytes: usize,
    max_keys: usize,
    allow_insecure_http: bool,
}

struct Inner {
    /// Looked up on every request: foldhash, not SipHash (the keys are configuration).
    /// Fixed at build time: each issuer -> its key set, one shared by the issuers configured
    /// with one `jwks_uri`.
    issuers: HashMap<Arc<str>, Arc<Jwks>, RandomState>,
    /// Every key set once (what `warm_up` loads).
    sets: Vec<Arc<Jwks>>,
    fetcher: Arc<dyn Fetcher>,
    clock: Arc<dyn Clock>,
    cfg: Config,
    stats: Counters,
    /// The instant the source was built: the origin of [`RefetchGate`]'s nanoseconds.
    base: Instant,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksKeySource")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .field("config", &self.cfg)
            .field("fetcher", &self.fetcher)
            .field("clock", &self.clock)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Inner {
    async fn keys(
        self: &Arc<Self>,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<Arc<KeySet>, KeyError> {
        let Some(iss) = self.issuers.get(issuer) else {
            trace!("key request for an issuer that is not configured");
            return Err(KeyError::UnknownIssuer);
        };
        let Some(mut cached) = Option::clone(&iss.loaded()) else {
            // Never loaded: the first load, single-flight like every load.
            return self.first_load(iss).await.map(|c| Arc::clone(&c.keys));
        };
        let now = self.clock.now();
        if cached.unusable(now) {
            // Past the maximum staleness: only a newly loaded set will do.
            cached = self.revalidate(iss, now).await?;
        }
        if now >= cached.expires_at {
            bump(&self.stats.stale_serves);
            crate::metrics::stale_serve(&iss.name);
            trace!(issuer = &*iss.name, "serving keys past their lifetime");
        }
        if now >= cached.refresh_at
            && let Some(load) = self.background_refresh(iss, &cached, now)
            // No runtime to drive it: this request pays for the refresh.
            && let Ok(fresh) = load.await
        {
            cached = fresh;
        }
        match kid {
            Some(kid) if !cached.keys.contains_kid(kid) => {
                Ok(self.unknown_kid(iss, &cached, kid, now).await)
            }
            _ => {
                bump(&self.stats.hits);
                Ok(Arc::clone(&cached.keys))
            }
        }
    }

    /// What is in memory for `issuer` now ([`KeySource::current`]): the loaded set, unless
    /// [`keys`](Self::keys) must run first (never loaded; a refresh due and not started;
    /// past the maximum staleness and not refused outright). No lock on the common path:
    /// the set's lock is taken only once a refresh is due.
    fn current(&self, issuer: &str) -> Current {
        let Some(iss) = self.issuers.get(issuer) else {
            return Current::Failed(KeyError::UnknownIssuer);
        };
        let guard = iss.loaded();
        let Some(cached) = guard.as_ref() else {
            // Never loaded: only `keys` may start the first load.
            return Current::Load;
        };
        let now = self.clock.now();
        if cached.unusable(now) {
            // Past the maximum staleness (see `staleness`).
            return match self.unusable_now(iss, now) {
                Some(e) => Current::Failed(e),
                None => Current::Load,
            };
        }
        if now >= cached.refresh_at {
            // `keys` serves the loaded set as it is unless it must start a refresh now
            // (see `background_refresh`): leave that case to it.
            let st = iss.lock();
            if !(st.inflight.is_some()
                || !iss.is_newest(cached)
                || st.retry_not_before.is_some_and(|t| now < t))
            {
                return Current::Load;
            }
            drop(st);
            if now >= cached.expires_at {
                bump(&self.stats.stale_serves);
                crate::metrics::stale_serve(&iss.name);
            }
        }
        bump(&self.stats.hits);
        Current::Keys {
            keys: Arc::clone(&cached.keys),
            refetch_unknown_kid: iss.refetch.open(|| self.nanos(now)),
        }
    }

    /// `at` as nanoseconds since the source was built (the [`RefetchGate`]'s unit).
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// An unknown `kid`: one refetch, then a cooldown and a negative cache. Always answers
    /// with a key set (the last good one if the refetch fails), so the validator can answer
    /// `invalid_token`.
    async fn unknown_kid(
        self: &Arc<Self>,
        iss: &Arc<Jwks>,
        cached: &Cached,
        kid: &str,
        now: Instant,
    ) -> Arc<KeySet> {
        let cooldown = self.cfg.kid_cooldown;
        let load = {
            let mut st = iss.lock();
            if st.is_known_unknown(kid, now) {
                None
            } else if let Some((load, _)) = &st.inflight {
                Some(load.clone())
            } else if st
                .last_kid_refetch
                .is_some_and(|t| now < later(t, cooldown))
            {
                st.remember_unknown(kid, now, cooldown);
                None
            } else {
                st.last_kid_refetch = Some(now);
                iss.refetch.cool_until(self.nanos(later(now, cooldown)));
                bump(&self.stats.kid_refetches);
                crate::metrics::refresh(&iss.name, true);
                debug!(issuer = &*iss.name, "unknown kid: refetching JWKS");
                Some(self.start_load(&mut st, iss).0)
            }
        };
        let Some(load) = load else {
            bump(&self.stats.cooldown_rejections);
            crate::metrics::cooldown_refusal(&iss.name);
            trace!(
                issuer = &*iss.name,
                "unknown kid within the cooldown: not refetching"
            );
            return Arc::clone(&cached.keys);
        };
        bump(&self.stats.misses);
        let keys = match load.await {
            Ok(fresh) => Arc::clone(&fresh.keys),
            Err(_) => Arc::clone(&cached.keys),
        };
        if !keys.contains_kid(kid) {
            iss.lock().remember_unknown(kid, self.clock.now(), cooldown);
        }
        keys
    }
}

impl JwksKeySource {
    /// A builder with the defaults: algorithms RS256 and ES256, [`DEFAULT_KID_COOLDOWN`],
    /// [`DEFAULT_MIN_TTL`], [`DEFAULT_MAX_TTL`], [`DEFAULT_RETRY_BACKOFF`],
    /// [`DEFAULT_MAX_RESPONSE_BYTES`], core's [`DEFAULT_MAX_KEYS`], [`DEFAULT_TIMEOUT`],
    /// [`DEFAULT_MAX_REDIRECTS`], plain http only for loopback.
    pub fn builder() -> JwksKeySourceBuilder {
        JwksKeySourceBuilder::default()
    }

    /// Loads the key set of every configured issuer that has none yet, so the first request
    /// does not wait for it (one fetch per set: issuers sharing a `jwks_uri` share one).
    /// Returns the first error; the other sets are still loaded.
    pub async fn warm_up(&self) -> Result<(), JwksError> {
        let loads = self
            .inner
            .sets
            .iter()
            .map(|set| self.inner.ensure_loaded(set));
        join_all(loads).await.into_iter().collect()
    }

    /// Fetches the key set of `issuer` now, whatever its lifetime (joining a fetch already
    /// running). On failure the last good set stays in use (up to the maximum staleness) and
    /// the error is returned. The set is the one `issuer` shares with every issuer configured
    /// with the same `jwks_uri`: they all see the result. For operators (a rotation webhook, a health check); requests
    /// never need it.
    pub async fn refresh(&self, issuer: &str) -> Result<(), JwksError> {
        let iss = self
            .inner
            .issuers
            .get(issuer)
            .ok_or_else(|| JwksError::UnknownIssuer(issuer.to_owned()))?;
        let load = {
            let mut st = iss.lock();
            self.inner.start_load(&mut st, iss).0
        };
        load.await.map(drop).map_err(|e| (*e).clone())
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.keys().map(|k| &**k)
    }

    /// The last load error of `issuer`'s key set (shared with the issuers configured with the
    /// same `jwks_uri`), cleared by the next successful load.
    pub fn last_error(&self, issuer: &str) -> Option<JwksError> {
        let iss = self.inner.issuers.get(issuer)?;
        iss.lock().last_error.as_deref().cloned()
    }

    /// The counters.
    pub fn stats(&self) -> JwksStats {
        let s = &self.inner.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        JwksStats {
            fetches: get(&s.fetches),
            discovery_fetches: get(&s.discovery_fetches),
            fetch_errors: get(&s.fetch_errors),
            hits: get(&s.hits),
            misses: get(&s.misses),
            stale_serves: get(&s.stale_serves),
            cooldown_rejections: get(&s.cooldown_rejections),
            kid_refetches: get(&s.kid_refetches),
            background_refreshes: get(&s.background_refreshes),
            staleness_refusals: get(&s.staleness_refusals),
        }
    }
}

impl KeySource for JwksKeySource {
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
        Box::pin(self.inner.keys(issuer, kid))
    }

    fn current(&self, issuer: &str) -> Current {
        self.inner.current(issuer)
    }

    fn warm_up(&self) -> mcp_auth_core::keys::WarmUpFuture<'_> {
        Box::pin(async move {
            Self::warm_up(self)
                .await
                .map_err(|e| KeyError::Unavailable {
                    retry_after: 10,
                    reason: e.to_string(),
                })
        })
    }
}
