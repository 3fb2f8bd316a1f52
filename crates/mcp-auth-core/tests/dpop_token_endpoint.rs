//! DPoP proofs at an authorization server's token endpoint (RFC 9449 §5):
//! [`ProofRequest::token_endpoint`] checks every rule of §4.3 but the access-token ones (no
//! `ath`, no `cnf.jkt`), and leaves the resource-server request's rules as they were.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, Uri};
use mcp_auth_core::AccessToken;
use mcp_auth_core::dpop::{
    CheckedProof, DpopError, DpopPolicy, Nonces, ProofClaim, ProofRequest, jwk_thumbprint,
};
use mcp_auth_core::resource::ResourceUri;
use serde_json::{Map, Value, json};
use std::time::Duration;

const NOW: i64 = 1_800_000_000;
const ENDPOINT: &str = "https://as.example.com/auth/token";

struct Key {
    jwk: Value,
    pair: EcdsaKeyPair,
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn es256() -> Key {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
    Key { jwk, pair }
}

fn claims() -> Map<String, Value> {
    match json!({"jti": "token-req-1", "htm": "POST", "htu": ENDPOINT, "iat": NOW}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn sign(key: &Key, claims: &Map<String, Value>) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let sig = key
        .pair
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(sig.as_ref()))
}

fn check_at(
    policy: &DpopPolicy,
    method: &Method,
    path: &str,
    proof: &str,
    now: i64,
) -> Result<CheckedProof, DpopError> {
    let server = ResourceUri::parse(ENDPOINT).unwrap();
    let uri: Uri = path.parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.append("dpop", HeaderValue::from_str(proof).unwrap());
    let req = ProofRequest::token_endpoint(method, &uri, &server, now);
    policy.check(headers.get_all("dpop"), &req)
}

fn check(proof: &str) -> Result<CheckedProof, DpopError> {
    check_at(&DpopPolicy::new(), &Method::POST, "/auth/token", proof, NOW)
}

#[test]
fn a_token_request_proof_needs_no_ath_and_yields_the_key_thumbprint() {
    let key = es256();
    let checked = check(&sign(&key, &claims())).unwrap();
    assert_eq!(
        checked.thumbprint(),
        jwk_thumbprint(key.jwk.as_object().unwrap()).unwrap()
    );
    assert_eq!(checked.remember_until(), NOW + 300 + 60);
    // An `ath` a client sends anyway is not compared: there is no access token to hash.
    let mut c = claims();
    c.insert("ath".into(), json!("not-a-hash"));
    assert!(check(&sign(&key, &c)).is_ok());
}

#[test]
fn a_token_request_proof_keeps_every_other_rule() {
    let key = es256();
    let without = |name: &str| {
        let mut c = claims();
        c.remove(name);
        check(&sign(&key, &c)).unwrap_err()
    };
    assert_eq!(without("jti"), DpopError::MissingClaim(ProofClaim::Jti));
    assert_eq!(without("htm"), DpopError::MissingClaim(ProofClaim::Htm));
    assert_eq!(without("htu"), DpopError::MissingClaim(ProofClaim::Htu));
    assert_eq!(without("iat"), DpopError::MissingClaim(ProofClaim::Iat));

    let good = sign(&key, &claims());
    // htm is the method of the token request.
    let get = check_at(&DpopPolicy::new(), &Method::GET, "/auth/token", &good, NOW);
    assert_eq!(get.unwrap_err(), DpopError::MethodMismatch);
    // htu is the token endpoint, not another endpoint of the server.
    let other = check_at(
        &DpopPolicy::new(),
        &Method::POST,
        "/auth/revoke",
        &good,
        NOW,
    );
    assert_eq!(other.unwrap_err(), DpopError::UriMismatch);
    let mut c = claims();
    c.insert(
        "htu".into(),
        json!("https://elsewhere.example.com/auth/token"),
    );
    assert_eq!(check(&sign(&key, &c)).unwrap_err(), DpopError::UriMismatch);
    // The iat window.
    let late = check_at(
        &DpopPolicy::new(),
        &Method::POST,
        "/auth/token",
        &good,
        NOW + 301,
    );
    assert_eq!(late.unwrap_err(), DpopError::IatOutOfWindow);
    // The signature.
    let (input, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", b64(&[7u8; 64]));
    assert_eq!(check(&forged).unwrap_err(), DpopError::BadSignature);
    // Nonces, when the server requires them (RFC 9449 §8).
    let nonces = Nonces::new([[9u8; 32]], Duration::from_secs(60)).unwrap();
    let policy = DpopPolicy::new().with_nonces(nonces.clone());
    let no_nonce = check_at(&policy, &Method::POST, "/auth/token", &good, NOW);
    assert_eq!(no_nonce.unwrap_err(), DpopError::NonceRequired);
    let mut c = claims();
    c.insert("nonce".into(), json!(nonces.issue(NOW)));
    assert!(check_at(&policy, &Method::POST, "/auth/token", &sign(&key, &c), NOW).is_ok());
}

/// The resource-server request is unchanged: `ath` stays required and so does the binding.
#[test]
fn a_resource_request_still_needs_ath_and_a_bound_token() {
    let key = es256();
    let mut c = claims();
    c.insert("htu".into(), json!("https://as.example.com/auth/token"));
    let proof = sign(&key, &c);
    let server = ResourceUri::parse(ENDPOINT).unwrap();
    let uri: Uri = "/auth/token".parse().unwrap();
    let token = AccessToken::new("a-token");
    let mut headers = HeaderMap::new();
    headers.append("dpop", HeaderValue::from_str(&proof).unwrap());
    let req = ProofRequest::new(&Method::POST, &uri, &server, &token, None, NOW);
    assert_eq!(
        DpopPolicy::new()
            .check(headers.get_all("dpop"), &req)
            .unwrap_err(),
        DpopError::MissingClaim(ProofClaim::Ath)
    );
}
