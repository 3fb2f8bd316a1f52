//! Auth0 APIs.

use super::{Common, PresetError, host_problem, origin_of};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::checks::AnyClaimPresent;
use mcp_auth_core::claims::{RequiredClaims, ScopeSource};
use mcp_auth_core::jws::TypPolicy;

const PROVIDER: &str = "Auth0";

/// Access tokens Auth0 issues for an API (Dashboard > Applications > APIs): issuer
/// `https://{domain}/` (with the trailing `/`), keys at `https://{domain}/.well-known/jwks.json`,
/// `aud` the API identifier (often beside `https://{domain}/userinfo`), scopes in `scope` and,
/// with RBAC and "Add Permissions in the Access Token", in `permissions`.
///
/// Two token profiles: the **Auth0 profile** (default; header `typ: JWT`, client in `azp`, no
/// `jti`) and the **RFC 9068 profile** (header `typ: at+jwt`, `client_id`, `jti`); call
/// [`rfc9068_profile`](Self::rfc9068_profile) when the API uses the latter, and every RFC
/// 9068 rule holds.
///
/// A custom domain changes the issuer: tokens requested through `login.example.com` carry
/// `iss: https://login.example.com/` ([`custom_domain`](Self::custom_domain)).
///
/// **Access token, not ID token**: an ID token's `aud` is the application's client id, never
/// an API identifier, and it has neither `scope` nor `permissions`; the preset requires the
/// API identifier as `aud` and one of those claims.
///
/// **Weaker than RFC 9068** with the Auth0 profile (named, not silent):
/// - `typ: JWT` is accepted ([`TypPolicy::AllowJwt`]);
/// - no `jti` is required, and the client id may be `azp` instead of `client_id`;
/// - `aud` is the API identifier, not the MCP resource URI, unless the API identifier *is*
///   the resource URI; Auth0 honours the RFC 8707 `resource` parameter only with its
///   "Resource Parameter Compatibility Profile" on, otherwise clients must send Auth0's
///   `audience` parameter;
/// - without [`allowed_client_ids`](Self::allowed_client_ids), every application
///   authorized for the API is accepted.
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::core::keys::StaticKeySource;
/// use mcp_auth::providers::Auth0;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(
///         Auth0::new("example.us.auth0.com")
///             .api_identifier("https://mcp.example.com/mcp")
///             .custom_domain("login.example.com"),
///     )
///     .key_source(StaticKeySource::new())
///     .require_scopes(["read:notes"])
///     .build()?;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Auth0 {
    domain: String,
    custom_domain: Option<String>,
    base_url: Option<String>,
    identifiers: Vec<String>,
    rfc9068: bool,
    common: Common,
}

impl Auth0 {
    /// The Auth0 tenant at `domain` (`example.us.auth0.com`). Needs
    /// [`api_identifier`](Self::api_identifier).
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            custom_domain: None,
            base_url: None,
            identifiers: Vec::new(),
            rfc9068: false,
            common: Common::default(),
        }
    }

    /// The API's identifier (its `aud`), compared byte for byte. May be called more than
    /// once (several APIs served by one MCP server).
    pub fn api_identifier(mut self, identifier: impl Into<String>) -> Self {
        self.identifiers.push(identifier.into());
        self
    }

    /// Tokens are requested through this custom domain: it is the issuer (and serves the
    /// keys).
    pub fn custom_domain(mut self, domain: impl Into<String>) -> Self {
        self.custom_domain = Some(domain.into());
        self
    }

    /// Replaces `https://{domain}` (or the custom domain) with `url` in the issuer and the
    /// key location (a loopback test server).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The API uses Auth0's RFC 9068 token profile: strict `typ: at+jwt`, `client_id` and
    /// `jti` required.
    pub fn rfc9068_profile(mut self) -> Self {
        self.rfc9068 = true;
        self
    }

    common_setters! {
        /// Accepts only tokens issued to these applications (`client_id`, else `azp`).
    }

    /// The issuer, as it appears in `iss` (with its trailing `/`).
    pub fn issuer(&self) -> String {
        let host = self
            .base_url
            .as_deref()
            .or(self.custom_domain.as_deref())
            .unwrap_or(&self.domain);
        format!("{}/", origin_of(host))
    }

    fn problem(&self) -> Option<String> {
        host_problem("domain", &self.domain)
            .or_else(|| {
                (self.custom_domain.as_deref()).and_then(|d| host_problem("custom domain", d))
            })
            .or_else(|| {
                self.base_url
                    .as_deref()
                    .and_then(|u| host_problem("base URL", u))
            })
            .or_else(|| {
                self.identifiers.is_empty().then(|| {
                    "Auth0 access tokens carry the API identifier as aud: call api_identifier"
                        .to_owned()
                })
            })
    }
}

impl From<Auth0> for TrustedIssuer {
    fn from(p: Auth0) -> Self {
        let problem = p.problem();
        let issuer = p.issuer();
        let mut t = Self::new(issuer.clone())
            .preset_jwks_uri(format!("{issuer}.well-known/jwks.json"))
            .scope_sources([
                ScopeSource::claim("scope"),
                ScopeSource::claim("permissions"),
            ])
            .claim_check(AnyClaimPresent::new(["scope", "permissions"]));
        if p.rfc9068 {
            t = t
                .typ_policy(TypPolicy::Strict)
                .required_claims(RequiredClaims::ALL);
        } else {
            let mut required = RequiredClaims::ALL;
            required.jti = false; // The Auth0 profile has no `jti`.
            t = t
                .typ_policy(TypPolicy::AllowJwt)
                .client_id_claims(["client_id", "azp"])
                .required_claims(required);
        }
        for aud in p.identifiers {
            t = t.additional_audience(aud);
        }
        t = p.common.apply(t);
        match problem {
            Some(problem) => t.fail(ConfigError::Preset(PresetError::new(PROVIDER, problem))),
            None => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_has_its_trailing_slash() {
        let p = Auth0::new("example.us.auth0.com").api_identifier("x");
        assert_eq!(p.issuer(), "https://example.us.auth0.com/");
        assert!(p.problem().is_none());
        let custom = p.custom_domain("login.example.com");
        assert_eq!(custom.issuer(), "https://login.example.com/");
        let local = custom.base_url("http://127.0.0.1:9");
        assert_eq!(local.issuer(), "http://127.0.0.1:9/");
        let none = Auth0::new("example.us.auth0.com").problem().unwrap();
        assert!(none.contains("api_identifier"), "{none}");
    }
}
