//! DPoP proofs on the resource server (RFC 9449), without I/O.
//!
//! [`DpopPolicy::check`] takes what the request carried (its `DPoP` header values, method and
//! path), the configured resource URI, the access token and the token's `cnf.jkt`, and
//! applies every rule of RFC 9449 §4.3:
//!
//! | rule | refused as |
//! |---|---|
//! | exactly one `DPoP` header, holding one compact JWS with JSON header and payload | [`DpopError::MissingProof`], [`MultipleProofs`](DpopError::MultipleProofs), [`Malformed`](DpopError::Malformed) |
//! | `typ` is `dpop+jwt` | [`WrongType`](DpopError::WrongType) |
//! | `alg` asymmetric and in the allow-list (never `none`, never HMAC) | [`AlgorithmNotAllowed`](DpopError::AlgorithmNotAllowed) |
//! | `jwk` a public key (no private member) of the algorithm's family | [`MissingKey`](DpopError::MissingKey), [`PrivateKey`](DpopError::PrivateKey), [`InvalidKey`](DpopError::InvalidKey) |
//! | the signature verifies with `jwk` | [`BadSignature`](DpopError::BadSignature) |
//! | `jti`, `htm`, `htu`, `iat`, `ath` present | [`MissingClaim`](DpopError::MissingClaim) |
//! | `htm` is the request method | [`MethodMismatch`](DpopError::MethodMismatch) |
//! | `htu` is the request URI (resource origin + request path), no query or fragment, RFC 3986 normalized | [`UriMismatch`](DpopError::UriMismatch) |
//! | `iat` within ± the window (default 300 s, MCP DPoP profile) | [`IatOutOfWindow`](DpopError::IatOutOfWindow) |
//! | `ath` = base64url(SHA-256(access token)) | [`AccessTokenHashMismatch`](DpopError::AccessTokenHashMismatch) |
//! | the token's `cnf.jkt` = RFC 7638 thumbprint of `jwk` | [`TokenNotBound`](DpopError::TokenNotBound), [`KeyBindingMismatch`](DpopError::KeyBindingMismatch) |
//! | `nonce` one of ours, current or previous slot (when nonces are on) | [`NonceRequired`](DpopError::NonceRequired), [`NonceInvalid`](DpopError::NonceInvalid) |
//!
//! The nonce is checked last, so `use_dpop_nonce` tells a client that a retry with the nonce
//! will do. What passes is a [`CheckedProof`]: the key thumbprint, a fixed-size hash of the
//! `jti` for the replay store (RFC 9449 §11.1) and the instant until which the store must
//! remember it. Recording the `jti` (and refusing a second use) is the caller's next step,
//! taken only once the token verified too.
//!
//! # At an authorization server's token endpoint
//!
//! A token request carries a proof but no access token (RFC 9449 §5): build the request with
//! [`ProofRequest::token_endpoint`] and the same [`DpopPolicy::check`] applies every rule
//! above but the two about the access token: `ath` is not required (nor compared, RFC 9449
//! §4.2: it is for requests with an access token) and there is no `cnf.jkt` to match, so
//! neither [`AccessTokenHashMismatch`](DpopError::AccessTokenHashMismatch) nor
//! [`TokenNotBound`](DpopError::TokenNotBound) /
//! [`KeyBindingMismatch`](DpopError::KeyBindingMismatch) can come back. The
//! [`CheckedProof::thumbprint`] is what the server binds the tokens it issues to.
//!
//! # Example
//!
//! ```
//! use mcp_auth_core::AccessToken;
//! use mcp_auth_core::dpop::{DpopError, DpopPolicy, ProofRequest};
//! use mcp_auth_core::resource::ResourceUri;
//!
//! let policy = DpopPolicy::new();
//! let resource = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
//! let token = AccessToken::new("eyJ...");
//! let uri: http::Uri = "/mcp".parse().unwrap();
//! let request = ProofRequest::new(&http::Method::POST, &uri, &resource, &token, Some("jkt"), 1_800_000_000);
//! let headers = http::HeaderMap::new();
//! assert_eq!(policy.check(headers.get_all("dpop"), &request).unwrap_err(), DpopError::MissingProof);
//! ```

