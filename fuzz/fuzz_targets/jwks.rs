//! JWK (RFC 7517 §4, RFC 7518 §6) and JWKS (RFC 7517 §5) documents. The first byte picks
//! the shape: a single JWK through `VerifyingKey::from_jwk`, or a whole set through
//! `KeySet::from_jwks`. A loaded set honours its cap and every key answers its accessors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_core::jwk::{KeySet, VerifyingKey};
use mcp_auth_core::jws::Algorithm;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, doc)) = data.split_first() else {
        return;
    };
    let algs: &[Algorithm] = if mode & 2 == 0 {
        &Algorithm::ALL
    } else {
        &Algorithm::DEFAULT_ALLOWED
    };
    if mode & 1 == 0 {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(doc)
            && let Ok(k) = VerifyingKey::from_jwk(&v, algs)
        {
            assert!(
                k.algorithms()
                    .all(|a| algs.contains(&a) && a.family() == k.family())
            );
            let _ = k.kid();
            let _ = k.fingerprint();
            let alg = k.algorithms().next().expect("a key allows some algorithm");
            assert!(k.allows(alg));
            assert!(!k.verify(alg, b"message", b"not a signature"));
        }
    } else if let Ok(loaded) = KeySet::from_jwks(doc, algs, 8) {
        let set = loaded.keys;
        assert!(!set.is_empty() && set.len() <= 8);
        for k in set.iter() {
            assert!(set.contains(k));
            assert!(set.contains_fingerprint(k.fingerprint()));
            if let Some(kid) = k.kid() {
                assert!(set.contains_kid(kid));
                for a in k.algorithms() {
                    assert!(set.find(kid, a).is_some());
                }
            }
        }
    }
});
