//! A configured audience value: an RFC 7519 StringOrURI, compared byte for byte.

use std::fmt;

/// Why an audience value was refused by [`Audience::parse`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    /// The empty string names no audience.
    #[error("audience is empty")]
    Empty,
    /// Whitespace or a control character: never part of an identifier an authorization
    /// server issues, and invisible in a configuration file.
    #[error("audience {0:?} contains whitespace or a control character")]
    Character(String),
    /// RFC 7519 §2 (StringOrURI): "any value containing a `:` character MUST be a URI"; this
    /// one is not an RFC 3986 URI.
    #[error("audience {0:?} contains `:` but is not a URI (RFC 7519 §2, StringOrURI)")]
    NotUri(String),
}

/// An audience a token may carry besides this server's resource URI: an RFC 7519 StringOrURI,
/// as authorization servers name their APIs (Entra's client-id GUID, `api://…`, Okta's
/// `api://default`, an Auth0 identifier).
///
/// RFC 7519 §2 (StringOrURI): "arbitrary string values MAY be used, but any value containing
/// a `:` character MUST be a URI [RFC 3986]". [`parse`](Self::parse) keeps the value exactly as
/// given and refuses the empty string, whitespace and control characters, and a value with `:`
/// that is not an RFC 3986 URI.
///
/// RFC 7519 §4.1.3 (`aud`): "the comparison is case-sensitive", and StringOrURI values are
/// compared "as case-sensitive strings with no transformations or canonicalizations applied"
/// (§2): [`matches`](Self::matches) compares bytes. Unlike the RFC 8707 resource
/// ([`ResourceUri`](crate::resource::ResourceUri), compared under an
/// [`AudiencePolicy`](crate::resource::AudiencePolicy)), no canonical form is taken, even for
/// a URL: `https://api.example.com` does not match `https://api.example.com/`.
///
/// ```
/// use mcp_auth_core::claims::Audience;
/// let entra = Audience::parse("00000000-1111-2222-3333-444444444444")?;
/// assert!(entra.matches("00000000-1111-2222-3333-444444444444"));
/// assert!(!entra.matches("00000000-1111-2222-3333-444444444444 "));
/// let okta = Audience::parse("api://default")?;
/// assert!(!okta.matches("API://default"));
/// assert!(Audience::parse("not a uri:").is_err());
/// # Ok::<(), mcp_auth_core::claims::AudienceError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Audience(Box<str>);

impl Audience {
    /// Checks `value` as an RFC 7519 StringOrURI (see [`Audience`]) and keeps it unchanged.
    ///
    /// # Errors
    ///
    /// [`AudienceError`], naming the value.
    pub fn parse(value: &str) -> Result<Self, AudienceError> {
        if value.is_empty() {
            return Err(AudienceError::Empty);
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AudienceError::Character(value.to_owned()));
        }
        // RFC 7519 §2: "any value containing a ':' character MUST be a URI".
        if value.contains(':') && !is_uri(value) {
            return Err(AudienceError::NotUri(value.to_owned()));
        }
        Ok(Self(value.into()))
    }

    /// The value, exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the token's `aud` value `aud` is this audience: byte equality, case-sensitive,
    /// no canonicalization (RFC 7519 §4.1.3, §2 StringOrURI comparison).
    #[inline]
    pub fn matches(&self, aud: &str) -> bool {
        *self.0 == *aud
    }
}

/// An RFC 3986 URI (§3: `scheme ":" hier-part [ "?" query ] [ "#" fragment ]`). The `url`
/// crate checks the structure (scheme syntax, authority, host, port) but follows the WHATWG
/// URL standard, which also takes what RFC 3986 does not (a backslash, non-ASCII, `%zz`, tabs
/// it strips): the characters are checked here against RFC 3986 §2 (unreserved, reserved and
/// `%` HEXDIG HEXDIG).
fn is_uri(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
                continue;
            }
            // unreserved (§2.3), gen-delims and sub-delims (§2.2)
            c if c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&c) => {}
            _ => return false,
        }
        i += 1;
    }
    url::Url::parse(value).is_ok()
}

impl fmt::Debug for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Audience({:?})", &*self.0)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Audience {
    type Err = AudienceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Audience {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_audiences_parse_unchanged() {
        for v in [
            "00000000-1111-2222-3333-444444444444",
            "api://default",
            "api://my-api",
            "api://00000000-1111-2222-3333-444444444444",
            "https://api.example.com",
            "https://api.example.com/",
            "HTTPS://API.Example.com",
            "urn:example:aud",
            "my-api",
            "a:b",
            "https://h.example/p?q=1#f",
            "https://h.example/%C3%A9",
            "é-api",
        ] {
            assert_eq!(
                Audience::parse(v).map(|a| a.as_str().to_owned()),
                Ok(v.to_owned())
            );
        }
    }

    #[test]
    fn refusals_name_the_value() {
        assert_eq!(Audience::parse(""), Err(AudienceError::Empty));
        for v in [
            " ",
            "api ",
            " api",
            "my api",
            "a\tb",
            "a\nb",
            "a\u{0}b",
            "a\u{7f}",
            "a\u{a0}b",
            "api://x\ty",
        ] {
            assert_eq!(
                Audience::parse(v),
                Err(AudienceError::Character(v.to_owned())),
                "{v:?}"
            );
        }
        // A `:` makes it a URI, which these are not (RFC 3986 §3: scheme = ALPHA *(...)).
        for v in [
            ":x",
            "1a:b",
            "a_b:c",
            "é:x",
            "x:é",
            "c:\\foo",
            "api://x/%zz",
            "api://x/%4",
            "api://[::1",
            "https://h:99999",
            "http://",
            "a:<b>",
            "a:\"b\"",
            "a:{b}",
        ] {
            assert_eq!(
                Audience::parse(v),
                Err(AudienceError::NotUri(v.to_owned())),
                "{v:?}"
            );
        }
        let e = Audience::parse("x:é").unwrap_err().to_string();
        assert!(e.contains("\"x:é\""), "{e}");
    }

    #[test]
    fn compared_byte_for_byte() {
        let guid = Audience::parse("00000000-1111-2222-3333-444444444444").unwrap();
        assert!(guid.matches("00000000-1111-2222-3333-444444444444"));
        let g = Audience::parse("0000000a-1111-2222-3333-444444444444").unwrap();
        assert!(!g.matches("0000000A-1111-2222-3333-444444444444"));
        assert!(!guid.matches("00000000-1111-2222-3333-44444444444"));
        assert!(!guid.matches(""));
        let url = Audience::parse("https://api.example.com").unwrap();
        assert!(url.matches("https://api.example.com"));
        assert!(!url.matches("https://api.example.com/"));
        assert!(!url.matches("https://API.example.com"));
        assert!(!url.matches("https://api.example.com:443"));
        let okta = Audience::parse("api://default").unwrap();
        assert!(!okta.matches("API://default"));
        assert!(!okta.matches("api://Default"));
        assert_eq!(okta.to_string(), "api://default");
        assert_eq!(format!("{okta:?}"), "Audience(\"api://default\")");
        assert_eq!("api://default".parse::<Audience>(), Ok(okta));
    }
}
