//! DPoP proofs (RFC 9449 §4.3), nonces (§8–9) and the `jti` hash (§11.1): one proof per rule
//! that breaks only that rule, `htu` normalization, the `iat` window edges, nonces.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, Uri};
use mcp_auth_core::AccessToken;
use mcp_auth_core::dpop::{
    CheckedProof, DpopConfigError, DpopError, DpopPolicy, Nonces, ProofClaim, ProofRequest,
    cnf_jkt, jwk_thumbprint,
};
use mcp_auth_core::jws::Algorithm;
use mcp_auth_core::resource::ResourceUri;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

const NOW: i64 = 1_800_000_000;
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const HTU: &str = "https://mcp.example.com/mcp";

/// A client key: its public JWK and a signing function.
struct Key {
    alg: &'static str,
    jwk: Value,
    sign: Box<dyn Fn(&[u8]) -> Vec<u8>>,
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn ec(alg: &'static str) -> Key {
    let (signing, crv, len) = match alg {
        "ES256" => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
        _ => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
    };
    let pair = EcdsaKeyPair::generate(signing).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({
        "kty": "EC",
        "crv": crv,
        "x": b64(&point[1..1 + len]),
        "y": b64(&point[1 + len..]),
    });
    Key {
        alg,
        jwk,
        sign: Box::new(move |m| {
            pair.sign(&SystemRandom::new(), m)
                .unwrap()
                .as_ref()
                .to_vec()
        }),
    }
}

fn ed25519() -> Key {
    let pair = Ed25519KeyPair::generate().unwrap();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
    Key {
        alg: "EdDSA",
        jwk,
        sign: Box::new(move |m| pair.sign(m).as_ref().to_vec()),
    }
}

fn ath(token: &str) -> String {
    b64(&Sha256::digest(token.as_bytes()))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn header(key: &Key) -> Map<String, Value> {
    obj(json!({"typ": "dpop+jwt", "alg": key.alg, "jwk": key.jwk}))
}

fn claims() -> Map<String, Value> {
    obj(json!({
        "jti": "e1j3V_bKic8-LAEB",
        "htm": "POST",
        "htu": HTU,
        "iat": NOW,
        "ath": ath(TOKEN),
    }))
}

fn sign(key: &Key, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let sig = (key.sign)(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn jkt(key: &Key) -> String {
    jwk_thumbprint(key.jwk.as_object().unwrap()).unwrap()
}

/// The request every proof is checked against unless a test says otherwise.
struct Req {
    method: Method,
    uri: Uri,
    resource: ResourceUri,
    token: AccessToken,
    jkt: Option<String>,
    now: i64,
}

impl Req {
    fn new(key: &Key) -> Self {
        Self {
            method: Method::POST,
            uri: "/mcp".parse().unwrap(),
            resource: ResourceUri::parse(RESOURCE).unwrap(),
            token: AccessToken::new(TOKEN),
            jkt: Some(jkt(key)),
            now: NOW,
        }
    }

    fn check(&self, policy: &DpopPolicy, proofs: &[&str]) -> Result<CheckedProof, DpopError> {
        let mut headers = HeaderMap::new();
        for p in proofs {
            headers.append("dpop", HeaderValue::from_str(p).unwrap());
        }
        let req = ProofRequest::new(
            &self.method,
            &self.uri,
            &self.resource,
            &self.token,
            self.jkt.as_deref(),
            self.now,
        );
        policy.check(headers.get_all("dpop"), &req)
    }
}

fn check_one(policy: &DpopPolicy, key: &Key, proof: &str) -> Result<CheckedProof, DpopError> {
    Req::new(key).check(policy, &[proof])
}

#[test]
fn a_good_proof_passes_with_its_thumbprint_jti_hash_and_deadline() {
    for key in [ec("ES256"), ec("ES384"), ed25519()] {
        let proof = sign(&key, &header(&key), &claims());
        let checked = check_one(&DpopPolicy::new(), &key, &proof).unwrap();
        assert_eq!(checked.thumbprint(), jkt(&key));
        // iat + window (300 s) + replay leeway (60 s), not now + window.
        assert_eq!(checked.remember_until(), NOW + 360);
        assert!(!checked.fresh_nonce_due());
        // The same proof checks to the same hash: the replay store sees the second use.
        assert_eq!(
            check_one(&DpopPolicy::new(), &key, &proof)
                .unwrap()
                .jti_hash(),
            checked.jti_hash()
        );
    }
}

#[test]
fn remember_until_follows_iat_not_the_clock() {
    let key = ec("ES256");
    let mut c = claims();
    c.insert("iat".into(), json!(NOW + 200));
    let proof = sign(&key, &header(&key), &c);
    let policy = DpopPolicy::new().with_replay_leeway(Duration::from_secs(5));
    let checked = check_one(&policy, &key, &proof).unwrap();
    assert_eq!(checked.remember_until(), NOW + 200 + 300 + 5);
}

/// The jti hash is fixed-size, tells jtis apart, and keeps one key's jtis from another's.
#[test]
fn jti_hashes_depend_on_jti_and_key() {
    let (a, b) = (ec("ES256"), ec("ES256"));
    let hash = |key: &Key, jti: &str| {
        let mut c = claims();
        c.insert("jti".into(), json!(jti));
        *check_one(&DpopPolicy::new(), key, &sign(key, &header(key), &c))
            .unwrap()
            .jti_hash()
    };
    assert_eq!(hash(&a, "one"), hash(&a, "one"));
    assert_ne!(hash(&a, "one"), hash(&a, "two"));
    assert_ne!(hash(&a, "one"), hash(&b, "one"));
    assert_eq!(hash(&a, &"x".repeat(256)).as_bytes().len(), 32);
}

/// One proof per rule of RFC 9449 §4.3, each breaking only that rule.
#[test]
fn each_rule_of_section_4_3_refuses_a_proof_that_breaks_only_it() {
    let key = ec("ES256");
    let other = ec("ES256");
    let p384 = ec("ES384");
    let ed = ed25519();
    let good_header = header(&key);
    let with_header = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut h = good_header.clone();
        f(&mut h);
        sign(&key, &h, &claims())
    };
    let with_claims = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut c = claims();
        f(&mut c);
        sign(&key, &good_header, &c)
    };
    let unsigned = |h: Value| {
        format!(
            "{}.{}.",
            b64(&serde_json::to_vec(&h).unwrap()),
            b64(&serde_json::to_vec(&claims()).unwrap())
        )
    };
    let hs256 = {
        let h = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"0123456789abcdef0123456789abcdef")}});
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&h).unwrap()),
            b64(&serde_json::to_vec(&claims()).unwrap())
        );
        let k = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            b"0123456789abcdef0123456789abcdef",
        );
        let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    };
    let good = sign(&key, &good_header, &claims());
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 5;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    let cases: Vec<(&str, Vec<String>, DpopError)> = vec![
        ("no DPoP header", vec![], DpopError::MissingProof),
        (
            "two DPoP headers",
            vec![good.clone(), good.clone()],
            DpopError::MultipleProofs,
        ),
        ("not a JWS", vec!["not-a-jwt".into()], DpopError::Malformed),
        (
            "two proofs in one value",
            vec![format!("{good}, {good}")],
            DpopError::Malformed,
        ),
        (
            "header not JSON",
            vec![format!("{}.{}.c2ln", b64(b"{nope"), b64(b"{}"))],
            DpopError::Malformed,
        ),
        (
            "duplicate header member",
            vec![format!(
                "{}.{}.c2ln",
                b64(br#"{"typ":"dpop+jwt","typ":"JWT"}"#),
                b64(b"{}")
            )],
            DpopError::Malformed,
        ),
        (
            "typ JWT",
            vec![with_header(&|h| {
                h.insert("typ".into(), json!("JWT"));
            })],
            DpopError::WrongType,
        ),
        (
            "typ at+jwt",
            vec![with_header(&|h| {
                h.insert("typ".into(), json!("at+jwt"));
            })],
            DpopError::WrongType,
        ),
        (
            "no typ",
            vec![with_header(&|h| {
                h.remove("typ");
            })],
            DpopError::WrongType,
        ),
        (
            "alg none",
            vec![unsigned(
                json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}),
            )],
            DpopError::AlgorithmNotAllowed,
        ),
        (
            "alg HS256 with an oct key",
            vec![hs256],
            DpopError::AlgorithmNotAllowed,
        ),
        (
            "no alg",
            vec![with_header(&|h| {
                h.remove("alg");
            })],
            DpopError::AlgorithmNotAllowed,
        ),
        (
            "crit",
            vec![with_header(&|h| {
                h.insert("crit".into(), json!(["exp"]));
            })],
            DpopError::CriticalHeader,
        ),
        (
            "no jwk",
            vec![with_header(&|h| {
                h.remove("jwk");
            })],
            DpopError::MissingKey,
        ),
        (
            "jwk not an object",
            vec![with_header(&|h| {
                h.insert("jwk".into(), json!("key"));
            })],
            DpopError::MissingKey,
        ),
        (
            "private d in the jwk",
            vec![with_header(&|h| {
                h["jwk"]["d"] = json!(b64(&[7u8; 32]));
            })],
            DpopError::PrivateKey,
        ),
        (
            "jwk of another family (P-384 for ES256)",
            vec![with_header(&|h| {
                h.insert("jwk".into(), p384.jwk.clone());
            })],
            DpopError::InvalidKey,
        ),
        (
            "jwk of another family (Ed25519 for ES256)",
            vec![with_header(&|h| {
                h.insert("jwk".into(), ed.jwk.clone());
            })],
            DpopError::InvalidKey,
        ),
        (
            "jwk naming another alg",
            vec![with_header(&|h| {
                h["jwk"]["alg"] = json!("ES384");
            })],
            DpopError::InvalidKey,
        ),
        (
            "signed by another key",
            vec![with_header(&|h| {
                h.insert("jwk".into(), other.jwk.clone());
            })],
            DpopError::BadSignature,
        ),
        ("signature altered", vec![flipped], DpopError::BadSignature),
        (
            "no signature",
            vec![unsigned(Value::Object(good_header.clone()))],
            DpopError::BadSignature,
        ),
        (
            "no jti",
            vec![with_claims(&|c| {
                c.remove("jti");
            })],
            DpopError::MissingClaim(ProofClaim::Jti),
        ),
        (
            "no htm",
            vec![with_claims(&|c| {
                c.remove("htm");
            })],
            DpopError::MissingClaim(ProofClaim::Htm),
        ),
        (
            "no htu",
            vec![with_claims(&|c| {
                c.remove("htu");
            })],
            DpopError::MissingClaim(ProofClaim::Htu),
        ),
        (
            "no iat",
            vec![with_claims(&|c| {
                c.remove("iat");
            })],
            DpopError::MissingClaim(ProofClaim::Iat),
        ),
        (
            "iat a string",
            vec![with_claims(&|c| {
                c.insert("iat".into(), json!("1800000000"));
            })],
            DpopError::MissingClaim(ProofClaim::Iat),
        ),
        (
            "no ath",
            vec![with_claims(&|c| {
                c.remove("ath");
            })],
            DpopError::MissingClaim(ProofClaim::Ath),
        ),
        (
            "jti too long",
            vec![with_claims(&|c| {
                c.insert("jti".into(), json!("j".repeat(257)));
            })],
            DpopError::JtiTooLong,
        ),
        (
            "htm another method",
            vec![with_claims(&|c| {
                c.insert("htm".into(), json!("GET"));
            })],
            DpopError::MethodMismatch,
        ),
        (
            "htm lowercase",
            vec![with_claims(&|c| {
                c.insert("htm".into(), json!("post"));
            })],
            DpopError::MethodMismatch,
        ),
        (
            "htu another path",
            vec![with_claims(&|c| {
                c.insert("htu".into(), json!("https://mcp.example.com/other"));
            })],
            DpopError::UriMismatch,
        ),
        (
            "htu another host",
            vec![with_claims(&|c| {
                c.insert("htu".into(), json!("https://evil.example.com/mcp"));
            })],
            DpopError::UriMismatch,
        ),
        (
            "iat too old",
            vec![with_claims(&|c| {
                c.insert("iat".into(), json!(NOW - 301));
            })],
            DpopError::IatOutOfWindow,
        ),
        (
            "ath of another token",
            vec![with_claims(&|c| {
                c.insert("ath".into(), json!(ath("another token")));
            })],
            DpopError::AccessTokenHashMismatch,
        ),
    ];
    let policy = DpopPolicy::new();
    for (name, proofs, want) in &cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        assert_eq!(
            Req::new(&key).check(&policy, &proofs).unwrap_err(),
            *want,
            "{name}"
        );
    }
    // The proof every case was made from passes.
    assert!(Req::new(&key).check(&policy, &[&good]).is_ok());
}

