//! Small serde helpers shared by the parsers of attacker-supplied JSON.
//!
//! The JSON rules of the JOSE header and the claims set (and of JWKS documents): a member name
//! appears at most once in each object, at any depth (RFC 7519 §4 and RFC 7515 §4 allow a
//! recipient to reject duplicates; JSON parsers disagree on which one wins, so a claim a
//! handler checks must not depend on that), and arrays and objects nest at most
//! [`MAX_DEPTH`] levels. Both are checked by [`Checked`] while serde_json reads the document
//! once, with no second tree.

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// The deepest nesting of arrays and objects accepted, the top-level object being level 1.
/// serde_json itself stops at 128, so a document it can read is never refused later by a
/// second read (`Claims::extra`).
pub(crate) const MAX_DEPTH: usize = 32;

/// The message of the error [`Checked`] gives for a duplicate member name.
pub(crate) const DUPLICATE: &str = "duplicate member name";
/// The message of the error [`Checked`] gives for nesting deeper than [`MAX_DEPTH`].
pub(crate) const TOO_DEEP: &str = "nested too deeply";

/// An optional string borrowed from the input when it has no escapes, owned otherwise.
/// `#[serde(borrow)]` on an `Option<Cow<str>>` field still allocates (serde borrows a `Cow`
/// only as a field of its own), and a JOSE header is decoded for every token, forged ones too.
pub(crate) fn borrowed_or_owned<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<Name<'de>>::deserialize(d)?.map(|f| f.0))
}

/// A string (a member name), borrowed from the input when it has no escapes.
#[derive(Deserialize)]
pub(crate) struct Name<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

/// Object member names seen so far, to refuse a duplicate. The first few are kept inline
/// (no allocation for the objects tokens carry); a large object moves to a hash set, so a
/// payload of thousands of names costs linear time, not quadratic.
pub(crate) struct Names<'de> {
    inline: [Cow<'de, str>; INLINE],
    len: usize,
    spill: Option<HashSet<Cow<'de, str>>>,
}

const INLINE: usize = 8;

impl<'de> Names<'de> {
    pub(crate) fn new() -> Self {
        Self {
            inline: Default::default(),
            len: 0,
            spill: None,
        }
    }

    /// Records `name`; `false` if it was already there.
    pub(crate) fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.spill {
            return set.insert(name);
        }
        if self.inline[..self.len].contains(&name) {
            return false;
        }
        if self.len < INLINE {
            self.inline[self.len] = name;
            self.len += 1;
        } else {
            let mut set: HashSet<Cow<'de, str>> =
                self.inline.iter_mut().map(std::mem::take).collect();
            set.insert(name);
            self.spill = Some(set);
        }
        true
    }

    /// Records `name`, failing with the duplicate error if it was already there.
    pub(crate) fn check<E: serde::de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        if self.insert(name) {
            Ok(())
        } else {
            Err(E::custom(DUPLICATE))
        }
    }
}

/// A JSON value checked for duplicate member names and depth, and read as
/// [`serde_json::Value`] would read it (numbers, strings and escapes decoded, so whatever
/// passes here a later `Value` parse of the same bytes takes too).
///
/// `depth` is the level an array or object at this place would have (a member of the
/// top-level object: 2). With `build`, the value is returned as a `Value`; without, nothing
/// is allocated for it and `None` is returned.
#[derive(Clone, Copy)]
pub(crate) struct Checked {
    pub(crate) depth: usize,
    pub(crate) build: bool,
}

impl Checked {
    /// The value of a member of the top-level object, only checked.
    pub(crate) const MEMBER: Self = Self {
        depth: 2,
        build: false,
    };

