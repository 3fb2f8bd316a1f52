//! The gauge's DPoP rows (issue 17), kept apart from `gauge.rs` to keep each file short.
//!
//! | scenario | what one iteration is |
//! |---|---|
//! | `hit_dpop_es256` | a `DPoP` request (`Authorization: DPoP`, one `DPoP` header) through a layer with DPoP allowed: the bound token of `fixture_dpop.json` from the verified-token cache, a fresh ES256 proof (its own `jti`) checked and recorded in a [`MemoryReplayStore`] |
//! | `raw_dpop_proof_es256` | the floor of that proof: its `jwk`'s `x` and `y` decoded into a P-256 point, the point imported into aws-lc-rs, the raw ES256 verify of the proof's signature |
//! | `hit_dpop_allowed` | `hit` (the fixture's Bearer token) through a layer with DPoP allowed: what DPoP costs a Bearer request |
//!
//! The proofs are signed in the set-up, [`PROOFS`] of them whatever the iteration count (so
//! the set-up is the same for both counts of a scenario and cancels), all of one length
//! (`jti` of fixed width, `iat` the set-up's second). The replay store is filled with
//! [`PREFILL`] records first: a realistic fill, and one at which the map and the heap do not
//! grow within either count (hashbrown grows past 3,584 records at 4,096 buckets).

use super::{drive, requests};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth::dpop::{DpopMode, DpopPolicy, JtiHash, MemoryReplayStore, ReplayStore};
use std::hint::black_box;
use tower::{Layer, Service};

/// The DPoP rows' issuer key, client key (PKCS#8, a test key) and bound token.
const FIXTURE_DPOP: &str = include_str!("../../../../benches/gauge/fixture_dpop.json");

/// Proofs signed in the set-up, whatever the iteration count (at least `HI` of run.sh).
pub(crate) const PROOFS: usize = 256;
/// Records in the replay store before the measured requests.
const PREFILL: u32 = 3072;

pub(crate) const SCENARIOS: [&str; 3] =
    ["hit_dpop_es256", "raw_dpop_proof_es256", "hit_dpop_allowed"];

struct Dpop {
    jwks: serde_json::Value,
    token: String,
    key: EcdsaKeyPair,
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn fixture() -> Dpop {
    let v: serde_json::Value = serde_json::from_str(FIXTURE_DPOP).expect("fixture_dpop.json");
    assert_eq!(v["iss"], super::common::ISS, "fixture issuer");
    let pkcs8 = URL_SAFE_NO_PAD
        .decode(v["client_key_pkcs8"].as_str().unwrap())
        .unwrap();
    Dpop {
        jwks: v["jwks"].clone(),
        token: v["token"].as_str().unwrap().to_owned(),
        key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap(),
    }
}

/// The client key's public JWK.
fn jwk(key: &EcdsaKeyPair) -> serde_json::Value {
    let p = key.public_key().as_ref();
    serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])})
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A proof for `POST {RES}` with `token`, dated `iat`, with the `jti` numbered `i`.
fn proof(key: &EcdsaKeyPair, token: &str, iat: i64, i: usize) -> String {
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(key)});
    let ath = b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref());
    let claims = serde_json::json!({"jti": format!("gauge-{i:08}"), "htm": "POST",
        "htu": super::common::RES, "iat": iat, "ath": ath});
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).unwrap()),
        b64(&serde_json::to_vec(&claims).unwrap())
    );
    let s = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64(s.as_ref()))
}

fn dpop_request(token: &str, proof: &str) -> http::Request<axum::body::Body> {
    http::Request::post("/mcp")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(axum::body::Body::empty())
        .unwrap()
}

