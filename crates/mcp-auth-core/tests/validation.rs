//! The validation state machine on its own (issue 14): each `Step`, the resume after keys
//! arrive, the resume with keys that still lack the token's `kid`, and the same answer from
//! the first step as from a cold path that must fetch, for a table of tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::{Algorithm, HeaderPolicy};
use mcp_auth_core::keys::{Current, KeyError, KeySource, KeysFuture, StaticKeySource};
use mcp_auth_core::resource::ResourceUri;
use mcp_auth_core::validation::{JwtRules, RulesError, Step, Verified};
use mcp_auth_core::{AuthError, ErrorKind};
use mcp_auth_dev::TestAuthority;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";

fn rules() -> JwtRules {
    let claims = ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS);
    JwtRules::new(HeaderPolicy::default(), claims)
}

fn set_of(a: &TestAuthority) -> Arc<KeySet> {
    Arc::new(key_set(a))
}

fn key_set(a: &TestAuthority) -> KeySet {
    let jwks = serde_json::to_vec(&a.jwks()).unwrap();
    KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys
}

/// A source whose memory says what the test wants, counting its questions.
#[derive(Debug)]
struct Memory {
    answer: Current,
    asked: AtomicUsize,
}

impl Memory {
    fn new(answer: Current) -> Self {
        Self {
            answer,
            asked: AtomicUsize::new(0),
        }
    }
    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl KeySource for Memory {
    fn current(&self, _issuer: &str) -> Current {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.answer.clone()
    }
    fn keys<'a>(&'a self, _issuer: &'a str, _kid: Option<&'a str>) -> KeysFuture<'a> {
        panic!("the state machine never does I/O itself")
    }
}

fn keys_in_memory(keys: Arc<KeySet>, refetch_unknown_kid: bool) -> Memory {
    Memory::new(Current::Keys {
        keys,
        refetch_unknown_kid,
    })
}

