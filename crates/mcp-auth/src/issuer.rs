//! [`TrustedIssuer`]: one trusted authorization server (or several sharing one set of rules)
//! with its own audiences, `typ` rule, algorithms, claim mapping, required claims and claim
//! checks.
//!
//! The builder's issuer settings ([`McpAuthBuilder::algorithms`],
//! [`additional_audience`](McpAuthBuilder::additional_audience), ...) are the short form:
//! they apply to the issuers named with [`McpAuthBuilder::issuer`]. Each
//! [`McpAuthBuilder::trusted_issuer`] brings its own rules instead, starting from the same
//! secure defaults and taking nothing from the builder's; the payload's `iss` picks the rules
//! a token is judged by ([`mcp_auth_core::validation::JwtRules::per_issuer`]).

#[cfg(doc)]
use crate::McpAuthBuilder;
use crate::builder::MappingSettings;
use crate::config_error::ConfigError;
use mcp_auth_core::checks::{ClaimCheck, ClaimChecks, MaxTokenAge};
use mcp_auth_core::claims::{Audience, ClaimsPolicy, RequiredClaims, ScopeSource};
use mcp_auth_core::jws::{Algorithm, HeaderPolicy, TypPolicy};
use mcp_auth_core::resource::{AudiencePolicy, ResourceUri};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The rules one group of issuers is judged by: what [`TrustedIssuer`] configures, and what
/// the builder holds for the issuers of [`McpAuthBuilder::issuer`].
#[derive(Debug)]
pub(crate) struct IssuerSettings {
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) typ: TypPolicy,
    pub(crate) audience_policy: AudiencePolicy,
    pub(crate) extra_audiences: Vec<String>,
    pub(crate) require_audience: bool,
    pub(crate) leeway: Duration,
    pub(crate) mapping: MappingSettings,
    pub(crate) allowed_client_ids: Option<Vec<String>>,
    pub(crate) checks: ClaimChecks,
}

impl Default for IssuerSettings {
    fn default() -> Self {
        Self {
            algorithms: Algorithm::DEFAULT_ALLOWED.to_vec(),
            typ: TypPolicy::Strict,
            audience_policy: AudiencePolicy::Exact,
            extra_audiences: Vec::new(),
            require_audience: true,
            leeway: Duration::from_secs(60),
            mapping: MappingSettings::default(),
            allowed_client_ids: None,
            checks: ClaimChecks::new(),
        }
    }
}

impl IssuerSettings {
    /// The header and claims policies of `issuers` under these settings, checked.
    pub(crate) fn policies(
        &self,
        resource: &ResourceUri,
        issuers: &[String],
        max_token_len: usize,
    ) -> Result<(HeaderPolicy, ClaimsPolicy), ConfigError> {
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        // No audience to bind the token to this resource: a client allow-list must (MCP
        // "Token Handling": a server MUST only accept tokens meant for it).
        if !self.require_audience && self.allowed_client_ids.is_none() {
            return Err(ConfigError::UnboundAudience(
                issuers.first().cloned().unwrap_or_default(),
            ));
        }
        let header = HeaderPolicy {
            algorithms: self.algorithms.clone(),
            typ: self.typ,
            max_token_len,
        };
        let mut claims = ClaimsPolicy::new(resource.clone(), String::new());
        claims.issuers = issuers.to_vec();
        claims.extra_audiences = self
            .extra_audiences
            .iter()
            .map(|a| Audience::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        claims.audience_policy = self.audience_policy;
        claims.require_audience = self.require_audience;
        claims.leeway = self.leeway.as_secs();
        claims.required_claims = self.mapping.required;
        // The claims the checks read are captured in the token's one parse pass.
        claims.mapping = self
            .mapping
            .mapping()?
            .with_captured_claims(self.checks.claims_read());
        claims.allowed_client_ids = self.allowed_client_ids.clone().map(Arc::from);
        claims.checks = self.checks.clone();
        Ok((header, claims))
    }
}

/// One trusted issuer (or several exact issuers sharing one set of rules) with its own
/// audiences, `typ` rule, algorithms, claim mapping, required claims, maximum token age and
/// claim checks: given to [`McpAuthBuilder::trusted_issuer`], once per issuer entry.
///
/// It starts from the builder's secure defaults (RS256 and ES256, strict RFC 9068 `typ`, the
/// resource as the only audience under [`AudiencePolicy::Exact`], every RFC 9068 claim
/// required, 60 s leeway) and takes nothing from the builder's own issuer settings, which
/// apply only to the issuers of [`McpAuthBuilder::issuer`]. Each setting means what the
/// builder method of the same name means, for this entry's tokens only. The presets of
/// [`crate::providers`] make one.
///
/// ```
/// use mcp_auth::{McpAuthLayer, TrustedIssuer};
/// use mcp_auth::core::claims::ScopeSource;
/// use mcp_auth::core::keys::StaticKeySource;
/// use std::time::Duration;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     // The company's own RFC 9068 authorization server, with the strict defaults.
///     .trusted_issuer(TrustedIssuer::new("https://auth.example.com"))
///     // A partner's Keycloak realm: roles mapped to this server's scopes, short-lived tokens.
///     .trusted_issuer(
///         TrustedIssuer::new("https://sso.partner.example/realms/mcp")
///             .client_id_claims(["azp"])
///             .scope_sources([ScopeSource::path(["realm_access", "roles"]).roles()])
///             .map_role("mcp-reader", ["mcp:read"])
///             .max_token_age(Duration::from_secs(600)),
///     )
///     .key_source(StaticKeySource::new())
///     .build()?;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[must_use]
pub struct TrustedIssuer {
    pub(crate) issuers: Vec<String>,
    pub(crate) jwks_uri: Option<String>,
    /// `jwks_uri` is a preset's default location, not the user's setting: with a custom key
    /// source it is simply not used (that source knows where its keys are), where a
    /// location the user set is refused as having no effect.
    pub(crate) jwks_uri_from_preset: bool,
    pub(crate) settings: IssuerSettings,
    /// How this entry's opaque tokens are introspected, if they are.
    pub(crate) introspection: Option<crate::introspection::Introspection>,
    /// A preset's own configuration error, reported by [`McpAuthBuilder::build`].
    pub(crate) error: Option<ConfigError>,
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuers", &self.issuers)
            .field("jwks_uri", &self.jwks_uri)
            .field("settings", &self.settings)
            .field("introspection", &self.introspection)
            .finish_non_exhaustive()
    }
}

