//! State handles sealed to the principal they were issued to.
//!
//! MCP 2026-07-28 drops transport sessions; a server that hands a client a state handle
//! (a cursor, a task id, a resumable stream) SHOULD bind it server-side to the authenticated
//! user, so another user who learns the handle cannot use it. [`HandleSealer`] does this
//! without server state: [`seal`](HandleSealer::seal) appends an HMAC-SHA256 tag over the
//! handle and the principal (issuer, subject, client id), and [`open`](HandleSealer::open)
//! gives the handle back only for the same principal. The handle itself is not encrypted:
//! sealing binds, it does not hide.
//!
//! A tampered, truncated or foreign handle, or one sealed by another key, is refused with one
//! error, [`OpenError`], that says nothing about which check failed; the tag is compared in
//! constant time (`aws_lc_rs::hmac::verify`).
//!
//! The key is derived from a configured secret of at least [`MIN_SECRET_LEN`] bytes; the
//! secret is zeroized once the key is made, and no `Debug` output shows either.
//!
//! # Example
//!
//! ```
//! use mcp_auth_core::sealed::{HandleSealer, Principal};
//!
//! let sealer = HandleSealer::new(vec![7u8; 32]).unwrap();
//! let alice = Principal::new("https://as.example", Some("alice"), Some("app"));
//! let bob = Principal::new("https://as.example", Some("bob"), Some("app"));
//! let sealed = sealer.seal("cursor-42", &alice).unwrap();
//! assert_eq!(sealer.open(&sealed, &alice).unwrap(), "cursor-42");
//! assert!(sealer.open(&sealed, &bob).is_err());
//! ```

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// The shortest secret [`HandleSealer::new`] takes: 32 bytes, HMAC-SHA256's output size
/// (RFC 2104 §3: a key shorter than the output weakens the MAC).
pub const MIN_SECRET_LEN: usize = 32;

/// The longest handle [`HandleSealer::seal`] takes, in bytes.
pub const MAX_HANDLE_LEN: usize = 4096;

/// Domain label of the sealing key, so the same secret used elsewhere gives another key.
const KEY_LABEL: &[u8] = b"mcp-auth sealed state handle v1";

/// The tag: 32 bytes, 43 characters of unpadded base64url.
const TAG_LEN: usize = 32;
const TAG_B64_LEN: usize = 43;

/// Who a handle is sealed to: a verified issuer, subject and client id.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    issuer: &'a str,
    subject: Option<&'a str>,
    client_id: Option<&'a str>,
}

impl<'a> Principal<'a> {
    /// A principal from verified claims: `iss`, the subject and the client id (either may be
    /// absent; absent and empty are different principals).
    pub const fn new(
        issuer: &'a str,
        subject: Option<&'a str>,
        client_id: Option<&'a str>,
    ) -> Self {
        Self {
            issuer,
            subject,
            client_id,
        }
    }

    /// An unambiguous byte encoding of the principal (each part length-prefixed, absent parts
    /// marked), for MACs and keyed hashes over it.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        put(out, Some(self.issuer));
        put(out, self.subject);
        put(out, self.client_id);
    }
}

fn put(out: &mut Vec<u8>, part: Option<&str>) {
    match part {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            // Parts come from a token that fit in memory; a length over u64 cannot happen.
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

impl fmt::Debug for Principal<'_> {
    // Identifiers stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Principal(..)")
    }
}

/// Seals state handles to a principal and opens them for the same principal only.
pub struct HandleSealer {
    key: hmac::Key,
}

impl fmt::Debug for HandleSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandleSealer([redacted])")
    }
}

/// A secret too short to seal with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealing secret has {len} bytes, at least {MIN_SECRET_LEN} are needed")]
pub struct WeakSecret {
    len: usize,
}

/// A handle too long to seal (over [`MAX_HANDLE_LEN`] bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the state handle has {len} bytes, at most {MAX_HANDLE_LEN} may be sealed")]
pub struct HandleTooLong {
    len: usize,
}

/// A sealed handle that does not open for this principal: tampered, truncated, sealed to
/// another principal or by another key. One error for all, on purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid state handle")]
pub struct OpenError(());

