//! Outages and refused documents: the last good keys are served, the back-off, the maximum
//! staleness.
//!
//! Cache behaviour with a counting fake fetcher and a manual clock: no network, no real sleeps.

mod common;

use common::cache::{DAY, HOUR, ISS, JWKS, MINUTE, keys, memory, setup, until_keys};
use common::{FakeFetcher, SECOND, jwks, settle};
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::keys::{KeyError, KeySource};
use mcp_auth_jwks::{FetchError, FetchResponse, JwksError, JwksKeySource, ManualClock};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn outage_after_load_serves_last_good_keys() {
    // 48 hours of outage, within a maximum staleness of 72 h (the default 24 h is tested in
    // `keys_past_max_staleness_are_refused_until_the_issuer_recovers`).
    let f = FakeFetcher::new();
    f.set_jwks(JWKS, &["k1"], Some("max-age=600"));
    let clock = ManualClock::new();
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .max_staleness(72 * HOUR)
        .fetcher(Arc::clone(&f))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(memory(&src, None).is_none(), "nothing loaded yet");
    src.warm_up().await.unwrap();
    let loaded = memory(&src, None).unwrap().unwrap();
    f.fail_all(true);
    for hour in 1..=48 {
        clock.advance(Duration::from_secs(3600));
        let set = keys(&src, Some("k1")).await;
        assert!(set.contains_kid("k1"), "hour {hour}");
        settle(&src, |s| s.fetch_errors == hour).await;
    }
    let stats = src.stats();
    assert_eq!(stats.stale_serves, 48);
    assert_eq!(
        stats.fetches, 49,
        "one attempt per request past the back-off, no more"
    );
    assert!(matches!(
        src.last_error(ISS),
        Some(JwksError::Fetch(FetchError::Transport { .. }))
    ));
    // Within the back-off, no new attempt.
    keys(&src, Some("k1")).await;
    assert_eq!(src.stats().fetches, 49);
    // An unknown kid during the outage gets the last good set (401), not Unavailable (503).
    let set = src.keys(ISS, Some("k9")).await.unwrap();
    assert!(!set.contains_kid("k9") && set.contains_kid("k1"));
    // No failed attempt changed the set.
    assert!(Arc::ptr_eq(&memory(&src, None).unwrap().unwrap(), &loaded));
    // Recovery.
    f.fail_all(false);
    f.set_jwks(JWKS, &["k2"], Some("max-age=600"));
    clock.advance(11 * SECOND);
    keys(&src, None).await;
    until_keys(&src, |s| s.contains_kid("k2")).await;
    assert_eq!(src.last_error(ISS), None);
    assert!(!Arc::ptr_eq(&memory(&src, None).unwrap().unwrap(), &loaded));
    let stale = src.stats().stale_serves;
    keys(&src, None).await;
    assert_eq!(src.stats().stale_serves, stale, "fresh again");
}

#[tokio::test]
async fn outage_before_any_load_is_unavailable() {
    let (f, clock, src) = setup(&["k1"], None);
    f.fail_all(true);
    let results = futures_util::future::join_all((0..100).map(|_| src.keys(ISS, Some("k1")))).await;
    for r in results {
        let Err(KeyError::Unavailable {
            retry_after,
            reason,
        }) = r
        else {
            panic!("expected Unavailable, got {r:?}");
        };
        assert_eq!(retry_after, 10);
        assert!(reason.contains("simulated outage"), "{reason}");
    }
    assert_eq!(f.total(), 1, "concurrent misses share the failed fetch");

    // Backing off: no fetch, and Retry-After counts down.
    clock.advance(4 * SECOND);
    let r = src.keys(ISS, None).await;
    assert!(
        matches!(r, Err(KeyError::Unavailable { retry_after: 6, .. })),
        "{r:?}"
    );
    assert_eq!(f.total(), 1);
    clock.advance(7 * SECOND);
    assert!(src.keys(ISS, None).await.is_err());
    assert_eq!(f.total(), 2);
    assert!(matches!(
        src.warm_up().await,
        Err(JwksError::Fetch(FetchError::Transport { .. }))
    ));

    f.fail_all(false);
    clock.advance(11 * SECOND);
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
}