mod error;
mod htu;
mod key;
mod nonce;

pub use error::{DpopConfigError, DpopError, ProofClaim};
pub use key::jwk_thumbprint;
pub use nonce::{MIN_SECRET_LEN, NonceAge, Nonces};

use crate::AccessToken;
use crate::jws::{Algorithm, CompactJws};
use crate::resource::ResourceUri;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;

/// The widest `iat` window: ±5 minutes (MCP DPoP extension, SEP-1932).
pub const MAX_WINDOW: Duration = Duration::from_secs(300);
/// The default replay leeway: how much longer than the window a `jti` is remembered, for the
/// clocks of a fleet's instances to disagree a little.
pub const DEFAULT_REPLAY_LEEWAY: Duration = Duration::from_secs(60);
/// The default cap on a proof's length in bytes (an RSA-4096 proof is about 1.6 KB).
pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;
/// The longest `jti` taken (RFC 9449 §11.1: reject unnecessarily large values). A UUID is 36
/// bytes, 96 random bits in base64url 16.
pub const MAX_JTI_LEN: usize = 256;

/// The default allow-list of proof algorithms.
pub const DEFAULT_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::RS256,
];

/// How DPoP proofs are checked: the algorithm allow-list, the `iat` window, the replay
/// leeway, the proof size cap and, optionally, server-provided nonces.
#[derive(Debug, Clone)]
#[must_use]
pub struct DpopPolicy {
    algorithms: Vec<Algorithm>,
    window: u64,
    leeway: u64,
    max_proof_len: usize,
    nonces: Option<Nonces>,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopPolicy {
    /// [`DEFAULT_ALGORITHMS`], a ±300 s window, a 60 s replay leeway, no nonces.
    pub fn new() -> Self {
        Self {
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            window: MAX_WINDOW.as_secs(),
            leeway: DEFAULT_REPLAY_LEEWAY.as_secs(),
            max_proof_len: DEFAULT_MAX_PROOF_LEN,
            nonces: None,
        }
    }

    /// The proof algorithms allowed (RFC 9449 §4.3: "acceptable per local policy"). The
    /// [`Algorithm`] type has no `none` or HMAC variant, so neither can be allowed.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Result<Self, DpopConfigError> {
        if algorithms.is_empty() {
            return Err(DpopConfigError::NoAlgorithms);
        }
        let mut algs = Vec::with_capacity(algorithms.len());
        for a in algorithms {
            if !algs.contains(a) {
                algs.push(*a);
            }
        }
        self.algorithms = algs;
        Ok(self)
    }

    /// The `iat` window, ± this many whole seconds around now: 1 s to [`MAX_WINDOW`].
    pub fn with_window(mut self, window: Duration) -> Result<Self, DpopConfigError> {
        let got = window.as_secs();
        if got == 0 || got > MAX_WINDOW.as_secs() {
            return Err(DpopConfigError::Window {
                got,
                max: MAX_WINDOW.as_secs(),
            });
        }
        self.window = got;
        Ok(self)
    }

    /// How much longer than `iat` + window a `jti` is remembered (whole seconds).
    pub fn with_replay_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// The longest proof taken, in bytes.
    pub fn with_max_proof_len(mut self, max: usize) -> Self {
        self.max_proof_len = max;
        self
    }

    /// Requires a server-provided nonce in every proof (RFC 9449 §9).
    pub fn with_nonces(mut self, nonces: Nonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The allowed algorithms.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The allowed algorithms as the challenge's `algs` value and the metadata's
    /// `dpop_signing_alg_values_supported` name them.
    pub fn algorithm_names(&self) -> Vec<&'static str> {
        self.algorithms.iter().map(|a| a.as_str()).collect()
    }

