//! The rate limits wired into the layer (issue 18 §2): the per-address limit after the
//! `Origin` check and before any token work, the post-auth limits per principal and per
//! client id with scope tiers, 429 with `Retry-After` and no token detail, and fail-open
//! when the store cannot answer.

mod common;
use common::{AsyncOnly, ISS, RES, authority, builder, keys, token};

use axum::body::Body;
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use mcp_auth::client_addr::{ClientAddr, ProxyHeader, TrustedProxies};
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::{Current, KeySource, KeysFuture, StaticKeySource};
use mcp_auth::limit::{
    Decision, LimitCheck, LimitStoreError, Limiter, Limits, MemoryLimitStore, Rate, RateLimitStore,
};
use mcp_auth::{McpAuthLayer, RequestBody};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};

fn rate(requests: u32, period_ms: u64, burst: u32) -> Rate {
    Rate::new(requests, Duration::from_millis(period_ms), burst).unwrap()
}

/// One minute per request: nothing refills during a test.
fn slow(burst: u32) -> Rate {
    rate(1, 60_000, burst)
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    challenge: bool,
    body: String,
    inner_called: bool,
}

/// `req` through `layer` around a service that answers 200.
async fn send(layer: &McpAuthLayer, req: Request<Body>) -> Answer {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(
        move |_req: Request<RequestBody<Body>>| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Body::from("ok"))) }
        },
    );
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let retry_after = res
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let challenge = res.headers().contains_key(WWW_AUTHENTICATE);
    let bytes = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        retry_after,
        challenge,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        inner_called: called.load(Ordering::SeqCst) == 1,
    }
}

fn req_from(peer: &str, token: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::post("/mcp").header(AUTHORIZATION, format!("Bearer {token}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut r = b.body(Body::empty()).unwrap();
    r.extensions_mut().insert(ClientAddr(peer.parse().unwrap()));
    r
}

fn layer(limits: Limits) -> McpAuthLayer {
    builder()
        .rate_limits(Limiter::in_memory(limits))
        .build()
        .unwrap()
}

fn assert_limited(a: &Answer, token: &str) {
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        !a.inner_called,
        "a limited request never reaches the service"
    );
    assert!(!a.challenge, "a 429 carries no challenge");
    let secs: u64 = a
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(secs >= 1, "{secs}");
    assert!(!a.body.contains(token), "no token detail in a 429");
    assert!(a.body.contains("Too many requests"), "{}", a.body);
}

#[tokio::test]
async fn a_burst_then_429_with_retry_after_per_address() {
    let l = layer(Limits::new().per_address(slow(3)));
    let t = token().sign();
    for i in 0..3 {
        let a = send(&l, req_from("192.0.2.1:1000", &t, &[])).await;
        assert_eq!(a.status, StatusCode::OK, "request {i} within the burst");
        assert!(a.inner_called);
    }
    let a = send(&l, req_from("192.0.2.1:1001", &t, &[])).await;
    assert_limited(&a, &t);
    // One request per minute: the next one conforms in 60 s.
    assert_eq!(a.retry_after.as_deref(), Some("60"));
    // Another address has its own budget.
    let a = send(&l, req_from("192.0.2.2:1000", &t, &[])).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn the_budget_refills() {
    // One request per 400 ms, burst 1.
    let l = layer(Limits::new().per_address(rate(1, 400, 1)));
    let t = token().sign();
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &t, &[])).await.status,
        StatusCode::OK
    );
    let a = send(&l, req_from("192.0.2.1:1", &t, &[])).await;
    assert_limited(&a, &t);
    // Whole seconds, rounded up: 400 ms is sent as 1.
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &t, &[])).await.status,
        StatusCode::OK
    );
}

/// Counts every question to the key source, in memory or awaited.
#[derive(Debug)]
struct Counting(StaticKeySource, Arc<AtomicUsize>);

impl KeySource for Counting {
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.keys(issuer, kid)
    }
    fn current(&self, issuer: &str) -> Current {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.current(issuer)
    }
}

