//! Keycloak realms.

use super::{Common, PresetError, host_problem, origin_of, segment_problem};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::checks::{ClaimIn, ClaimRejection};
use mcp_auth_core::claims::ScopeSource;
use mcp_auth_core::jws::TypPolicy;

const PROVIDER: &str = "Keycloak";

/// Access tokens of a Keycloak realm: issuer `{base}/realms/{realm}` (`base` is the server's
/// URL, with `/auth` for Keycloak before 17 or where the server is configured so), keys at
/// `…/protocol/openid-connect/certs`, client in `azp`, scopes in `scope`, roles in
/// `realm_access.roles` ([`realm_roles`](Self::realm_roles)) and
/// `resource_access.<client>.roles` ([`client_roles`](Self::client_roles)), mapped to this
/// server's scopes with [`map_role`](Self::map_role) (an unmapped role grants nothing).
///
/// Audience: Keycloak puts `account` (and the clients whose roles the token carries) in
/// `aud`, never the MCP server unless configured: add an "Audience" mapper to a client scope
/// of the MCP clients, with "Included Custom Audience" set to the resource URI (then no
/// [`audience`](Self::audience) is needed), or "Included Client Audience" set to the
/// server's client (then name it with [`audience`](Self::audience)).
///
/// **Access token, not ID token**: Keycloak writes the token type in the claim `typ`:
/// `Bearer` for access tokens, `ID` for ID tokens, `Refresh` for refresh tokens; the preset
/// accepts only `Bearer`.
///
/// **Weaker than RFC 9068** (named, not silent):
/// - `typ: JWT` in the header is accepted ([`TypPolicy::AllowJwt`]); the `typ` claim does
///   the header's job;
/// - the client id is `azp`, not `client_id`;
/// - without [`allowed_client_ids`](Self::allowed_client_ids), every client of the realm
///   whose tokens carry the audience is accepted.
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::core::keys::StaticKeySource;
/// use mcp_auth::providers::Keycloak;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(
///         Keycloak::new("https://sso.example.com", "acme")
///             .realm_roles()
///             .client_roles("mcp-server")
///             .map_role("mcp-reader", ["mcp:read"])
///             .map_role("mcp-admin", ["mcp:read", "mcp:write"])
///             .allowed_client_ids(["mcp-inspector"]),
///     )
///     .key_source(StaticKeySource::new())
///     .require_scopes(["mcp:read"])
///     .build()?;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Keycloak {
    base: String,
    realm: String,
    audiences: Vec<String>,
    realm_roles: bool,
    client_roles: Vec<String>,
    common: Common,
}

impl Keycloak {
    /// The realm `realm` of the Keycloak server at `base` (`https://sso.example.com`, or a
    /// host alone).
    pub fn new(base: impl Into<String>, realm: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            realm: realm.into(),
            audiences: Vec::new(),
            realm_roles: false,
            client_roles: Vec::new(),
            common: Common::default(),
        }
    }

    /// Replaces the server URL given to [`new`](Self::new) (a loopback test server, a
    /// proxy).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base = url.into();
        self
    }

    /// An `aud` the tokens carry besides (or instead of) the resource URI: the client set
    /// as "Included Client Audience" in an Audience mapper. May be called more than once.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Reads the realm roles (`realm_access.roles`), mapped by [`map_role`](Self::map_role).
    pub fn realm_roles(mut self) -> Self {
        self.realm_roles = true;
        self
    }

    /// Reads the roles of the client `client_id` (`resource_access.<client_id>.roles`),
    /// mapped by [`map_role`](Self::map_role). May be called more than once.
    pub fn client_roles(mut self, client_id: impl Into<String>) -> Self {
        self.client_roles.push(client_id.into());
        self
    }

    /// Maps the Keycloak role `role` (from the realm or client roles read) to `scopes`.
    pub fn map_role<I, S>(mut self, role: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common.map_role(role, scopes);
        self
    }

    common_setters! {
        /// Accepts only tokens whose `azp` is one of `ids`.
    }

    /// The issuer, as it appears in `iss`.
    pub fn issuer(&self) -> String {
        format!("{}/realms/{}", origin_of(&self.base), self.realm)
    }

    fn problem(&self) -> Option<String> {
        host_problem("server URL", &self.base)
            .or_else(|| segment_problem("realm", &self.realm))
            .or_else(|| {
                let roles_read = self.realm_roles || !self.client_roles.is_empty();
                match (roles_read, self.common.roles.is_empty()) {
                    (true, true) => Some(
                        "realm or client roles are read but none is mapped: call map_role"
                            .to_owned(),
                    ),
                    (false, false) => Some(
                        "map_role without a source of roles: call realm_roles or client_roles"
                            .to_owned(),
                    ),
                    _ => None,
                }
            })
    }
}

impl From<Keycloak> for TrustedIssuer {
    fn from(p: Keycloak) -> Self {
        let problem = p.problem();
        let issuer = p.issuer();
        let mut sources = vec![ScopeSource::claim("scope")];
        if p.realm_roles {
            sources.push(ScopeSource::path(["realm_access", "roles"]).roles());
        }
        for client in &p.client_roles {
            sources.push(ScopeSource::path(["resource_access", client.as_str(), "roles"]).roles());
        }
        // Keycloak's own token type claim (not the header): access tokens are `Bearer`.
        let typ = ClaimIn::new("typ", ["Bearer"])
            .refusing_with(ClaimRejection::new("token is not an access token"));
        let mut t = Self::new(issuer.clone())
            .preset_jwks_uri(format!("{issuer}/protocol/openid-connect/certs"))
            .typ_policy(TypPolicy::AllowJwt)
            .client_id_claims(["azp"])
            .scope_sources(sources)
            .claim_check(typ);
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
    fn issuer_from_base_and_realm() {
        assert_eq!(
            Keycloak::new("https://sso.example.com/", "acme").issuer(),
            "https://sso.example.com/realms/acme"
        );
        assert_eq!(
            Keycloak::new("sso.example.com/auth", "acme").issuer(),
            "https://sso.example.com/auth/realms/acme"
        );
        assert_eq!(
            Keycloak::new("https://sso.example.com", "acme")
                .base_url("http://127.0.0.1:9")
                .issuer(),
            "http://127.0.0.1:9/realms/acme"
        );
    }

    #[test]
    fn roles_need_a_mapping_and_a_source() {
        let base = || Keycloak::new("https://sso.example.com", "acme");
        assert!(base().problem().is_none());
        assert!(base().realm_roles().problem().unwrap().contains("map_role"));
        assert!(
            base()
                .map_role("r", ["s"])
                .problem()
                .unwrap()
                .contains("realm_roles")
        );
        assert!(
            base()
                .client_roles("c")
                .map_role("r", ["s"])
                .problem()
                .is_none()
        );
        assert!(
            Keycloak::new("https://sso.example.com", "a/b")
                .problem()
                .is_some()
        );
    }
}
