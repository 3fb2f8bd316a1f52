//! Issuers configured with one `jwks_uri` share one key set: one fetch, one store, one single
//! flight, one unknown-`kid` cooldown, one back-off and maximum staleness. An issuer with its
//! own URL, and every issuer whose URL is discovered, keeps a set of its own.
//!
//! Cache behaviour with a counting fake fetcher and a manual clock: no network, no real sleeps.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::cache::{forged_kids, memory_of};
use common::{FakeFetcher, SECOND, settle};
use futures_util::future::join_all;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::Algorithm;
use mcp_auth_core::keys::{KeyError, KeySource};
use mcp_auth_jwks::{FetchResponse, JwksKeySource, ManualClock};
use serde_json::{Value, json};
use std::sync::Arc;

/// Two tenants of one provider, both signing with the keys at `SHARED`.
const A: &str = "https://login.example.com/tenant-a/v2.0";
const B: &str = "https://login.example.com/tenant-b/v2.0";
const SHARED: &str = "https://login.example.com/common/discovery/v2.0/keys";
/// An issuer with a URL of its own.
const C: &str = "https://other.example.com";
const OWN: &str = "https://other.example.com/keys";

/// An ES256 signing key and its public JWK.
struct Signer {
    pair: EcdsaKeyPair,
    kid: &'static str,
}

impl Signer {
    fn new(kid: &'static str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Self { pair, kid }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
               "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
               "y": URL_SAFE_NO_PAD.encode(&point[33..])})
    }

    /// The signing input of a token of `iss` and its ES256 signature.
    fn sign(&self, iss: &str) -> (Vec<u8>, Vec<u8>) {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": self.kid}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(json!({"iss": iss, "sub": "alice"}).to_string());
        let input = format!("{header}.{payload}").into_bytes();
        let sig = self.pair.sign(&SystemRandom::new(), &input).unwrap();
        (input, sig.as_ref().to_vec())
    }
}

fn jwks_of(signers: &[&Signer]) -> FetchResponse {
    let keys: Vec<_> = signers.iter().map(|s| s.jwk()).collect();
    FetchResponse::json(json!({ "keys": keys }).to_string()).with_cache_control("max-age=600")
}

/// Whether the key `kid` of `keys` verifies `signed` (a token's signing input and signature).
fn verifies(keys: &KeySet, kid: &str, signed: &(Vec<u8>, Vec<u8>)) -> bool {
    keys.find(kid, Algorithm::ES256)
        .is_some_and(|k| k.verify(Algorithm::ES256, &signed.0, &signed.1))
}

/// `on_shared` with [`SHARED`], and [`C`] with [`OWN`].
fn source(f: &Arc<FakeFetcher>, clock: &ManualClock, on_shared: &[&str]) -> JwksKeySource {
    let mut b = JwksKeySource::builder();
    for iss in on_shared {
        b = b.issuer_with_jwks_uri(*iss, SHARED);
    }
    b.issuer_with_jwks_uri(C, OWN)
        .fetcher(Arc::clone(f))
        .clock(clock.clone())
        .max_staleness(3600 * SECOND)
        .build()
        .unwrap()
}

/// The set `current` answers for `issuer` (panics when it would load first).
fn in_memory(src: &JwksKeySource, issuer: &str) -> Arc<KeySet> {
    memory_of(src, issuer, None)
        .expect("the set is in memory")
        .unwrap()
}

