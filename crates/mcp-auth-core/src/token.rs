//! The raw access token, kept away from logs.

use std::fmt;

/// SHA-256 of `bytes` (aws-lc-rs): the key of caches of verified tokens.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A raw access token as received in the `Authorization` header.
///
/// It deliberately implements neither `Clone`, `Debug` nor `Display`, so it cannot reach a log
/// line, an error body or a `Debug` print by accident (MCP security considerations, "Token
/// Theft"). Use [`BearerToken::hash`] to refer to a token in logs.
#[allow(missing_debug_implementations)] // no Debug on purpose: see the type docs
pub struct BearerToken(String);

impl BearerToken {
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

    /// A short, non-reversible identifier for logs and caches: the first 8 bytes of the
    /// SHA-256 of the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.as_bytes())
    }
}

/// The first 8 bytes of the SHA-256 of a token, hex-encoded by `Display`. Safe to log.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 8]);

impl TokenHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_digest(&sha256(bytes))
    }

    /// The short form of a full SHA-256 digest.
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        Self(out)
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
        let t = BearerToken::new("secret-token-value");
        let h = t.hash().to_string();
        assert_eq!(h.len(), 16);
        assert_eq!(h, BearerToken::new("secret-token-value").hash().to_string());
        assert_ne!(h, BearerToken::new("secret-token-valuf").hash().to_string());
        assert!(!h.contains("secret"));
    }
}