    /// The `iat` window.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window)
    }

    /// The nonces, if required.
    pub fn nonces(&self) -> Option<&Nonces> {
        self.nonces.as_ref()
    }

    /// Checks the proof of one request. `proofs` are all the request's `DPoP` header values
    /// (`headers.get_all("dpop")`). See the [module docs](self) for the rules.
    pub fn check<'h>(
        &self,
        proofs: impl IntoIterator<Item = &'h HeaderValue>,
        req: &ProofRequest<'_>,
    ) -> Result<CheckedProof, DpopError> {
        let mut proofs = proofs.into_iter();
        // RFC 9449 §4.3: "there is not more than one DPoP HTTP request header field".
        let proof = proofs.next().ok_or(DpopError::MissingProof)?;
        if proofs.next().is_some() {
            return Err(DpopError::MultipleProofs);
        }
        if proof.len() > self.max_proof_len {
            return Err(DpopError::TooLarge);
        }
        // RFC 9449 §4.3: "the DPoP HTTP request header field value is a single and
        // well-formed JWT" (three base64url segments, no list of values).
        let proof = proof.to_str().map_err(|_| DpopError::Malformed)?;
        let jws = CompactJws::split(proof, self.max_proof_len).map_err(|_| DpopError::Malformed)?;
        let [header_b64, payload_b64, signature_b64] = jws.segments();
        let header = json_object(header_b64)?;

        // RFC 9449 §4.3 / RFC 8725 §3.11: explicit typing.
        let typ = header.get("typ").and_then(Value::as_str);
        if !typ.is_some_and(|t| {
            t.eq_ignore_ascii_case("dpop+jwt") || t.eq_ignore_ascii_case("application/dpop+jwt")
        }) {
            return Err(DpopError::WrongType);
        }
        // RFC 9449 §4.3: an asymmetric algorithm, not `none`, acceptable per local policy.
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(alg_from_name)
            .filter(|a| self.algorithms.contains(a))
            .ok_or(DpopError::AlgorithmNotAllowed)?;
        // RFC 7515 §4.1.11: no extension is understood, so `crit` is refused (`b64`, RFC 7797,
        // would change what the signature covers).
        if header.contains_key("crit") || header.contains_key("b64") {
            return Err(DpopError::CriticalHeader);
        }
        let Some(jwk) = header.get("jwk") else {
            return Err(DpopError::MissingKey);
        };
        let key = key::proof_key(jwk, alg)?;

        // RFC 9449 §4.3: "the JWT signature verifies with the public key contained in the jwk".
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| DpopError::Malformed)?;
        let signing_input = &proof[..header_b64.len() + 1 + payload_b64.len()];
        if signature.is_empty() || !key.verify(alg, signing_input.as_bytes(), &signature) {
            return Err(DpopError::BadSignature);
        }
        let thumbprint = jwk
            .as_object()
            .and_then(key::jwk_thumbprint)
            .ok_or(DpopError::InvalidKey)?;

        // RFC 9449 §4.3: the required claims (§4.2, and `ath` with an access token, §7).
        let claims = json_object(payload_b64)?;
        let string = |c: ProofClaim| {
            claims
                .get(c.as_str())
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(DpopError::MissingClaim(c))
        };
        let jti = string(ProofClaim::Jti)?;
        let htm = string(ProofClaim::Htm)?;
        let htu = string(ProofClaim::Htu)?;
        let iat = claims
            .get("iat")
            .and_then(numeric_date)
            .ok_or(DpopError::MissingClaim(ProofClaim::Iat))?;
        // `ath` only with an access token (RFC 9449 §4.2, §7); a token request has none (§5).
        let ath = match req.access_token {
            Some(_) => Some(string(ProofClaim::Ath)?),
            None => None,
        };
        // RFC 9449 §11.1: unnecessarily large `jti` values are refused.
        if jti.len() > MAX_JTI_LEN {
            return Err(DpopError::JtiTooLong);
        }
        // RFC 9449 §4.3: `htm` matches the method (RFC 9110 §9.1: case-sensitive).
        if htm != req.method.as_str() {
            return Err(DpopError::MethodMismatch);
        }
        // RFC 9449 §4.3: `htu` matches the request URI, ignoring query and fragment.
        if !htu::matches(htu, req.resource, req.uri.path()) {
            return Err(DpopError::UriMismatch);
        }
        // RFC 9449 §4.3, §11.1: the creation time within an acceptable window.
        if req.now.abs_diff(iat) > self.window {
            return Err(DpopError::IatOutOfWindow);
        }
        if let (Some(token), Some(ath)) = (req.access_token, ath) {
            // RFC 9449 §4.3: `ath` equals the hash of the access token.
            // aws-lc's SHA-256 (assembly on every x86-64 level, SHA-NI where present) rather
            // than sha2's: the token is hashed on every request, cache hit or not, and for
            // an ~900-byte token sha2 without SHA-NI costs ~50,000 instructions, a third of
            // the proof's cost beyond its signature (issue 17's gauge row).
            let expected_ath = URL_SAFE_NO_PAD.encode(digest(&SHA256, token.expose().as_bytes()));
            if ath != expected_ath {
                return Err(DpopError::AccessTokenHashMismatch);
            }
            // RFC 9449 §4.3, §6.1: the token is bound to this very key.
            match req.token_jkt {
                None => return Err(DpopError::TokenNotBound),
                Some(jkt) if jkt != thumbprint => return Err(DpopError::KeyBindingMismatch),
                Some(_) => {}
            }
        }
        // RFC 9449 §9, §11.3: once nonces are required, no proof without one is accepted.
        let fresh_nonce_due = match &self.nonces {
            None => false,
            Some(nonces) => {
                let nonce = claims
                    .get("nonce")
                    .and_then(Value::as_str)
                    .ok_or(DpopError::NonceRequired)?;
                nonces.verify(nonce, req.now)? == NonceAge::Previous
            }
        };
        Ok(CheckedProof {
            jti_hash: JtiHash::new(&thumbprint, jti),
            remember_until: iat
                .saturating_add_unsigned(self.window)
                .saturating_add_unsigned(self.leeway),
            thumbprint,
            fresh_nonce_due,
        })
    }
}