#[test]
fn the_token_must_be_bound_to_the_proof_key() {
    let key = ec("ES256");
    let proof = sign(&key, &header(&key), &claims());
    let mut req = Req::new(&key);
    req.jkt = None;
    let e = req.check(&DpopPolicy::new(), &[&proof]).unwrap_err();
    assert_eq!(
        (e, e.error_code()),
        (DpopError::TokenNotBound, "invalid_token")
    );
    req.jkt = Some(jkt(&ec("ES256")));
    let e = req.check(&DpopPolicy::new(), &[&proof]).unwrap_err();
    assert_eq!(
        (e, e.error_code()),
        (DpopError::KeyBindingMismatch, "invalid_token")
    );
    // cnf.jkt as a token carries it; cnf without jkt (mTLS x5t#S256) binds no DPoP key.
    assert_eq!(cnf_jkt(Some(&json!({"jkt": "abc"}))), Some("abc"));
    assert_eq!(cnf_jkt(Some(&json!({"x5t#S256": "abc"}))), None);
    assert_eq!(cnf_jkt(None), None);
}

#[test]
fn the_allow_list_is_local_policy() {
    let (es256, es384, ed) = (ec("ES256"), ec("ES384"), ed25519());
    let only_es256 = DpopPolicy::new()
        .with_algorithms(&[Algorithm::ES256])
        .unwrap();
    let ok = |k: &Key| check_one(&only_es256, k, &sign(k, &header(k), &claims()));
    assert!(ok(&es256).is_ok());
    assert_eq!(ok(&es384).unwrap_err(), DpopError::AlgorithmNotAllowed);
    assert_eq!(ok(&ed).unwrap_err(), DpopError::AlgorithmNotAllowed);
    assert_eq!(
        DpopPolicy::new().with_algorithms(&[]).unwrap_err(),
        DpopConfigError::NoAlgorithms
    );
    assert_eq!(only_es256.algorithm_names(), ["ES256"]);
    // RFC 9864's fully-specified name for EdDSA over Ed25519 is taken as EdDSA.
    let mut h = header(&ed);
    h.insert("alg".into(), json!("Ed25519"));
    assert!(check_one(&DpopPolicy::new(), &ed, &sign(&ed, &h, &claims())).is_ok());
    assert_eq!(
        check_one(&only_es256, &ed, &sign(&ed, &h, &claims())).unwrap_err(),
        DpopError::AlgorithmNotAllowed
    );
}