#[tokio::test]
async fn refused_documents_keep_the_last_good_keys() {
    let many: Vec<String> = (0..33).map(|i| format!("k{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let cases: Vec<(
        &str,
        Result<FetchResponse, FetchError>,
        fn(&JwksError) -> bool,
        &str,
    )> = vec![
        (
            "html",
            Ok(
                FetchResponse::new(http::StatusCode::OK, "<!doctype html><html>Sign in</html>")
                    .with_content_type("text/html; charset=utf-8"),
            ),
            |e| matches!(e, JwksError::ContentType { .. }),
            "text/html",
        ),
        (
            "no content type",
            Ok(FetchResponse::new(http::StatusCode::OK, jwks(&["k2"]))),
            |e| {
                matches!(
                    e,
                    JwksError::ContentType {
                        content_type: None,
                        ..
                    }
                )
            },
            "not JSON",
        ),
        (
            "too many keys",
            Ok(FetchResponse::json(jwks(&many))),
            |e| {
                matches!(
                    e,
                    JwksError::Jwks {
                        source: mcp_auth_core::jwk::JwkError::TooManyKeys { count: 33, max: 32 },
                        ..
                    }
                )
            },
            "33 keys",
        ),
        (
            "oversize",
            Ok(FetchResponse::json(format!(
                "{{\"keys\":[],\"pad\":\"{}\"}}",
                "x".repeat(300 * 1024)
            ))),
            |e| {
                matches!(
                    e,
                    JwksError::Fetch(FetchError::TooLarge { limit: 262_144, .. })
                )
            },
            "larger than the 262144-byte cap",
        ),
        (
            "redirect to http",
            Err(FetchError::Redirect {
                url: JWKS.to_owned(),
                reason: "redirect from https to plain http (http://as.example.com/jwks) refused"
                    .to_owned(),
            }),
            |e| matches!(e, JwksError::Fetch(FetchError::Redirect { .. })),
            "https to plain http",
        ),
        (
            "server error",
            Ok(FetchResponse::new(http::StatusCode::BAD_GATEWAY, "")),
            |e| matches!(e, JwksError::Status { status, .. } if status.as_u16() == 502),
            "HTTP 502",
        ),
        (
            "no usable key",
            Ok(FetchResponse::json(
                json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}).to_string(),
            )),
            |e| {
                matches!(
                    e,
                    JwksError::Jwks {
                        source: mcp_auth_core::jwk::JwkError::NoUsableKeys,
                        ..
                    }
                )
            },
            "no usable signature key",
        ),
        (
            "not a jwks",
            Ok(FetchResponse::json("{\"error\":\"nope\"}")),
            |e| {
                matches!(
                    e,
                    JwksError::Jwks {
                        source: mcp_auth_core::jwk::JwkError::Malformed(_),
                        ..
                    }
                )
            },
            "not a JWK Set",
        ),
    ];
    for (name, bad, is_expected, text) in cases {
        let (f, _clock, src) = setup(&["k1"], None);
        src.warm_up().await.unwrap();
        match bad.clone() {
            Ok(resp) => f.set(JWKS, resp),
            Err(e) => f.set_error(JWKS, e),
        }
        let err = src.refresh(ISS).await.unwrap_err();
        assert!(is_expected(&err), "{name}: {err:?}");
        assert!(err.to_string().contains(text), "{name}: {err}");
        assert_eq!(src.last_error(ISS).as_ref(), Some(&err), "{name}");
        let set = keys(&src, Some("k1")).await;
        assert!(set.contains_kid("k1"), "{name}: last good keys kept");
        // An unknown kid while the issuer serves junk: the last good set, no error.
        assert!(!keys(&src, Some("k2")).await.contains_kid("k2"), "{name}");

        // Never loaded: the same refusal comes out of warm_up, and requests get 503.
        let (f, _clock, src) = setup(&["k1"], None);
        match bad {
            Ok(resp) => f.set(JWKS, resp),
            Err(e) => f.set_error(JWKS, e),
        }
        let err = src.warm_up().await.unwrap_err();
        assert!(is_expected(&err), "{name}: {err:?}");
        assert!(matches!(
            src.keys(ISS, Some("k1")).await,
            Err(KeyError::Unavailable { .. })
        ));
    }
}

