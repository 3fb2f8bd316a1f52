//! Differential: mcp-auth's `JwtValidator` against `jsonwebtoken`, on tokens built from fuzzed
//! header and payload bytes (raw, or structured around the interesting members and the time
//! claims near a fixed `now`), signed with one known ES256 key (aws-lc-rs). Both get the same
//! key, algorithm, issuer, audience, leeway and time.
//!
//! The rule (issue 13): whenever mcp-auth accepts a token, jsonwebtoken accepts it too; a
//! token mcp-auth accepts and jsonwebtoken refuses is a finding (panic). mcp-auth is allowed
//! to be stricter only for the reasons in [`Stricter`], a closed list: each has a predicate on
//! the input (not on mcp-auth's answer), and a refusal by mcp-auth of a token jsonwebtoken
//! accepts that no predicate explains is a finding too.
//!
//! Clock: jsonwebtoken reads the system clock; mcp-auth's clock is set to
//! `jsonwebtoken::get_current_timestamp()` read once before both run. If the second ticks
//! before jsonwebtoken reads it, jsonwebtoken's `now` is one later: for `exp` that makes its
//! rule (`exp >= now - leeway`) exactly mcp-auth's (`now < exp + leeway`), for `nbf` one second
//! more lenient (covered by [`Stricter::NotYetValid`]). An input during which the clock moved
//! by more than one second is skipped.
#![no_main]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{DecodingKey, Validation};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mcp_auth::JwtValidator;
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::{Algorithm, HeaderPolicy, TypPolicy};
use mcp_auth_core::keys::StaticKeySource;
use mcp_auth_core::resource::ResourceUri;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

const ISS: &str = "https://as.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const KID: &str = "k1";
const LEEWAY: u64 = 60;
/// mcp-auth's default caps (`DEFAULT_MAX_TOKEN_LEN`, the JOSE header cap).
const MAX_TOKEN_LEN: usize = 8 * 1024;
const MAX_HEADER_LEN: usize = 2048;
/// mcp-auth's nesting cap for claims and header (issue 13 item 6).
const MAX_DEPTH: usize = 32;

/// Why mcp-auth may refuse a token jsonwebtoken accepts. Closed: a refusal no variant's
/// predicate explains is a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stricter {
    /// RFC 9068 §4 / RFC 8725 §3.11: `typ` must be `at+jwt` (or, with `AllowJwt`, `JWT` or
    /// absent). jsonwebtoken does not look at `typ`.
    Typ,
    /// RFC 7515 §4.1.11: a `crit` header parameter is refused whatever its value (we
    /// understand no extension; issue 13 item 5).
    Crit,
    /// RFC 7797 §3: `b64` is never used in access tokens, refused whatever its value.
    B64,
    /// RFC 7515 §4.1.3: a header that embeds a key (`jwk`) is refused; an access token never
    /// carries its own verification key (CVE-2018-0114).
    EmbeddedJwk,
    /// RFC 7519 §4 (and RFC 7515 §4): a duplicate member name, at any depth, is refused
    /// (issue 13 item 6). jsonwebtoken refuses only duplicates of the claims it reads.
    DuplicateMember,
    /// Header or claims nested deeper than 32 levels (issue 13 item 6).
    TooDeep,
    /// RFC 7519 §7.2: the claims set is a JSON object. serde (jsonwebtoken) also reads a
    /// struct from an array.
    NotAnObject,
    /// RFC 9068 §2.2: `sub`, `client_id`, `iat` and `jti` are required (strict policy).
    Rfc9068Claims,
    /// A claim mcp-auth reads has a type RFC 7519 / RFC 9068 / RFC 8693 does not give it
    /// (`iss` an array, `sub` a number, `scp` not strings, `iat` not a number, ...);
    /// jsonwebtoken ignores the claims it does not validate and takes an `iss` array.
    ClaimType,
    /// RFC 6749 §3.3: `scope` (and each `scp` entry) is space-delimited scope-tokens.
    ScopeSyntax,
    /// RFC 9449 §7.2 / RFC 8705: a sender-constrained token (`cnf`) without a proof of
    /// possession is refused.
    Cnf,
    /// RFC 7519 §4.1.6: `iat` in the future beyond the leeway is refused (jsonwebtoken does
    /// not check `iat`).
    IssuedInFuture,
    /// A NumericDate that is negative or at least 1e15 (year 33658) is refused; jsonwebtoken
    /// takes any u64.
    DateRange,
    /// RFC 7519 §4.1.4: expired "on or after" `exp` (+ leeway), with a fractional `exp`
    /// rounded down; jsonwebtoken accepts at `exp + leeway` and rounds to nearest.
    Expired,
    /// RFC 7519 §4.1.5: not before `nbf` (- leeway), a fractional `nbf` rounded up;
    /// jsonwebtoken rounds to nearest and its clock may read one second later.
    NotYetValid,
    /// RFC 7515 §4.1.4: the `kid` names no key of the issuer (jsonwebtoken is handed the key
    /// and ignores `kid`).
    UnknownKid,
    /// The token is over mcp-auth's length cap (8 KiB) or its header over 2 KiB decoded.
    TooLarge,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    header: Part<'a, HeaderSpec<'a>>,
    payload: Part<'a, PayloadSpec<'a>>,
    signature: SigMode,
    strict: bool,
}

