//! Compact JWS parsing and signature verification (RFC 7515), with the RFC 8725 rules:
//! an explicit algorithm allow-list that can never hold `none` or an HMAC algorithm (§3.1),
//! explicit typing (§3.11), and every check that needs no key done before any I/O or crypto.

use crate::jwk::KeySet;
use crate::{AuthError, jwk::VerifyingKey};
use base64_simd::AsOut;
use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;

mod debug;
mod header;

/// An asymmetric JWS algorithm (RFC 7518 §3, RFC 8037 §3.1).
///
/// There is no variant for `none` or HMAC: a resource server that checks tokens against an
/// issuer's public keys must never accept them (RFC 8725 §3.1–3.2), so no configuration can.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

/// The key family an algorithm needs.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC` on P-256.
    EcP256,
    /// `kty: EC` on P-384.
    EcP384,
    /// `kty: OKP` on Ed25519.
    Ed25519,
}

impl Algorithm {
    /// Every algorithm, in order.
    pub const ALL: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The default allow-list: RS256 and ES256, the two algorithms MCP authorization servers
    /// commonly use.
    pub const DEFAULT_ALLOWED: [Self; 2] = [Self::RS256, Self::ES256];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name. `none` and `HS*` give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The key family this algorithm must be used with (RFC 8725 §3.1: each key with one
    /// algorithm family).
    pub fn family(self) -> KeyFamily {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyFamily::Rsa
            }
            Self::ES256 => KeyFamily::EcP256,
            Self::ES384 => KeyFamily::EcP384,
            Self::EdDSA => KeyFamily::Ed25519,
        }
    }

    pub(crate) fn verification(self) -> &'static dyn aws_lc_rs::signature::VerificationAlgorithm {
        use aws_lc_rs::signature as s;
        match self {
            Self::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &s::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &s::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &s::RSA_PSS_2048_8192_SHA512,
            Self::ES256 => &s::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &s::ECDSA_P384_SHA384_FIXED,
            Self::EdDSA => &s::ED25519,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the JOSE `typ` header is checked (RFC 9068 §4, RFC 8725 §3.11).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypPolicy {
    /// `typ` must be `at+jwt` or `application/at+jwt` (case-insensitive, RFC 9068 §4: "MUST
    /// verify that the typ header value is at+jwt or application/at+jwt and reject tokens
    /// carrying any other type value"). The default.
    #[default]
    Strict,
    /// Also accept `JWT` or no `typ`, for providers that do not emit RFC 9068 tokens. The
    /// audience check still keeps ID tokens issued to other clients out, but an ID token
    /// whose `aud` happens to equal the resource URI would pass: use only when the provider
    /// needs it.
    AllowJwt,
}

impl TypPolicy {
    fn accepts(self, typ: Option<&str>) -> bool {
        let is_at = |t: &str| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        };
        match (self, typ) {
            (_, Some(t)) if is_at(t) => true,
            (Self::AllowJwt, None) => true,
            (Self::AllowJwt, Some(t)) => t.eq_ignore_ascii_case("jwt"),
            (Self::Strict, _) => false,
        }
    }
}

/// The JOSE header checks made before any key lookup.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    /// Allowed algorithms.
    pub algorithms: Vec<Algorithm>,
    /// `typ` rule.
    pub typ: TypPolicy,
    /// Maximum length of the whole token in bytes.
    pub max_token_len: usize,
}

