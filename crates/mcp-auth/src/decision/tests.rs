//! The layer's first look at a token (the verified-token cache's hot slots, before the
//! token's syntax is checked): moved here from tests/sync_path.rs (issue 14), since it is no
//! longer a method of the public validator trait but a step of the decision.

use crate::body::RequestBody;
use crate::token_cache::Hit;
use crate::{AuthContext, AuthError, McpAuthLayer};
use axum::body::Body;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::Algorithm;
use mcp_auth_core::keys::{Current, KeySource, KeysFuture, StaticKeySource};
use mcp_auth_dev::TestAuthority;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";

/// Forwards `keys` and has nothing in memory: the state machine must ask for keys.
#[derive(Debug)]
struct AsyncOnly(StaticKeySource);

impl KeySource for AsyncOnly {
    fn current(&self, _issuer: &str) -> Current {
        Current::Load
    }
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
        self.0.keys(issuer, kid)
    }
}

fn static_keys(a: &TestAuthority, issuers: &[&str]) -> StaticKeySource {
    let jwks = serde_json::to_vec(&a.jwks()).unwrap();
    issuers.iter().fold(StaticKeySource::new(), |s, iss| {
        let set = KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys;
        s.with_issuer(*iss, set)
    })
}

fn layer(key_source: impl KeySource, cache: u64) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(key_source)
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .token_cache(cache)
        .build()
        .unwrap()
}

/// What a client observes of one request: the status and the error.
struct Seen {
    status: u16,
    error: Option<String>,
}