#[derive(Arbitrary, Debug)]
enum Part<'a, S> {
    Spec(S),
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum SigMode {
    Valid,
    Flipped(u8),
    Empty,
}

#[derive(Arbitrary, Debug)]
struct HeaderSpec<'a> {
    alg: Opt<Alg>,
    typ: Opt<Typ>,
    kid: Opt<Kid<'a>>,
    extra: Vec<(Name<'a>, Val<'a>)>,
    rotate: u8,
}

#[derive(Arbitrary, Debug)]
struct PayloadSpec<'a> {
    iss: Opt<Iss<'a>>,
    aud: Opt<Aud<'a>>,
    exp: Opt<Time>,
    nbf: Opt<Time>,
    iat: Opt<Time>,
    sub: Opt<Val<'a>>,
    client_id: Opt<Val<'a>>,
    jti: Opt<Val<'a>>,
    scope: Opt<Val<'a>>,
    scp: Opt<Val<'a>>,
    cnf: Opt<Val<'a>>,
    extra: Vec<(Name<'a>, Val<'a>)>,
    nested: u8,
    rotate: u8,
}

/// A member that is absent, `null`, or has a value.
#[derive(Arbitrary, Debug)]
enum Opt<T> {
    Absent,
    Null,
    Some(T),
}

#[derive(Arbitrary, Debug)]
enum Alg {
    Es256,
    Rs256,
    Es384,
    None,
    Hs256,
    Lower,
    Other(u8),
}

#[derive(Arbitrary, Debug)]
enum Typ {
    AtJwt,
    AppAtJwt,
    AtJwtUpper,
    Jwt,
    JwtLower,
    Other(u8),
    Number,
}

#[derive(Arbitrary, Debug)]
enum Kid<'a> {
    Ours,
    Other(&'a str),
    Number,
}

#[derive(Arbitrary, Debug)]
enum Iss<'a> {
    Ours,
    OursSlash,
    Other(&'a str),
    Array,
    Number,
}

