//! The proof's own key: the `jwk` header as a public key of the algorithm's family
//! (RFC 9449 §4.2–4.3), and its RFC 7638 SHA-256 thumbprint (the `cnf.jkt` of RFC 9449 §6.1).

use super::DpopError;
use crate::jwk::{JwkError, VerifyingKey};
use crate::jws::Algorithm;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2): a proof's key MUST NOT contain a private key (RFC 9449 §4.3).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The verification key of a proof signed with `alg`, from its `jwk` header.
pub(super) fn proof_key(jwk: &Value, alg: Algorithm) -> Result<VerifyingKey, DpopError> {
    let Value::Object(members) = jwk else {
        return Err(DpopError::MissingKey);
    };
    // RFC 9449 §4.3: "the jwk JOSE header parameter does not contain a private key".
    if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        return Err(DpopError::PrivateKey);
    }
    // Only `alg` is allowed: the key must be of its family (RFC 8725 §3.1), and an `alg`
    // member in the JWK must name it.
    VerifyingKey::from_jwk(jwk, &[alg]).map_err(|e| match e {
        JwkError::PrivateMaterial => DpopError::PrivateKey,
        _ => DpopError::InvalidKey,
    })
}

/// The RFC 7638 JWK SHA-256 thumbprint, base64url without padding: SHA-256 over the JSON
/// object of the key type's required members only, in lexicographic order, without
/// whitespace (§3.2, §3.3). `None` for a key type it does not cover (never one that
/// the proof checks accepted).
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut json = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        json.push_str(name);
        json.push_str("\":");
        // serde_json writes a JSON string with the escapes RFC 8259 requires, as RFC 7638
        // §3.3 asks; base64url values need none.
        json.push_str(&serde_json::to_string(value).ok()?);
    }
    json.push('}');
    // aws-lc's SHA-256: fewer instructions than sha2's on every proof (see `ath`).
    Some(URL_SAFE_NO_PAD.encode(digest(&SHA256, json.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    /// RFC 9449 §6.1: the example proof key's thumbprint is the example token's `cnf.jkt`.
    #[test]
    fn thumbprint_of_the_rfc_9449_example_key() {
        let jwk = obj(json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256"
        }));
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        );
        // Members that are not required (kid, alg, use) do not change it.
        let mut more = jwk.clone();
        more.insert("kid".into(), json!("k1"));
        more.insert("alg".into(), json!("ES256"));
        assert_eq!(jwk_thumbprint(&more), jwk_thumbprint(&jwk));
    }

    /// RFC 7638 §3.1: the example RSA key's thumbprint.
    #[test]
    fn thumbprint_of_the_rfc_7638_example_key() {
        let n = concat!(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ",
            "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2",
            "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6",
            "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        );
        let jwk =
            obj(json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}));
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn thumbprint_needs_the_required_members() {
        assert_eq!(
            jwk_thumbprint(&obj(json!({"kty": "EC", "crv": "P-256", "x": "AA"}))),
            None
        );
        assert_eq!(jwk_thumbprint(&obj(json!({"kty": "oct", "k": "AA"}))), None);
        assert_eq!(
            jwk_thumbprint(&obj(json!({"crv": "Ed25519", "x": "AA"}))),
            None
        );
        assert_eq!(
            jwk_thumbprint(&obj(json!({"kty": "OKP", "crv": "Ed25519", "x": 5}))),
            None
        );
    }
}
