//! [`JwksKeySource`]: the cache, its refresh policy, and its builder.

use crate::clock::{Clock, SystemClock};
use crate::error::JwksError;
use crate::fetch::{FetchError, FetchResponse, Fetcher};
use crate::rules::{
    check_fetch_url, discovery_urls, is_json_content_type, issuer_matches, parse_cache_control,
    refresh_ahead, retry_after_secs, ttl,
};
use arc_swap::ArcSwapOption;
use foldhash::fast::RandomState;
use futures_util::future::{BoxFuture, FutureExt, Shared, join_all};
use http::StatusCode;
use mcp_auth_core::jwk::{DEFAULT_MAX_KEYS, KeySet};
use mcp_auth_core::jws::Algorithm;
use mcp_auth_core::keys::{KeyError, KeySource, KeysFuture};
use moka::future::Cache;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, trace, warn};

mod staleness;
pub use staleness::DEFAULT_MAX_STALENESS;

/// Default minimum time between two fetches caused by unknown `kid`s, per issuer.
pub const DEFAULT_KID_COOLDOWN: Duration = Duration::from_secs(60);
/// Default floor of a key set's lifetime (also the lifetime when the response gives none).
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(5 * 60);
/// Default ceiling of a key set's lifetime.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default wait after a failed fetch before the next attempt (and the `retry_after` of
/// [`KeyError::Unavailable`]).
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(10);
/// Default cap on a response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Default timeout of one fetch, connection to last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of redirects followed.
pub const DEFAULT_MAX_REDIRECTS: usize = 3;

/// Longest accepted duration setting, so instant arithmetic can never overflow.
const MAX_SETTING: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Unknown `kid`s remembered per issuer.
const MAX_UNKNOWN_KIDS: usize = 1024;

type LoadResult = Result<Arc<Cached>, Arc<JwksError>>;
type SharedLoad = Shared<BoxFuture<'static, LoadResult>>;

/// A production [`KeySource`]: JWKS per issuer, fetched over HTTP and cached.
///
/// See the [crate docs](crate) for the behaviour. Clones share one cache, one HTTP client and
/// one set of counters.
#[derive(Debug, Clone)]
pub struct JwksKeySource {
    inner: Arc<Inner>,
}

/// Counters since the source was built. Read with [`JwksKeySource::stats`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwksStats {
    /// JWKS fetches attempted (successful or not).
    pub fetches: u64,
    /// Metadata (discovery) fetches attempted.
    pub discovery_fetches: u64,
    /// Loads that failed (discovery, transport, status, content type, size or content).
    pub fetch_errors: u64,
    /// Lookups answered from the cache without waiting for a fetch. A validator that
    /// skips the lookup while [`KeySource::epoch`] stands (the token cache of `mcp-auth`
    /// does, for a token it confirmed this second) does not count here.
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

/// A loaded key set and its lifetime.
#[derive(Debug)]
struct Cached {
    keys: Arc<KeySet>,
    generation: u64,
    refresh_at: Instant,
    expires_at: Instant,
    /// From here on a cache may not trust a confirmation made on this set without asking
    /// again: [`staleness::CONFIRMATION_MARGIN`] before `usable_until`.
    confirm_until: Instant,
    /// The end of the maximum staleness: not used from here on (see [`staleness`]).
    usable_until: Instant,
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

#[derive(Debug)]
struct Issuer {
    name: Arc<str>,
    /// Configured explicitly; `None` means discovery.
    jwks_uri: Option<String>,
    /// The newest loaded set, readable without a lock on every request (see
    /// [`KeySource::cached`]); written only by [`Inner::load`] under `state`'s lock, so it
    /// never goes back to an older generation.
    current: ArcSwapOption<Cached>,
    state: Mutex<IssuerState>,
}

impl Issuer {
    fn lock(&self) -> MutexGuard<'_, IssuerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Per-issuer bookkeeping. Locked only for short, synchronous sections, never across I/O.
#[derive(Default)]
struct IssuerState {
    discovered_jwks_uri: Option<String>,
    /// The load in progress: its id, the shared future, and whether a task drives it.
    inflight: Option<(u64, SharedLoad, bool)>,
    next_load_id: u64,
    /// Generation of the newest loaded set.
    generation: u64,
    last_kid_refetch: Option<Instant>,
    /// After a failed load: no background attempt (and `Unavailable` when nothing is loaded)
    /// before this instant.
    retry_not_before: Option<Instant>,
    last_error: Option<Arc<JwksError>>,
    /// Negative cache: a seeded 64-bit hash of an unknown `kid` -> remembered until. Hashes,
    /// not strings: a flood of forged `kid`s costs no allocation, and a collision (with an
    /// unpredictable seed) can only delay one refetch by one cooldown.
    unknown_kids: HashMap<u64, Instant, RandomState>,
    kid_hasher: RandomState,
}

impl fmt::Debug for IssuerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerState")
            .field("discovered_jwks_uri", &self.discovered_jwks_uri)
            .field("loading", &self.inflight.is_some())
            .field("generation", &self.generation)
            .field("last_kid_refetch", &self.last_kid_refetch)
            .field("retry_not_before", &self.retry_not_before)
            .field("last_error", &self.last_error)
            .field("unknown_kids", &self.unknown_kids.len())
            .finish()
    }
}

