//! Descope (Agentic Identity Hub MCP servers, Inbound Apps): [`Descope`].

use super::{Common, PresetError, host_problem, origin_of, segment_problem};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::claims::{RequiredClaims, ScopeSource};
use mcp_auth_core::jws::{Algorithm, TypPolicy};

const PROVIDER: &str = "Descope";
const DEFAULT_BASE: &str = "https://api.descope.com";

/// The issuer settings for the access tokens Descope issues for an MCP server defined in its
/// Agentic Identity Hub, or for a project's Inbound Apps.
///
/// - **Issuer** `{base}/v1/apps/agentic/{projectId}/{mcpServerId}` for an MCP server
///   ([`mcp_server`](Self::mcp_server)), `{base}/v1/apps/{projectId}` for the project's
///   Inbound Apps ([`inbound_apps`](Self::inbound_apps)); `base` is
///   `https://api.descope.com` unless [`base_url`](Self::base_url) names a custom domain.
///   Keys at `{base}/{projectId}/.well-known/jwks.json`, one set for the whole project (taken
///   directly, no discovery), RS256 only.
/// - **Audience**: `aud` must be this resource's URI: the *MCP Server URL* of the MCP
///   server's settings, which Descope puts in `aud`. A token without `aud` is refused.
/// - **Access token, not session or ID token**: a Descope *session* token (your own
///   application's sign-in) has the project id, or `{base}/{projectId}`, as issuer; an ID
///   token's `aud` is the client id. The header says `typ: JWT` for all of them
///   ([`TypPolicy::AllowJwt`]); the issuer, the audience and the required client id keep
///   them out.
/// - **Client**: `client_id`, else `azp`, optionally limited by
///   [`allowed_client_ids`](Self::allowed_client_ids) (with DCR or CIMD every MCP client has
///   its own id). Subject `sub` (the user id, `U…`).
/// - **Claims**: `sub`, a client id and `iat` are required; `jti` is not (Descope adds it
///   only when the JWT template's *Add jti claim* is on).
/// - **Scopes**: `scope`, as granted on the consent screen, plus the project `roles` mapped
///   to scopes with [`map_role`](Self::map_role).
///
/// **Weaker than RFC 9068** (named, not silent): a `typ: JWT` header is accepted; `jti` is
/// not required; the client may be named by `azp` instead of `client_id`. Every MCP server of
/// a project signs with the project's one key, so only the exact issuer keeps another
/// server's tokens out.
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::providers::Descope;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(
///         Descope::mcp_server("P2abcdefghijklmnopqrstuvwxyz", "MS2abcdefghijklmnopqrstuv")
///             .map_role("Tenant Admin", ["mcp:admin"]),
///     )
///     .scopes_supported(["mcp:read", "mcp:admin"])
///     .require_scopes(["mcp:read"])
///     .build()?;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Descope {
    project_id: String,
    mcp_server_id: Option<String>,
    base_url: Option<String>,
    common: Common,
}

impl Descope {
    /// The MCP server `mcp_server_id` of project `project_id` (both as the MCP server's
    /// *Issuer* in the Descope Console shows them).
    pub fn mcp_server(project_id: impl Into<String>, mcp_server_id: impl Into<String>) -> Self {
        Self {
            project_id: project_id.into(),
            mcp_server_id: Some(mcp_server_id.into()),
            base_url: None,
            common: Common::default(),
        }
    }

    /// The project-level Inbound Apps of `project_id` (issuer `{base}/v1/apps/{projectId}`).
    pub fn inbound_apps(project_id: impl Into<String>) -> Self {
        Self {
            project_id: project_id.into(),
            mcp_server_id: None,
            base_url: None,
            common: Common::default(),
        }
    }

    /// Replaces `https://api.descope.com` (a custom domain, loopback tests) in the issuer and
    /// the JWKS location. A trailing `/` is dropped.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    common_setters! {
        /// Accepts only tokens issued to these clients.
    }

    /// Grants `scopes` of this server to users holding the project role `role` (the `roles`
    /// claim, matched whole); may be called more than once. A role not mapped grants nothing.
    /// `scope` is still read as it is.
    pub fn map_role<I, S>(mut self, role: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common.map_role(role, scopes);
        self
    }

    fn base(&self) -> String {
        origin_of(self.base_url.as_deref().unwrap_or(DEFAULT_BASE))
    }

    /// The `iss` this preset trusts.
    pub fn issuer(&self) -> String {
        match &self.mcp_server_id {
            Some(server) => format!(
                "{}/v1/apps/agentic/{}/{server}",
                self.base(),
                self.project_id
            ),
            None => format!("{}/v1/apps/{}", self.base(), self.project_id),
        }
    }

    /// Where the project's keys are: `{base}/{projectId}/.well-known/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/{}/.well-known/jwks.json", self.base(), self.project_id)
    }

    fn problem(&self) -> Option<String> {
        segment_problem("project id", &self.project_id)
            .or_else(|| {
                self.mcp_server_id
                    .as_deref()
                    .and_then(|id| segment_problem("MCP server id", id))
            })
            .or_else(|| {
                self.base_url
                    .as_deref()
                    .and_then(|u| host_problem("base URL", u))
            })
    }
}

impl From<Descope> for TrustedIssuer {
    fn from(d: Descope) -> Self {
        let mut required = RequiredClaims::ALL;
        required.jti = false;
        let problem = d.problem();
        let mut t = Self::new(d.issuer())
            .preset_jwks_uri(d.jwks_uri())
            .algorithms([Algorithm::RS256])
            // Descope signs access, session and ID tokens alike with `typ: JWT`.
            .typ_policy(TypPolicy::AllowJwt)
            .client_id_claims(["client_id", "azp"])
            .required_claims(required);
        if !d.common.roles.is_empty() {
            t = t.scope_sources([
                ScopeSource::claim("scope"),
                ScopeSource::claim("roles").roles(),
            ]);
        }
        let t = d.common.apply(t);
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
    fn issuer_and_keys_follow_the_project() {
        let d = Descope::mcp_server("P2abc", "MS2def");
        assert_eq!(
            d.issuer(),
            "https://api.descope.com/v1/apps/agentic/P2abc/MS2def"
        );
        assert_eq!(
            d.jwks_uri(),
            "https://api.descope.com/P2abc/.well-known/jwks.json"
        );
        let d = Descope::inbound_apps("P2abc").base_url("https://auth.example.com/");
        assert_eq!(d.issuer(), "https://auth.example.com/v1/apps/P2abc");
        assert_eq!(
            d.jwks_uri(),
            "https://auth.example.com/P2abc/.well-known/jwks.json"
        );
    }

    #[test]
    fn ids_that_cannot_be_descope_ids_are_named() {
        assert_eq!(Descope::mcp_server("P2abc", "MS2def").problem(), None);
        for (d, needle) in [
            (Descope::inbound_apps(""), "project id"),
            (Descope::inbound_apps("P2/abc"), "project id"),
            (Descope::mcp_server("P2abc", "MS 2"), "MCP server id"),
        ] {
            let p = d.problem().expect("refused");
            assert!(p.contains(needle), "{p}");
        }
    }
}
