//! The maximum staleness of the JWKS key source, through the layer: keys that could not be
//! revalidated are used for at most that long after their last successful fetch, and
//! verified-token cache hits on them stop with them. Both clocks (the key source's and the
//! validator's) are moved by hand: no sleep.
#![cfg(feature = "jwks")]

use axum::body::Body;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{Request, Response};
use mcp_auth::{ConfigError, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
use mcp_auth_jwks::{FetchError, FetchFuture, FetchResponse, Fetcher, JwksKeySource, ManualClock};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const JWKS: &str = "https://auth.example.com/jwks";
const DAY: u64 = 24 * 3600;

/// Serves the authority's JWKS, or fails every request while `failing`.
#[derive(Debug)]
struct AuthorityJwks {
    jwks: String,
    failing: AtomicBool,
    fetches: AtomicUsize,
}

impl Fetcher for AuthorityJwks {
    fn get<'a>(&'a self, url: &'a str, _max_bytes: usize) -> FetchFuture<'a> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let r = if self.failing.load(Ordering::SeqCst) {
            Err(FetchError::Transport {
                url: url.to_owned(),
                reason: "connection refused (simulated outage)".to_owned(),
            })
        } else {
            Ok(FetchResponse::json(self.jwks.clone()).with_cache_control("max-age=600"))
        };
        Box::pin(std::future::ready(r))
    }
}

async fn status(layer: &McpAuthLayer, token: &str) -> (u16, Option<String>) {
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(
        |_r: Request<mcp_auth::RequestBody<Body>>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        },
    );
    let req = Request::post("/mcp")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let retry = res
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), retry)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Lets the key source's spawned refresh run until it has failed `n` times.
async fn until_errors(src: &JwksKeySource, n: u64) {
    for _ in 0..10_000 {
        if src.stats().fetch_errors >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{:?}", src.stats());
}

#[tokio::test]
async fn stale_keys_and_their_cache_hits_stop_at_max_staleness() {
    let a = TestAuthority::new(ISS);
    let fetcher = Arc::new(AuthorityJwks {
        jwks: a.jwks().to_string(),
        failing: AtomicBool::new(false),
        fetches: AtomicUsize::new(0),
    });
    let keys_clock = ManualClock::new();
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .fetcher(Arc::clone(&fetcher))
        .clock(keys_clock.clone())
        .build()
        .unwrap();
    let clock = Arc::new(AtomicI64::new(now()));
    let layer = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(src.clone())
        .token_cache(100)
        .clock({
            let c = Arc::clone(&clock);
            move || c.load(Ordering::SeqCst)
        })
        .build()
        .unwrap();
    layer.warm_up().await.unwrap();
    // Both clocks move together, as the system clocks do.
    let advance = |secs: u64| {
        keys_clock.advance(Duration::from_secs(secs));
        clock.fetch_add(secs as i64, Ordering::SeqCst);
    };

    let cached = a.token().aud(RES).expires_in(3 * DAY as i64).sign();
    for _ in 0..3 {
        assert_eq!(status(&layer, &cached).await.0, 200);
    }
    assert_eq!(layer.token_cache_len(), 1, "admitted at its second use");

    // The issuer goes down. Within the window the stale keys are used, from the cache and
    // for a token never seen.
    fetcher.failing.store(true, Ordering::SeqCst);
    advance(DAY - 2);
    assert_eq!(status(&layer, &cached).await.0, 200);
    until_errors(&src, 1).await; // the refresh that request started failed
    assert_eq!(status(&layer, &cached).await.0, 200);
    let fresh = a.token().aud(RES).expires_in(3 * DAY as i64).sign();
    assert_eq!(status(&layer, &fresh).await.0, 200);

    // The last second of the window: still accepted (the hit confirms its key with the
    // source)...
    advance(1);
    assert_eq!(status(&layer, &cached).await.0, 200);
    assert_eq!(status(&layer, &fresh).await.0, 200);
    // ...and the window ends within the validator's second: the confirmation just made
    // must not carry the hit past it.
    keys_clock.advance(Duration::from_secs(1));
    assert_eq!(
        status(&layer, &cached).await,
        (503, Some("8".to_owned())),
        "cache hit on keys past max staleness"
    );
    // Both tokens used twice so far are cached: refused, not forgotten.
    assert_eq!(layer.token_cache_len(), 2);
    assert_eq!(status(&layer, &fresh).await, (503, Some("8".to_owned())));
    let other = a.token().aud(RES).expires_in(3 * DAY as i64).sign();
    assert_eq!(status(&layer, &other).await, (503, Some("8".to_owned())));
    clock.fetch_add(1, Ordering::SeqCst);
    assert_eq!(status(&layer, &cached).await, (503, Some("8".to_owned())));

    // Past the back-off the request waits for a new fetch; it fails: 503 again.
    advance(8);
    let fetches = fetcher.fetches.load(Ordering::SeqCst);
    assert_eq!(status(&layer, &cached).await, (503, Some("10".to_owned())));
    assert_eq!(fetcher.fetches.load(Ordering::SeqCst), fetches + 1);

    // The issuer recovers: the first request after the back-off is accepted, and so are the
    // cached tokens, from the cache.
    fetcher.failing.store(false, Ordering::SeqCst);
    advance(10);
    assert_eq!(status(&layer, &cached).await.0, 200);
    assert_eq!(fetcher.fetches.load(Ordering::SeqCst), fetches + 2);
    assert_eq!(status(&layer, &fresh).await.0, 200);
    assert_eq!(status(&layer, &cached).await.0, 200);
    assert_eq!(status(&layer, &other).await.0, 200);
    assert_eq!(src.stats().staleness_refusals, 5);
}

/// The builder passes its setting to the JWKS key source it builds.
#[test]
fn max_key_staleness_reaches_the_default_key_source() {
    let b = || McpAuthLayer::builder(RES).issuer(ISS);
    assert!(
        b().max_key_staleness(Duration::from_secs(3600))
            .build()
            .is_ok()
    );
    assert!(matches!(
        b().max_key_staleness(Duration::ZERO).build(),
        Err(ConfigError::Jwks(mcp_auth_jwks::JwksError::InvalidConfig(
            _
        )))
    ));
}