impl Default for HeaderPolicy {
    fn default() -> Self {
        Self {
            algorithms: Algorithm::DEFAULT_ALLOWED.to_vec(),
            typ: TypPolicy::Strict,
            max_token_len: crate::credentials::DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

/// The JOSE header members read. Every member name at most once, at any depth, and at most
/// [`MAX_DEPTH`](crate::claims::MAX_DEPTH) levels of nesting (the rules of the claims set,
/// checked in the same read: `header.rs`).
#[derive(Default)]
struct RawHeader<'a> {
    alg: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    /// `crit` is present, whatever its value (`null`, `false` and `[]` too).
    crit: bool,
    /// `b64` is present, whatever its value.
    b64: bool,
    /// An embedded `jwk` other than `null` is present: an access token never carries its own
    /// key (trusting one is the CVE-2018-0114 attack). Refused.
    jwk: bool,
}

/// The JOSE header as most issuers write it, read without serde: `{"alg":"..","kid":"..",
/// "typ":".."}`, those members only, in any order, each at most once, no whitespace, values
/// without escapes or control characters. `None` for anything else (other members, `crit`,
/// escapes, whitespace, duplicates, non-UTF-8), which serde_json then parses, so a header
/// means the same whichever read it: this only saves serde's generic machinery (two thirds
/// of the cost of refusing a forged `kid`).
fn plain_header(b: &[u8]) -> Option<RawHeader<'_>> {
    let mut h = RawHeader::default();
    let mut rest = b.strip_prefix(b"{\"")?;
    loop {
        let (key, tail) = rest.split_at(rest.iter().position(|&c| c == b'"')?);
        let tail = tail.strip_prefix(b"\":\"")?;
        let end = tail
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if tail[end] != b'"' {
            return None;
        }
        let value = std::str::from_utf8(&tail[..end]).ok()?;
        let slot = match key {
            b"alg" => &mut h.alg,
            b"kid" => &mut h.kid,
            b"typ" => &mut h.typ,
            _ => return None,
        };
        if slot.replace(Cow::Borrowed(value)).is_some() {
            return None;
        }
        match &tail[end + 1..] {
            b"}" => return Some(h),
            [b',', b'"', more @ ..] => rest = more,
            _ => return None,
        }
    }
}

/// A token with the shape of a compact JWS (RFC 7515 §7.1): within the length cap, exactly
/// three segments, the signature valid base64url (alphabet, length, canonical trailing bits).
/// Nothing is decoded yet.
///
/// The first and cheapest step (two `memchr`s and one vectorized check of the signature):
/// what does not pass it never reaches a cache, a key source or crypto.
#[derive(Clone, Copy)]
pub struct CompactJws<'t> {
    token: &'t str,
    header_b64: &'t str,
    payload_b64: &'t str,
    signature_b64: &'t str,
}

impl<'t> CompactJws<'t> {
    /// Splits `token`, refusing (as `invalid_token`) one longer than `max_len`, without
    /// exactly three segments, or with a signature outside the base64url alphabet. An empty
    /// signature passes here; [`check_header`](Self::check_header) names it precisely.
    pub fn split(token: &'t str, max_len: usize) -> Result<Self, AuthError> {
        if token.len() > max_len {
            return Err(AuthError::invalid_token("token too large"));
        }
        let not_jws = || AuthError::invalid_token("token is not a compact JWS");
        // memchr finds the dots with the widest vector unit the CPU has (runtime dispatch).
        let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
        let (Some(d1), Some(d2)) = (dots.next(), dots.next()) else {
            return Err(not_jws());
        };
        let (h, p, s) = (&token[..d1], &token[d1 + 1..d2], &token[d2 + 1..]);
        // The decoder's own check (vectorized, runtime dispatch): alphabet, length and
        // canonical trailing bits, so what passes here also decodes at `verify`.
        if B64.check(s.as_bytes()).is_err() {
            return Err(if dots.next().is_some() {
                not_jws()
            } else {
                AuthError::invalid_token("token signature is not base64url")
            });
        }
        Ok(Self {
            token,
            header_b64: h,
            payload_b64: p,
            signature_b64: s,
        })
    }

