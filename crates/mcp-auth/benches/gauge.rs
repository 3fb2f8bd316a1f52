//! The instruction gauge (issue 13): one scenario, run N times, for counting under callgrind.
//!
//! Wall-clock rounds on a shared machine spread too much to judge a few percent, so
//! `benches/gauge/run.sh` runs each scenario of this binary under `valgrind --tool=callgrind`
//! with two iteration counts and takes the difference of the instruction totals over the
//! difference of the counts: instructions per request, with set-up and runtime start-up
//! cancelled. Everything here is chosen to make that count the same on every run:
//!
//! - keys and tokens come from a committed fixture (`benches/gauge/fixture.json`, `exp` in
//!   2100), not from a fresh `TestAuthority`: RSA key generation and ECDSA signatures differ
//!   on every run, and so would the set-up's and the verify's instruction counts;
//! - one thread: futures are polled once with a no-op waker inside a current-thread tokio
//!   runtime (every measured request is answered synchronously; one that is not is finished
//!   with `block_on` and reported on stderr);
//! - the forged-kid tokens are prepared for [`FORGED_MAX`] requests whatever N is, so the
//!   set-up is the same for both counts.
//!
//! Usage (normally through `run.sh`): `gauge <scenario> <iterations>`, `gauge list`, and
//! `gauge mint`, which prints a new fixture (new keys and tokens; the baseline must then be
//! recounted).
//!
//! Scenarios (each request is built inside the loop, on every side of a ratio):
//!
//! | scenario | what one iteration is |
//! |---|---|
//! | `bare` | a request with the RS256 token to the bare service (no auth) |
//! | `floor` | the same request through the floor layer (`common::floor`) |
//! | `hit` | the same request through `McpAuthLayer` with the verified-token cache, token in use |
//! | `cold_rs256`, `cold_es256` | `JwtValidator::step` (decided from memory) and the `AuthContext`, cache off |
//! | `raw_rs256`, `raw_es256` | the raw aws-lc-rs verify of the same token's signature, key pre-parsed |
//! | `forged` | a request with a new unknown `kid` through the JWKS key source in its cooldown (401) |
//! | `hit_roles`, `cold_roles_rs256` | `hit` and `cold_rs256` with a layer that maps roles to scopes ([`roles_layer`]) |

#[path = "common/mod.rs"]
mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{
    ISS, RES, bearer_request, builder_for_jwks, echo, floor, jwks_layer_for, layer_for_jwks,
};
use mcp_auth::core::claims::ScopeSource;
use mcp_auth::core::validation::Step;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tower::{Layer, Service};

/// The committed keys and tokens.
const FIXTURE: &str = include_str!("../../../benches/gauge/fixture.json");

/// Forged-kid tokens prepared (one per request, each `kid` new), whatever the iteration count.
const FORGED_MAX: usize = 4096;

const SCENARIOS: [&str; 10] = [
    "bare",
    "floor",
    "hit",
    "cold_rs256",
    "cold_es256",
    "raw_rs256",
    "raw_es256",
    "forged",
    "hit_roles",
    "cold_roles_rs256",
];

/// The layer of `hit`/`cold_rs256` with a claim mapping that maps roles to scopes, for the
/// issue 15 rows (a preset mapping roles stays within 5% of the plain RFC 9068 path). The
/// fixture's token carries no provider roles (a new one would change every baseline
/// count), so its own claims are the roles: `scope` (a typed claim) and `acr` (an untyped
/// one, captured while parsing like Entra's `roles` or Keycloak's `realm_access`), each
/// through the role map, which grants `mcp:read` (required) and more.
fn roles_layer(jwks: &serde_json::Value, cache: u64) -> mcp_auth::McpAuthLayer {
    builder_for_jwks(jwks, cache)
        .scope_sources([
            ScopeSource::claim("scope").roles(),
            ScopeSource::claim("acr").roles(),
        ])
        .map_role("mcp:read", ["mcp:read", "mcp:list"])
        .map_role("mcp:write", ["mcp:write"])
        .map_role("urn:mace:incommon:iap:silver", ["mcp:read"])
        .map_role("unused-role", ["mcp:admin"])
        .build()
        .unwrap()
}

