//! The verified-token cache: a hit still checks the clock and the current key set. Every test
//! runs twice: with a key source that answers from memory (the first step decides) and with
//! one that only answers through its future (the step resumes after `keys`).

use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::{Current, KeySource, KeysFuture};
use mcp_auth::{ErrorKind, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";

/// A key source whose set can be swapped, counting lookups.
#[derive(Debug)]
struct Swappable {
    set: Mutex<Arc<KeySet>>,
    /// Reads of memory (`current`) that answered with the set, and `keys` calls.
    lookups: AtomicUsize,
    fetches: AtomicUsize,
    /// Whether `current` answers with the set (else the validator must await `keys`).
    sync: bool,
}

impl Swappable {
    fn new(a: &TestAuthority, sync: bool) -> Arc<Self> {
        Arc::new(Self {
            set: Mutex::new(Arc::new(set_of(a))),
            lookups: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
            sync,
        })
    }
    /// Installs `a`'s current keys.
    fn replace(&self, a: &TestAuthority) {
        *self.set.lock().unwrap() = Arc::new(set_of(a));
    }
    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn set_of(a: &TestAuthority) -> KeySet {
    KeySet::from_jwks(
        &serde_json::to_vec(&a.jwks()).unwrap(),
        &Algorithm::DEFAULT_ALLOWED,
        32,
    )
    .unwrap()
    .keys
}

impl KeySource for Swappable {
    fn current(&self, _issuer: &str) -> Current {
        if !self.sync {
            return Current::Load;
        }
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Current::Keys {
            keys: self.set.lock().unwrap().clone(),
            refetch_unknown_kid: false,
        }
    }

    fn keys<'a>(&'a self, _issuer: &'a str, _kid: Option<&'a str>) -> KeysFuture<'a> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let set = self.set.lock().unwrap().clone();
        Box::pin(std::future::ready(Ok(set)))
    }
}

/// Runs `test` with a synchronous and with an asynchronous key source.
async fn both<F: std::future::Future<Output = ()>>(test: impl Fn(bool) -> F) {
    test(true).await;
    test(false).await;
}

/// The layer's token decision (cache, then validation), without a request.
fn validator(ks: Arc<Swappable>, clock: Arc<AtomicI64>, cache: u64) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(ks)
        .token_cache(cache)
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_cached_token_is_still_checked_against_the_clock() {
    both(|sync| async move {
        let a = TestAuthority::new(ISS);
        let clock = Arc::new(AtomicI64::new(now()));
        let v = validator(Swappable::new(&a, sync), clock.clone(), 100);
        let t = a.token().aud(RES).expires_in(100).sign();
        assert!(v.validate_token(&t).await.is_ok());
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(v.token_cache_len(), 1);
        clock.fetch_add(1000, Ordering::SeqCst);
        let e = v.validate_token(&t).await.unwrap_err();
        assert_eq!(
            (e.kind(), e.description()),
            (ErrorKind::InvalidToken, "token expired")
        );
    })
    .await;
}

#[tokio::test]
async fn a_cached_token_dies_with_its_key() {
    both(|sync| async move {
        let a = TestAuthority::new(ISS);
        let ks = Swappable::new(&a, sync);
        let v = validator(ks.clone(), Arc::new(AtomicI64::new(now())), 100);
        let t = a.token().aud(RES).sign();
        // Cached from its second use.
        assert!(v.validate_token(&t).await.is_ok());
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(v.token_cache_len(), 1);
        // A hit is answered from memory exactly when the key source can.
        let fetches = ks.fetches();
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(ks.fetches() - fetches, usize::from(!sync));
        // Re-fetching the same keys (new allocations, same keys) keeps the entry valid.
        ks.replace(&a);
        assert!(v.validate_token(&t).await.is_ok());
        // The issuer rotates and drops the key that signed the token.
        let old = a.current_kid("RS256").unwrap();
        a.rotate("RS256");
        a.retire(&old);
        ks.replace(&a);
        if sync {
            let fetches = ks.fetches();
            let e = v.validate_token(&t).await.unwrap_err();
            assert_eq!(e.description(), "unknown signing key");
            assert_eq!(ks.fetches(), fetches, "refused from memory");
        }
        let e = v.validate_token(&t).await.unwrap_err();
        assert_eq!(e.description(), "unknown signing key");
    })
    .await;
}