fn done(step: Step) -> Result<Verified, AuthError> {
    match step {
        Step::Done(done) => done,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn description(r: &Result<Verified, AuthError>) -> Result<String, &'static str> {
    match r {
        Ok(v) => Ok(v.claims.sub.clone().unwrap_or_default()),
        Err(e) => Err(e.description()),
    }
}

#[test]
fn done_from_memory_with_the_verifying_key() {
    let a = TestAuthority::new(ISS);
    let set = set_of(&a);
    let src = keys_in_memory(set.clone(), false);
    let t = a.token().aud(RES).scope("mcp:read mcp:write").sign();
    let v = done(rules().start(&t, &src, now())).unwrap();
    assert_eq!(v.issuer(), ISS);
    assert_eq!(v.claims.sub.as_deref(), Some("user-1"));
    assert_eq!(v.scopes.to_scope_string(), "mcp:read mcp:write");
    let kid = a.current_kid("RS256").unwrap();
    assert_eq!(&v.key, set.get(&kid).unwrap().fingerprint());
    // One look at memory serves the early kid check and the signature check.
    assert_eq!(src.asked(), 1);
}

#[test]
fn need_keys_when_memory_has_nothing_then_resume() {
    let a = TestAuthority::new(ISS);
    let src = Memory::new(Current::Load);
    let t = a.token().aud(RES).sign();
    let Step::NeedKeys {
        issuer,
        kid,
        resume,
    } = rules().start(&t, &src, now())
    else {
        panic!("expected NeedKeys");
    };
    assert_eq!(issuer, ISS);
    assert_eq!(kid, a.current_kid("RS256"));
    let v = done(resume.keys(Ok(set_of(&a)))).unwrap();
    assert_eq!(v.claims.sub.as_deref(), Some("user-1"));
}

#[test]
fn an_unknown_kid_asks_for_keys_only_while_a_refetch_is_allowed() {
    let a = TestAuthority::new(ISS);
    let old = set_of(&a);
    a.rotate("RS256"); // the token's key is not in `old`
    let t = a.token().aud(RES).sign();
    // Refetch allowed: NeedKeys with the token's kid...
    let src = keys_in_memory(old.clone(), true);
    let Step::NeedKeys { kid, resume, .. } = rules().start(&t, &src, now()) else {
        panic!("expected NeedKeys");
    };
    assert_eq!(kid, a.current_kid("RS256"));
    // ...and resumed with keys that still lack it: refused, not asked again.
    let e = done(resume.keys(Ok(old.clone()))).unwrap_err();
    assert_eq!(
        (e.kind(), e.description()),
        (ErrorKind::InvalidToken, "unknown signing key")
    );
    // Resumed with the new set: accepted.
    let Step::NeedKeys { resume, .. } = rules().start(&t, &src, now()) else {
        panic!("expected NeedKeys");
    };
    assert!(done(resume.keys(Ok(set_of(&a)))).is_ok());
    // In the cooldown: refused at once, from memory.
    let src = keys_in_memory(old, false);
    let e = done(rules().start(&t, &src, now())).unwrap_err();
    assert_eq!(e.description(), "unknown signing key");
}

#[test]
fn a_forged_kid_in_the_cooldown_is_refused_before_the_payload() {
    let a = TestAuthority::new(ISS);
    let src = keys_in_memory(set_of(&a), false);
    let b = |s: &[u8]| URL_SAFE_NO_PAD.encode(s);
    let header = b(br#"{"alg":"RS256","typ":"at+jwt","kid":"forged-kid"}"#);
    let junk = format!("{header}.{}.{}", b(b"not json"), b(&[7u8; 256]));
    let e = done(rules().start(&junk, &src, now())).unwrap_err();
    assert_eq!(e.description(), "unknown signing key");
    // The same token while a refetch is allowed: the payload is read first, and refused.
    let src = keys_in_memory(set_of(&a), true);
    let e = done(rules().start(&junk, &src, now())).unwrap_err();
    assert_eq!(e.description(), "token claims are malformed");
}

#[test]
fn the_key_source_failing_is_answered_in_the_step() {
    let a = TestAuthority::new(ISS);
    let t = a.token().aud(RES).sign();
    let down = KeyError::Unavailable {
        retry_after: 7,
        reason: "connection refused".into(),
    };
    let src = Memory::new(Current::Failed(down.clone()));
    let e = done(rules().start(&t, &src, now())).unwrap_err();
    assert_eq!(
        (e.kind(), e.retry_after()),
        (ErrorKind::KeySourceUnavailable, Some(7))
    );
    let src = Memory::new(Current::Failed(KeyError::UnknownIssuer));
    let e = done(rules().start(&t, &src, now())).unwrap_err();
    assert_eq!(
        (e.kind(), e.description()),
        (ErrorKind::InvalidToken, "token issuer is not trusted")
    );
    // A fetch that fails: the resumed step says 503 with the source's Retry-After.
    let src = Memory::new(Current::Load);
    let Step::NeedKeys { resume, .. } = rules().start(&t, &src, now()) else {
        panic!("expected NeedKeys");
    };
    let e = done(resume.keys(Err(down))).unwrap_err();
    assert_eq!(e.retry_after(), Some(7));
}

#[test]
fn a_step_waiting_for_keys_never_shows_the_token() {
    let a = TestAuthority::new(ISS);
    let t = a.token().aud(RES).sign();
    let step = rules().start(&t, &Memory::new(Current::Load), now());
    let shown = format!("{step:?}");
    let signature = t.rsplit('.').next().unwrap();
    assert!(shown.contains("NeedKeys") && shown.contains(ISS), "{shown}");
    assert!(
        !shown.contains(signature) && !shown.contains(&t[..20]),
        "{shown}"
    );
}

/// The first step with the keys in memory and the cold path (nothing in memory, the keys
/// handed to the resumed step) give the same answer to every token, but one: a forged kid
/// with a junk payload, refused on the kid from memory and on the payload when cold (the
/// early refusal is what makes a forged-kid flood cheap).
#[test]
fn the_first_step_and_the_cold_path_agree() {
    let a = TestAuthority::new(ISS);
    let good = a.token().aud(RES).scope("mcp:read").sign();
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let cases = [
        ("valid", good, Ok("user-1".to_owned())),
        (
            "other subject",
            a.token().aud(RES).subject("u2").sign(),
            Ok("u2".to_owned()),
        ),
        (
            "expired",
            a.token().aud(RES).expires_in(-3600).sign(),
            Err("token expired"),
        ),
        (
            "not yet valid",
            a.token().aud(RES).claim("nbf", json!(now() + 3600)).sign(),
            Err("token not yet valid"),
        ),
        (
            "other audience",
            a.token().aud("https://elsewhere").sign(),
            Err("token audience is not this resource"),
        ),
        (
            "untrusted issuer",
            a.token()
                .aud(RES)
                .claim("iss", json!("https://evil.example.com"))
                .sign(),
            Err("token issuer is not trusted"),
        ),
        (
            "forged kid",
            a.token().aud(RES).kid("forged-1").sign(),
            Err("unknown signing key"),
        ),
        (
            "alg none",
            a.token().aud(RES).unsigned(),
            Err("token algorithm not allowed"),
        ),
        (
            "HS256",
            a.token().aud(RES).sign_hs256(b"secret"),
            Err("token algorithm not allowed"),
        ),
        (
            "tampered signature",
            String::from_utf8(tampered).unwrap(),
            Err("invalid token signature"),
        ),
        (
            "not a JWS",
            "abc.def".to_owned(),
            Err("token is not a compact JWS"),
        ),
    ];
    let set = set_of(&a);
    for (name, token, want) in cases {
        let warm = done(rules().start(&token, &keys_in_memory(set.clone(), false), now()));
        let cold = match rules().start(&token, &Memory::new(Current::Load), now()) {
            Step::NeedKeys { resume, .. } => done(resume.keys(Ok(set.clone()))),
            Step::Done(done) => done,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(description(&warm), description(&cold), "{name}");
        assert_eq!(description(&warm), want, "{name}");
    }
}

/// The state machine is the one path of every validator: a `StaticKeySource` always answers
/// from memory.
#[test]
fn a_static_source_is_always_decided_in_the_first_step() {
    let a = TestAuthority::new(ISS);
    let src = StaticKeySource::new().with_issuer(ISS, key_set(&a));
    let t = a.token().aud(RES).sign();
    assert!(done(rules().start(&t, &src, now())).is_ok());
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn per_issuer_entries_are_checked_when_the_rules_are_made() {
    let res = ResourceUri::parse(RES).unwrap();
    let entry = |iss: &str| (HeaderPolicy::default(), ClaimsPolicy::new(res.clone(), iss));
    assert_eq!(JwtRules::per_issuer([]).unwrap_err(), RulesError::NoIssuer);
    let mut nobody = entry(ISS);
    nobody.1.issuers.clear();
    assert_eq!(
        JwtRules::per_issuer([nobody]).unwrap_err(),
        RulesError::NoIssuer
    );
    assert_eq!(
        JwtRules::per_issuer([entry(ISS), entry("https://b.example"), entry(ISS)]).unwrap_err(),
        RulesError::DuplicateIssuer(ISS.to_owned())
    );
    let mut longer = entry("https://b.example");
    longer.0.max_token_len += 1;
    assert_eq!(
        JwtRules::per_issuer([entry(ISS), longer]).unwrap_err(),
        RulesError::TokenLength
    );
    let mut none = entry("https://b.example");
    none.0.algorithms.clear();
    assert_eq!(
        JwtRules::per_issuer([entry(ISS), none]).unwrap_err(),
        RulesError::NoAlgorithms("https://b.example".to_owned())
    );
    // The union of the header rules is what a token meets before its issuer is known.
    let mut es = entry(ISS);
    es.0.algorithms = vec![Algorithm::ES256];
    let mut rs = entry("https://b.example");
    rs.0.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
    let rules = JwtRules::per_issuer([es, rs]).unwrap();
    assert_eq!(
        rules.header().algorithms,
        [Algorithm::ES256, Algorithm::RS256, Algorithm::PS256]
    );
    assert_eq!(rules.position("https://b.example"), Some(1));
}

#[test]
fn with_several_entries_the_payload_issuer_picks_the_header_rules() {
    let a = TestAuthority::new(ISS);
    let b = TestAuthority::new("https://b.example");
    let res = ResourceUri::parse(RES).unwrap();
    let mut es = (HeaderPolicy::default(), ClaimsPolicy::new(res.clone(), ISS));
    es.0.algorithms = vec![Algorithm::ES256];
    let mut rs = (
        HeaderPolicy::default(),
        ClaimsPolicy::new(res, "https://b.example"),
    );
    rs.0.algorithms = vec![Algorithm::RS256];
    let rules = JwtRules::per_issuer([es, rs]).unwrap();
    let both = StaticKeySource::new()
        .with_issuer(ISS, key_set(&a))
        .with_issuer("https://b.example", key_set(&b));
    let at = |t: String| description(&done(rules.start(&t, &both, now())));
    let ok = || Ok("user-1".to_owned());
    assert_eq!(at(a.token().aud(RES).alg("ES256").sign()), ok());
    assert_eq!(at(b.token().aud(RES).alg("RS256").sign()), ok());
    // Each algorithm is in the union, but not in the other issuer's list.
    assert_eq!(
        at(a.token().aud(RES).alg("RS256").sign()),
        Err("token algorithm not allowed")
    );
    assert_eq!(
        at(b.token().aud(RES).alg("ES256").sign()),
        Err("token algorithm not allowed")
    );
}
