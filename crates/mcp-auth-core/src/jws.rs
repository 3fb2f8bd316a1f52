//! Compact JWS parsing and signature verification (RFC 7515), with the RFC 8725 rules:
//! an explicit algorithm allow-list that can never hold `none` or an HMAC algorithm (§3.1),
//! explicit typing (§3.11), and every check that needs no key done before any I/O or crypto.

use crate::jwk::KeySet;
use crate::{AuthError, jwk::VerifyingKey};
use std::sync::Arc;

mod alg;
mod compact;
mod debug;
mod header;

pub use alg::{Algorithm, HeaderPolicy, KeyFamily, TypPolicy};
pub use compact::{CheckedHeader, CompactJws, UnverifiedJws};
pub(crate) use compact::{PendingSignature, all_bytes};

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
