//! Signing keys, JWKS rendering and compact JWS encoding (internal).
//!
//! Keys are generated in memory with aws-lc-rs when an authority starts and never leave the
//! process except as public JWKs.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// Error from key generation or signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// The algorithm name is not one this kit can generate keys for or sign with.
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlg(String),
    /// aws-lc-rs failed to generate a key.
    #[error("key generation failed for {0}")]
    Generation(&'static str),
    /// aws-lc-rs failed to sign.
    #[error("signing failed with {0}")]
    Signing(String),
    /// No key exists for the requested algorithm family.
    #[error("no signing key for {0}")]
    NoKey(&'static str),
}

/// An algorithm family: each has one "current" default key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    /// RSA keys published with `alg: RS256` (also used for RS384/RS512).
    Rs,
    /// RSA keys published with `alg: PS256` (also used for PS384/PS512).
    Ps,
    /// P-256 keys, ES256.
    Es,
    /// Ed25519 keys, EdDSA.
    Ed,
}

impl Slot {
    /// The family an algorithm name belongs to.
    pub(crate) fn for_alg(alg: &str) -> Option<Self> {
        match alg {
            "RS256" | "RS384" | "RS512" => Some(Self::Rs),
            "PS256" | "PS384" | "PS512" => Some(Self::Ps),
            "ES256" => Some(Self::Es),
            "EdDSA" | "Ed25519" => Some(Self::Ed),
            _ => None,
        }
    }

    /// The `alg` published in the JWK for keys of this family.
    pub(crate) const fn jwk_alg(self) -> &'static str {
        match self {
            Self::Rs => "RS256",
            Self::Ps => "PS256",
            Self::Es => "ES256",
            Self::Ed => "EdDSA",
        }
    }

    const fn kid_prefix(self) -> &'static str {
        match self {
            Self::Rs => "rs256",
            Self::Ps => "ps256",
            Self::Es => "es256",
            Self::Ed => "eddsa",
        }
    }
}

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One private signing key with its `kid`.
pub(crate) struct SigningKey {
    kid: String,
    slot: Slot,
    material: Material,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.slot.jwk_alg())
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Generates a fresh key for `slot`.
    pub(crate) fn generate(slot: Slot, kid: String) -> Result<Self, SigningKeyError> {
        let material = match slot {
            Slot::Rs | Slot::Ps => Material::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| SigningKeyError::Generation("RSA 2048"))?,
            ),
            Slot::Es => Material::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| SigningKeyError::Generation("P-256"))?,
            ),
            Slot::Ed => Material::Ed(
                Ed25519KeyPair::generate().map_err(|_| SigningKeyError::Generation("Ed25519"))?,
            ),
        };
        Ok(Self {
            kid,
            slot,
            material,
        })
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Whether this key can produce a signature for `alg`.
    pub(crate) fn supports(&self, alg: &str) -> bool {
        matches!(
            (&self.material, alg),
            (
                Material::Rsa(_),
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
            ) | (Material::Ec(_), "ES256")
                | (Material::Ed(_), "EdDSA" | "Ed25519")
        )
    }

    /// The public JWK (`use: sig`).
    pub(crate) fn public_jwk(&self) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        match &self.material {
            Material::Rsa(kp) => {
                let pk = kp.public_key();
                json!({
                    "kty": "RSA",
                    "kid": self.kid,
                    "alg": self.slot.jwk_alg(),
                    "use": "sig",
                    "n": b64(pk.modulus().big_endian_without_leading_zero()),
                    "e": b64(pk.exponent().big_endian_without_leading_zero()),
                })
            }
            Material::Ec(kp) => {
                // Uncompressed point: 0x04 || x (32) || y (32).
                let point = kp.public_key();
                let xy = point.as_ref().get(1..).unwrap_or_default();
                let (x, y) = xy.split_at(xy.len() / 2);
                json!({
                    "kty": "EC",
                    "kid": self.kid,
                    "alg": "ES256",
                    "use": "sig",
                    "crv": "P-256",
                    "x": b64(x),
                    "y": b64(y),
                })
            }
            Material::Ed(kp) => json!({
                "kty": "OKP",
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
                "crv": "Ed25519",
                "x": b64(kp.public_key().as_ref()),
            }),
        }
    }

    /// DER `RSAPublicKey` (PKCS#1) of an RSA key.
    pub(crate) fn rsa_public_key_pkcs1_der(&self) -> Option<Vec<u8>> {
        match &self.material {
            Material::Rsa(kp) => Some(kp.public_key().as_ref().to_vec()),
            _ => None,
        }
    }

    /// DER `SubjectPublicKeyInfo` (X.509) of an RSA key.
    pub(crate) fn rsa_public_key_spki_der(&self) -> Option<Vec<u8>> {
        use aws_lc_rs::encoding::{AsDer as _, PublicKeyX509Der};
        match &self.material {
            Material::Rsa(kp) => {
                let der: PublicKeyX509Der<'static> = kp.public_key().as_der().ok()?;
                Some(der.as_ref().to_vec())
            }
            _ => None,
        }
    }

    /// Raw signature bytes over `msg` with the JWS algorithm `alg`.
    pub(crate) fn sign(&self, alg: &str, msg: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
        let failed = || SigningKeyError::Signing(alg.to_owned());
        match &self.material {
            Material::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => return Err(SigningKeyError::UnsupportedAlg(other.to_owned())),
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(padding, &SystemRandom::new(), msg, &mut sig)
                    .map_err(|_| failed())?;
                Ok(sig)
            }
            Material::Ec(kp) if alg == "ES256" => Ok(kp
                .sign(&SystemRandom::new(), msg)
                .map_err(|_| failed())?
                .as_ref()
                .to_vec()),
            Material::Ed(kp) if matches!(alg, "EdDSA" | "Ed25519") => {
                Ok(kp.sign(msg).as_ref().to_vec())
            }
            _ => Err(SigningKeyError::UnsupportedAlg(alg.to_owned())),
        }
    }
}

