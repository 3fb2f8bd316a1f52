//! [`MemoryLimitStore`]: governor's GCRA over a bounded, sharded map (see the module docs of
//! [`limit`](super) for the bound and eviction).
//!
//! Why not a cache crate: moka's `get_with` (the store before issue 18's speed work) cost
//! ~1,700 instructions a key on the request path (its access log, timer wheel and `Arc`'d
//! values), for a state that is one `u64`; governor's own keyed stores are unbounded (see the
//! module docs). The only hand-written part is the eviction policy below (two generations per
//! shard, a sweep of keys back to fresh); the GCRA arithmetic stays governor's, through its
//! [`StateStore`] trait, and the maps are std's (hashbrown).

use super::{Decision, LimitCheck, LimitKey, LimitStoreError, Limits, RateLimitStore};
use crate::client_addr::AddrKey;
use governor::clock::Clock;
use governor::nanos::Nanos;
use governor::state::StateStore;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The future of [`MemoryLimitStore`]: already resolved.
pub type MemoryLimitStoreFuture = std::future::Ready<Result<Decision, LimitStoreError>>;

/// A key and its hash, computed once per check: the hash picks the shard and probes its map.
#[derive(Clone, Copy, Debug)]
struct MemKey {
    hash: u64,
    slot: u16,
    /// An address as is, or a principal's or client's 128-bit keyed hash; the slot tells
    /// which (slot 0 is the only address slot).
    id: [u64; 2],
}

impl PartialEq for MemKey {
    fn eq(&self, other: &Self) -> bool {
        self.slot == other.slot && self.id == other.id
    }
}

impl Eq for MemKey {}

impl Hash for MemKey {
    // `hash` is a function of (slot, id), so equal keys hash alike.
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// Passes [`MemKey`]'s precomputed hash through.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else rather than drop it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Key to theoretical arrival time (governor's state, nanoseconds since the store was made).
type Map = HashMap<MemKey, u64, BuildHasherDefault<PreHashed>>;

/// One shard: keys used since the last turnover in `young`, the generation before in `old`.
#[derive(Default)]
struct Shard {
    young: Map,
    old: Map,
    /// When the next sweep of keys back to fresh is due.
    next_sweep: u64,
}

impl Shard {
    /// Drops the keys whose state equals a fresh key's (theoretical arrival time not after
    /// `now`): governor decides the same for them as for an absent key, so no answer changes.
    fn sweep(&mut self, now: u64) {
        self.young.retain(|_, tat| *tat > now);
        self.old.retain(|_, tat| *tat > now);
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// The keyed state of every slot together, so the bound covers all keys.
struct Table {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
    /// Each generation's bound per shard: `young` turns over when it holds this many.
    half: usize,
    /// False when a shard's share of the bound is a single key: then no old generation.
    keep_old: bool,
    /// The longest refill time of the configured rates, in nanoseconds.
    sweep_every: u64,
    bound: u64,
}

impl Table {
    fn new(bound: u64, sweep_every: u64) -> Self {
        // Up to 64 shards of at least 256 keys each: little contention, and a shard's share of
        // the bound stays large enough for the generations to approximate LRU.
        let mut n = 1usize;
        while n < 64 && u64::try_from(n * 2 * 256).is_ok_and(|k| k <= bound) {
            n *= 2;
        }
        let per_shard = usize::try_from(bound / n as u64)
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            shards: (0..n).map(|_| Mutex::default()).collect(),
            mask: n - 1,
            half: (per_shard / 2).max(1),
            keep_old: per_shard >= 2,
            sweep_every,
            bound,
        }
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // Bits 32.. pick the shard: hashbrown probes with the low bits and tags with the top 7.
        let i = (hash >> 32) as usize & self.mask;
        // The state is plain numbers, consistent after any panic: a poisoned lock is usable.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Inserts a key that is in neither generation, turning `young` over when it is full.
    fn insert(&self, shard: &mut Shard, key: MemKey, tat: u64, now: u64) {
        if shard.young.len() >= self.half {
            shard.sweep(now);
            if shard.young.len() >= self.half {
                // `old` is forgotten (its keys come back with a full burst); `young`'s
                // allocation is reused.
                std::mem::swap(&mut shard.young, &mut shard.old);
                shard.young.clear();
                if !self.keep_old {
                    shard.old.clear();
                }
            }
        }
        shard.young.insert(key, tat);
    }

    /// Sweeps every shard at `now`; the keys left.
    fn retained(&self, now: u64) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                let mut s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.sweep(now);
                s.len() as u64
            })
            .sum()
    }
}

/// The store's shared table, as governor's state store for every slot's limiter.
#[derive(Clone)]
struct Keys(Arc<Table>);

impl StateStore for Keys {
    type Key = MemKey;