#[derive(Arbitrary, Debug)]
enum Aud<'a> {
    Ours,
    OursSlash,
    Other(&'a str),
    ArrayWithOurs(Vec<&'a str>),
    ArrayWithoutOurs(Vec<&'a str>),
    ArrayMixed,
    Empty,
    Number,
}

/// A time claim relative to the instant both validators read.
#[derive(Arbitrary, Debug)]
enum Time {
    Rel(i16),
    RelFrac(i16, u8),
    Abs(i64),
    AbsU(u64),
    Float(f64),
    Str,
    Neg(u16),
}

#[derive(Arbitrary, Debug)]
enum Name<'a> {
    Crit,
    B64,
    Jku,
    Jwk,
    X5u,
    X5c,
    X5t,
    X5tS256,
    Cty,
    Enc,
    Zip,
    Url,
    Nonce,
    Alg,
    Kid,
    Typ,
    Iss,
    Aud,
    Exp,
    Nbf,
    Sub,
    Scope,
    Custom(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Scope(Vec<ScopeWord>),
    StrArray(Vec<&'a str>),
    EmptyArray,
    EmptyObject,
    Object(Vec<(&'a str, i32)>),
    Raw(&'a str),
}

#[derive(Arbitrary, Debug)]
enum ScopeWord {
    Read,
    Write,
    Quote,
    Backslash,
    Empty,
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

impl Name<'_> {
    fn text(&self) -> String {
        q(match self {
            Self::Crit => "crit",
            Self::B64 => "b64",
            Self::Jku => "jku",
            Self::Jwk => "jwk",
            Self::X5u => "x5u",
            Self::X5c => "x5c",
            Self::X5t => "x5t",
            Self::X5tS256 => "x5t#S256",
            Self::Cty => "cty",
            Self::Enc => "enc",
            Self::Zip => "zip",
            Self::Url => "url",
            Self::Nonce => "nonce",
            Self::Alg => "alg",
            Self::Kid => "kid",
            Self::Typ => "typ",
            Self::Iss => "iss",
            Self::Aud => "aud",
            Self::Exp => "exp",
            Self::Nbf => "nbf",
            Self::Sub => "sub",
            Self::Scope => "scope",
            Self::Custom(s) => s,
        })
    }
}

impl Val<'_> {
    fn text(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => serde_json::to_string(f).unwrap(),
            Self::Str(s) => q(s),
            Self::Scope(words) => q(&words
                .iter()
                .map(|w| match w {
                    ScopeWord::Read => "mcp:read",
                    ScopeWord::Write => "mcp:write",
                    ScopeWord::Quote => "a\"b",
                    ScopeWord::Backslash => "a\\b",
                    ScopeWord::Empty => "",
                })
                .collect::<Vec<_>>()
                .join(" ")),
            Self::StrArray(v) => {
                format!("[{}]", v.iter().map(|s| q(s)).collect::<Vec<_>>().join(","))
            }
            Self::EmptyArray => "[]".into(),
            Self::EmptyObject => "{}".into(),
            Self::Object(m) => format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{}:{v}", q(k)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Self::Raw(s) => (*s).to_owned(),
        }
    }
}

fn member<T>(out: &mut Vec<String>, name: &str, v: &Opt<T>, f: impl Fn(&T) -> String) {
    match v {
        Opt::Absent => {}
        Opt::Null => out.push(format!("{}:null", q(name))),
        Opt::Some(t) => out.push(format!("{}:{}", q(name), f(t))),
    }
}

fn object(mut members: Vec<String>, rotate: u8) -> Vec<u8> {
    if !members.is_empty() {
        let n = usize::from(rotate) % members.len();
        members.rotate_left(n);
    }
    format!("{{{}}}", members.join(",")).into_bytes()
}

fn time(t: &Time, now: i64) -> String {
    match t {
        Time::Rel(d) => (now + i64::from(*d)).to_string(),
        Time::RelFrac(d, f) => format!("{}.{:03}", now + i64::from(*d), u16::from(*f) * 1000 / 256),
        Time::Abs(a) => a.to_string(),
        Time::AbsU(a) => a.to_string(),
        Time::Float(f) => serde_json::to_string(f).unwrap(),
        Time::Str => q(&now.to_string()),
        Time::Neg(n) => format!("-{n}"),
    }
}

impl HeaderSpec<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut m = Vec::new();
        member(&mut m, "alg", &self.alg, |a| match a {
            Alg::Es256 => q("ES256"),
            Alg::Rs256 => q("RS256"),
            Alg::Es384 => q("ES384"),
            Alg::None => q("none"),
            Alg::Hs256 => q("HS256"),
            Alg::Lower => q("es256"),
            Alg::Other(b) => q(&format!("ES256{}", char::from(*b))),
        });
        member(&mut m, "typ", &self.typ, |t| match t {
            Typ::AtJwt => q("at+jwt"),
            Typ::AppAtJwt => q("application/at+jwt"),
            Typ::AtJwtUpper => q("AT+JWT"),
            Typ::Jwt => q("JWT"),
            Typ::JwtLower => q("jwt"),
            Typ::Other(b) => q(&format!("at+jwt{}", char::from(*b))),
            Typ::Number => "1".into(),
        });
        member(&mut m, "kid", &self.kid, |k| match k {
            Kid::Ours => q(KID),
            Kid::Other(s) => q(s),
            Kid::Number => "1".into(),
        });
        for (n, v) in &self.extra {
            m.push(format!("{}:{}", n.text(), v.text()));
        }
        object(m, self.rotate)
    }
}

impl PayloadSpec<'_> {
    fn bytes(&self, now: i64) -> Vec<u8> {
        let mut m = Vec::new();
        member(&mut m, "iss", &self.iss, |i| match i {
            Iss::Ours => q(ISS),
            Iss::OursSlash => q(&format!("{ISS}/")),
            Iss::Other(s) => q(s),
            Iss::Array => format!("[{}]", q(ISS)),
            Iss::Number => "7".into(),
        });
        member(&mut m, "aud", &self.aud, |a| match a {
            Aud::Ours => q(RES),
            Aud::OursSlash => q(&format!("{RES}/")),
            Aud::Other(s) => q(s),
            Aud::ArrayWithOurs(v) => {
                let mut v: Vec<String> = v.iter().map(|s| q(s)).collect();
                v.push(q(RES));
                format!("[{}]", v.join(","))
            }
            Aud::ArrayWithoutOurs(v) => {
                format!("[{}]", v.iter().map(|s| q(s)).collect::<Vec<_>>().join(","))
            }
            Aud::ArrayMixed => format!("[{},1]", q(RES)),
            Aud::Empty => "[]".into(),
            Aud::Number => "1".into(),
        });
        member(&mut m, "exp", &self.exp, |t| time(t, now));
        member(&mut m, "nbf", &self.nbf, |t| time(t, now));
        member(&mut m, "iat", &self.iat, |t| time(t, now));
        member(&mut m, "sub", &self.sub, Val::text);
        member(&mut m, "client_id", &self.client_id, Val::text);
        member(&mut m, "jti", &self.jti, Val::text);
        member(&mut m, "scope", &self.scope, Val::text);
        member(&mut m, "scp", &self.scp, Val::text);
        member(&mut m, "cnf", &self.cnf, Val::text);
        for (n, v) in &self.extra {
            m.push(format!("{}:{}", n.text(), v.text()));
        }
        if self.nested > 0 {
            let d = usize::from(self.nested % 48);
            m.push(format!("\"deep\":{}1{}", "[".repeat(d), "]".repeat(d)));
        }
        object(m, self.rotate)
    }
}

struct Setup {
    key_pair: EcdsaKeyPair,
    rng: SystemRandom,
    decoding: DecodingKey,
    strict: JwtValidator,
    lax: JwtValidator,
}

static NOW: AtomicI64 = AtomicI64::new(0);

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key_pair.public_key().as_ref();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": KID, "alg": "ES256", "use": "sig"
        }]});
        let jwks = serde_json::to_vec(&jwks).unwrap();
        let decoding = DecodingKey::from_ec_components(&x, &y).unwrap();
        let validator = |typ, rfc9068| {
            let set = KeySet::from_jwks(&jwks, &[Algorithm::ES256], 8)
                .unwrap()
                .keys;
            let keys = Arc::new(StaticKeySource::new().with_issuer(ISS, set));
            let header = HeaderPolicy {
                algorithms: vec![Algorithm::ES256],
                typ,
                max_token_len: MAX_TOKEN_LEN,
            };
            let mut claims = ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS);
            claims.leeway = LEEWAY;
            claims.require_rfc9068_claims = rfc9068;
            JwtValidator::with_options(
                keys,
                header,
                claims,
                Arc::new(|| NOW.load(Ordering::SeqCst)),
                0,
            )
        };
        Setup {
            key_pair,
            rng,
            decoding,
            strict: validator(TypPolicy::Strict, true),
            lax: validator(TypPolicy::AllowJwt, false),
        }
    })
}

