//! JSON Web Keys (RFC 7517) turned into pre-parsed verification keys.
//!
//! Keys are parsed once, when a key set is loaded, so the request path does no DER or JWK
//! work. Each key is bound to the algorithms its type allows and, when the JWK names an
//! `alg`, to that one only (RFC 8725 §3.1). Keys not meant for signatures, symmetric keys
//! and keys that carry private material are skipped.

use crate::jws::{Algorithm, KeyFamily};
use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// Default cap on the number of keys in one key set.
pub const DEFAULT_MAX_KEYS: usize = 32;

/// Why a JWK or a JWKS was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// The document is not a JWKS (`{"keys": [...]}`).
    #[error("not a JWK Set: {0}")]
    Malformed(String),
    /// More keys than allowed.
    #[error("JWK Set has {count} keys, more than the cap of {max}")]
    TooManyKeys {
        /// Keys in the document.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// No key in the set can verify any allowed algorithm.
    #[error("JWK Set has no usable signature key for the allowed algorithms")]
    NoUsableKeys,
    /// `use` is not `sig`, or `key_ops` lacks `verify`.
    #[error("key is not for signature verification")]
    NotForSignature,
    /// `kty`/`crv` we do not support (including symmetric `oct` keys).
    #[error("unsupported key type {0:?}")]
    UnsupportedKeyType(String),
    /// `alg` that disagrees with the key type, or is not allowed.
    #[error("key algorithm {0:?} is not allowed for this key")]
    AlgorithmMismatch(String),
    /// Private key members present in a public key set.
    #[error("key carries private key material")]
    PrivateMaterial,
    /// Missing or undecodable members, or a key the crypto library refuses.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

/// A public key ready to verify signatures.
pub struct VerifyingKey {
    kid: Option<String>,
    family: KeyFamily,
    fingerprint: [u8; 32],
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyingKey {
    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// SHA-256 over the key's `kid`, family, public key material and algorithms: equal for
    /// the same key however often its key set is re-fetched, different once anything changes.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// Whether this key may verify `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.parsed.iter().any(|(a, _)| *a == alg)
    }

    /// The algorithms this key may verify.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.parsed.iter().map(|(a, _)| *a)
    }

    /// Verifies `signature` over `message` with `alg`. False if the key does not allow `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, k)| k.verify_sig(message, signature).is_ok())
    }

    /// Parses one JWK (a JSON object), keeping only the algorithms in `allowed`.
    pub fn from_jwk(jwk: &serde_json::Value, allowed: &[Algorithm]) -> Result<Self, JwkError> {
        let raw = RawJwk::deserialize(jwk)
            .map_err(|_| JwkError::InvalidKey("JWK members have the wrong types"))?;
        raw.into_key(allowed)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    d: Option<serde::de::IgnoredAny>,
}

fn b64(s: Option<&String>, what: &'static str) -> Result<Vec<u8>, JwkError> {
    s.and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .filter(|b| !b.is_empty())
        .ok_or(JwkError::InvalidKey(what))
}