#[tokio::test]
async fn a_junk_token_flood_is_refused_before_any_key_work() {
    let asked = Arc::new(AtomicUsize::new(0));
    let l = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(Counting(keys(&Algorithm::ALL), asked.clone()))
        .token_cache(0)
        .rate_limits(Limiter::in_memory(Limits::new().per_address(slow(2))))
        .build()
        .unwrap();
    // Forged kids: each one sends the validator to the key source.
    let junk = |i: usize| {
        authority()
            .token()
            .aud(RES)
            .kid(&format!("forged-{i}"))
            .sign()
    };
    for i in 0..2 {
        let a = send(&l, req_from("198.51.100.7:9", &junk(i), &[])).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let before = asked.load(Ordering::SeqCst);
    assert!(before > 0, "the first junk tokens did reach the key source");
    for i in 2..200 {
        let t = junk(i);
        let a = send(&l, req_from("198.51.100.7:9", &t, &[])).await;
        assert_limited(&a, &t);
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        before,
        "no key work for a limited address"
    );
}

#[tokio::test]
async fn the_limit_sits_after_the_origin_check() {
    let l = builder()
        .allowed_origin("https://app.example.com")
        .rate_limits(Limiter::in_memory(Limits::new().per_address(slow(1))))
        .build()
        .unwrap();
    let t = token().sign();
    // A refused Origin is 403 and costs no budget.
    for _ in 0..3 {
        let a = send(
            &l,
            req_from("192.0.2.9:1", &t, &[("origin", "https://evil.example")]),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        send(&l, req_from("192.0.2.9:1", &t, &[])).await.status,
        StatusCode::OK
    );
    assert_limited(&send(&l, req_from("192.0.2.9:1", &t, &[])).await, &t);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // No trusted proxy: every X-Forwarded-For is the client's own text.
    let l = layer(Limits::new().per_address(slow(2)));
    let t = token().sign();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let xff = format!("203.0.113.{i}");
        let fwd = format!("for=203.0.113.{i}");
        let a = send(
            &l,
            req_from(
                "192.0.2.50:1",
                &t,
                &[("x-forwarded-for", &xff), ("forwarded", &fwd)],
            ),
        )
        .await;
        statuses.push(a.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429]);

    // A trusted proxy list that does not contain the peer: still ignored.
    let proxies = TrustedProxies::new(["10.0.0.0/8"], ProxyHeader::XForwardedFor).unwrap();
    let l = builder()
        .rate_limits(Limiter::in_memory(Limits::new().per_address(slow(1))))
        .trusted_proxies(proxies)
        .build()
        .unwrap();
    assert_eq!(
        send(
            &l,
            req_from("192.0.2.51:1", &t, &[("x-forwarded-for", "1.1.1.1")])
        )
        .await
        .status,
        200
    );
    let a = send(
        &l,
        req_from("192.0.2.51:1", &t, &[("x-forwarded-for", "2.2.2.2")]),
    )
    .await;
    assert_limited(&a, &t);
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client() {
    let proxies = TrustedProxies::new(["10.0.0.0/8"], ProxyHeader::XForwardedFor).unwrap();
    let l = builder()
        .rate_limits(Limiter::in_memory(Limits::new().per_address(slow(1))))
        .trusted_proxies(proxies)
        .build()
        .unwrap();
    let t = token().sign();
    // Two clients behind one proxy: one budget each.
    for client in ["198.51.100.1", "198.51.100.2"] {
        let a = send(
            &l,
            req_from("10.0.0.1:1", &t, &[("x-forwarded-for", client)]),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{client}");
    }
    // The first client again, through another proxy of the list, with a spoofed left hop.
    let a = send(
        &l,
        req_from(
            "10.0.0.2:1",
            &t,
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.1")],
        ),
    )
    .await;
    assert_limited(&a, &t);
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_64() {
    let l = layer(Limits::new().per_address(slow(2)));
    let t = token().sign();
    let ok = |a: Answer| a.status == StatusCode::OK;
    assert!(ok(send(&l, req_from("[2001:db8:1:2::1]:1", &t, &[])).await));
    assert!(ok(
        send(&l, req_from("[2001:db8:1:2:ffff::9]:1", &t, &[])).await
    ));
    // A third address of the same /64 shares the budget.
    assert_limited(
        &send(&l, req_from("[2001:db8:1:2::abcd]:1", &t, &[])).await,
        &t,
    );
    // Another /64 does not.
    assert!(ok(send(&l, req_from("[2001:db8:1:3::1]:1", &t, &[])).await));
}

#[tokio::test]
async fn post_auth_limits_count_per_principal_and_per_client() {
    let l = layer(Limits::new().per_principal(slow(2)).per_client(slow(3)));
    let alice = token().subject("alice").client_id("app-a").sign();
    // One principal from many addresses: one budget.
    for i in 0..2 {
        let a = send(&l, req_from(&format!("192.0.2.{i}:1"), &alice, &[])).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    assert_limited(
        &send(&l, req_from("192.0.2.99:1", &alice, &[])).await,
        &alice,
    );
    // Another principal of another client is not limited by alice.
    let bob = token().subject("bob").client_id("app-b").sign();
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &bob, &[])).await.status,
        StatusCode::OK
    );
    // The client id counts across its principals: app-a had 2 (alice), carol's is its 3rd.
    let carol = |n: &str| token().subject(n).client_id("app-a").sign();
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &carol("carol"), &[]))
            .await
            .status,
        StatusCode::OK
    );
    let dave = carol("dave");
    assert_limited(&send(&l, req_from("192.0.2.1:1", &dave, &[])).await, &dave);
    // A refused token is never counted post-auth: 401, not 429.
    let bad = token()
        .subject("alice")
        .client_id("app-a")
        .aud("https://other.example")
        .sign();
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &bad, &[])).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tiers_are_chosen_by_scope() {
    let l = layer(
        Limits::new()
            .per_principal(slow(1))
            .tier("mcp:admin", slow(3), None),
    );
    let user = token().subject("u1").sign();
    let admin = token().subject("a1").scope("mcp:read mcp:admin").sign();
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &user, &[])).await.status,
        StatusCode::OK
    );
    assert_limited(&send(&l, req_from("192.0.2.1:1", &user, &[])).await, &user);
    for _ in 0..3 {
        assert_eq!(
            send(&l, req_from("192.0.2.1:1", &admin, &[])).await.status,
            StatusCode::OK
        );
    }
    assert_limited(
        &send(&l, req_from("192.0.2.1:1", &admin, &[])).await,
        &admin,
    );
}

