//! Opaque tokens through the layer (issue 16): which tokens are introspected where (never a
//! JWT-shaped token of an untrusted issuer, never each endpoint in turn), the answer judged
//! by the entry's rules, the verified-token cache keeping an answer no longer than the
//! introspector may reuse it, and failures as 503. The introspector here is an in-process
//! one that judges canned RFC 7662 answers with the layer's own rules and counts its calls;
//! tests/introspection_loopback.rs runs the HTTP introspector against the dev AS.

mod common;
use common::{ISS, RES, bearer, expect_invalid_token, send};

use mcp_auth::core::introspection::{
    IntrospectFuture, Introspected, IntrospectionRules, TokenIntrospector,
};
use mcp_auth::introspection::Introspection;
use mcp_auth::{AuthError, ConfigError, McpAuthBuilder, McpAuthLayer, TrustedIssuer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OPAQUE: &str = "https://opaque.example.com";

/// Canned answers by token, judged by the rules the layer made for the entry, at the test's
/// clock; counts calls.
#[derive(Debug)]
struct Canned {
    rules: IntrospectionRules,
    answers: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
    clock: Arc<AtomicI64>,
}

impl TokenIntrospector for Canned {
    fn issuer(&self) -> &str {
        self.rules.issuer()
    }

    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.lock().unwrap().get(token).cloned();
        let now = self.clock.load(Ordering::SeqCst);
        Box::pin(async move {
            match answer {
                None => Err(AuthError::introspection_unavailable(7)),
                Some(a) => self
                    .rules
                    .check_answer(token, a.to_string().as_bytes(), now)
                    .map(Arc::new),
            }
        })
    }
}

struct Setup {
    answers: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
    clock: Arc<AtomicI64>,
}

impl Setup {
    fn new() -> Self {
        Self {
            answers: Arc::default(),
            calls: Arc::default(),
            clock: Arc::new(AtomicI64::new(now())),
        }
    }

    fn introspection(&self) -> Introspection {
        let (answers, calls, clock) =
            (self.answers.clone(), self.calls.clone(), self.clock.clone());
        Introspection::custom(move |rules| Canned {
            rules,
            answers,
            calls,
            clock,
        })
    }

