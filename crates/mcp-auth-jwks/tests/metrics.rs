//! Issue 18: the key source's metrics (`mcp_auth_jwks::metrics`) after a scripted life of one
//! issuer (first load, an unknown `kid` refetched, one refused in the cooldown, an outage
//! past the keys' lifetime), checked with `metrics-util`'s debugging recorder: exact values,
//! the configured issuer as the only `issuer` value, and equal to the source's own counters.

mod common;

use common::cache::{ISS, JWKS, keys, setup};
use common::{SECOND, settle};
use mcp_auth_jwks::metrics::{
    COOLDOWN_REFUSALS, FETCH_ERRORS, FETCHES, REFRESHES, STALE_SERVES, STALENESS_REFUSALS,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::collections::BTreeMap;

type Series = (String, Vec<(String, String)>);

fn counters(recorder: &DebuggingRecorder) -> BTreeMap<Series, u64> {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            let DebugValue::Counter(n) = value else {
                panic!("{}: not a counter", key.name());
            };
            ((key.name().to_owned(), labels), n)
        })
        .collect()
}

fn series(name: &str, extra: &[(&str, &str)]) -> Series {
    let mut labels = vec![("issuer".to_owned(), ISS.to_owned())];
    labels.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    (name.to_owned(), labels)
}

#[tokio::test(flavor = "current_thread")]
async fn the_key_source_counts_fetches_refreshes_stale_serves_and_cooldown_refusals() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (f, clock, src) = setup(&["k1"], Some("max-age=600"));

    keys(&src, Some("k1")).await; // first load: fetch 1
    f.set_jwks(JWKS, &["k1", "k2"], Some("max-age=600"));
    assert!(keys(&src, Some("k2")).await.contains_kid("k2")); // unknown kid: refetch, fetch 2
    assert!(!keys(&src, Some("k9")).await.contains_kid("k9")); // within the cooldown: refused
    // Past the lifetime in an outage: the last good keys are served stale, and the
    // background refresh (fetch 3) fails.
    f.fail_all(true);
    clock.advance(601 * SECOND);
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    settle(&src, |s| s.fetch_errors == 1).await;

    let stats = src.stats();
    assert_eq!(
        (
            stats.fetches,
            stats.kid_refetches,
            stats.background_refreshes
        ),
        (3, 1, 1),
        "{stats:?}"
    );
    assert_eq!(
        counters(&recorder),
        BTreeMap::from([
            (series(FETCHES, &[]), stats.fetches),
            (series(FETCH_ERRORS, &[]), stats.fetch_errors),
            (
                series(REFRESHES, &[("trigger", "background")]),
                stats.background_refreshes
            ),
            (
                series(REFRESHES, &[("trigger", "unknown_kid")]),
                stats.kid_refetches
            ),
            (series(STALE_SERVES, &[]), stats.stale_serves),
            (series(COOLDOWN_REFUSALS, &[]), stats.cooldown_rejections),
        ])
    );
    assert_eq!((stats.stale_serves, stats.cooldown_rejections), (1, 1));
    assert_eq!(
        stats.staleness_refusals, 0,
        "{STALENESS_REFUSALS} not reached here"
    );
}
