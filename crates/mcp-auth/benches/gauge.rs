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
//! `gauge mint` / `gauge mint-keycloak`, which print a new `fixture.json` /
//! `fixture_keycloak.json` (new keys and tokens; the baseline's rows that use it must then be
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
//! | `hit_keycloak`, `cold_keycloak_rs256` | `hit` and `cold_rs256` through the Keycloak preset mapping realm roles ([`keycloak_layer`]), with the Keycloak-shaped token of `fixture_keycloak.json` |
//! | `raw_keycloak_rs256` | `raw_rs256` for that token and its key (the key differs from `raw_rs256`'s) |
//! | `cold_two_issuers_rs256` | `cold_rs256` with two [`TrustedIssuer`] entries, the token from the second ([`two_issuers_layer`]) |
//! | `hit_opaque` | `hit` with an opaque token (43 base64url chars) of an introspected issuer ([`opaque_layer`]), in steady state |
//! | `cold_opaque` | the same request with the layer's cache off: every request introspected, the in-process introspector answering at once |
//! | `hit_dpop_es256`, `raw_dpop_proof_es256`, `hit_dpop_allowed` | issue 17's DPoP rows: see `gauge_dpop/mod.rs` (`gauge mint-dpop` prints its `fixture_dpop.json`) |
//! | `hit_limits` | `hit` with every rate limit on in memory (per address, principal, client; never reached) and the client address inserted per request as axum's `ConnectInfo<SocketAddr>` |
//! | `hit_addr` | `hit` with the same client-address extension inserted per request and no limit: what a server providing addresses pays without limits, so `hit_limits/hit_addr` is the layer's share |
//! | `hit_limits_metrics` | `hit_limits` with a metrics recorder installed (metrics-util's atomic registry, as `hit_metrics`): issue 18's "limits on and metrics on" |

#[path = "common/mod.rs"]
mod common;
mod gauge_dpop;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{
    ISS, RES, bearer_request, builder_for_jwks, echo, floor, jwks_layer_for, layer_for_jwks,
};
use mcp_auth::TrustedIssuer;
use mcp_auth::core::claims::ScopeSource;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::validation::Step;
use mcp_auth::providers::Keycloak;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tower::{Layer, Service};

/// The committed keys and tokens.
const FIXTURE: &str = include_str!("../../../benches/gauge/fixture.json");

/// The Keycloak preset rows' key and token: a second fixture, so `fixture.json` (and every
/// count taken with it) stays as it is. The preset's issuer is `{base}/realms/{realm}`,
/// which the first fixture's token cannot carry.
const FIXTURE_KEYCLOAK: &str = include_str!("../../../benches/gauge/fixture_keycloak.json");

/// The Keycloak server of the preset rows (the gauge's issuer origin) and its realm.
const KC_BASE: &str = ISS;
const KC_REALM: &str = "acme";
/// The `kid` of the Keycloak fixture's key (as long as the first fixture's `rs256-1` plus
/// the three bytes its header `typ` is shorter: the two headers have the same length).
const KC_KID: &str = "kc-rs256-1";

/// Forged-kid tokens prepared (one per request, each `kid` new), whatever the iteration count.
const FORGED_MAX: usize = 4096;

const SCENARIOS: [&str; 20] = [
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
    "hit_keycloak",
    "cold_keycloak_rs256",
    "raw_keycloak_rs256",
    "cold_two_issuers_rs256",
    "hit_opaque",
    "cold_opaque",
    "hit_metrics",
    "hit_limits",
    "hit_limits_metrics",
    "hit_addr",
];

/// The opaque-token issuer of the issue 16 rows and its token (43 base64url chars, as a
/// 32-byte random handle encodes).
const OPAQUE_ISS: &str = "https://opaque.example.com";
const OPAQUE_TOKEN: &str = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx";

/// An in-process introspector: one canned RFC 7662 answer (bytes prepared once), judged by
/// the rules the layer made for the entry, answered at once (the cost measured is ours).
#[derive(Debug)]
struct Canned {
    rules: mcp_auth::core::introspection::IntrospectionRules,
    answer: std::sync::Arc<Vec<u8>>,
}

impl mcp_auth::core::introspection::TokenIntrospector for Canned {
    fn issuer(&self) -> &str {
        self.rules.issuer()
    }

    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> mcp_auth::core::introspection::IntrospectFuture<'a> {
        // A fixed `now` before the answer's `exp` (2100): no clock read in the count.
        let r = self
            .rules
            .check_answer(token, &self.answer, 1_796_163_888)
            .map(std::sync::Arc::new);
        Box::pin(std::future::ready(r))
    }
}

