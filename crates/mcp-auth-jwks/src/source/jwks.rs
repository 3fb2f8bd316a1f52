//! The state of one key set, shared by the issuers it serves: the store of the loaded set
//! ([`Jwks::loaded`], written only by [`Jwks::install`]), the bookkeeping behind one lock
//! ([`JwksState`]), and the negative cache of unknown `kid`s.
//!
//! Which issuers share one [`Jwks`] is fixed at build time: all issuers configured with the
//! same explicit `jwks_uri` (byte-identical) share one; an issuer whose `jwks_uri` is
//! discovered has its own, even when its metadata names a URL another issuer uses (the
//! binding is learnt at run time, may move on rediscovery, and is that issuer's word alone).

use super::loading::SharedLoad;
use crate::error::JwksError;
use arc_swap::{ArcSwapOption, Guard};
use foldhash::fast::RandomState;
use mcp_auth_core::jwk::KeySet;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[cfg(doc)]
use super::staleness;
#[cfg(doc)]
use mcp_auth_core::keys::KeySource;

/// Unknown `kid`s remembered per key set.
const MAX_UNKNOWN_KIDS: usize = 1024;

/// A loaded key set and its lifetime.
#[derive(Debug)]
pub(super) struct Cached {
    pub(super) keys: Arc<KeySet>,
    /// The version of the store this set is: 1 for the first set installed, one more
    /// for each later one ([`Jwks::install`]). The source's only counter of sets.
    pub(super) generation: u64,
    pub(super) refresh_at: Instant,
    pub(super) expires_at: Instant,
    /// The end of the maximum staleness: not used from here on (see [`staleness`]).
    pub(super) usable_until: Instant,
}

/// Where a key set is fetched from.
#[derive(Debug)]
pub(super) enum Location {
    /// A configured `jwks_uri`, shared by every issuer configured with it.
    Uri(String),
    /// Discovered from this issuer's metadata; serves this issuer only.
    Discover(Arc<str>),
}

/// One key set and everything about loading it. RFC 8725 §3.8: an issuer's tokens are only
/// checked against the set of that issuer; sharing one between issuers happens only when the
/// configuration names one `jwks_uri` for them, which says they share their keys.
#[derive(Debug)]
pub(super) struct Jwks {
    /// The issuers served, comma-separated: the `issuer` field of log lines.
    pub(super) name: Arc<str>,
    pub(super) location: Location,
    /// The store: the newest loaded set, the one source of truth for its issuers' keys. Read
    /// without a lock ([`loaded`](Self::loaded), on every request through
    /// [`KeySource::current`]); written only by [`install`](Self::install), under `state`'s
    /// lock, so it never goes back to an older generation.
    store: ArcSwapOption<Cached>,
    pub(super) state: Mutex<JwksState>,
    /// Whether an unknown `kid` may be refetched now, readable without the lock; written
    /// under it, with `inflight` and `last_kid_refetch`.
    pub(super) refetch: RefetchGate,
}

/// The lock-free view of "may an unknown `kid` be refetched now" that
/// [`KeySource::current`] answers with: yes while a load is in flight (the request joins
/// it) or once the cooldown since the last unknown-`kid` refetch is over.
#[derive(Debug, Default)]
pub(super) struct RefetchGate {
    loading: AtomicBool,
    /// Nanoseconds since the source's `base` instant until which a refetch cools down.
    cooling_until: AtomicU64,
}

impl RefetchGate {
    pub(super) fn set_loading(&self, on: bool) {
        self.loading.store(on, Ordering::Release);
    }

    pub(super) fn cool_until(&self, nanos: u64) {
        // 0 means "not cooling"; a cooldown ending at the source's first nanosecond is over.
        self.cooling_until.store(nanos.max(1), Ordering::Release);
    }