#[tokio::test]
async fn post_auth_limits_apply_after_a_decision_that_awaited_keys() {
    let l = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(AsyncOnly(keys(&Algorithm::ALL)))
        .token_cache(0)
        .rate_limits(Limiter::in_memory(Limits::new().per_principal(slow(1))))
        .build()
        .unwrap();
    let t = token().subject("slow-path").sign();
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &t, &[])).await.status,
        StatusCode::OK
    );
    assert_limited(&send(&l, req_from("192.0.2.1:1", &t, &[])).await, &t);
}

#[tokio::test]
async fn without_a_client_address_the_address_limit_cannot_apply() {
    let l = layer(Limits::new().per_address(slow(1)));
    let t = token().sign();
    for _ in 0..3 {
        let r = Request::post("/mcp")
            .header(AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&l, r).await.status, StatusCode::OK);
    }
}

/// A fleet-like store: answers after yielding to the runtime (never ready at once), from a
/// memory store, or fails when `down`.
struct Remote {
    inner: Arc<MemoryLimitStore>,
    down: bool,
    calls: Arc<AtomicUsize>,
}

impl RateLimitStore for Remote {
    type Future = Pin<Box<dyn Future<Output = Result<Decision, LimitStoreError>> + Send>>;

    fn check(&self, checks: &[LimitCheck<'_>]) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = if self.down {
            Err(LimitStoreError::new("connection refused"))
        } else {
            self.inner.check(checks).into_inner()
        };
        Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        })
    }
}

fn remote(limits: &Limits, down: bool) -> (Limiter<Remote>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Remote {
        inner: Arc::new(MemoryLimitStore::new(limits)),
        down,
        calls: calls.clone(),
    };
    (Limiter::with_store(limits.clone(), store), calls)
}

