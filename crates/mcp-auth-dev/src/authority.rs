//! [`TestAuthority`]: in-memory signing keys, a public JWKS and a JWT builder for tests.
//!
//! **Not for production.** Keys are generated at start, kept in memory and never persisted.
//!
//! # Example
//!
//! ```
//! use mcp_auth_dev::TestAuthority;
//! use serde_json::json;
//!
//! let authority = TestAuthority::new("https://auth.example.test");
//! let token = authority
//!     .token()
//!     .aud("https://mcp.example.test/mcp")
//!     .scope("mcp:read mcp:write")
//!     .claim("tenant", json!("acme"))
//!     .alg("ES256")
//!     .sign();
//! assert_eq!(token.split('.').count(), 3);
//!
//! // Attack shapes:
//! let none = authority.token().unsigned(); // header alg "none", empty signature
//! assert!(none.ends_with('.'));
//! let confused = authority.token().sign_hs256(&authority.rsa_public_key_der());
//! assert_eq!(confused.split('.').count(), 3);
//! ```

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::keys::{self, KeyStore, SigningKey, SigningKeyError, Slot};

/// Default `sub` claim of minted tokens.
pub const DEFAULT_SUBJECT: &str = "user-1";
/// Default `client_id` claim of minted tokens.
pub const DEFAULT_CLIENT_ID: &str = "client-1";
/// Default token lifetime in seconds (`exp = iat + 300`).
pub const DEFAULT_LIFETIME_SECS: i64 = 300;

/// An in-memory token issuer for tests: signing keys, a public JWKS and a [`TokenBuilder`].
///
/// Created keys (kid, alg):
///
/// | kid | key | JWK `alg` |
/// |---|---|---|
/// | `rs256-1` | RSA 2048 | `RS256` |
/// | `ps256-1` | RSA 2048 | `PS256` |
/// | `es256-1` | P-256 | `ES256` |
/// | `eddsa-1` | Ed25519 | `EdDSA` |
///
/// Cloning is cheap and clones share keys, so [`rotate`](Self::rotate) and
/// [`retire`](Self::retire) are visible through every clone (and through
/// [`serve`](Self::serve)). `Debug` prints the issuer and kids, never key material.
///
/// **Not for production.**
#[derive(Clone)]
pub struct TestAuthority {
    inner: Arc<AuthorityInner>,
}

struct AuthorityInner {
    issuer: String,
    keys: KeyStore,
}

impl fmt::Debug for TestAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestAuthority")
            .field("issuer", &self.inner.issuer)
            .field("kids", &self.inner.keys.kids())
            .finish_non_exhaustive()
    }
}

impl TestAuthority {
    /// Creates an authority for `issuer` with fresh RS256, PS256, ES256 and EdDSA keys.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs cannot generate a key (it does not fail in practice). Use
    /// [`try_new`](Self::try_new) to get the error instead.
    #[must_use]
    pub fn new(issuer: impl Into<String>) -> Self {
        match Self::try_new(issuer) {
            Ok(a) => a,
            Err(e) => panic!("TestAuthority: {e}"),
        }
    }

    /// Like [`new`](Self::new), returning key-generation errors.
    ///
    /// # Errors
    ///
    /// [`SigningKeyError::Generation`] if aws-lc-rs fails to generate a key.
    pub fn try_new(issuer: impl Into<String>) -> Result<Self, SigningKeyError> {
        Self::with_slots(issuer.into(), &[Slot::Rs, Slot::Ps, Slot::Es, Slot::Ed])
    }

    pub(crate) fn with_slots(issuer: String, slots: &[Slot]) -> Result<Self, SigningKeyError> {
        Ok(Self {
            inner: Arc::new(AuthorityInner {
                issuer,
                keys: KeyStore::generate(slots)?,
            }),
        })
    }

    pub(crate) fn keys(&self) -> &KeyStore {
        &self.inner.keys
    }

    /// The issuer (`iss` of minted tokens, `issuer` of served metadata).
    #[must_use]
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    /// The public JWKS `{"keys": [...]}`: every published key with `kty`, `kid`, `alg`,
    /// `use: "sig"` and `n`,`e` (RSA), `crv`,`x`,`y` (EC P-256) or `crv`,`x` (OKP Ed25519),
    /// base64url without padding.
    #[must_use]
    pub fn jwks(&self) -> Value {
        self.inner.keys.jwks()
    }