fn jwt_validation(strict: bool) -> Validation {
    let mut v = Validation::new(jsonwebtoken::Algorithm::ES256);
    v.leeway = LEEWAY;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.set_issuer(&[ISS]);
    v.set_audience(&[RES]);
    if strict {
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    } else {
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
    }
    v
}

/// Duplicate member names (any depth) and nesting depth of a JSON text, `None` if it is not
/// JSON.
fn scan(bytes: &[u8]) -> Option<(bool, usize)> {
    struct Scan(bool, usize);
    struct V<'s>(&'s mut Scan, usize);
    impl<'de> de::DeserializeSeed<'de> for V<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for V<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            let depth = self.1 + 1;
            self.0.1 = self.0.1.max(depth);
            while a.next_element_seed(V(&mut *self.0, depth))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            let depth = self.1 + 1;
            self.0.1 = self.0.1.max(depth);
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = a.next_key::<String>()? {
                if !seen.insert(k) {
                    self.0.0 = true;
                }
                a.next_value_seed(V(&mut *self.0, depth))?;
            }
            Ok(())
        }
    }
    let mut s = Scan(false, 0);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de::DeserializeSeed::deserialize(V(&mut s, 0), &mut de).ok()?;
    de.end().ok()?;
    Some((s.0, s.1))
}

