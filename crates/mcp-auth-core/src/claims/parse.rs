//! Parsing a claims set: the registered claims into their fields, every other member checked
//! (duplicates, depth) in the same pass, and the claims a [`ClaimMapping`] names captured.

use super::Claims;
use super::mapping::ClaimMapping;
use serde::{Deserialize, Deserializer};

/// The registered claims, in the order of the bits of `ClaimsVisitor`'s `seen` mask.
pub(super) const REGISTERED: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "azp",
    "scope",
    "scp",
    "cnf",
];

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ClaimsVisitor(None))
    }
}

/// Whether `name` is one of the claims [`Claims`] has a field for.
pub(super) fn is_registered(name: &str) -> bool {
    REGISTERED.contains(&name)
}

/// Reads the registered claims and checks every other member (duplicates at any depth, the
/// depth cap, values as `serde_json::Value` reads them) in the same pass, without keeping it,
/// except the claims the mapping captures.
pub(super) struct ClaimsVisitor<'m>(pub(super) Option<&'m ClaimMapping>);

impl<'de> serde::de::Visitor<'de> for ClaimsVisitor<'_> {
    type Value = Claims;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JWT claims set (a JSON object)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Claims, A::Error> {
        use crate::json::{Checked, DUPLICATE, Name, Names};
        struct Aud(Option<Vec<String>>);
        impl<'de> Deserialize<'de> for Aud {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                one_or_many(d).map(Self)
            }
        }
        struct Date(Option<i64>);
        impl<'de> Deserialize<'de> for Date {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                numeric_date(d).map(Self)
            }
        }
        struct DateUp(Option<i64>);
        impl<'de> Deserialize<'de> for DateUp {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                numeric_date_up(d).map(Self)
            }
        }
        let (mut c, mut seen, mut others) = (Claims::default(), 0u16, Names::new());
        let mut captured = self.0.map(ClaimMapping::captured);
        while let Some(Name(name)) = m.next_key()? {
            let Some(i) = REGISTERED.iter().position(|r| *r == name) else {
                let slot = self.0.and_then(|map| map.capture_slot(&name));
                others.check(name)?;
                match (slot, &mut captured) {
                    (Some(slot), Some(captured)) => {
                        let v = m.next_value_seed(Checked {
                            build: true,
                            ..Checked::MEMBER
                        })?;
                        captured.set(slot, v);
                    }
                    _ => {
                        m.next_value_seed(Checked::MEMBER)?;
                    }
                }
                continue;
            };
            if seen & (1 << i) != 0 {
                return Err(serde::de::Error::custom(DUPLICATE));
            }
            seen |= 1 << i;
            match i {
                0 => c.iss = m.next_value()?,
                1 => c.sub = m.next_value()?,
                2 => c.aud = m.next_value::<Aud>()?.0,
                3 => c.exp = m.next_value::<Date>()?.0,
                4 => c.nbf = m.next_value::<DateUp>()?.0,
                5 => c.iat = m.next_value::<DateUp>()?.0,
                6 => c.jti = m.next_value()?,
                7 => c.client_id = m.next_value()?,
                8 => c.azp = m.next_value()?,
                9 => c.scope = m.next_value()?,
                10 => c.scp = m.next_value::<Aud>()?.0,
                _ => {
                    let cnf = m.next_value_seed(Checked {
                        build: true,
                        ..Checked::MEMBER
                    })?;
                    // `"cnf": null` is no confirmation, as an absent `cnf`.
                    c.cnf = cnf.filter(|v| !v.is_null());
                }
            }
        }
        if let (Some(map), Some(captured)) = (self.0, captured) {
            c.mapped = map
                .resolve(&c, captured)
                .map_err(serde::de::Error::custom)?;
        }
        Ok(c)
    }
}

/// A string or an array of strings. A visitor, not `#[serde(untagged)]`, which buffers the
/// value before trying each form (measurable on every token).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct OneOrMany;
    impl<'de> serde::de::Visitor<'de> for OneOrMany {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![v.to_owned()]))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(vec![v]))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
            while let Some(s) = seq.next_element::<String>()? {
                v.push(s);
            }
            Ok(Some(v))
        }
    }
    d.deserialize_option(OneOrMany)
}

/// A NumericDate (RFC 7519 §2) in `[0, 1e15)`: a date before 1970 is no date an issuer
/// writes, and refusing it keeps every accepted token acceptable to any validator that reads
/// NumericDate as unsigned (jsonwebtoken does; found by `fuzz/` differential). A fraction is
/// rounded towards refusal: `exp` down ([`numeric_date`]), `nbf` and `iat` up
/// ([`numeric_date_up`]), so `nbf: T.5` is not accepted before `T + 1` (RFC 7519 §4.1.5).
fn numeric_date_rounded<'de, D: Deserializer<'de>>(
    d: D,
    round: fn(f64) -> f64,
) -> Result<Option<i64>, D::Error> {
    let v = Option::<f64>::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(f) if f.is_finite() && (0.0..1e15).contains(&f) => Ok(Some(round(f) as i64)),
        Some(_) => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

/// `exp`: a fraction rounded down (expires no later than it says).
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    numeric_date_rounded(d, f64::floor)
}

/// `nbf`, `iat`: a fraction rounded up (valid no earlier than it says).
fn numeric_date_up<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    numeric_date_rounded(d, f64::ceil)
}
