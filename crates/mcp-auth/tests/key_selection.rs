//! Which key the validator verifies a token with (issue 13, defects 3 and 4), on both paths
//! of its state machine: decided in the first step from memory (`KeySource::current`) and
//! resumed after awaiting the key source.

mod common;
use common::AsyncOnly;

use mcp_auth::McpAuthLayer;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::validation::Step;
use mcp_auth_dev::TestAuthority;
use serde_json::{Value, json};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";

/// The authority's JWKS with `rename` applied to the kids.
fn key_source(a: &TestAuthority, rename: impl Fn(&str) -> String) -> StaticKeySource {
    let mut jwks = a.jwks();
    for k in jwks["keys"].as_array_mut().unwrap() {
        let kid = rename(k["kid"].as_str().unwrap());
        k["kid"] = Value::String(kid);
    }
    let doc = serde_json::to_vec(&jwks).unwrap();
    let set = KeySet::from_jwks(&doc, &Algorithm::ALL, 32).unwrap().keys;
    StaticKeySource::new().with_issuer(ISS, set)
}

/// Both validators (from memory, awaiting), token cache off: every token is verified.
fn layers(keys: impl Fn() -> StaticKeySource) -> [McpAuthLayer; 2] {
    let builder = || {
        McpAuthLayer::builder(RES)
            .issuer(ISS)
            .algorithms(Algorithm::ALL)
            .token_cache(0)
    };
    [
        builder().key_source(keys()).build().unwrap(),
        builder().key_source(AsyncOnly(keys())).build().unwrap(),
    ]
}

/// The outcome of `token` on both paths, which must agree: `Ok(())` or the description.
async fn validate(layers: &[McpAuthLayer; 2], token: &str) -> Result<(), &'static str> {
    let now = match layers[0].jwt_validator().unwrap().step(token) {
        Step::Done(done) => Some(done),
        _ => None,
    };
    assert!(now.is_some(), "keys are in memory");
    let later = layers[1]
        .jwt_validator()
        .unwrap()
        .validate_token(token)
        .await;
    let (now, later) = (
        now.unwrap().map(drop).map_err(|e| e.description()),
        later.map(drop).map_err(|e| e.description()),
    );
    assert_eq!(now, later, "both paths agree");
    now
}

/// Defect 3: during a rotation from RSA to EC the issuer publishes both keys under one `kid`
/// (RFC 7517 §4.5 allows it). Each token is verified with the key of its algorithm, whichever
/// comes first in the set; before, the first key with the `kid` was taken and an ES256 token
/// was refused as not matching the RSA key.
#[tokio::test]
async fn a_kid_shared_by_an_rsa_and_an_ec_key() {
    let a = TestAuthority::new(ISS);
    let shared = |kid: &str| {
        if kid.starts_with("rs256") || kid.starts_with("es256") {
            "shared".to_owned()
        } else {
            kid.to_owned()
        }
    };
    let layers = layers(|| key_source(&a, shared));
    let token = |alg: &str| a.token().aud(RES).alg(alg).kid("shared").sign();
    assert_eq!(validate(&layers, &token("RS256")).await, Ok(()));
    assert_eq!(validate(&layers, &token("ES256")).await, Ok(()));
    // The shared kid with an algorithm neither key allows: refused.
    assert_eq!(
        validate(&layers, &token("PS256")).await,
        Err("token algorithm does not match its key")
    );
    // A bad signature under the shared kid is checked against the EC key only.
    let mut forged = token("ES256");
    forged.replace_range(forged.len() - 8.., "AAAAAAAA");
    assert_eq!(
        validate(&layers, &forged).await,
        Err("invalid token signature")
    );
}

/// Defect 4: no token may cost more than one signature check. A kid-less token is verified
/// only when exactly one key of the issuer can verify its algorithm: the authority's RSA keys
/// are bound to RS256 and PS256, so a kid-less RS256 token has one candidate and is accepted;
/// after a rotation two RS256 keys are published and the same kind of token is refused
/// before any signature check (before, each key was tried in turn and it was accepted).
#[tokio::test]
async fn a_kid_less_token_is_refused_when_several_keys_could_verify_it() {
    let a = TestAuthority::new(ISS);
    let kid_less = |alg: &str| a.token().aud(RES).alg(alg).without_header("kid").sign();
    let layers1 = layers(|| key_source(&a, str::to_owned));
    assert_eq!(validate(&layers1, &kid_less("RS256")).await, Ok(()));
    assert_eq!(validate(&layers1, &kid_less("ES256")).await, Ok(()));

    a.rotate("RS256");
    let layers2 = layers(|| key_source(&a, str::to_owned));
    let several = Err("token has no kid and several keys match its algorithm");
    assert_eq!(validate(&layers2, &kid_less("RS256")).await, several);
    // The same token with the new key's kid is accepted; other families are unaffected.
    let with_kid = a.token().aud(RES).alg("RS256").sign();
    assert_eq!(validate(&layers2, &with_kid).await, Ok(()));
    assert_eq!(validate(&layers2, &kid_less("ES256")).await, Ok(()));
    // A forged kid-less token gets the same answer, without a signature check.
    let mut forged = kid_less("RS256");
    forged.replace_range(forged.len() - 8.., "AAAAAAAA");
    assert_eq!(validate(&layers2, &forged).await, several);
    // And a claim a header check would not see is no way around it.
    let other = a
        .token()
        .aud(RES)
        .alg("RS256")
        .without_header("kid")
        .claim("kid", json!("rs256-1"))
        .sign();
    assert_eq!(validate(&layers2, &other).await, several);
}