#[tokio::test]
async fn a_store_that_answers_later_limits_the_same() {
    let limits = Limits::new().per_address(slow(2)).per_principal(slow(3));
    let (limiter, calls) = remote(&limits, false);
    let l = builder().rate_limits(limiter).build().unwrap();
    let t = token().subject("remote").sign();
    // Per address: two, then 429.
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &t, &[])).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&l, req_from("192.0.2.1:1", &t, &[])).await.status,
        StatusCode::OK
    );
    assert_limited(&send(&l, req_from("192.0.2.1:1", &t, &[])).await, &t);
    // Per principal: its third request (from another address) passes, the fourth is 429.
    assert_eq!(
        send(&l, req_from("192.0.2.2:1", &t, &[])).await.status,
        StatusCode::OK
    );
    assert_limited(&send(&l, req_from("192.0.2.3:1", &t, &[])).await, &t);
    // 5 address checks, 4 principal checks (the address-limited one never got that far).
    assert_eq!(calls.load(Ordering::SeqCst), 9);
}

#[tokio::test]
async fn a_store_that_cannot_answer_fails_open() {
    let limits = Limits::new().per_address(slow(1)).per_principal(slow(1));
    let (limiter, calls) = remote(&limits, true);
    let l = builder().rate_limits(limiter).build().unwrap();
    let t = token().sign();
    for _ in 0..5 {
        let a = send(&l, req_from("192.0.2.1:1", &t, &[])).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.inner_called);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        10,
        "both checks were asked every time"
    );
}

#[tokio::test]
async fn no_limit_set_leaves_every_request_through() {
    let l = layer(Limits::new());
    let t = token().sign();
    for _ in 0..20 {
        assert_eq!(
            send(&l, req_from("192.0.2.1:1", &t, &[])).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_layer_with_dpop_answers_its_limits_as_429_without_a_challenge() {
    // With DPoP on, every rejection is rendered on the request's scheme (with a DPoP
    // challenge where one applies); a rate-limit refusal, before or after the token, is
    // still the plain 429 with Retry-After and no challenge of either scheme.
    use mcp_auth::dpop::{DpopMode, DpopPolicy, MemoryReplayStore};
    let l = builder()
        .rate_limits(Limiter::in_memory(
            Limits::new().per_address(slow(2)).per_principal(slow(1)),
        ))
        .dpop(
            DpopMode::Allowed,
            DpopPolicy::new(),
            MemoryReplayStore::new(100),
        )
        .build()
        .unwrap();
    let alice = token().subject("alice").sign();
    let a = send(&l, req_from("192.0.2.1:1", &alice, &[])).await;
    assert_eq!(a.status, StatusCode::OK);
    let post = send(&l, req_from("192.0.2.2:1", &alice, &[])).await;
    assert_limited(&post, &alice);
    let bob = token().subject("bob").sign();
    assert_eq!(
        send(&l, req_from("192.0.2.1:2", &bob, &[])).await.status,
        StatusCode::OK
    );
    let pre = send(&l, req_from("192.0.2.1:3", &bob, &[])).await;
    assert_limited(&pre, &bob);
}

#[tokio::test]
async fn a_memory_store_made_for_other_limits_fails_open_through_the_layer() {
    // The layer's in-memory path trusts a memory store made for its own limits; one made
    // for other rates is asked as any store: it cannot count the layer's rates, and the
    // request goes through (fail open), never counted on a rate it was not built for.
    let limits = Limits::new().per_address(slow(1)).per_principal(slow(1));
    let other = MemoryLimitStore::new(&Limits::new().per_address(rate(1, 1_000, 50)));
    let l = builder()
        .rate_limits(Limiter::with_store(limits, other))
        .build()
        .unwrap();
    let t = token().sign();
    for i in 0..5 {
        let a = send(&l, req_from("192.0.2.9:1", &t, &[])).await;
        assert_eq!(a.status, StatusCode::OK, "request {i}: failed open");
        assert!(a.inner_called);
    }
}