impl HandleSealer {
    /// A sealer keyed from `secret` (at least [`MIN_SECRET_LEN`] bytes, e.g. 32 random bytes
    /// from the deployment's secret store). The secret is zeroized when this returns.
    pub fn new(secret: impl Into<Zeroizing<Vec<u8>>>) -> Result<Self, WeakSecret> {
        let secret: Zeroizing<Vec<u8>> = secret.into();
        if secret.len() < MIN_SECRET_LEN {
            return Err(WeakSecret { len: secret.len() });
        }
        // key = HMAC-SHA256(secret, label): the configured secret is never the MAC key itself.
        let mut derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), KEY_LABEL)
            .as_ref()
            .to_vec();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &derived);
        derived.zeroize();
        Ok(Self { key })
    }

    /// `handle` sealed to `principal`: `base64url(handle) "." base64url(tag)`, URL- and
    /// header-safe.
    pub fn seal(&self, handle: &str, principal: &Principal<'_>) -> Result<String, HandleTooLong> {
        if handle.len() > MAX_HANDLE_LEN {
            return Err(HandleTooLong { len: handle.len() });
        }
        let tag = hmac::sign(&self.key, &message(handle.as_bytes(), principal));
        let mut out = URL_SAFE_NO_PAD.encode(handle);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
        Ok(out)
    }

    /// The handle inside `sealed`, if it was sealed by this key to `principal`.
    pub fn open(&self, sealed: &str, principal: &Principal<'_>) -> Result<String, OpenError> {
        let fail = OpenError(());
        // The longest valid input bounds the work done on junk.
        if sealed.len() > MAX_HANDLE_LEN.div_ceil(3) * 4 + 1 + TAG_B64_LEN {
            return Err(fail);
        }
        let (handle_b64, tag_b64) = sealed.rsplit_once('.').ok_or(fail.clone())?;
        if tag_b64.len() != TAG_B64_LEN {
            return Err(fail);
        }
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| fail.clone())?;
        let handle = URL_SAFE_NO_PAD
            .decode(handle_b64)
            .map_err(|_| fail.clone())?;
        if tag.len() != TAG_LEN {
            return Err(fail);
        }
        // Constant-time comparison of the tag.
        hmac::verify(&self.key, &message(&handle, principal), &tag).map_err(|_| fail.clone())?;
        String::from_utf8(handle).map_err(|_| fail)
    }
}

/// What the tag covers: a version, the principal, then the handle.
fn message(handle: &[u8], principal: &Principal<'_>) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + handle.len());
    m.extend_from_slice(b"v1");
    principal.write_canonical(&mut m);
    m.extend_from_slice(&(handle.len() as u64).to_be_bytes());
    m.extend_from_slice(handle);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> HandleSealer {
        HandleSealer::new(vec![byte; 32]).unwrap()
    }

    const ALICE: Principal<'static> = Principal {
        issuer: "https://as.example",
        subject: Some("alice"),
        client_id: Some("app"),
    };

    #[test]
    fn opens_for_the_same_principal() {
        let s = sealer(1);
        for handle in ["", "cursor-42", "é/ü.?&=", &"x".repeat(MAX_HANDLE_LEN)] {
            let sealed = s.seal(handle, &ALICE).unwrap();
            assert_eq!(s.open(&sealed, &ALICE).unwrap(), handle);
            assert!(
                sealed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            );
        }
    }

    #[test]
    fn another_principal_is_refused() {
        let s = sealer(1);
        let sealed = s.seal("cursor-42", &ALICE).unwrap();
        for other in [
            Principal::new("https://as.example", Some("bob"), Some("app")),
            Principal::new("https://as.example", Some("alice"), Some("other-app")),
            Principal::new("https://as.example", Some("alice"), None),
            Principal::new("https://as.example", None, Some("app")),
            Principal::new("https://other.example", Some("alice"), Some("app")),
            // Shifting bytes between parts is another principal (length prefixes).
            Principal::new("https://as.example", Some("alic"), Some("eapp")),
            Principal::new("https://as.example", Some(""), Some("app")),
        ] {
            assert_eq!(s.open(&sealed, &other), Err(OpenError(())), "{other:?}");
        }
    }

    #[test]
    fn tampered_truncated_and_foreign_handles_are_refused_alike() {
        let s = sealer(1);
        let sealed = s.seal("cursor-42", &ALICE).unwrap();
        let (h, t) = sealed.rsplit_once('.').unwrap();
        let other_handle = format!("{}.{t}", URL_SAFE_NO_PAD.encode("cursor-43"));
        let mut flipped_tag = t.to_owned().into_bytes();
        flipped_tag[0] = if flipped_tag[0] == b'A' { b'B' } else { b'A' };
        let flipped_tag = format!("{h}.{}", String::from_utf8(flipped_tag).unwrap());
        let by_other_key = sealer(2).seal("cursor-42", &ALICE).unwrap();
        for bad in [
            other_handle.as_str(),
            flipped_tag.as_str(),
            &sealed[..sealed.len() - 1],
            &sealed[1..],
            h,
            t,
            "",
            ".",
            &format!("{sealed}."),
            &format!("{h}.{t}A"),
            &format!("{h}!.{t}"),
            by_other_key.as_str(),
            &"A".repeat(100_000),
        ] {
            assert_eq!(s.open(bad, &ALICE), Err(OpenError(())), "{bad:.40}");
        }
        assert_eq!(OpenError(()).to_string(), "invalid state handle");
    }

    #[test]
    fn weak_secrets_and_long_handles_are_refused() {
        assert_eq!(
            HandleSealer::new(vec![1u8; 31]).unwrap_err(),
            WeakSecret { len: 31 }
        );
        assert!(
            sealer(1)
                .seal(&"x".repeat(MAX_HANDLE_LEN + 1), &ALICE)
                .is_err()
        );
    }

    #[test]
    fn debug_shows_no_key_or_identifier() {
        assert_eq!(format!("{:?}", sealer(0x41)), "HandleSealer([redacted])");
        assert_eq!(format!("{ALICE:?}"), "Principal(..)");
    }
}
