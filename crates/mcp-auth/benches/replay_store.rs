//! Criterion benchmark of the in-memory DPoP replay store's insert (issue 17): one fresh
//! `jti` hash per iteration through [`MemoryReplayStore`] (`check_and_insert`, its future
//! polled once: it is ready, as the store does no I/O; and `check_in_memory`, the synchronous
//! answer the layer takes), the store at a realistic fill. The goal: a median under 1 µs.
//!
//! The fill is a steady state, not a growing map: a server taking [`RATE`] proofs a second
//! with the default window (±300 s) and leeway (60 s) keeps each `jti` 660 s, so it holds
//! 660 × [`RATE`] records (49,500) and each insert removes, on average, one that expired.
//! The store's clock is a counter the bench advances one second every [`RATE`] inserts;
//! the store is filled to that steady state before timing.
//!
//! Run: `cargo bench -p mcp-auth --bench replay_store`; the medians are in
//! `target/criterion/replay_insert/*/new/estimates.json` (`median.point_estimate`, ns).

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth::dpop::{JtiHash, MemoryReplayStore, Replay, ReplayStore};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll, Waker};

/// Proofs a second.
const RATE: u64 = 75;
/// Seconds each `jti` is kept: 2 × 300 s window + 60 s leeway.
const KEEP: i64 = 660;

/// A store in its steady state, its clock, and the next insert's number.
struct Steady {
    store: MemoryReplayStore,
    now: Arc<AtomicI64>,
    next: u64,
}

impl Steady {
    fn new() -> Self {
        let now = Arc::new(AtomicI64::new(1_800_000_000));
        let clock = Arc::clone(&now);
        let store =
            MemoryReplayStore::new(100_000).with_clock(move || clock.load(Ordering::Relaxed));
        let mut s = Self {
            store,
            now,
            next: 0,
        };
        // Two full keeps: the map holds 660 × RATE and expiry runs at its steady rate.
        for _ in 0..(2 * KEEP as u64 * RATE) {
            let (h, until) = s.fresh();
            assert_eq!(s.store.check_in_memory(&h, until), Some(Ok(Replay::Fresh)));
        }
        let len = s.store.len();
        assert!(
            (KEEP as usize * RATE as usize..=(KEEP as usize + 1) * RATE as usize).contains(&len),
            "fill {len}"
        );
        s
    }

    /// A hash never used before (the insert's number in its first bytes, as distinct as
    /// SHA-256 outputs for the map), and its `until`; the clock advances every RATE.
    fn fresh(&mut self) -> (JtiHash, i64) {
        let i = self.next;
        self.next += 1;
        if i.is_multiple_of(RATE) {
            self.now.fetch_add(1, Ordering::Relaxed);
        }
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
        h[8..16].copy_from_slice(&i.to_le_bytes());
        (
            JtiHash::from_bytes(h),
            self.now.load(Ordering::Relaxed) + KEEP,
        )
    }
}

fn poll_once<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store's future is ready at once"),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("replay_insert");
    let mut s = Steady::new();
    g.bench_function("check_and_insert", |b| {
        b.iter(|| {
            let (h, until) = s.fresh();
            let r = poll_once(s.store.check_and_insert(black_box(&h), until));
            assert_eq!(r, Ok(Replay::Fresh));
        })
    });
    let mut s = Steady::new();
    g.bench_function("check_in_memory", |b| {
        b.iter(|| {
            let (h, until) = s.fresh();
            let r = s.store.check_in_memory(black_box(&h), until);
            assert_eq!(r, Some(Ok(Replay::Fresh)));
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
