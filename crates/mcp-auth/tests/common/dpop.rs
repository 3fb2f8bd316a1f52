//! DPoP proofs for the layer tests (RFC 9449 §4.2): a client key, and proofs that break one
//! rule at a time.

use super::{MD, RES, authority};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Request;
use http::header::AUTHORIZATION;
use mcp_auth::dpop::jwk_thumbprint;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The `algs` of the default policy's challenges.
pub(crate) const ALGS: &str = "ES256 ES384 EdDSA PS256 RS256";

pub(crate) fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `ath`: base64url(SHA-256(token)).
pub(crate) fn ath(token: &str) -> String {
    b64(digest(&SHA256, token.as_bytes()).as_ref())
}

pub(crate) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}

/// A client's ES256 key.
pub(crate) struct ProofKey {
    pair: EcdsaKeyPair,
    pub(crate) jwk: Value,
}

impl ProofKey {
    pub(crate) fn new() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk =
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
        Self { pair, jwk }
    }

    /// The RFC 7638 thumbprint: what a bound token's `cnf.jkt` holds.
    pub(crate) fn jkt(&self) -> String {
        jwk_thumbprint(self.jwk.as_object().unwrap()).unwrap()
    }

    /// A good token for this resource with `mcp:read`, bound to this key.
    pub(crate) fn token(&self) -> String {
        super::token().cnf_jkt(&self.jkt()).sign()
    }

    pub(crate) fn header(&self) -> Map<String, Value> {
        obj(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}))
    }

    /// Good claims for `POST {RES}` with `token`, dated `iat`, with a fresh `jti`.
    pub(crate) fn claims(&self, token: &str, iat: i64) -> Map<String, Value> {
        static N: AtomicU64 = AtomicU64::new(0);
        obj(json!({
            "jti": format!("jti-{}-{}", now(), N.fetch_add(1, Ordering::SeqCst)),
            "htm": "POST",
            "htu": RES,
            "iat": iat,
            "ath": ath(token),
        }))
    }

    /// `header` and `claims` signed with this key.
    pub(crate) fn sign(&self, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(header).unwrap()),
            b64(&serde_json::to_vec(claims).unwrap())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }

    /// A good proof for `POST {RES}` with `token`, dated `iat`.
    pub(crate) fn proof_at(&self, token: &str, iat: i64) -> String {
        self.sign(&self.header(), &self.claims(token, iat))
    }

    /// A good proof for `POST {RES}` with `token`, dated now.
    pub(crate) fn proof(&self, token: &str) -> String {
        self.proof_at(token, now())
    }
}

/// `POST /mcp` with `Authorization: DPoP <token>` and one `DPoP` header per proof.
pub(crate) fn dpop_request(token: &str, proofs: &[&str]) -> Request<Body> {
    request("/mcp", &format!("DPoP {token}"), proofs)
}

/// `POST {path}` with `Authorization: {auth}` and one `DPoP` header per proof.
pub(crate) fn request(path: &str, auth: &str, proofs: &[&str]) -> Request<Body> {
    let mut b = Request::post(path).header(AUTHORIZATION, auth);
    for p in proofs {
        b = b.header("dpop", *p);
    }
    b.body(Body::empty()).unwrap()
}

/// The `DPoP` challenge of a refused proof (RFC 9449 §7.1).
pub(crate) fn proof_challenge(code: &str, why: &str) -> String {
    let scope = if code == "invalid_token" {
        r#", scope="mcp:read""#
    } else {
        ""
    };
    format!(
        r#"DPoP algs="{ALGS}", error="{code}", error_description="{why}", resource_metadata="{MD}"{scope}"#
    )
}

/// The `DPoP` challenge of a 401 without credentials.
pub(crate) fn dpop_bare() -> String {
    format!(r#"DPoP algs="{ALGS}", resource_metadata="{MD}", scope="mcp:read""#)
}

/// Makes sure the test authority exists before a clock is frozen.
pub(crate) fn warm() {
    let _ = authority();
}

/// RFC 9449 §11.1: `proof` is accepted once at `first`, then refused as a replay at `second`
/// (the same layer, or another one sharing the replay store).
pub(crate) async fn assert_used_once(
    first: mcp_auth::McpAuthLayer,
    second: mcp_auth::McpAuthLayer,
    token: &str,
    proof: &str,
) {
    let o = super::send(first, dpop_request(token, &[proof])).await;
    assert_eq!(o.status, 200, "{:?}", o.challenge);
    let o = super::send(second, dpop_request(token, &[proof])).await;
    super::assert_rejected(
        &o,
        401,
        Some(&proof_challenge(
            "invalid_dpop_proof",
            "DPoP proof already used",
        )),
    );
}

/// A 401 whose challenge is the DPoP one (RFC 9449 §7.1) for `code` and `why`, the handler
/// not called.
pub(crate) fn assert_refused(o: &super::Outcome, code: &str, why: &str) {
    super::assert_rejected(o, 401, Some(&proof_challenge(code, why)));
}

/// `token` with a fresh proof of `key` through `l`.
pub(crate) async fn send_fresh(
    l: mcp_auth::McpAuthLayer,
    key: &ProofKey,
    token: &str,
) -> super::Outcome {
    super::send(l, dpop_request(token, &[&key.proof(token)])).await
}

/// 503 with `Retry-After: retry_after` and the fixed text: the replay store could not say the
/// proof is new, so it is not accepted (RFC 9449 §11.1), the handler not called.
pub(crate) fn assert_store_unavailable(o: super::Outcome, retry_after: &str) {
    super::assert_rejected(&o, 503, None);
    assert_eq!(o.retry_after.as_deref(), Some(retry_after));
    assert_eq!(
        o.error.unwrap().description(),
        "the DPoP replay store is unavailable"
    );
}
