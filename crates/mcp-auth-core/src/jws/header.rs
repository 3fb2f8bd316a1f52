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
            names.check(name)?;
            match slot {
                // `null` reads as absent, as before (`typ: null` is no `typ`).
                Some(slot) => *slot = m.next_value::<Option<Name<'de>>>()?.map(|n| n.0),
                None => {
                    m.next_value_seed(Checked::MEMBER)?;
                }
            }
        }
        Ok(h)
    }
}