    /// The whole token.
    pub fn token(&self) -> &'t str {
        self.token
    }

    /// The signature segment, still base64url.
    pub fn signature_b64(&self) -> &'t str {
        self.signature_b64
    }

    /// Decodes the header and applies `policy` to it. See [`UnverifiedJws::parse`].
    pub fn check_header(self, policy: &HeaderPolicy) -> Result<CheckedHeader<'t>, AuthError> {
        let (h, s) = (self.header_b64, self.signature_b64);
        if h.len() > MAX_HEADER_LEN * 4 / 3 + 4 {
            return Err(AuthError::invalid_token("token header too large"));
        }
        // Decoded on the stack: a forged token costs no allocation here, and the buffer is
        // not zeroed first (2 KiB a token): only what the decoder wrote is read back.
        let mut buf = [MaybeUninit::<u8>::uninit(); MAX_HEADER_LEN];
        let not_base64url = || AuthError::invalid_token("token header is not base64url");
        let len = B64
            .decoded_length(h.as_bytes())
            .map_err(|_| not_base64url())?;
        let out = buf
            .get_mut(..len)
            .ok_or_else(|| AuthError::invalid_token("token header too large"))?;
        let header_bytes: &[u8] = B64
            .decode(h.as_bytes(), out.as_out())
            .map_err(|_| not_base64url())?;
        // A JOSE header is a JSON object (RFC 7515 §4): `RawHeader` reads only a map.
        let header: RawHeader<'_> = match plain_header(header_bytes) {
            Some(h) => h,
            None => serde_json::from_slice(header_bytes).map_err(|e| {
                AuthError::invalid_token(match crate::json::checked_error(&e) {
                    Some(crate::json::DUPLICATE) => "token header has a duplicate member name",
                    Some(_) => "token header is nested too deeply",
                    None => "token header is not a JSON object",
                })
            })?,
        };
        let alg = header
            .alg
            .as_deref()
            .and_then(Algorithm::from_name)
            .filter(|a| policy.algorithms.contains(a))
            .ok_or_else(|| AuthError::invalid_token("token algorithm not allowed"))?;
        if !policy.typ.accepts(header.typ.as_deref()) {
            return Err(AuthError::invalid_token("token type is not at+jwt"));
        }
        // RFC 7515 §4.1.11: we understand no extension, so any `crit` (even `null`, `[]`)
        // is refused; so is `b64` (RFC 7797 §3), never used in access tokens.
        if header.crit || header.b64 {
            return Err(AuthError::invalid_token(
                "token has critical header parameters",
            ));
        }
        if header.jwk {
            return Err(AuthError::invalid_token("token header embeds a key"));
        }
        if s.is_empty() {
            return Err(AuthError::invalid_token("token is not signed"));
        }
        Ok(CheckedHeader {
            alg,
            kid: header.kid.map(|k| k.into_owned()),
            token: self.token,
            header_b64: h,
            payload_b64: self.payload_b64,
            signature_b64: s,
        })
    }
}

/// A compact JWS whose header passed the policy checks; payload and signature not decoded.
///
/// This is the cheap first step: junk is refused here, before any cache lookup, key lookup
/// or crypto.
pub struct CheckedHeader<'t> {
    alg: Algorithm,
    kid: Option<String>,
    token: &'t str,
    header_b64: &'t str,
    payload_b64: &'t str,
    signature_b64: &'t str,
}

/// A JWS whose header passed the policy checks but whose signature is not yet verified.
pub struct UnverifiedJws<'t> {
    alg: Algorithm,
    kid: Option<String>,
    signing_input: &'t str,
    payload: Vec<u8>,
    /// Decoded only when a key was found: a forged `kid` or expired token never pays for it.
    signature_b64: &'t str,
}

/// The longest signature any allowed algorithm produces: RSA with an 8,192-bit modulus (the
/// largest aws-lc-rs verifies). Longer signature segments are refused.
const MAX_SIGNATURE_LEN: usize = 1024;

fn decode_signature<'b>(
    b64: &str,
    buf: &'b mut [MaybeUninit<u8>; MAX_SIGNATURE_LEN],
) -> Result<&'b [u8], AuthError> {
    let not_base64url = || AuthError::invalid_token("token signature is not base64url");
    let len = B64
        .decoded_length(b64.as_bytes())
        .map_err(|_| not_base64url())?;
    let Some(out) = buf.get_mut(..len) else {
        return Err(AuthError::invalid_token("token signature is too long"));
    };
    B64.decode(b64.as_bytes(), out.as_out())
        .map(|decoded| &*decoded)
        .map_err(|_| not_base64url())
}

/// The decoder of every JWS segment: RFC 4648 §5 base64url without padding, strict (no
/// padding, no whitespace, canonical trailing bits), vectorized. On an 800-byte RS256 token
/// it decodes the three segments in a fifth of the time the `base64` crate takes, which is
/// ~0.6 µs of every cold validation (`cargo bench -p mcp-auth --bench ratio`).
const B64: base64_simd::Base64 = base64_simd::URL_SAFE_NO_PAD;

