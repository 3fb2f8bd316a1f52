//! Identity-provider presets: a [`TrustedIssuer`] configured for one provider's access
//! tokens in a few lines.
//!
//! Each preset sets the issuer and the JWKS location, the audiences, where the client id,
//! the subject and the scopes are, the `typ` rule, and how that provider's ID tokens are told
//! apart from its access tokens (with `typ: JWT` the header cannot). Each has a `base_url`
//! override (custom domains, sovereign clouds, a loopback test server) and converts into a
//! [`TrustedIssuer`] for [`McpAuthBuilder::trusted_issuer`](crate::McpAuthBuilder::trusted_issuer).
//! Anything a preset cannot check as strictly as an RFC 9068 issuer is named on its type,
//! under **Weaker than RFC 9068**; a parameter its provider's tokens could never match is a
//! [`ConfigError::Preset`](crate::ConfigError::Preset) at build, never a silent no-match.
//!
//! | Preset | Issuer | Access token, not ID token |
//! |---|---|---|
//! | [`EntraId`] | `https://login.microsoftonline.com/{tenant}/v2.0` (v1: `https://sts.windows.net/{tenant}/`) | the API's audience; `azp` (v1 `appid`) required; `scp` or `roles` present |
//! | [`Okta`] | `https://{domain}/oauth2/{server}` | the API's audience; `cid` required; `scp` present |
//! | [`Auth0`] | `https://{domain}/` | the API identifier as audience; `scope` or `permissions` present |
//! | [`Keycloak`] | `{base}/realms/{realm}` | the claim `typ` is `Bearer` (ID tokens: `ID`) |
//! | [`Cognito`] | `https://cognito-idp.{region}.amazonaws.com/{userPoolId}` | `token_use` is `access`; no `aud` without a resource indicator, so an app-client allow-list is required |
//! | [`Clerk`] | the Frontend API URL | `typ` `at+jwt` (session and ID tokens: `JWT`); JWT access tokens only |
//! | [`WorkOs`] | the AuthKit domain | the resource indicator as audience; `client_id` required |
//! | [`Descope`] | `{base}/v1/apps/agentic/{projectId}/{mcpServerId}` | the MCP Server URL as audience; a client id required |
//!
//! Keys come from the provider's documented JWKS location, without discovery, when the
//! default JWKS key source (feature `jwks`) is used; with
//! [`key_source`](crate::McpAuthBuilder::key_source) that source provides them. Every preset
//! starts from the secure defaults of a [`TrustedIssuer`] (RS256/ES256, exact `aud`, 60 s
//! leeway) and changes only what its type's docs list. How to register the API and the MCP
//! client with each provider, and what each one weakens, is in `docs/providers.md`.
//!
//! # Example
//!
//! ```
//! use mcp_auth::McpAuthLayer;
//! use mcp_auth::core::keys::StaticKeySource;
//! use mcp_auth::providers::{EntraId, Keycloak};
//!
//! let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
//!     .trusted_issuer(
//!         EntraId::v2("72f988bf-86f1-41af-91ab-2d7cd011db47")
//!             .api_audience("6e74172b-be56-4843-9ff4-e66a39bb12e3"),
//!     )
//!     .trusted_issuer(
//!         Keycloak::new("https://sso.example.com", "acme")
//!             .realm_roles()
//!             .map_role("mcp-user", ["mcp:read"]),
//!     )
//!     .key_source(StaticKeySource::new())
//!     .require_scopes(["mcp:read"])
//!     .build()?;
//! # Ok::<(), mcp_auth::ConfigError>(())
//! ```