#[test]
fn htu_is_compared_after_normalization_without_query_and_fragment() {
    let key = ec("ES256");
    let policy = DpopPolicy::new();
    let run = |htu: &str, uri: &str| {
        let mut c = claims();
        c.insert("htu".into(), json!(htu));
        let mut req = Req::new(&key);
        req.uri = uri.parse().unwrap();
        req.check(&policy, &[&sign(&key, &header(&key), &c)])
            .map(|_| ())
    };
    let accepted = [
        (HTU, "/mcp"),
        (HTU, "/mcp?session=1"),
        ("https://mcp.example.com/mcp?session=1", "/mcp"),
        ("https://mcp.example.com/mcp#frag", "/mcp"),
        ("https://mcp.example.com:443/mcp", "/mcp"),
        ("HTTPS://MCP.Example.COM/mcp", "/mcp"),
        ("https://mcp.example.com/m%63p", "/mcp"),
        ("https://mcp.example.com/a%2fb", "/a%2Fb"),
        ("https://mcp.example.com/x/../mcp", "/mcp"),
        // Behind a proxy the server sees its internal address: only the path is read.
        (HTU, "http://10.0.0.5:8080/mcp"),
    ];
    for (htu, uri) in accepted {
        assert_eq!(run(htu, uri), Ok(()), "{htu} for {uri}");
    }
    let refused = [
        ("https://mcp.example.com/mcp/", "/mcp"),
        (HTU, "/mcp/"),
        ("http://mcp.example.com/mcp", "/mcp"),
        ("https://mcp.example.com:8443/mcp", "/mcp"),
        ("https://mcp.example.com/MCP", "/mcp"),
        ("https://user@mcp.example.com/mcp", "/mcp"),
        ("/mcp", "/mcp"),
        ("http://10.0.0.5:8080/mcp", "http://10.0.0.5:8080/mcp"),
    ];
    for (htu, uri) in refused {
        assert_eq!(
            run(htu, uri),
            Err(DpopError::UriMismatch),
            "{htu} for {uri}"
        );
    }
}