#[tokio::test]
async fn two_issuers_naming_one_jwks_uri_share_one_fetch_and_both_tokens_verify() {
    let shared = Signer::new("common-1");
    let own = Signer::new("own-1");
    let f = FakeFetcher::new();
    f.set(SHARED, jwks_of(&[&shared]));
    f.set(OWN, jwks_of(&[&own]));
    let clock = ManualClock::new();
    let src = source(&f, &clock, &[A, B]);

    // Concurrent first requests for both issuers: one fetch, one set.
    let sets =
        join_all((0..100).map(|i| src.keys(if i % 2 == 0 { A } else { B }, Some("common-1"))))
            .await;
    assert_eq!(f.count(SHARED), 1);
    let first = Arc::clone(sets[0].as_ref().unwrap());
    assert!(
        sets.iter()
            .all(|s| Arc::ptr_eq(s.as_ref().unwrap(), &first))
    );
    assert!(Arc::ptr_eq(&in_memory(&src, A), &in_memory(&src, B)));

    // Each tenant's token verifies with the set its issuer names.
    for iss in [A, B] {
        let keys = src.keys(iss, Some("common-1")).await.unwrap();
        assert!(verifies(&keys, "common-1", &shared.sign(iss)), "{iss}");
    }
    assert_eq!(f.count(SHARED), 1);

    // The issuer with its own URL was not loaded by any of this, and its set holds only its
    // own keys: the shared key verifies nothing of it (RFC 8725 §3.8).
    assert!(memory_of(&src, C, None).is_none());
    assert_eq!(f.count(OWN), 0);
    let c_keys = src.keys(C, Some("own-1")).await.unwrap();
    assert!(!c_keys.contains_kid("common-1"));
    assert!(!verifies(&c_keys, "common-1", &shared.sign(C)));
    assert!(verifies(&c_keys, "own-1", &own.sign(C)));
    assert!(!verifies(&first, "own-1", &own.sign(A)));
    let s = src.stats();
    assert_eq!(
        (f.count(SHARED), f.count(OWN), s.fetches),
        (1, 1, 2),
        "{s:?}"
    );
}

#[tokio::test]
async fn warm_up_fetches_each_shared_set_once() {
    let f = FakeFetcher::new();
    f.set_jwks(SHARED, &["common-1"], None);
    f.set_jwks(OWN, &["own-1"], None);
    let tenants: Vec<String> = (0..16)
        .map(|i| format!("https://login.example.com/tenant-{i}/v2.0"))
        .collect();
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let src = source(&f, &ManualClock::new(), &names);
    src.warm_up().await.unwrap();
    assert_eq!((f.count(SHARED), f.count(OWN)), (1, 1));
    assert_eq!(src.stats().fetches, 2);
    for t in &names {
        assert!(in_memory(&src, t).contains_kid("common-1"), "{t}");
    }
    assert!(!in_memory(&src, C).contains_kid("common-1"));
}

