//! Regression tests of issue 13, defects 3-4: the key a token is verified with (by `kid` and
//! algorithm; kid-less tokens only with one candidate key).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::ErrorKind;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::{Algorithm, HeaderPolicy, KeyFamily, UnverifiedJws, select_key};
use serde_json::{Value, json};

fn b64(b: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Key {
    fn rsa() -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }
    fn ec() -> Self {
        Self::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    fn ed() -> Self {
        Self::Ed(Ed25519KeyPair::generate().unwrap())
    }

    /// The public JWK, without `alg` (bound to its family only), with `kid` if given.
    fn jwk(&self, kid: Option<&str>) -> Value {
        let mut jwk = match self {
            Self::Rsa(k) => {
                let pk = k.public_key();
                json!({"kty": "RSA",
                    "n": b64(pk.modulus().big_endian_without_leading_zero()),
                    "e": b64(pk.exponent().big_endian_without_leading_zero())})
            }
            Self::Ec(k) => {
                let p = k.public_key().as_ref().to_vec();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])})
            }
            Self::Ed(k) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key())}),
        };
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::Ec(_) => "ES256",
            Self::Ed(_) => "EdDSA",
        }
    }

    /// A compact JWS of these exact header and payload bytes.
    fn sign(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let m = input.as_bytes();
        let sig = match self {
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut sig)
                    .unwrap();
                sig
            }
            Self::Ec(k) => k.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec(),
            Self::Ed(k) => k.sign(m).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(sig))
    }

    /// A token of this key's algorithm with `kid` (or none), signed by this key.
    fn token(&self, kid: Option<&str>) -> String {
        let header = match kid {
            Some(kid) => json!({"alg": self.alg(), "typ": "at+jwt", "kid": kid}),
            None => json!({"alg": self.alg(), "typ": "at+jwt"}),
        };
        self.sign(&header.to_string(), r#"{"iss":"https://as.example"}"#)
    }
}

fn key_set(jwks: &[Value]) -> KeySet {
    let doc = serde_json::to_vec(&json!({ "keys": jwks })).unwrap();
    KeySet::from_jwks(&doc, &Algorithm::ALL, 32).unwrap().keys
}

fn policy() -> HeaderPolicy {
    HeaderPolicy {
        algorithms: Algorithm::ALL.to_vec(),
        ..HeaderPolicy::default()
    }
}

/// The family of the key that verified `token`, or the `invalid_token` description.
fn verify(token: &str, keys: &KeySet) -> Result<KeyFamily, &'static str> {
    let jws = UnverifiedJws::parse(token, &policy()).map_err(|e| e.description())?;
    jws.verify(keys).map(|k| k.family()).map_err(|e| {
        assert_eq!(e.kind(), ErrorKind::InvalidToken);
        e.description()
    })
}

/// Defect 3: RFC 7517 §4.5 lets keys of different types share a `kid` (a rotation from RSA
/// to EC may publish both under one). The key is chosen by `kid` and the token's algorithm,
/// whichever comes first in the set; a `kid` that exists only with another type is refused.
#[test]
fn a_kid_shared_by_keys_of_different_types_selects_by_algorithm() {
    let (rsa, ec, ed) = (Key::rsa(), Key::ec(), Key::ed());
    let shared = Some("shared");
    for keys in [
        key_set(&[rsa.jwk(shared), ec.jwk(shared), ed.jwk(shared)]),
        key_set(&[ed.jwk(shared), ec.jwk(shared), rsa.jwk(shared)]),
    ] {
        assert_eq!(verify(&rsa.token(shared), &keys), Ok(KeyFamily::Rsa));
        assert_eq!(verify(&ec.token(shared), &keys), Ok(KeyFamily::EcP256));
        assert_eq!(verify(&ed.token(shared), &keys), Ok(KeyFamily::Ed25519));
    }
    // A kid of another type only: refused before any signature check.
    let keys = key_set(&[rsa.jwk(Some("r")), ec.jwk(Some("e"))]);
    assert_eq!(
        verify(&ec.token(Some("r")), &keys),
        Err("token algorithm does not match its key")
    );
    assert_eq!(
        verify(&ed.token(Some("r")), &keys),
        Err("token algorithm does not match its key")
    );
    assert_eq!(
        verify(&ec.token(Some("x")), &keys),
        Err("unknown signing key")
    );
    // `KeySet::find` keeps to its documented contract: the key with the kid that allows alg.
    assert!(keys.find("r", Algorithm::ES256).is_none());
    assert_eq!(
        keys.find("e", Algorithm::ES256).map(|k| k.family()),
        Some(KeyFamily::EcP256)
    );
}

/// Defect 4: no token may cost more than one signature check. A kid-less token is taken only
/// when exactly one key of the set can verify its algorithm; with several it is refused
/// before any check: a token *validly signed* by one of them is refused too (the decision
/// cannot have come from a signature check), with the same description as a forged one.
#[test]
fn a_kid_less_token_needs_exactly_one_candidate_key() {
    let ecs: Vec<Key> = (0..3).map(|_| Key::ec()).collect();
    let ed = Key::ed();
    let mut jwks: Vec<Value> = ecs
        .iter()
        .enumerate()
        .map(|(i, k)| k.jwk(Some(&format!("e{i}"))))
        .collect();
    jwks.push(ed.jwk(Some("d")));
    let keys = key_set(&jwks);
    let several = Err("token has no kid and several keys match its algorithm");
    for k in &ecs {
        assert_eq!(verify(&k.token(None), &keys), several);
        // With its kid the same key is found and verifies.
        let kid = format!("e{}", ecs.iter().position(|e| std::ptr::eq(e, k)).unwrap());
        assert_eq!(verify(&k.token(Some(&kid)), &keys), Ok(KeyFamily::EcP256));
    }
    let mut forged = ecs[0].token(None);
    forged.replace_range(forged.len() - 8.., "AAAAAAAA");
    assert_eq!(verify(&forged, &keys), several);
    // The only key of its family: a kid-less token is verified, with that one check.
    assert_eq!(verify(&ed.token(None), &keys), Ok(KeyFamily::Ed25519));
    let mut forged = ed.token(None);
    forged.replace_range(forged.len() - 8.., "AAAAAAAA");
    assert_eq!(verify(&forged, &keys), Err("invalid token signature"));
    // No key for the algorithm at all.
    assert_eq!(
        verify(&Key::rsa().token(None), &keys),
        Err("no signing key for the token algorithm")
    );
    // The rule counts the keys that can verify the algorithm: a JWK bound to another
    // algorithm of the family (`alg: PS256`) is not a candidate for RS256.
    let rsa = Key::rsa();
    let mut ps = Key::rsa().jwk(Some("p"));
    ps["alg"] = json!("PS256");
    let keys = key_set(&[rsa.jwk(Some("r")), ps]);
    assert_eq!(verify(&rsa.token(None), &keys), Ok(KeyFamily::Rsa));
    // `select_key` is the same rule, callable before the payload is decoded.
    assert_eq!(
        select_key(&keys, None, Algorithm::RS256).map(|k| k.kid()),
        Ok(Some("r"))
    );
    assert!(select_key(&keys, None, Algorithm::ES256).is_err());
}
