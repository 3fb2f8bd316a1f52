//! How this resource server authenticates to the introspection endpoint (RFC 7662 §2.1: the
//! endpoint MUST require some authorization): `client_secret_basic`, `client_secret_post`
//! (RFC 6749 §2.3.1) or `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9).
//!
//! Secrets are held in [`Zeroizing`] buffers, wiped when the last clone is dropped, and never
//! shown by `Debug`. The copies the HTTP stack makes of a request body are not wiped.

use crate::ConfigError;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::introspection::{basic_authorization, form_body};
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid: RFC 7523 §3 wants a short `exp`.
const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The client credentials of this resource server at one authorization server.
///
/// ```
/// use mcp_auth_introspect::ClientAuth;
/// let auth = ClientAuth::client_secret_basic("mcp-server", "s3cret");
/// assert_eq!(auth.client_id(), "mcp-server");
/// assert_eq!(auth.method(), "client_secret_basic");
/// assert!(!format!("{auth:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ClientAuth {
    client_id: String,
    method: Method,
}

#[derive(Clone)]
enum Method {
    Basic(Arc<Zeroizing<String>>),
    Post(Arc<Zeroizing<String>>),
    PrivateKeyJwt {
        key: Arc<AssertionKey>,
        audience: Option<String>,
    },
}

impl ClientAuth {
    /// `client_secret_basic`: the id and secret in an `Authorization: Basic` header, each
    /// form-urlencoded first (RFC 6749 §2.3.1).
    pub fn client_secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::Basic(Arc::new(Zeroizing::new(secret.into()))),
        }
    }

    /// `client_secret_post`: `client_id` and `client_secret` in the form body (RFC 6749
    /// §2.3.1, which says the Basic form SHOULD be preferred).
    pub fn client_secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::Post(Arc::new(Zeroizing::new(secret.into()))),
        }
    }

    /// `private_key_jwt`: a JWT signed with `key`, fresh for each call (RFC 7523 §2.2, §3:
    /// `iss` and `sub` the client id, `aud` the issuer unless
    /// [`with_assertion_audience`](Self::with_assertion_audience) says otherwise, `exp` one
    /// minute ahead, a random `jti`).
    pub fn private_key_jwt(client_id: impl Into<String>, key: AssertionKey) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::PrivateKeyJwt {
                key: Arc::new(key),
                audience: None,
            },
        }
    }

    /// For `private_key_jwt`: the assertion's `aud` (default: the issuer identifier, as
    /// draft-ietf-oauth-rfc7523bis requires; some servers want the endpoint URL instead).
    /// No effect on the other methods.
    #[must_use]
    pub fn with_assertion_audience(mut self, audience: impl Into<String>) -> Self {
        if let Method::PrivateKeyJwt { audience: a, .. } = &mut self.method {
            *a = Some(audience.into());
        }
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The method's name as RFC 8414 `introspection_endpoint_auth_methods_supported` lists it.
    pub fn method(&self) -> &'static str {
        match self.method {
            Method::Basic(_) => "client_secret_basic",
            Method::Post(_) => "client_secret_post",
            Method::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }

    /// The request for `token`: its `Authorization` value, if any, and its form body, both
    /// secrets. `issuer` is the default assertion audience, `now` seconds since the epoch.
    pub(crate) fn prepare(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Prepared, &'static str> {
        Ok(match &self.method {
            Method::Basic(secret) => Prepared {
                authorization: Some(Zeroizing::new(basic_authorization(&self.client_id, secret))),
                body: Zeroizing::new(form_body(token, &[])),
            },
            Method::Post(secret) => Prepared {
                authorization: None,
                body: Zeroizing::new(form_body(
                    token,
                    &[("client_id", &self.client_id), ("client_secret", secret)],
                )),
            },
            Method::PrivateKeyJwt { key, audience } => {
                let aud = audience.as_deref().unwrap_or(issuer);
                let assertion = key.assertion(&self.client_id, aud, now)?;
                Prepared {
                    authorization: None,
                    body: Zeroizing::new(form_body(
                        token,
                        &[
                            ("client_id", &self.client_id),
                            ("client_assertion_type", JWT_BEARER_ASSERTION),
                            ("client_assertion", &assertion),
                        ],
                    )),
                }
            }
        })
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientAuth");
        d.field("client_id", &self.client_id)
            .field("method", &self.method());
        match &self.method {
            Method::Basic(_) | Method::Post(_) => d.field("secret", &"[redacted]"),
            Method::PrivateKeyJwt { key, audience } => {
                d.field("key", key).field("audience", audience)
            }
        };
        d.finish()
    }
}

/// What one introspection request carries besides the URL.
pub(crate) struct Prepared {
    pub(crate) authorization: Option<Zeroizing<String>>,
    pub(crate) body: Zeroizing<String>,
}

/// The private key that signs `private_key_jwt` client assertions.
pub struct AssertionKey {
    kid: Option<String>,
    pair: Pair,
}

