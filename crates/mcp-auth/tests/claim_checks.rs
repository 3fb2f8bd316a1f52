//! Claim checks through the layer (issue 15): run after the signature on both ways through
//! the state machine, refused as 401 `invalid_token` with their description; a check that
//! does not read the clock runs at validation only, one that does (the maximum token age)
//! again on every cache hit.

mod common;
use common::AsyncOnly;

use axum::body::Body;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use mcp_auth::core::checks::ClaimRejection;
use mcp_auth::core::claims::Claims;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::{AuthError, McpAuthBuilder, McpAuthLayer, RequestBody};
use mcp_auth_dev::TestAuthority;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";

fn keys(a: &TestAuthority) -> StaticKeySource {
    let jwks = serde_json::to_vec(&a.jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys;
    StaticKeySource::new().with_issuer(ISS, set)
}

fn builder(clock: &Arc<AtomicI64>) -> McpAuthBuilder {
    let c = clock.clone();
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .clock(move || c.load(Ordering::SeqCst))
}

/// Status, `error_description` of the challenge (if any) and the error's description.
async fn send(layer: &McpAuthLayer, token: &str) -> (u16, Option<String>) {
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(
        |_req: Request<RequestBody<Body>>| async move {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        },
    );
    let req = Request::post("/mcp")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let error = res.extensions().get::<AuthError>().map(|e| e.description());
    if let (Some(c), Some(e)) = (&challenge, error) {
        assert!(c.contains(&format!("error_description=\"{e}\"")), "{c}");
    }
    (res.status().as_u16(), error.map(str::to_owned))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_check_refuses_with_its_description_after_the_signature_on_both_paths() {
    let a = TestAuthority::new(ISS);
    let clock = Arc::new(AtomicI64::new(now()));
    let no_svc = |c: &Claims| match c.sub.as_deref() {
        Some(s) if s.starts_with("svc-") => Err(ClaimRejection::new("no service accounts here")),
        _ => Ok(()),
    };
    let layers = [
        builder(&clock)
            .key_source(keys(&a))
            .claim_check(no_svc)
            .build()
            .unwrap(),
        builder(&clock)
            .key_source(AsyncOnly(keys(&a)))
            .claim_check(no_svc)
            .build()
            .unwrap(),
    ];
    let svc = a.token().aud(RES).subject("svc-backup").sign();
    let user = a.token().aud(RES).subject("u1").sign();
    // The same token with a broken signature: refused for the signature, not by the check
    // (the check only ever sees verified claims).
    let mut forged = svc.clone().into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for l in &layers {
        for _ in 0..3 {
            assert_eq!(
                send(l, &svc).await,
                (401, Some("no service accounts here".to_owned()))
            );
            assert_eq!(send(l, &user).await, (200, None));
            assert_eq!(
                send(l, &forged).await,
                (401, Some("invalid token signature".to_owned()))
            );
        }
    }
}

#[tokio::test]
async fn a_check_that_does_not_read_the_clock_runs_at_validation_only() {
    let a = TestAuthority::new(ISS);
    let clock = Arc::new(AtomicI64::new(now()));
    for (cache, want) in [(100, 2), (0, 5)] {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let l = builder(&clock)
            .key_source(keys(&a))
            .token_cache(cache)
            .claim_check(move |_: &Claims| {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .build()
            .unwrap();
        let t = a.token().aud(RES).sign();
        for _ in 0..5 {
            assert_eq!(send(&l, &t).await.0, 200);
        }
        // With the cache: verified at the first use, verified and admitted at the second,
        // then hits; without: every request.
        assert_eq!(calls.load(Ordering::SeqCst), want, "cache {cache}");
    }
}

#[tokio::test]
async fn the_maximum_token_age_is_checked_on_every_cache_hit() {
    let a = TestAuthority::new(ISS);
    let clock = Arc::new(AtomicI64::new(now()));
    let l = builder(&clock)
        .key_source(keys(&a))
        .max_token_age(Duration::from_secs(300))
        .build()
        .unwrap();
    let t = a.token().aud(RES).expires_in(3600).sign();
    for _ in 0..3 {
        assert_eq!(send(&l, &t).await, (200, None));
    }
    assert_eq!(l.token_cache_len(), 1);
    // Still within exp, past the maximum age: the cached token is refused at once.
    clock.fetch_add(301, Ordering::SeqCst);
    assert_eq!(
        send(&l, &t).await,
        (
            401,
            Some("token is older than this resource accepts".to_owned())
        )
    );
    // A token without iat is refused by the age rule (RFC 9068 makes iat required anyway:
    // without the strict profile it is the check that asks for it).
    let lax = builder(&clock)
        .key_source(keys(&a))
        .require_rfc9068_claims(false)
        .max_token_age(Duration::from_secs(300))
        .build()
        .unwrap();
    let no_iat = a.token().aud(RES).without_claim("iat").sign();
    assert_eq!(
        send(&lax, &no_iat).await,
        (401, Some("token has no iat".to_owned()))
    );
    // And a tenant rule from claims the token carries.
    let tenants = builder(&clock)
        .key_source(keys(&a))
        .claim_check(mcp_auth::core::checks::ClaimIn::new("tid", ["t1"]))
        .build()
        .unwrap();
    let ok = a.token().aud(RES).claim("tid", json!("t1")).sign();
    let other = a.token().aud(RES).claim("tid", json!("t2")).sign();
    assert_eq!(send(&tenants, &ok).await, (200, None));
    assert_eq!(
        send(&tenants, &other).await,
        (
            401,
            Some("token claim does not have an accepted value".to_owned())
        )
    );
}
