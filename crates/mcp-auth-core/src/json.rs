//! Small serde helpers shared by the parsers of attacker-supplied JSON.

use serde::Deserialize;
use std::borrow::Cow;

/// An optional string borrowed from the input when it has no escapes, owned otherwise.
/// `#[serde(borrow)]` on an `Option<Cow<str>>` field still allocates (serde borrows a `Cow`
/// only as a field of its own), and a JOSE header is decoded for every token, forged ones too.
pub(crate) fn borrowed_or_owned<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Field<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Field<'de>>::deserialize(d)?.map(|f| f.0))
}