/// Prints a new `fixture_dpop.json`: a fresh issuer, a client P-256 key, and the gauge's
/// realistic RS256 token bound to it (`cnf.jkt`), `exp` in 2100.
pub(crate) fn mint() {
    let a = mcp_auth_dev::TestAuthority::new(super::common::ISS);
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let jkt = mcp_auth::dpop::jwk_thumbprint(jwk(&key).as_object().unwrap()).unwrap();
    let token = super::common::token_builder(&a, "RS256")
        .cnf_jkt(&jkt)
        .claim("exp", serde_json::json!(4_102_444_800_i64))
        .sign();
    let out = serde_json::json!({
        "comment": "Keys and token of the instruction gauge's DPoP rows \
                    (crates/mcp-auth/benches/gauge_dpop/mod.rs). Test keys: the issuer's public \
                    part, the client's private key (it signs the proofs). Regenerate with \
                    `gauge mint-dpop`, then recount those rows.",
        "iss": super::common::ISS,
        "aud": super::common::RES,
        "jwks": { "keys": a.jwks()["keys"].as_array().unwrap().iter()
            .filter(|k| k["alg"] == "RS256").collect::<Vec<_>>() },
        "client_key_pkcs8": b64(pkcs8.as_ref()),
        "token": token,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// Runs one DPoP scenario `n` times.
///
/// `bearer` and `bearer_jwks`: the first fixture's RS256 token and its issuer's keys (the
/// `hit_dpop_allowed` row is `hit` with DPoP allowed, the same token and key set).
pub(crate) fn run(
    rt: &tokio::runtime::Runtime,
    scenario: &str,
    n: usize,
    bearer: &str,
    bearer_jwks: &serde_json::Value,
) {
    assert!(
        scenario == "hit_dpop_allowed" || n <= PROOFS,
        "{scenario}: at most {PROOFS} iterations"
    );
    let d = fixture();
    let inner = tower::service_fn(super::common::echo::<mcp_auth::RequestBody<axum::body::Body>>);
    let store = MemoryReplayStore::new(100_000);
    for i in 0..PREFILL {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&i.to_le_bytes());
        let r = store.check_in_memory(&JtiHash::from_bytes(h), i64::MAX);
        assert!(matches!(r, Some(Ok(mcp_auth::dpop::Replay::Fresh))));
    }
    let jwks = if scenario == "hit_dpop_allowed" {
        bearer_jwks
    } else {
        &d.jwks
    };
    let layer = super::common::builder_for_jwks(jwks, 10_000)
        .dpop(DpopMode::Allowed, DpopPolicy::new(), store)
        .build()
        .unwrap();
    let iat = now();
    // Three for the warm-up (verified, admitted to the cache, a hit), then one per request.
    let proofs: Vec<String> = (0..PROOFS + 3)
        .map(|i| proof(&d.key, &d.token, iat, i))
        .collect();
    assert!(proofs.iter().all(|p| p.len() == proofs[0].len()));
    match scenario {
        "hit_dpop_es256" => {
            let mut svc = layer.layer(inner);
            for p in &proofs[..3 + n] {
                let res = drive(rt, svc.call(dpop_request(&d.token, p))).unwrap();
                assert_eq!(res.status().as_u16(), 200);
                black_box(res);
            }
            // A replayed proof is refused: the store recorded them.
            let res = drive(rt, svc.call(dpop_request(&d.token, &proofs[0]))).unwrap();
            assert_eq!(res.status().as_u16(), 401);
        }
        "hit_dpop_allowed" => {
            let mut svc = layer.layer(inner);
            requests(rt, &mut svc, 3, 200, |_| bearer);
            requests(rt, &mut svc, n, 200, |_| bearer);
        }
        "raw_dpop_proof_es256" => {
            let parts: Vec<(String, Vec<u8>, String, String)> = proofs
                .iter()
                .map(|p| {
                    let (input, s) = p.rsplit_once('.').unwrap();
                    let h = URL_SAFE_NO_PAD.decode(&p[..p.find('.').unwrap()]).unwrap();
                    let h: serde_json::Value = serde_json::from_slice(&h).unwrap();
                    let c = |m: &str| h["jwk"][m].as_str().unwrap().to_owned();
                    (
                        input.to_owned(),
                        URL_SAFE_NO_PAD.decode(s).unwrap(),
                        c("x"),
                        c("y"),
                    )
                })
                .collect();
            for (input, s, x, y) in &parts[3..3 + n] {
                let mut point = Vec::with_capacity(65);
                point.push(4u8);
                point.extend(URL_SAFE_NO_PAD.decode(black_box(x)).unwrap());
                point.extend(URL_SAFE_NO_PAD.decode(black_box(y)).unwrap());
                let key = sig::ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).unwrap();
                key.verify_sig(black_box(input.as_bytes()), black_box(s))
                    .unwrap();
            }
        }
        _ => unreachable!(),
    }
}