/// A base64url segment holding a JSON object, with the JSON rules of tokens (no duplicate
/// member name at any depth, bounded nesting: [`crate::json`]).
fn json_object(b64: &str) -> Result<Map<String, Value>, DpopError> {
    let bytes = base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(b64)
        .map_err(|_| DpopError::Malformed)?;
    crate::json::check_slice(&bytes).map_err(|_| DpopError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(DpopError::Malformed),
    }
}

/// A JOSE algorithm name; `Ed25519` (RFC 9864 §2.2, the fully-specified name newer clients
/// sign with) is EdDSA over Ed25519, and allowed when `EdDSA` is.
fn alg_from_name(name: &str) -> Option<Algorithm> {
    match name {
        "Ed25519" => Some(Algorithm::EdDSA),
        _ => Algorithm::from_name(name),
    }
}

/// A NumericDate (RFC 7519 §2): seconds, possibly with a fraction (dropped).
fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64)
    })
}

/// What a proof is checked against: the request and its access token
/// ([`new`](Self::new), at a resource server), or a token request, which has none
/// ([`token_endpoint`](Self::token_endpoint), at an authorization server).
#[derive(Clone, Copy)]
pub struct ProofRequest<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    resource: &'a ResourceUri,
    /// `None` only at a token endpoint: then neither `ath` nor `cnf.jkt` is checked.
    access_token: Option<&'a AccessToken>,
    token_jkt: Option<&'a str>,
    now: i64,
}

impl<'a> ProofRequest<'a> {
    /// The request's `method` and `uri` (only its path is read: scheme, host and port are the
    /// configured `resource`'s), the `access_token` from `Authorization: DPoP`, the token's
    /// `cnf.jkt` ([`cnf_jkt`]) and the time, in seconds since the epoch.
    pub fn new(
        method: &'a http::Method,
        uri: &'a http::Uri,
        resource: &'a ResourceUri,
        access_token: &'a AccessToken,
        token_jkt: Option<&'a str>,
        now: i64,
    ) -> Self {
        Self {
            method,
            uri,
            resource,
            access_token: Some(access_token),
            token_jkt,
            now,
        }
    }

