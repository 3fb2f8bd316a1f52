//! The claim-mapping settings of [`McpAuthBuilder`]: where the client id, the subject and the
//! scopes are, provider roles mapped to scopes, and which RFC 9068 claims are required.

use super::McpAuthBuilder;
use crate::config_error::ConfigError;
use mcp_auth_core::claims::{ClaimMapping, RequiredClaims, RoleMap, ScopeSource};

/// What the builder holds for the claim mapping until [`build`](McpAuthBuilder::build).
#[derive(Debug, Default)]
pub(crate) struct MappingSettings {
    pub(crate) client_id_claims: Option<Vec<String>>,
    pub(crate) subject_claim: Option<String>,
    pub(crate) scope_sources: Option<Vec<ScopeSource>>,
    pub(crate) roles: Vec<(String, Vec<String>)>,
    pub(crate) required: RequiredClaims,
}

impl MappingSettings {
    /// The mapping, checked.
    pub(crate) fn mapping(&self) -> Result<ClaimMapping, ConfigError> {
        let mut m = ClaimMapping::new();
        if let Some(names) = &self.client_id_claims {
            m = m.with_client_id_claims(names.iter().cloned());
        }
        if let Some(name) = &self.subject_claim {
            m = m.with_subject_claim(name.clone());
        }
        if let Some(sources) = &self.scope_sources {
            m = m.with_scope_sources(sources.iter().cloned());
        }
        if !self.roles.is_empty() {
            let mut roles = RoleMap::new();
            for (role, scopes) in &self.roles {
                roles.insert(role.clone(), scopes)?;
            }
            m = m.with_role_map(roles);
        }
        m.validate()?;
        Ok(m)
    }
}

impl McpAuthBuilder {
    /// Where the client id is: the first of `names` the token carries (default `client_id`,
    /// else `azp`). Okta: `["cid"]`; Entra v1: `["appid"]`; Keycloak, Auth0, Entra v2:
    /// `["azp"]`. [`AuthContext::client_id`](crate::AuthContext::client_id) and
    /// [`allowed_client_ids`](Self::allowed_client_ids) read it, and any of these claims
    /// satisfies the `client_id` requirement of [`required_claims`](Self::required_claims)
    /// (with the default, only `client_id` itself does, as RFC 9068 §2.2 says). Each must be
    /// a string when present; an empty list or a registered claim that holds no client id
    /// (`iss`, `aud`, ...) is a [`ConfigError::ClaimMapping`] at build.
    ///
    /// ```
    /// use mcp_auth::McpAuthLayer;
    /// use mcp_auth::core::keys::StaticKeySource;
    ///
    /// let okta = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://example.okta.com/oauth2/default")
    ///     .key_source(StaticKeySource::new())
    ///     .client_id_claims(["cid"])
    ///     .allowed_client_ids(["0oa1b2c3d4e5f6g7h8i9"])
    ///     .build()?;
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn client_id_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.defaults.mapping.client_id_claims = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Where the subject is (default `sub`): [`AuthContext::subject`](crate::AuthContext::subject)
    /// and [`user_key`](crate::AuthContext::user_key) read it, and it satisfies the `sub`
    /// requirement of [`required_claims`](Self::required_claims). A string when present.
    pub fn subject_claim(mut self, name: impl Into<String>) -> Self {
        self.defaults.mapping.subject_claim = Some(name.into());
        self
    }

    /// Where the scopes are, instead of `scope` and `scp` (list them too to keep them): Auth0
    /// `permissions`, Entra `roles`, Keycloak `realm_access.roles`, `cognito:groups`; each a
    /// space-separated string or an array of strings, read as scopes or, with
    /// [`ScopeSource::roles`], as roles mapped by [`map_role`](Self::map_role). The shapes,
    /// and what a claim of another type does (the token is refused), are in
    /// [`mcp_auth_core::claims::ScopeSource`]'s module. Read once at validation; the
    /// verified-token cache keeps the resulting scopes.
    ///
    /// ```
    /// use mcp_auth::McpAuthLayer;
    /// use mcp_auth::core::claims::ScopeSource;
    /// use mcp_auth::core::keys::StaticKeySource;
    ///
    /// // Keycloak: realm roles and this client's roles, mapped to the server's scopes.
    /// let keycloak = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://sso.example.com/realms/acme")
    ///     .key_source(StaticKeySource::new())
    ///     .client_id_claims(["azp"])
    ///     .scope_sources([
    ///         ScopeSource::claim("scope"),
    ///         ScopeSource::path(["realm_access", "roles"]).roles(),
    ///         ScopeSource::path(["resource_access", "mcp-server", "roles"]).roles(),
    ///     ])
    ///     .map_role("mcp-reader", ["mcp:read"])
    ///     .map_role("mcp-admin", ["mcp:read", "mcp:write"])
    ///     .require_scopes(["mcp:read"])
    ///     .build()?;
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn scope_sources(mut self, sources: impl IntoIterator<Item = ScopeSource>) -> Self {
        self.defaults.mapping.scope_sources = Some(sources.into_iter().collect());
        self
    }

    /// Maps the provider role `role` (read from the [`ScopeSource::roles`] sources of
    /// [`scope_sources`](Self::scope_sources)) to `scopes` of this server; may be called more
    /// than once. A role not mapped grants nothing. A scope that is not valid syntax is a
    /// [`ConfigError::Scope`] at build; roles without a roles source, or a roles source
    /// without roles, a [`ConfigError::ClaimMapping`].
    pub fn map_role<I, S>(mut self, role: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into).collect();
        self.defaults.mapping.roles.push((role.into(), scopes));
        self
    }

    /// Which RFC 9068 §2.2 claims are required, one by one (default all). `iss`, `exp` and
    /// `aud` are always required.
    ///
    /// ```
    /// use mcp_auth::McpAuthLayer;
    /// use mcp_auth::core::claims::RequiredClaims;
    /// use mcp_auth::core::keys::StaticKeySource;
    ///
    /// let mut required = RequiredClaims::ALL;
    /// required.jti = false; // this provider issues no `jti`
    /// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     .client_id_claims(["azp"])
    ///     .required_claims(required)
    ///     .build()?;
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn required_claims(mut self, required: RequiredClaims) -> Self {
        self.defaults.mapping.required = required;
        self
    }

    /// Whether `sub`, `client_id`, `iat` and `jti` are required (RFC 9068 §2.2; default on):
    /// the short form of [`required_claims`](Self::required_claims) with all or none.
    pub fn require_rfc9068_claims(mut self, on: bool) -> Self {
        self.defaults.mapping.required = RequiredClaims::all(on);
        self
    }
}
