//! A verified context's [`Plan`]: its post-auth keys on one memory store, counted on the
//! store's cells (see [`Cell`]).

use super::{Cell, Gcra, Table, hashed_key};
use std::sync::{Arc, Mutex, PoisonError};

/// A verified context's post-auth checks on one [`MemoryLimitStore`], kept in its
/// [`KeyMemo`](super::KeyMemo): for each key, in order, its slot's GCRA, its keyed id and
/// the table's cell for it, so a cached token counts with a compare-and-swap per key.
pub(crate) struct Plan {
    pub(super) store: u64,
    pub(super) keys: Box<[PlanKey]>,
}

impl Plan {
    pub(super) fn keys(&self) -> &[PlanKey] {
        &self.keys
    }
}

/// One key of a [`Plan`].
pub(super) struct PlanKey {
    pub(super) slot: u16,
    pub(super) gcra: Gcra,
    pub(super) id: [u64; 2],
    pub(super) cell: Arc<Cell>,
    /// The state the table made anew after it dropped `cell` (a turnover forgot the key):
    /// asked only then, so `cell`'s path stays without a lock.
    pub(super) renewed: Mutex<Option<Arc<Cell>>>,
}

impl PlanKey {
    /// One request on this key at `now`.
    #[inline]
    pub(super) fn step(&self, table: &Table, now: u64) -> Result<(), u64> {
        match self.cell.step(self.gcra, now) {
            Some(answer) => answer,
            None => self.renew(table, now),
        }
    }

    /// The plan's cell was dropped: the state the table made anew, which the plan keeps from
    /// then on. Lock order: plan, then shard (a shard never waits for a plan).
    #[cold]
    fn renew(&self, table: &Table, now: u64) -> Result<(), u64> {
        let mut renewed = self.renewed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(answer) = renewed.as_ref().and_then(|c| c.step(self.gcra, now)) {
            return answer;
        }
        let key = hashed_key(self.slot, self.id);
        let (answer, cell) = table.check_identity(&key, self.gcra, now);
        *renewed = Some(cell);
        answer
    }
}
