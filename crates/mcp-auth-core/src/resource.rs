//! The canonical resource URI (RFC 8707 §2, MCP "Canonical Server URI") and audience matching.

use std::fmt;
use url::Url;

/// Why a resource URI was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceUriError {
    /// Not an absolute URI.
    #[error("resource {0:?} is not an absolute URI")]
    NotAbsolute(String),
    /// Scheme other than `https` or `http`.
    #[error("resource {0:?} must use https (or http)")]
    Scheme(String),
    /// RFC 8707 §2: "MUST NOT include a fragment component".
    #[error("resource {0:?} has a fragment, which RFC 8707 §2 forbids")]
    Fragment(String),
    /// RFC 8707 §2: "SHOULD NOT include a query component"; refused here.
    #[error("resource {0:?} has a query, which RFC 8707 §2 advises against")]
    Query(String),
    /// User info has no place in a resource identifier.
    #[error("resource {0:?} has user info")]
    UserInfo(String),
}

/// A canonical MCP resource URI: the RFC 8707 resource identifier of this server and the
/// audience its tokens must carry.
///
/// Canonical form (MCP "Canonical Server URI"): lowercase scheme and host (uppercase input is
/// accepted), default port removed, no fragment, no query, no trailing slash (the root resource
/// is `https://host`).
///
/// ```
/// use mcp_auth_core::resource::ResourceUri;
/// let r = ResourceUri::parse("HTTPS://MCP.Example.com:443/mcp/").unwrap();
/// assert_eq!(r.as_str(), "https://mcp.example.com/mcp");
/// assert_eq!(
///     r.metadata_url(),
///     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceUri {
    canonical: String,
    origin_len: usize,
}

impl ResourceUri {
    /// Parses and canonicalizes.
    pub fn parse(input: &str) -> Result<Self, ResourceUriError> {
        let url = Url::parse(input).map_err(|_| ResourceUriError::NotAbsolute(input.to_owned()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ResourceUriError::Scheme(input.to_owned()));
        }
        if url.fragment().is_some() || input.contains('#') {
            return Err(ResourceUriError::Fragment(input.to_owned()));
        }
        if url.query().is_some() {
            return Err(ResourceUriError::Query(input.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ResourceUriError::UserInfo(input.to_owned()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| ResourceUriError::NotAbsolute(input.to_owned()))?;
        // `Url` lowercases scheme and host and drops the scheme's default port.
        let mut canonical = format!("{}://{}", url.scheme(), host);
        if let Some(port) = url.port() {
            canonical.push_str(&format!(":{port}"));
        }
        let origin_len = canonical.len();
        canonical.push_str(url.path().trim_end_matches('/'));
        Ok(Self {
            canonical,
            origin_len,
        })
    }

    /// The canonical URI.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> &str {
        &self.canonical[..self.origin_len]
    }

    /// The path, empty for a root resource, otherwise starting with `/`.
    pub fn path(&self) -> &str {
        &self.canonical[self.origin_len..]
    }

    /// The path-inserted well-known path of the Protected Resource Metadata (RFC 9728 §3.1):
    /// `/.well-known/oauth-protected-resource` followed by the resource's path.
    pub fn metadata_path(&self) -> String {
        format!("/.well-known/oauth-protected-resource{}", self.path())
    }

    /// The absolute URL of the metadata document, as sent in `resource_metadata`
    /// (RFC 9728 §5.1).
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.origin(), self.metadata_path())
    }

    /// Whether `aud` names this resource under `policy`.
    pub fn matches(&self, aud: &str, policy: AudiencePolicy) -> bool {
        match policy {
            AudiencePolicy::Exact => aud == self.canonical,
            AudiencePolicy::AllowTrailingSlash => {
                aud == self.canonical || aud.strip_suffix('/') == Some(self.canonical.as_str())
            }
            AudiencePolicy::Normalized => {
                aud == self.canonical
                    || Self::parse(aud).is_ok_and(|other| other.canonical == self.canonical)
            }
        }
    }
}