#[tokio::test]
async fn a_rotation_is_seen_by_both_issuers_after_one_refetch() {
    let (k1, k2) = (Signer::new("k1"), Signer::new("k2"));
    let f = FakeFetcher::new();
    f.set(SHARED, jwks_of(&[&k1]));
    f.set_jwks(OWN, &["own-1"], None);
    let clock = ManualClock::new();
    let src = source(&f, &clock, &[A, B]);
    assert!(src.keys(A, Some("k1")).await.unwrap().contains_kid("k1"));
    assert!(in_memory(&src, B).contains_kid("k1"));
    assert_eq!(f.count(SHARED), 1);

    // The provider rotates: B's first token with the new kid refetches, once, for both.
    f.set(SHARED, jwks_of(&[&k1, &k2]));
    let keys = src.keys(B, Some("k2")).await.unwrap();
    assert!(verifies(&keys, "k2", &k2.sign(B)));
    assert_eq!((f.count(SHARED), src.stats().kid_refetches), (2, 1));
    // A sees it from memory, no fetch and no refetch allowed to be needed.
    let a_keys = memory_of(&src, A, Some("k2")).unwrap().unwrap();
    assert!(Arc::ptr_eq(&a_keys, &keys));
    assert!(verifies(&a_keys, "k2", &k2.sign(A)));
    assert_eq!(f.count(SHARED), 2);

    // A background refresh started by A's request is seen by B.
    clock.advance(481 * SECOND);
    f.set(SHARED, jwks_of(&[&k2]));
    src.keys(A, None).await.unwrap();
    settle(&src, |s| s.fetches == 3).await;
    for _ in 0..10_000 {
        if !in_memory(&src, A).contains_kid("k1") {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(in_memory(&src, A).contains_kid("k2"));
    assert!(
        !in_memory(&src, B).contains_kid("k1"),
        "B still holds the removed key"
    );
    assert_eq!(f.count(SHARED), 3);
    // An operator's refresh through B is seen by A.
    let k3 = Signer::new("k3");
    f.set(SHARED, jwks_of(&[&k3]));
    src.refresh(B).await.unwrap();
    assert!(verifies(&in_memory(&src, A), "k3", &k3.sign(A)));
    assert_eq!((f.count(SHARED), f.count(OWN)), (4, 0));
}

#[tokio::test]
async fn a_forged_kid_flood_across_the_issuers_of_one_url_costs_one_fetch_per_cooldown() {
    let f = FakeFetcher::new();
    f.set_jwks(SHARED, &["common-1"], None);
    f.set_jwks(OWN, &["own-1"], None);
    let clock = ManualClock::new();
    let tenants: Vec<String> = (0..8)
        .map(|i| format!("https://login.example.com/tenant-{i}/v2.0"))
        .collect();
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let src = source(&f, &clock, &names);
    src.warm_up().await.unwrap();
    assert_eq!(f.count(SHARED), 1);

    // 400 forged kids at once, spread over the 8 issuers: one refetch for all of them.
    let forged = forged_kids(7, 400);
    let answers = join_all(
        forged
            .iter()
            .enumerate()
            .map(|(i, kid)| src.keys(names[i % 8], Some(kid))),
    )
    .await;
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().unwrap().contains_kid("common-1"))
    );
    assert_eq!(f.count(SHARED), 2);
    assert_eq!(src.stats().kid_refetches, 1);

    // Within the cooldown, every issuer of the set answers from memory (the gate is shared)
    // and no request fetches.
    let more = forged_kids(8, 400);
    for (i, kid) in more.iter().enumerate() {
        let iss = names[i % 8];
        let from_memory = memory_of(&src, iss, Some(kid));
        assert!(
            from_memory.is_some_and(|r| !r.unwrap().contains_kid(kid)),
            "{iss} would refetch"
        );
        assert!(!src.keys(iss, Some(kid)).await.unwrap().contains_kid(kid));
    }
    assert_eq!(f.count(SHARED), 2);
    let s = src.stats();
    assert_eq!(s.kid_refetches, 1, "{s:?}");
    assert!(s.cooldown_rejections >= 400, "{s:?}");

    // The issuer with its own URL has its own cooldown: its unknown kid still refetches.
    assert!(memory_of(&src, C, Some("forged-c")).is_none());
    src.keys(C, Some("forged-c")).await.unwrap();
    assert_eq!((f.count(OWN), f.count(SHARED)), (2, 2));

    // After the cooldown, one more fetch for the whole set, whichever issuer asks.
    clock.advance(61 * SECOND);
    let last = forged_kids(9, 80);
    join_all(
        last.iter()
            .enumerate()
            .map(|(i, kid)| src.keys(names[(i + 3) % 8], Some(kid))),
    )
    .await;
    assert_eq!(f.count(SHARED), 3);
    assert_eq!(src.stats().kid_refetches, 3);
}

