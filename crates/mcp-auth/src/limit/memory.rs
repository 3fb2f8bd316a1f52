//! [`MemoryLimitStore`]: GCRA over a bounded, sharded map (see the module docs of
//! [`limit`](super) for the bound and eviction).
//!
//! Why not a cache crate: moka's `get_with` (the store before issue 18's speed work) cost
//! ~1,700 instructions a key on the request path (its access log, timer wheel and `Arc`'d
//! values), for a state that is one `u64`; governor's own keyed stores are unbounded (see the
//! module docs). Why not governor's GCRA through its `StateStore` trait (the store until
//! issue 18's second speed round): a verified context counts on its principal's and client's
//! state cells without the table's lock ([`Cell`], a compare-and-swap on the TAT), and
//! governor's GCRA is reachable only through its state store, under the store's lock. The
//! GCRA step here ([`Gcra::step`], six lines) is governor's arithmetic, and the test
//! `the_stores_gcra_answers_as_governors` holds every answer and wait to governor's keyed
//! limiter's on random sequences; the hand-written parts are that step, the eviction policy
//! (two generations per shard, a sweep of keys back to fresh) and the cells. The maps are
//! std's (hashbrown).

use super::{Decision, LimitCheck, LimitKey, LimitStoreError, Limits, RateLimitStore};
use crate::client_addr::AddrKey;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// A key's state in the table.
enum Value {
    /// An address's TAT (see [`Gcra`]), in nanoseconds since the store was made.
    Tat(u64),
    /// A principal's or client's state, which verified contexts share (see [`Cell`]).
    Cell(Arc<Cell>),
}

impl Value {
    /// Whether the table may drop the key at `now`: its state equals a fresh key's (TAT not
    /// after `now`) and no verified context holds it.
    fn is_idle(&self, now: u64) -> bool {
        match self {
            Self::Tat(tat) => *tat <= now,
            Self::Cell(c) => Arc::strong_count(c) == 1 && c.tat.load(Ordering::Acquire) <= now,
        }
    }

    /// The table drops the key: a context still holding its cell sees it dead and asks the
    /// table again.
    fn release(&self) {
        if let Self::Cell(c) = self {
            c.tat.store(DEAD, Ordering::Release);
        }
    }
}

/// A principal's or client's GCRA state, in the table and in the [`KeyMemo`](super::KeyMemo)
/// of every verified context of that principal (or client): a cached token's request counts
/// here without the shard lock or the map probe (compare-and-swap on the TAT).
pub(crate) struct Cell {
    /// The TAT, or [`DEAD`] once the table dropped the key.
    tat: AtomicU64,
    /// Used since the last turnover: a turnover keeps such a cell rather than forget it.
    touched: AtomicBool,
}

/// A dropped cell's TAT (no TAT reaches it: they saturate one below).
const DEAD: u64 = u64::MAX;

impl Cell {
    fn new(tat: u64) -> Arc<Self> {
        Arc::new(Self {
            tat: AtomicU64::new(tat.min(DEAD - 1)),
            touched: AtomicBool::new(false),
        })
    }

    /// One request at `now`: `None` when the table dropped this cell.
    #[inline]
    fn step(&self, gcra: Gcra, now: u64) -> Option<Result<(), u64>> {
        let mut cur = self.tat.load(Ordering::Acquire);
        loop {
            if cur == DEAD {
                return None;
            }
            let answer = match gcra.step(Some(cur), now) {
                Err(wait) => Err(wait),
                Ok(next) => match self.tat.compare_exchange_weak(
                    cur,
                    next.min(DEAD - 1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => Ok(()),
                    Err(seen) => {
                        cur = seen;
                        continue;
                    }
                },
            };
            // A refused key is kept as well: an abuser that keeps sending stays limited.
            if !self.touched.load(Ordering::Relaxed) {
                self.touched.store(true, Ordering::Relaxed);
            }
            return Some(answer);
        }
    }
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cell(..)")
    }
}

/// Key to state.
type Map = HashMap<MemKey, Value, BuildHasherDefault<PreHashed>>;