async fn send(layer: &McpAuthLayer, token: &str) -> Seen {
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(
        |req: Request<RequestBody<Body>>| async move {
            assert!(req.extensions().get::<AuthContext>().is_some());
            Ok::<_, Infallible>(Response::new(Body::empty()))
        },
    );
    let req = Request::post("/mcp")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    Seen {
        status: res.status().as_u16(),
        error: res
            .extensions()
            .get::<AuthError>()
            .map(|e| format!("{:?}: {}", e.kind(), e.description())),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What the layer's first look ([`super::recall`]) answers for `header`, an
/// `Authorization` value.
fn recall(l: &McpAuthLayer, header: &str) -> Option<Result<String, String>> {
    let (parts, ()) = Request::post("/mcp")
        .header(AUTHORIZATION, header)
        .body(())
        .unwrap()
        .into_parts();
    let raw = mcp_auth_core::credentials::locate(&parts, 8192)
        .unwrap()
        .unwrap();
    super::recall(&l.shared, raw, (l.shared.clock)()).map(|hit| match hit {
        Hit::Valid(c, _) => Ok(c.subject().unwrap_or_default().to_owned()),
        Hit::Refused(e) => Err(e.description().to_owned()),
        Hit::NeedKeys(_) => Err("needs keys".to_owned()),
    })
}

/// The layer looks at a token's bytes before any syntax check: it must answer only for the very bytes
/// of a verified token in a hot slot, re-check those against the clock and the key set, and
/// leave everything else to the checked path, whose answers stay what they were.
#[tokio::test]
async fn a_token_in_use_is_recalled_by_its_bytes_alone() {
    let a = TestAuthority::new(ISS);
    let clock = Arc::new(std::sync::atomic::AtomicI64::new(now()));
    let ks = Arc::new(std::sync::Mutex::new(static_keys(&a, &[ISS])));
    #[derive(Debug)]
    struct Shared(Arc<std::sync::Mutex<StaticKeySource>>);
    impl KeySource for Shared {
        fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
            let r = futures_now(self.0.lock().unwrap().keys(issuer, kid));
            Box::pin(std::future::ready(r))
        }
        fn current(&self, issuer: &str) -> Current {
            self.0.lock().unwrap().current(issuer)
        }
    }
    let c = clock.clone();
    let l = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(Shared(ks.clone()))
        .require_scopes(["mcp:read"])
        .token_cache(100)
        .clock(move || c.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let t = a.token().aud(RES).scope("mcp:read").expires_in(600).sign();
    let bearer = format!("Bearer {t}");
    // Not verified yet, then verified once (not admitted), then cached (in moka only):
    // never recalled; the third use finds it in moka, which fills its hot slot.
    for _ in 0..3 {
        assert_eq!(recall(&l, &bearer), None);
        assert_eq!(send(&l, &t).await.status, 200);
    }
    assert_eq!(recall(&l, &bearer), Some(Ok("user-1".to_owned())));
    assert_eq!(
        recall(&l, &format!("bEaReR   {t}  ")),
        Some(Ok("user-1".to_owned()))
    );
    assert_eq!(send(&l, &format!("  {t}")).await.status, 200);
    // DPoP is not this validator's: never recalled.
    assert_eq!(recall(&l, &format!("DPoP {t}")), None);

    // Same length and same end (so the same cache key and slot), other bytes: not recalled,
    // and answered exactly as before the token was cached.
    let mut junk = t.clone().into_bytes();
    junk[0] = b'!';
    let junk = String::from_utf8(junk).unwrap();
    assert_eq!(recall(&l, &format!("Bearer {junk}")), None);
    let seen = send(&l, &junk).await;
    assert_eq!(
        (seen.status, seen.error.as_deref()),
        (400, Some("InvalidRequest: malformed access token"))
    );
    let mut other = t.clone().into_bytes();
    other[1] = if other[1] == b'A' { b'B' } else { b'A' };
    let other = String::from_utf8(other).unwrap();
    assert_eq!(recall(&l, &format!("Bearer {other}")), None);
    assert_eq!(send(&l, &other).await.status, 401);
    // A prefix or an extension of the token is another token.
    assert_eq!(recall(&l, &format!("Bearer {}", &t[..t.len() - 1])), None);
    assert_eq!(recall(&l, &format!("Bearer {t}A")), None);
    assert_eq!(recall(&l, &bearer), Some(Ok("user-1".to_owned())));

    // The clock still rules a recalled token.
    clock.fetch_add(3600, Ordering::SeqCst);
    assert_eq!(recall(&l, &bearer), Some(Err("token expired".to_owned())));
    let seen = send(&l, &t).await;
    assert_eq!(
        (seen.status, seen.error.as_deref()),
        (401, Some("InvalidToken: token expired"))
    );
    clock.fetch_sub(3600, Ordering::SeqCst);
    assert_eq!(recall(&l, &bearer), Some(Ok("user-1".to_owned())));

    // So does the key set: once the signing key is gone, the entry is dropped and the token
    // takes the checked path, which refuses it.
    let old = a.current_kid("RS256").unwrap();
    a.rotate("RS256");
    a.retire(&old);
    *ks.lock().unwrap() = static_keys(&a, &[ISS]);
    assert_eq!(recall(&l, &bearer), None);
    assert_eq!(recall(&l, &bearer), None);
    let seen = send(&l, &t).await;
    assert_eq!(
        (seen.status, seen.error.as_deref()),
        (401, Some("InvalidToken: unknown signing key"))
    );
}

/// A key source that must be awaited: a cached token is not recalled (the layer cannot know
/// from memory that its key is current) and still passes through the future.
#[tokio::test]
async fn no_recall_when_the_keys_must_be_awaited() {
    let a = TestAuthority::new(ISS);
    let l = layer(AsyncOnly(static_keys(&a, &[ISS])), 100);
    let t = a.token().aud(RES).scope("mcp:read").sign();
    for _ in 0..4 {
        assert_eq!(send(&l, &t).await.status, 200);
        assert_eq!(recall(&l, &format!("Bearer {t}")), None);
    }
}

/// A cached token whose verifying key left the issuer's set, with a key source that must be
/// awaited: the decision stops for keys to confirm the hit (`Next::Keys`), finds the key
/// gone, drops the entry and validates the token again without the cache (stopping for keys
/// a second time), which refuses it; a token of the new key is accepted through the same
/// path, and the refused one is no longer in the cache.
#[tokio::test]
async fn a_hit_whose_key_left_is_validated_again_after_the_keys_arrive() {
    #[derive(Debug)]
    struct Awaited(
        std::sync::Mutex<StaticKeySource>,
        std::sync::atomic::AtomicUsize,
    );
    impl KeySource for Awaited {
        fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
            self.1.fetch_add(1, Ordering::SeqCst);
            let r = futures_now(self.0.lock().unwrap().keys(issuer, kid));
            Box::pin(std::future::ready(r))
        }
    }
    let a = TestAuthority::new(ISS);
    let ks = Arc::new(Awaited(
        std::sync::Mutex::new(static_keys(&a, &[ISS])),
        std::sync::atomic::AtomicUsize::new(0),
    ));
    let l = layer(ks.clone(), 100);
    let t = a.token().aud(RES).scope("mcp:read").sign();
    for _ in 0..3 {
        assert_eq!(send(&l, &t).await.status, 200);
    }
    assert_eq!(l.token_cache_len(), 1);
    let old = a.current_kid("RS256").unwrap();
    a.rotate("RS256");
    a.retire(&old);
    *ks.0.lock().unwrap() = static_keys(&a, &[ISS]);
    let fetches = ks.1.load(Ordering::SeqCst);
    let seen = send(&l, &t).await;
    assert_eq!(
        (seen.status, seen.error.as_deref()),
        (401, Some("InvalidToken: unknown signing key"))
    );
    // Once to confirm the hit, once for the validation without the cache.
    assert_eq!(ks.1.load(Ordering::SeqCst) - fetches, 2);
    assert_eq!(l.token_cache_len(), 0);
    let fresh = a.token().aud(RES).scope("mcp:read").sign();
    assert_eq!(send(&l, &fresh).await.status, 200);
}

/// A ready future's output (the static source's futures are always ready).
fn futures_now<T>(f: std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + '_>>) -> T {
    let mut f = f;
    let waker = std::task::Waker::noop();
    match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a static key source is always ready"),
    }
}