#[test]
fn htu_of_a_root_resource_and_a_non_default_port() {
    let key = ec("ES256");
    let run = |resource: &str, htu: &str, uri: &str| {
        let mut c = claims();
        c.insert("htu".into(), json!(htu));
        let mut req = Req::new(&key);
        req.resource = ResourceUri::parse(resource).unwrap();
        req.uri = uri.parse().unwrap();
        req.check(&DpopPolicy::new(), &[&sign(&key, &header(&key), &c)])
            .map(|_| ())
    };
    assert_eq!(run("https://h.example/", "https://h.example", "/"), Ok(()));
    assert_eq!(run("https://h.example", "https://h.example/", "/"), Ok(()));
    assert_eq!(
        run(
            "http://127.0.0.1:8080/mcp",
            "http://127.0.0.1:8080/mcp",
            "/mcp"
        ),
        Ok(())
    );
    assert_eq!(
        run("http://127.0.0.1:8080/mcp", "http://127.0.0.1/mcp", "/mcp"),
        Err(DpopError::UriMismatch)
    );
}

#[test]
fn iat_window_edges() {
    let key = ec("ES256");
    let at = |policy: &DpopPolicy, iat: i64| {
        let mut c = claims();
        c.insert("iat".into(), json!(iat));
        check_one(policy, &key, &sign(&key, &header(&key), &c)).map(|_| ())
    };
    let default = DpopPolicy::new();
    let narrow = DpopPolicy::new()
        .with_window(Duration::from_secs(60))
        .unwrap();
    for (policy, w) in [(&default, 300), (&narrow, 60)] {
        for d in [0, w - 1, w] {
            assert_eq!(at(policy, NOW - d), Ok(()), "-{d} of ±{w}");
            assert_eq!(at(policy, NOW + d), Ok(()), "+{d} of ±{w}");
        }
        assert_eq!(at(policy, NOW - w - 1), Err(DpopError::IatOutOfWindow));
        assert_eq!(at(policy, NOW + w + 1), Err(DpopError::IatOutOfWindow));
    }
    // A fractional NumericDate is read too; extreme ones are simply out of the window.
    assert_eq!(at(&default, i64::MIN), Err(DpopError::IatOutOfWindow));
    let mut c = claims();
    c.insert("iat".into(), json!(NOW as f64 + 0.5));
    assert!(check_one(&default, &key, &sign(&key, &header(&key), &c)).is_ok());
    // The window can be narrower than ±300 s, never wider, never zero.
    for bad in [0, 301, 3600] {
        assert!(matches!(
            DpopPolicy::new().with_window(Duration::from_secs(bad)),
            Err(DpopConfigError::Window { .. })
        ));
    }
}

