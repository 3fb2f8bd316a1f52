//! Cache behaviour with a counting fake fetcher and a manual clock: no network, no real sleeps.

mod common;

use common::{FakeFetcher, SECOND, jwks, settle};
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::keys::{KeyError, KeySource};
use mcp_auth_jwks::{FetchError, FetchResponse, JwksError, JwksKeySource, ManualClock};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const ISS: &str = "https://as.example.com";
const JWKS: &str = "https://as.example.com/jwks";
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn source(f: &Arc<FakeFetcher>, clock: &ManualClock) -> JwksKeySource {
    JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .fetcher(Arc::clone(f))
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn setup(
    kids: &[&str],
    cache_control: Option<&str>,
) -> (Arc<FakeFetcher>, ManualClock, JwksKeySource) {
    let f = FakeFetcher::new();
    f.set_jwks(JWKS, kids, cache_control);
    let clock = ManualClock::new();
    let src = source(&f, &clock);
    (f, clock, src)
}

async fn keys(src: &JwksKeySource, kid: Option<&str>) -> Arc<KeySet> {
    src.keys(ISS, kid).await.unwrap()
}

/// Lets spawned refreshes finish: yields until `cond` holds on the current key set.
async fn until_keys(src: &JwksKeySource, cond: impl Fn(&KeySet) -> bool) {
    for _ in 0..10_000 {
        if cond(&src.keys(ISS, None).await.unwrap()) {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("key set never satisfied the condition: {:?}", src.stats());
}

/// A small deterministic generator, so the forged kids are unpredictable-looking but the test
/// is reproducible.
fn forged_kids(seed: u64, n: usize) -> Vec<String> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("forged-{x:016x}-{i}")
        })
        .collect()
}

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
    // Every set installed moved the epoch on: 4 loads, 4 epochs.
    assert_eq!(KeySource::epoch(&src), Some(4));
}

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
    assert_eq!(KeySource::epoch(&src), Some(0));
    src.warm_up().await.unwrap();
    assert_eq!(KeySource::epoch(&src), Some(1));
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
    // No failed attempt changed the set, so none moved the epoch.
    assert_eq!(KeySource::epoch(&src), Some(1));
    // Recovery.
    f.fail_all(false);
    f.set_jwks(JWKS, &["k2"], Some("max-age=600"));
    clock.advance(11 * SECOND);
    keys(&src, None).await;
    until_keys(&src, |s| s.contains_kid("k2")).await;
    assert_eq!(src.last_error(ISS), None);
    assert_eq!(KeySource::epoch(&src), Some(2));
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

fn metadata(issuer: &str, jwks_uri: &str) -> FetchResponse {
    FetchResponse::json(json!({"issuer": issuer, "jwks_uri": jwks_uri}).to_string())
}

#[tokio::test]
async fn discovery_rfc8414_path_insertion() {
    const T1: &str = "https://as.example.com/tenant1";
    const META: &str = "https://as.example.com/.well-known/oauth-authorization-server/tenant1";
    const KEYS: &str = "https://keys.example.com/tenant1/jwks";
    let f = FakeFetcher::new();
    f.set(META, metadata(T1, KEYS));
    f.set_jwks(KEYS, &["t1"], None);
    let src = JwksKeySource::builder()
        .issuer(T1)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert_eq!(f.urls(), [META, KEYS]);
    assert!(src.keys(T1, Some("t1")).await.unwrap().contains_kid("t1"));
    // The discovered jwks_uri is reused.
    src.refresh(T1).await.unwrap();
    assert_eq!((f.count(META), f.count(KEYS)), (1, 2));
    let s = src.stats();
    assert_eq!((s.discovery_fetches, s.fetches), (1, 2));
}

#[tokio::test]
async fn discovery_falls_back_to_openid_connect() {
    const T2: &str = "https://as.example.com/tenant2";
    const IDP: &str = "https://idp.example.com";
    let f = FakeFetcher::new();
    // Path issuer: RFC 8414 and OIDC insertion answer 404, OIDC appending answers.
    f.set(
        "https://as.example.com/tenant2/.well-known/openid-configuration",
        metadata(T2, "https://as.example.com/tenant2/keys"),
    );
    f.set_jwks("https://as.example.com/tenant2/keys", &["t2"], None);
    // Host-only issuer: RFC 8414 answers an HTML page, OIDC answers.
    f.set(
        "https://idp.example.com/.well-known/oauth-authorization-server",
        FetchResponse::new(http::StatusCode::OK, "<html>login</html>")
            .with_content_type("text/html"),
    );
    f.set(
        "https://idp.example.com/.well-known/openid-configuration",
        metadata(IDP, "https://idp.example.com/jwks"),
    );
    f.set_jwks("https://idp.example.com/jwks", &["idp"], None);
    let src = JwksKeySource::builder()
        .issuer(T2)
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert!(src.keys(T2, Some("t2")).await.unwrap().contains_kid("t2"));
    assert!(
        src.keys(IDP, Some("idp"))
            .await
            .unwrap()
            .contains_kid("idp")
    );
    for url in [
        "https://as.example.com/.well-known/oauth-authorization-server/tenant2",
        "https://as.example.com/.well-known/openid-configuration/tenant2",
        "https://as.example.com/tenant2/.well-known/openid-configuration",
        "https://idp.example.com/.well-known/oauth-authorization-server",
        "https://idp.example.com/.well-known/openid-configuration",
    ] {
        assert_eq!(f.count(url), 1, "{url}");
    }
}