struct Fixture {
    jwks: serde_json::Value,
    rs256: String,
    es256: String,
}

fn fixture() -> Fixture {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture.json");
    assert_eq!(v["iss"], ISS, "fixture issuer");
    assert_eq!(v["aud"], RES, "fixture audience");
    let tok = |alg: &str| v["tokens"][alg].as_str().expect("fixture token").to_owned();
    Fixture {
        jwks: v["jwks"].clone(),
        rs256: tok("RS256"),
        es256: tok("ES256"),
    }
}

/// Prints a new fixture: fresh keys, and the benches' realistic token for RS256 and ES256
/// with `exp` in 2100.
fn mint() {
    let a = mcp_auth_dev::TestAuthority::new(ISS);
    let tok = |alg: &str| {
        common::token_builder(&a, alg)
            .claim("exp", serde_json::json!(4_102_444_800_i64))
            .sign()
    };
    let out = serde_json::json!({
        "comment": "Keys and tokens of the instruction gauge (crates/mcp-auth/benches/gauge.rs). \
                    Test keys, public part only; regenerate with `gauge mint`, then recount \
                    the baseline (benches/gauge/run.sh --update).",
        "iss": ISS,
        "aud": RES,
        "jwks": a.jwks(),
        "tokens": { "RS256": tok("RS256"), "ES256": tok("ES256") },
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// Requests answered with `block_on` because their first poll was pending.
static PENDING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Polls `fut` once with a no-op waker (inside `rt`'s context); finishes it on `rt` if it is
/// not ready.
fn drive<F: Future>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => {
            PENDING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(fut)
        }
    }
}

/// `n` requests through `svc`, each answered with `status`; `tokens(i)` is the i-th token.
fn requests<'t, S, ResBody>(
    rt: &tokio::runtime::Runtime,
    mut svc: S,
    n: usize,
    status: u16,
    tokens: impl Fn(usize) -> &'t str,
) where
    S: Service<http::Request<axum::body::Body>, Response = http::Response<ResBody>>,
    S::Error: std::fmt::Debug,
{
    for i in 0..n {
        let res = drive(rt, svc.call(bearer_request(tokens(i)))).unwrap();
        assert_eq!(res.status().as_u16(), status);
        black_box(res);
    }
}

/// A token with the header `{"alg":"RS256","kid":"k<i>","typ":"at+jwt"}` (a `kid` of the
/// same length as the fixture's) and the rest of `token`: refused after the header, so its
/// signature does not matter.
fn forged(token: &str, i: usize) -> String {
    let header = format!(r#"{{"alg":"RS256","kid":"k{i:06}","typ":"at+jwt"}}"#);
    let rest = &token[token.find('.').unwrap()..];
    format!("{}{rest}", URL_SAFE_NO_PAD.encode(header))
}

fn main() {
    // `cargo bench` passes `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let scenario = args.first().map_or("", String::as_str);
    match scenario {
        "mint" => return mint(),
        "list" => {
            for s in SCENARIOS {
                println!("{s}");
            }
            return;
        }
        s if SCENARIOS.contains(&s) => {}
        _ => {
            eprintln!(
                "usage: gauge <{}|list|mint> <iterations>",
                SCENARIOS.join("|")
            );
            std::process::exit(2);
        }
    }
    let n: usize = args
        .get(1)
        .and_then(|v| v.parse().ok())
        .expect("an iteration count");
    let f = fixture();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = rt.enter();
    let bare = tower::service_fn(echo::<axum::body::Body>);
    // The same service behind the layer, which hands on the request body as its own type.
    let inner = tower::service_fn(echo::<mcp_auth::RequestBody<axum::body::Body>>);
    let rs = f.rs256.as_str();
    match scenario {
        "bare" => requests(&rt, bare, n, 200, |_| rs),
        "floor" => {
            let mut svc = floor(rs);
            requests(&rt, &mut svc, 1, 200, |_| rs);
            requests(&rt, &mut svc, n, 200, |_| rs);
        }
        "hit" | "hit_roles" => {
            let layer = if scenario == "hit" {
                layer_for_jwks(&f.jwks, 10_000)
            } else {
                roles_layer(&f.jwks, 10_000)
            };
            let mut svc = layer.layer(inner);
            // Verified, then admitted to the cache (second use), then hits.
            requests(&rt, &mut svc, 3, 200, |_| rs);
            requests(&rt, &mut svc, n, 200, |_| rs);
        }
        "cold_rs256" | "cold_es256" => {
            let t = if scenario == "cold_rs256" {
                rs
            } else {
                &f.es256
            };
            let v = layer_for_jwks(&f.jwks, 0).jwt_validator().unwrap().clone();
            // The whole validation is synchronous with keys in memory.
            assert!(matches!(v.step(t), Step::Done(Ok(_))));
            for _ in 0..n {
                black_box(decided(v.step(black_box(t))));
            }
        }
        "cold_roles_rs256" => {
            let v = roles_layer(&f.jwks, 0).jwt_validator().unwrap().clone();
            match v.step(rs) {
                Step::Done(Ok(v)) => {
                    assert_eq!(v.scopes.to_scope_string(), "mcp:list mcp:read mcp:write");
                }
                other => panic!("not decided from memory: {other:?}"),
            }
            for _ in 0..n {
                black_box(decided(v.step(black_box(rs))));
            }
        }
        "raw_rs256" | "raw_es256" => {
            let (t, alg) = if scenario == "raw_rs256" {
                (rs, "RS256")
            } else {
                (f.es256.as_str(), "ES256")
            };
            let header = URL_SAFE_NO_PAD.decode(&t[..t.find('.').unwrap()]).unwrap();
            let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
            let kid = header["kid"].as_str().unwrap();
            let key = common::raw_key_for_jwks(&f.jwks, kid, alg);
            let (input, sig) = t.rsplit_once('.').unwrap();
            let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            for _ in 0..n {
                key.verify_sig(black_box(input.as_bytes()), black_box(&sig))
                    .unwrap();
            }
        }
        "forged" => {
            assert!(n <= FORGED_MAX, "forged: at most {FORGED_MAX} iterations");
            let toks: Vec<String> = (0..FORGED_MAX).map(|i| forged(rs, i)).collect();
            assert_eq!(toks[0].len(), rs.len());
            let (layer, source) = jwks_layer_for(&rt, &f.jwks, 10_000);
            let mut svc = layer.layer(inner);
            // The first unknown kid refetches the JWKS and starts the cooldown; the second
            // is refused in it.
            let warm = [forged(rs, FORGED_MAX), forged(rs, FORGED_MAX + 1)];
            requests(&rt, &mut svc, 2, 401, |i| warm[i].as_str());
            let before = source.stats();
            requests(&rt, &mut svc, n, 401, |i| toks[i].as_str());
            let after = source.stats();
            // Every measured request was refused in the cooldown, none refetched.
            assert_eq!(
                after.kid_refetches, before.kid_refetches,
                "refetch in the loop"
            );
            // Each refused from memory (`KeySource::current`, one read), never asking `keys`
            // (which alone counts `cooldown_rejections` since issue 14).
            assert_eq!(after.fetches, before.fetches, "fetch in the loop");
            assert_eq!(after.hits - before.hits, n as u64, "memory reads");
            assert_eq!(after.misses, before.misses, "waits in the loop");
        }
        _ => unreachable!(),
    }
    let pending = PENDING.load(std::sync::atomic::Ordering::Relaxed);
    if pending > 0 {
        eprintln!("gauge {scenario}: {pending} request(s) were not ready at the first poll");
    }
    println!("gauge {scenario} {n}: ok");
}

/// The context of a first step that decided (what the layer builds from it), as the old
/// `validate_token_now` returned it: the same work is measured.
fn decided(step: mcp_auth::core::validation::Step) -> mcp_auth::AuthContext {
    match step {
        Step::Done(Ok(v)) => mcp_auth::AuthContext::new(v.claims, v.scopes, v.token_hash),
        other => panic!("not decided from memory: {other:?}"),
    }
}