    /// A request to an authorization server's token endpoint (RFC 9449 §5): `method` (a
    /// token request is a `POST`, so `htm` must be `POST`), `uri` (only its path is read) on
    /// the origin of `server` (the token endpoint's public URL, or any URI of that origin,
    /// since only its scheme, host and port are read) and the time, in seconds since the
    /// epoch. There is no access token, so `ath` is not required and no `cnf.jkt` is matched:
    /// the proof's key is the one the issued tokens get bound to.
    ///
    /// ```
    /// use mcp_auth_core::dpop::{DpopError, DpopPolicy, ProofRequest};
    /// use mcp_auth_core::resource::ResourceUri;
    ///
    /// let endpoint = ResourceUri::parse("https://as.example.com/token").unwrap();
    /// let uri: http::Uri = endpoint.path().parse().unwrap();
    /// let request = ProofRequest::token_endpoint(&http::Method::POST, &uri, &endpoint, 1_800_000_000);
    /// let headers = http::HeaderMap::new();
    /// let err = DpopPolicy::new().check(headers.get_all("dpop"), &request).unwrap_err();
    /// assert_eq!(err, DpopError::MissingProof);
    /// ```
    pub fn token_endpoint(
        method: &'a http::Method,
        uri: &'a http::Uri,
        server: &'a ResourceUri,
        now: i64,
    ) -> Self {
        Self {
            method,
            uri,
            resource: server,
            access_token: None,
            token_jkt: None,
            now,
        }
    }
}

impl fmt::Debug for ProofRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofRequest")
            .field("method", self.method)
            .field("path", &self.uri.path())
            .field("resource", self.resource)
            .field("access_token", &self.access_token.map(AccessToken::hash))
            .field("token_jkt", &self.token_jkt)
            .field("now", &self.now)
            .finish()
    }
}

/// The `jkt` of a token's `cnf` claim (RFC 9449 §6.1) or of an introspection answer's `cnf`
/// member (§6.2); `None` when there is none (then a DPoP proof is refused with
/// [`DpopError::TokenNotBound`]).
pub fn cnf_jkt(cnf: Option<&Value>) -> Option<&str> {
    cnf?.get("jkt")?.as_str()
}

/// A proof that passed every check of RFC 9449 §4.3 but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckedProof {
    thumbprint: String,
    jti_hash: JtiHash,
    remember_until: i64,
    fresh_nonce_due: bool,
}

impl CheckedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: the token's `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The fixed-size hash under which the replay store records the proof.
    pub fn jti_hash(&self) -> &JtiHash {
        &self.jti_hash
    }

    /// Until when (seconds since the epoch) the `jti` must be remembered: `iat` + window +
    /// leeway, so that a proof dated in the future is refused as long as it would be accepted.
    pub fn remember_until(&self) -> i64 {
        self.remember_until
    }

    /// Whether the proof's nonce is from the previous slot, so the response should carry a
    /// fresh `DPoP-Nonce` ([`Nonces::issue`], RFC 9449 §8.2). Always false without nonces.
    pub fn fresh_nonce_due(&self) -> bool {
        self.fresh_nonce_due
    }
}

/// SHA-256 over a label, the key thumbprint and the `jti` (RFC 9449 §11.1: "store only a hash
/// thereof"): 32 bytes however long the `jti`. The thumbprint keeps one client's `jti`s apart
/// from another's, so no client can use up another's.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct JtiHash([u8; 32]);

impl JtiHash {
    fn new(thumbprint: &str, jti: &str) -> Self {
        // aws-lc's SHA-256, as for `ath`: the same digest, fewer instructions per request.
        let mut h = aws_lc_rs::digest::Context::new(&SHA256);
        h.update(b"mcp-auth DPoP jti v1\0");
        h.update(thumbprint.as_bytes());
        h.update(&[0]);
        h.update(jti.as_bytes());
        let mut out = [0; 32];
        out.copy_from_slice(h.finish().as_ref());
        Self(out)
    }

    /// A hash from its bytes (as a store reads it back).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for JtiHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JtiHash(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}