impl fmt::Debug for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceUri({:?})", self.canonical)
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl std::str::FromStr for ResourceUri {
    type Err = ResourceUriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// How the `aud` claim is compared with the canonical resource URI.
///
/// MCP requires the token's audience to name this server (RFC 8707, RFC 9068 §4). RFC 9728 §6
/// compares identifiers code point by code point, which is the default here.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudiencePolicy {
    /// `aud` equals the canonical URI byte for byte. The default.
    #[default]
    Exact,
    /// Also accept the canonical URI followed by one `/`, for authorization servers that echo
    /// a `resource` sent with a trailing slash (MCP: implementations SHOULD use the form
    /// without, but clients differ).
    AllowTrailingSlash,
    /// Canonicalize `aud` the same way (case of scheme and host, default port, trailing slash)
    /// before comparing. The most lenient; paths stay case-sensitive.
    Normalized,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes() {
        let cases = [
            ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"),
            ("HTTPS://MCP.EXAMPLE.COM/mcp", "https://mcp.example.com/mcp"),
            (
                "https://mcp.example.com:443/mcp/",
                "https://mcp.example.com/mcp",
            ),
            ("https://mcp.example.com/", "https://mcp.example.com"),
            ("https://mcp.example.com", "https://mcp.example.com"),
            ("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/mcp"),
            ("http://localhost:80/", "http://localhost"),
            ("https://h.example:8443/a/B", "https://h.example:8443/a/B"),
        ];
        for (input, want) in cases {
            assert_eq!(ResourceUri::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn refuses_bad_uris() {
        assert!(matches!(
            ResourceUri::parse("/mcp"),
            Err(ResourceUriError::NotAbsolute(_))
        ));
        assert!(matches!(
            ResourceUri::parse("ftp://h/x"),
            Err(ResourceUriError::Scheme(_))
        ));
        assert!(matches!(
            ResourceUri::parse("https://h/x#f"),
            Err(ResourceUriError::Fragment(_))
        ));
        assert!(matches!(
            ResourceUri::parse("https://h/x#"),
            Err(ResourceUriError::Fragment(_))
        ));
        assert!(matches!(
            ResourceUri::parse("https://h/x?a=1"),
            Err(ResourceUriError::Query(_))
        ));
        assert!(matches!(
            ResourceUri::parse("https://u:p@h/x"),
            Err(ResourceUriError::UserInfo(_))
        ));
    }

    #[test]
    fn metadata_urls_insert_the_path() {
        let r = ResourceUri::parse("https://host/mcp").unwrap();
        assert_eq!(
            r.metadata_path(),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            r.metadata_url(),
            "https://host/.well-known/oauth-protected-resource/mcp"
        );
        let root = ResourceUri::parse("https://host/").unwrap();
        assert_eq!(
            root.metadata_path(),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            root.metadata_url(),
            "https://host/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn audience_policies() {
        let r = ResourceUri::parse("https://host/mcp").unwrap();
        assert!(r.matches("https://host/mcp", AudiencePolicy::Exact));
        assert!(!r.matches("https://host/mcp/", AudiencePolicy::Exact));
        assert!(!r.matches("https://HOST/mcp", AudiencePolicy::Exact));
        assert!(!r.matches("https://host/mcp2", AudiencePolicy::Exact));
        assert!(r.matches("https://host/mcp/", AudiencePolicy::AllowTrailingSlash));
        assert!(!r.matches("https://HOST/mcp", AudiencePolicy::AllowTrailingSlash));
        assert!(r.matches("https://HOST:443/mcp/", AudiencePolicy::Normalized));
        assert!(!r.matches("https://host/MCP", AudiencePolicy::Normalized));
        assert!(!r.matches("https://evil/mcp", AudiencePolicy::Normalized));
    }
}