#[tokio::test]
async fn only_the_very_same_token_hits() {
    both(|sync| async move {
        let a = TestAuthority::new(ISS);
        let v = validator(
            Swappable::new(&a, sync),
            Arc::new(AtomicI64::new(now())),
            100,
        );
        let t = a.token().aud(RES).sign();
        assert!(v.validate_token(&t).await.is_ok());
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(v.token_cache_len(), 1);
        // Flip one character of the signature: a different token, verified and refused.
        let mut forged = t.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            v.validate_token(&forged).await.unwrap_err().kind(),
            ErrorKind::InvalidToken
        );
        // The cache is found by signature: a cached signature on another payload (an admin's
        // subject, say) must not hit.
        let other = a.token().aud(RES).subject("admin").sign();
        let (h, rest) = t.split_once('.').unwrap();
        let sig = rest.split_once('.').unwrap().1;
        let p2 = other.split('.').nth(1).unwrap();
        let spliced = format!("{h}.{p2}.{sig}");
        let e = v.validate_token(&spliced).await.unwrap_err();
        assert_eq!(e.description(), "invalid token signature");
        assert_eq!(v.token_cache_len(), 1);
        // And the genuine token still hits.
        assert_eq!(
            v.validate_token(&t).await.unwrap().subject(),
            Some("user-1")
        );
    })
    .await;
}

#[tokio::test]
async fn cache_off_and_capacity_bound() {
    both(|sync| async move {
        let a = TestAuthority::new(ISS);
        let v = validator(Swappable::new(&a, sync), Arc::new(AtomicI64::new(now())), 0);
        let t = a.token().aud(RES).sign();
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(v.token_cache_len(), 0);
        let v = validator(
            Swappable::new(&a, sync),
            Arc::new(AtomicI64::new(now())),
            50,
        );
        for i in 0..200 {
            let t = a
                .token()
                .aud(RES)
                .claim("jti", serde_json::json!(format!("j{i}")))
                .sign();
            assert!(v.validate_token(&t).await.is_ok());
            assert!(v.validate_token(&t).await.is_ok());
        }
        let len = v.token_cache_len();
        assert!((1..=50).contains(&len), "{len}");
    })
    .await;
}

#[tokio::test]
async fn a_token_is_cached_from_its_second_use() {
    both(|sync| async move {
        let a = TestAuthority::new(ISS);
        let ks = Swappable::new(&a, sync);
        let v = validator(ks.clone(), Arc::new(AtomicI64::new(now())), 100);
        // 100 tokens used once each: verified, never inserted.
        for i in 0..100 {
            let t = a
                .token()
                .aud(RES)
                .claim("jti", serde_json::json!(format!("once-{i}")))
                .sign();
            assert!(v.validate_token(&t).await.is_ok());
        }
        assert_eq!(v.token_cache_len(), 0);
        // A token in use: inserted at its second request, a hit from the third on.
        let t = a.token().aud(RES).sign();
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(v.token_cache_len(), 0);
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(v.token_cache_len(), 1);
        assert!(v.validate_token(&t).await.is_ok());
        assert_eq!(v.token_cache_len(), 1);
        // Distinct tokens keep passing through without displacing it.
        for i in 0..100 {
            let once = a
                .token()
                .aud(RES)
                .claim("jti", serde_json::json!(format!("later-{i}")))
                .sign();
            assert!(v.validate_token(&once).await.is_ok());
        }
        assert_eq!(v.token_cache_len(), 1);
    })
    .await;
}

/// A hit asks the key source's memory once per request (issue 14: the old epoch, which let a
/// hit skip the question within a second, is gone), so a key that left is noticed by the very
/// next request, and the clock still rules.
#[tokio::test]
async fn a_hit_asks_the_key_source_memory_every_time() {
    let a = TestAuthority::new(ISS);
    let ks = Swappable::new(&a, true);
    let clock = Arc::new(AtomicI64::new(now()));
    let v = validator(ks.clone(), clock.clone(), 100);
    let t = a.token().aud(RES).sign();
    assert!(v.validate_token(&t).await.is_ok());
    assert!(v.validate_token(&t).await.is_ok());
    assert_eq!(v.token_cache_len(), 1);
    // Every hit asks memory once, and never fetches.
    let before = ks.lookups();
    for _ in 0..5 {
        assert!(v.validate_token(&t).await.is_ok());
    }
    assert_eq!(ks.lookups(), before + 5);
    assert_eq!(ks.fetches(), 0);
    // The same keys installed again: still valid.
    ks.replace(&a);
    assert!(v.validate_token(&t).await.is_ok());
    assert_eq!(ks.lookups(), before + 6);
    // The signing key leaves, within the same second: refused at once.
    let old = a.current_kid("RS256").unwrap();
    a.rotate("RS256");
    a.retire(&old);
    ks.replace(&a);
    let e = v.validate_token(&t).await.unwrap_err();
    assert_eq!(e.description(), "unknown signing key");
    // And the clock still rules a hit.
    let t2 = a.token().aud(RES).expires_in(30).sign();
    for _ in 0..3 {
        assert!(v.validate_token(&t2).await.is_ok());
    }
    clock.fetch_add(100, Ordering::SeqCst);
    let e = v.validate_token(&t2).await.unwrap_err();
    assert_eq!(e.description(), "token expired");
}
