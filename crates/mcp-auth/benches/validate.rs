//! Criterion micro-benchmarks of the hot path (issue 7) and of MCP classification (issue 6).
//!
//! Run: `cargo bench -p mcp-auth --bench validate`. Compare within one run: every group has
//! its own baseline (the raw aws-lc-rs verify with a pre-parsed key, or the bare service).

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use mcp_auth::core::mcp::{McpHeaders, McpPolicy, classify};
use mcp_auth_dev::TestAuthority;
use std::convert::Infallible;
use std::hint::black_box;
use tower::{Service, ServiceBuilder, ServiceExt};

#[path = "common/mod.rs"]
mod common;
use common::{ISS, RES, jsonwebtoken_key, jwks_layer, layer, raw_key, token};

fn validators(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = TestAuthority::new(ISS);
    let cold = layer(&a, 0);
    let warm = layer(&a, 10_000);
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let mut g = c.benchmark_group(format!("validate/{alg}"));
        let t = token(&a, alg);
        let (key, kid) = raw_key(&a, alg);
        let (input, sig) = t.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        g.bench_function("floor: aws-lc-rs verify, pre-parsed key", |b| {
            b.iter(|| {
                key.verify_sig(black_box(input.as_bytes()), black_box(&sig))
                    .unwrap()
            })
        });
        let jkey = jsonwebtoken_key(&a, &kid);
        let jalg: jsonwebtoken::Algorithm = alg.parse().unwrap();
        let mut v = jsonwebtoken::Validation::new(jalg);
        v.set_audience(&[RES]);
        v.set_issuer(&[ISS]);
        g.bench_function("jsonwebtoken::decode", |b| {
            b.iter(|| jsonwebtoken::decode::<serde_json::Value>(black_box(&t), &jkey, &v).unwrap())
        });
        let val = cold.clone();
        g.bench_function("mcp-auth validator, cache off (cold path)", |b| {
            b.to_async(&rt)
                .iter(|| async { val.validate_token(black_box(&t)).await.unwrap() })
        });
        let val = warm.clone();
        g.bench_function("mcp-auth validator, cache hit", |b| {
            b.to_async(&rt)
                .iter(|| async { val.validate_token(black_box(&t)).await.unwrap() })
        });
        g.finish();
    }
}

fn junk(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = TestAuthority::new(ISS);
    let val = layer(&a, 10_000);
    let mut g = c.benchmark_group("reject");
    let cases = [
        ("bad base64", "!!!.???.***".to_owned()),
        ("alg none", a.token().aud(RES).unsigned()),
        (
            "wrong alg (HS256)",
            a.token().aud(RES).sign_hs256(b"secret"),
        ),
        (
            "forged kid",
            a.token().aud(RES).kid("forged-kid-123").sign(),
        ),
        ("expired", a.token().aud(RES).expires_in(-3600).sign()),
    ];
    for (name, t) in cases {
        g.bench_with_input(BenchmarkId::from_parameter(name), &t, |b, t| {
            b.to_async(&rt)
                .iter(|| async { val.validate_token(black_box(t)).await.unwrap_err() })
        });
    }
    g.finish();
}

fn jwks_source(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = TestAuthority::new(ISS);
    let make = |cache: u64| jwks_layer(&rt, &a, cache);
    let (hot, cold) = (make(10_000), make(0));
    let t = token(&a, "RS256");
    let mut g = c.benchmark_group("jwks-source");
    g.bench_function("cache hit", |b| {
        b.to_async(&rt)
            .iter(|| async { hot.validate_token(black_box(&t)).await.unwrap() })
    });
    g.bench_function("cache off", |b| {
        b.to_async(&rt)
            .iter(|| async { cold.validate_token(black_box(&t)).await.unwrap() })
    });
    let forged: Vec<String> = (0..1000)
        .map(|i| a.token().aud(RES).kid(&format!("forged-{i}")).sign())
        .collect();
    let mut i = 0usize;
    g.bench_function("forged kid, each new (cooldown)", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % forged.len();
            let t = &forged[i];
            let v = &hot;
            async move { v.validate_token(black_box(t)).await.unwrap_err() }
        })
    });
    g.finish();
}

fn through_layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = TestAuthority::new(ISS);
    let t = token(&a, "RS256");
    let echo = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    // The same service behind the layer, which hands on the request body as its own type.
    let inner = tower::service_fn(|_req: Request<mcp_auth::RequestBody<Body>>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let req = || {
        Request::post("/mcp")
            .header("authorization", format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    let mut g = c.benchmark_group("layer/RS256");
    g.bench_function("bare service", |b| {
        b.to_async(&rt)
            .iter(|| async { echo.oneshot(req()).await.unwrap() })
    });
    for (name, cache) in [("mcp-auth, cache off", 0), ("mcp-auth, cache on", 10_000)] {
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

fn classification(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = TestAuthority::new(ISS);
    let val = layer(&a, 0);
    let t = token(&a, "RS256");
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 42, "method": "tools/call",
        "params": {"name": "add_note", "arguments": {"title": "groceries", "text": "eggs, milk, bread, coffee, apples, rice", "tags": ["home", "weekly"]},
                   "_meta": {"progressToken": "abc-123"}}
    })
    .to_string();
    let mut hm = http::HeaderMap::new();
    hm.insert("mcp-method", "tools/call".parse().unwrap());
    hm.insert("mcp-name", "add_note".parse().unwrap());
    let headers = McpHeaders::from_headers(&hm).unwrap();
    let policy = McpPolicy::builder()
        .default_scopes(["mcp:read"])
        .tool("whoami", ["mcp:read"])
        .tool("add_note", ["mcp:write"])
        .tool("admin_reset_notes", ["mcp:admin"])
        .build()
        .unwrap();
    let mut g = c.benchmark_group("classify");
    g.bench_function("JWT check, RS256, cache off (the reference)", |b| {
        b.to_async(&rt)
            .iter(|| async { val.validate_token(black_box(&t)).await.unwrap() })
    });
    g.bench_function("classify tools/call body + headers, then policy", |b| {
        b.iter(|| {
            let c = classify(black_box(&headers), black_box(body.as_bytes())).unwrap();
            black_box(policy.requirement(&c))
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    validators,
    junk,
    jwks_source,
    through_layer,
    classification
);
criterion_main!(benches);
