//! Where mcp-auth may be stricter than jsonwebtoken: the closed list of reasons, each with
//! its predicate on the input (never on mcp-auth's answer).

use super::{KID, LEEWAY, MAX_DEPTH, MAX_HEADER_LEN, MAX_TOKEN_LEN};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// Why mcp-auth may refuse a token jsonwebtoken accepts. Closed: a refusal no variant's
/// predicate explains is a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stricter {
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
pub(crate) fn reasons(
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