/// The layer of `hit_opaque`/`cold_opaque`: [`builder_for_jwks`] plus an opaque-token issuer
/// introspected through [`Canned`].
fn opaque_layer(jwks: &serde_json::Value, cache: u64) -> mcp_auth::McpAuthLayer {
    let answer = std::sync::Arc::new(
        serde_json::json!({"active": true, "iss": OPAQUE_ISS, "aud": RES,
            "sub": "248289761001", "client_id": "s6BhdRkqt3", "scope": "mcp:read mcp:write",
            "exp": 4_102_444_800_i64, "iat": 1_796_163_888_i64, "token_type": "Bearer"})
        .to_string()
        .into_bytes(),
    );
    builder_for_jwks(jwks, cache)
        .trusted_issuer(
            TrustedIssuer::new(OPAQUE_ISS).introspection(
                // The answer is judged at a fixed instant (no clock read counted) and the layer
                // reads the real clock: a maximum reaching the answer's `exp` keeps the answer
                // reusable (with the default 60 s it would be over at once, and every request
                // would be introspected again).
                mcp_auth::introspection::Introspection::custom(move |rules| Canned {
                    rules,
                    answer,
                })
                .max_cache(std::time::Duration::from_secs(
                    4_102_444_800 - 1_796_163_888,
                )),
            ),
        )
        .build()
        .unwrap()
}

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

/// The keys of a JWKS document, for a [`StaticKeySource`].
fn key_set(jwks: &serde_json::Value) -> KeySet {
    let jwks = serde_json::to_vec(jwks).unwrap();
    KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys
}

/// The Keycloak preset as issue 15's bound means it: realm roles (`realm_access.roles`, a
/// nested path) mapped to this server's scopes, the preset's `typ: Bearer` claim check, the
/// client in `azp`.
fn keycloak_preset() -> Keycloak {
    Keycloak::new(KC_BASE, KC_REALM)
        .realm_roles()
        .map_role("mcp-user", ["mcp:read", "mcp:list"])
        .map_role("mcp-editor", ["mcp:write"])
        .map_role("mcp-admin", ["mcp:admin"])
}

/// The layer of `hit_keycloak`/`cold_keycloak_rs256`: only the Keycloak preset's issuer, its
/// keys from a static source, the layer settings of [`builder_for_jwks`].
fn keycloak_layer(kc: &Fixture, cache: u64) -> mcp_auth::McpAuthLayer {
    let preset = keycloak_preset();
    let iss = preset.issuer();
    mcp_auth::McpAuthLayer::builder(RES)
        .trusted_issuer(preset)
        .key_source(StaticKeySource::new().with_issuer(iss, key_set(&kc.jwks)))
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .token_cache(cache)
        .build()
        .unwrap()
}

