//! WorkOS AuthKit (Connect: OAuth applications and MCP clients): [`WorkOs`].

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
    client_ids: Vec<String>,
}

impl WorkOs {
    /// The AuthKit domain `host` (`acme.authkit.app`, `auth.example.com`), or a full
    /// `https://` URL of it.
    pub fn authkit_domain(host: impl Into<String>) -> Self {
        let host = host.into();
        let domain = if host.contains("://") {
            host
        } else {
            format!("https://{host}")
        };
        Self {
            domain,
            client_ids: Vec::new(),
        }
    }

    /// Replaces the AuthKit domain URL (loopback tests): the issuer becomes `url`, without a
    /// trailing `/`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.domain = url.into();
        self
    }

    /// Accepts only tokens whose `client_id` is one of these applications.
    pub fn allowed_client_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.client_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// The `iss` this preset trusts: the AuthKit domain URL.
    pub fn issuer(&self) -> String {
        self.domain.trim_end_matches('/').to_owned()
    }

    /// Where the environment's keys are: `{issuer}/oauth2/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/oauth2/jwks", self.issuer())
    }
}

impl From<WorkOs> for TrustedIssuer {
    fn from(w: WorkOs) -> Self {
        let mut t = TrustedIssuer::new(w.issuer())
            .jwks_uri(w.jwks_uri())
            .algorithms([Algorithm::RS256])
            // AuthKit signs access, ID and session tokens alike with `typ: JWT`.
            .typ_policy(TypPolicy::AllowJwt)
            .client_id_claims(["client_id"]);
        if !w.client_ids.is_empty() {
            t = t.allowed_client_ids(w.client_ids.iter().cloned());
        }
        let issuer = w.issuer();
        if issuer.starts_with("https://api.workos.com") {
            t = t.fail(ConfigError::Provider {
                provider: PROVIDER,
                problem: format!(
                    "{issuer:?} issues AuthKit session tokens, not access tokens for an API: \
                     give the AuthKit domain (such as \"acme.authkit.app\")"
                ),
            });
        } else if issuer.split_once("://").is_none_or(|(_, h)| h.is_empty()) {
            t = t.fail(ConfigError::Provider {
                provider: PROVIDER,
                problem: format!(
                    "AuthKit domain {:?} has no host: give it as \"acme.authkit.app\"",
                    w.domain
                ),
            });
        }
        t
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
}
