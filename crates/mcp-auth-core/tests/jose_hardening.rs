//! Regression tests of issue 13, defects 3-6: the key a token is verified with (by `kid` and
//! algorithm; kid-less tokens only with one candidate key), `crit`/`b64` whatever their value,
//! and the JSON rules of the header and the claims (no duplicate member names at any depth,
//! at most `MAX_DEPTH` levels, total access to the other claims).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::ErrorKind;
use mcp_auth_core::claims::{ClaimError, Claims, MAX_DEPTH};
use mcp_auth_core::jwk::{JwkError, KeySet};
use mcp_auth_core::jws::{Algorithm, HeaderPolicy, KeyFamily, UnverifiedJws, select_key};
use serde_json::{Value, json};

fn b64(b: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Key {
    fn rsa() -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }
    fn ec() -> Self {
        Self::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    fn ed() -> Self {
        Self::Ed(Ed25519KeyPair::generate().unwrap())
    }

    /// The public JWK, without `alg` (bound to its family only), with `kid` if given.
    fn jwk(&self, kid: Option<&str>) -> Value {
        let mut jwk = match self {
            Self::Rsa(k) => {
                let pk = k.public_key();
                json!({"kty": "RSA",
                    "n": b64(pk.modulus().big_endian_without_leading_zero()),
                    "e": b64(pk.exponent().big_endian_without_leading_zero())})
            }
            Self::Ec(k) => {
                let p = k.public_key().as_ref().to_vec();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])})
            }
            Self::Ed(k) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key())}),
        };
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::Ec(_) => "ES256",
            Self::Ed(_) => "EdDSA",
        }
    }

    /// A compact JWS of these exact header and payload bytes.
    fn sign(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let m = input.as_bytes();
        let sig = match self {
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut sig)
                    .unwrap();
                sig
            }
            Self::Ec(k) => k.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec(),
            Self::Ed(k) => k.sign(m).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(sig))
    }

    /// A token of this key's algorithm with `kid` (or none), signed by this key.
    fn token(&self, kid: Option<&str>) -> String {
        let header = match kid {
            Some(kid) => json!({"alg": self.alg(), "typ": "at+jwt", "kid": kid}),
            None => json!({"alg": self.alg(), "typ": "at+jwt"}),
        };
        self.sign(&header.to_string(), r#"{"iss":"https://as.example"}"#)
    }
}

fn key_set(jwks: &[Value]) -> KeySet {
    let doc = serde_json::to_vec(&json!({ "keys": jwks })).unwrap();
    KeySet::from_jwks(&doc, &Algorithm::ALL, 32).unwrap().keys
}

fn policy() -> HeaderPolicy {
    HeaderPolicy {
        algorithms: Algorithm::ALL.to_vec(),
        ..HeaderPolicy::default()
    }
}

/// The family of the key that verified `token`, or the `invalid_token` description.
fn verify(token: &str, keys: &KeySet) -> Result<KeyFamily, &'static str> {
    let jws = UnverifiedJws::parse(token, &policy()).map_err(|e| e.description())?;
    jws.verify(keys).map(|k| k.family()).map_err(|e| {
        assert_eq!(e.kind(), ErrorKind::InvalidToken);
        e.description()
    })
}

/// Defect 3: RFC 7517 §4.5 lets keys of different types share a `kid` (a rotation from RSA
/// to EC may publish both under one). The key is chosen by `kid` and the token's algorithm,
/// whichever comes first in the set; a `kid` that exists only with another type is refused.
#[test]
fn a_kid_shared_by_keys_of_different_types_selects_by_algorithm() {
    let (rsa, ec, ed) = (Key::rsa(), Key::ec(), Key::ed());
    let shared = Some("shared");
    for keys in [
        key_set(&[rsa.jwk(shared), ec.jwk(shared), ed.jwk(shared)]),
        key_set(&[ed.jwk(shared), ec.jwk(shared), rsa.jwk(shared)]),
    ] {
        assert_eq!(verify(&rsa.token(shared), &keys), Ok(KeyFamily::Rsa));
        assert_eq!(verify(&ec.token(shared), &keys), Ok(KeyFamily::EcP256));
        assert_eq!(verify(&ed.token(shared), &keys), Ok(KeyFamily::Ed25519));
    }
    // A kid of another type only: refused before any signature check.
    let keys = key_set(&[rsa.jwk(Some("r")), ec.jwk(Some("e"))]);
    assert_eq!(
        verify(&ec.token(Some("r")), &keys),
        Err("token algorithm does not match its key")
    );
    assert_eq!(
        verify(&ed.token(Some("r")), &keys),
        Err("token algorithm does not match its key")
    );
    assert_eq!(
        verify(&ec.token(Some("x")), &keys),
        Err("unknown signing key")
    );
    // `KeySet::find` keeps to its documented contract: the key with the kid that allows alg.
    assert!(keys.find("r", Algorithm::ES256).is_none());
    assert_eq!(
        keys.find("e", Algorithm::ES256).map(|k| k.family()),
        Some(KeyFamily::EcP256)
    );
}

