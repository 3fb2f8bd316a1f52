//! The in-memory replay store: a second use is refused, records live until their `until`
//! (not insert time + window), and a full store refuses instead of forgetting.

use mcp_auth_dpop::{JtiHash, MemoryReplayStore, Replay, ReplayStore, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const NOW: i64 = 1_800_000_000;

fn jti(n: u32) -> JtiHash {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[31] = 0x5a;
    JtiHash::from_bytes(b)
}

fn store(capacity: usize) -> (MemoryReplayStore, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(NOW));
    let clock = now.clone();
    let store = MemoryReplayStore::new(capacity).with_clock(move || clock.load(Ordering::SeqCst));
    (store, now)
}

#[tokio::test]
async fn the_same_jti_twice_is_replayed() {
    let (store, _) = store(10);
    assert_eq!(
        store.check_and_insert(&jti(1), NOW + 360).await,
        Ok(Replay::Fresh)
    );
    assert_eq!(
        store.check_and_insert(&jti(1), NOW + 360).await,
        Ok(Replay::Replayed)
    );
    // Another jti is independent, and the synchronous path gives the same answers.
    assert_eq!(
        store.check_in_memory(&jti(2), NOW + 360),
        Some(Ok(Replay::Fresh))
    );
    assert_eq!(
        store.check_in_memory(&jti(2), NOW + 360),
        Some(Ok(Replay::Replayed))
    );
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn records_expire_at_until_not_at_insert_plus_window() {
    let (store, now) = store(10);
    // A proof dated 200 s in the future: remembered until iat + window + leeway.
    let until = NOW + 200 + 300 + 60;
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Fresh)
    );
    // Insert time + window (+ leeway) has passed: still remembered.
    now.store(NOW + 361, Ordering::SeqCst);
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Replayed)
    );
    now.store(until - 1, Ordering::SeqCst);
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Replayed)
    );
    // At `until` it is gone: recorded anew.
    now.store(until, Ordering::SeqCst);
    assert_eq!(
        store.check_and_insert(&jti(1), until + 100).await,
        Ok(Replay::Fresh)
    );
    assert_eq!(
        store.check_and_insert(&jti(1), until + 100).await,
        Ok(Replay::Replayed)
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_full_store_refuses_rather_than_forgets() {
    let (store, now) = store(3);
    for n in 0..3 {
        let until = NOW + 100 + i64::from(n);
        assert_eq!(
            store.check_and_insert(&jti(n), until).await,
            Ok(Replay::Fresh)
        );
    }
    let err = store
        .check_and_insert(&jti(9), NOW + 100)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Full {
            capacity: 3,
            retry_after: 100
        }
    );
    assert_eq!(err.retry_after(), 100);
    // Nothing was forgotten to make room: all three are still replays.
    for n in 0..3 {
        assert_eq!(
            store.check_and_insert(&jti(n), NOW + 500).await,
            Ok(Replay::Replayed)
        );
    }
    // The earliest record's `until` frees exactly one slot.
    now.store(NOW + 100, Ordering::SeqCst);
    assert_eq!(
        store.check_and_insert(&jti(9), NOW + 400).await,
        Ok(Replay::Fresh)
    );
    assert_eq!(
        store
            .check_and_insert(&jti(10), NOW + 400)
            .await
            .unwrap_err()
            .retry_after(),
        1
    );
    assert_eq!(
        store.check_and_insert(&jti(1), NOW + 400).await,
        Ok(Replay::Replayed)
    );
    assert_eq!(store.len(), 3);
}

#[tokio::test]
async fn concurrent_uses_of_one_proof_get_one_fresh() {
    let store = Arc::new(MemoryReplayStore::new(1000));
    let until = i64::MAX;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.check_and_insert(&jti(7), until).await })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        if t.await.unwrap() == Ok(Replay::Fresh) {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
}

#[test]
fn debug_shows_size_not_records() {
    let (store, _) = store(5);
    assert!(store.check_in_memory(&jti(1), NOW + 10).is_some());
    assert_eq!(
        format!("{store:?}"),
        "MemoryReplayStore { capacity: 5, len: 1, clock: Clock(custom) }"
    );
}