/// The setters every preset has: `allowed_client_ids` (with the preset's own docs, saying
/// where its provider puts the client id) and `max_token_age`, both kept in `common`.
macro_rules! common_setters {
    ($(#[doc = $doc:literal])*) => {
        $(#[doc = $doc])*
        pub fn allowed_client_ids<I, S>(mut self, ids: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.common.client_ids(ids);
            self
        }

        /// Refuses tokens issued more than `max` ago (`iat`), whatever their `exp`; checked
        /// on every cache hit too.
        pub fn max_token_age(mut self, max: std::time::Duration) -> Self {
            self.common.max_age = Some(max);
            self
        }
    };
}

mod auth0;
mod clerk;
mod cognito;
mod descope;
mod entra;
mod keycloak;
mod okta;
mod workos;

pub use auth0::Auth0;
pub use clerk::Clerk;
pub use cognito::Cognito;
pub use descope::Descope;
pub use entra::EntraId;
pub use keycloak::Keycloak;
pub use okta::Okta;
pub use workos::WorkOs;

use crate::TrustedIssuer;
use std::time::Duration;

/// A preset's parameters cannot match its provider's tokens. See
/// [`ConfigError::Preset`](crate::ConfigError::Preset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider} preset: {problem}")]
pub struct PresetError {
    provider: &'static str,
    problem: String,
}

impl PresetError {
    pub(crate) fn new(provider: &'static str, problem: impl Into<String>) -> Self {
        Self {
            provider,
            problem: problem.into(),
        }
    }

    /// The provider (`"Entra ID"`, `"Okta"`, ...).
    pub fn provider(&self) -> &'static str {
        self.provider
    }
}

/// What every preset lets its user add: the client allow-list, a maximum token age, role
/// mappings.
#[derive(Debug, Clone, Default)]
struct Common {
    client_ids: Option<Vec<String>>,
    max_age: Option<Duration>,
    roles: Vec<(String, Vec<String>)>,
}

impl Common {
    fn client_ids<I, S>(&mut self, ids: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.client_ids = Some(ids.into_iter().map(Into::into).collect());
    }

    fn map_role<I, S>(&mut self, role: impl Into<String>, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles
            .push((role.into(), scopes.into_iter().map(Into::into).collect()));
    }

    fn apply(self, mut t: TrustedIssuer) -> TrustedIssuer {
        if let Some(ids) = self.client_ids {
            t = t.allowed_client_ids(ids);
        }
        if let Some(max) = self.max_age {
            t = t.max_token_age(max);
        }
        for (role, scopes) in self.roles {
            t = t.map_role(role, scopes);
        }
        t
    }
}

/// `https://{host}` for a bare host (`example.okta.com`), or the URL as given for one with a
/// scheme (a base-URL override: `http://127.0.0.1:8080`), without a trailing `/`.
fn origin_of(host_or_url: &str) -> String {
    let s = host_or_url.trim_end_matches('/');
    if s.contains("://") {
        s.to_owned()
    } else {
        format!("https://{s}")
    }
}

/// A problem with one path segment the preset puts in a URL (a tenant, a realm, a server
/// id): empty, or holding a character that would change the URL's structure.
fn segment_problem(what: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(format!("the {what} is empty"));
    }
    if value
        .chars()
        .any(|c| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace() || c.is_control())
    {
        return Some(format!(
            "the {what} {value:?} must be one URL path segment (no '/', '?', '#', '%' or spaces)"
        ));
    }
    None
}

/// A problem with a host or base URL parameter.
fn host_problem(what: &str, value: &str) -> Option<String> {
    let host = value.split_once("://").map_or(value, |(_, rest)| rest);
    if host.trim_end_matches('/').is_empty()
        || value
            .chars()
            .any(|c| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control())
    {
        return Some(format!("the {what} {value:?} is not a host or base URL"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_from_hosts_and_base_urls() {
        assert_eq!(origin_of("example.okta.com"), "https://example.okta.com");
        assert_eq!(origin_of("example.okta.com/"), "https://example.okta.com");
        assert_eq!(origin_of("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(
            origin_of("https://sso.example.com/auth"),
            "https://sso.example.com/auth"
        );
    }

    #[test]
    fn segments_and_hosts_are_checked() {
        assert!(segment_problem("realm", "acme").is_none());
        for bad in ["", "a/b", "a?b", "a#b", "a b", "a%2Fb"] {
            assert!(segment_problem("realm", bad).is_some(), "{bad:?}");
        }
        assert!(host_problem("domain", "example.okta.com").is_none());
        for bad in ["", "https://", "a b", "x.com?y"] {
            assert!(host_problem("domain", bad).is_some(), "{bad:?}");
        }
    }
}
