//! OAuth 2.0 Protected Resource Metadata (RFC 9728).
//!
//! MCP servers MUST publish it and it MUST name at least one authorization server (MCP
//! 2025-11-25 and 2026-07-28, "Authorization Server Location").

use crate::resource::ResourceUri;
use crate::scope::{OFFLINE_ACCESS, Scope};
use serde::{Deserialize, Serialize};

/// Why a metadata document was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// `resource` is not a canonical resource URI.
    #[error("`resource` {0:?} is not a canonical resource URI (RFC 8707 §2; canonical form {1:?})")]
    Resource(String, String),
    /// `resource` differs from the resource this server protects (RFC 9728 §3.3).
    #[error(
        "`resource` {found:?} differs from the protected resource {expected:?} (RFC 9728 §3.3)"
    )]
    ResourceMismatch {
        /// In the document.
        found: String,
        /// Configured.
        expected: String,
    },
    /// No authorization server.
    #[error(
        "`authorization_servers` must name at least one authorization server (MCP authorization)"
    )]
    NoAuthorizationServer,
    /// A URL member is not an absolute https URL (http only for loopback).
    #[error("`{0}` value {1:?} is not an absolute https URL")]
    Url(&'static str, String),
    /// `none` as an algorithm (RFC 9728 §2: "none MUST NOT be used").
    #[error("`{0}` must not contain \"none\" (RFC 9728 §2)")]
    NoneAlgorithm(&'static str),
    /// A bearer method other than `header` (MCP: tokens only in the Authorization header).
    #[error("`bearer_methods_supported` may only contain \"header\" for MCP, found {0:?}")]
    BearerMethod(String),
    /// An invalid scope, or `offline_access`.
    #[error(
        "`scopes_supported` value {0:?} is invalid or is offline_access, which MCP servers should not advertise"
    )]
    Scope(String),
}

/// The RFC 9728 §2 metadata document. Empty members are omitted when serialized (§3.2:
/// "Parameters with zero values MUST be omitted").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// REQUIRED. The resource identifier.
    pub resource: String,
    /// Issuer identifiers of the authorization servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// The resource's own JWKS (for signed responses; rarely used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RECOMMENDED. Scopes used in authorization requests for this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// Token presentation methods: MCP allows only `header`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bearer_methods_supported: Vec<String>,
    /// Algorithms the resource signs responses with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_signing_alg_values_supported: Vec<String>,
    /// RECOMMENDED. Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Developer documentation URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// Policy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_uri: Option<String>,
    /// Terms of service URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_tos_uri: Option<String>,
    /// RFC 8705 certificate-bound tokens supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    /// RFC 9396 authorization details types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details_types_supported: Vec<String>,
    /// RFC 9449 DPoP proof algorithms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 9449: whether DPoP-bound tokens are always required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens_required: Option<bool>,
    /// §2.2 signed metadata (a JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_metadata: Option<String>,
}