/// Defect 4: no token may cost more than one signature check. A kid-less token is taken only
/// when exactly one key of the set can verify its algorithm; with several it is refused
/// before any check: a token *validly signed* by one of them is refused too (the decision
/// cannot have come from a signature check), with the same description as a forged one.
#[test]
fn a_kid_less_token_needs_exactly_one_candidate_key() {
    let ecs: Vec<Key> = (0..3).map(|_| Key::ec()).collect();
    let ed = Key::ed();
    let mut jwks: Vec<Value> = ecs
        .iter()
        .enumerate()
        .map(|(i, k)| k.jwk(Some(&format!("e{i}"))))
        .collect();
    jwks.push(ed.jwk(Some("d")));
    let keys = key_set(&jwks);
    let several = Err("token has no kid and several keys match its algorithm");
    for k in &ecs {
        assert_eq!(verify(&k.token(None), &keys), several);
        // With its kid the same key is found and verifies.
        let kid = format!("e{}", ecs.iter().position(|e| std::ptr::eq(e, k)).unwrap());
        assert_eq!(verify(&k.token(Some(&kid)), &keys), Ok(KeyFamily::EcP256));
    }
    let mut forged = ecs[0].token(None);
    forged.replace_range(forged.len() - 8.., "AAAAAAAA");
    assert_eq!(verify(&forged, &keys), several);
    // The only key of its family: a kid-less token is verified, with that one check.
    assert_eq!(verify(&ed.token(None), &keys), Ok(KeyFamily::Ed25519));
    let mut forged = ed.token(None);
    forged.replace_range(forged.len() - 8.., "AAAAAAAA");
    assert_eq!(verify(&forged, &keys), Err("invalid token signature"));
    // No key for the algorithm at all.
    assert_eq!(
        verify(&Key::rsa().token(None), &keys),
        Err("no signing key for the token algorithm")
    );
    // The rule counts the keys that can verify the algorithm: a JWK bound to another
    // algorithm of the family (`alg: PS256`) is not a candidate for RS256.
    let rsa = Key::rsa();
    let mut ps = Key::rsa().jwk(Some("p"));
    ps["alg"] = json!("PS256");
    let keys = key_set(&[rsa.jwk(Some("r")), ps]);
    assert_eq!(verify(&rsa.token(None), &keys), Ok(KeyFamily::Rsa));
    // `select_key` is the same rule, callable before the payload is decoded.
    assert_eq!(
        select_key(&keys, None, Algorithm::RS256).map(|k| k.kid()),
        Ok(Some("r"))
    );
    assert!(select_key(&keys, None, Algorithm::ES256).is_err());
}

fn header_verdict(header: &str) -> Result<Algorithm, &'static str> {
    let t = format!("{}.{}.{}", b64(header), b64("{}"), b64("sig"));
    UnverifiedJws::parse(&t, &HeaderPolicy::default())
        .map(|j| j.alg())
        .map_err(|e| {
            assert_eq!(e.kind(), ErrorKind::InvalidToken);
            e.description()
        })
}

