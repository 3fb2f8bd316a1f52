//! Loading key sets: one fetch for a thousand first requests, isolated issuers, shared
//! clones, a bad key in a set, the builder's checks, no tokio runtime, and `current` (the
//! synchronous lookup).
//!
//! Cache behaviour with a counting fake fetcher and a manual clock: no network, no real sleeps.

mod common;

use common::cache::{ISS, JWKS, MINUTE, forged_kids, keys, memory, memory_of, setup, source};
use common::{FakeFetcher, SECOND, settle};
use mcp_auth_core::keys::{KeyError, KeySource};
use mcp_auth_jwks::{FetchResponse, JwksError, JwksKeySource, ManualClock};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_first_requests_fetch_once() {
    let (f, _clock, src) = setup(&["k1"], None);
    f.close_gate();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let src = src.clone();
            tokio::spawn(async move { src.keys(ISS, Some("k1")).await })
        })
        .collect();
    // Every request is waiting on the (held) first fetch.
    // A safety bound only: the loop yields, it does not sleep.
    tokio::time::timeout(Duration::from_secs(60), async {
        while src.stats().misses < 1000 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every request reached the cache");
    assert_eq!(src.stats().misses, 1000);
    f.open_gate();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().contains_kid("k1"));
    }
    assert_eq!(f.total(), 1, "one HTTP fetch for 1000 concurrent misses");
    assert_eq!(src.stats().fetches, 1);
    // Later requests are hits.
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    assert_eq!(f.total(), 1);
}

#[tokio::test]
async fn two_issuers_are_isolated_and_unknown_issuers_never_fetch() {
    const A: &str = "https://a.example.com";
    const A_JWKS: &str = "https://a.example.com/jwks";
    const B: &str = "https://b.example.com/tenant";
    const B_JWKS: &str = "https://b.example.com/jwks";
    let f = FakeFetcher::new();
    f.set_jwks(A_JWKS, &["a1"], None);
    f.set_jwks(B_JWKS, &["b1"], None);
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(A, A_JWKS)
        .issuer_with_jwks_uri(B, B_JWKS)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();

    for iss in [
        "https://evil.example.com",
        "https://a.example.com/",
        "HTTPS://A.EXAMPLE.COM",
        "https://b.example.com",
        "",
    ] {
        assert_eq!(
            src.keys(iss, Some("a1")).await.err(),
            Some(KeyError::UnknownIssuer),
            "{iss:?}"
        );
    }
    assert_eq!(f.total(), 0, "an unconfigured issuer causes no fetch");

    src.warm_up().await.unwrap();
    assert_eq!((f.count(A_JWKS), f.count(B_JWKS)), (1, 1));
    let a = src.keys(A, Some("a1")).await.unwrap();
    let b = src.keys(B, Some("b1")).await.unwrap();
    assert!(a.contains_kid("a1") && !a.contains_kid("b1"));
    assert!(b.contains_kid("b1") && !b.contains_kid("a1"));
    // B's kid presented with A's issuer: A is refetched (unknown kid), B's keys never used.
    let a = src.keys(A, Some("b1")).await.unwrap();
    assert!(!a.contains_kid("b1"));
    assert_eq!((f.count(A_JWKS), f.count(B_JWKS)), (2, 1));
    let mut issuers: Vec<_> = src.issuers().collect();
    issuers.sort_unstable();
    assert_eq!(issuers, [A, B]);
}

#[tokio::test]
async fn clones_share_one_cache() {
    let (f, _clock, src) = setup(&["k1"], None);
    let other = src.clone();
    src.warm_up().await.unwrap();
    assert!(
        other
            .keys(ISS, Some("k1"))
            .await
            .unwrap()
            .contains_kid("k1")
    );
    assert_eq!(f.total(), 1);
    assert_eq!(other.stats(), src.stats());
}