#[tokio::test]
async fn discovery_refuses_a_mismatching_issuer() {
    const T1: &str = "https://as.example.com/tenant1";
    const META: &str = "https://as.example.com/.well-known/oauth-authorization-server/tenant1";
    for found in [
        "https://evil.example.com/tenant1",
        "https://as.example.com/tenant1/",
        "https://AS.example.com/tenant1",
        "https://as.example.com",
    ] {
        let f = FakeFetcher::new();
        f.set(META, metadata(found, "https://as.example.com/jwks"));
        f.set_jwks("https://as.example.com/jwks", &["k1"], None);
        // An OIDC document with the right issuer must not rescue a mismatching RFC 8414 one.
        f.set(
            "https://as.example.com/.well-known/openid-configuration/tenant1",
            metadata(T1, "https://as.example.com/jwks"),
        );
        let src = JwksKeySource::builder()
            .issuer(T1)
            .fetcher(Arc::clone(&f))
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let err = src.warm_up().await.unwrap_err();
        assert!(
            matches!(&err, JwksError::IssuerMismatch { found: f, expected, .. } if f == found && expected == T1),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("names issuer") && msg.contains("refused"),
            "{msg}"
        );
        assert_eq!(
            src.stats().fetches,
            0,
            "no JWKS fetched for a refused issuer"
        );
        let Err(KeyError::Unavailable { reason, .. }) = src.keys(T1, None).await else {
            panic!("expected Unavailable");
        };
        assert!(reason.contains("names issuer"), "{reason}");
    }
}

