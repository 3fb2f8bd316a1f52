//! Loading key sets: every load goes through one single flight (`start_load`) and ends in
//! one place (`settle`, which installs the set); the first load, background and on-demand
//! refreshes; fetching and checking the JWKS, and discovery of its URL.

use super::jwks::{Cached, Jwks, JwksState, Location, later};
use super::{Inner, bump};
use crate::error::JwksError;
use crate::fetch::{FetchError, FetchResponse};
use crate::rules::{
    check_fetch_url, discovery_urls, is_json_content_type, issuer_matches, parse_cache_control,
    refresh_ahead, retry_after_secs, ttl,
};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use http::StatusCode;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::keys::KeyError;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, trace, warn};

type LoadResult = Result<Arc<Cached>, Arc<JwksError>>;
pub(super) type SharedLoad = Shared<BoxFuture<'static, LoadResult>>;

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
}

impl Inner {
    /// The first load of `iss` (nothing in the store): `Unavailable` while backing off after
    /// a failed one, else the load in flight or a new one.
    pub(super) async fn first_load(
        self: &Arc<Self>,
        iss: &Arc<Jwks>,
    ) -> Result<Arc<Cached>, KeyError> {
        bump(&self.stats.misses);
        let now = self.clock.now();
        let load = {
            let mut st = iss.lock();
            match (st.retry_not_before, &st.last_error) {
                (Some(until), Some(err)) if now < until => {
                    let reason = err.to_string();
                    drop(st);
                    trace!(
                        issuer = &*iss.name,
                        "no keys yet and backing off after a failed load"
                    );
                    return Err(KeyError::Unavailable {
                        retry_after: retry_after_secs(until - now),
                        reason,
                    });
                }
                _ => {}
            }
            if let Some(cached) = &*iss.loaded() {
                // Installed since the caller looked (installs happen under this lock).
                return Ok(Arc::clone(cached));
            }
            self.start_load(&mut st, iss).0
        };
        load.await.map_err(|e| KeyError::Unavailable {
            retry_after: retry_after_secs(self.cfg.retry_backoff),
            reason: e.to_string(),
        })
    }

    /// Starts a refresh ahead of (or after) expiry unless one is running, a newer set is
    /// already loaded, or the last attempt failed less than the back-off ago. Returns the load
    /// only when no runtime can drive it in the background.
    pub(super) fn background_refresh(
        self: &Arc<Self>,
        iss: &Arc<Jwks>,
        cached: &Cached,
        now: Instant,
    ) -> Option<SharedLoad> {
        let mut st = iss.lock();
        if st.inflight.is_some()
            || !iss.is_newest(cached)
            || st.retry_not_before.is_some_and(|t| now < t)
        {
            return None;
        }
        bump(&self.stats.background_refreshes);
        crate::metrics::refresh(&iss.name, false);
        debug!(issuer = &*iss.name, "refreshing JWKS in the background");
        let (load, driven) = self.start_load(&mut st, iss);
        (!driven).then_some(load)
    }

    /// The running load of `iss`, or a new one: the single flight of every load (first load,
    /// background refresh, unknown-`kid` refetch, revalidation past the maximum staleness,
    /// [`warm_up`](super::JwksKeySource::warm_up), [`refresh`](super::JwksKeySource::refresh)).
    /// `st` is the locked state of `iss`. The load is spawned on the current tokio runtime
    /// when there is one, so it completes even if every caller goes away; the bool says
    /// whether it was.
    pub(super) fn start_load(
        self: &Arc<Self>,
        st: &mut JwksState,
        iss: &Arc<Jwks>,
    ) -> (SharedLoad, bool) {
        if let Some((load, driven)) = &st.inflight {
            return (load.clone(), *driven);
        }
        let this = Arc::clone(self);
        let issuer = Arc::clone(iss);
        let load = async move {
            let fetched = this.fetch_keys(&issuer).await;
            this.settle(&issuer, fetched)
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
        // Set before the lock is released: the load cannot settle (which takes the lock)
        // before it is recorded as the one in flight.
        st.inflight = Some((load.clone(), driven));
        iss.refetch.set_loading(true);
        (load, driven)
    }

    /// Ends the load in flight of `iss` with what it fetched, in one critical section:
    /// installs the set (the only call of [`Jwks::install`]) or records the failure, and
    /// clears `inflight`. A refused document never replaces the last good set.
    fn settle(&self, iss: &Jwks, fetched: Result<(KeySet, Duration), JwksError>) -> LoadResult {
        let now = self.clock.now();
        let mut st = iss.lock();
        debug_assert!(st.inflight.is_some(), "a load settles only once, in flight");
        st.inflight = None;
        iss.refetch.set_loading(false);
        match fetched {
            Ok((keys, ttl)) => {
                st.retry_not_before = None;
                st.last_error = None;
                Ok(iss.install(
                    &mut st,
                    keys,
                    later(now, refresh_ahead(ttl)),
                    later(now, ttl),
                    later(now, self.cfg.max_staleness),
                ))
            }
            Err(e) => {
                st.retry_not_before = Some(later(now, self.cfg.retry_backoff));
                let e = Arc::new(e);
                st.last_error = Some(Arc::clone(&e));
                let had_keys = iss.loaded().is_some();
                drop(st);
                bump(&self.stats.fetch_errors);
                crate::metrics::fetch_error(&iss.name);
                if had_keys {
                    warn!(issuer = &*iss.name, error = %e, "JWKS refresh failed; serving the last good keys");
                } else {
                    error!(issuer = &*iss.name, error = %e, "JWKS could not be loaded; no keys for this issuer yet");
                }
                Err(e)
            }
        }
    }

    async fn fetch_keys(&self, iss: &Jwks) -> Result<(KeySet, Duration), JwksError> {
        let (url, discovered) = match &iss.location {
            Location::Uri(url) => (url.clone(), false),
            Location::Discover(issuer) => {
                let known = iss.lock().discovered_jwks_uri.clone();
                match known {
                    Some(url) => (url, true),
                    None => {
                        let url = self.discover(issuer).await?;
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
        crate::metrics::fetch(issuer);
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

    /// Loads `iss` unless a set is already in the store (joining the load in flight).
    pub(super) async fn ensure_loaded(self: &Arc<Self>, iss: &Arc<Jwks>) -> Result<(), JwksError> {
        let load = {
            let mut st = iss.lock();
            if iss.loaded().is_some() {
                return Ok(());
            }
            self.start_load(&mut st, iss).0
        };
        load.await.map(drop).map_err(|e| (*e).clone())
    }
}
