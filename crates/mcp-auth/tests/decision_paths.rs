//! The decision's two ways through the validation state machine: decided in the first step
//! when the key source can answer from memory (in `call`, no future), resumed after
//! awaiting the key source otherwise. Both must give the very same answer to every request.
//! (Moved from tests/sync_path.rs, issue 14: there are no longer two copies of the path to
//! keep in agreement, but the two ways through the one path must still agree.)

mod common;
use common::AsyncOnly;

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::{Current, KeySource, KeysFuture, StaticKeySource};
use mcp_auth::core::validation::Step;
use mcp_auth::{AuthContext, AuthError, McpAuthLayer};
use mcp_auth_dev::TestAuthority;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const ISS2: &str = "https://other-as.example.com";

/// Counts the questions: `keys` (awaited) and `current` (from memory) apart.
#[derive(Debug)]
struct Counting(StaticKeySource, AtomicUsize, AtomicUsize);

impl KeySource for Counting {
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.keys(issuer, kid)
    }
    fn current(&self, issuer: &str) -> Current {
        self.2.fetch_add(1, Ordering::SeqCst);
        self.0.current(issuer)
    }
}

/// The JWT validator's first step for `token`: `Some` with the decision when it was taken
/// from memory, `None` when the machine asked for keys.
fn first_step(layer: &McpAuthLayer, token: &str) -> Option<Result<AuthContext, AuthError>> {
    match layer.jwt_validator().unwrap().step(token) {
        Step::Done(done) => Some(done.map(|v| AuthContext::new(v.claims, v.scopes, v.token_hash))),
        _ => None,
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

/// Everything a client and the handler can observe of one request.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    challenge: Option<String>,
    error: Option<String>,
    handler: Option<String>,
}

async fn send(layer: &McpAuthLayer, token: &str) -> Seen {
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(
        |req: Request<mcp_auth::RequestBody<Body>>| async move {
            let ctx = req.extensions().get::<AuthContext>().cloned();
            let seen = json!({
                "sub": ctx.as_ref().and_then(|c| c.subject().map(str::to_owned)),
                "scopes": ctx.as_ref().map(|c| c.scopes().to_scope_string()),
                "authorization": req.headers().contains_key(AUTHORIZATION),
            });
            Ok::<_, Infallible>(Response::new(Body::from(seen.to_string())))
        },
    );
    let req = Request::post("/mcp")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let error = res
        .extensions()
        .get::<AuthError>()
        .map(|e| format!("{:?}: {}", e.kind(), e.description()));
    let body = axum::body::to_bytes(Body::new(res.into_body()), 1 << 16)
        .await
        .unwrap();
    let handler = (status == 200).then(|| String::from_utf8(body.to_vec()).unwrap());
    Seen {
        status,
        challenge,
        error,
        handler,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token with a forged `kid` whose payload is not even JSON.
fn forged_kid_junk_payload() -> String {
    let b = |s: &[u8]| URL_SAFE_NO_PAD.encode(s);
    let header = b(br#"{"alg":"RS256","typ":"at+jwt","kid":"forged-kid"}"#);
    format!("{header}.{}.{}", b(b"not json"), b(&[7u8; 256]))
}

#[tokio::test]
async fn the_first_and_the_resumed_step_answer_every_token_alike() {
    let a = TestAuthority::new(ISS);
    let good = a.token().aud(RES).scope("mcp:read").sign();
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let cases = [
        ("valid", good.clone()),
        (
            "valid, other subject",
            a.token().aud(RES).scope("mcp:read").subject("u2").sign(),
        ),
        (
            "scope too small",
            a.token().aud(RES).scope("mcp:write").sign(),
        ),
        ("expired", a.token().aud(RES).expires_in(-3600).sign()),
        (
            "not yet valid",
            a.token().aud(RES).claim("nbf", json!(now() + 3600)).sign(),
        ),
        ("other audience", a.token().aud("https://elsewhere").sign()),
        (
            "untrusted issuer",
            a.token()
                .aud(RES)
                .claim("iss", json!("https://evil.example.com"))
                .sign(),
        ),
        ("forged kid", a.token().aud(RES).kid("forged-1").sign()),
        ("forged kid, junk payload", forged_kid_junk_payload()),
        ("alg none", a.token().aud(RES).unsigned()),
        ("HS256", a.token().aud(RES).sign_hs256(b"secret")),
        ("tampered signature", String::from_utf8(tampered).unwrap()),
        ("not a JWS", "abc.def".to_owned()),
    ];
    for cache in [10_000, 0] {
        let now_layer = layer(static_keys(&a, &[ISS]), cache);
        let later_layer = layer(AsyncOnly(static_keys(&a, &[ISS])), cache);
        // The valid token takes the path its key source allows.
        assert!(matches!(first_step(&now_layer, &good), Some(Ok(_))));
        assert!(first_step(&later_layer, &good).is_none());
        // Twice each: the second time a valid token is a cache hit (when the cache is on).
        for round in 0..2 {
            for (name, t) in &cases {
                let (x, y) = (send(&now_layer, t).await, send(&later_layer, t).await);
                if *name == "forged kid, junk payload" {
                    // By design the only difference: from memory the forged kid is refused
                    // before the payload is read; awaiting, the payload fails first.
                    assert_eq!((x.status, y.status), (401, 401));
                    assert_eq!(
                        x.error.as_deref(),
                        Some("InvalidToken: unknown signing key")
                    );
                    assert_eq!(
                        y.error.as_deref(),
                        Some("InvalidToken: token claims are malformed")
                    );
                    continue;
                }
                assert_eq!(x, y, "{name}, cache {cache}, round {round}");
                let want = match *name {
                    "valid" | "valid, other subject" => 200,
                    "scope too small" => 403,
                    _ => 401,
                };
                assert_eq!(x.status, want, "{name}: {x:?}");
                if want == 200 {
                    assert!(
                        x.handler
                            .as_deref()
                            .unwrap()
                            .contains(r#""authorization":false"#)
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn a_forged_kid_is_refused_before_the_payload_with_one_issuer() {
    let a = TestAuthority::new(ISS);
    let junk = forged_kid_junk_payload();
    let one = layer(static_keys(&a, &[ISS]), 10_000);
    let e = first_step(&one, &junk).unwrap().unwrap_err();
    assert_eq!(e.description(), "unknown signing key");
    // An expired token with a forged kid: refused on the kid, before its claims are read.
    let expired = a.token().aud(RES).kid("forged-2").expires_in(-60).sign();
    let e = one.validate_token(&expired).await.unwrap_err();
    assert_eq!(e.description(), "unknown signing key");

    // With two issuers the payload's `iss` picks the key set first, so the payload is read.
    let two = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .issuer(ISS2)
        .key_source(static_keys(&a, &[ISS, ISS2]))
        .build()
        .unwrap();
    let e = first_step(&two, &junk).unwrap().unwrap_err();
    assert_ne!(e.description(), "unknown signing key");
    let e = two.validate_token(&expired).await.unwrap_err();
    assert_eq!(e.description(), "token expired");
}

#[tokio::test]
async fn junk_is_refused_before_the_key_source() {
    let a = TestAuthority::new(ISS);
    let ks = Arc::new(Counting(
        static_keys(&a, &[ISS]),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ));
    let l = layer(ks.clone(), 10_000);
    let counts = || (ks.1.load(Ordering::SeqCst), ks.2.load(Ordering::SeqCst));
    // Refused on its shape or header: the key source is not asked at all.
    for (t, status) in [
        ("junk".to_owned(), 401),
        ("a.b.c!".to_owned(), 400),
        ("a.b.c+".to_owned(), 401),
        (a.token().aud(RES).unsigned(), 401),
        (a.token().aud(RES).sign_hs256(b"secret"), 401),
    ] {
        assert_eq!(send(&l, &t).await.status, status);
    }
    assert_eq!(counts(), (0, 0));
    // Refused on its claims: at most the in-memory `kid` lookup, never a fetch.
    for t in [
        a.token().aud(RES).expires_in(-3600).sign(),
        a.token().aud("https://elsewhere").sign(),
        a.token()
            .aud(RES)
            .claim("iss", json!("https://evil.example.com"))
            .sign(),
    ] {
        assert_eq!(send(&l, &t).await.status, 401);
    }
    assert_eq!(counts(), (0, 3));
}

#[tokio::test]
async fn signatures_are_decoded_within_their_largest_size() {
    let a = TestAuthority::new(ISS);
    let l = layer(static_keys(&a, &[ISS]), 0);
    let good = a.token().aud(RES).scope("mcp:read").sign();
    let input = good.rsplit_once('.').unwrap().0;
    let check = |sig: String| {
        let t = format!("{input}.{sig}");
        first_step(&l, &t).unwrap().unwrap_err().description()
    };
    // 1,366 characters decode to 1,024 bytes, the largest (RSA 8192) signature: checked.
    assert_eq!(check("A".repeat(1366)), "invalid token signature");
    assert_eq!(check("A".repeat(1372)), "token signature is too long");
    assert_eq!(check("A".repeat(5000)), "token signature is too long");
    // A length no base64 encoding has.
    assert_eq!(check("A".repeat(341)), "token signature is not base64url");
}

#[tokio::test]
async fn a_valid_token_asks_the_key_source_once() {
    let a = TestAuthority::new(ISS);
    let ks = Arc::new(Counting(
        static_keys(&a, &[ISS]),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ));
    let l = layer(ks.clone(), 0);
    let t = a.token().aud(RES).scope("mcp:read").sign();
    assert_eq!(send(&l, &t).await.status, 200);
    // One in-memory lookup serves both the early `kid` check and the signature check.
    assert_eq!(
        (ks.1.load(Ordering::SeqCst), ks.2.load(Ordering::SeqCst)),
        (0, 1)
    );
}
