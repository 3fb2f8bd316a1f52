//! Stateless server-provided nonces (RFC 9449 §8–9).
//!
//! A nonce is `base64url(slot || HMAC-SHA-256(secret, label || slot)[..16])`, where `slot` is
//! the number of the time slot (`now / slot length`, 8 bytes big-endian) it was issued in.
//! Any instance with the same secrets and slot length checks any other's nonces: no shared
//! store. A nonce is accepted during its own slot and the next, so its life is between one and
//! two slot lengths; once the slot it names is the previous one, a fresh nonce is due (sent in
//! `DPoP-Nonce` on the successful response, RFC 9449 §8.2).
//!
//! Secrets are a list: the first issues, every one verifies. To roll a secret without
//! refusing a nonce another instance issued, take each step on every instance before the
//! next: `[old, new]` (the new one verifies), `[new, old]` (the new one issues), and two slot
//! lengths later `[new]`.

use super::{DpopConfigError, DpopError};
use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use std::time::Duration;

const LABEL: &[u8] = b"mcp-auth DPoP nonce v1\0";
const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 8 + TAG_LEN;
/// The shortest secret taken: the HMAC-SHA-256 key length RFC 2104 §3 recommends.
pub const MIN_SECRET_LEN: usize = 32;

/// How old an accepted nonce is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceAge {
    /// Issued in the current slot.
    Current,
    /// Issued in the previous slot: still accepted, and a fresh nonce is due.
    Previous,
}

/// The secrets and slot length of stateless nonces. Its `Debug` shows neither secret.
#[derive(Clone)]
pub struct Nonces {
    keys: Vec<hmac::Key>,
    slot_secs: u64,
}

impl Nonces {
    /// Nonces over slots of `slot` (whole seconds), issued with the first of `secrets` and
    /// checked with any of them. Each secret must have at least [`MIN_SECRET_LEN`] bytes.
    pub fn new<S: AsRef<[u8]>>(
        secrets: impl IntoIterator<Item = S>,
        slot: Duration,
    ) -> Result<Self, DpopConfigError> {
        let slot_secs = slot.as_secs();
        if slot_secs == 0 {
            return Err(DpopConfigError::NonceSlot);
        }
        let mut keys = Vec::new();
        for (index, s) in secrets.into_iter().enumerate() {
            let s = s.as_ref();
            if s.len() < MIN_SECRET_LEN {
                return Err(DpopConfigError::ShortNonceSecret {
                    index,
                    len: s.len(),
                });
            }
            keys.push(hmac::Key::new(hmac::HMAC_SHA256, s));
        }
        if keys.is_empty() {
            return Err(DpopConfigError::NoNonceSecret);
        }
        Ok(Self { keys, slot_secs })
    }

    /// The slot length.
    pub fn slot_length(&self) -> Duration {
        Duration::from_secs(self.slot_secs)
    }

    /// The number of the slot `now` (seconds since the epoch) falls in.
    pub fn slot(&self, now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / self.slot_secs
    }

    /// A nonce for the slot of `now`, made with the first secret. The same for every call
    /// (and every instance) within one slot.
    pub fn issue(&self, now: i64) -> String {
        let slot = self.slot(now).to_be_bytes();
        let mut out = [0u8; NONCE_LEN];
        out[..8].copy_from_slice(&slot);
        out[8..].copy_from_slice(&tag(&self.keys[0], &slot).as_ref()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Checks a nonce at `now`: made by one of the secrets for the current or the previous
    /// slot. Anything else (another server's, an older or a future slot's, not a nonce at all)
    /// is [`DpopError::NonceInvalid`], answered with `use_dpop_nonce` and a fresh nonce.
    pub fn verify(&self, nonce: &str, now: i64) -> Result<NonceAge, DpopError> {
        let mut raw = [0u8; NONCE_LEN + 3];
        let len = URL_SAFE_NO_PAD
            .decode_slice(nonce.as_bytes(), &mut raw)
            .map_err(|_| DpopError::NonceInvalid)?;
        if len != NONCE_LEN {
            return Err(DpopError::NonceInvalid);
        }
        let (slot, mac) = raw[..NONCE_LEN].split_at(8);
        let issued = u64::from_be_bytes(slot.try_into().map_err(|_| DpopError::NonceInvalid)?);
        let current = self.slot(now);
        let age = if issued == current {
            NonceAge::Current
        } else if issued.checked_add(1) == Some(current) {
            NonceAge::Previous
        } else {
            return Err(DpopError::NonceInvalid);
        };
        let genuine = self.keys.iter().any(|k| {
            constant_time::verify_slices_are_equal(&tag(k, slot).as_ref()[..TAG_LEN], mac).is_ok()
        });
        if genuine {
            Ok(age)
        } else {
            Err(DpopError::NonceInvalid)
        }
    }

    /// Whether a client that sent `nonce` should be given a fresh one: it is not a valid
    /// nonce of the current slot (the slot turned since it was issued, or it is not valid).
    pub fn fresh_due(&self, nonce: &str, now: i64) -> bool {
        self.verify(nonce, now) != Ok(NonceAge::Current)
    }
}

fn tag(key: &hmac::Key, slot: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(LABEL);
    ctx.update(slot);
    ctx.sign()
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("secrets", &format_args!("[{} redacted]", self.keys.len()))
            .field("slot_length", &self.slot_length())
            .finish()
    }
}