fn secret(b: u8) -> [u8; 32] {
    [b; 32]
}

#[test]
fn nonces_required_stale_other_slot_previous_secret() {
    let key = ec("ES256");
    let slot = Duration::from_secs(60);
    let nonces = Nonces::new([secret(1)], slot).unwrap();
    let policy = DpopPolicy::new().with_nonces(nonces.clone());
    let with_nonce = |policy: &DpopPolicy, nonce: Option<&str>| {
        let mut c = claims();
        if let Some(n) = nonce {
            c.insert("nonce".into(), json!(n));
        }
        check_one(policy, &key, &sign(&key, &header(&key), &c))
    };
    // Required: a proof without one gets use_dpop_nonce.
    let e = with_nonce(&policy, None).unwrap_err();
    assert_eq!(
        (e, e.error_code(), e.needs_nonce()),
        (DpopError::NonceRequired, "use_dpop_nonce", true)
    );
    // This slot's nonce passes, with no fresh one due.
    let current = nonces.issue(NOW);
    assert_eq!(current, nonces.issue(NOW - NOW % 60), "one nonce per slot");
    assert!(
        !with_nonce(&policy, Some(&current))
            .unwrap()
            .fresh_nonce_due()
    );
    assert!(!nonces.fresh_due(&current, NOW));
    // The previous slot's passes, and a fresh one is due (the slot turned).
    let previous = nonces.issue(NOW - 60);
    assert_ne!(previous, current);
    assert!(
        with_nonce(&policy, Some(&previous))
            .unwrap()
            .fresh_nonce_due()
    );
    assert!(nonces.fresh_due(&previous, NOW));
    // Stale (two slots back), from a future slot, junk, another server's: refused.
    for bad in [
        nonces.issue(NOW - 120),
        nonces.issue(NOW + 60),
        "not-a-nonce".to_owned(),
        String::new(),
        Nonces::new([secret(9)], slot).unwrap().issue(NOW),
        Nonces::new([secret(1)], Duration::from_secs(30))
            .unwrap()
            .issue(NOW),
    ] {
        let e = with_nonce(&policy, Some(&bad)).unwrap_err();
        assert_eq!(
            (e, e.error_code()),
            (DpopError::NonceInvalid, "use_dpop_nonce"),
            "{bad}"
        );
    }
    // Rolling the secret: new first, old second; the old one's nonces still pass, new ones
    // are made with the new secret.
    let rolled = Nonces::new([secret(2), secret(1)], slot).unwrap();
    let policy = DpopPolicy::new().with_nonces(rolled.clone());
    assert!(with_nonce(&policy, Some(&current)).is_ok());
    assert!(with_nonce(&policy, Some(&rolled.issue(NOW))).is_ok());
    assert_ne!(rolled.issue(NOW), current);
    let dropped = DpopPolicy::new().with_nonces(Nonces::new([secret(2)], slot).unwrap());
    assert_eq!(
        with_nonce(&dropped, Some(&current)).unwrap_err(),
        DpopError::NonceInvalid
    );
}