    fn measure_and_replace<T, F, E>(&self, key: &MemKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let table = &*self.0;
        let now = NOW.get();
        let mut shard = table.shard(key.hash);
        if now >= shard.next_sweep {
            shard.sweep(now);
            shard.next_sweep = now.saturating_add(table.sweep_every);
        }
        if let Some(tat) = shard.young.get_mut(key) {
            let (answer, next) = f(Some(Nanos::from(*tat)))?;
            *tat = next.into();
            return Ok(answer);
        }
        // From the old generation (promoted to the young one), or absent: governor's fresh
        // key (`None`, a full burst), also after an eviction (see the module docs).
        let prev = shard.old.remove(key);
        let answer = f(prev.map(Nanos::from));
        let tat = match &answer {
            Ok((_, next)) => Some(u64::from(*next)),
            Err(_) => prev,
        };
        if let Some(tat) = tat {
            table.insert(&mut shard, *key, tat, now);
        }
        answer.map(|(a, _)| a)
    }
}

/// Ids of [`MemoryLimitStore`]s, for [`KeyMemo`](super::KeyMemo).
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The time of the check running on this thread, read once per [`MemoryLimitStore`] call
    /// and given to governor by [`CallClock`], so the checks of one request see one clock read.
    static NOW: Cell<u64> = const { Cell::new(0) };
}

/// Governor's clock: the time [`MemoryLimitStore::answer`] read for the current call.
#[derive(Clone, Copy, Debug, Default)]
struct CallClock;

impl Clock for CallClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(NOW.get())
    }
}

/// A monotonic clock in nanoseconds since the store was made; tests move it by hand.
#[derive(Clone)]
struct StoreClock {
    base: Instant,
    manual: Option<Arc<AtomicU64>>,
}

