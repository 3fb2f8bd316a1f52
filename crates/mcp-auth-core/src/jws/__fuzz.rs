//! Entry points for the `cargo fuzz` targets (feature `fuzzing`, never for users: not part of
//! the API, no semver promise).
//!
//! The JOSE header has two readers: a fast path without serde (`plain_header`, the headers
//! issuers write) and serde_json for everything else. They must mean the same on every input
//! both accept, and only a fuzzer can show that for *every* input; both readers are private,
//! so this module hands their results out as plain values.

/// The members of a JOSE header that mcp-auth reads, as one reader saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderView {
    /// `alg`.
    pub alg: Option<String>,
    /// `kid`.
    pub kid: Option<String>,
    /// `typ`.
    pub typ: Option<String>,
    /// Whether the reader saw `crit`.
    pub crit: bool,
    /// Whether the reader saw `b64`.
    pub b64: bool,
}

fn view(h: &super::header::RawHeader<'_>) -> HeaderView {
    let own = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().map(str::to_owned);
    HeaderView {
        alg: own(&h.alg),
        kid: own(&h.kid),
        typ: own(&h.typ),
        crit: h.crit,
        b64: h.b64,
    }
}

/// The fast reader's view of decoded header bytes, `None` when it declines them.
pub fn plain_header(bytes: &[u8]) -> Option<HeaderView> {
    super::header::plain_header(bytes).as_ref().map(view)
}

/// serde_json's view of decoded header bytes (the read of
/// [`CompactJws::check_header`](super::CompactJws::check_header): a map only, the JSON rules of
/// `header.rs`), `None` when it refuses them.
pub fn serde_header(bytes: &[u8]) -> Option<HeaderView> {
    serde_json::from_slice::<super::header::RawHeader<'_>>(bytes)
        .ok()
        .as_ref()
        .map(view)
}
