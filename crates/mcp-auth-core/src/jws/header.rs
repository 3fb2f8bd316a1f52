//! The serde read of the JOSE header, for what `plain_header` leaves to serde_json: the
//! members read, every member name at most once at any depth (escapes decoded), nesting
//! within `MAX_DEPTH`, and `crit`/`b64` noted as present whatever their value.

use super::RawHeader;
use crate::json::{Checked, Name, Names};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

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