fn unavailable(r: &Result<Arc<KeySet>, KeyError>) -> (u32, &str) {
    match r {
        Err(KeyError::Unavailable {
            retry_after,
            reason,
        }) => (*retry_after, reason.as_str()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Stale-while-error has an end: keys that could not be revalidated for the maximum
/// staleness (24 h by default, counted from the last successful fetch) are no longer used,
/// by `keys` and by `current` alike; within it they are always served; once the issuer is
/// back the next request after the back-off gets the new set.
#[tokio::test]
async fn keys_past_max_staleness_are_refused_until_the_issuer_recovers() {
    let (f, clock, src) = setup(&["k1"], Some("max-age=600"));
    src.warm_up().await.unwrap();
    f.fail_all(true);

    // Within the window, stale and unrevalidated: served, from memory too.
    clock.advance(DAY - 2 * SECOND);
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    settle(&src, |s| s.fetch_errors == 1).await; // the background refresh failed
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    assert!(
        memory(&src, Some("k1"))
            .unwrap()
            .unwrap()
            .contains_kid("k1")
    );
    // An unknown kid still gets the last good set (401), not 503.
    assert!(!keys(&src, Some("k9")).await.contains_kid("k9"));
    assert!(memory(&src, None).unwrap().is_ok());

    // The last second of the window: still served, from memory and by `keys`. (The old
    // `epoch`, which had to move on here for the token cache's confirmations, is gone: a
    // cache hit now reads `current` every time, so it sees the refusal below at once.)
    clock.advance(SECOND);
    assert!(
        memory(&src, Some("k1"))
            .unwrap()
            .unwrap()
            .contains_kid("k1")
    );
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    assert_eq!(src.stats().staleness_refusals, 0);

    // 24 h after the last successful fetch: refused, while backing off without a fetch
    // (the failed attempt was 2 s ago: Retry-After 8), from memory and through `keys`.
    clock.advance(SECOND);
    let fetches = f.total();
    let r = memory(&src, Some("k1")).expect("answered from memory");
    let (retry, reason) = unavailable(&r);
    assert_eq!(retry, 8);
    assert!(reason.contains("maximum staleness (86400 s)"), "{reason}");
    assert!(reason.contains("simulated outage"), "{reason}");
    assert_eq!(unavailable(&src.keys(ISS, Some("k1")).await).0, 8);
    assert_eq!(unavailable(&src.keys(ISS, Some("k9")).await).0, 8);
    assert_eq!(unavailable(&src.keys(ISS, None).await).0, 8);
    assert_eq!(f.total(), fetches, "no fetch within the back-off");
    assert_eq!(src.stats().staleness_refusals, 4);

    // After the back-off: `keys` waits for a new fetch (`current` leaves that to it), which
    // fails: 503 with the back-off as Retry-After.
    clock.advance(8 * SECOND);
    assert!(memory(&src, None).is_none());
    let r = src.keys(ISS, Some("k1")).await;
    assert_eq!(unavailable(&r).0, 10);
    assert_eq!(f.total(), fetches + 1);
    assert_eq!(src.stats().staleness_refusals, 5);

    // Recovery: the first request after the back-off waits for the fetch and is served the
    // new set; the window starts again from that fetch.
    f.fail_all(false);
    f.set_jwks(JWKS, &["k1", "k2"], Some("max-age=600"));
    clock.advance(10 * SECOND);
    assert!(keys(&src, Some("k2")).await.contains_kid("k2"));
    assert_eq!(f.total(), fetches + 2);
    assert!(
        memory(&src, Some("k1"))
            .unwrap()
            .unwrap()
            .contains_kid("k1")
    );
    assert_eq!(src.last_error(ISS), None);
    assert_eq!(src.stats().staleness_refusals, 5);
}

/// The maximum staleness is configurable; a key set's lifetime is capped to it, so the
/// refresh always comes before it; it must be positive and at most 10 years.
#[tokio::test]
async fn max_staleness_is_configurable_and_caps_the_lifetime() {
    let f = FakeFetcher::new();
    f.set_jwks(JWKS, &["k1"], Some("max-age=3600"));
    let clock = ManualClock::new();
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .max_staleness(10 * MINUTE)
        .fetcher(Arc::clone(&f))
        .clock(clock.clone())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    // Fresh for 10 min (not the 1 h of max-age): the refresh starts at 8 min.
    clock.advance(8 * MINUTE - SECOND);
    keys(&src, Some("k1")).await;
    assert_eq!(src.stats().background_refreshes, 0);
    f.fail_all(true);
    clock.advance(SECOND);
    keys(&src, Some("k1")).await;
    assert_eq!(src.stats().background_refreshes, 1);
    settle(&src, |s| s.fetch_errors == 1).await;
    clock.advance(2 * MINUTE - SECOND);
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    clock.advance(SECOND);
    assert!(matches!(
        src.keys(ISS, Some("k1")).await,
        Err(KeyError::Unavailable { .. })
    ));

    let b = || {
        JwksKeySource::builder()
            .issuer_with_jwks_uri(ISS, JWKS)
            .fetcher(Arc::clone(&f))
    };
    assert!(matches!(
        b().max_staleness(Duration::ZERO).build(),
        Err(JwksError::InvalidConfig(_))
    ));
    assert!(matches!(
        b().max_staleness(Duration::MAX).build(),
        Err(JwksError::InvalidConfig(_))
    ));
    assert_eq!(mcp_auth_jwks::DEFAULT_MAX_STALENESS, DAY);
}
