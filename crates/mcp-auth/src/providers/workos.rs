//! WorkOS AuthKit (Connect: OAuth applications and MCP clients): [`WorkOs`].

use super::{Common, PresetError, host_problem, origin_of};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::jws::{Algorithm, TypPolicy};

const PROVIDER: &str = "WorkOS AuthKit";

/// The issuer settings for the access tokens WorkOS AuthKit (Connect) issues to OAuth
/// applications and MCP clients (registered by Dynamic Client Registration, a Client ID
/// Metadata Document, or by hand).
///
/// - **Issuer** the AuthKit domain (`https://acme.authkit.app`, or a custom authentication
///   domain), keys at `{issuer}/oauth2/jwks` (taken directly, no discovery), RS256 only.
/// - **Audience**: `aud` must be this resource's URI, the *resource indicator* configured in
///   the WorkOS Dashboard. Without a configured resource, AuthKit sets `aud` to the
///   environment's client id, which names no particular API: such tokens are refused.
/// - **Access token, not ID token or session token**: an ID token's `aud` is the requesting
///   application's client id and it carries no `client_id`; an AuthKit *session* access
///   token (your own application's sign-in) has another issuer
///   (`https://api.workos.com/user_management/client_…`) and no `aud`. The header says
///   `typ: JWT` for all of them, so it cannot be used ([`TypPolicy::AllowJwt`]); the
///   audience and the required `client_id` keep them out.
/// - **Client**: `client_id` (the requesting application), optionally limited by
///   [`allowed_client_ids`](Self::allowed_client_ids); with DCR or CIMD every MCP client has
///   its own id. Subject `sub` (`user_…`; for an M2M token, the application's client id).
///   All RFC 9068 §2.2 claims are required (`sub`, `client_id`, `iat`, `jti`).
/// - **Scopes**: `scope`. The user's organization `role` and `permissions` are about the
///   user, not what the client was granted: they are not read as scopes (check them with a
///   [`claim_check`](TrustedIssuer::claim_check) if access depends on them).
///
/// **Weaker than RFC 9068** (named, not silent): a `typ: JWT` header is accepted; the
/// audience and the required `client_id` tell the kinds of token apart instead.
///
/// M2M tokens (client credentials) carry the environment client id as `aud`, which cannot
/// be set to a resource: they are refused unless that id is added with
/// [`TrustedIssuer::additional_audience`] together with a client allow-list.
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::providers::WorkOs;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(WorkOs::authkit_domain("acme.authkit.app"))
///     .scopes_supported(["mcp:read"])
///     .require_scopes(["mcp:read"])
///     .build()?;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct WorkOs {
    domain: String,
    base_url: Option<String>,
    common: Common,
}

impl WorkOs {
    /// The AuthKit domain `host` (`acme.authkit.app`, `auth.example.com`), or a full
    /// `https://` URL of it.
    pub fn authkit_domain(host: impl Into<String>) -> Self {
        Self {
            domain: host.into(),
            base_url: None,
            common: Common::default(),
        }
    }

    /// Replaces the AuthKit domain URL (loopback tests): the issuer becomes `url`, without a
    /// trailing `/`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    common_setters! {
        /// Accepts only tokens whose `client_id` is one of these applications.
    }

    /// The `iss` this preset trusts: the AuthKit domain URL.
    pub fn issuer(&self) -> String {
        origin_of(self.base_url.as_deref().unwrap_or(&self.domain))
    }

    /// Where the environment's keys are: `{issuer}/oauth2/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/oauth2/jwks", self.issuer())
    }

    fn problem(&self) -> Option<String> {
        let issuer = self.issuer();
        if issuer == "https://api.workos.com" || issuer.starts_with("https://api.workos.com/") {
            return Some(format!(
                "{issuer:?} issues AuthKit session tokens, not access tokens for an API: give \
                 the AuthKit domain (such as \"acme.authkit.app\")"
            ));
        }
        host_problem("AuthKit domain", &self.domain).or_else(|| {
            self.base_url
                .as_deref()
                .and_then(|u| host_problem("base URL", u))
        })
    }
}

impl From<WorkOs> for TrustedIssuer {
    fn from(w: WorkOs) -> Self {
        let problem = w.problem();
        let t = Self::new(w.issuer())
            .preset_jwks_uri(w.jwks_uri())
            .algorithms([Algorithm::RS256])
            // AuthKit signs access, ID and session tokens alike with `typ: JWT`.
            .typ_policy(TypPolicy::AllowJwt)
            .client_id_claims(["client_id"]);
        let t = w.common.apply(t);
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
    fn issuer_is_the_authkit_domain() {
        let w = WorkOs::authkit_domain("acme.authkit.app");
        assert_eq!(w.issuer(), "https://acme.authkit.app");
        assert_eq!(w.jwks_uri(), "https://acme.authkit.app/oauth2/jwks");
        assert_eq!(
            w.base_url("http://127.0.0.1:4000/").issuer(),
            "http://127.0.0.1:4000"
        );
    }

    #[test]
    fn the_session_token_issuer_and_no_host_are_named() {
        assert_eq!(WorkOs::authkit_domain("acme.authkit.app").problem(), None);
        for (w, needle) in [
            (WorkOs::authkit_domain("api.workos.com"), "session tokens"),
            (
                WorkOs::authkit_domain("https://api.workos.com/user_management/client_1"),
                "session tokens",
            ),
            (WorkOs::authkit_domain(""), "AuthKit domain"),
        ] {
            let p = w.problem().expect("refused");
            assert!(p.contains(needle), "{p}");
        }
    }
}