enum Pair {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl AssertionKey {
    /// An RSA key (at least 2,048 bits) from its PKCS#8 DER encoding, signing with RS256.
    /// `kid` names it in the assertion header, so the server can pick it from the client's
    /// JWKS.
    pub fn rs256_pkcs8(der: &[u8], kid: Option<String>) -> Result<Self, ConfigError> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|_| ConfigError::InvalidKey("not an RSA PKCS#8 private key"))?;
        if pair.public_modulus_len() < 256 {
            return Err(ConfigError::InvalidKey(
                "RSA keys must have at least 2048 bits",
            ));
        }
        Ok(Self {
            kid,
            pair: Pair::Rs256(pair),
        })
    }

    /// A P-256 key from its PKCS#8 DER encoding, signing with ES256.
    pub fn es256_pkcs8(der: &[u8], kid: Option<String>) -> Result<Self, ConfigError> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| ConfigError::InvalidKey("not a P-256 PKCS#8 private key"))?;
        Ok(Self {
            kid,
            pair: Pair::Es256(pair),
        })
    }

    /// An Ed25519 key from its PKCS#8 DER encoding, signing with EdDSA.
    pub fn ed25519_pkcs8(der: &[u8], kid: Option<String>) -> Result<Self, ConfigError> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|_| ConfigError::InvalidKey("not an Ed25519 PKCS#8 private key"))?;
        Ok(Self {
            kid,
            pair: Pair::EdDsa(pair),
        })
    }

    /// The JWS algorithm this key signs with.
    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Rs256(_) => "RS256",
            Pair::Es256(_) => "ES256",
            Pair::EdDsa(_) => "EdDSA",
        }
    }

    /// The public key, as the bytes aws-lc-rs gives (RSA: DER `RSAPublicKey`; P-256: the
    /// uncompressed point; Ed25519: the 32 raw bytes), to publish in the client's JWKS.
    pub fn public_key(&self) -> Vec<u8> {
        match &self.pair {
            Pair::Rs256(p) => p.public_key().as_ref().to_vec(),
            Pair::Es256(p) => p.public_key().as_ref().to_vec(),
            Pair::EdDsa(p) => p.public_key().as_ref().to_vec(),
        }
    }

    /// A compact JWS client assertion (RFC 7523 §3).
    fn assertion(&self, client_id: &str, aud: &str, now: i64) -> Result<String, &'static str> {
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti)
            .map_err(|_| "no randomness for the jti")?;
        let mut header = serde_json::json!({"alg": self.alg()});
        if let Some(kid) = &self.kid {
            header["kid"] = kid.as_str().into();
        }
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": aud,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let failed = |_| "signing the client assertion failed";
        let sig = match &self.pair {
            Pair::Rs256(p) => {
                let mut sig = vec![0; p.public_modulus_len()];
                p.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(failed)?;
                sig
            }
            Pair::Es256(p) => p
                .sign(&rng, input.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Pair::EdDsa(p) => p.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionKey")
            .field("alg", &self.alg())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_body_carries_the_secret_and_debug_does_not() {
        let auth = ClientAuth::client_secret_post("rs", "hunter2");
        let p = auth.prepare("tok", "https://as.example.com", 0).unwrap();
        assert!(p.authorization.is_none());
        assert_eq!(
            p.body.as_str(),
            "token=tok&token_type_hint=access_token&client_id=rs&client_secret=hunter2"
        );
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn assertion_keys_are_checked_and_not_shown() {
        let rng = SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let key = AssertionKey::ed25519_pkcs8(der.as_ref(), Some("k".into())).unwrap();
        assert_eq!(key.alg(), "EdDSA");
        assert_eq!(key.public_key().len(), 32);
        let shown = format!("{:?}", ClientAuth::private_key_jwt("rs", key));
        assert!(
            shown.contains("EdDSA") && shown.contains("private_key_jwt"),
            "{shown}"
        );
        // One algorithm's key is not taken for another's.
        assert!(AssertionKey::es256_pkcs8(der.as_ref(), None).is_err());
        assert!(AssertionKey::rs256_pkcs8(der.as_ref(), None).is_err());
        assert!(AssertionKey::ed25519_pkcs8(b"junk", None).is_err());
        // The assertion verifies with the public key.
        let key = AssertionKey::ed25519_pkcs8(der.as_ref(), None).unwrap();
        let jwt = key.assertion("rs", "https://as.example.com", 100).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        signature::UnparsedPublicKey::new(&signature::ED25519, key.public_key())
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn an_rs256_assertion_verifies_with_the_public_key() {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: Pkcs8V1Der<'_> = pair.as_der().unwrap();
        let key = AssertionKey::rs256_pkcs8(der.as_ref(), Some("r1".into())).unwrap();
        let jwt = key.assertion("rs", "https://as.example.com", 100).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let header = input.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "kid": "r1"}));
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key.public_key())
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }
}