    /// Whether a refetch may start now; `now_nanos` is only called while a cooldown is
    /// recorded, and a cooldown found over is cleared, so the common case reads two atomics.
    pub(super) fn open(&self, now_nanos: impl FnOnce() -> u64) -> bool {
        if self.loading.load(Ordering::Acquire) {
            return true;
        }
        let until = self.cooling_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        if now_nanos() < until {
            return false;
        }
        // Over: cleared, unless a new cooldown was recorded meanwhile.
        let _ = self
            .cooling_until
            .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Relaxed);
        true
    }
}

impl Jwks {
    pub(super) fn new(name: Arc<str>, location: Location) -> Self {
        Self {
            name,
            location,
            store: ArcSwapOption::empty(),
            state: Mutex::default(),
            refetch: RefetchGate::default(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, JwksState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest loaded set, if any: one atomic load, no lock, no reference count taken
    /// (clone the `Arc` inside to keep it past the guard).
    pub(super) fn loaded(&self) -> Guard<Option<Arc<Cached>>> {
        self.store.load()
    }

    /// Installs a newly fetched set as the next generation and returns it. The only writer of
    /// the store; `_locked` is the set's locked state, so installs are serialized and each
    /// generation is the last one plus one.
    pub(super) fn install(
        &self,
        _locked: &mut JwksState,
        keys: KeySet,
        refresh_at: Instant,
        expires_at: Instant,
        usable_until: Instant,
    ) -> Arc<Cached> {
        let generation = self.store.load().as_ref().map_or(0, |c| c.generation) + 1;
        let cached = Arc::new(Cached {
            keys: Arc::new(keys),
            generation,
            refresh_at,
            expires_at,
            usable_until,
        });
        self.store.store(Some(Arc::clone(&cached)));
        cached
    }

    /// Whether `cached` is the set in the store now (not replaced by a newer generation).
    pub(super) fn is_newest(&self, cached: &Cached) -> bool {
        self.store
            .load()
            .as_ref()
            .is_some_and(|c| c.generation == cached.generation)
    }
}

/// The bookkeeping of one key set. Locked only for short, synchronous sections, never across I/O.
#[derive(Default)]
pub(super) struct JwksState {
    pub(super) discovered_jwks_uri: Option<String>,
    /// The one load of this set in progress, if any (the single flight): the shared
    /// future every caller awaits, and whether a task drives it. Set by `start_load`, the
    /// only place a load starts, and cleared by the load itself when it settles, in the same
    /// critical section that installs its set or records its failure.
    pub(super) inflight: Option<(SharedLoad, bool)>,
    pub(super) last_kid_refetch: Option<Instant>,
    /// After a failed load: no background attempt (and `Unavailable` when nothing is loaded)
    /// before this instant.
    pub(super) retry_not_before: Option<Instant>,
    pub(super) last_error: Option<Arc<JwksError>>,
    /// Negative cache: a seeded 64-bit hash of an unknown `kid` -> remembered until. Hashes,
    /// not strings: a flood of forged `kid`s costs no allocation, and a collision (with an
    /// unpredictable seed) can only delay one refetch by one cooldown.
    unknown_kids: HashMap<u64, Instant, RandomState>,
    kid_hasher: RandomState,
}

impl fmt::Debug for JwksState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksState")
            .field("discovered_jwks_uri", &self.discovered_jwks_uri)
            .field("loading", &self.inflight.is_some())
            .field("last_kid_refetch", &self.last_kid_refetch)
            .field("retry_not_before", &self.retry_not_before)
            .field("last_error", &self.last_error)
            .field("unknown_kids", &self.unknown_kids.len())
            .finish()
    }
}

impl JwksState {
    pub(super) fn is_known_unknown(&self, kid: &str, now: Instant) -> bool {
        let h = self.kid_hasher.hash_one(kid);
        self.unknown_kids.get(&h).is_some_and(|until| now < *until)
    }

    pub(super) fn remember_unknown(&mut self, kid: &str, now: Instant, cooldown: Duration) {
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

pub(super) fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by).unwrap_or(now)
}