    fn answer(&self, token: &str, answer: Value) {
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The JWT issuer of tests/common (validated locally) and an opaque-token issuer.
    fn builder(&self, introspection: Introspection) -> McpAuthBuilder {
        let c = self.clock.clone();
        common::builder()
            .trusted_issuer(TrustedIssuer::new(OPAQUE).introspection(introspection))
            .clock(move || c.load(Ordering::SeqCst))
    }

    fn active(&self, sub: &str, scope: &str) -> Value {
        let now = self.clock.load(Ordering::SeqCst);
        json!({"active": true, "iss": OPAQUE, "aud": RES, "sub": sub, "client_id": "agent",
               "scope": scope, "exp": now + 3600, "iat": now - 5, "token_type": "Bearer"})
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn an_opaque_token_is_introspected_once_then_answered_from_the_cache() {
    let s = Setup::new();
    let l = s.builder(s.introspection()).build().unwrap();
    s.answer("opaque-1", s.active("alice", "mcp:read mcp:write"));
    for _ in 0..4 {
        let o = send(l.clone(), bearer("opaque-1")).await;
        assert_eq!(o.status, 200, "{:?}", o.error);
        assert_eq!(o.body["sub"], "alice");
        assert_eq!(o.body["client_id"], "agent");
        assert_eq!(o.body["scopes"], "mcp:read mcp:write");
        assert_eq!(o.body["authorization_seen"], false);
    }
    // The first use and the second (admitted to the layer's cache on it) ask the
    // introspector, which keeps its own answers (here: none, so both called); then hits.
    assert_eq!(s.calls(), 2);
    assert_eq!(l.token_cache_len(), 1);
}

#[tokio::test]
async fn the_cache_keeps_an_answer_no_longer_than_the_introspector_may() {
    let s = Setup::new();
    let l = s
        .builder(s.introspection().max_cache(Duration::from_secs(30)))
        .build()
        .unwrap();
    s.answer("opaque-2", s.active("bob", "mcp:read"));
    for _ in 0..3 {
        assert_eq!(send(l.clone(), bearer("opaque-2")).await.status, 200);
    }
    assert_eq!(s.calls(), 2);
    // Revoked at the authorization server: still accepted within the 30 s maximum of the
    // last answer (the revocation delay)...
    s.answer("opaque-2", json!({"active": false}));
    s.clock.fetch_add(29, Ordering::SeqCst);
    assert_eq!(send(l.clone(), bearer("opaque-2")).await.status, 200);
    assert_eq!(s.calls(), 2);
    // ...and asked again, and refused, once it is over.
    s.clock.fetch_add(1, Ordering::SeqCst);
    expect_invalid_token(l.clone(), "opaque-2", "token is not active").await;
    assert_eq!(s.calls(), 3);
}

#[tokio::test]
async fn the_answer_is_judged_by_the_entrys_rules() {
    let s = Setup::new();
    let l = s.builder(s.introspection()).build().unwrap();
    let n = s.clock.load(Ordering::SeqCst);
    let cases = [
        (json!({"active": false}), "token is not active"),
        (
            json!({"active": true, "iss": OPAQUE, "aud": "https://other.example/mcp", "exp": n + 60}),
            "token audience is not this resource",
        ),
        (
            json!({"active": true, "iss": ISS, "aud": RES, "exp": n + 60}),
            "token issuer is not trusted",
        ),
        (
            json!({"active": true, "iss": OPAQUE, "aud": RES, "exp": n - 3600}),
            "token expired",
        ),
    ];
    for (i, (answer, why)) in cases.into_iter().enumerate() {
        let token = format!("bad-{i}");
        s.answer(&token, answer);
        expect_invalid_token(l.clone(), &token, why).await;
    }
    // No scope in the answer: the route's scope is missing, 403.
    s.answer("no-scope", s.active("carol", ""));
    assert_eq!(send(l.clone(), bearer("no-scope")).await.status, 403);
}

#[tokio::test]
async fn an_endpoint_that_cannot_answer_is_503_with_retry_after() {
    let s = Setup::new();
    let l = s.builder(s.introspection()).build().unwrap();
    let o = send(l, bearer("unknown-to-the-canned-endpoint")).await;
    assert_eq!(o.status, 503);
    assert_eq!(o.retry_after.as_deref(), Some("7"));
    assert_eq!(o.calls, 0);
}

#[tokio::test]
async fn jwt_shaped_tokens_stay_local_and_untrusted_ones_are_never_sent() {
    let s = Setup::new();
    let l = s.builder(s.introspection().always()).build().unwrap();
    // A JWT of the locally validated issuer: never introspected.
    let jwt = common::token().sign();
    assert_eq!(send(l.clone(), bearer(&jwt)).await.status, 200);
    // A JWT naming an issuer nobody trusts: refused locally, never sent anywhere.
    let stranger = mcp_auth_dev::TestAuthority::new("https://evil.example")
        .token()
        .aud(RES)
        .scope("mcp:read")
        .sign();
    expect_invalid_token(l.clone(), &stranger, "token issuer is not trusted").await;
    assert_eq!(s.calls(), 0);
    // A JWT naming the issuer that introspects its JWTs too: introspected, whatever its
    // signature (here one no key of anyone would verify).
    let theirs = mcp_auth_dev::TestAuthority::new(OPAQUE)
        .token()
        .aud(RES)
        .scope("mcp:read")
        .sign();
    s.answer(&theirs, s.active("dave", "mcp:read"));
    let o = send(l.clone(), bearer(&theirs)).await;
    assert_eq!(o.status, 200, "{:?}", o.error);
    assert_eq!(o.body["sub"], "dave");
    assert_eq!(s.calls(), 1);
    s.answer(&theirs, json!({"active": false}));
    expect_invalid_token(l, &theirs, "token is not active").await;
    assert_eq!(s.calls(), 2);
}

#[tokio::test]
async fn an_opaque_token_goes_to_one_endpoint_only() {
    // Without introspection an opaque token is refused as before, with no call.
    let plain = common::builder().build().unwrap();
    let o = send(plain, bearer("opaque-anything")).await;
    assert_eq!(o.status, 401);
    let (a, b) = (Setup::new(), Setup::new());
    let c = a.clock.clone();
    let l = common::builder()
        .trusted_issuer(
            TrustedIssuer::new(OPAQUE).introspection(a.introspection().token_prefix("oat_")),
        )
        .trusted_issuer(
            TrustedIssuer::new("https://second.example.com")
                .introspection(b.introspection().token_prefix("sec_")),
        )
        .clock(move || c.load(Ordering::SeqCst))
        .build()
        .unwrap();
    a.answer("oat_1", a.active("erin", "mcp:read"));
    assert_eq!(send(l.clone(), bearer("oat_1")).await.status, 200);
    assert_eq!((a.calls(), b.calls()), (1, 0));
    // No prefix matches and no issuer takes every other opaque token: refused, no call.
    let o = send(l.clone(), bearer("zzz_1")).await;
    assert_eq!(o.status, 401);
    assert_eq!((a.calls(), b.calls()), (1, 0));
    // An answer of the first endpoint for a token routed to the second is never asked.
    b.answer("sec_1", json!({"active": false}));
    expect_invalid_token(l, "sec_1", "token is not active").await;
    assert_eq!((a.calls(), b.calls()), (1, 1));
}

#[test]
fn routes_that_cannot_work_are_refused_at_build() {
    let s = Setup::new();
    let two_rest = common::builder()
        .trusted_issuer(TrustedIssuer::new(OPAQUE).introspection(s.introspection()))
        .trusted_issuer(
            TrustedIssuer::new("https://second.example.com").introspection(s.introspection()),
        )
        .build();
    assert!(
        matches!(&two_rest, Err(ConfigError::Introspection(m)) if m.contains("token_prefix")),
        "{two_rest:?}"
    );
    let overlapping = common::builder()
        .trusted_issuer(
            TrustedIssuer::new(OPAQUE).introspection(s.introspection().token_prefix("oat_")),
        )
        .trusted_issuer(
            TrustedIssuer::new("https://second.example.com")
                .introspection(s.introspection().token_prefix("oat_x")),
        )
        .build();
    assert!(
        matches!(&overlapping, Err(ConfigError::Introspection(_))),
        "{overlapping:?}"
    );
    let several = common::builder()
        .trusted_issuer(
            TrustedIssuer::any_of([OPAQUE, "https://second.example.com"])
                .introspection(s.introspection()),
        )
        .build();
    assert!(
        matches!(&several, Err(ConfigError::Introspection(m)) if m.contains("exactly one")),
        "{several:?}"
    );
    let custom = McpAuthLayer::builder(RES)
        .trusted_issuer(TrustedIssuer::new(OPAQUE).introspection(s.introspection()))
        .build_with_validator(|_c, _p: &http::request::Parts| async {
            Err::<mcp_auth::AuthContext, _>(AuthError::invalid_token("no"))
        });
    assert!(
        matches!(&custom, Err(ConfigError::Introspection(_))),
        "{:?}",
        custom.err()
    );
}

/// `Introspected` as the rules make it: `checked_at` is the judging instant, so a later
/// cache keeps it until `checked_at + cache_for`.
#[test]
fn an_answer_says_until_when_it_may_be_reused() {
    let resource = mcp_auth::core::resource::ResourceUri::parse(RES).unwrap();
    let rules = IntrospectionRules::new(
        OPAQUE,
        mcp_auth::core::claims::ClaimsPolicy::new(resource, OPAQUE),
    )
    .unwrap()
    .with_max_cache(Duration::from_secs(60));
    let at = 1_000_000;
    let a: Introspected = rules
        .check_answer(
            "t",
            json!({"active": true, "aud": RES, "exp": at + 20})
                .to_string()
                .as_bytes(),
            at,
        )
        .unwrap();
    assert_eq!((a.checked_at, a.reusable_until()), (at, at + 20));
    let b = rules
        .check_answer(
            "t",
            json!({"active": true, "aud": RES}).to_string().as_bytes(),
            at,
        )
        .unwrap();
    assert_eq!(b.reusable_until(), at + 60);
}