/// `pred` over every byte of `s`, a 16-byte block at a time without early exit inside a
/// block, so the compiler can turn a branch-free `pred` into SIMD compares.
#[inline(always)]
pub(crate) fn all_bytes(s: &[u8], pred: impl Fn(u8) -> bool) -> bool {
    let mut blocks = s.chunks_exact(16);
    for block in &mut blocks {
        if !block.iter().fold(true, |acc, &b| acc & pred(b)) {
            return false;
        }
    }
    blocks.remainder().iter().all(|&b| pred(b))
}

/// Maximum decoded size of the JOSE header we are willing to parse.
const MAX_HEADER_LEN: usize = 2048;

impl<'t> CheckedHeader<'t> {
    /// Splits a compact JWS and applies `policy` to its header. See [`UnverifiedJws::parse`].
    pub fn parse(token: &'t str, policy: &HeaderPolicy) -> Result<Self, AuthError> {
        CompactJws::split(token, policy.max_token_len)?.check_header(policy)
    }

    /// The header's algorithm (already checked against the allow-list).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key [`UnverifiedJws::verify`] would use, by [`select_key`]: lets a caller refuse
    /// a token whose key is not in `keys` before its payload is decoded.
    pub fn select_key<'k>(&self, keys: &'k KeySet) -> Result<&'k Arc<VerifyingKey>, AuthError> {
        select_key(keys, self.kid.as_deref(), self.alg)
    }

    /// Decodes the payload (the signature is decoded by [`UnverifiedJws::verify`]).
    pub fn decode(self) -> Result<UnverifiedJws<'t>, AuthError> {
        let payload = B64
            .decode_to_vec(self.payload_b64)
            .map_err(|_| AuthError::invalid_token("token payload is not base64url"))?;
        // The signing input `header.payload` is the token's prefix (RFC 7515 §5.2).
        let len = self.header_b64.len() + 1 + self.payload_b64.len();
        let signing_input = self.token.get(..len).unwrap_or_default();
        Ok(UnverifiedJws {
            alg: self.alg,
            kid: self.kid,
            signing_input,
            payload,
            signature_b64: self.signature_b64,
        })
    }
}

impl<'t> UnverifiedJws<'t> {
    /// Splits and decodes a compact JWS and applies `policy` to its header, before any I/O.
    ///
    /// Refuses (as `invalid_token`): not three base64url segments; header not JSON; `alg`
    /// missing, `none`, HMAC or not in the allow-list (RFC 8725 §3.1); `typ` refused by
    /// [`TypPolicy`]; a `crit` member with any value, `null` and `[]` included (RFC 7515
    /// §4.1.11: we understand no extension, so we must reject); a `b64` member with any value
    /// (RFC 7797 §3 unencoded payloads); a duplicate member name at any depth or nesting
    /// deeper than [`MAX_DEPTH`](crate::claims::MAX_DEPTH); oversize tokens.
    /// Header parameters that name keys by URL or embed them (`jku`, `x5u`, `jwk`, `x5c`) are
    /// ignored: keys only ever come from the configured key source.
    pub fn parse(token: &'t str, policy: &HeaderPolicy) -> Result<Self, AuthError> {
        CheckedHeader::parse(token, policy)?.decode()
    }

    /// The header's algorithm (already checked against the allow-list).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The decoded payload. **Unverified**: only for choosing the issuer's key set and for
    /// cheap rejections before the signature check.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Takes the decoded payload out (leaving it empty), so a parser can keep it without a
    /// copy; the signature check does not need it (the signing input is the token's prefix).
    pub fn take_unverified_payload(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.payload)
    }

    /// Verifies the signature with the key of `keys` that [`select_key`] picks: at most one
    /// signature check, whatever the token.
    pub fn verify(&self, keys: &KeySet) -> Result<Arc<VerifyingKey>, AuthError> {
        verify_signature(
            keys,
            self.kid.as_deref(),
            self.alg,
            self.signing_input,
            self.signature_b64,
        )
    }

    /// What [`verify`](Self::verify) needs later, without borrowing the token: for a check
    /// that waits for keys (the validation state machine keeps its own copy of the token).
    pub(crate) fn detach(&self) -> PendingSignature {
        PendingSignature {
            alg: self.alg,
            kid: self.kid.clone(),
            input_len: self.signing_input.len(),
            signature_len: self.signature_b64.len(),
        }
    }
}