impl TrustedIssuer {
    /// Trusts tokens whose `iss` is exactly `issuer` (RFC 9068 §4, RFC 8414 §3.3).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self::any_of([issuer])
    }

    /// Trusts several exact issuers with one set of rules (Entra ID: one issuer per allowed
    /// tenant). Each issuer's keys stay its own (RFC 8725 §3.8).
    pub fn any_of<I, S>(issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            issuers: issuers.into_iter().map(Into::into).collect(),
            jwks_uri: None,
            jwks_uri_from_preset: false,
            settings: IssuerSettings::default(),
            introspection: None,
            error: None,
        }
    }

    /// The issuers this entry trusts.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// Where the keys of every issuer of this entry are, instead of discovering them (the
    /// default JWKS key source only: with [`McpAuthBuilder::key_source`] it is a
    /// [`ConfigError::IgnoredByKeySource`]).
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self.jwks_uri_from_preset = false;
        self
    }

    /// A preset's JWKS location for this entry: used by the default JWKS key source, and
    /// not an error with [`McpAuthBuilder::key_source`] (which then provides the keys).
    pub(crate) fn preset_jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self.jwks_uri_from_preset = true;
        self
    }

    /// As [`McpAuthBuilder::algorithms`]: this entry's algorithm allow-list (RFC 8725 §3.1).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.settings.algorithms = algs.into_iter().collect();
        self
    }

    /// As [`McpAuthBuilder::typ_policy`].
    pub fn typ_policy(mut self, typ: TypPolicy) -> Self {
        self.settings.typ = typ;
        self
    }

    /// As [`McpAuthBuilder::audience_policy`].
    pub fn audience_policy(mut self, policy: AudiencePolicy) -> Self {
        self.settings.audience_policy = policy;
        self
    }

    /// As [`McpAuthBuilder::additional_audience`]: an RFC 7519 StringOrURI this entry's
    /// tokens may carry in `aud` instead of the resource, compared byte for byte.
    pub fn additional_audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.extra_audiences.push(audience.into());
        self
    }

    /// Accepts this entry's tokens without `aud` (AWS Cognito access tokens carry none).
    /// **This removes the audience binding** of RFC 8707 and the MCP specification for
    /// such tokens: a token the same authorization server issued for another API would be
    /// accepted. So it needs [`allowed_client_ids`](Self::allowed_client_ids) (else
    /// [`ConfigError::UnboundAudience`] at build), which binds tokens to the clients this
    /// server serves instead; a token that does carry `aud` must still name this resource
    /// or an additional audience.
    pub fn without_audience_claim(mut self) -> Self {
        self.settings.require_audience = false;
        self
    }

    /// As [`McpAuthBuilder::leeway`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.settings.leeway = leeway;
        self
    }

    /// As [`McpAuthBuilder::allowed_client_ids`].
    pub fn allowed_client_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings.allowed_client_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// As [`McpAuthBuilder::claim_check`]: a rule on this entry's verified claims.
    pub fn claim_check(mut self, check: impl ClaimCheck) -> Self {
        self.settings.checks.push(check);
        self
    }

    /// As [`McpAuthBuilder::max_token_age`].
    pub fn max_token_age(self, max: Duration) -> Self {
        self.claim_check(MaxTokenAge::new(max))
    }

    /// As [`McpAuthBuilder::client_id_claims`].
    pub fn client_id_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings.mapping.client_id_claims = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// As [`McpAuthBuilder::subject_claim`].
    pub fn subject_claim(mut self, name: impl Into<String>) -> Self {
        self.settings.mapping.subject_claim = Some(name.into());
        self
    }

    /// As [`McpAuthBuilder::required_claims`].
    pub fn required_claims(mut self, required: RequiredClaims) -> Self {
        self.settings.mapping.required = required;
        self
    }

    /// As [`McpAuthBuilder::scope_sources`].
    pub fn scope_sources(mut self, sources: impl IntoIterator<Item = ScopeSource>) -> Self {
        self.settings.mapping.scope_sources = Some(sources.into_iter().collect());
        self
    }

    /// As [`McpAuthBuilder::map_role`].
    pub fn map_role<I, S>(mut self, role: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into).collect();
        self.settings.mapping.roles.push((role.into(), scopes));
        self
    }

    /// Judges this issuer's opaque tokens (and, with
    /// [`Introspection::always`](crate::introspection::Introspection::always), its JWTs too)
    /// by RFC 7662 introspection at its authorization server, with this entry's rules (its
    /// audiences, claim mapping, client allow-list, claim checks; RFC 9068's required claims
    /// do not apply to answers). The entry must name one issuer. See
    /// [`crate::introspection`] for which tokens go where.
    pub fn introspection(mut self, introspection: crate::introspection::Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Marks this entry as misconfigured (by a preset that was given parameters it cannot
    /// work with): [`McpAuthBuilder::build`] returns `error`.
    pub(crate) fn fail(mut self, error: ConfigError) -> Self {
        self.error.get_or_insert(error);
        self
    }
}