#[tokio::test]
async fn one_bad_key_does_not_discard_the_set() {
    let f = FakeFetcher::new();
    let mut wrong_alg = common::ec_jwk("ec-says-rs256");
    wrong_alg["alg"] = json!("RS256");
    let mut enc = common::ec_jwk("enc");
    enc["use"] = json!("enc");
    let doc = json!({"keys": [
        common::ec_jwk("good"),
        wrong_alg,
        enc,
        {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
        {"kty": 5},
    ]});
    f.set(
        JWKS,
        FetchResponse::json(doc.to_string()).with_content_type("application/jwk-set+json"),
    );
    let src = source(&f, &ManualClock::new());
    let set = src.keys(ISS, Some("good")).await.unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.contains_kid("good"));
}

#[test]
fn builder_refuses_bad_configuration() {
    let f = FakeFetcher::new();
    let b = || JwksKeySource::builder().fetcher(Arc::clone(&f));
    assert_eq!(b().build().unwrap_err(), JwksError::NoIssuers);
    assert_eq!(
        b().issuer(ISS)
            .issuer_with_jwks_uri(ISS, JWKS)
            .build()
            .unwrap_err(),
        JwksError::DuplicateIssuer(ISS.to_owned())
    );
    let err = b().issuer("http://as.example.com").build().unwrap_err();
    assert!(matches!(err, JwksError::InvalidIssuer { .. }), "{err:?}");
    assert!(err.to_string().contains("allow_insecure_http"), "{err}");
    assert!(
        b().issuer("http://as.example.com")
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    assert!(b().issuer("http://127.0.0.1:8080").build().is_ok());
    assert!(b().issuer("https://as.example.com/?x=1").build().is_err());
    let err = b()
        .issuer_with_jwks_uri(ISS, "http://as.example.com/jwks")
        .build()
        .unwrap_err();
    assert!(matches!(err, JwksError::InvalidUrl { .. }), "{err:?}");
    assert!(matches!(
        b().issuer(ISS)
            .min_ttl(Duration::from_secs(600))
            .max_ttl(Duration::from_secs(60))
            .build(),
        Err(JwksError::InvalidConfig(_))
    ));
    assert!(matches!(
        b().issuer(ISS).algorithms(&[]).build(),
        Err(JwksError::InvalidConfig(_))
    ));
    assert!(matches!(
        b().issuer(ISS).max_keys(0).build(),
        Err(JwksError::InvalidConfig(_))
    ));
    assert!(matches!(
        b().issuer(ISS).kid_cooldown(Duration::MAX).build(),
        Err(JwksError::InvalidConfig(_))
    ));
    // An explicit jwks_uri allows any non-empty issuer string.
    assert!(
        b().issuer_with_jwks_uri("urn:example:issuer", JWKS)
            .build()
            .is_ok()
    );
}

#[test]
fn keys_without_a_tokio_runtime() {
    // A refresh with no runtime to spawn on is done inline by the request.
    let (f, clock, src) = setup(&["k1"], None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(src.warm_up()).unwrap();
    drop(rt);
    f.set_jwks(JWKS, &["k2"], None);
    clock.advance(4 * MINUTE + SECOND);
    let set = futures_util::FutureExt::now_or_never(src.keys(ISS, None));
    let set = set
        .expect("the fake fetcher completes without a runtime")
        .unwrap();
    assert!(set.contains_kid("k2"));
    assert_eq!(f.total(), 2);
}

/// `current` (the plain read the validation state machine asks first) answers from memory
/// exactly when `keys` would do no I/O, with the same set, and leaves everything else to
/// `keys`. Behaviour change of issue 14: it keeps no books of its own (the old `cached`
/// counted cooldown rejections and filled the negative cache): `keys` alone does, and a kid
/// refused from memory in the cooldown is counted as a hit, never as a fetch.
#[tokio::test]
async fn current_answers_from_memory_only_when_keys_would_not_fetch() {
    let (f, clock, src) = setup(&["k1"], Some("max-age=600"));
    // Nothing loaded: only `keys` may load. An issuer that is not configured is refused.
    assert!(memory(&src, None).is_none());
    assert!(matches!(
        memory_of(&src, "https://other.example.com", None),
        Some(Err(KeyError::UnknownIssuer))
    ));
    assert_eq!(f.total(), 0);
    src.warm_up().await.unwrap();

    // Loaded and fresh: the very set `keys` returns, counted as a hit.
    let hits = src.stats().hits;
    let set = memory(&src, Some("k1")).unwrap().unwrap();
    assert!(Arc::ptr_eq(&set, &keys(&src, Some("k1")).await));
    assert!(memory(&src, None).unwrap().is_ok());
    assert_eq!(src.stats().hits, hits + 3);

    // An unknown kid while a refetch is allowed: left to `keys`, which refetches once.
    assert!(memory(&src, Some("x1")).is_none());
    assert_eq!(f.total(), 1);
    keys(&src, Some("x1")).await;
    assert_eq!(f.total(), 2);

    // Within the cooldown: answered from memory (the kid is refused there), no fetch.
    let (rejections, hits) = (src.stats().cooldown_rejections, src.stats().hits);
    for kid in forged_kids(0xabc, 1000) {
        let set = memory(&src, Some(&kid)).unwrap().unwrap();
        assert!(!set.contains_kid(&kid) && set.contains_kid("k1"));
    }
    assert_eq!(src.stats().cooldown_rejections, rejections);
    assert_eq!(src.stats().hits, hits + 1000);
    clock.advance(59 * SECOND);
    assert!(memory(&src, Some("late")).is_some());
    // `keys` remembers `late` in its negative cache (the cooldown is still on)...
    assert!(!keys(&src, Some("late")).await.contains_kid("late"));
    assert_eq!(src.stats().cooldown_rejections, rejections + 1);
    clock.advance(2 * SECOND); // the cooldown is over, `late` is still remembered
    // ...so once the cooldown is over, memory sends it to `keys`, which answers from the
    // negative cache without a fetch; a new kid is refetched by `keys`.
    assert!(memory(&src, Some("late")).is_none());
    assert!(!keys(&src, Some("late")).await.contains_kid("late"));
    assert_eq!(src.stats().cooldown_rejections, rejections + 2);
    assert!(memory(&src, Some("new-after-window")).is_none());
    assert_eq!(f.total(), 2);

    // Past the refresh point (4/5 of 600 s): `keys` must start the refresh, so no answer...
    clock.advance(480 * SECOND);
    assert!(memory(&src, None).is_none());
    f.close_gate();
    f.set_jwks(JWKS, &["k1", "k2"], Some("max-age=600"));
    assert!(keys(&src, None).await.contains_kid("k1"));
    // ...while it is in flight, memory answers again with the set being refreshed...
    let set = memory(&src, Some("k1")).unwrap().unwrap();
    assert!(!set.contains_kid("k2"));
    f.open_gate();
    settle(&src, |s| s.fetches == 3).await;
    // ...and once it is done, with the new set, without another fetch.
    for _ in 0..10_000 {
        if memory(&src, Some("k2")).is_some_and(|r| r.unwrap().contains_kid("k2")) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        memory(&src, Some("k2"))
            .unwrap()
            .unwrap()
            .contains_kid("k2")
    );
    assert_eq!(f.total(), 3);

    // During an outage past the refresh point: the last good set, from memory, after the
    // one failed attempt `keys` makes.
    f.fail_all(true);
    clock.advance(601 * SECOND);
    assert!(memory(&src, None).is_none());
    keys(&src, None).await;
    settle(&src, |s| s.fetch_errors == 1).await;
    let stale = src.stats().stale_serves;
    assert!(
        memory(&src, Some("k1"))
            .unwrap()
            .unwrap()
            .contains_kid("k1")
    );
    assert_eq!(src.stats().stale_serves, stale + 1);
}