impl RawJwk {
    fn into_key(self, allowed: &[Algorithm]) -> Result<VerifyingKey, JwkError> {
        if self.use_.as_deref().is_some_and(|u| u != "sig")
            || self
                .key_ops
                .as_ref()
                .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
        {
            return Err(JwkError::NotForSignature);
        }
        if self.d.is_some() {
            return Err(JwkError::PrivateMaterial);
        }
        let (family, material) = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => {
                let n = b64(self.n.as_ref(), "RSA modulus n")?;
                let e = b64(self.e.as_ref(), "RSA exponent e")?;
                let n_bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if n_bits < 2048 {
                    return Err(JwkError::InvalidKey("RSA modulus shorter than 2048 bits"));
                }
                (KeyFamily::Rsa, rsa_public_key_der(&n, &e))
            }
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let len = if crv == "P-256" { 32 } else { 48 };
                let x = b64(self.x.as_ref(), "EC coordinate x")?;
                let y = b64(self.y.as_ref(), "EC coordinate y")?;
                if x.len() != len || y.len() != len {
                    return Err(JwkError::InvalidKey("EC coordinate has the wrong length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let fam = if crv == "P-256" {
                    KeyFamily::EcP256
                } else {
                    KeyFamily::EcP384
                };
                (fam, point)
            }
            ("OKP", Some("Ed25519")) => {
                let x = b64(self.x.as_ref(), "Ed25519 public key x")?;
                if x.len() != 32 {
                    return Err(JwkError::InvalidKey("Ed25519 key has the wrong length"));
                }
                (KeyFamily::Ed25519, x)
            }
            (kty, crv) => {
                return Err(JwkError::UnsupportedKeyType(match crv {
                    Some(c) => format!("{kty}/{c}"),
                    None => kty.to_owned(),
                }));
            }
        };
        let candidates: Vec<Algorithm> = match self.alg.as_deref() {
            Some(name) => {
                // RFC 9864 names Ed25519 explicitly; treat it as EdDSA over Ed25519.
                let alg = if name == "Ed25519" {
                    Some(Algorithm::EdDSA)
                } else {
                    Algorithm::from_name(name)
                };
                match alg {
                    Some(a) if a.family() == family && allowed.contains(&a) => vec![a],
                    _ => return Err(JwkError::AlgorithmMismatch(name.to_owned())),
                }
            }
            None => allowed
                .iter()
                .copied()
                .filter(|a| a.family() == family)
                .collect(),
        };
        if candidates.is_empty() {
            return Err(JwkError::AlgorithmMismatch(format!(
                "no allowed algorithm for {family:?}"
            )));
        }
        let parsed = candidates
            .into_iter()
            .map(|a| {
                ParsedPublicKey::new(a.verification(), &material)
                    .map(|k| (a, k))
                    .map_err(|_| JwkError::InvalidKey("public key rejected by the crypto library"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut h = Sha256::new();
        h.update(self.kid.as_deref().unwrap_or_default().as_bytes());
        h.update([0, family as u8]);
        h.update(&material);
        for (a, _) in &parsed {
            h.update([*a as u8]);
        }
        Ok(VerifyingKey {
            kid: self.kid,
            family,
            fingerprint: h.finalize().into(),
            parsed,
        })
    }
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let v = match v.iter().position(|b| *b != 0) {
            Some(i) => &v[i..],
            None => &[0u8][..],
        };
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        length(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// A set of verification keys from one issuer.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

/// The result of loading a JWKS: the usable keys and the ones skipped, with the reason.
#[derive(Debug)]
#[non_exhaustive]
pub struct LoadedKeySet {
    /// Usable keys.
    pub keys: KeySet,
    /// Keys skipped, by `kid`, and why.
    pub skipped: Vec<(Option<String>, JwkError)>,
}

impl KeySet {
    /// A key set from already-built keys.
    pub fn from_keys(keys: Vec<VerifyingKey>) -> Self {
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    /// Parses a JWKS document (RFC 7517 §5). A malformed key is skipped without discarding
    /// the others; a set with no usable key, more than `max_keys` entries or no `keys` array is
    /// refused, so a caller can keep its last good set.
    pub fn from_jwks(
        json: &[u8],
        allowed: &[Algorithm],
        max_keys: usize,
    ) -> Result<LoadedKeySet, JwkError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let malformed = |e: serde_json::Error| {
            JwkError::Malformed(format!("{} at line {}", e.classify_name(), e.line()))
        };
        // The JSON rules of tokens (crate::json): no duplicate member name at any depth (a
        // JWK with two `n`s means what the last parser says), nesting within MAX_DEPTH.
        if let Err(e) = crate::json::check_slice(json) {
            return Err(match crate::json::checked_error(&e) {
                Some(why) => JwkError::Malformed(format!("{why} at line {}", e.line())),
                None => malformed(e),
            });
        }
        let doc: Doc = serde_json::from_slice(json).map_err(malformed)?;
        if doc.keys.len() > max_keys {
            return Err(JwkError::TooManyKeys {
                count: doc.keys.len(),
                max: max_keys,
            });
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for jwk in &doc.keys {
            match VerifyingKey::from_jwk(jwk, allowed) {
                Ok(k) => keys.push(Arc::new(k)),
                Err(e) => {
                    let kid = jwk.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
                    skipped.push((kid, e));
                }
            }
        }
        if keys.is_empty() {
            return Err(JwkError::NoUsableKeys);
        }
        Ok(LoadedKeySet {
            keys: Self { keys },
            skipped,
        })
    }

    /// The first key with this `kid` that allows `alg`, if any: RFC 7517 §4.5 lets keys of
    /// different types share a `kid`, so a token's key is chosen by `kid` and algorithm
    /// ([`select_key`](crate::jws::select_key)).
    pub fn find(&self, kid: &str, alg: Algorithm) -> Option<&Arc<VerifyingKey>> {
        self.keys
            .iter()
            .find(|k| k.kid() == Some(kid) && k.allows(alg))
    }

    /// The first key with this `kid`, whatever its type: not the key to verify a token with
    /// (see [`find`](Self::find)).
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// Whether a key with this `kid` exists.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.get(kid).is_some()
    }

    /// Whether this key (same [`fingerprint`](VerifyingKey::fingerprint)) is in the set.
    pub fn contains(&self, key: &VerifyingKey) -> bool {
        self.contains_fingerprint(key.fingerprint())
    }

    /// Whether a key with this fingerprint is in the set.
    pub fn contains_fingerprint(&self, fingerprint: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| k.fingerprint == *fingerprint)
    }

    /// Iterates over the keys.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<VerifyingKey>> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "JSON syntax error",
            serde_json::error::Category::Data => "missing or mistyped `keys` array",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn der_integer_padding() {
        let der = rsa_public_key_der(&[0x80, 0x01], &[0x01, 0x00, 0x01]);
        assert_eq!(
            der,
            vec![
                0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
        let long = rsa_public_key_der(&[0x7f; 256], &[3]);
        assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x07]);
    }

    #[test]
    fn skips_bad_keys_keeps_good_ones() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-256", "kid": "bad", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "priv", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "d": "AA"},
            {"kty": 5}
        ]});
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert_eq!(
            KeySet::from_jwks(&bytes, &Algorithm::ALL, 32).err(),
            Some(JwkError::NoUsableKeys)
        );
    }

    #[test]
    fn refuses_non_jwks_and_too_many() {
        assert!(matches!(
            KeySet::from_jwks(b"<html>", &Algorithm::ALL, 32),
            Err(JwkError::Malformed(_))
        ));
        assert!(matches!(
            KeySet::from_jwks(b"{}", &Algorithm::ALL, 32),
            Err(JwkError::Malformed(_))
        ));
        let many = json!({"keys": vec![json!({"kty":"oct"}); 33]});
        assert_eq!(
            KeySet::from_jwks(&serde_json::to_vec(&many).unwrap(), &Algorithm::ALL, 32).err(),
            Some(JwkError::TooManyKeys { count: 33, max: 32 })
        );
    }
}
