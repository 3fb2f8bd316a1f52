//! `Origin` validation against DNS rebinding.
//!
//! MCP Streamable HTTP transport (2025-06-18 onward, "Security Warning"): servers MUST
//! validate the `Origin` header on all incoming connections to prevent DNS rebinding
//! attacks; since 2025-11-25, when the `Origin` header is present and invalid, servers MUST
//! respond with HTTP 403 Forbidden.
//!
//! An [`OriginAllowList`] holds exact origins, normalised once when they are added, and an
//! optional loopback preset for local development. A request's `Origin` is compared byte for
//! byte with them: browsers send the ASCII serialization of an origin (RFC 6454 §6.2, the
//! WHATWG URL "origin" serialization: lowercase scheme and host, no default port), so any
//! other spelling is not a browser's and is refused.

use std::fmt;

/// An origin allow-list entry that is not an origin.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOrigin {
    /// Not `http(s)://host[:port]`: another scheme, a path (even `/`), a query, a fragment,
    /// user info, or not a URL at all.
    #[error(
        "allowed origin {0:?} is not an origin: expected http(s)://host[:port], no path, query or user info"
    )]
    NotAnOrigin(String),
}

/// The origins a server accepts in a request's `Origin` header. Empty at first: nothing
/// allowed. `null` (the opaque origin of sandboxed frames, `file:` pages and some redirects)
/// is allowed only when added literally with [`allow`](Self::allow)`("null")`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OriginAllowList {
    exact: Vec<Box<str>>,
    loopback: bool,
}

impl fmt::Debug for OriginAllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginAllowList")
            .field("exact", &self.exact)
            .field("loopback", &self.loopback)
            .finish()
    }
}

impl OriginAllowList {
    /// An empty list: every `Origin` is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows one origin, `scheme://host[:port]` with scheme `http` or `https`, normalised
    /// as a browser serializes it (lowercase scheme and host, IDNA host, default port
    /// dropped: `HTTPS://App.Example:443` allows `https://app.example`). `"null"` allows the
    /// literal `Origin: null`.
    ///
    /// ```
    /// # use mcp_auth_core::origin::OriginAllowList;
    /// let mut list = OriginAllowList::new();
    /// list.allow("HTTPS://App.Example:443").unwrap();
    /// assert!(list.allows(b"https://app.example"));
    /// assert!(!list.allows(b"https://app.example:8443"));
    /// assert!(list.allow("https://app.example/").is_err());
    /// ```
    pub fn allow(&mut self, origin: &str) -> Result<(), InvalidOrigin> {
        let normalised = normalise(origin)?;
        if !self.exact.iter().any(|o| **o == *normalised) {
            self.exact.push(normalised.into_boxed_str());
        }
        Ok(())
    }

    /// Allows every loopback origin, for local development: `http` or `https` with host
    /// `localhost`, `127.0.0.1` or `[::1]`, any port.
    pub fn allow_loopback(&mut self) {
        self.loopback = true;
    }

    /// Whether the loopback preset is on.
    pub fn loopback(&self) -> bool {
        self.loopback
    }

    /// The exact origins, normalised.
    pub fn exact(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().map(|o| &**o)
    }

    /// Whether a request's `Origin` header value is allowed: equal byte for byte to a listed
    /// origin, or a loopback origin with the preset on. Bytes that are not ASCII are never
    /// allowed.
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.exact.iter().any(|o| o.as_bytes() == origin) || (self.loopback && is_loopback(origin))
    }
}

/// `http(s)://(localhost|127.0.0.1|[::1])[:port]`, port 1-65535 without leading zeros: the
/// serializations a browser sends for a loopback page.
pub fn is_loopback(origin: &[u8]) -> bool {
    let rest = match origin {
        [b'h', b't', b't', b'p', b':', b'/', b'/', rest @ ..] => rest,
        [b'h', b't', b't', b'p', b's', b':', b'/', b'/', rest @ ..] => rest,
        _ => return false,
    };
    let port = [&b"localhost"[..], b"127.0.0.1", b"[::1]"]
        .iter()
        .find_map(|host| rest.strip_prefix(*host));
    match port {
        None => false,
        Some([]) => true,
        Some([b':', digits @ ..]) => is_port(digits),
        Some(_) => false,
    }
}

fn is_port(digits: &[u8]) -> bool {
    if digits.is_empty() || digits.len() > 5 || digits[0] == b'0' {
        return false;
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    n <= 65535
}

/// The ASCII serialization of `origin`, checked to be nothing but an http(s) origin.
fn normalise(origin: &str) -> Result<String, InvalidOrigin> {
    if origin == "null" {
        return Ok(origin.to_owned());
    }
    let bad = || InvalidOrigin::NotAnOrigin(origin.to_owned());
    // The URL parser would add a `/` path; an origin has none, so anything after the
    // authority is refused here, before parsing.
    let authority = origin.split_once("://").ok_or_else(bad)?.1;
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', '\\']) {
        return Err(bad());
    }
    let url = url::Url::parse(origin).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalised_or_refused() {
        for (input, want) in [
            ("https://app.example", "https://app.example"),
            ("HTTPS://App.EXAMPLE:443", "https://app.example"),
            ("http://app.example:80", "http://app.example"),
            ("http://app.example:8080", "http://app.example:8080"),
            ("https://[::1]:3000", "https://[::1]:3000"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
            ("null", "null"),
        ] {
            let mut l = OriginAllowList::new();
            l.allow(input).unwrap();
            assert_eq!(l.exact().collect::<Vec<_>>(), [want], "{input}");
        }
        for bad in [
            "",
            "*",
            "app.example",
            "https://",
            "https://app.example/",
            "https://app.example/mcp",
            "https://app.example?x",
            "https://app.example#x",
            "https://user@app.example",
            "ftp://app.example",
            "file:///tmp",
            "chrome-extension://abc",
            "https://app.example:99999",
            "Null",
            " null",
            "https://app .example",
        ] {
            assert!(OriginAllowList::new().allow(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_origins_match_exactly() {
        let mut l = OriginAllowList::new();
        l.allow("https://app.example").unwrap();
        assert!(l.allows(b"https://app.example"));
        for no in [
            &b"https://APP.example"[..],
            b"https://app.example:443",
            b"https://app.example/",
            b"http://app.example",
            b"https://app.example.evil",
            b"null",
            b"",
            b"https://app.example\xff",
        ] {
            assert!(!l.allows(no), "{}", String::from_utf8_lossy(no));
        }
        l.allow("null").unwrap();
        assert!(l.allows(b"null"));
    }

    #[test]
    fn loopback_preset_is_explicit_and_strict() {
        let mut l = OriginAllowList::new();
        assert!(!l.allows(b"http://localhost:3000"));
        l.allow_loopback();
        for yes in [
            &b"http://localhost"[..],
            b"http://localhost:6274",
            b"https://127.0.0.1:1",
            b"http://[::1]:65535",
        ] {
            assert!(l.allows(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"http://localhost.evil.example"[..],
            b"http://localhost:",
            b"http://localhost:0",
            b"http://localhost:080",
            b"http://localhost:65536",
            b"http://localhost:3000/",
            b"http://127.0.0.2",
            b"http://127.0.0.1.nip.io",
            b"ws://localhost",
            b"http://LOCALHOST",
            b"null",
        ] {
            assert!(!l.allows(no), "{}", String::from_utf8_lossy(no));
        }
    }
}
