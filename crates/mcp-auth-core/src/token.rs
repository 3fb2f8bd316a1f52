//! The raw access token, kept away from logs.

use std::fmt;
use std::hash::Hasher;

/// A raw access token as received in the `Authorization` header, under either scheme
/// (`Bearer`, RFC 6750 §2.1, or `DPoP`, RFC 9449 §7.1: hence not `BearerToken`).
///
/// It deliberately implements neither `Clone`, `Debug` nor `Display`, so it cannot reach a log
/// line, an error body or a `Debug` print by accident (MCP security considerations, "Token
/// Theft"). Use [`AccessToken::hash`] to refer to a token in logs.
#[allow(missing_debug_implementations)] // no Debug on purpose: see the type docs
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token string. No syntax check is done here; see
    /// [`credentials::extract`](crate::credentials::extract).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret token text. Treat the result as a secret.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A short identifier for logs: a 64-bit hash of the token, see [`TokenHash`].
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.as_bytes())
    }
}

/// A 64-bit SipHash (fixed keys, so stable across processes) of a token, hex-encoded by
/// `Display`. Safe to log: 64 bits say nothing usable about a token of hundreds of bytes, and
/// it is cheap enough for every verified token (a SHA-256 of an 800-byte token costs several
/// microseconds on CPUs without SHA extensions).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 8]);

impl TokenHash {
    /// How many trailing bytes of a JWS signature segment are hashed.
    pub const SIGNATURE_BYTES: usize = 32;

    /// The hash of a token: of the last [`Self::SIGNATURE_BYTES`] bytes of its signature
    /// segment (what follows the last `.`), 192 bits of a signature, which tell tokens apart as
    /// well as the whole token would; of the whole input if it has no `.`. Hashing the whole
    /// signature cost ~0.7 µs a token under load, for nothing a log needs.
    pub fn of(bytes: &[u8]) -> Self {
        match bytes.iter().rposition(|b| *b == b'.') {
            Some(i) => Self::of_signature(bytes.get(i + 1..).unwrap_or_default()),
            None => Self::sip(bytes),
        }
    }

    /// The hash of a JWS whose signature segment is `signature`: the same value as
    /// [`of`](Self::of) on the whole token, without searching for the last `.`.
    pub fn of_signature(signature: &[u8]) -> Self {
        let from = signature.len().saturating_sub(Self::SIGNATURE_BYTES);
        Self::sip(signature.get(from..).unwrap_or_default())
    }

    fn sip(bytes: &[u8]) -> Self {
        #[allow(deprecated)] // SipHasher: the fixed-key SipHash-2-4, stable across processes.
        let mut h =
            std::hash::SipHasher::new_with_keys(0x6d63_702d_6175_7468, 0x746f_6b65_6e2d_6964);
        h.write(bytes);
        Self(h.finish().to_be_bytes())
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_short_stable_and_not_the_token() {
        let t = AccessToken::new("secret-token-value");
        let h = t.hash().to_string();
        assert_eq!(h.len(), 16);
        assert_eq!(h, AccessToken::new("secret-token-value").hash().to_string());
        assert_ne!(h, AccessToken::new("secret-token-valuf").hash().to_string());
        let a = AccessToken::new("h.p.sig1").hash();
        assert_eq!(
            a,
            AccessToken::new("h2.p2.sig1").hash(),
            "the signature identifies a JWS"
        );
        assert_ne!(a, AccessToken::new("h.p.sig2").hash());
        // Only the signature's tail: 32 base64url characters are 192 bits of signature.
        let sig = "A".repeat(300) + &"b".repeat(32);
        assert_eq!(
            AccessToken::new(format!("h.p.x{sig}")).hash(),
            AccessToken::new(format!("h.p.y{sig}")).hash()
        );
        assert_ne!(
            AccessToken::new(format!("h.p.{sig}c")).hash(),
            AccessToken::new(format!("h.p.{sig}d")).hash()
        );
        assert_eq!(
            AccessToken::new(format!("h.p.{sig}")).hash(),
            TokenHash::of_signature(sig.as_bytes())
        );
        assert!(!h.contains("secret"));
    }
}