/// RFC 6749 §3.3 `scope = scope-token *( SP scope-token )`, `scope-token = 1*NQCHAR`.
fn scope_grammar(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        })
}

/// A NumericDate as mcp-auth's rules read it: `exp` rounded down, `nbf`/`iat` up.
fn date(v: &Value, up: bool) -> Option<f64> {
    v.as_f64().map(|f| if up { f.ceil() } else { f.floor() })
}

/// Every documented reason that holds for this input.
fn reasons(
    header: &[u8],
    payload: &[u8],
    token_len: usize,
    strict: bool,
    now: i64,
) -> Vec<Stricter> {
    use Stricter::*;
    let mut out = Vec::new();
    if token_len > MAX_TOKEN_LEN || header.len() > MAX_HEADER_LEN {
        out.push(TooLarge);
    }
    for part in [header, payload] {
        match scan(part) {
            Some((dup, depth)) => {
                if dup {
                    out.push(DuplicateMember);
                }
                if depth > MAX_DEPTH {
                    out.push(TooDeep);
                }
            }
            None => out.push(NotAnObject),
        }
    }
    let h: Value = serde_json::from_slice(header).unwrap_or(Value::Null);
    let typ = h.get("typ").and_then(Value::as_str);
    let at = typ.is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    let typ_ok = at || (!strict && typ.is_none_or(|t| t.eq_ignore_ascii_case("jwt")));
    if !typ_ok {
        out.push(Typ);
    }
    if h.get("crit").is_some() {
        out.push(Crit);
    }
    if h.get("b64").is_some() {
        out.push(B64);
    }
    if h.get("jwk").is_some_and(|j| !j.is_null()) {
        out.push(EmbeddedJwk);
    }
    if h.get("kid")
        .and_then(Value::as_str)
        .is_some_and(|k| k != KID)
    {
        out.push(UnknownKid);
    }
    let p: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let Some(c) = p.as_object() else {
        out.push(NotAnObject);
        return out;
    };
    let present = |n: &str| c.get(n).is_some_and(|v| !v.is_null());
    if strict
        && !["sub", "client_id", "iat", "jti"]
            .iter()
            .all(|n| present(n))
    {
        out.push(Rfc9068Claims);
    }
    let string_or_null = |n: &str| c.get(n).is_none_or(|v| v.is_null() || v.is_string());
    let numeric_or_null = |n: &str| c.get(n).is_none_or(|v| v.is_null() || v.is_number());
    let scp_ok = match c.get("scp") {
        None | Some(Value::Null | Value::String(_)) => true,
        Some(Value::Array(a)) => a.iter().all(Value::is_string),
        Some(_) => false,
    };
    if !["iss", "sub", "jti", "client_id", "azp", "scope"]
        .iter()
        .all(|n| string_or_null(n))
        || !["exp", "nbf", "iat"].iter().all(|n| numeric_or_null(n))
        || !scp_ok
    {
        out.push(ClaimType);
    }
    let scopes: Vec<&str> = c
        .get("scope")
        .and_then(Value::as_str)
        .into_iter()
        .chain(match c.get("scp") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        })
        .collect();
    if scopes.iter().any(|s| !scope_grammar(s)) {
        out.push(ScopeSyntax);
    }
    if present("cnf") {
        out.push(Cnf);
    }
    let (now_f, l) = (now as f64, LEEWAY as f64);
    for n in ["exp", "nbf", "iat"] {
        if let Some(f) = c.get(n).and_then(Value::as_f64)
            && !(0.0..1e15).contains(&f)
        {
            out.push(DateRange);
        }
    }
    if let Some(iat) = c.get("iat").and_then(|v| date(v, true))
        && iat > now_f + l
    {
        out.push(IssuedInFuture);
    }
    if let Some(exp) = c.get("exp").and_then(|v| date(v, false))
        && now_f >= exp + l
    {
        out.push(Expired);
    }
    if let Some(nbf) = c.get("nbf").and_then(|v| date(v, true))
        && nbf > now_f + l
    {
        out.push(NotYetValid);
    }
    out
}