impl IssuerState {
    fn is_known_unknown(&self, kid: &str, now: Instant) -> bool {
        let h = self.kid_hasher.hash_one(kid);
        self.unknown_kids.get(&h).is_some_and(|until| now < *until)
    }

    fn remember_unknown(&mut self, kid: &str, now: Instant, cooldown: Duration) {
        let h = self.kid_hasher.hash_one(kid);
        if self.unknown_kids.len() >= MAX_UNKNOWN_KIDS {
            self.unknown_kids.retain(|_, until| now < *until);
            if self.unknown_kids.len() >= MAX_UNKNOWN_KIDS {
                self.unknown_kids.clear();
            }
        }
        self.unknown_kids.insert(h, later(now, cooldown));
    }
}

fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by).unwrap_or(now)
}

struct Inner {
    /// Looked up on every request: foldhash, not SipHash (the keys are configuration).
    issuers: HashMap<Arc<str>, Arc<Issuer>, RandomState>,
    cache: Cache<Arc<str>, Arc<Cached>>,
    fetcher: Arc<dyn Fetcher>,
    clock: Arc<dyn Clock>,
    cfg: Config,
    stats: Counters,
    /// Incremented after every key set installed (`KeySource::epoch`).
    epoch: AtomicU64,
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

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
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
        let Some(mut cached) = self.cache.get(&*iss.name).await else {
            // Never loaded: the first load is single-flight through moka.
            return self.first_load(iss).await.map(|c| Arc::clone(&c.keys));
        };
        let now = self.clock.now();
        if cached.unusable(now) {
            // Past the maximum staleness: only a newly loaded set will do.
            cached = self.revalidate(iss, now).await?;
        }
        if now >= cached.expires_at {
            bump(&self.stats.stale_serves);
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

    /// The synchronous twin of [`keys`](Self::keys): the same answer and the same
    /// bookkeeping whenever it can be given without I/O or waiting, `None` otherwise.
    fn cached(&self, issuer: &str, kid: Option<&str>) -> Option<Result<Arc<KeySet>, KeyError>> {
        let Some(iss) = self.issuers.get(issuer) else {
            return Some(Err(KeyError::UnknownIssuer));
        };
        // Never loaded: only `keys` may start the first load.
        let guard = iss.current.load();
        let cached = guard.as_ref()?;
        let now = self.clock.now();
        if now >= cached.confirm_until {
            // Near or past the maximum staleness (see `staleness`).
            self.near_max_staleness();
            if cached.unusable(now) {
                return self.unusable_now(iss, now).map(Err);
            }
        }
        if now >= cached.refresh_at {
            // `keys` serves the loaded set as it is unless it must start a refresh now
            // (see `background_refresh`): leave that case to it.
            let st = iss.lock();
            if !(st.inflight.is_some()
                || st.generation != cached.generation
                || st.retry_not_before.is_some_and(|t| now < t))
            {
                return None;
            }
            drop(st);
            if now >= cached.expires_at {
                bump(&self.stats.stale_serves);
            }
        }
        if let Some(kid) = kid
            && !cached.keys.contains_kid(kid)
        {
            // As `unknown_kid`, minus every branch that would fetch or wait.
            let cooldown = self.cfg.kid_cooldown;
            let mut st = iss.lock();
            if !st.is_known_unknown(kid, now) {
                let cooling = st
                    .last_kid_refetch
                    .is_some_and(|t| now < later(t, cooldown));
                if st.inflight.is_some() || !cooling {
                    // `keys` would join the load in flight or refetch.
                    return None;
                }
                st.remember_unknown(kid, now, cooldown);
            }
            drop(st);
            bump(&self.stats.cooldown_rejections);
            return Some(Ok(Arc::clone(&cached.keys)));
        }
        bump(&self.stats.hits);
        Some(Ok(Arc::clone(&cached.keys)))
    }

    async fn first_load(self: &Arc<Self>, iss: &Arc<Issuer>) -> Result<Arc<Cached>, KeyError> {
        bump(&self.stats.misses);
        let now = self.clock.now();
        let backing_off = {
            let st = iss.lock();
            match (st.retry_not_before, &st.last_error) {
                (Some(until), Some(err)) if now < until => Some((until - now, err.to_string())),
                _ => None,
            }
        };
        if let Some((wait, reason)) = backing_off {
            trace!(
                issuer = &*iss.name,
                "no keys yet and backing off after a failed load"
            );
            return Err(KeyError::Unavailable {
                retry_after: retry_after_secs(wait),
                reason,
            });
        }
        self.cache
            .try_get_with(Arc::clone(&iss.name), self.load(iss))
            .await
            .map_err(|e| KeyError::Unavailable {
                retry_after: retry_after_secs(self.cfg.retry_backoff),
                reason: e.to_string(),
            })
    }

    /// Starts a refresh ahead of (or after) expiry unless one is running, a newer set is
    /// already loaded, or the last attempt failed less than the back-off ago. Returns the load
    /// only when no runtime can drive it in the background.
    fn background_refresh(
        self: &Arc<Self>,
        iss: &Arc<Issuer>,
        cached: &Cached,
        now: Instant,
    ) -> Option<SharedLoad> {
        let mut st = iss.lock();
        if st.inflight.is_some()
            || st.generation != cached.generation
            || st.retry_not_before.is_some_and(|t| now < t)
        {
            return None;
        }
        bump(&self.stats.background_refreshes);
        debug!(issuer = &*iss.name, "refreshing JWKS in the background");
        let (load, driven) = self.start_load(&mut st, iss);
        (!driven).then_some(load)
    }

    /// An unknown `kid`: one refetch, then a cooldown and a negative cache. Always answers
    /// with a key set (the last good one if the refetch fails), so the validator can answer
    /// `invalid_token`.
    async fn unknown_kid(
        self: &Arc<Self>,
        iss: &Arc<Issuer>,
        cached: &Cached,
        kid: &str,
        now: Instant,
    ) -> Arc<KeySet> {
        let cooldown = self.cfg.kid_cooldown;
        let load = {
            let mut st = iss.lock();
            if st.is_known_unknown(kid, now) {
                None
            } else if let Some((_, load, _)) = &st.inflight {
                Some(load.clone())
            } else if st
                .last_kid_refetch
                .is_some_and(|t| now < later(t, cooldown))
            {
                st.remember_unknown(kid, now, cooldown);
                None
            } else {
                st.last_kid_refetch = Some(now);
                bump(&self.stats.kid_refetches);
                debug!(issuer = &*iss.name, "unknown kid: refetching JWKS");
                Some(self.start_load(&mut st, iss).0)
            }
        };
        let Some(load) = load else {
            bump(&self.stats.cooldown_rejections);
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

    /// The running load of `iss`, or a new one. The load is spawned on the current tokio
    /// runtime when there is one, so it completes even if every caller goes away; the bool
    /// says whether it was.
    fn start_load(self: &Arc<Self>, st: &mut IssuerState, iss: &Arc<Issuer>) -> (SharedLoad, bool) {
        if let Some((_, load, driven)) = &st.inflight {
            return (load.clone(), *driven);
        }
        st.next_load_id += 1;
        let id = st.next_load_id;
        let this = Arc::clone(self);
        let issuer = Arc::clone(iss);
        let load = async move {
            let result = this.load(&issuer).await;
            if let Ok(cached) = &result {
                this.cache
                    .insert(Arc::clone(&issuer.name), Arc::clone(cached))
                    .await;
            }
            let mut st = issuer.lock();
            if st.inflight.as_ref().is_some_and(|(i, ..)| *i == id) {
                st.inflight = None;
            }
            drop(st);
            result.map_err(Arc::new)
        }
        .boxed()
        .shared();
        let driven = match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                drop(handle.spawn(load.clone()));
                true
            }
            Err(_) => false,
        };
        st.inflight = Some((id, load.clone(), driven));
        (load, driven)
    }

    /// Fetches and parses the key set of `iss`, and records the outcome.
    async fn load(&self, iss: &Issuer) -> Result<Arc<Cached>, JwksError> {
        let result = self.fetch_keys(iss).await;
        let now = self.clock.now();
        let mut st = iss.lock();
        match result {
            Ok((keys, ttl)) => {
                st.generation += 1;
                st.retry_not_before = None;
                st.last_error = None;
                let max_staleness = self.cfg.max_staleness;
                let cached = Arc::new(Cached {
                    keys: Arc::new(keys),
                    generation: st.generation,
                    refresh_at: later(now, refresh_ahead(ttl)),
                    expires_at: later(now, ttl),
                    confirm_until: later(
                        now,
                        max_staleness.saturating_sub(staleness::CONFIRMATION_MARGIN),
                    ),
                    usable_until: later(now, max_staleness),
                });
                iss.current.store(Some(Arc::clone(&cached)));
                // After the store: whoever reads the new epoch sees the new set.
                self.epoch.fetch_add(1, Ordering::Release);
                Ok(cached)
            }
            Err(e) => {
                st.retry_not_before = Some(later(now, self.cfg.retry_backoff));
                st.last_error = Some(Arc::new(e.clone()));
                drop(st);
                bump(&self.stats.fetch_errors);
                if self.cache.contains_key(&*iss.name) {
                    warn!(issuer = &*iss.name, error = %e, "JWKS refresh failed; serving the last good keys");
                } else {
                    error!(issuer = &*iss.name, error = %e, "JWKS could not be loaded; no keys for this issuer yet");
                }
                Err(e)
            }
        }
    }

    async fn fetch_keys(&self, iss: &Issuer) -> Result<(KeySet, Duration), JwksError> {
        let (url, discovered) = match &iss.jwks_uri {
            Some(url) => (url.clone(), false),
            None => {
                let known = iss.lock().discovered_jwks_uri.clone();
                match known {
                    Some(url) => (url, true),
                    None => {
                        let url = self.discover(&iss.name).await?;
                        iss.lock().discovered_jwks_uri = Some(url.clone());
                        (url, true)
                    }
                }
            }
        };
        let result = self.fetch_jwks(&iss.name, &url).await;
        if result.is_err() && discovered {
            // The metadata may have moved the JWKS: discover again on the next attempt.
            iss.lock().discovered_jwks_uri = None;
        }
        result
    }

    async fn fetch_jwks(&self, issuer: &str, url: &str) -> Result<(KeySet, Duration), JwksError> {
        bump(&self.stats.fetches);
        debug!(issuer, url, "fetching JWKS");
        let resp = self.fetcher.get(url, self.cfg.max_response_bytes).await?;
        self.check_response(url, &resp)?;
        let loaded = KeySet::from_jwks(&resp.body, &self.cfg.algorithms, self.cfg.max_keys)
            .map_err(|source| JwksError::Jwks {
                url: url.to_owned(),
                source,
            })?;
        for (kid, err) in &loaded.skipped {
            warn!(issuer, kid = kid.as_deref().unwrap_or("<none>"), error = %err, "JWKS key skipped");
        }
        // Never fresh longer than usable: the refresh comes before the maximum staleness.
        let ttl = ttl(
            &parse_cache_control(resp.cache_control.as_deref()),
            self.cfg.min_ttl,
            self.cfg.max_ttl,
        )
        .min(self.cfg.max_staleness);
        info!(
            issuer,
            url,
            keys = loaded.keys.len(),
            skipped = loaded.skipped.len(),
            ttl_secs = ttl.as_secs(),
            "JWKS loaded"
        );
        Ok((loaded.keys, ttl))
    }

    fn check_response(&self, url: &str, resp: &FetchResponse) -> Result<(), JwksError> {
        if resp.status != StatusCode::OK {
            return Err(JwksError::Status {
                url: url.to_owned(),
                status: resp.status,
            });
        }
        if !is_json_content_type(resp.content_type.as_deref()) {
            return Err(JwksError::ContentType {
                url: url.to_owned(),
                content_type: resp.content_type.clone(),
            });
        }
        if resp.body.len() > self.cfg.max_response_bytes {
            return Err(JwksError::Fetch(FetchError::TooLarge {
                url: url.to_owned(),
                limit: self.cfg.max_response_bytes,
            }));
        }
        Ok(())
    }

    /// RFC 8414 discovery with the OpenID Connect fallback; the document must name `issuer`
    /// exactly.
    async fn discover(&self, issuer: &str) -> Result<String, JwksError> {
        let urls = discovery_urls(issuer).map_err(|reason| JwksError::InvalidIssuer {
            issuer: issuer.to_owned(),
            reason,
        })?;
        let mut attempts = Vec::new();
        for (kind, url) in urls {
            bump(&self.stats.discovery_fetches);
            debug!(issuer, url, ?kind, "fetching authorization server metadata");
            let resp = match self.fetcher.get(&url, self.cfg.max_response_bytes).await {
                Ok(resp) => resp,
                Err(e) => {
                    attempts.push(e.to_string());
                    continue;
                }
            };
            if let Err(e) = self.check_response(&url, &resp) {
                attempts.push(e.to_string());
                continue;
            }
            // RFC 8259 §8.1: JSON text is UTF-8; serde_json checks only the strings it keeps,
            // so check the whole document first (found by `fuzz/` discovery).
            let meta: Metadata = match std::str::from_utf8(&resp.body)
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str(text).map_err(|e| e.to_string()))
            {
                Ok(meta) => meta,
                Err(e) => {
                    attempts.push(format!("{url}: not a metadata document ({e})"));
                    continue;
                }
            };
            if !issuer_matches(issuer, &meta.issuer) {
                return Err(JwksError::IssuerMismatch {
                    url,
                    expected: issuer.to_owned(),
                    found: meta.issuer,
                });
            }
            let Some(jwks_uri) = meta.jwks_uri else {
                return Err(JwksError::Metadata {
                    url,
                    reason: "no `jwks_uri`".to_owned(),
                });
            };
            // The URL fetched is the one checked, as the URL parser serializes it: a fetcher
            // that parses the raw string differently (`https:/host` is read as
            // `https://host/` here) must not be handed something else than what passed the
            // check (found by `fuzz/` discovery).
            let jwks_uri = check_fetch_url(&jwks_uri, self.cfg.allow_insecure_http)
                .map_err(|reason| JwksError::InvalidUrl {
                    url: jwks_uri.clone(),
                    reason,
                })?
                .to_string();
            debug!(issuer, url, jwks_uri, "discovered jwks_uri");
            return Ok(jwks_uri);
        }
        Err(JwksError::Discovery {
            issuer: issuer.to_owned(),
            attempts: attempts.join("; "),
        })
    }