/// One shard: keys used since the last turnover in `young`, the generation before in `old`.
#[derive(Default)]
struct Shard {
    young: Map,
    old: Map,
    /// When the next sweep of keys back to fresh is due.
    next_sweep: u64,
}

impl Shard {
    /// Drops the keys whose state equals a fresh key's and that no context holds: the GCRA
    /// decides the same for them as for an absent key, so no answer changes.
    fn sweep(&mut self, now: u64) {
        for map in [&mut self.young, &mut self.old] {
            map.retain(|_, v| !v.is_idle(now));
        }
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
    fn insert(&self, shard: &mut Shard, key: MemKey, value: Value, now: u64) {
        if shard.young.len() >= self.half {
            shard.sweep(now);
            if shard.young.len() >= self.half {
                self.turn_over(shard);
            }
        }
        shard.young.insert(key, value);
    }

    /// `young` becomes `old`; the keys of `old` are forgotten (they come back with a full
    /// burst), except cells that contexts used since the last turnover, which stay as young
    /// keys (a context's use does not pass through the map to promote its key).
    #[cold]
    fn turn_over(&self, shard: &mut Shard) {
        for v in shard.young.values() {
            if let Value::Cell(c) = v {
                c.touched.store(false, Ordering::Relaxed);
            }
        }
        std::mem::swap(&mut shard.young, &mut shard.old);
        // `young` now holds the forgotten generation (its allocation is reused).
        let keep_old = self.keep_old;
        shard.young.retain(|_, v| {
            let kept = keep_old && matches!(v, Value::Cell(c) if c.touched.load(Ordering::Relaxed));
            if !kept {
                v.release();
            }
            kept
        });
        if !keep_old {
            shard.old.values().for_each(Value::release);
            shard.old.clear();
        }
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

impl Table {
    /// One request against an address `key` at `now` under `gcra`: `Err` with the wait until
    /// one conforms. A key found in the old generation moves to the young one; an absent key
    /// (never seen, swept or forgotten) is a fresh one, with a full burst.
    #[inline]
    fn check_address(&self, key: &MemKey, gcra: Gcra, now: u64) -> Result<(), u64> {
        let mut shard = self.locked(key.hash, now);
        if let Some(Value::Tat(tat)) = shard.young.get_mut(key) {
            *tat = gcra.step(Some(*tat), now)?;
            return Ok(());
        }
        let prev = match shard.old.remove(key) {
            Some(Value::Tat(tat)) => Some(tat),
            _ => None,
        };
        let (answer, tat) = match gcra.step(prev, now) {
            Ok(next) => (Ok(()), Some(next)),
            Err(wait) => (Err(wait), prev),
        };
        if let Some(tat) = tat {
            self.insert(&mut shard, *key, Value::Tat(tat), now);
        }
        answer
    }

    /// [`check_address`](Self::check_address) for a principal's or client's key, whose state
    /// is a [`Cell`]: the answer, and the key's cell for the context's memo.
    fn check_identity(&self, key: &MemKey, gcra: Gcra, now: u64) -> (Result<(), u64>, Arc<Cell>) {
        let mut shard = self.locked(key.hash, now);
        if let Some(Value::Cell(c)) = shard.young.get(key) {
            // Under the lock the table never drops it: the answer is `Some`.
            if let Some(answer) = c.step(gcra, now) {
                return (answer, c.clone());
            }
        }
        let cell = match shard.old.remove(key) {
            Some(Value::Cell(c)) if c.tat.load(Ordering::Acquire) != DEAD => c,
            _ => Cell::new(now),
        };
        // A cell out of the map is not dropped before it is inserted: the answer is `Some`.
        let answer = cell.step(gcra, now).unwrap_or(Ok(()));
        self.insert(&mut shard, *key, Value::Cell(cell.clone()), now);
        (answer, cell)
    }

    /// The shard of `hash`, locked, swept when its sweep is due.
    #[inline]
    fn locked(&self, hash: u64, now: u64) -> MutexGuard<'_, Shard> {
        let mut shard = self.shard(hash);
        if now >= shard.next_sweep {
            shard.sweep(now);
            shard.next_sweep = now.saturating_add(self.sweep_every);
        }
        shard
    }
}

/// Ids of [`MemoryLimitStore`]s, for [`KeyMemo`](super::KeyMemo).
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

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

/// One rate's GCRA, the generic cell rate algorithm (as governor computes it, and as the
/// Redis store's script): `t` the emission interval, `tau` the tolerance of a burst
/// (`t * (burst - 1)`), a key's state its theoretical arrival time (TAT), in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gcra {
    t: u64,
    tau: u64,
}

impl Gcra {
    fn of(rate: super::Rate) -> Self {
        let t = u64::try_from(rate.emission_interval().as_nanos()).unwrap_or(u64::MAX);
        Self {
            t,
            tau: t.saturating_mul(u64::from(rate.burst() - 1)),
        }
    }