/// `{now}`, `{now+N}` and `{now-N}` in a text seed become the instant both validators use.
fn subst(text: &[u8], now: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.windows(4).position(|w| w == b"{now") {
        out.extend_from_slice(&rest[..i]);
        let tail = &rest[i + 4..];
        let Some(end) = tail.iter().position(|&b| b == b'}') else {
            out.extend_from_slice(&rest[i..]);
            return out;
        };
        let delta = std::str::from_utf8(&tail[..end]).ok().and_then(|d| {
            if d.is_empty() {
                Some(0)
            } else {
                d.parse::<i64>().ok()
            }
        });
        match delta {
            Some(d) => out.extend_from_slice(now.saturating_add(d).to_string().as_bytes()),
            None => out.extend_from_slice(&rest[i..i + 4 + end + 1]),
        }
        rest = &tail[end + 1..];
    }
    out.extend_from_slice(rest);
    out
}

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

// Two input forms: `JSON` seeds a human can write (`JSON <flags>` line, where `S` is the
// strict policy, `F` a flipped and `E` an empty signature; the header line; the payload),
// and anything else read as a structured [`Input`].
fuzz_target!(|data: &[u8]| {
    let s = setup();
    let now_u = jsonwebtoken::get_current_timestamp();
    let now = i64::try_from(now_u).unwrap();
    NOW.store(now, Ordering::SeqCst);
    let (header, payload, signature, strict) = if let Some(rest) = data.strip_prefix(b"JSON") {
        let (flags, rest) = line(rest);
        let (h, p) = line(rest);
        let sig = if flags.contains(&b'F') {
            SigMode::Flipped(7)
        } else if flags.contains(&b'E') {
            SigMode::Empty
        } else {
            SigMode::Valid
        };
        (subst(h, now), subst(p, now), sig, flags.contains(&b'S'))
    } else {
        let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
            return;
        };
        let header = match &input.header {
            Part::Spec(h) => h.bytes(),
            Part::Raw(b) => b.to_vec(),
        };
        let payload = match &input.payload {
            Part::Spec(p) => p.bytes(now),
            Part::Raw(b) => b.to_vec(),
        };
        (header, payload, input.signature, input.strict)
    };
    let signing_input = format!("{}.{}", B64.encode(&header), B64.encode(&payload));
    let mut sig = s
        .key_pair
        .sign(&s.rng, signing_input.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec();
    match signature {
        SigMode::Valid => {}
        SigMode::Flipped(i) => {
            let i = usize::from(i) % sig.len();
            sig[i] ^= 1;
        }
        SigMode::Empty => sig.clear(),
    }
    let token = format!("{signing_input}.{}", B64.encode(&sig));

    let validator = if strict { &s.strict } else { &s.lax };
    let ours = validator
        .validate_token_now(&token)
        .expect("a static key source answers from memory");
    let theirs =
        jsonwebtoken::decode::<de::IgnoredAny>(&token, &s.decoding, &jwt_validation(strict));
    if jsonwebtoken::get_current_timestamp() > now_u + 1 {
        return; // the clock moved too far during this input to compare
    }
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if std::env::var_os("DIFF_DEBUG").is_some() {
        // For reading what a seed does: `DIFF_DEBUG=1 <binary> fuzz/seeds/differential/*`.
        eprintln!(
            "mcp-auth: {:?}; jsonwebtoken: {:?}; reasons: {:?}",
            ours.as_ref().map(|_| "accept").map_err(|e| e.description()),
            theirs
                .as_ref()
                .map(|_| "accept")
                .map_err(|e| e.kind().clone()),
            reasons(&header, &payload, token.len(), strict, now)
        );
    }
    match (&ours, &theirs) {
        (Ok(_), Err(e)) => panic!(
            "FINDING: mcp-auth accepts a token jsonwebtoken refuses ({e:?}).\nheader: {}\npayload: {}\nstrict: {strict}",
            show(&header),
            show(&payload),
        ),
        (Err(e), Ok(_)) => {
            let why = reasons(&header, &payload, token.len(), strict, now);
            assert!(
                !why.is_empty(),
                "FINDING: jsonwebtoken accepts a token mcp-auth refuses ({:?}) for no documented reason.\nheader: {}\npayload: {}\nstrict: {strict}",
                e.description(),
                show(&header),
                show(&payload),
            );
        }
        (Ok(_), Ok(_)) => {
            assert!(
                matches!(signature, SigMode::Valid),
                "a bad signature accepted"
            );
        }
        (Err(_), Err(_)) => {}
    }
});
