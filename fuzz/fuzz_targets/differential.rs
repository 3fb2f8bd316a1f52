//! Differential: mcp-auth's `JwtValidator` against `jsonwebtoken`, on tokens built from fuzzed
//! header and payload bytes (raw, or structured around the interesting members and the time
//! claims near a fixed `now`), signed with one known ES256 key (aws-lc-rs). Both get the same
//! key, algorithm, issuer, audience, leeway and time.
//!
//! The rule (issue 13): whenever mcp-auth accepts a token, jsonwebtoken accepts it too; a
//! token mcp-auth accepts and jsonwebtoken refuses is a finding (panic). mcp-auth is allowed
//! to be stricter only for the reasons in [`Stricter`](stricter::Stricter), a closed list:
//! each has a predicate on the input (not on mcp-auth's answer), and a refusal by mcp-auth of
//! a token jsonwebtoken accepts that no predicate explains is a finding too.
//!
//! Clock: jsonwebtoken reads the system clock; mcp-auth's clock is set to
//! `jsonwebtoken::get_current_timestamp()` read once before both run. If the second ticks
//! before jsonwebtoken reads it, jsonwebtoken's `now` is one later: for `exp` that makes its
//! rule (`exp >= now - leeway`) exactly mcp-auth's (`now < exp + leeway`), for `nbf` one second
//! more lenient (covered by [`Stricter::NotYetValid`](stricter::Stricter::NotYetValid)). An
//! input during which the clock moved by more than one second is skipped.
#![no_main]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{DecodingKey, Validation};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mcp_auth::JwtValidator;
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::{Algorithm, HeaderPolicy, TypPolicy};
use mcp_auth_core::keys::StaticKeySource;
use mcp_auth_core::resource::ResourceUri;
use mcp_auth_core::validation::Step;
use serde::de;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

#[path = "differential/input.rs"]
mod input;
#[path = "differential/stricter.rs"]
mod stricter;

use input::{Input, Part, SigMode};
use stricter::reasons;

const ISS: &str = "https://as.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const KID: &str = "k1";
const LEEWAY: u64 = 60;
/// mcp-auth's default caps (`DEFAULT_MAX_TOKEN_LEN`, the JOSE header cap).
const MAX_TOKEN_LEN: usize = 8 * 1024;
const MAX_HEADER_LEN: usize = 2048;
/// mcp-auth's nesting cap for claims and header (issue 13 item 6).
const MAX_DEPTH: usize = 32;

struct Setup {
    key_pair: EcdsaKeyPair,
    rng: SystemRandom,
    decoding: DecodingKey,
    strict: JwtValidator,
    lax: JwtValidator,
}

static NOW: AtomicI64 = AtomicI64::new(0);

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key_pair.public_key().as_ref();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": KID, "alg": "ES256", "use": "sig"
        }]});
        let jwks = serde_json::to_vec(&jwks).unwrap();
        let decoding = DecodingKey::from_ec_components(&x, &y).unwrap();
        let validator = |typ, rfc9068| {
            let set = KeySet::from_jwks(&jwks, &[Algorithm::ES256], 8)
                .unwrap()
                .keys;
            let keys = Arc::new(StaticKeySource::new().with_issuer(ISS, set));
            let header = HeaderPolicy {
                algorithms: vec![Algorithm::ES256],
                typ,
                max_token_len: MAX_TOKEN_LEN,
            };
            let mut claims = ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS);
            claims.leeway = LEEWAY;
            claims.require_rfc9068_claims = rfc9068;
            JwtValidator::with_clock(
                keys,
                header,
                claims,
                Arc::new(|| NOW.load(Ordering::SeqCst)),
            )
        };
        Setup {
            key_pair,
            rng,
            decoding,
            strict: validator(TypPolicy::Strict, true),
            lax: validator(TypPolicy::AllowJwt, false),
        }
    })
}

fn jwt_validation(strict: bool) -> Validation {
    let mut v = Validation::new(jsonwebtoken::Algorithm::ES256);
    v.leeway = LEEWAY;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.set_issuer(&[ISS]);
    v.set_audience(&[RES]);
    if strict {
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    } else {
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
    }
    v
}