struct Entry {
    key: Arc<SigningKey>,
    published: bool,
}

#[derive(Default)]
struct StoreInner {
    keys: Vec<Entry>,
    current: HashMap<Slot, Arc<SigningKey>>,
}

/// A set of signing keys: published (in the JWKS) or retired, with one current key per family.
pub(crate) struct KeyStore {
    inner: RwLock<StoreInner>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let kids: Vec<(&str, bool)> = inner
            .keys
            .iter()
            .map(|e| (e.key.kid(), e.published))
            .collect();
        f.debug_struct("KeyStore")
            .field("kids_published", &kids)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Generates one key per slot, with kids `<prefix>-1`.
    pub(crate) fn generate(slots: &[Slot]) -> Result<Self, SigningKeyError> {
        let store = Self {
            inner: RwLock::new(StoreInner::default()),
        };
        for &slot in slots {
            store.rotate(slot)?;
        }
        Ok(store)
    }

    /// Adds a new key for `slot` that becomes the current key; returns its kid.
    pub(crate) fn rotate(&self, slot: Slot) -> Result<String, SigningKeyError> {
        // Generate outside the lock: RSA generation takes a while.
        let n = {
            let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            inner.keys.iter().filter(|e| e.key.slot == slot).count() + 1
        };
        let mut kid = format!("{}-{n}", slot.kid_prefix());
        let key = SigningKey::generate(slot, String::new())?;
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let mut m = n;
        while inner.keys.iter().any(|e| e.key.kid == kid) {
            m += 1;
            kid = format!("{}-{m}", slot.kid_prefix());
        }
        let key = Arc::new(SigningKey { kid, ..key });
        inner.keys.push(Entry {
            key: Arc::clone(&key),
            published: true,
        });
        let kid = key.kid.clone();
        inner.current.insert(slot, key);
        Ok(kid)
    }

    /// Removes `kid` from the published set; it stays usable for signing by kid.
    pub(crate) fn retire(&self, kid: &str) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        for e in inner.keys.iter_mut().filter(|e| e.key.kid == kid) {
            e.published = false;
        }
    }

    /// The current key for a family.
    pub(crate) fn current(&self, slot: Slot) -> Option<Arc<SigningKey>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.current.get(&slot).cloned()
    }

    /// Any key (published or retired) by kid.
    pub(crate) fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner
            .keys
            .iter()
            .find(|e| e.key.kid == kid)
            .map(|e| Arc::clone(&e.key))
    }

    /// Kids of all keys, published or not, in creation order.
    pub(crate) fn kids(&self) -> Vec<(String, bool)> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner
            .keys
            .iter()
            .map(|e| (e.key.kid.clone(), e.published))
            .collect()
    }

    /// The public JWKS `{"keys": [...]}` of published keys.
    pub(crate) fn jwks(&self) -> Value {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let keys: Vec<Value> = inner
            .keys
            .iter()
            .filter(|e| e.published)
            .map(|e| e.key.public_jwk())
            .collect();
        json!({ "keys": keys })
    }
}

/// Base64url (no padding) of the JSON serialization of `value`.
pub(crate) fn b64_json(value: &Map<String, Value>) -> String {
    // Serializing a `Map<String, Value>` cannot fail.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header) "." base64url(claims)`.
pub(crate) fn signing_input(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    format!("{}.{}", b64_json(header), b64_json(claims))
}

/// A compact JWS: signing input, `.`, base64url signature.
pub(crate) fn compact_jws(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    key: &SigningKey,
    alg: &str,
) -> Result<String, SigningKeyError> {
    let input = signing_input(header, claims);
    let sig = key.sign(alg, input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Random URL-safe string from `bytes` random bytes (CSPRNG).
pub(crate) fn random_string(bytes: usize) -> String {
    use rand::RngCore as _;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
