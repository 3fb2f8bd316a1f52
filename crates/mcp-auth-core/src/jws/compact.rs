//! The compact serialization (RFC 7515 §7.1): split, header checks, payload decoding and the
//! one signature check, each step refusing what it can before the next costs more.

use super::alg::TypSeen;
use super::header::{RawHeader, plain_header};
use super::{Algorithm, HeaderPolicy, select_key};
use crate::AuthError;
use crate::jwk::{KeySet, VerifyingKey};
use base64_simd::AsOut;
use std::mem::MaybeUninit;
use std::sync::Arc;

/// A token with the shape of a compact JWS (RFC 7515 §7.1): within the length cap, exactly
/// three segments, the signature valid base64url (alphabet, length, canonical trailing bits).
/// Nothing is decoded yet.
///
/// The first and cheapest step (two `memchr`s and one vectorized check of the signature):
/// what does not pass it never reaches a cache, a key source or crypto.
#[derive(Clone, Copy)]
pub struct CompactJws<'t> {
    pub(super) token: &'t str,
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

    /// The payload's `iss`, **unverified**: only to route a token to the one authorization
    /// server that may judge it (an introspection endpoint), never to trust it or log it.
    /// `None` when the payload is not base64url JSON with a string `iss`.
    pub fn unverified_issuer(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Iss {
            iss: Option<String>,
        }
        let payload = B64.decode_to_vec(self.payload_b64).ok()?;
        serde_json::from_slice::<Iss>(&payload).ok()?.iss
    }

    /// The signature segment, still base64url.
    pub fn signature_b64(&self) -> &'t str {
        self.signature_b64
    }

    /// The header, payload and signature segments, still base64url (for the DPoP proof
    /// checks, which read a header `check_header` refuses: one with a `jwk`).
    pub(crate) fn segments(&self) -> [&'t str; 3] {
        [self.header_b64, self.payload_b64, self.signature_b64]
    }

    /// Decodes the header and applies `policy` to it. See [`UnverifiedJws::parse`].
    pub fn check_header(self, policy: &HeaderPolicy) -> Result<CheckedHeader<'t>, AuthError> {
        let typ = policy.typ;
        self.check_header_typed(
            policy,
            |_, seen| typ.accepts(seen),
            "token type is not at+jwt",
        )
    }

    /// [`check_header`](Self::check_header) with another `typ` rule than the policy's (a JWS
    /// that is not an access token, such as an RFC 9701 introspection answer): `typ_ok`
    /// judges the header's `typ` (as written, and as [`TypSeen`] classes it), `refusal` is
    /// the description when it says no.
    pub(crate) fn check_header_typed(
        self,
        policy: &HeaderPolicy,
        typ_ok: impl Fn(Option<&str>, TypSeen) -> bool,
        refusal: &'static str,
    ) -> Result<CheckedHeader<'t>, AuthError> {
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
        let typ = TypSeen::of(header.typ.as_deref());
        if !typ_ok(header.typ.as_deref(), typ) {
            return Err(AuthError::invalid_token(refusal));
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
            typ,
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
    pub(super) alg: Algorithm,
    typ: TypSeen,
    pub(super) kid: Option<String>,
    pub(super) token: &'t str,
    header_b64: &'t str,
    payload_b64: &'t str,
    signature_b64: &'t str,
}

/// A JWS whose header passed the policy checks but whose signature is not yet verified.
pub struct UnverifiedJws<'t> {
    pub(super) alg: Algorithm,
    typ: TypSeen,
    pub(super) kid: Option<String>,
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
pub(super) const MAX_HEADER_LEN: usize = 2048;

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
            typ: self.typ,
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
    /// [`TypPolicy`](super::TypPolicy); a `crit` member with any value, `null` and `[]`
    /// included (RFC 7515 §4.1.11: we understand no extension, so we must reject); a `b64`
    /// member with any value (RFC 7797 §3 unencoded payloads); a duplicate member name at any
    /// depth or nesting deeper than [`MAX_DEPTH`](crate::claims::MAX_DEPTH); oversize tokens.
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

    /// Applies a second header policy's `alg` allow-list and `typ` rule (the header passed a
    /// first one): with several issuers, the header is first checked against the union of
    /// their rules, and then, once the payload names the issuer, against that issuer's own.
    pub fn check_policy(&self, policy: &HeaderPolicy) -> Result<(), AuthError> {
        if !policy.algorithms.contains(&self.alg) {
            return Err(AuthError::invalid_token("token algorithm not allowed"));
        }
        if !policy.typ.accepts(self.typ) {
            return Err(AuthError::invalid_token("token type is not at+jwt"));
        }
        Ok(())
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
