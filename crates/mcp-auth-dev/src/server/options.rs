//! Settings of the access-token side: the token format and the resource server's
//! introspection credentials.

use std::fmt;
use std::str::FromStr;

/// Client id of the resource-server client when the builder was given none.
pub const DEFAULT_RESOURCE_SERVER_CLIENT_ID: &str = "mcp-resource-server";

/// The form of the access tokens the server issues
/// ([`token_format`](super::DevAuthorizationServerBuilder::token_format)).
///
/// Parses from `"jwt"` and `"opaque"` (ASCII case-insensitive), e.g. for a command-line flag:
///
/// ```
/// use mcp_auth_dev::server::TokenFormat;
///
/// assert_eq!("opaque".parse::<TokenFormat>().ok(), Some(TokenFormat::Opaque));
/// assert_eq!(TokenFormat::default(), TokenFormat::Jwt);
/// assert_eq!(TokenFormat::Opaque.to_string(), "opaque");
/// assert!("paseto".parse::<TokenFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenFormat {
    /// RFC 9068 JWTs (`typ: at+jwt`) signed with the server's keys, verifiable with its JWKS.
    #[default]
    Jwt,
    /// Random strings (256 bits from the operating system's CSPRNG, base64url without
    /// padding, so an RFC 6750 `b64token`) that mean nothing without the server: a resource
    /// server learns their claims through RFC 7662 introspection.
    Opaque,
}

impl TokenFormat {
    /// `"jwt"` or `"opaque"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }
}

impl fmt::Display for TokenFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is neither `jwt` nor `opaque`, from [`TokenFormat::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token format `{given}` (use jwt or opaque)")]
pub struct UnknownTokenFormat {
    given: String,
}

impl FromStr for TokenFormat {
    type Err = UnknownTokenFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("jwt") {
            Ok(Self::Jwt)
        } else if s.eq_ignore_ascii_case("opaque") {
            Ok(Self::Opaque)
        } else {
            Err(UnknownTokenFormat {
                given: s.chars().take(64).collect(),
            })
        }
    }
}

/// The credentials a protected resource authenticates with at the introspection endpoint
/// (RFC 7662 §2.1), by `client_secret_basic` or `client_secret_post`.
///
/// This client exists only for introspection: it cannot obtain tokens at `/token`. `Debug`
/// shows the id, never the secret.
#[derive(Clone)]
pub struct ResourceServerClient {
    client_id: String,
    client_secret: String,
}

impl fmt::Debug for ResourceServerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceServerClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

impl ResourceServerClient {
    pub(crate) const fn new(client_id: String, client_secret: String) -> Self {
        Self {
            client_id,
            client_secret,
        }
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret.
    #[must_use]
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// RFC 6749 Appendix A.1/A.2: `client_id` and `client_secret` are `*VSCHAR`
    /// (`%x20-7E`); both must also be non-empty here.
    pub(crate) fn is_valid(&self) -> bool {
        let vschar = |s: &str| !s.is_empty() && s.chars().all(|c| (' '..='~').contains(&c));
        vschar(&self.client_id) && vschar(&self.client_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let c = ResourceServerClient::new("rs".to_owned(), "sup3r-s3cret".to_owned());
        let shown = format!("{c:?}");
        assert!(shown.contains("rs") && !shown.contains("sup3r"), "{shown}");
    }

    #[test]
    fn format_names_and_client_rules() {
        assert_eq!("JWT".parse::<TokenFormat>().ok(), Some(TokenFormat::Jwt));
        let e = "x".repeat(100).parse::<TokenFormat>().unwrap_err();
        assert_eq!(e.given.len(), 64);
        let ok = |id: &str, secret: &str| {
            ResourceServerClient::new(id.to_owned(), secret.to_owned()).is_valid()
        };
        assert!(ok("rs", "s e:c"));
        assert!(!ok("", "s"));
        assert!(!ok("rs", ""));
        assert!(!ok("rs\n", "s"));
        assert!(!ok("rs", "é"));
    }
}