/// `{now}`, `{now+N}` and `{now-N}` in a text seed become the instant both validators use.
fn subst(text: &[u8], now: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.windows(4).position(|w| w == b"{now") {
        out.extend_from_slice(&rest[..i]);
        let tail = &rest[i + 4..];
        let Some(end) = tail.iter().position(|&b| b == b'}') else {
            out.extend_from_slice(&rest[i..]);
            return out;
        };
        let delta = std::str::from_utf8(&tail[..end]).ok().and_then(|d| {
            if d.is_empty() {
                Some(0)
            } else {
                d.parse::<i64>().ok()
            }
        });
        match delta {
            Some(d) => out.extend_from_slice(now.saturating_add(d).to_string().as_bytes()),
            None => out.extend_from_slice(&rest[i..i + 4 + end + 1]),
        }
        rest = &tail[end + 1..];
    }
    out.extend_from_slice(rest);
    out
}

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

// Two input forms: `JSON` seeds a human can write (`JSON <flags>` line, where `S` is the
// strict policy, `F` a flipped and `E` an empty signature; the header line; the payload),
// and anything else read as a structured [`Input`].
fuzz_target!(|data: &[u8]| {
    let s = setup();
    let now_u = jsonwebtoken::get_current_timestamp();
    let now = i64::try_from(now_u).unwrap();
    NOW.store(now, Ordering::SeqCst);
    let (header, payload, signature, strict) = if let Some(rest) = data.strip_prefix(b"JSON") {
        let (flags, rest) = line(rest);
        let (h, p) = line(rest);
        let sig = if flags.contains(&b'F') {
            SigMode::Flipped(7)
        } else if flags.contains(&b'E') {
            SigMode::Empty
        } else {
            SigMode::Valid
        };
        (subst(h, now), subst(p, now), sig, flags.contains(&b'S'))
    } else {
        let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
            return;
        };
        let header = match &input.header {
            Part::Spec(h) => h.bytes(),
            Part::Raw(b) => b.to_vec(),
        };
        let payload = match &input.payload {
            Part::Spec(p) => p.bytes(now),
            Part::Raw(b) => b.to_vec(),
        };
        (header, payload, input.signature, input.strict)
    };
    let signing_input = format!("{}.{}", B64.encode(&header), B64.encode(&payload));
    let mut sig = s
        .key_pair
        .sign(&s.rng, signing_input.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec();
    match signature {
        SigMode::Valid => {}
        SigMode::Flipped(i) => {
            let i = usize::from(i) % sig.len();
            sig[i] ^= 1;
        }
        SigMode::Empty => sig.clear(),
    }
    let token = format!("{signing_input}.{}", B64.encode(&sig));

    let validator = if strict { &s.strict } else { &s.lax };
    let Step::Done(ours) = validator.step(&token) else {
        panic!("a static key source answers from memory");
    };
    let theirs =
        jsonwebtoken::decode::<de::IgnoredAny>(&token, &s.decoding, &jwt_validation(strict));
    if jsonwebtoken::get_current_timestamp() > now_u + 1 {
        return; // the clock moved too far during this input to compare
    }
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if std::env::var_os("DIFF_DEBUG").is_some() {
        // For reading what a seed does: `DIFF_DEBUG=1 <binary> fuzz/seeds/differential/*`.
        eprintln!(
            "mcp-auth: {:?}; jsonwebtoken: {:?}; reasons: {:?}",
            ours.as_ref().map(|_| "accept").map_err(|e| e.description()),
            theirs
                .as_ref()
                .map(|_| "accept")
                .map_err(|e| e.kind().clone()),
            reasons(&header, &payload, token.len(), strict, now)
        );
    }
    match (&ours, &theirs) {
        (Ok(_), Err(e)) => panic!(
            "FINDING: mcp-auth accepts a token jsonwebtoken refuses ({e:?}).\nheader: {}\npayload: {}\nstrict: {strict}",
            show(&header),
            show(&payload),
        ),
        (Err(e), Ok(_)) => {
            let why = reasons(&header, &payload, token.len(), strict, now);
            assert!(
                !why.is_empty(),
                "FINDING: jsonwebtoken accepts a token mcp-auth refuses ({:?}) for no documented reason.\nheader: {}\npayload: {}\nstrict: {strict}",
                e.description(),
                show(&header),
                show(&payload),
            );
        }
        (Ok(_), Ok(_)) => {
            assert!(
                matches!(signature, SigMode::Valid),
                "a bad signature accepted"
            );
        }
        (Err(_), Err(_)) => {}
    }
});
