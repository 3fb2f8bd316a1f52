//! The in-memory replay store (docs on [`MemoryReplayStore`]).

use crate::{Clock, JtiHash, Replay, ReplayFuture, ReplayStore, StoreError};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::Mutex;

/// The bounded in-memory [`ReplayStore`]: one process, bounded, exact.
///
/// Not a cache such as moka: a cache bounded by `max_capacity` evicts to stay under it, and
/// its admission policy (TinyLFU) may drop a new entry at once, while its entry count is only
/// eventually consistent. Either way a `jti` would be forgotten before its `until`, and the
/// proof could be replayed. So this store is a hash map with an exact count, and a min-heap of
/// deadlines: expired records are removed (oldest first) on each insert, and when every slot
/// holds a live record the insert is refused with [`StoreError::Full`]. One lock, held for a
/// map insert and the removal of what expired; no I/O, so the answer comes without a future
/// ([`ReplayStore::check_in_memory`]).
///
/// Memory: about 100 bytes a record (map slot and heap slot). A server receiving `r` proofs a
/// second holds at most `r × (2 × window + leeway)` records: 660 per proof-per-second with the
/// defaults (±300 s, 60 s).
pub struct MemoryReplayStore {
    capacity: usize,
    clock: Clock,
    inner: Mutex<Inner>,
}

struct Inner {
    /// `jti` hash → `until` (seconds).
    records: HashMap<[u8; 32], i64, foldhash::fast::RandomState>,
    /// `(until, hash)`, earliest first. An entry whose record was since replaced (expired and
    /// recorded again) is skipped when it comes up.
    deadlines: BinaryHeap<Reverse<(i64, [u8; 32])>>,
}

impl MemoryReplayStore {
    /// A store of at most `capacity` records (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            clock: Clock::system(),
            inner: Mutex::new(Inner {
                records: HashMap::default(),
                deadlines: BinaryHeap::new(),
            }),
        }
    }

    /// Reads the time (seconds since the epoch) from `now` instead of the system clock: for
    /// tests.
    #[must_use]
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::custom(move || now().saturating_mul(1000));
        self
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records held now, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the map consistent (each step is one std
        // call), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, jti: &JtiHash, until: i64) -> Result<Replay, StoreError> {
        let now = self.clock.now_ms().div_euclid(1000);
        let key = *jti.as_bytes();
        let mut inner = self.lock();
        if let Some(&kept) = inner.records.get(&key)
            && kept > now
        {
            return Ok(Replay::Replayed);
        }
        inner.expire(now);
        if inner.records.len() >= self.capacity && !inner.records.contains_key(&key) {
            let earliest = inner.deadlines.peek().map_or(now + 1, |d| d.0.0);
            return Err(StoreError::Full {
                capacity: self.capacity,
                retry_after: u32::try_from(earliest.saturating_sub(now)).unwrap_or(u32::MAX),
            });
        }
        inner.records.insert(key, until);
        inner.deadlines.push(Reverse((until, key)));
        Ok(Replay::Fresh)
    }
}

impl Inner {
    /// Removes every record whose `until` is not after `now`.
    fn expire(&mut self, now: i64) {
        while let Some(Reverse((until, key))) = self.deadlines.peek().copied() {
            if until > now {
                break;
            }
            self.deadlines.pop();
            if self.records.get(&key) == Some(&until) {
                self.records.remove(&key);
            }
        }
    }
}

impl ReplayStore for MemoryReplayStore {
    fn check_and_insert<'a>(&'a self, jti: &'a JtiHash, until: i64) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(self.check(jti, until)))
    }

    fn check_in_memory(&self, jti: &JtiHash, until: i64) -> Option<Result<Replay, StoreError>> {
        Some(self.check(jti, until))
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("clock", &self.clock)
            .finish()
    }
}
