//! Okta custom authorization servers.

use super::{Common, PresetError, host_problem, origin_of, segment_problem};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::checks::{AnyClaimPresent, ClaimRejection};
use mcp_auth_core::claims::{RequiredClaims, ScopeSource};
use mcp_auth_core::jws::TypPolicy;

const PROVIDER: &str = "Okta";

/// Access tokens of an Okta **custom authorization server** (API Access Management):
/// issuer `https://{domain}/oauth2/{server_id}`, keys at `…/oauth2/{server_id}/v1/keys`,
/// client in `cid`, scopes in `scp` (an array), user id in `uid`, subject `sub` (the
/// user's login, or the client id for client credentials), `jti` `AT.…`.
///
/// The org authorization server (issuer `https://{domain}`) is not supported: Okta says its
/// access tokens are for Okta's own APIs and must be treated as opaque.
///
/// Audience: the authorization server's audience, `api://default` for the server named
/// `default` (set it on the server, and here with [`audience`](Self::audience); other
/// servers need it).
///
/// **Access token, not ID token**: Okta access tokens have no `typ` header, so the preset
/// requires `cid` (ID tokens carry the client in `aud` and have no `cid`) and `scp`;
/// an ID token's `aud` is the client id, never the server's audience.
///
/// **Weaker than RFC 9068** (named, not silent):
/// - a token without `typ` (and `typ: JWT`) is accepted ([`TypPolicy::AllowJwt`]);
/// - the client id is `cid`, not `client_id`;
/// - the audience is shared: every API behind one authorization server (and every client
///   of it) gets tokens with the same `aud` (`api://default` on the default server), so an
///   audience does not bind a token to this MCP server. Give the MCP server its own
///   authorization server, or list its clients in [`allowed_client_ids`](Self::allowed_client_ids)
///   and require its own scopes.
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::core::keys::StaticKeySource;
/// use mcp_auth::providers::Okta;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(
///         Okta::custom_authorization_server("example.okta.com", "aus9s8d7f6g5h4j3k2l1")
///             .audience("https://mcp.example.com/mcp")
///             .allowed_client_ids(["0oa1b2c3d4e5f6g7h8i9"]),
///     )
///     .key_source(StaticKeySource::new())
///     .require_scopes(["mcp:read"])
///     .build()?;
///
/// // The server named `default`, whose audience is `api://default`.
/// let default = Okta::default_server("example.okta.com");
/// # let _ = default;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Okta {
    domain: String,
    server_id: String,
    base_url: Option<String>,
    audiences: Vec<String>,
    common: Common,
}

impl Okta {
    /// The custom authorization server `server_id` of the Okta org at `domain`
    /// (`example.okta.com`, or the org's custom domain).
    pub fn custom_authorization_server(
        domain: impl Into<String>,
        server_id: impl Into<String>,
    ) -> Self {
        Self {
            domain: domain.into(),
            server_id: server_id.into(),
            base_url: None,
            audiences: Vec::new(),
            common: Common::default(),
        }
    }

    /// The custom authorization server named `default` with its audience `api://default`.
    pub fn default_server(domain: impl Into<String>) -> Self {
        Self::custom_authorization_server(domain, "default").audience("api://default")
    }

    /// An audience of the authorization server (its "Audience" setting), compared byte for
    /// byte. May be called more than once.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Replaces `https://{domain}` with `url` in the issuer and the key location (a loopback
    /// test server).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    common_setters! {
        /// Accepts only tokens whose `cid` is one of `ids`.
    }

    /// Also reads the claim `groups` (add a "Groups" claim to the access token on the
    /// authorization server) and maps the group `group` to `scopes`. An unmapped group
    /// grants nothing.
    pub fn map_group<I, S>(mut self, group: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common.map_role(group, scopes);
        self
    }

    /// The issuer, as it appears in `iss`.
    pub fn issuer(&self) -> String {
        let origin = origin_of(self.base_url.as_deref().unwrap_or(&self.domain));
        format!("{origin}/oauth2/{}", self.server_id)
    }

    fn problem(&self) -> Option<String> {
        host_problem("domain", &self.domain)
            .or_else(|| {
                self.base_url
                    .as_deref()
                    .and_then(|u| host_problem("base URL", u))
            })
            .or_else(|| segment_problem("authorization server id", &self.server_id))
            .or_else(|| {
                self.audiences.is_empty().then(|| {
                    "a custom authorization server's tokens carry its audience: call audience \
                     (api://default on the server named default)"
                        .to_owned()
                })
            })
    }
}

impl From<Okta> for TrustedIssuer {
    fn from(p: Okta) -> Self {
        let problem = p.problem();
        let issuer = p.issuer();
        let mut sources = vec![ScopeSource::claim("scp")];
        if !p.common.roles.is_empty() {
            sources.push(ScopeSource::claim("groups").roles());
        }
        let mut t = Self::new(issuer.clone())
            .preset_jwks_uri(format!("{issuer}/v1/keys"))
            .typ_policy(TypPolicy::AllowJwt)
            .client_id_claims(["cid"])
            .required_claims(RequiredClaims::ALL)
            .scope_sources(sources)
            .claim_check(
                AnyClaimPresent::new(["scp"]).refusing_with(ClaimRejection::new(
                    "token lacks the claims of an access token",
                )),
            );
        for aud in p.audiences {
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
    fn issuer_from_domain_server_and_base_url() {
        let p = Okta::default_server("example.okta.com");
        assert_eq!(p.issuer(), "https://example.okta.com/oauth2/default");
        assert!(p.problem().is_none());
        let local = Okta::default_server("example.okta.com").base_url("http://127.0.0.1:9");
        assert_eq!(local.issuer(), "http://127.0.0.1:9/oauth2/default");
    }

    #[test]
    fn parameters_no_token_can_match_are_named() {
        for (p, needle) in [
            (
                Okta::custom_authorization_server("example.okta.com", "aus1"),
                "audience",
            ),
            (
                Okta::custom_authorization_server("example.okta.com", "a/b").audience("x"),
                "segment",
            ),
            (
                Okta::custom_authorization_server("", "aus1").audience("x"),
                "domain",
            ),
        ] {
            let problem = p.problem().expect("a problem");
            assert!(problem.contains(needle), "{problem}");
        }
    }
}