    /// Adds a new published key for `alg` (`RS256`, `PS256`, `ES256` or `EdDSA`; `RS384` etc.
    /// map to their family) with a fresh kid, makes it the default signing key for that
    /// family, and returns the kid. Older keys stay published until [`retire`](Self::retire)d.
    ///
    /// # Panics
    ///
    /// If `alg` is not one of the supported names; see [`try_rotate`](Self::try_rotate).
    pub fn rotate(&self, alg: &str) -> String {
        match self.try_rotate(alg) {
            Ok(kid) => kid,
            Err(e) => panic!("TestAuthority::rotate: {e}"),
        }
    }

    /// Like [`rotate`](Self::rotate), returning errors.
    ///
    /// # Errors
    ///
    /// [`SigningKeyError::UnsupportedAlg`] for an unknown `alg`; [`SigningKeyError::Generation`] if key
    /// generation fails.
    pub fn try_rotate(&self, alg: &str) -> Result<String, SigningKeyError> {
        let slot =
            Slot::for_alg(alg).ok_or_else(|| SigningKeyError::UnsupportedAlg(alg.to_owned()))?;
        self.inner.keys.rotate(slot)
    }

    /// Removes `kid` from the published JWKS. Tokens can still be signed with it through
    /// [`TokenBuilder::kid`] (to test "kid not in JWKS"). Unknown kids are ignored.
    ///
    /// Retiring the current key of a family does not change the default: call
    /// [`rotate`](Self::rotate) first.
    pub fn retire(&self, kid: &str) {
        self.inner.keys.retire(kid);
    }

    /// The kid of the current default key for `alg`'s family, if any.
    #[must_use]
    pub fn current_kid(&self, alg: &str) -> Option<String> {
        let slot = Slot::for_alg(alg)?;
        Some(self.inner.keys.current(slot)?.kid().to_owned())
    }

    /// DER **PKCS#1 `RSAPublicKey`** (RFC 8017 A.1.1) of the current RS256 key.
    ///
    /// Meant for the algorithm-confusion test: `token().sign_hs256(&rsa_public_key_der())`.
    /// See also [`rsa_public_key_spki_der`](Self::rsa_public_key_spki_der) and
    /// [`rsa_public_key_pem`](Self::rsa_public_key_pem) for the other byte forms an attacker
    /// would try.
    #[must_use]
    pub fn rsa_public_key_der(&self) -> Vec<u8> {
        self.current_rsa()
            .and_then(|k| k.rsa_public_key_pkcs1_der())
            .unwrap_or_default()
    }

    /// DER `SubjectPublicKeyInfo` (X.509) of the current RS256 key.
    #[must_use]
    pub fn rsa_public_key_spki_der(&self) -> Vec<u8> {
        self.current_rsa()
            .and_then(|k| k.rsa_public_key_spki_der())
            .unwrap_or_default()
    }

    /// PEM `-----BEGIN PUBLIC KEY-----` (SPKI) of the current RS256 key, as bytes.
    #[must_use]
    pub fn rsa_public_key_pem(&self) -> Vec<u8> {
        let b64 = STANDARD.encode(self.rsa_public_key_spki_der());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem.into_bytes()
    }

    fn current_rsa(&self) -> Option<Arc<SigningKey>> {
        self.inner.keys.current(Slot::Rs)
    }

    /// Starts a token with the defaults described on [`TokenBuilder`].
    pub fn token(&self) -> TokenBuilder {
        let now = keys::now_unix();
        let mut header = Map::new();
        header.insert("alg".into(), json!("RS256"));
        header.insert("typ".into(), json!("at+jwt"));
        if let Some(key) = self.inner.keys.current(Slot::Rs) {
            header.insert("kid".into(), json!(key.kid()));
        }
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.inner.issuer));
        claims.insert("sub".into(), json!(DEFAULT_SUBJECT));
        claims.insert("client_id".into(), json!(DEFAULT_CLIENT_ID));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + DEFAULT_LIFETIME_SECS));
        claims.insert("jti".into(), json!(keys::random_string(16)));
        TokenBuilder {
            authority: self.clone(),
            header,
            claims,
            sign_alg: "RS256".to_owned(),
            kid_forced: false,
            now,
        }
    }
}