/// The layer of `cold_two_issuers_rs256`: two [`TrustedIssuer`] entries, the Keycloak preset
/// first and the gauge's RFC 9068 issuer second (with [`builder_for_jwks`]'s algorithms), so
/// the fixture's token is judged by the second entry.
fn two_issuers_layer(f: &Fixture, kc: &Fixture, cache: u64) -> mcp_auth::McpAuthLayer {
    let preset = keycloak_preset();
    let kc_iss = preset.issuer();
    mcp_auth::McpAuthLayer::builder(RES)
        .trusted_issuer(preset)
        .trusted_issuer(TrustedIssuer::new(ISS).algorithms([
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ]))
        .key_source(
            StaticKeySource::new()
                .with_issuer(kc_iss, key_set(&kc.jwks))
                .with_issuer(ISS, key_set(&f.jwks)),
        )
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .token_cache(cache)
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

/// The Keycloak fixture (its `es256` is empty: the preset rows are RS256 only).
fn fixture_keycloak() -> Fixture {
    let v: serde_json::Value =
        serde_json::from_str(FIXTURE_KEYCLOAK).expect("fixture_keycloak.json");
    assert_eq!(
        v["iss"],
        keycloak_preset().issuer(),
        "Keycloak fixture issuer"
    );
    assert_eq!(v["aud"], RES, "Keycloak fixture audience");
    Fixture {
        jwks: v["jwks"].clone(),
        rs256: v["tokens"]["RS256"]
            .as_str()
            .expect("fixture token")
            .to_owned(),
        es256: String::new(),
    }
}

/// Prints a new Keycloak fixture: a fresh RS256 key (`kid` [`KC_KID`]) and an access token
/// shaped as Keycloak 26 issues them (header `typ: JWT`; claims `typ: Bearer`, `azp`,
/// `realm_access.roles`, `scope`), with the first fixture token's values where the claim is
/// the same and `exp` in 2100. It is exactly as long as the first fixture's RS256 token (270
/// bytes of claims, 46 of header), so the ratios to `hit` and `cold_rs256` measure the
/// preset's work, not a longer token's hashing and parsing.
fn mint_keycloak() {
    let iss = keycloak_preset().issuer();
    let a = mcp_auth_dev::TestAuthority::new(&iss);
    let mut jwks = a.jwks();
    let keys = jwks["keys"].as_array_mut().unwrap();
    keys.retain(|k| k["alg"] == "RS256");
    keys[0]["kid"] = serde_json::json!(KC_KID);
    let token = a
        .token()
        .alg("RS256")
        // Signed with the RS256 key (the store has no `KC_KID`), published under `KC_KID`.
        .kid(KC_KID)
        .header("typ", serde_json::json!("JWT"))
        .without_claim("client_id")
        .aud(RES)
        .subject("248289761001")
        .claim("azp", serde_json::json!("s6BhdRkqt3"))
        .claim("typ", serde_json::json!("Bearer"))
        .claim("scope", serde_json::json!("openid"))
        .claim(
            "realm_access",
            serde_json::json!({ "roles": ["mcp-user", "mcp-editor"] }),
        )
        .claim("iat", serde_json::json!(1_796_163_888_i64))
        .claim("jti", serde_json::json!("p04uYUCkZNrg9Mybg0q8Zg"))
        .claim("exp", serde_json::json!(4_102_444_800_i64))
        .sign();
    let first = fixture();
    assert_eq!(token.len(), first.rs256.len(), "token length");
    let out = serde_json::json!({
        "comment": "Key and token of the instruction gauge's Keycloak preset rows \
                    (crates/mcp-auth/benches/gauge.rs). Test key, public part only; regenerate \
                    with `gauge mint-keycloak`, then recount those rows' baseline.",
        "iss": iss,
        "aud": RES,
        "jwks": jwks,
        "tokens": { "RS256": token },
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
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
        "mint-keycloak" => return mint_keycloak(),
        "mint-dpop" => return gauge_dpop::mint(),
        "list" => {
            for s in SCENARIOS.iter().chain(&gauge_dpop::SCENARIOS) {
                println!("{s}");
            }
            return;
        }
        s if SCENARIOS.contains(&s) || gauge_dpop::SCENARIOS.contains(&s) => {}
        _ => {
            eprintln!(
                "usage: gauge <{}|{}|list|mint|mint-keycloak|mint-dpop> <iterations>",
                SCENARIOS.join("|"),
                gauge_dpop::SCENARIOS.join("|")
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
        s if gauge_dpop::SCENARIOS.contains(&s) => gauge_dpop::run(&rt, s, n, rs, &f.jwks),
        "bare" => requests(&rt, bare, n, 200, |_| rs),
        "floor" => {
            let mut svc = floor(rs);
            requests(&rt, &mut svc, 1, 200, |_| rs);
            requests(&rt, &mut svc, n, 200, |_| rs);
        }
        "hit" | "hit_roles" | "hit_metrics" => {
            if scenario == "hit_metrics" {
                install_recorder();
            }
            let layer = if scenario != "hit_roles" {
                layer_for_jwks(&f.jwks, 10_000)
            } else {
                roles_layer(&f.jwks, 10_000)
            };
            let mut svc = layer.layer(inner);
            // Verified, then admitted to the cache (second use), then hits.
            requests(&rt, &mut svc, 3, 200, |_| rs);
            requests(&rt, &mut svc, n, 200, |_| rs);
        }
        "hit_limits" | "hit_limits_metrics" | "hit_addr" => {
            if scenario == "hit_limits_metrics" {
                install_recorder();
            }
            // Issue 18: the hit with every rate limit on (per address, principal, client; in
            // memory, rates never reached) and the client address in the extensions, as
            // axum's ConnectInfo puts it there.
            use mcp_auth::limit::{Limiter, Limits, Rate};
            let high = Rate::new(1_000_000, std::time::Duration::from_secs(1), 1_000_000).unwrap();
            let limits = Limits::new()
                .per_address(high)
                .per_principal(high)
                .per_client(high);
            let mut builder = builder_for_jwks(&f.jwks, 10_000);
            if scenario != "hit_addr" {
                builder = builder.rate_limits(Limiter::in_memory(limits));
            }
            let layer = builder.build().unwrap();
            // axum's `ConnectInfo`, as `into_make_service_with_connect_info` inserts it (the
            // address source the layer reads first).
            let addr = axum::extract::ConnectInfo::<std::net::SocketAddr>(
                "192.0.2.1:40000".parse().unwrap(),
            );
            let mut svc = tower::ServiceBuilder::new()
                .map_request(move |mut r: http::Request<axum::body::Body>| {
                    r.extensions_mut().insert(addr);
                    r
                })
                .service(layer.layer(inner));
            requests(&rt, &mut svc, 3, 200, |_| rs);
            requests(&rt, &mut svc, n, 200, |_| rs);
        }
        "hit_keycloak" => {
            let kc = fixture_keycloak();
            let t = kc.rs256.as_str();
            let mut svc = keycloak_layer(&kc, 10_000).layer(inner);
            requests(&rt, &mut svc, 3, 200, |_| t);
            requests(&rt, &mut svc, n, 200, |_| t);
        }
        "hit_opaque" | "cold_opaque" => {
            assert_eq!(OPAQUE_TOKEN.len(), 43);
            let cache = if scenario == "hit_opaque" { 10_000 } else { 0 };
            let mut svc = opaque_layer(&f.jwks, cache).layer(inner);
            // Introspected, then admitted to the cache (second use), then hits (or, cache
            // off, introspected every time).
            requests(&rt, &mut svc, 3, 200, |_| OPAQUE_TOKEN);
            requests(&rt, &mut svc, n, 200, |_| OPAQUE_TOKEN);
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
        "cold_keycloak_rs256" => {
            let kc = fixture_keycloak();
            let t = kc.rs256.as_str();
            let v = keycloak_layer(&kc, 0).jwt_validator().unwrap().clone();
            match v.step(t) {
                Step::Done(Ok(v)) => {
                    // `openid` from `scope`; the rest from the realm roles, through the map.
                    assert_eq!(
                        v.scopes.to_scope_string(),
                        "mcp:list mcp:read mcp:write openid"
                    );
                }
                other => panic!("not decided from memory: {other:?}"),
            }
            for _ in 0..n {
                black_box(decided(v.step(black_box(t))));
            }
        }
        "cold_two_issuers_rs256" => {
            let kc = fixture_keycloak();
            let v = two_issuers_layer(&f, &kc, 0)
                .jwt_validator()
                .unwrap()
                .clone();
            match v.step(rs) {
                Step::Done(Ok(v)) => assert_eq!(v.scopes.to_scope_string(), "mcp:read mcp:write"),
                other => panic!("not decided from memory: {other:?}"),
            }
            // The other entry's token is judged by its own rules in the same layer.
            assert!(matches!(v.step(&kc.rs256), Step::Done(Ok(_))));
            for _ in 0..n {
                black_box(decided(v.step(black_box(rs))));
            }
        }
        "raw_rs256" | "raw_es256" | "raw_keycloak_rs256" => {
            let kc;
            let (t, alg, jwks) = match scenario {
                "raw_rs256" => (rs, "RS256", &f.jwks),
                "raw_es256" => (f.es256.as_str(), "ES256", &f.jwks),
                _ => {
                    kc = fixture_keycloak();
                    (kc.rs256.as_str(), "RS256", &kc.jwks)
                }
            };
            let header = URL_SAFE_NO_PAD.decode(&t[..t.find('.').unwrap()]).unwrap();
            let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
            let kid = header["kid"].as_str().unwrap();
            let key = common::raw_key_for_jwks(jwks, kid, alg);
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
/// Issue 18's row: a cache hit recording into a real registry, installed as the global
/// recorder. It is the storage `metrics-exporter-prometheus` records into (metrics-util's
/// sharded registry, atomic counters, `AtomicBucket` histograms), without that exporter's
/// set-up: its clock calibrates against wall time, so its instruction count differs from run
/// to run and would not cancel between the two counts of a scenario.
fn install_recorder() {
    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
    use metrics_util::registry::{AtomicStorage, Registry};

    struct Atomic(Registry<Key, AtomicStorage>);
    impl metrics::Recorder for Atomic {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.0
                .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            self.0
                .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            self.0
                .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
        }
    }
    metrics::set_global_recorder(Atomic(Registry::atomic())).unwrap();
}

fn decided(step: mcp_auth::core::validation::Step) -> mcp_auth::AuthContext {
    match step {
        Step::Done(Ok(v)) => mcp_auth::AuthContext::new(v.claims, v.scopes, v.token_hash),
        other => panic!("not decided from memory: {other:?}"),
    }
}