/// An [`UnverifiedJws`] taken apart from its token: its algorithm, `kid` and where the
/// signing input and the signature lie in the token.
#[derive(Debug, Clone)]
pub(crate) struct PendingSignature {
    alg: Algorithm,
    kid: Option<String>,
    input_len: usize,
    signature_len: usize,
}

impl PendingSignature {
    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// [`UnverifiedJws::verify`] on `token`, the very token this was detached from.
    pub(crate) fn verify(
        &self,
        token: &str,
        keys: &KeySet,
    ) -> Result<Arc<VerifyingKey>, AuthError> {
        let signing_input = token.get(..self.input_len).unwrap_or_default();
        let signature = token
            .get(token.len().saturating_sub(self.signature_len)..)
            .unwrap_or_default();
        verify_signature(
            keys,
            self.kid.as_deref(),
            self.alg,
            signing_input,
            signature,
        )
    }
}

/// The one signature check: the key [`select_key`] picks, the signature decoded on the stack.
fn verify_signature(
    keys: &KeySet,
    kid: Option<&str>,
    alg: Algorithm,
    signing_input: &str,
    signature_b64: &str,
) -> Result<Arc<VerifyingKey>, AuthError> {
    let key = select_key(keys, kid, alg)?;
    // Decoded on the stack (not zeroed first): the largest signature allowed (RSA 8192)
    // is 1,024 bytes.
    let mut buf = [MaybeUninit::<u8>::uninit(); MAX_SIGNATURE_LEN];
    let sig = decode_signature(signature_b64, &mut buf)?;
    if key.verify(alg, signing_input.as_bytes(), sig) {
        Ok(key.clone())
    } else {
        Err(AuthError::invalid_token("invalid token signature"))
    }
}

/// The one key of `keys` that may verify a token with this `kid` and `alg`, chosen before
/// any signature check, so no token (forged ones included) costs more than one check.
///
/// - With a `kid`: the key with that `kid` that allows `alg` (RFC 7517 §4.5 lets keys of
///   different types share a `kid`, so the `kid` alone does not pick the key; RFC 8725 §3.1:
///   an RSA key never verifies an EC algorithm, a JWK with `alg` only that one). Refused as
///   `invalid_token` when no key has the `kid` ("unknown signing key") or none of those allows
///   `alg` ("token algorithm does not match its key"). Should two keys with the same `kid`
///   both allow `alg`, against RFC 7517 §4.5's advice, the first one in the set is used.
/// - Without a `kid`: allowed only when exactly one key of the set allows `alg` (the token's
///   algorithm family, and the JWK's `alg` when it names one), which is then used. With
///   several such keys the token is refused ("token has no kid and several keys match its
///   algorithm"), with none "no signing key for the token algorithm"; trying each key would
///   cost a forged token one signature check per key.
pub fn select_key<'k>(
    keys: &'k KeySet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'k Arc<VerifyingKey>, AuthError> {
    if let Some(kid) = kid {
        return keys.find(kid, alg).ok_or_else(|| {
            AuthError::invalid_token(if keys.contains_kid(kid) {
                "token algorithm does not match its key"
            } else {
                "unknown signing key"
            })
        });
    }
    let mut candidates = keys.iter().filter(|k| k.allows(alg));
    match (candidates.next(), candidates.next()) {
        (Some(key), None) => Ok(key),
        (Some(_), Some(_)) => Err(AuthError::invalid_token(
            "token has no kid and several keys match its algorithm",
        )),
        (None, _) => Err(AuthError::invalid_token(
            "no signing key for the token algorithm",
        )),
    }
}
/// The fuzz targets' view of the private header readers (see `fuzz/`); feature `fuzzing` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;

#[cfg(test)]
mod tests;
