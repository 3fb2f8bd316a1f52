//! Key rotation and unknown `kid`s: one refetch, then the cooldown and the negative cache.
//!
//! Cache behaviour with a counting fake fetcher and a manual clock: no network, no real sleeps.

mod common;

use common::cache::{ISS, JWKS, MINUTE, forged_kids, keys, memory, setup, until_keys};
use common::{FakeFetcher, SECOND};
use mcp_auth_core::keys::KeySource;
use mcp_auth_jwks::{JwksKeySource, ManualClock};
use std::sync::Arc;

#[tokio::test]
async fn forged_kids_cause_at_most_one_fetch_per_cooldown() {
    let (f, clock, src) = setup(&["k1"], Some("max-age=3600"));
    src.warm_up().await.unwrap();
    assert_eq!(f.total(), 1);

    // 10,000 concurrent requests, each with a fresh random kid.
    let kids = forged_kids(0x5eed, 10_000);
    let results = futures_util::future::join_all(kids.iter().map(|k| src.keys(ISS, Some(k)))).await;
    for (kid, r) in kids.iter().zip(&results) {
        let set = r
            .as_ref()
            .expect("a key set, not Unavailable: the validator answers 401");
        assert!(!set.contains_kid(kid));
        assert!(set.contains_kid("k1"));
    }
    assert_eq!(f.total(), 2, "at most one extra fetch");
    assert_eq!(src.stats().kid_refetches, 1);

    // 10,000 more, sequential, later in the same window: no fetch at all.
    clock.advance(30 * SECOND);
    for kid in forged_kids(0xfeed, 10_000) {
        assert!(!keys(&src, Some(&kid)).await.contains_kid(&kid));
    }
    assert_eq!(f.total(), 2);
    assert!(src.stats().cooldown_rejections >= 10_000);

    // A kid seen late in the window stays in the negative cache after the window ends...
    clock.advance(29 * SECOND);
    let late = "forged-late";
    keys(&src, Some(late)).await;
    clock.advance(2 * SECOND); // 61 s after the refetch
    keys(&src, Some(late)).await;
    assert_eq!(f.total(), 2, "negative cache");
    // ...while a new kid after the window gets its one refetch.
    keys(&src, Some("forged-next-window")).await;
    assert_eq!(f.total(), 3);
    keys(&src, Some("forged-next-window-2")).await;
    assert_eq!(f.total(), 3);
}

#[tokio::test]
async fn configurable_cooldown() {
    let f = FakeFetcher::new();
    f.set_jwks(JWKS, &["k1"], Some("max-age=3600"));
    let clock = ManualClock::new();
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .kid_cooldown(10 * MINUTE)
        .fetcher(Arc::clone(&f))
        .clock(clock.clone())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    keys(&src, Some("x1")).await;
    assert_eq!(f.total(), 2);
    clock.advance(9 * MINUTE);
    keys(&src, Some("x2")).await;
    assert_eq!(f.total(), 2);
    clock.advance(MINUTE + SECOND);
    keys(&src, Some("x3")).await;
    assert_eq!(f.total(), 3);
}

#[tokio::test]
async fn key_rotation() {
    let (f, clock, src) = setup(&["k1"], None);
    src.warm_up().await.unwrap();
    assert_eq!(f.total(), 1);

    // The issuer publishes k2: found on the first request that uses it, with one fetch.
    f.set_jwks(JWKS, &["k1", "k2"], None);
    let set = keys(&src, Some("k2")).await;
    assert!(set.contains_kid("k2") && set.contains_kid("k1"));
    assert_eq!(f.total(), 2);
    assert!(keys(&src, Some("k2")).await.contains_kid("k2"));
    assert_eq!(f.total(), 2);

    // The issuer retires k1; k1 stays until a successful refresh drops it.
    f.set_jwks(JWKS, &["k2"], None);
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    clock.advance(4 * MINUTE + SECOND); // past the refresh point of the 5 min floor
    assert!(keys(&src, Some("k2")).await.contains_kid("k2"));
    until_keys(&src, |s| !s.contains_kid("k1")).await;
    assert_eq!(f.total(), 3);
    assert_eq!(src.stats().background_refreshes, 1);
    let set = keys(&src, Some("k1")).await; // one kid refetch (cooldown long over), still gone
    assert!(!set.contains_kid("k1") && set.contains_kid("k2"));
    assert_eq!(f.total(), 4);
    // The set the last load installed is the one memory answers with, at once.
    assert!(Arc::ptr_eq(&memory(&src, None).unwrap().unwrap(), &set));
}