    /// Loads `iss` unless a set is already cached (single-flight with concurrent requests).
    async fn ensure_loaded(self: &Arc<Self>, iss: &Arc<Issuer>) -> Result<(), JwksError> {
        if self.cache.contains_key(&*iss.name) {
            return Ok(());
        }
        self.cache
            .try_get_with(Arc::clone(&iss.name), self.load(iss))
            .await
            .map(drop)
            .map_err(|e| (*e).clone())
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
    /// does not wait for it. Returns the first error; the other issuers are still loaded.
    pub async fn warm_up(&self) -> Result<(), JwksError> {
        let loads = self
            .inner
            .issuers
            .values()
            .map(|iss| self.inner.ensure_loaded(iss));
        join_all(loads).await.into_iter().collect()
    }

    /// Fetches the key set of `issuer` now, whatever its lifetime (joining a fetch already
    /// running). On failure the last good set stays in use (up to the maximum staleness) and
    /// the error is returned. For operators (a rotation webhook, a health check); requests
    /// never need it.
    pub async fn refresh(&self, issuer: &str) -> Result<(), JwksError> {
        let iss = self
            .inner
            .issuers
            .get(issuer)
            .ok_or_else(|| JwksError::UnknownIssuer(issuer.to_owned()))?;
        if !self.inner.cache.contains_key(&*iss.name) {
            return self.inner.ensure_loaded(iss).await;
        }
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

    /// The last load error of `issuer`, cleared by the next successful load.
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

    fn cached(&self, issuer: &str, kid: Option<&str>) -> Option<Result<Arc<KeySet>, KeyError>> {
        self.inner.cached(issuer, kid)
    }

    fn epoch(&self) -> Option<u64> {
        Some(self.inner.epoch.load(Ordering::Acquire))
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

/// Builds a [`JwksKeySource`]. See [`JwksKeySource::builder`] for the defaults.
#[must_use]
#[derive(Debug)]
pub struct JwksKeySourceBuilder {
    issuers: Vec<(String, Option<String>)>,
    algorithms: Vec<Algorithm>,
    kid_cooldown: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    retry_backoff: Duration,
    max_staleness: Duration,
    max_response_bytes: usize,
    max_keys: usize,
    timeout: Duration,
    max_redirects: usize,
    allow_insecure_http: bool,
    fetcher: Option<Arc<dyn Fetcher>>,
    #[cfg(feature = "reqwest")]
    http_client: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
}

impl Default for JwksKeySourceBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            algorithms: Algorithm::DEFAULT_ALLOWED.to_vec(),
            kid_cooldown: DEFAULT_KID_COOLDOWN,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            max_staleness: DEFAULT_MAX_STALENESS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_keys: DEFAULT_MAX_KEYS,
            timeout: DEFAULT_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            allow_insecure_http: false,
            fetcher: None,
            #[cfg(feature = "reqwest")]
            http_client: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl JwksKeySourceBuilder {
    /// Adds an issuer whose `jwks_uri` is discovered: RFC 8414
    /// `/.well-known/oauth-authorization-server` (with path insertion), then OpenID Connect
    /// discovery. The document must name this exact issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push((issuer.into(), None));
        self
    }

    /// Adds an issuer with a known `jwks_uri` (no discovery).
    pub fn issuer_with_jwks_uri(
        mut self,
        issuer: impl Into<String>,
        jwks_uri: impl Into<String>,
    ) -> Self {
        self.issuers.push((issuer.into(), Some(jwks_uri.into())));
        self
    }

    /// The algorithms keys may be used with (default RS256 and ES256).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// After a fetch caused by an unknown `kid`, no other such fetch for this long (default
    /// 60 s); unknown `kid`s are also remembered this long.
    pub fn kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.kid_cooldown = cooldown;
        self
    }

    /// Floor of a key set's lifetime, also used when the response has no `max-age` or says
    /// `no-store` / `no-cache` (default 5 min).
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.min_ttl = ttl;
        self
    }

    /// Ceiling of a key set's lifetime (default 24 h).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Wait after a failed load before the next background attempt; also the `retry_after`
    /// while no key set was ever loaded (default 10 s).
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// How long the last good keys of an issuer may be used, counted from the last
    /// successful fetch of its key set, while they cannot be revalidated (default 24 h,
    /// [`DEFAULT_MAX_STALENESS`]). Until then they are served through an outage; from then
    /// on a request waits for a new fetch and gets [`KeyError::Unavailable`] (503 with
    /// `Retry-After`) if it fails. A set's lifetime is capped to this, so its refresh always
    /// comes first.
    pub fn max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max;
        self
    }

