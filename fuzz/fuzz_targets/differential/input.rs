//! The structured input of the differential target: a header and a payload built around the
//! members both validators read (or raw bytes), and what to do with the signature.

use super::{ISS, KID, RES};
use libfuzzer_sys::arbitrary::{self, Arbitrary};

#[derive(Arbitrary, Debug)]
pub(crate) struct Input<'a> {
    pub(crate) header: Part<'a, HeaderSpec<'a>>,
    pub(crate) payload: Part<'a, PayloadSpec<'a>>,
    pub(crate) signature: SigMode,
    pub(crate) strict: bool,
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Part<'a, S> {
    Spec(S),
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(crate) enum SigMode {
    Valid,
    Flipped(u8),
    Empty,
}

#[derive(Arbitrary, Debug)]
pub(crate) struct HeaderSpec<'a> {
    alg: Opt<Alg>,
    typ: Opt<Typ>,
    kid: Opt<Kid<'a>>,
    extra: Vec<(Name<'a>, Val<'a>)>,
    rotate: u8,
}

#[derive(Arbitrary, Debug)]
pub(crate) struct PayloadSpec<'a> {
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
    pub(crate) fn bytes(&self) -> Vec<u8> {
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
    pub(crate) fn bytes(&self, now: i64) -> Vec<u8> {
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