    /// The TAT after one more request at `now` (`None`: a fresh key), or the wait until
    /// one conforms.
    #[inline]
    fn step(self, tat: Option<u64>, now: u64) -> Result<u64, u64> {
        let tat = tat.unwrap_or(now);
        let earliest = tat.saturating_sub(self.tau);
        if now < earliest {
            Err(earliest - now)
        } else {
            Ok(tat.max(now).saturating_add(self.t))
        }
    }
}

/// Rate-limit state in this process: GCRA per key, the keys in a bounded map of
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
        let mut limiters: Vec<Option<(super::Rate, Gcra)>> = Vec::new();
        for (slot, rate) in limits.slots() {
            let slot = usize::from(slot);
            if limiters.len() <= slot {
                limiters.resize_with(slot + 1, || None);
            }
            limiters[slot] = Some((rate, Gcra::of(rate)));
        }
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
        for check in checks {
            let d = self.gcra(check.slot, check.rate, &self.mem_key(check), now)?;
            if !d.is_allowed() {
                return Ok(d);
            }
        }
        Ok(Decision::Allowed)
    }

    /// One key's GCRA at `now`, against the rate of `slot`, which must be
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
        let gcra = self.gcra_of(slot, rate)?;
        let answer = match slot {
            0 => self.table.check_address(key, gcra, now),
            _ => self.table.check_identity(key, gcra, now).0,
        };
        Ok(decision(answer))
    }

    /// The GCRA of `slot`, which must be configured with `rate`.
    #[inline]
    fn gcra_of(&self, slot: u16, rate: super::Rate) -> Result<Gcra, LimitStoreError> {
        match self.limiters.get(usize::from(slot)) {
            Some(Some((r, gcra))) if *r == rate => Ok(*gcra),
            _ => Err(not_configured()),
        }
    }

    /// Whether this store counts every rate of `limits` in its slot (as a store made from
    /// `limits` does): the layer asks such a store through its in-memory path
    /// ([`address_now`](Self::address_now), [`context_now`](Self::context_now)), which
    /// trusts the slots; any other is asked through [`RateLimitStore`], which answers a rate
    /// it does not count with an error.
    pub(crate) fn serves(&self, limits: &Limits) -> bool {
        limits.slots().all(|(slot, rate)| {
            matches!(self.limiters.get(usize::from(slot)), Some(Some((r, _))) if *r == rate)
        })
    }

    /// The GCRA of a slot of a store that [`serves`](Self::serves) the layer's limits.
    #[inline]
    fn slot(&self, slot: u16) -> Result<Gcra, LimitStoreError> {
        match self.limiters.get(usize::from(slot)) {
            Some(Some((_, gcra))) => Ok(*gcra),
            _ => Err(not_configured()),
        }
    }

    /// The layer's pre-auth check of a store that [`serves`](Self::serves) its limits: the
    /// same count and answer as [`RateLimitStore::check`] of
    /// [`Limiter::check_address`](super::Limiter)'s check, without building a check list.
    pub(crate) fn address_now(
        &self,
        addr: AddrKey,
        now: &super::RequestTime,
    ) -> Result<Decision, LimitStoreError> {
        let gcra = self.slot(0)?;
        let now = now.get_or(|| self.clock.now());
        let answer = self
            .table
            .check_address(&self.address_key(0, addr), gcra, now);
        Ok(decision(answer))
    }

    /// The layer's post-auth checks of a store that [`serves`](Self::serves) its limits
    /// (principal, then client; the first refusal ends them), as [`RateLimitStore::check`]
    /// of [`Limiter::check_context`](super::Limiter)'s checks. `None` when no limit applies.
    ///
    /// A context's first checks go through the table and leave a [`Plan`] in its memo (the
    /// keys' slots, GCRAs, ids and cells); its later ones count on the plan's cells.
    pub(crate) fn context_now(
        &self,
        limits: &Limits,
        ctx: &crate::AuthContext,
        now: Option<&super::RequestTime>,
    ) -> Option<Result<Decision, LimitStoreError>> {
        let memo = ctx.limit_memo();
        if let Some(plan) = memo.plan().filter(|p| p.store == self.id) {
            let keys = plan.keys();
            if keys.is_empty() {
                return None;
            }
            let now = self.now_at(now);
            for key in keys {
                let answer = key.step(&self.table, now);
                if answer.is_err() {
                    return Some(Ok(decision(answer)));
                }
            }
            return Some(Ok(Decision::Allowed));
        }
        self.first_context_check(limits, ctx, now)
    }

    /// A context without a plan of this store: its checks through the table, then its plan
    /// when every check was counted (a refusal ends the checks before the later keys).
    #[cold]
    fn first_context_check(
        &self,
        limits: &Limits,
        ctx: &crate::AuthContext,
        now: Option<&super::RequestTime>,
    ) -> Option<Result<Decision, LimitStoreError>> {
        let (slot, principal, client) = limits.post_auth_rates(ctx.scopes());
        let issuer = ctx.issuer();
        let wanted = [
            principal
                .zip(ctx.subject())
                .map(|(_, sub)| (slot, self.hash128(b'p', issuer, sub))),
            client.zip(ctx.client_id()).map(|(_, client_id)| {
                let slot = slot.saturating_add(1);
                (slot, self.hash128(b'c', issuer, client_id))
            }),
        ];
        let mut keys = Vec::with_capacity(2);
        let mut answer = None;
        // One clock read for both keys, taken only if a limit applies.
        let mut at = None;
        for (slot, id) in wanted.into_iter().flatten() {
            let gcra = match self.slot(slot) {
                Ok(g) => g,
                Err(e) => return Some(Err(e)),
            };
            let now = *at.get_or_insert_with(|| self.now_at(now));
            let (counted, cell) = self.table.check_identity(&hashed_key(slot, id), gcra, now);
            keys.push(PlanKey {
                slot,
                gcra,
                id,
                cell,
                renewed: Mutex::default(),
            });
            if counted.is_err() {
                answer = Some(decision(counted));
                break;
            }
        }
        let refused = answer.is_some();
        let none_apply = keys.is_empty();
        if !refused {
            ctx.limit_memo().keep_plan(Plan {
                store: self.id,
                keys: keys.into_boxed_slice(),
            });
        }
        match answer {
            Some(d) => Some(Ok(d)),
            None if none_apply => None,
            None => Some(Ok(Decision::Allowed)),
        }
    }

    /// The request's time, read once per request while it does no I/O.
    #[inline]
    fn now_at(&self, now: Option<&super::RequestTime>) -> u64 {
        match now {
            Some(t) => t.get_or(|| self.clock.now()),
            None => self.clock.now(),
        }
    }
}

/// A table answer as a [`Decision`].
#[inline]
fn decision(answer: Result<(), u64>) -> Decision {
    match answer {
        Ok(()) => Decision::Allowed,
        Err(wait) => Decision::Limited {
            // A refusal always waits; never say "0".
            retry_after: Duration::from_nanos(wait.max(1)),
        },
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

mod plan;

pub(crate) use plan::Plan;
use plan::PlanKey;

#[cfg(test)]
mod generation_tests;
