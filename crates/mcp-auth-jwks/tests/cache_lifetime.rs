//! The lifetime of a key set: `Cache-Control` within the clamp, refresh ahead of expiry,
//! stale serves.
//!
//! Cache behaviour with a counting fake fetcher and a manual clock: no network, no real sleeps.

mod common;

use common::cache::{ISS, JWKS, MINUTE, keys, setup};
use common::{FakeFetcher, SECOND, settle};
use mcp_auth_core::keys::KeySource;
use mcp_auth_jwks::{JwksKeySource, ManualClock};
use std::sync::Arc;
use std::time::Duration;

/// Asserts that a request `secs` after the load is the first to start a refresh.
async fn assert_refresh_at(cache_control: Option<&str>, min: Duration, max: Duration, secs: u64) {
    let f = FakeFetcher::new();
    f.set_jwks(JWKS, &["k1"], cache_control);
    let clock = ManualClock::new();
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .min_ttl(min)
        .max_ttl(max)
        .fetcher(Arc::clone(&f))
        .clock(clock.clone())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    clock.advance(Duration::from_secs(secs - 1));
    keys(&src, Some("k1")).await;
    assert_eq!(
        src.stats().background_refreshes,
        0,
        "{cache_control:?}: refreshed before {secs} s"
    );
    clock.advance(SECOND);
    keys(&src, Some("k1")).await;
    assert_eq!(
        src.stats().background_refreshes,
        1,
        "{cache_control:?}: not refreshed at {secs} s"
    );
    settle(&src, |s| s.fetches == 2).await;
    assert_eq!(f.total(), 2);
}

#[tokio::test]
async fn cache_control_max_age_within_the_clamp() {
    let min = 5 * MINUTE;
    let max = Duration::from_secs(24 * 3600);
    // A refresh starts after 4/5 of the lifetime.
    assert_refresh_at(Some("max-age=600"), min, max, 480).await;
    assert_refresh_at(Some("public, max-age=3000"), min, max, 2400).await;
    assert_refresh_at(Some("max-age=10"), min, max, 240).await; // floor
    assert_refresh_at(Some("max-age=31536000"), min, max, 69_120).await; // ceiling
    assert_refresh_at(Some("no-store"), min, max, 240).await;
    assert_refresh_at(Some("no-cache, max-age=900"), min, max, 240).await;
    assert_refresh_at(None, min, max, 240).await;
    assert_refresh_at(Some("max-age=600"), MINUTE, 2 * MINUTE, 96).await;
}

#[tokio::test]
async fn expiry_counts_stale_serves_and_refresh_does_not_block() {
    let (f, clock, src) = setup(&["k1"], Some("max-age=600"));
    src.warm_up().await.unwrap();
    f.close_gate();
    clock.advance(601 * SECOND);
    // The refresh is held by the gate, yet the request is answered at once with the old set.
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    settle(&src, |s| s.fetches == 2).await;
    let s = src.stats();
    assert_eq!(
        (s.stale_serves, s.background_refreshes, s.fetches),
        (2, 1, 2)
    );
    // An unknown kid joins the refresh in flight instead of starting another fetch.
    f.set_jwks(JWKS, &["k1", "k2"], Some("max-age=600"));
    let joined = {
        let src = src.clone();
        tokio::spawn(async move { src.keys(ISS, Some("k2")).await })
    };
    tokio::task::yield_now().await;
    f.open_gate();
    assert!(joined.await.unwrap().unwrap().contains_kid("k2"));
    assert_eq!(src.stats().fetches, 2);
    assert_eq!(src.stats().kid_refetches, 0);
}
