//! Interleaved ratios (issue 7): each measurement and its baseline alternate in short
//! rounds, and the report is the median of the per-round ratios, so a shared, noisy machine
//! slows both sides of a ratio alike instead of whichever ran during a burst.
//!
//! Run: `cargo bench -p mcp-auth --bench ratio` (about a minute). `ROUNDS=61` for more.
//!
//! Rows:
//! - `validate/<alg>`: the validator with the token cache off (the cold path: shape, header,
//!   payload, claims, key lookup, signature) over the floor, a raw aws-lc-rs verify with a
//!   pre-parsed key of the same signature (target: within 1.15x);
//! - `layer/...`: a request through `McpAuthLayer` over the same request to the bare service;
//! - `floor/...`: the cache hit over a floor layer that knows the token in advance and does
//!   only what any bearer layer must do for a token it already verified (find the header,
//!   compare the token, read the clock, remove the header, put a context in the extensions);
//!   the load benchmark's `floor` flavour takes the same steps.

#[path = "common/mod.rs"]
mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{ISS, RES, bearer_request as req, echo, floor, jwks_layer, layer, raw_key, token};
use mcp_auth::core::validation::Step;
use mcp_auth_dev::TestAuthority;
use std::hint::black_box;
use std::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

/// Seconds per call of `f`, over `n` calls.
fn time(n: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() / f64::from(n)
}

/// Alternates `base` and `subject` for `rounds` rounds of about `round_secs` each side
/// (after a warm-up), and returns the per-round ratios subject/base, sorted, with the
/// median base and subject times.
fn ratios(
    rounds: usize,
    mut base: impl FnMut(),
    mut subject: impl FnMut(),
) -> (Vec<f64>, f64, f64) {
    // Size the inner loop from a warm-up so a round lasts ~5 ms a side.
    let per = time(50, &mut base).max(1e-9);
    let n = ((5e-3 / per) as u32).clamp(10, 200_000);
    time(n, &mut subject);
    let (mut r, mut bs, mut ss) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        // Alternate which side goes first, so a drift within a round cancels out.
        let (b, s) = if i % 2 == 0 {
            let b = time(n, &mut base);
            (b, time(n, &mut subject))
        } else {
            let s = time(n, &mut subject);
            (time(n, &mut base), s)
        };
        r.push(s / b);
        bs.push(b);
        ss.push(s);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mb, ms) = (med(&mut bs), med(&mut ss));
    r.sort_by(f64::total_cmp);
    (r, mb, ms)
}

fn report(name: &str, baseline: &str, target: Option<f64>, (r, b, s): (Vec<f64>, f64, f64)) {
    let q = |p: f64| r[((r.len() - 1) as f64 * p).round() as usize];
    let verdict = match target {
        Some(t) if q(0.5) <= t => format!("target <= {t:.2}x: met"),
        Some(t) => format!("target <= {t:.2}x: MISSED"),
        None => String::new(),
    };
    println!(
        "{name:<44} {:>6.3}x  (p10 {:.3}, p90 {:.3})  {:>8.2} us vs {baseline} {:>8.2} us  {verdict}",
        q(0.5),
        q(0.1),
        q(0.9),
        s * 1e6,
        b * 1e6,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument, if any, selects rows by substring.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(31);
    let a = TestAuthority::new(ISS);
    let cold = layer(&a, 0);
    let warm = layer(&a, 10_000);
    println!("median of {rounds} interleaved rounds (p10/p90 of the per-round ratios)");

    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let name = format!("validate/{alg}: validator, cache off");
        if !name.contains(&filter) {
            continue;
        }
        let t = token(&a, alg);
        let (key, _) = raw_key(&a, alg);
        let (input, sig) = t.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let v = cold.jwt_validator().unwrap().clone();
        // The whole validation is synchronous with keys in memory; make sure it is taken.
        assert!(matches!(v.step(&t), Step::Done(Ok(_))));
        let r = ratios(
            rounds,
            || key.verify_sig(black_box(input.as_bytes()), &sig).unwrap(),
            || {
                black_box(decided(v.step(black_box(&t))));
            },
        );
        report(&name, "floor", Some(1.15), r);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = vec![token(&a, "RS256")];
    let forged = vec![a.token().aud(RES).kid("forged-kid-1").sign()];
    // The same service behind the layer, which hands on the request body as its own type.
    let inner = tower::service_fn(echo::<mcp_auth::RequestBody<axum::body::Body>>);
    let echo = tower::service_fn(echo::<axum::body::Body>);
    let new_kids: Vec<String> =
        if "layer/RS256: JWKS source, forged kid, each new".contains(&filter) {
            (0..2000)
                .map(|i| a.token().aud(RES).kid(&format!("forged-{i}")).sign())
                .collect()
        } else {
            Vec::new()
        };
    let mut services = [
        ServiceBuilder::new().layer(warm).service(inner),
        ServiceBuilder::new().layer(cold).service(inner),
        // The load benchmark's flood: every request a new kid, through the JWKS key source.
        ServiceBuilder::new()
            .layer(jwks_layer(&rt, &a, 10_000))
            .service(inner),
    ];
    let cases = [
        ("layer/RS256: repeated token (cache hit)", &t, 200, 0),
        ("layer/RS256: forged kid (401)", &forged, 401, 0),
        // The load benchmark's repeated token: a cache hit through the JWKS key source.
        (
            "layer/RS256: JWKS source, repeated token (cache hit)",
            &t,
            200,
            2,
        ),
        (
            "layer/RS256: JWKS source, forged kid, each new",
            &new_kids,
            401,
            2,
        ),
        ("layer/RS256: cache off (cold path)", &t, 200, 1),
    ];
    for (name, toks, status, svc) in cases {
        if !name.contains(&filter) || toks.is_empty() {
            continue;
        }
        let svc = &mut services[svc];
        let mut call = |r| rt.block_on(svc.call(r)).unwrap().status().as_u16();
        assert_eq!(call(req(&toks[0])), status, "{name}");
        let (mut i, mut j) = (0, 0);
        let r = ratios(
            rounds,
            || {
                i = (i + 1) % toks.len();
                let res = rt.block_on(echo.oneshot(req(&toks[i]))).unwrap();
                black_box(res);
            },
            || {
                j = (j + 1) % toks.len();
                black_box(call(req(&toks[j])));
            },
        );
        report(name, "bare service", None, r);
    }

    let name = "floor/RS256: repeated token (cache hit) over the floor layer";
    if name.contains(&filter) {
        let mut floor = floor(&t[0]);
        let svc = &mut services[0];
        let r = ratios(
            rounds,
            || {
                let res = rt.block_on(floor.call(req(&t[0]))).unwrap();
                assert_eq!(res.status(), 200);
                black_box(res);
            },
            || {
                let res = rt.block_on(svc.call(req(&t[0]))).unwrap();
                black_box(res);
            },
        );
        report(name, "floor layer", None, r);
    }
}

/// The context of a first step that decided (what the layer builds from it), as the old
/// `validate_token_now` returned it: the same work is measured.
fn decided(step: mcp_auth::core::validation::Step) -> mcp_auth::AuthContext {
    match step {
        Step::Done(Ok(v)) => mcp_auth::AuthContext::new(v.claims, v.scopes, v.token_hash),
        other => panic!("not decided from memory: {other:?}"),
    }
}
