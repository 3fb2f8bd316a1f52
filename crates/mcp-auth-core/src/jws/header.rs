//! The JOSE header reading: `plain_header`, the fast read of the headers issuers write, and
//! the serde read for what it leaves to serde_json: the members read, every member name at
//! most once at any depth (escapes decoded), nesting within `MAX_DEPTH`, and `crit`/`b64`
//! noted as present whatever their value.

use crate::json::{Checked, Name, Names};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;

/// The JOSE header members read. Every member name at most once, at any depth, and at most
/// [`MAX_DEPTH`](crate::claims::MAX_DEPTH) levels of nesting (the rules of the claims set,
/// checked in the same read: the serde read below).
#[derive(Default)]
pub(super) struct RawHeader<'a> {
    pub(super) alg: Option<Cow<'a, str>>,
    pub(super) kid: Option<Cow<'a, str>>,
    pub(super) typ: Option<Cow<'a, str>>,
    /// `crit` is present, whatever its value (`null`, `false` and `[]` too).
    pub(super) crit: bool,
    /// `b64` is present, whatever its value.
    pub(super) b64: bool,
    /// An embedded `jwk` other than `null` is present: an access token never carries its own
    /// key (trusting one is the CVE-2018-0114 attack). Refused.
    pub(super) jwk: bool,
}

/// The JOSE header as most issuers write it, read without serde: `{"alg":"..","kid":"..",
/// "typ":".."}`, those members only, in any order, each at most once, no whitespace, values
/// without escapes or control characters. `None` for anything else (other members, `crit`,
/// escapes, whitespace, duplicates, non-UTF-8), which serde_json then parses, so a header
/// means the same whichever read it: this only saves serde's generic machinery (two thirds
/// of the cost of refusing a forged `kid`).
#[inline]
pub(super) fn plain_header(b: &[u8]) -> Option<RawHeader<'_>> {
    let mut h = RawHeader::default();
    let mut rest = b.strip_prefix(b"{\"")?;
    loop {
        let (key, tail) = rest.split_at(rest.iter().position(|&c| c == b'"')?);
        let tail = tail.strip_prefix(b"\":\"")?;
        let end = tail
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if tail[end] != b'"' {
            return None;
        }
        let value = std::str::from_utf8(&tail[..end]).ok()?;
        let slot = match key {
            b"alg" => &mut h.alg,
            b"kid" => &mut h.kid,
            b"typ" => &mut h.typ,
            _ => return None,
        };
        if slot.replace(Cow::Borrowed(value)).is_some() {
            return None;
        }
        match &tail[end + 1..] {
            b"}" => return Some(h),
            [b',', b'"', more @ ..] => rest = more,
            _ => return None,
        }
    }
}

impl<'de> Deserialize<'de> for RawHeader<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

/// The registered header parameters other than `alg`/`kid`/`typ` whose value is a string
/// (RFC 7515 §4.1.2-4.1.10, RFC 7516 §4.1.2-4.1.3, RFC 8555 §6.4; `x5c` is an array of
/// strings). mcp-auth never uses them (keys come only from the key source), but a header that
/// gives one the wrong type is not a JOSE header: refused, as other JOSE libraries refuse it
/// (found by the `fuzz/` differential against jsonwebtoken).
const REGISTERED_STRINGS: [&str; 9] = [
    "jku", "x5u", "x5t", "x5t#S256", "cty", "enc", "zip", "url", "nonce",
];

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RawHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let (mut h, mut names) = (RawHeader::default(), Names::new());
        while let Some(Name(name)) = m.next_key()? {
            let slot = match &*name {
                "alg" => Some(&mut h.alg),
                "kid" => Some(&mut h.kid),
                "typ" => Some(&mut h.typ),
                "crit" => {
                    h.crit = true;
                    None
                }
                "b64" => {
                    h.b64 = true;
                    None
                }
                _ => None,
            };
            let typed = REGISTERED_STRINGS.contains(&&*name);
            let (x5c, jwk) = (name == "x5c", name == "jwk");
            names.check(name)?;
            match slot {
                // `null` reads as absent, as before (`typ: null` is no `typ`).
                Some(slot) => *slot = m.next_value::<Option<Name<'de>>>()?.map(|n| n.0),
                None if typed => {
                    m.next_value::<Option<JsonString>>()?;
                }
                None if x5c => {
                    m.next_value::<Option<Vec<JsonString>>>()?;
                }
                // An embedded key, whatever it holds (`null` is no key, as in other JOSE
                // libraries): built only then, and refused by `check_header`.
                None if jwk => {
                    let v = m.next_value_seed(Checked {
                        build: true,
                        ..Checked::MEMBER
                    })?;
                    h.jwk = v.is_some_and(|v| !v.is_null());
                }
                None => {
                    m.next_value_seed(Checked::MEMBER)?;
                }
            }
        }
        Ok(h)
    }
}

/// A JSON string, checked and dropped (no allocation).
struct JsonString;

impl<'de> Deserialize<'de> for JsonString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = JsonString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<JsonString, E> {
                Ok(JsonString)
            }
        }
        d.deserialize_str(V)
    }
}
