//! [`MemoryLimitStore`]: governor's GCRA over a bounded moka cache (see the module docs of
//! [`limit`](super) for the bound and eviction).

use super::{Decision, LimitCheck, LimitKey, LimitStoreError, Limits, Rate, RateLimitStore};
use crate::client_addr::AddrKey;
use governor::clock::Clock;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use moka::sync::Cache;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The future of [`MemoryLimitStore`]: already resolved.
pub type MemoryLimitStoreFuture = std::future::Ready<Result<Decision, LimitStoreError>>;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Id {
    Addr(AddrKey),
    Hashed(u128),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct MemKey {
    slot: u16,
    id: Id,
}

/// One cache for every slot's limiter, so the bound covers all keys together.
#[derive(Clone)]
struct Shared(Cache<MemKey, Arc<InMemoryState>>);

impl StateStore for Shared {
    type Key = MemKey;

    fn measure_and_replace<T, F, E>(&self, key: &MemKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // An evicted key comes back fresh (full burst); see the module docs.
        let state = self.0.get_with(*key, || Arc::new(InMemoryState::default()));
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

/// A monotonic clock in nanoseconds since the store was made; tests move it by hand.
#[derive(Clone)]
struct StoreClock {
    base: Instant,
    manual: Option<Arc<AtomicU64>>,
}

impl Clock for StoreClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match &self.manual {
            Some(n) => Nanos::from(n.load(Ordering::Relaxed)),
            None => Nanos::from(u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)),
        }
    }
}

type Gcra =
    governor::RateLimiter<MemKey, Shared, StoreClock, governor::middleware::NoOpMiddleware<Nanos>>;

/// Rate-limit state in this process: GCRA per key (governor), the keys in a bounded moka
/// cache. Built from the [`Limits`] it serves.
pub struct MemoryLimitStore {
    cache: Cache<MemKey, Arc<InMemoryState>>,
    /// Indexed by slot.
    limiters: Vec<Option<(Rate, Gcra)>>,
    clock: StoreClock,
    hash: [foldhash::quality::RandomState; 2],
}

impl fmt::Debug for MemoryLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLimitStore")
            .field("keys", &self.cache.entry_count())
            .field("max_keys", &self.cache.policy().max_capacity())
            .field("time_to_idle", &self.cache.policy().time_to_idle())
            .finish_non_exhaustive()
    }
}

impl MemoryLimitStore {
    /// A store for `limits`: at most [`Limits::key_bound`] keys, each evicted after the
    /// longest refill time of the configured rates without a request.
    pub fn new(limits: &Limits) -> Self {
        Self::with_clock(
            limits,
            StoreClock {
                base: Instant::now(),
                manual: None,
            },
        )
    }

    fn with_clock(limits: &Limits, clock: StoreClock) -> Self {
        let idle = limits
            .slots()
            .map(|(_, r)| r.refill_time())
            .max()
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_millis(1));
        let cache = Cache::builder()
            .max_capacity(limits.key_bound())
            // LRU, not TinyLFU: when full, TinyLFU refuses a new key whose count is no higher
            // than the victim's, so a new abuser's state was dropped during a flood of one-shot
            // keys and each of its requests got a fresh burst (test
            // `retained_keys_stay_under_the_bound_with_100_000_distinct_keys`).
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_idle(idle)
            .build();
        let mut limiters: Vec<Option<(Rate, Gcra)>> = Vec::new();
        for (slot, rate) in limits.slots() {
            let slot = usize::from(slot);
            if limiters.len() <= slot {
                limiters.resize_with(slot + 1, || None);
            }
            limiters[slot] = Some((
                rate,
                Gcra::new(rate.quota(), Shared(cache.clone()), clock.clone()),
            ));
        }
        Self {
            cache,
            limiters,
            clock,
            hash: Default::default(),
        }
    }

    /// A store whose clock moves only by [`ManualClock::advance`].
    #[cfg(test)]
    pub(crate) fn with_manual_clock(limits: &Limits) -> (Self, ManualClock) {
        let n = Arc::new(AtomicU64::new(1));
        let store = Self::with_clock(
            limits,
            StoreClock {
                base: Instant::now(),
                manual: Some(n.clone()),
            },
        );
        (store, ManualClock(n))
    }

    /// The keys retained now, after moka's pending evictions ran.
    pub fn retained_keys(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    fn mem_key(&self, check: &LimitCheck<'_>) -> MemKey {
        let id = match check.key {
            LimitKey::Address(a) => Id::Addr(a),
            LimitKey::Principal { issuer, subject } => {
                Id::Hashed(self.hash128(b'p', issuer, subject))
            }
            LimitKey::Client { issuer, client_id } => {
                Id::Hashed(self.hash128(b'c', issuer, client_id))
            }
        };
        MemKey {
            slot: check.slot,
            id,
        }
    }

    /// Two independently seeded 64-bit hashes of the length-prefixed parts.
    fn hash128(&self, tag: u8, a: &str, b: &str) -> u128 {
        let [h0, h1] = self.hash.each_ref().map(|s| {
            let mut h = s.build_hasher();
            tag.hash(&mut h);
            a.hash(&mut h); // `str`'s Hash writes a terminator: no ambiguity between parts
            b.hash(&mut h);
            h.finish()
        });
        (u128::from(h0) << 64) | u128::from(h1)
    }

    fn check_now(&self, checks: &[LimitCheck<'_>]) -> Result<Decision, LimitStoreError> {
        for check in checks {
            let Some(Some((rate, gcra))) = self.limiters.get(usize::from(check.slot)) else {
                return Err(LimitStoreError::new("rate not configured in this store"));
            };
            if *rate != check.rate {
                return Err(LimitStoreError::new("rate not configured in this store"));
            }
            if let Err(not_until) = gcra.check_key(&self.mem_key(check)) {
                let retry_after = not_until.wait_time_from(self.clock.now());
                return Ok(Decision::Limited {
                    // governor answers zero only if the cell conforms now; never say "0".
                    retry_after: retry_after.max(Duration::from_nanos(1)),
                });
            }
        }
        Ok(Decision::Allowed)
    }
}

impl RateLimitStore for MemoryLimitStore {
    type Future = MemoryLimitStoreFuture;

    fn check(&self, checks: &[LimitCheck<'_>]) -> Self::Future {
        std::future::ready(self.check_now(checks))
    }
}

/// Moves a test store's clock.
#[cfg(test)]
#[derive(Clone, Debug)]
pub(crate) struct ManualClock(Arc<AtomicU64>);

#[cfg(test)]
impl ManualClock {
    pub(crate) fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(by, Ordering::Relaxed);
    }
}