    fn enter<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth > MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(Self {
            depth: self.depth + 1,
            build: self.build,
        })
    }

    fn leaf(self, v: impl FnOnce() -> serde_json::Value) -> Option<serde_json::Value> {
        self.build.then(v)
    }
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = Option<serde_json::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Option<serde_json::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.leaf(|| v.into()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.leaf(|| v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.leaf(|| v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // serde_json gives only finite floats (a `Value` refuses the others the same way).
        serde_json::Number::from_f64(v)
            .map(|n| self.leaf(|| n.into()))
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.leaf(|| v.into()))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.leaf(|| serde_json::Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let inner = self.enter()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            if let Some(v) = v {
                out.push(v);
            }
        }
        Ok(self.leaf(|| out.into()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let inner = self.enter()?;
        let mut names = Names::new();
        let mut out = serde_json::Map::new();
        while let Some(Name(name)) = map.next_key()? {
            let key = self.build.then(|| name.clone().into_owned());
            names.check(name)?;
            if let (Some(k), Some(v)) = (key, map.next_value_seed(inner)?) {
                out.insert(k, v);
            }
        }
        Ok(self.leaf(|| out.into()))
    }
}

/// The whole of `json` checked (duplicates, depth) by one serde_json read, for documents
/// parsed into a `Value` afterwards (JWKS). `Err` carries serde_json's error.
pub(crate) fn check_slice(json: &[u8]) -> Result<(), serde_json::Error> {
    let mut d = serde_json::Deserializer::from_slice(json);
    Checked {
        depth: 1,
        build: false,
    }
    .deserialize(&mut d)?;
    d.end()
}

/// Whether a serde_json error is one of [`Checked`]'s: `Some(DUPLICATE)` or `Some(TOO_DEEP)`.
pub(crate) fn checked_error(e: &serde_json::Error) -> Option<&'static str> {
    if !e.is_data() {
        return None;
    }
    let msg = e.to_string();
    [DUPLICATE, TOO_DEEP]
        .into_iter()
        .find(|m| msg.starts_with(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<(), Option<&'static str>> {
        check_slice(s.as_bytes()).map_err(|e| checked_error(&e))
    }

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn depth_is_counted_from_the_top_level() {
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(check(&nested(MAX_DEPTH + 1)), Err(Some(TOO_DEEP)));
        // Objects count as arrays do, and serde_json's own limit (128) is never reached.
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        assert_eq!(check(&objects(MAX_DEPTH)), Ok(()));
        assert_eq!(check(&objects(MAX_DEPTH + 1)), Err(Some(TOO_DEEP)));
        assert_eq!(check(&nested(1000)), Err(Some(TOO_DEEP)));
    }

    #[test]
    fn duplicates_are_found_at_any_depth_and_after_escapes() {
        assert_eq!(check(r#"{"a":1,"b":2}"#), Ok(()));
        assert_eq!(check(r#"{"a":1,"a":2}"#), Err(Some(DUPLICATE)));
        assert_eq!(check(r#"{"a":1,"\u0061":2}"#), Err(Some(DUPLICATE)));
        assert_eq!(check(r#"{"x":[{"a":1,"a":1}]}"#), Err(Some(DUPLICATE)));
        // Same names in different objects are fine.
        assert_eq!(
            check(r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#),
            Ok(())
        );
        // Past the inline names, in the hash set.
        let many: Vec<String> = (0..100).map(|i| format!(r#""k{i}":{i}"#)).collect();
        assert_eq!(check(&format!("{{{}}}", many.join(","))), Ok(()));
        assert_eq!(
            check(&format!("{{{},\"k3\":0}}", many.join(","))),
            Err(Some(DUPLICATE))
        );
        assert_eq!(
            check(&format!("{{{},\"k99\":0}}", many[..9].join(","))),
            Ok(())
        );
        assert_eq!(
            check(&format!("{{{},\"k8\":0}}", many[..9].join(","))),
            Err(Some(DUPLICATE))
        );
    }

    /// What passes the check, `Value` parses, and `build` gives exactly that `Value`.
    #[test]
    fn reads_what_value_reads() {
        for ok in [
            r#"{"a":[1,-2,3.5,1e300,true,null,"s\n\u00e9"],"b":{"c":{}}}"#,
            r#"[]"#,
            r#""x""#,
            r#"18446744073709551615"#,
        ] {
            let mut d = serde_json::Deserializer::from_str(ok);
            let built = Checked {
                depth: 1,
                build: true,
            }
            .deserialize(&mut d)
            .unwrap();
            let v: serde_json::Value = serde_json::from_str(ok).unwrap();
            assert_eq!(built, Some(v), "{ok}");
        }
        // What `Value` refuses, the check refuses.
        for bad in [
            r#"{"a":1e400}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":1,}"#,
            "{\"a\":\"\u{1}\"}",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "{bad}"
            );
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