    /// Cap on a response body; reading stops there (default 256 KiB).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Cap on the number of keys in a JWKS (default core's [`DEFAULT_MAX_KEYS`]).
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max;
        self
    }

    /// Timeout of one fetch, connection to last byte (default 10 s). Applies to the reqwest
    /// fetcher, not to one given with [`fetcher`](Self::fetcher).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Redirects followed by the client this crate builds (default 3). Never from https to
    /// plain http.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Allows plain `http` issuers, JWKS URLs and redirects to non-loopback hosts. Off by
    /// default: only loopback may use plain http. A redirect from https to http is refused
    /// either way.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Uses this client instead of building one. Its redirect policy is yours; the fetcher
    /// still refuses a response that ended on plain http after an https request.
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Uses this fetcher (takes precedence over [`http_client`](Self::http_client)). Pass an
    /// `Arc` to keep a handle on it.
    pub fn fetcher(mut self, fetcher: impl Fetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Uses this clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration and builds the source. Nothing is fetched until the first
    /// request or [`JwksKeySource::warm_up`].
    pub fn build(self) -> Result<JwksKeySource, JwksError> {
        if self.issuers.is_empty() {
            return Err(JwksError::NoIssuers);
        }
        if self.algorithms.is_empty() {
            return Err(JwksError::InvalidConfig("no algorithm allowed"));
        }
        if self.min_ttl.is_zero() || self.min_ttl > self.max_ttl {
            return Err(JwksError::InvalidConfig(
                "min_ttl must be positive and at most max_ttl",
            ));
        }
        if self.max_staleness.is_zero() {
            return Err(JwksError::InvalidConfig("max_staleness must be positive"));
        }
        if [
            self.kid_cooldown,
            self.max_ttl,
            self.retry_backoff,
            self.max_staleness,
            self.timeout,
        ]
        .iter()
        .any(|d| *d > MAX_SETTING)
        {
            return Err(JwksError::InvalidConfig(
                "durations are limited to 10 years",
            ));
        }
        if self.timeout.is_zero() {
            return Err(JwksError::InvalidConfig("timeout must be positive"));
        }
        if self.max_response_bytes == 0 || self.max_keys == 0 {
            return Err(JwksError::InvalidConfig(
                "max_response_bytes and max_keys must be positive",
            ));
        }
        let mut issuers =
            HashMap::with_capacity_and_hasher(self.issuers.len(), RandomState::default());
        for (issuer, jwks_uri) in self.issuers {
            let invalid = |reason: String| JwksError::InvalidIssuer {
                issuer: issuer.clone(),
                reason,
            };
            match &jwks_uri {
                Some(url) => {
                    if issuer.is_empty() {
                        return Err(invalid("empty".to_owned()));
                    }
                    check_fetch_url(url, self.allow_insecure_http).map_err(|reason| {
                        JwksError::InvalidUrl {
                            url: url.clone(),
                            reason,
                        }
                    })?;
                }
                None => {
                    check_fetch_url(&issuer, self.allow_insecure_http).map_err(invalid)?;
                    discovery_urls(&issuer).map_err(invalid)?;
                }
            }
            let name: Arc<str> = Arc::from(issuer.as_str());
            if issuers.contains_key(&name) {
                return Err(JwksError::DuplicateIssuer(issuer));
            }
            let entry = Issuer {
                name: Arc::clone(&name),
                jwks_uri,
                current: ArcSwapOption::empty(),
                state: Mutex::default(),
            };
            issuers.insert(name, Arc::new(entry));
        }
        let fetcher = match self.fetcher {
            Some(fetcher) => fetcher,
            None => default_fetcher(
                #[cfg(feature = "reqwest")]
                self.http_client,
                self.timeout,
                self.max_redirects,
                self.allow_insecure_http,
            )?,
        };
        let cache = Cache::builder().initial_capacity(issuers.len()).build();
        Ok(JwksKeySource {
            inner: Arc::new(Inner {
                issuers,
                cache,
                fetcher,
                clock: self.clock,
                cfg: Config {
                    algorithms: self.algorithms,
                    kid_cooldown: self.kid_cooldown,
                    min_ttl: self.min_ttl,
                    max_ttl: self.max_ttl,
                    retry_backoff: self.retry_backoff,
                    max_staleness: self.max_staleness,
                    max_response_bytes: self.max_response_bytes,
                    max_keys: self.max_keys,
                    allow_insecure_http: self.allow_insecure_http,
                },
                stats: Counters::default(),
                epoch: AtomicU64::new(0),
            }),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_fetcher(
    client: Option<reqwest::Client>,
    timeout: Duration,
    max_redirects: usize,
    allow_insecure_http: bool,
) -> Result<Arc<dyn Fetcher>, JwksError> {
    let client = match client {
        Some(client) => client,
        None => crate::ReqwestFetcher::client(timeout, max_redirects, allow_insecure_http)?,
    };
    Ok(Arc::new(
        crate::ReqwestFetcher::new(client).with_timeout(timeout),
    ))
}

#[cfg(not(feature = "reqwest"))]
fn default_fetcher(
    _timeout: Duration,
    _max_redirects: usize,
    _allow_insecure_http: bool,
) -> Result<Arc<dyn Fetcher>, JwksError> {
    Err(JwksError::NoFetcher)
}