/// Defect 5: RFC 7515 §4.1.11 (`crit`, when present, names extensions the recipient must
/// understand: we understand none) and RFC 7797 §3 (`b64`, never in access tokens): a present
/// member is refused whatever its value, `null` included, through the fast header path and
/// the serde path alike (escaped names and whitespace force the serde path).
#[test]
fn crit_and_b64_are_refused_whatever_their_value() {
    for name in ["crit", "b64", "cr\\u0069t", "b\\u0036\\u0034"] {
        for value in [
            "null",
            "false",
            "true",
            "[]",
            "{}",
            "0",
            "\"\"",
            "[\"exp\"]",
            "[null]",
        ] {
            for header in [
                format!(r#"{{"alg":"RS256","typ":"at+jwt","{name}":{value}}}"#),
                format!(r#"{{"{name}":{value},"alg":"RS256","typ":"at+jwt"}}"#),
                format!(r#"{{ "alg": "RS256", "typ": "at+jwt", "{name}": {value} }}"#),
            ] {
                assert_eq!(
                    header_verdict(&header),
                    Err("token has critical header parameters"),
                    "{header}"
                );
            }
        }
    }
    // The same header without them is taken, by either path.
    assert_eq!(
        header_verdict(r#"{"alg":"RS256","typ":"at+jwt"}"#),
        Ok(Algorithm::RS256)
    );
    assert_eq!(
        header_verdict(r#"{ "alg": "RS256", "typ": "at+jwt" }"#),
        Ok(Algorithm::RS256)
    );
}

fn nested(levels: usize) -> String {
    // `levels` arrays and objects, alternating, around a 1: `[{"a":[{"a":1}]}]`...
    let (mut open, mut close) = (String::new(), String::new());
    for i in 0..levels {
        if i % 2 == 0 {
            open.push('[');
            close.insert(0, ']');
        } else {
            open.push_str(r#"{"a":"#);
            close.insert(0, '}');
        }
    }
    format!("{open}1{close}")
}

fn claims(payload: &str) -> Result<Claims, &'static str> {
    Claims::from_json(payload.as_bytes()).map_err(|e| {
        assert_eq!(e.kind(), ErrorKind::InvalidToken);
        e.description()
    })
}

/// Defect 6: a claims set with a duplicate member name at any depth is refused (RFC 7519 §4
/// allows it; parsers disagree on which one wins), unregistered names as registered ones.
#[test]
fn duplicate_member_names_are_refused_at_any_depth() {
    let dup = Err("token claims have a duplicate member name");
    for payload in [
        r#"{"iss":"a","tenant":"acme","tenant":"evil"}"#,
        r#"{"tenant":"acme","t\u0065nant":"evil"}"#,
        r#"{"iss":"a","iss":"b"}"#,
        r#"{"exp":1,"exp":2}"#,
        r#"{"n":{"restricted":true,"restricted":false}}"#,
        r#"{"n":[1,{"a":{"b":1,"b":2}}]}"#,
        r#"{"cnf":{"jkt":"a","jkt":"b"}}"#,
    ] {
        assert_eq!(claims(payload).map(drop), dup, "{payload}");
    }
    // The same name in different objects, and many distinct names, are fine.
    let c = claims(r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"iss":"x"}"#).unwrap();
    assert_eq!(c.get("b"), Ok(Some(json!([{"a":1},{"a":2}]))));
    let many: Vec<String> = (0..200).map(|i| format!(r#""c{i}":{i}"#)).collect();
    let c = claims(&format!("{{{}}}", many.join(","))).unwrap();
    assert_eq!(c.get("c199"), Ok(Some(json!(199))));
    assert_eq!(
        claims(&format!("{{{},\"c7\":0}}", many.join(","))).map(drop),
        dup
    );
}

/// Defect 6: nesting is capped at `MAX_DEPTH` (32) levels at parse time, below serde_json's
/// own recursion limit (128), so a claim that parses can always be read back: before, a claim
/// nested deeper than serde_json's limit parsed, and `get` answered `None` for it.
#[test]
fn nesting_deeper_than_max_depth_is_refused_at_parse_time() {
    assert_eq!(MAX_DEPTH, 32);
    // The top-level object is level 1: a claim value may nest 31 more levels.
    let ok = format!(r#"{{"iss":"a","deep":{}}}"#, nested(MAX_DEPTH - 1));
    let c = claims(&ok).unwrap();
    let deep = c.get("deep").unwrap().unwrap();
    assert_eq!(
        deep,
        serde_json::from_str::<Value>(&nested(MAX_DEPTH - 1)).unwrap()
    );
    for levels in [MAX_DEPTH, 100, 127, 128, 200, 5000] {
        let p = format!(r#"{{"iss":"a","deep":{}}}"#, nested(levels));
        assert_eq!(
            claims(&p).map(drop),
            Err("token claims are nested too deeply"),
            "{levels}"
        );
    }
    // The JOSE header keeps the same rule.
    let h = |levels| format!(r#"{{"alg":"RS256","typ":"at+jwt","x":{}}}"#, nested(levels));
    assert_eq!(header_verdict(&h(MAX_DEPTH - 1)), Ok(Algorithm::RS256));
    assert_eq!(
        header_verdict(&h(MAX_DEPTH)),
        Err("token header is nested too deeply")
    );
    assert_eq!(
        header_verdict(r#"{"alg":"RS256","typ":"at+jwt","x":1,"x":2}"#),
        Err("token header has a duplicate member name")
    );
    assert_eq!(
        header_verdict(r#"{"alg":"RS256","typ":"at+jwt","x":{"y":1,"y":2}}"#),
        Err("token header has a duplicate member name")
    );
    assert_eq!(
        header_verdict(r#"{"alg":"RS256","typ":"at+jwt","alg":"RS256"}"#),
        Err("token header has a duplicate member name")
    );
}

/// Defect 6: access to the other claims is total. Every member of an accepted payload is
/// `Ok(Some(..))` from `get`, `Ok(None)` means absent, and a value a `Value` cannot hold (a
/// number out of range: before, an unregistered one parsed and then made `extra` empty) is
/// refused at parse time. Claims that did not come from a payload say so instead of `None`.
#[test]
fn other_claims_access_is_total() {
    let payload = r#"{"iss":"a","exp":1.5,"restricted":true,"tenant":"acme","n":null,
        "big":18446744073709551615,"neg":-1e300,"s":"\u00e9\n\ud83d\ude00","o":{"x":[1,{}]},
        "\u0074id":"t"}"#;
    let c = claims(payload).unwrap();
    let all: serde_json::Map<String, Value> = serde_json::from_str(payload).unwrap();
    assert_eq!(c.extra().as_ref(), Ok(&all));
    for (name, value) in &all {
        assert_eq!(c.get(name).as_ref(), Ok(&Some(value.clone())), "{name}");
    }
    assert_eq!(c.get("tid"), Ok(Some(json!("t"))));
    assert_eq!(c.get("absent"), Ok(None));
    for bad in [
        r#"{"iss":"a","restricted":1e400}"#,
        r#"{"iss":"a","x":[-1e999]}"#,
        r#"{"iss":"a","x":"\ud800"}"#,
    ] {
        assert_eq!(
            claims(bad).map(drop),
            Err("token claims are malformed"),
            "{bad}"
        );
    }
    // Not from a payload: an error, never a silent `None`.
    assert_eq!(
        Claims::default().get("restricted"),
        Err(ClaimError::NotKept)
    );
    let c: Claims = serde_json::from_str(r#"{"iss":"a","restricted":true}"#).unwrap();
    assert_eq!(c.iss.as_deref(), Some("a"));
    assert_eq!(c.get("restricted"), Err(ClaimError::NotKept));
    // serde's own path keeps the duplicate and depth rules.
    assert!(serde_json::from_str::<Claims>(r#"{"x":1,"x":2}"#).is_err());
    let deep = format!(r#"{{"x":{}}}"#, nested(MAX_DEPTH));
    assert!(serde_json::from_str::<Claims>(&deep).is_err());
    // `"cnf": null` is still no confirmation; a present `cnf` is kept as it was.
    assert_eq!(claims(r#"{"cnf":null}"#).unwrap().cnf, None);
    assert_eq!(
        claims(r#"{"cnf":{"jkt":"k"}}"#).unwrap().cnf,
        Some(json!({"jkt":"k"}))
    );
}

/// The same JSON rules for JWKS documents: a JWK with a duplicate member means whatever the
/// last parser says, so the document is refused and the last good set kept.
#[test]
fn jwks_with_duplicate_members_are_refused() {
    let ec = Key::ec().jwk(Some("e"));
    let good = serde_json::to_string(&json!({ "keys": [ec] })).unwrap();
    assert!(KeySet::from_jwks(good.as_bytes(), &Algorithm::ALL, 32).is_ok());
    let dup = good.replacen(r#""kid":"e""#, r#""kid":"e","kid":"f""#, 1);
    assert_ne!(dup, good);
    match KeySet::from_jwks(dup.as_bytes(), &Algorithm::ALL, 32) {
        Err(JwkError::Malformed(why)) => assert!(why.contains("duplicate member name"), "{why}"),
        other => panic!("{other:?}"),
    }
    let dup_keys = good.replacen(r#"{"keys":"#, r#"{"keys":[],"keys":"#, 1);
    assert!(matches!(
        KeySet::from_jwks(dup_keys.as_bytes(), &Algorithm::ALL, 32),
        Err(JwkError::Malformed(_))
    ));
}

/// The JWS types borrow the token: their `Debug` (one `?jws` in a log line away) shows what
/// was read from it, never its bytes.
#[test]
fn jws_debug_never_shows_the_token() {
    let key = Key::ec();
    let token = key.token(Some("k1"));
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let jws = mcp_auth_core::jws::CompactJws::split(&token, 8192).unwrap();
    let checked = jws.check_header(&policy()).unwrap();
    let mut shown = vec![format!("{jws:?}"), format!("{checked:?}")];
    shown.push(format!("{:?}", checked.decode().unwrap()));
    for s in &shown {
        for secret in [head, payload, signature] {
            assert!(!s.contains(secret), "{s} shows part of the token");
        }
    }
    assert!(
        shown[1].contains("ES256") && shown[1].contains("k1"),
        "{}",
        shown[1]
    );
}