/// Builds and signs one JWT. Created by [`TestAuthority::token`].
///
/// Defaults:
///
/// - header `{"alg":"RS256","typ":"at+jwt","kid":<current RS256 kid>}`
/// - claims `{"iss":<issuer>,"sub":"user-1","client_id":"client-1","iat":now,"exp":now+300,"jti":<random>}`
/// - no `aud`, no `scope`, no `nbf`.
///
/// The header and claims are serialized exactly as set (`serde_json`, keys in sorted order),
/// then base64url without padding, so malformed or hostile tokens are easy to build.
#[must_use]
#[derive(Debug, Clone)]
pub struct TokenBuilder {
    authority: TestAuthority,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    sign_alg: String,
    kid_forced: bool,
    now: i64,
}

impl TokenBuilder {
    /// Sets `aud` to a string.
    pub fn aud(self, aud: &str) -> Self {
        self.claim("aud", json!(aud))
    }

    /// Sets `aud` to an array of strings.
    pub fn aud_array(self, auds: &[&str]) -> Self {
        self.claim("aud", json!(auds))
    }

    /// Sets `scope` (space-separated string, e.g. `"mcp:read mcp:write"`).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", json!(scope))
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", json!(sub))
    }

    /// Sets `client_id`.
    pub fn client_id(self, client_id: &str) -> Self {
        self.claim("client_id", json!(client_id))
    }

    /// Binds the token to a DPoP key: sets `cnf` to `{"jkt": jkt}` (RFC 9449 §6.1), `jkt`
    /// being the RFC 7638 SHA-256 thumbprint of the key, base64url. The same as
    /// `.claim("cnf", json!({"jkt": jkt}))`.
    pub fn cnf_jkt(self, jkt: &str) -> Self {
        self.claim("cnf", json!({ "jkt": jkt }))
    }

    /// Sets or overrides any claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// Removes a claim (e.g. `exp`, `iss`).
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets or overrides any header parameter (e.g. `crit`, `typ`, `jku`).
    ///
    /// Setting `alg` here changes only the header, not how the token is signed; use
    /// [`alg`](Self::alg) to change both. Setting `kid` here behaves like [`kid`](Self::kid)
    /// when it is a string.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        if name == "kid" {
            self.kid_forced = true;
        }
        self.header.insert(name.to_owned(), value);
        self
    }

    /// Removes a header parameter (e.g. `typ`, `kid`).
    pub fn without_header(mut self, name: &str) -> Self {
        if name == "kid" {
            self.kid_forced = true;
        }
        self.header.remove(name);
        self
    }

    /// Sets the signing algorithm and header `alg`: `RS256|RS384|RS512` sign with the current
    /// RS256 key, `PS256|PS384|PS512` with the current PS256 key, `ES256` with the P-256 key,
    /// `EdDSA` with the Ed25519 key. The header `kid` follows the chosen key unless
    /// [`kid`](Self::kid) was set.
    ///
    /// Any other name (`ES384`, `HS512`, ...) is written to the header verbatim while the
    /// token is signed with RS256 and the current RS256 key, which gives a well-formed token
    /// with an algorithm a validator must refuse.
    pub fn alg(mut self, alg: &str) -> Self {
        self.sign_alg = alg.to_owned();
        self.header.insert("alg".into(), json!(alg));
        if !self.kid_forced {
            let slot = Slot::for_alg(alg).unwrap_or(Slot::Rs);
            if let Some(key) = self.authority.inner.keys.current(slot) {
                self.header.insert("kid".into(), json!(key.kid()));
            }
        }
        self
    }

    /// Forces the header `kid`. The token is signed with that key if it exists (published or
    /// retired) and supports the algorithm, otherwise with the algorithm's default key (forged
    /// or unknown `kid` tests).
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid_forced = true;
        self.header.insert("kid".into(), json!(kid));
        self
    }

    /// Sets `exp = now + secs` (negative for an expired token).
    pub fn expires_in(self, secs: i64) -> Self {
        let exp = self.now + secs;
        self.claim("exp", json!(exp))
    }

    /// Sets `nbf = now + secs`.
    pub fn not_before_in(self, secs: i64) -> Self {
        let nbf = self.now + secs;
        self.claim("nbf", json!(nbf))
    }

    /// Sets `iat = now + secs`.
    pub fn issued_at_in(self, secs: i64) -> Self {
        let iat = self.now + secs;
        self.claim("iat", json!(iat))
    }

    /// The header as it would be serialized.
    #[must_use]
    pub fn header_json(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The claims as they would be serialized.
    #[must_use]
    pub fn claims_json(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Signs and returns the compact JWS `header.payload.signature`.
    ///
    /// RS* use RSASSA-PKCS1-v1_5, PS* RSASSA-PSS (salt length = hash length), ES256 the
    /// fixed-width `r || s` form, EdDSA Ed25519.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to sign; see [`try_sign`](Self::try_sign).
    #[must_use]
    pub fn sign(self) -> String {
        match self.try_sign() {
            Ok(t) => t,
            Err(e) => panic!("TokenBuilder::sign: {e}"),
        }
    }

    /// Like [`sign`](Self::sign), returning errors.
    ///
    /// # Errors
    ///
    /// [`SigningKeyError`] if no key is available or signing fails.
    pub fn try_sign(self) -> Result<String, SigningKeyError> {
        let store = &self.authority.inner.keys;
        let (alg, slot) = match Slot::for_alg(&self.sign_alg) {
            Some(slot) => (self.sign_alg.as_str(), slot),
            None => ("RS256", Slot::Rs),
        };
        let by_kid = self
            .header
            .get("kid")
            .and_then(Value::as_str)
            .and_then(|kid| store.find(kid))
            .filter(|k| k.supports(alg));
        let key = match by_kid {
            Some(k) => k,
            None => store
                .current(slot)
                .ok_or(SigningKeyError::NoKey(slot.jwk_alg()))?,
        };
        keys::compact_jws(&self.header, &self.claims, &key, alg)
    }

    /// Forces header `alg` to `HS256` and signs with HMAC-SHA256 using `secret` (for
    /// algorithm-confusion tests, e.g. with [`TestAuthority::rsa_public_key_der`]).
    #[must_use]
    pub fn sign_hs256(mut self, secret: &[u8]) -> String {
        self.header.insert("alg".into(), json!("HS256"));
        let input = keys::signing_input(&self.header, &self.claims);
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Forces header `alg` to `none` and returns `header.payload.` (empty signature).
    #[must_use]
    pub fn unsigned(mut self) -> String {
        self.header.insert("alg".into(), json!("none"));
        format!("{}.", keys::signing_input(&self.header, &self.claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{self, UnparsedPublicKey};

    fn b64d(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    fn parts(token: &str) -> (Value, Value, Vec<u8>, String) {
        let mut it = token.split('.');
        let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        assert!(it.next().is_none());
        (
            serde_json::from_slice(&b64d(h)).unwrap(),
            serde_json::from_slice(&b64d(p)).unwrap(),
            b64d(s),
            format!("{h}.{p}"),
        )
    }

    fn jwk_for<'a>(jwks: &'a Value, kid: &str) -> Option<&'a Value> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
    }

    /// Verifies `token` against the published JWK named by its header `kid`.
    fn verify(authority: &TestAuthority, token: &str) -> bool {
        let (header, _, sig, input) = parts(token);
        let jwks = authority.jwks();
        let jwk = jwk_for(&jwks, header["kid"].as_str().unwrap()).unwrap();
        let s = |name: &str| b64d(jwk[name].as_str().unwrap());
        let msg = input.as_bytes();
        match header["alg"].as_str().unwrap() {
            alg @ ("RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512") => {
                assert_eq!(jwk["kty"], "RSA");
                let params: &signature::RsaParameters = match alg {
                    "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                    "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                    "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                    "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                    "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                signature::RsaPublicKeyComponents {
                    n: s("n"),
                    e: s("e"),
                }
                .verify(params, msg, &sig)
                .is_ok()
            }
            "ES256" => {
                assert_eq!(jwk["kty"], "EC");
                assert_eq!(jwk["crv"], "P-256");
                assert_eq!(sig.len(), 64, "fixed-width r||s");
                let mut point = vec![4u8];
                point.extend(s("x"));
                point.extend(s("y"));
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, &sig)
                    .is_ok()
            }
            "EdDSA" => {
                assert_eq!(jwk["kty"], "OKP");
                assert_eq!(jwk["crv"], "Ed25519");
                UnparsedPublicKey::new(&signature::ED25519, s("x"))
                    .verify(msg, &sig)
                    .is_ok()
            }
            other => panic!("unexpected alg {other}"),
        }
    }

    #[test]
    fn jwks_shape() {
        let a = TestAuthority::new("https://issuer.test");
        let jwks = a.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, ["rs256-1", "ps256-1", "es256-1", "eddsa-1"]);
        for k in keys {
            assert_eq!(k["use"], "sig");
            assert!(k.get("d").is_none(), "no private material");
        }
        assert_eq!(keys[0]["alg"], "RS256");
        assert_eq!(keys[0]["e"], "AQAB");
        assert_eq!(b64d(keys[0]["n"].as_str().unwrap()).len(), 256);
        assert_eq!(keys[1]["alg"], "PS256");
        assert_eq!(keys[2]["alg"], "ES256");
        assert_eq!(b64d(keys[2]["x"].as_str().unwrap()).len(), 32);
        assert_eq!(b64d(keys[2]["y"].as_str().unwrap()).len(), 32);
        assert_eq!(keys[3]["alg"], "EdDSA");
        assert_eq!(b64d(keys[3]["x"].as_str().unwrap()).len(), 32);
        let dbg = format!("{a:?}");
        assert!(dbg.contains("issuer.test") && dbg.contains("rs256-1"));
    }

    #[test]
    fn every_alg_verifies_against_published_jwk() {
        let a = TestAuthority::new("https://issuer.test");
        for (alg, kid) in [
            ("RS256", "rs256-1"),
            ("RS384", "rs256-1"),
            ("RS512", "rs256-1"),
            ("PS256", "ps256-1"),
            ("PS384", "ps256-1"),
            ("PS512", "ps256-1"),
            ("ES256", "es256-1"),
            ("EdDSA", "eddsa-1"),
        ] {
            let token = a.token().alg(alg).sign();
            let (header, _, _, _) = parts(&token);
            assert_eq!(header["alg"], alg);
            assert_eq!(header["kid"], kid);
            assert!(verify(&a, &token), "{alg} must verify");
            // Tampering breaks it.
            let (h, rest) = token.split_once('.').unwrap();
            let (_, sig) = rest.split_once('.').unwrap();
            let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
            assert!(!verify(&a, &format!("{h}.{forged_payload}.{sig}")));
        }
    }

    #[test]
    fn jsonwebtoken_accepts_rs256_and_es256() {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let a = TestAuthority::new("https://issuer.test");
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(a.jwks()).unwrap();
        for (alg, kid) in [
            (Algorithm::RS256, "rs256-1"),
            (Algorithm::PS256, "ps256-1"),
            (Algorithm::ES256, "es256-1"),
            (Algorithm::EdDSA, "eddsa-1"),
        ] {
            let name = format!("{alg:?}");
            let token = a.token().aud("https://rs.test").alg(&name).sign();
            let key = DecodingKey::from_jwk(jwks.find(kid).unwrap()).unwrap();
            let mut v = Validation::new(alg);
            v.set_audience(&["https://rs.test"]);
            v.set_issuer(&["https://issuer.test"]);
            let data = decode::<Value>(&token, &key, &v).unwrap();
            assert_eq!(data.claims["sub"], "user-1");
        }
    }

    #[test]
    fn defaults() {
        let a = TestAuthority::new("https://issuer.test");
        let (header, claims, _, _) = parts(&a.token().sign());
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "rs256-1"})
        );
        assert_eq!(claims["iss"], "https://issuer.test");
        assert_eq!(claims["sub"], "user-1");
        assert_eq!(claims["client_id"], "client-1");
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - keys::now_unix()).abs() < 5);
        assert_eq!(claims["exp"].as_i64().unwrap(), iat + 300);
        assert!(claims["jti"].as_str().unwrap().len() >= 16);
        assert!(claims.get("aud").is_none());
        assert!(claims.get("scope").is_none());
        assert!(claims.get("nbf").is_none());
        let (_, c2, _, _) = parts(&a.token().sign());
        assert_ne!(claims["jti"], c2["jti"]);
    }

    #[test]
    fn cnf_jkt_binds_the_token_to_a_key() {
        let a = TestAuthority::new("https://issuer.test");
        let (_, claims, _, _) = parts(&a.token().cnf_jkt("0ZcOCORZNYy").sign());
        assert_eq!(claims["cnf"], json!({"jkt": "0ZcOCORZNYy"}));
        let (_, plain, _, _) = parts(&a.token().sign());
        assert!(plain.get("cnf").is_none());
    }

    #[test]
    fn builder_setters() {
        let a = TestAuthority::new("https://issuer.test");
        let t = a
            .token()
            .aud_array(&["a", "b"])
            .scope("mcp:read mcp:write")
            .claim("sub", json!(42))
            .without_claim("jti")
            .header("crit", json!(["exp"]))
            .without_header("typ")
            .expires_in(-10)
            .not_before_in(30)
            .sign();
        let (header, claims, _, _) = parts(&t);
        assert_eq!(header["crit"], json!(["exp"]));
        assert!(header.get("typ").is_none());
        assert_eq!(claims["aud"], json!(["a", "b"]));
        assert_eq!(claims["scope"], "mcp:read mcp:write");
        assert_eq!(claims["sub"], 42);
        assert!(claims.get("jti").is_none());
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap(), iat - 10);
        assert_eq!(claims["nbf"].as_i64().unwrap(), iat + 30);
        assert!(verify(&a, &t));
        let (_, c, _, _) = parts(&a.token().aud("x").sign());
        assert_eq!(c["aud"], "x");
    }

    #[test]
    fn forced_kid() {
        let a = TestAuthority::new("https://issuer.test");
        // Unknown kid: header says so, signed with the alg's default key.
        let t = a.token().kid("forged").sign();
        let (h, _, sig, input) = parts(&t);
        assert_eq!(h["kid"], "forged");
        let jwks = a.jwks();
        let jwk = jwk_for(&jwks, "rs256-1").unwrap();
        let pk = signature::RsaPublicKeyComponents {
            n: b64d(jwk["n"].as_str().unwrap()),
            e: b64d(jwk["e"].as_str().unwrap()),
        };
        assert!(
            pk.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                &sig
            )
            .is_ok()
        );
        // kid set before alg survives alg().
        let t = a.token().kid("es256-1").alg("ES256").sign();
        assert_eq!(parts(&t).0["kid"], "es256-1");
        assert!(verify(&a, &t));
        // A kid whose key cannot do the alg: default key of the alg is used.
        let t = a.token().alg("ES256").kid("rs256-1").sign();
        assert_eq!(parts(&t).0["kid"], "rs256-1");
        // Unknown alg: header verbatim, RS256 signature.
        let t = a.token().alg("ES384").sign();
        assert_eq!(parts(&t).0["alg"], "ES384");
        assert_eq!(parts(&t).0["kid"], "rs256-1");
    }

    #[test]
    fn rotate_and_retire() {
        let a = TestAuthority::new("https://issuer.test");
        let kid = a.rotate("RS256");
        assert_eq!(kid, "rs256-2");
        assert_eq!(a.current_kid("RS512").as_deref(), Some("rs256-2"));
        let t = a.token().sign();
        assert_eq!(parts(&t).0["kid"], "rs256-2");
        assert!(verify(&a, &t));
        assert_eq!(a.rotate("EdDSA"), "eddsa-2");
        assert_eq!(a.rotate("ES256"), "es256-2");
        assert_eq!(a.rotate("PS256"), "ps256-2");
        assert_eq!(a.jwks()["keys"].as_array().unwrap().len(), 8);

        a.retire("rs256-1");
        let jwks = a.jwks();
        assert!(jwk_for(&jwks, "rs256-1").is_none());
        assert!(jwk_for(&jwks, "rs256-2").is_some());
        // Still possible to sign with the retired key by kid.
        let t = a.token().kid("rs256-1").sign();
        assert_eq!(parts(&t).0["kid"], "rs256-1");
        assert!(a.try_rotate("HS256").is_err());
        // Clones share the keys.
        let b = a.clone();
        b.rotate("RS256");
        assert_eq!(a.current_kid("RS256").as_deref(), Some("rs256-3"));
    }

    #[test]
    fn hs256_and_unsigned_shapes() {
        let a = TestAuthority::new("https://issuer.test");
        let secret = a.rsa_public_key_der();
        assert_eq!(secret.first(), Some(&0x30), "DER SEQUENCE");
        let t = a.token().sign_hs256(&secret);
        let (h, c, sig, input) = parts(&t);
        assert_eq!(h["alg"], "HS256");
        assert_eq!(h["kid"], "rs256-1");
        assert_eq!(c["iss"], "https://issuer.test");
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        assert!(hmac::verify(&key, input.as_bytes(), &sig).is_ok());

        let t = a.token().unsigned();
        assert!(t.ends_with('.'));
        assert_eq!(t.matches('.').count(), 2);
        let (h, c, sig, _) = parts(&t);
        assert_eq!(h["alg"], "none");
        assert_eq!(c["sub"], "user-1");
        assert!(sig.is_empty());

        let pem = String::from_utf8(a.rsa_public_key_pem()).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(a.rsa_public_key_spki_der().len() > secret.len());
    }
}
