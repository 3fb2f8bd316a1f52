//! `Debug` of the JWS types that borrow the token.
//!
//! The token is a secret: these show what was read from it and its length, never its bytes
//! (docs/security.md, "Secrets"); `tests/jose_hardening.rs` holds them to that.

use super::{CheckedHeader, CompactJws, UnverifiedJws};
use std::fmt;

impl fmt::Debug for CompactJws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactJws")
            .field("len", &self.token.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CheckedHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedHeader")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("len", &self.token.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for UnverifiedJws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedJws")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