#[test]
fn nonce_configuration_is_checked() {
    let slot = Duration::from_secs(60);
    assert_eq!(
        Nonces::new(Vec::<[u8; 32]>::new(), slot).unwrap_err(),
        DpopConfigError::NoNonceSecret
    );
    assert_eq!(
        Nonces::new([secret(1).as_slice(), &[1u8; 31][..]], slot).unwrap_err(),
        DpopConfigError::ShortNonceSecret { index: 1, len: 31 }
    );
    assert_eq!(
        Nonces::new([secret(1)], Duration::from_millis(999)).unwrap_err(),
        DpopConfigError::NonceSlot
    );
    let n = Nonces::new([secret(0xab)], slot).unwrap();
    let debug = format!("{n:?}");
    assert!(!debug.contains("171") && !debug.contains("ab"), "{debug}");
    // A nonce is NQCHAR (RFC 9449 §8: the scope-token syntax).
    assert!(
        n.issue(NOW)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

/// RFC 9449 §7.1's example request: the proof, the token and its `cnf.jkt` (§6.1) as printed.
#[test]
fn the_rfc_9449_example_proof_checks() {
    let proof = concat!(
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik",
        "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR",
        "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE",
        "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj",
        "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z",
        "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF",
        "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E",
        "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
    );
    let method = Method::GET;
    let uri: Uri = "/protectedresource".parse().unwrap();
    let resource = ResourceUri::parse("https://resource.example.org").unwrap();
    let token = AccessToken::new("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU");
    let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let mut headers = HeaderMap::new();
    headers.insert("dpop", HeaderValue::from_static(proof));
    let req = ProofRequest::new(&method, &uri, &resource, &token, Some(jkt), 1_562_262_618);
    let checked = DpopPolicy::new()
        .check(headers.get_all("dpop"), &req)
        .unwrap();
    assert_eq!(checked.thumbprint(), jkt);
    // Debug of the request names the token by its hash only.
    assert!(!format!("{req:?}").contains("Kz~8mXK1"));
    // Four years later the same proof is far outside the window.
    let late = ProofRequest::new(&method, &uri, &resource, &token, Some(jkt), 1_700_000_000);
    assert_eq!(
        DpopPolicy::new()
            .check(headers.get_all("dpop"), &late)
            .unwrap_err(),
        DpopError::IatOutOfWindow
    );
}

#[test]
fn oversized_proofs_are_refused_before_parsing() {
    let key = ec("ES256");
    let proof = sign(&key, &header(&key), &claims());
    let policy = DpopPolicy::new().with_max_proof_len(proof.len() - 1);
    assert_eq!(
        check_one(&policy, &key, &proof).unwrap_err(),
        DpopError::TooLarge
    );
    let policy = DpopPolicy::new().with_max_proof_len(proof.len());
    assert!(check_one(&policy, &key, &proof).is_ok());
}
