//! Clerk (as an OAuth authorization server): [`Clerk`].

use super::{Common, PresetError, host_problem, origin_of};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::claims::RequiredClaims;
use mcp_auth_core::jws::{Algorithm, TypPolicy};

const PROVIDER: &str = "Clerk";

/// The issuer settings for the **JWT** OAuth access tokens of a Clerk instance.
///
/// **JWT access tokens only.** Clerk issues OAuth access tokens as JWTs by default for
/// applications created from 2026 on; applications created before keep issuing opaque
/// tokens (`oat_…`) unless *Generate access tokens as JWTs* is turned on (Dashboard, OAuth
/// applications, Settings). An opaque token can only be checked by asking Clerk
/// (introspection), which mcp-auth does not do yet: such a token is refused as malformed
/// (401 `invalid_token`). Turn on JWT access tokens for this instance.
///
/// - **Issuer** the instance's Frontend API URL (`https://verb-noun-42.clerk.accounts.dev` for
///   a development instance, `https://clerk.example.com` for production), keys at
///   `{issuer}/.well-known/jwks.json` (taken directly, no discovery), RS256 only.
/// - **Access token, not session or ID token**: Clerk marks its OAuth JWT access tokens with
///   `typ: at+jwt` (RFC 9068), and its session tokens, ID tokens, JWT-template tokens and M2M
///   JWTs with `typ: JWT`, all signed by the same instance key. The strict RFC 9068 `typ`
///   rule ([`TypPolicy::Strict`]) is what keeps those out; the preset never relaxes it.
/// - **Audience**: `aud` must be this resource's URI, as the MCP server registered in the
///   Clerk Dashboard (*MCP servers*, *MCP URL*) makes Clerk set it. A token without `aud` is
///   refused.
/// - **Client**: `client_id` (required), optionally limited by
///   [`allowed_client_ids`](Self::allowed_client_ids); with Dynamic Client Registration
///   every MCP client has its own id, so the list is usually left open. Subject `sub`
///   (`user_…`).
/// - **Claims**: `sub`, `client_id` and `iat` are required; `jti` is not, since Clerk's own
///   SDK treats it as optional.
/// - **Scopes**: `scope` (or `scp`), as granted on the consent screen.
///
/// **Weaker than RFC 9068** (named, not silent): `jti` is not required. Opaque access
/// tokens are not supported at all (see above).
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::providers::Clerk;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(Clerk::frontend_api("verb-noun-42.clerk.accounts.dev"))
///     .scopes_supported(["profile", "email"])
///     .require_scopes(["profile"])
///     .build()?;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Clerk {
    frontend_api: String,
    base_url: Option<String>,
    common: Common,
}

impl Clerk {
    /// The instance whose Frontend API is `host` (`verb-noun-42.clerk.accounts.dev`,
    /// `clerk.example.com`), or a full `https://` URL of it.
    pub fn frontend_api(host: impl Into<String>) -> Self {
        Self {
            frontend_api: host.into(),
            base_url: None,
            common: Common::default(),
        }
    }

    /// Replaces the Frontend API URL (a satellite or proxy domain, loopback tests): the
    /// issuer becomes `url`, without a trailing `/`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    common_setters! {
        /// Accepts only tokens whose `client_id` is one of these OAuth applications.
    }

    /// The `iss` this preset trusts: the Frontend API URL.
    pub fn issuer(&self) -> String {
        origin_of(self.base_url.as_deref().unwrap_or(&self.frontend_api))
    }

    /// Where the instance's keys are: `{issuer}/.well-known/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer())
    }

    fn problem(&self) -> Option<String> {
        host_problem("Frontend API", &self.frontend_api).or_else(|| {
            self.base_url
                .as_deref()
                .and_then(|u| host_problem("base URL", u))
        })
    }
}

impl From<Clerk> for TrustedIssuer {
    fn from(c: Clerk) -> Self {
        let mut required = RequiredClaims::ALL;
        required.jti = false;
        let problem = c.problem();
        let t = Self::new(c.issuer())
            .preset_jwks_uri(c.jwks_uri())
            .algorithms([Algorithm::RS256])
            // `at+jwt` is what tells an access token from a session or ID token.
            .typ_policy(TypPolicy::Strict)
            .client_id_claims(["client_id"])
            .required_claims(required);
        let t = c.common.apply(t);
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
    fn issuer_is_the_frontend_api_url() {
        let c = Clerk::frontend_api("verb-noun-42.clerk.accounts.dev");
        assert_eq!(c.issuer(), "https://verb-noun-42.clerk.accounts.dev");
        assert_eq!(
            c.jwks_uri(),
            "https://verb-noun-42.clerk.accounts.dev/.well-known/jwks.json"
        );
        assert_eq!(
            Clerk::frontend_api("https://clerk.example.com/").issuer(),
            "https://clerk.example.com"
        );
        assert_eq!(
            c.base_url("http://127.0.0.1:4000/").issuer(),
            "http://127.0.0.1:4000"
        );
    }

    #[test]
    fn a_frontend_api_that_is_no_host_is_named() {
        assert_eq!(Clerk::frontend_api("clerk.example.com").problem(), None);
        for c in [
            Clerk::frontend_api(""),
            Clerk::frontend_api("https://"),
            Clerk::frontend_api("clerk.example.com").base_url("http://127.0.0.1:4000?x"),
        ] {
            assert!(c.problem().is_some(), "{c:?}");
        }
    }
}