impl ProtectedResourceMetadata {
    /// A document for `resource`, served by the authorization servers `authorization_servers`,
    /// with `bearer_methods_supported: ["header"]`.
    pub fn new<I, S>(resource: &ResourceUri, authorization_servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            resource: resource.as_str().to_owned(),
            authorization_servers: authorization_servers.into_iter().map(Into::into).collect(),
            bearer_methods_supported: vec!["header".to_owned()],
            ..Self::default()
        }
    }

    /// Refuses a document a client would reject, or one that breaks an MCP rule:
    /// `resource` canonical and equal to `expected` (RFC 9728 §3.3); at least one
    /// authorization server; URLs absolute https (http only on loopback); no `none`
    /// algorithm (§2); `bearer_methods_supported` only `header`; valid scopes and no
    /// `offline_access`.
    pub fn validate(&self, expected: Option<&ResourceUri>) -> Result<(), MetadataError> {
        let r = ResourceUri::parse(&self.resource)
            .map_err(|_| MetadataError::Resource(self.resource.clone(), String::new()))?;
        if r.as_str() != self.resource {
            return Err(MetadataError::Resource(
                self.resource.clone(),
                r.as_str().to_owned(),
            ));
        }
        if let Some(e) = expected
            && e.as_str() != self.resource
        {
            return Err(MetadataError::ResourceMismatch {
                found: self.resource.clone(),
                expected: e.as_str().to_owned(),
            });
        }
        if self.authorization_servers.is_empty() {
            return Err(MetadataError::NoAuthorizationServer);
        }
        for a in &self.authorization_servers {
            check_url("authorization_servers", a)?;
        }
        for (name, v) in [
            ("jwks_uri", &self.jwks_uri),
            ("resource_documentation", &self.resource_documentation),
            ("resource_policy_uri", &self.resource_policy_uri),
            ("resource_tos_uri", &self.resource_tos_uri),
        ] {
            if let Some(v) = v {
                check_url(name, v)?;
            }
        }
        for (name, algs) in [
            (
                "resource_signing_alg_values_supported",
                &self.resource_signing_alg_values_supported,
            ),
            (
                "dpop_signing_alg_values_supported",
                &self.dpop_signing_alg_values_supported,
            ),
        ] {
            if algs.iter().any(|a| a == "none") {
                return Err(MetadataError::NoneAlgorithm(name));
            }
        }
        if let Some(m) = self
            .bearer_methods_supported
            .iter()
            .find(|m| *m != "header")
        {
            return Err(MetadataError::BearerMethod(m.clone()));
        }
        if let Some(s) = self
            .scopes_supported
            .iter()
            .find(|s| *s == OFFLINE_ACCESS || Scope::new(s).is_err())
        {
            return Err(MetadataError::Scope(s.clone()));
        }
        Ok(())
    }
}

/// An absolute `https` URL, or `http` on a loopback host; no fragment.
pub fn is_secure_url(s: &str) -> bool {
    let Ok(u) = url::Url::parse(s) else {
        return false;
    };
    if u.fragment().is_some() || u.host_str().is_none() {
        return false;
    }
    match u.scheme() {
        "https" => true,
        "http" => is_loopback_host(&u),
        _ => false,
    }
}

/// Whether a URL's host is `localhost` or a loopback address.
pub fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn check_url(name: &'static str, v: &str) -> Result<(), MetadataError> {
    if is_secure_url(v) {
        Ok(())
    } else {
        Err(MetadataError::Url(name, v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> ProtectedResourceMetadata {
        let r = ResourceUri::parse("https://host/mcp").unwrap();
        let mut d = ProtectedResourceMetadata::new(&r, ["https://as.example.com"]);
        d.scopes_supported = vec!["mcp:read".into()];
        d
    }

    #[test]
    fn serializes_without_empty_members() {
        let v = serde_json::to_value(doc()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": "https://host/mcp",
                "authorization_servers": ["https://as.example.com"],
                "scopes_supported": ["mcp:read"],
                "bearer_methods_supported": ["header"]
            })
        );
    }

    #[test]
    fn validation() {
        let r = ResourceUri::parse("https://host/mcp").unwrap();
        assert_eq!(doc().validate(Some(&r)), Ok(()));
        let other = ResourceUri::parse("https://host/other").unwrap();
        assert!(matches!(
            doc().validate(Some(&other)),
            Err(MetadataError::ResourceMismatch { .. })
        ));
        let mut d = doc();
        d.resource = "https://HOST/mcp/".into();
        assert!(matches!(d.validate(None), Err(MetadataError::Resource(..))));
        let mut d = doc();
        d.authorization_servers.clear();
        assert_eq!(d.validate(None), Err(MetadataError::NoAuthorizationServer));
        let mut d = doc();
        d.authorization_servers = vec!["http://as.example.com".into()];
        assert!(matches!(d.validate(None), Err(MetadataError::Url(..))));
        d.authorization_servers = vec!["http://127.0.0.1:9000".into()];
        assert_eq!(d.validate(None), Ok(()));
        let mut d = doc();
        d.dpop_signing_alg_values_supported = vec!["ES256".into(), "none".into()];
        assert!(matches!(
            d.validate(None),
            Err(MetadataError::NoneAlgorithm(_))
        ));
        let mut d = doc();
        d.bearer_methods_supported.push("query".into());
        assert!(matches!(
            d.validate(None),
            Err(MetadataError::BearerMethod(_))
        ));
        let mut d = doc();
        d.scopes_supported.push("offline_access".into());
        assert!(matches!(d.validate(None), Err(MetadataError::Scope(_))));
    }
}
