//! Criterion benchmark of an opaque token's cold path (issue 16): a cache miss, judged by an
//! in-process introspector that answers at once (no socket, no HTTP client), so what is
//! timed is our own work: routing the token (not JWT-shaped: to the one introspecting
//! issuer), the pre-checks, the RFC 7662 answer parsed and judged by the entry's rules
//! (`active`, `exp`/`iat`, `iss`, `aud`, `token_type`, scope mapping), the verified token
//! built, the context handed on. The goal: a median of at most 20 µs.
//!
//! Run: `cargo bench -p mcp-auth --bench opaque`; the medians are in
//! `target/criterion/opaque_*/*/new/estimates.json` (`median.point_estimate`, ns).

use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use mcp_auth::TrustedIssuer;
use mcp_auth::core::introspection::{IntrospectFuture, IntrospectionRules, TokenIntrospector};
use mcp_auth::introspection::Introspection;
use mcp_auth_dev::TestAuthority;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower::{Service, ServiceBuilder};

#[path = "common/mod.rs"]
mod common;
use common::{RES, builder_for_jwks, token};

/// The opaque-token issuer and a token as a 32-byte random handle encodes (43 chars).
const OPAQUE_ISS: &str = "https://opaque.example.com";
const OPAQUE_TOKEN: &str = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx";

/// An in-process introspector: one RFC 7662 answer (bytes prepared once, as an endpoint
/// would send them), judged on every call by the rules the layer made for the entry, at the
/// real clock, answered at once.
#[derive(Debug)]
struct AtOnce {
    rules: IntrospectionRules,
    answer: Arc<Vec<u8>>,
}

impl TokenIntrospector for AtOnce {
    fn issuer(&self) -> &str {
        self.rules.issuer()
    }

    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let r = self
            .rules
            .check_answer(token, &self.answer, now)
            .map(Arc::new);
        Box::pin(std::future::ready(r))
    }
}

/// A layer trusting a JWT issuer (the reference) and the opaque-token issuer; `cache`: the
/// layer's verified-token cache size (0: every request is a miss).
fn layer(a: &TestAuthority, cache: u64) -> mcp_auth::McpAuthLayer {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let answer = Arc::new(
        serde_json::json!({"active": true, "iss": OPAQUE_ISS, "aud": RES,
            "sub": "248289761001", "client_id": "s6BhdRkqt3", "scope": "mcp:read mcp:write",
            "exp": now + 86_400, "iat": now, "token_type": "Bearer"})
        .to_string()
        .into_bytes(),
    );
    builder_for_jwks(&a.jwks(), cache)
        .trusted_issuer(
            TrustedIssuer::new(OPAQUE_ISS).introspection(
                Introspection::custom(move |rules| AtOnce { rules, answer })
                    .max_cache(Duration::from_secs(60)),
            ),
        )
        .build()
        .unwrap()
}

fn cold_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = TestAuthority::new(common::ISS);
    let jwt = token(&a, "RS256");
    let cold = layer(&a, 0);
    let warm = layer(&a, 10_000);
    let mut g = c.benchmark_group("opaque_validate");
    g.bench_function("JWT RS256, cache off (reference)", |b| {
        b.to_async(&rt)
            .iter(|| async { cold.validate_token(black_box(&jwt)).await.unwrap() })
    });
    g.bench_function("opaque, cache off: introspected at once (cold path)", |b| {
        b.to_async(&rt)
            .iter(|| async { cold.validate_token(black_box(OPAQUE_TOKEN)).await.unwrap() })
    });
    g.bench_function("opaque, cache hit", |b| {
        b.to_async(&rt)
            .iter(|| async { warm.validate_token(black_box(OPAQUE_TOKEN)).await.unwrap() })
    });
    g.finish();

    // The whole request through the layer: header parsing, the decision, the context in
    // the request's extensions, the inner service, the response.
    let inner = tower::service_fn(|_req: Request<mcp_auth::RequestBody<Body>>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let req = || {
        Request::post("/mcp")
            .header("authorization", format!("Bearer {OPAQUE_TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    let mut g = c.benchmark_group("opaque_layer");
    for (name, cache) in [("cache off (cold path)", 0), ("cache on", 10_000)] {
        let mut svc = ServiceBuilder::new().layer(layer(&a, cache)).service(inner);
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let fut = svc.call(req());
                async move { assert_eq!(fut.await.unwrap().status(), 200) }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, cold_path);
criterion_main!(benches);