impl StoreClock {
    fn now(&self) -> u64 {
        match &self.manual {
            Some(n) => n.load(Ordering::Relaxed),
            None => u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

type Gcra =
    governor::RateLimiter<MemKey, Keys, CallClock, governor::middleware::NoOpMiddleware<Nanos>>;

/// Rate-limit state in this process: GCRA per key (governor), the keys in a bounded map of
/// 1 to 64 shards. Built from the [`Limits`] it serves.
pub struct MemoryLimitStore {
    table: Arc<Table>,
    /// Indexed by slot.
    limiters: Vec<Option<(super::Rate, Gcra)>>,
    clock: StoreClock,
    /// Principals' and clients' 128-bit keyed hash.
    hash: [foldhash::quality::RandomState; 2],
    /// The map hash of addresses.
    map_hash: foldhash::fast::RandomState,
    /// This store's id in a verified context's [`KeyMemo`](super::KeyMemo), whose hashes
    /// are this store's seeds' (unique in the process).
    id: u64,
}

impl fmt::Debug for MemoryLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: usize = self
            .table
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum();
        f.debug_struct("MemoryLimitStore")
            .field("keys", &keys)
            .field("max_keys", &Some(self.table.bound))
            .field("shards", &self.table.shards.len())
            .field("sweep_every", &Duration::from_nanos(self.table.sweep_every))
            .finish_non_exhaustive()
    }
}

impl MemoryLimitStore {
    /// A store for `limits`: at most [`Limits::key_bound`] keys; a key back to fresh is
    /// dropped within the longest refill time of the configured rates.
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
        let sweep_every = u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX);
        let table = Arc::new(Table::new(limits.key_bound(), sweep_every));
        // governor takes its start from the clock when a limiter is made: time 0 of the table.
        let prev = NOW.replace(0);
        let mut limiters: Vec<Option<(super::Rate, Gcra)>> = Vec::new();
        for (slot, rate) in limits.slots() {
            let slot = usize::from(slot);
            if limiters.len() <= slot {
                limiters.resize_with(slot + 1, || None);
            }
            limiters[slot] = Some((
                rate,
                Gcra::new(rate.quota(), Keys(table.clone()), CallClock),
            ));
        }
        NOW.set(prev);
        Self {
            table,
            limiters,
            clock,
            hash: Default::default(),
            map_hash: Default::default(),
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
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

    /// The keys retained now, after a sweep of the keys back to fresh.
    pub fn retained_keys(&self) -> u64 {
        self.table.retained(self.clock.now())
    }

    fn mem_key(&self, check: &LimitCheck<'_>) -> MemKey {
        let slot = check.slot;
        match check.key {
            LimitKey::Address(a) => self.address_key(slot, a),
            LimitKey::Principal { issuer, subject } => hashed_key(
                slot,
                match check.memo.keys {
                    Some(m) => m.get(false, self.id, || self.hash128(b'p', issuer, subject)),
                    None => self.hash128(b'p', issuer, subject),
                },
            ),
            LimitKey::Client { issuer, client_id } => hashed_key(
                slot,
                match check.memo.keys {
                    Some(m) => m.get(true, self.id, || self.hash128(b'c', issuer, client_id)),
                    None => self.hash128(b'c', issuer, client_id),
                },
            ),
        }
    }

    /// An address's key: the address as is, under the map hash.
    #[inline]
    fn address_key(&self, slot: u16, a: AddrKey) -> MemKey {
        let id = match a {
            AddrKey::V4(o) => [1, u64::from(u32::from_be_bytes(o))],
            AddrKey::V6Prefix(p) => [2, u64::from_be_bytes(p)],
        };
        MemKey {
            hash: self.map_hash.hash_one((slot, id)),
            slot,
            id,
        }
    }

    /// Two independently seeded 64-bit hashes of the length-prefixed parts.
    fn hash128(&self, tag: u8, a: &str, b: &str) -> [u64; 2] {
        self.hash.each_ref().map(|s| {
            let mut h = s.build_hasher();
            tag.hash(&mut h);
            a.hash(&mut h); // `str`'s Hash writes a terminator: no ambiguity between parts
            b.hash(&mut h);
            h.finish()
        })
    }

    /// Every check at one clock read.
    fn answer(&self, checks: &[LimitCheck<'_>]) -> Result<Decision, LimitStoreError> {
        let now = match checks.first().and_then(|c| c.memo.now) {
            Some(t) => t.get_or(|| self.clock.now()),
            None => self.clock.now(),
        };
        NOW.set(now);
        for check in checks {
            let d = self.gcra(check.slot, check.rate, &self.mem_key(check), now)?;
            if !d.is_allowed() {
                return Ok(d);
            }
        }
        Ok(Decision::Allowed)
    }

    /// One key's GCRA at `now` (already in [`NOW`]), against the rate of `slot`, which must be
    /// `rate`. Both request paths ([`answer`](Self::answer) and the layer's in-memory one)
    /// count here.
    #[inline]
    fn gcra(
        &self,
        slot: u16,
        rate: super::Rate,
        key: &MemKey,
        now: u64,
    ) -> Result<Decision, LimitStoreError> {
        match self.limiters.get(usize::from(slot)) {
            Some(Some((r, gcra))) if *r == rate => match gcra.check_key(key) {
                Ok(()) => Ok(Decision::Allowed),
                Err(not_until) => Ok(Decision::Limited {
                    // governor answers zero only if the cell conforms now; never say "0".
                    retry_after: not_until
                        .wait_time_from(Nanos::from(now))
                        .max(Duration::from_nanos(1)),
                }),
            },
            _ => Err(not_configured()),
        }
    }

    /// The layer's pre-auth check when this store answers in memory: the same count and
    /// answer as [`RateLimitStore::check`] of [`Limiter::check_address`](super::Limiter)'s
    /// check, without building a check list.
    pub(crate) fn address_now(
        &self,
        rate: super::Rate,
        addr: AddrKey,
        now: &super::RequestTime,
    ) -> Result<Decision, LimitStoreError> {
        let now = now.get_or(|| self.clock.now());
        NOW.set(now);
        self.gcra(0, rate, &self.address_key(0, addr), now)
    }

    /// The layer's post-auth checks when this store answers in memory (principal, then
    /// client; the first refusal ends them), as [`RateLimitStore::check`] of
    /// [`Limiter::check_context`](super::Limiter)'s checks. `None` when no limit applies.
    pub(crate) fn context_now(
        &self,
        limits: &Limits,
        ctx: &crate::AuthContext,
        now: Option<&super::RequestTime>,
    ) -> Option<Result<Decision, LimitStoreError>> {
        let (slot, principal, client) = limits.post_auth_rates(ctx.scopes());
        let principal = principal.zip(ctx.subject());
        let client = client.zip(ctx.client_id());
        if principal.is_none() && client.is_none() {
            return None;
        }
        let now = match now {
            Some(t) => t.get_or(|| self.clock.now()),
            None => self.clock.now(),
        };
        NOW.set(now);
        let (issuer, memo) = (ctx.issuer(), ctx.limit_memo());
        if let Some((rate, subject)) = principal {
            let id = memo.get(false, self.id, || self.hash128(b'p', issuer, subject));
            match self.gcra(slot, rate, &hashed_key(slot, id), now) {
                Ok(Decision::Allowed) => {}
                other => return Some(other),
            }
        }
        if let Some((rate, client_id)) = client {
            let slot = slot.saturating_add(1);
            let id = memo.get(true, self.id, || self.hash128(b'c', issuer, client_id));
            return Some(self.gcra(slot, rate, &hashed_key(slot, id), now));
        }
        Some(Ok(Decision::Allowed))
    }
}

/// A principal's or client's key: its 128-bit keyed hash, with the slot mixed in rather
/// than hashed again.
#[inline]
fn hashed_key(slot: u16, id: [u64; 2]) -> MemKey {
    MemKey {
        hash: id[0] ^ u64::from(slot).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        slot,
        id,
    }
}

#[cold]
fn not_configured() -> LimitStoreError {
    LimitStoreError::new("rate not configured in this store")
}

impl RateLimitStore for MemoryLimitStore {
    type Future = MemoryLimitStoreFuture;

    fn check(&self, checks: &[LimitCheck<'_>]) -> Self::Future {
        std::future::ready(self.answer(checks))
    }

    fn check_now(&self, checks: &[LimitCheck<'_>]) -> Option<Result<Decision, LimitStoreError>> {
        Some(self.answer(checks))
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

#[cfg(test)]
mod generation_tests {
    use super::super::{Limiter, Rate};
    use super::*;

    fn ip(last: u8) -> std::net::IpAddr {
        std::net::Ipv4Addr::new(192, 0, 2, last).into()
    }

    fn store(limits: &Limits) -> (Limiter, ManualClock) {
        let (store, clock) = MemoryLimitStore::with_manual_clock(limits);
        (Limiter::with_store(limits.clone(), store), clock)
    }

    fn allowed(l: &Limiter, last: u8) -> bool {
        let answer = l.on_address(ip(last), |s, c| s.check_now(c)).unwrap();
        answer.unwrap().unwrap().is_allowed()
    }

    #[test]
    fn check_now_counts_exactly_as_check() {
        let limits = Limits::new().per_address(Rate::new(1, Duration::from_secs(60), 4).unwrap());
        let (l, _clock) = store(&limits);
        assert!(allowed(&l, 1));
        assert!(
            l.check_address(ip(1))
                .unwrap()
                .into_inner()
                .unwrap()
                .is_allowed()
        );
        assert!(allowed(&l, 1));
        assert!(
            l.check_address(ip(1))
                .unwrap()
                .into_inner()
                .unwrap()
                .is_allowed()
        );
        assert!(
            !allowed(&l, 1),
            "the fifth request of a burst of 4, whichever path"
        );
        assert!(
            !l.check_address(ip(1))
                .unwrap()
                .into_inner()
                .unwrap()
                .is_allowed()
        );
        // A store that answers only through its future keeps the default: no sync answer.
        struct Later;
        impl RateLimitStore for Later {
            type Future = MemoryLimitStoreFuture;
            fn check(&self, _: &[LimitCheck<'_>]) -> Self::Future {
                std::future::ready(Ok(Decision::Allowed))
            }
        }
        let later = Limiter::with_store(limits, Later);
        assert!(
            later
                .on_address(ip(1), |s, c| s.check_now(c))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_turnover_forgets_only_the_old_generation() {
        // One shard of 4 keys: generations of 2.
        let limits = Limits::new()
            .per_address(Rate::new(1, Duration::from_secs(60), 1).unwrap())
            .max_keys(4);
        let (l, _clock) = store(&limits);
        assert!(allowed(&l, 1) && allowed(&l, 2)); // young {1, 2}
        assert!(allowed(&l, 3)); // turnover: old {1, 2}, young {3}
        assert!(!allowed(&l, 1), "1 kept its state in the old generation"); // young {3, 1}
        assert!(allowed(&l, 4)); // turnover: old {3, 1}, young {4}; 2 forgotten
        assert!(l.store().retained_keys() <= 4);
        // 3 moves to young {4, 3}; 1 turns it over: old {4, 3}, young {1}.
        assert!(
            !allowed(&l, 3) && !allowed(&l, 1),
            "used within a generation: kept"
        );
        assert!(allowed(&l, 2), "2 was forgotten: a full burst again"); // young {1, 2}
        assert_eq!(l.store().retained_keys(), 4, "{:?}", l.store());
        assert!(!allowed(&l, 4), "4 is in the old generation");
    }

    #[test]
    fn keys_back_to_fresh_are_swept_and_answer_as_new() {
        let limits = Limits::new().per_address(Rate::new(1, Duration::from_secs(1), 2).unwrap());
        let (l, clock) = store(&limits);
        for last in 0..10 {
            assert!(allowed(&l, last));
        }
        assert!(allowed(&l, 0) && !allowed(&l, 0));
        assert_eq!(l.store().retained_keys(), 10);
        clock.advance(Duration::from_millis(1_999));
        assert_eq!(
            l.store().retained_keys(),
            1,
            "only 0 is not yet back to fresh"
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(l.store().retained_keys(), 0);
        // Swept or not, a fresh key has its full burst.
        assert!(allowed(&l, 0) && allowed(&l, 0) && !allowed(&l, 0));
    }
}
