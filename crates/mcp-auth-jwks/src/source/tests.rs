//! The store and its version, seen from inside: after loads, refreshes, failures, refused
//! documents and the maximum staleness, the one store of an issuer holds generation N exactly
//! when N loads succeeded, nothing else ever installs a set, `current` answers with the very
//! set in the store, and no load is left in flight once every caller is done.

use super::{Jwks, JwksKeySource};
use crate::clock::ManualClock;
use crate::fetch::{FetchError, FetchFuture, FetchResponse, Fetcher};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use mcp_auth_core::keys::{Current, KeyError, KeySource};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ISS: &str = "https://as.example.com";
const JWKS: &str = "https://as.example.com/jwks";
const SECOND: Duration = Duration::from_secs(1);

/// Answers every request with the response it holds (a transport error when `None`).
#[derive(Debug, Default)]
struct Scripted(Mutex<Option<FetchResponse>>);

impl Scripted {
    fn serve(&self, response: Option<FetchResponse>) {
        *self.0.lock().unwrap() = response;
    }
}

impl Fetcher for Arc<Scripted> {
    fn get<'a>(&'a self, url: &'a str, _max_bytes: usize) -> FetchFuture<'a> {
        let response = self.0.lock().unwrap().clone();
        Box::pin(async move {
            response.ok_or_else(|| FetchError::Transport {
                url: url.to_owned(),
                reason: "simulated outage".to_owned(),
            })
        })
    }
}

fn jwks(kids: &[&str]) -> FetchResponse {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..]),
    );
    let keys: Vec<_> = kids
        .iter()
        .map(|kid| {
            serde_json::json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                               "kid": kid, "x": x, "y": y})
        })
        .collect();
    FetchResponse::json(serde_json::json!({ "keys": keys }).to_string())
        .with_cache_control("max-age=600")
}

fn issuer(src: &JwksKeySource) -> &Jwks {
    &src.inner.issuers[ISS]
}

/// The store holds `generation` (`0`: nothing), which is the number of successful loads;
/// `current`, when it answers with keys, answers with the store's set; nothing in flight.
fn assert_store(src: &JwksKeySource, generation: u64) {
    let iss = issuer(src);
    let stored = Option::clone(&iss.loaded());
    assert_eq!(stored.as_ref().map_or(0, |c| c.generation), generation);
    let stats = src.stats();
    assert_eq!(stats.fetches - stats.fetch_errors, generation, "{stats:?}");
    if let Current::Keys { keys, .. } = src.current(ISS) {
        let stored = stored.expect("current answered with keys the store does not hold");
        assert!(Arc::ptr_eq(&keys, &stored.keys));
    }
    assert!(iss.lock().inflight.is_none(), "a load was left in flight");
}

/// Lets the spawned loads finish.
async fn settled(src: &JwksKeySource) {
    for _ in 0..10_000 {
        if issuer(src).lock().inflight.is_none() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the load in flight never settled");
}

#[tokio::test]
async fn one_install_per_successful_load_and_current_reads_the_store() {
    let f = Arc::new(Scripted::default());
    let clock = ManualClock::new();
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .fetcher(Arc::clone(&f))
        .clock(clock.clone())
        .max_staleness(3600 * SECOND)
        .build()
        .unwrap();
    assert!(matches!(src.current(ISS), Current::Load));
    assert_store(&src, 0);

    // A failed first load installs nothing (and `current` leaves the back-off to `keys`).
    let r = src.keys(ISS, None).await;
    assert!(matches!(r, Err(KeyError::Unavailable { .. })), "{r:?}");
    assert!(matches!(src.current(ISS), Current::Load));
    assert_store(&src, 0);

    // Past the back-off, 100 concurrent first requests: one load, one install.
    clock.advance(11 * SECOND);
    f.serve(Some(jwks(&["k1"])));
    let sets = futures_util::future::join_all((0..100).map(|_| src.keys(ISS, Some("k1")))).await;
    let first = Arc::clone(sets[0].as_ref().unwrap());
    assert!(
        sets.iter()
            .all(|s| Arc::ptr_eq(s.as_ref().unwrap(), &first))
    );
    assert_store(&src, 1);

    // An unknown kid: one refetch, the next generation.
    f.serve(Some(jwks(&["k1", "k2"])));
    assert!(src.keys(ISS, Some("k2")).await.unwrap().contains_kid("k2"));
    assert_store(&src, 2);
    let second = Option::clone(&issuer(&src).loaded()).unwrap();

    // A refused document (and an outage) replace nothing.
    f.serve(Some(FetchResponse::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "oops",
    )));
    assert!(src.refresh(ISS).await.is_err());
    f.serve(None);
    assert!(src.refresh(ISS).await.is_err());
    assert_store(&src, 2);
    assert!(Arc::ptr_eq(
        &issuer(&src).loaded().as_ref().unwrap().keys,
        &second.keys
    ));

    // An operator's refresh, then a background one past the refresh point (4/5 of 600 s).
    f.serve(Some(jwks(&["k2"])));
    src.refresh(ISS).await.unwrap();
    assert_store(&src, 3);
    clock.advance(481 * SECOND);
    f.serve(Some(jwks(&["k3"])));
    assert!(matches!(src.current(ISS), Current::Load));
    src.keys(ISS, None).await.unwrap();
    settled(&src).await;
    assert!(src.keys(ISS, None).await.unwrap().contains_kid("k3"));
    assert_store(&src, 4);

    // Past the maximum staleness in an outage: refused, the last good set stays in the
    // store (unused), no generation is spent; the recovery installs the next one.
    f.serve(None);
    clock.advance(3601 * SECOND);
    let r = src.keys(ISS, None).await;
    assert!(matches!(r, Err(KeyError::Unavailable { .. })), "{r:?}");
    assert!(matches!(src.current(ISS), Current::Failed(_)));
    assert_store(&src, 4);
    clock.advance(11 * SECOND);
    f.serve(Some(jwks(&["k4"])));
    assert!(src.keys(ISS, None).await.unwrap().contains_kid("k4"));
    assert_store(&src, 5);
    let stats = src.stats();
    assert_eq!((stats.fetches, stats.fetch_errors), (9, 4));
}