#[tokio::test]
async fn discovery_errors_are_clear() {
    const IDP: &str = "https://idp.example.com";
    // Nothing found anywhere.
    let f = FakeFetcher::new();
    let src = JwksKeySource::builder()
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(matches!(err, JwksError::Discovery { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("oauth-authorization-server answered HTTP 404")
            && msg.contains("openid-configuration answered HTTP 404"),
        "{msg}"
    );
    // A discovered jwks_uri on plain http is refused.
    f.set(
        "https://idp.example.com/.well-known/oauth-authorization-server",
        metadata(IDP, "http://idp.example.com/jwks"),
    );
    let src = JwksKeySource::builder()
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(matches!(err, JwksError::InvalidUrl { .. }), "{err:?}");
    // No jwks_uri.
    f.set(
        "https://idp.example.com/.well-known/oauth-authorization-server",
        FetchResponse::json(json!({"issuer": IDP}).to_string()),
    );
    let src = JwksKeySource::builder()
        .issuer(IDP)
        .fetcher(Arc::clone(&f))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(err.to_string().contains("no `jwks_uri`"), "{err}");
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

/// `cached` (the synchronous question validators ask first) answers from memory exactly when
/// `keys` would do no I/O, with the same set and the same bookkeeping, and `None` otherwise.
#[tokio::test]
async fn cached_answers_from_memory_only_when_keys_would_not_fetch() {
    let (f, clock, src) = setup(&["k1"], Some("max-age=600"));
    // Nothing loaded: only `keys` may load. An issuer that is not configured is refused.
    assert!(src.cached(ISS, None).is_none());
    assert!(matches!(
        src.cached("https://other.example.com", None),
        Some(Err(KeyError::UnknownIssuer))
    ));
    assert_eq!(f.total(), 0);
    src.warm_up().await.unwrap();

    // Loaded and fresh: the very set `keys` returns, counted as a hit.
    let hits = src.stats().hits;
    let set = src.cached(ISS, Some("k1")).unwrap().unwrap();
    assert!(Arc::ptr_eq(&set, &keys(&src, Some("k1")).await));
    assert!(src.cached(ISS, None).unwrap().is_ok());
    assert_eq!(src.stats().hits, hits + 3);

    // An unknown kid while a refetch is allowed: left to `keys`, which refetches once.
    assert!(src.cached(ISS, Some("x1")).is_none());
    assert_eq!(f.total(), 1);
    keys(&src, Some("x1")).await;
    assert_eq!(f.total(), 2);

    // Within the cooldown: answered from memory, counted and remembered like `keys` does.
    let rejections = src.stats().cooldown_rejections;
    for kid in forged_kids(0xabc, 1000) {
        let set = src.cached(ISS, Some(&kid)).unwrap().unwrap();
        assert!(!set.contains_kid(&kid) && set.contains_kid("k1"));
    }
    assert_eq!(src.stats().cooldown_rejections, rejections + 1000);
    clock.advance(59 * SECOND);
    assert!(src.cached(ISS, Some("late")).is_some());
    clock.advance(2 * SECOND); // the cooldown is over, `late` is still remembered
    assert!(src.cached(ISS, Some("late")).is_some());
    assert!(src.cached(ISS, Some("new-after-window")).is_none());
    assert_eq!(f.total(), 2);

    // Past the refresh point (4/5 of 600 s): `keys` must start the refresh, so no answer...
    clock.advance(480 * SECOND);
    assert!(src.cached(ISS, None).is_none());
    f.close_gate();
    f.set_jwks(JWKS, &["k1", "k2"], Some("max-age=600"));
    assert!(keys(&src, None).await.contains_kid("k1"));
    // ...while it is in flight, memory answers again with the set being refreshed...
    let set = src.cached(ISS, Some("k1")).unwrap().unwrap();
    assert!(!set.contains_kid("k2"));
    f.open_gate();
    settle(&src, |s| s.fetches == 3).await;
    // ...and once it is done, with the new set, without another fetch.
    for _ in 0..10_000 {
        if src
            .cached(ISS, Some("k2"))
            .is_some_and(|r| r.unwrap().contains_kid("k2"))
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        src.cached(ISS, Some("k2"))
            .unwrap()
            .unwrap()
            .contains_kid("k2")
    );
    assert_eq!(f.total(), 3);

    // During an outage past the refresh point: the last good set, from memory, after the
    // one failed attempt `keys` makes.
    f.fail_all(true);
    clock.advance(601 * SECOND);
    assert!(src.cached(ISS, None).is_none());
    keys(&src, None).await;
    settle(&src, |s| s.fetch_errors == 1).await;
    let stale = src.stats().stale_serves;
    assert!(
        src.cached(ISS, Some("k1"))
            .unwrap()
            .unwrap()
            .contains_kid("k1")
    );
    assert_eq!(src.stats().stale_serves, stale + 1);
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
/// by `keys` and by `cached` alike; within it they are always served; once the issuer is
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
        src.cached(ISS, Some("k1"))
            .unwrap()
            .unwrap()
            .contains_kid("k1")
    );
    // An unknown kid still gets the last good set (401), not 503.
    assert!(!keys(&src, Some("k9")).await.contains_kid("k9"));
    let epoch = KeySource::epoch(&src).unwrap();
    assert!(src.cached(ISS, None).unwrap().is_ok());
    assert_eq!(
        KeySource::epoch(&src),
        Some(epoch),
        "far from the end: epoch kept"
    );

    // The last second of the window: still served, and each answer from memory moves the
    // epoch on, so a token cache cannot keep a confirmation made now past the window.
    clock.advance(SECOND);
    assert!(
        src.cached(ISS, Some("k1"))
            .unwrap()
            .unwrap()
            .contains_kid("k1")
    );
    assert!(KeySource::epoch(&src).unwrap() > epoch);
    assert!(keys(&src, Some("k1")).await.contains_kid("k1"));
    assert_eq!(src.stats().staleness_refusals, 0);

    // 24 h after the last successful fetch: refused, while backing off without a fetch
    // (the failed attempt was 2 s ago: Retry-After 8), from memory and through `keys`.
    clock.advance(SECOND);
    let fetches = f.total();
    let r = src.cached(ISS, Some("k1")).expect("answered from memory");
    let (retry, reason) = unavailable(&r);
    assert_eq!(retry, 8);
    assert!(reason.contains("maximum staleness (86400 s)"), "{reason}");
    assert!(reason.contains("simulated outage"), "{reason}");
    assert_eq!(unavailable(&src.keys(ISS, Some("k1")).await).0, 8);
    assert_eq!(unavailable(&src.keys(ISS, Some("k9")).await).0, 8);
    assert_eq!(unavailable(&src.keys(ISS, None).await).0, 8);
    assert_eq!(f.total(), fetches, "no fetch within the back-off");
    assert_eq!(src.stats().staleness_refusals, 4);

    // After the back-off: `keys` waits for a new fetch (`cached` leaves that to it), which
    // fails: 503 with the back-off as Retry-After.
    clock.advance(8 * SECOND);
    assert!(src.cached(ISS, None).is_none());
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
        src.cached(ISS, Some("k1"))
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