#[tokio::test]
async fn an_outage_of_the_shared_url_is_one_outage_and_leaves_the_own_url_alone() {
    let f = FakeFetcher::new();
    f.set_jwks(SHARED, &["common-1"], None);
    f.set_jwks(OWN, &["own-1"], None);
    let clock = ManualClock::new();
    let src = source(&f, &clock, &[A, B]);
    src.warm_up().await.unwrap();

    // The shared URL fails; past the 5 min lifetime both issuers are served the last good
    // set, one failed refresh for both, the error visible through either.
    f.set(
        SHARED,
        FetchResponse::new(http::StatusCode::SERVICE_UNAVAILABLE, "down"),
    );
    clock.advance(301 * SECOND);
    assert!(
        src.keys(A, Some("common-1"))
            .await
            .unwrap()
            .contains_kid("common-1")
    );
    settle(&src, |s| s.fetch_errors == 1).await;
    assert!(
        src.keys(B, Some("common-1"))
            .await
            .unwrap()
            .contains_kid("common-1")
    );
    assert_eq!(
        f.count(SHARED),
        2,
        "B's request started no second refresh (back-off)"
    );
    assert!(src.last_error(A).is_some() && src.last_error(B).is_some());
    assert!(src.stats().stale_serves >= 2);

    // The issuer with its own URL refreshes and serves as usual.
    assert!(
        src.keys(C, Some("own-1"))
            .await
            .unwrap()
            .contains_kid("own-1")
    );
    settle(&src, |s| s.fetches == 4).await;
    assert!(src.last_error(C).is_none());
    assert_eq!(f.count(OWN), 2);

    // Past the maximum staleness (1 h): both refused, after one attempt between them.
    clock.advance(3600 * SECOND);
    let before = f.count(SHARED);
    let r = src.keys(A, Some("common-1")).await;
    assert!(matches!(r, Err(KeyError::Unavailable { .. })), "{r:?}");
    let r = src.keys(B, Some("common-1")).await;
    assert!(matches!(r, Err(KeyError::Unavailable { .. })), "{r:?}");
    assert!(matches!(
        memory_of(&src, B, None),
        Some(Err(KeyError::Unavailable { .. }))
    ));
    assert_eq!(f.count(SHARED), before + 1);
    assert!(src.keys(C, Some("own-1")).await.is_ok());

    // Recovery: one fetch, both served again.
    clock.advance(11 * SECOND);
    f.set_jwks(SHARED, &["common-2"], None);
    assert!(
        src.keys(B, Some("common-2"))
            .await
            .unwrap()
            .contains_kid("common-2")
    );
    assert!(in_memory(&src, A).contains_kid("common-2"));
    assert_eq!(f.count(SHARED), before + 2);
    assert!(src.last_error(A).is_none());
}

#[tokio::test]
async fn issuers_discovered_to_one_url_keep_sets_of_their_own() {
    const D1: &str = "https://as.example.com/t1";
    const D2: &str = "https://as.example.com/t2";
    const KEYS: &str = "https://as.example.com/keys";
    let meta =
        |iss: &str| FetchResponse::json(json!({"issuer": iss, "jwks_uri": KEYS}).to_string());
    let f = FakeFetcher::new();
    f.set(
        "https://as.example.com/.well-known/oauth-authorization-server/t1",
        meta(D1),
    );
    f.set(
        "https://as.example.com/.well-known/oauth-authorization-server/t2",
        meta(D2),
    );
    f.set_jwks(KEYS, &["k1"], None);
    let clock = ManualClock::new();
    // An explicit issuer naming the same URL shares with neither.
    let src = JwksKeySource::builder()
        .issuer(D1)
        .issuer(D2)
        .issuer_with_jwks_uri(A, KEYS)
        .fetcher(Arc::clone(&f))
        .clock(clock.clone())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert_eq!(f.count(KEYS), 3);
    let sets = [in_memory(&src, D1), in_memory(&src, D2), in_memory(&src, A)];
    assert!(!Arc::ptr_eq(&sets[0], &sets[1]) && !Arc::ptr_eq(&sets[0], &sets[2]));

    // Each has its own cooldown: D1's refetch leaves D2 and A free to refetch.
    src.keys(D1, Some("forged")).await.unwrap();
    assert_eq!(f.count(KEYS), 4);
    assert!(memory_of(&src, D1, Some("forged-2")).is_some());
    assert!(memory_of(&src, D2, Some("forged-2")).is_none());
    assert!(memory_of(&src, A, Some("forged-2")).is_none());
}

#[test]
fn a_duplicate_issuer_is_still_refused_on_one_url() {
    let r = JwksKeySource::builder()
        .issuer_with_jwks_uri(A, SHARED)
        .issuer_with_jwks_uri(A, SHARED)
        .fetcher(FakeFetcher::new())
        .build();
    assert!(
        matches!(r, Err(mcp_auth_jwks::JwksError::DuplicateIssuer(ref i)) if i == A),
        "{r:?}"
    );
}
