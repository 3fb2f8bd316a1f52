//! An identity provider's tokens, through a preset of `mcp_auth::providers`
//! ([`AuthorizationServer::Provider`](crate::AuthorizationServer::Provider), `--provider` on
//! the command line).
//!
//! [`ProviderConfig`] holds the provider's name and its parameters as plain data (so
//! [`Config`](crate::Config) stays `Clone`); [`ProviderConfig::trusted_issuer`] checks that
//! the provider got every parameter it needs and none it does not take, then builds the
//! preset, which [`start`](crate::start) hands to `McpAuthBuilder::trusted_issuer`.

use mcp_auth::TrustedIssuer;
use mcp_auth::providers::{Auth0, Clerk, Cognito, Descope, EntraId, Keycloak, Okta, WorkOs};
use std::fmt;

/// Which preset of `mcp_auth::providers` to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum ProviderKind {
    /// Microsoft Entra ID, v1.0 tokens of one tenant (`EntraId::v1`).
    EntraV1,
    /// Microsoft Entra ID, v2.0 tokens of one tenant (`EntraId::v2`).
    EntraV2,
    /// Microsoft Entra ID, v1.0 tokens of several tenants (`EntraId::multi_tenant_v1`).
    EntraMultiTenantV1,
    /// Microsoft Entra ID, v2.0 tokens of several tenants (`EntraId::multi_tenant_v2`).
    EntraMultiTenantV2,
    /// An Okta custom authorization server (`Okta`).
    Okta,
    /// An Auth0 API (`Auth0`).
    Auth0,
    /// A Keycloak realm (`Keycloak`).
    Keycloak,
    /// An AWS Cognito user pool (`Cognito`).
    Cognito,
    /// A Clerk instance, JWT access tokens (`Clerk`).
    Clerk,
    /// WorkOS AuthKit (`WorkOs`).
    Workos,
    /// A Descope MCP server or a project's Inbound Apps (`Descope`).
    Descope,
}

impl ProviderKind {
    /// The name on the command line (`entra-v2`, `keycloak`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::EntraV1 => "entra-v1",
            Self::EntraV2 => "entra-v2",
            Self::EntraMultiTenantV1 => "entra-multi-tenant-v1",
            Self::EntraMultiTenantV2 => "entra-multi-tenant-v2",
            Self::Okta => "okta",
            Self::Auth0 => "auth0",
            Self::Keycloak => "keycloak",
            Self::Cognito => "cognito",
            Self::Clerk => "clerk",
            Self::Workos => "workos",
            Self::Descope => "descope",
        }
    }

    /// The provider, for a human.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::EntraV1 => "Microsoft Entra ID (v1.0 tokens)",
            Self::EntraV2 => "Microsoft Entra ID (v2.0 tokens)",
            Self::EntraMultiTenantV1 => "Microsoft Entra ID, multi-tenant (v1.0 tokens)",
            Self::EntraMultiTenantV2 => "Microsoft Entra ID, multi-tenant (v2.0 tokens)",
            Self::Okta => "Okta",
            Self::Auth0 => "Auth0",
            Self::Keycloak => "Keycloak",
            Self::Cognito => "AWS Cognito",
            Self::Clerk => "Clerk",
            Self::Workos => "WorkOS AuthKit",
            Self::Descope => "Descope",
        }
    }

    /// The parameters this provider takes, and whether each is required.
    fn parameters(self) -> &'static [(Param, Need)] {
        use Need::{Optional as O, Required as R};
        use Param::*;
        match self {
            Self::EntraV1 | Self::EntraMultiTenantV1 => &[
                (Tenant, R),
                (Audience, O),
                (ClientId, O),
                (BaseUrl, O),
                (MapRole, O),
            ],
            Self::EntraV2 | Self::EntraMultiTenantV2 => &[
                (Tenant, R),
                (Audience, R),
                (ClientId, O),
                (BaseUrl, O),
                (MapRole, O),
            ],
            Self::Okta => &[
                (Domain, R),
                (ServerId, O),
                (Audience, O),
                (ClientId, O),
                (BaseUrl, O),
                (MapRole, O),
            ],
            Self::Auth0 => &[(Domain, R), (Audience, R), (ClientId, O), (BaseUrl, O)],
            Self::Keycloak => &[
                (Domain, R),
                (Realm, R),
                (Audience, O),
                (ClientId, O),
                (BaseUrl, O),
                (MapRole, O),
            ],
            // The preset requires an app-client allow-list: no `aud` binds Cognito tokens.
            Self::Cognito => &[
                (Region, R),
                (UserPool, R),
                (ClientId, R),
                (BaseUrl, O),
                (MapRole, O),
            ],
            Self::Clerk | Self::Workos => &[(Domain, R), (ClientId, O), (BaseUrl, O)],
            Self::Descope => &[
                (Project, R),
                (McpServerId, O),
                (ClientId, O),
                (BaseUrl, O),
                (MapRole, O),
            ],
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One parameter of [`ProviderConfig`], named by its command-line flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Tenant,
    Domain,
    ServerId,
    Realm,
    Region,
    UserPool,
    Project,
    McpServerId,
    Audience,
    ClientId,
    BaseUrl,
    MapRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    Optional,
}

impl Param {
    const ALL: [Self; 12] = [
        Self::Tenant,
        Self::Domain,
        Self::ServerId,
        Self::Realm,
        Self::Region,
        Self::UserPool,
        Self::Project,
        Self::McpServerId,
        Self::Audience,
        Self::ClientId,
        Self::BaseUrl,
        Self::MapRole,
    ];

    fn flag(self) -> &'static str {
        match self {
            Self::Tenant => "--tenant",
            Self::Domain => "--domain",
            Self::ServerId => "--server-id",
            Self::Realm => "--realm",
            Self::Region => "--region",
            Self::UserPool => "--user-pool",
            Self::Project => "--project",
            Self::McpServerId => "--mcp-server-id",
            Self::Audience => "--audience",
            Self::ClientId => "--client-id",
            Self::BaseUrl => "--base-url",
            Self::MapRole => "--map-role",
        }
    }

    /// What the parameter is for `kind`, for the error naming a missing one.
    fn meaning(self, kind: ProviderKind) -> &'static str {
        use ProviderKind as K;
        match (self, kind) {
            (Self::Tenant, _) => "the tenant id, a GUID",
            (Self::Domain, K::Okta) => "the Okta org's domain, such as example.okta.com",
            (Self::Domain, K::Auth0) => "the Auth0 tenant's domain, such as example.us.auth0.com",
            (Self::Domain, K::Keycloak) => {
                "the Keycloak server's URL, such as https://sso.example.com"
            }
            (Self::Domain, K::Clerk) => "the Frontend API host, such as clerk.example.com",
            (Self::Domain, K::Workos) => "the AuthKit domain, such as acme.authkit.app",
            (Self::Domain, _) => "the provider's domain",
            (Self::Realm, _) => "the realm",
            (Self::Region, _) => "the AWS region, such as us-east-1",
            (Self::UserPool, _) => "the user pool id, such as us-east-1_AbCdEfGhI",
            (Self::Project, _) => "the project id",
            (Self::Audience, K::Auth0) => "the API identifier, the aud of its tokens",
            (Self::Audience, _) => "the API's application (client) id, the aud of v2.0 tokens",
            (Self::ClientId, _) => {
                "the app clients of this server: Cognito access tokens carry no aud, so only \
                 the client binds them to this server"
            }
            (Self::ServerId | Self::McpServerId | Self::BaseUrl | Self::MapRole, _) => {
                "a parameter"
            }
        }
    }
}

/// An identity provider whose access tokens the MCP server accepts, and the parameters of
/// its preset. Each field is the command-line flag of the same name; which ones a provider
/// takes is in `docs/providers.md` and checked by [`trusted_issuer`](Self::trusted_issuer).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Which preset.
    pub kind: ProviderKind,
    /// Entra ID: the tenant id (GUID); several for the multi-tenant presets.
    pub tenants: Vec<String>,
    /// Okta, Auth0, Clerk (Frontend API), WorkOS (AuthKit domain): the host; Keycloak: the
    /// server URL.
    pub domain: Option<String>,
    /// Okta: the custom authorization server's id [default: the server named `default`, whose
    /// audience is `api://default`].
    pub server_id: Option<String>,
    /// Keycloak: the realm.
    pub realm: Option<String>,
    /// Cognito: the AWS region.
    pub region: Option<String>,
    /// Cognito: the user pool id.
    pub user_pool: Option<String>,
    /// Descope: the project id.
    pub project: Option<String>,
    /// Descope: the MCP server id [default: the project's Inbound Apps].
    pub mcp_server_id: Option<String>,
    /// Audiences the tokens carry besides the resource URI (Entra: the API's client id or
    /// App ID URI; Auth0: the API identifier; Okta: the authorization server's audience;
    /// Keycloak: an "Included Client Audience").
    pub audiences: Vec<String>,
    /// Accept only tokens issued to these clients.
    pub client_ids: Vec<String>,
    /// Replaces the provider's URL (custom domains, sovereign clouds, loopback tests).
    pub base_url: Option<String>,
    /// Lists this URL in the metadata's `authorization_servers` instead of the issuers.
    pub authorization_server: Option<String>,
    /// Provider roles or groups granting scopes of this server: `(role, scopes)` (Entra app
    /// roles, Keycloak realm roles, Okta groups, Cognito groups, Descope roles).
    pub map_roles: Vec<(String, Vec<String>)>,
}

impl ProviderConfig {
    /// `kind` with no parameter yet.
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            tenants: Vec::new(),
            domain: None,
            server_id: None,
            realm: None,
            region: None,
            user_pool: None,
            project: None,
            mcp_server_id: None,
            audiences: Vec::new(),
            client_ids: Vec::new(),
            base_url: None,
            authorization_server: None,
            map_roles: Vec::new(),
        }
    }

    /// The audiences the provider's tokens may carry besides the resource URI: the
    /// configured ones, and `api://default` for Okta's server named `default`.
    pub fn audiences(&self) -> Vec<String> {
        let mut auds = self.audiences.clone();
        if self.kind == ProviderKind::Okta && self.server_id.is_none() {
            auds.insert(0, "api://default".to_owned());
        }
        auds
    }

    fn is_set(&self, p: Param) -> bool {
        match p {
            Param::Tenant => !self.tenants.is_empty(),
            Param::Domain => self.domain.is_some(),
            Param::ServerId => self.server_id.is_some(),
            Param::Realm => self.realm.is_some(),
            Param::Region => self.region.is_some(),
            Param::UserPool => self.user_pool.is_some(),
            Param::Project => self.project.is_some(),
            Param::McpServerId => self.mcp_server_id.is_some(),
            Param::Audience => !self.audiences.is_empty(),
            Param::ClientId => !self.client_ids.is_empty(),
            Param::BaseUrl => self.base_url.is_some(),
            Param::MapRole => !self.map_roles.is_empty(),
        }
    }

    /// Every required parameter is there, no other one is, and a single-tenant preset has
    /// one tenant.
    fn check(&self) -> Result<(), ProviderError> {
        let kind = self.kind;
        let params = kind.parameters();
        for p in Param::ALL {
            match params.iter().find(|(q, _)| *q == p).map(|(_, n)| n) {
                Some(Need::Required) if !self.is_set(p) => {
                    return Err(ProviderError::Missing {
                        provider: kind,
                        flag: p.flag(),
                        meaning: p.meaning(kind),
                    });
                }
                None if self.is_set(p) => {
                    return Err(ProviderError::NotApplicable {
                        provider: kind,
                        flag: p.flag(),
                    });
                }
                _ => {}
            }
        }
        if matches!(kind, ProviderKind::EntraV1 | ProviderKind::EntraV2) && self.tenants.len() > 1 {
            return Err(ProviderError::OneTenant { provider: kind });
        }
        Ok(())
    }

    /// The preset with these parameters, for `McpAuthBuilder::trusted_issuer`. A parameter
    /// the preset finds wrong (a tenant that is not a GUID, a pool id of another region) is
    /// reported when the layer is built.
    ///
    /// # Errors
    ///
    /// [`ProviderError`] naming the flag when a required parameter is missing or one this
    /// provider does not take is given.
    pub fn trusted_issuer(&self) -> Result<TrustedIssuer, ProviderError> {
        self.check()?;
        let req = |v: &Option<String>| v.clone().unwrap_or_default();
        let ids = self.client_ids.clone();
        let with_ids = !ids.is_empty();
        let base = self.base_url.clone();
        let roles = self.map_roles.iter().cloned();
        let t: TrustedIssuer = match self.kind {
            k @ (ProviderKind::EntraV1
            | ProviderKind::EntraV2
            | ProviderKind::EntraMultiTenantV1
            | ProviderKind::EntraMultiTenantV2) => {
                let tenants = self.tenants.clone();
                let mut p = match k {
                    ProviderKind::EntraV1 => EntraId::v1(tenants[0].clone()),
                    ProviderKind::EntraV2 => EntraId::v2(tenants[0].clone()),
                    ProviderKind::EntraMultiTenantV1 => EntraId::multi_tenant_v1(tenants),
                    _ => EntraId::multi_tenant_v2(tenants),
                };
                for a in &self.audiences {
                    p = p.api_audience(a);
                }
                if with_ids {
                    p = p.allowed_client_ids(ids);
                }
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                roles.fold(p, |p, (r, s)| p.map_role(r, s)).into()
            }
            ProviderKind::Okta => {
                let domain = req(&self.domain);
                let mut p = match &self.server_id {
                    Some(id) => Okta::custom_authorization_server(domain, id),
                    None => Okta::default_server(domain),
                };
                for a in &self.audiences {
                    p = p.audience(a);
                }
                if with_ids {
                    p = p.allowed_client_ids(ids);
                }
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                roles.fold(p, |p, (r, s)| p.map_group(r, s)).into()
            }
            ProviderKind::Auth0 => {
                let mut p = Auth0::new(req(&self.domain));
                for a in &self.audiences {
                    p = p.api_identifier(a);
                }
                if with_ids {
                    p = p.allowed_client_ids(ids);
                }
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                p.into()
            }
            ProviderKind::Keycloak => {
                let mut p = Keycloak::new(req(&self.domain), req(&self.realm));
                for a in &self.audiences {
                    p = p.audience(a);
                }
                if with_ids {
                    p = p.allowed_client_ids(ids);
                }
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                if !self.map_roles.is_empty() {
                    p = p.realm_roles();
                }
                roles.fold(p, |p, (r, s)| p.map_role(r, s)).into()
            }
            ProviderKind::Cognito => {
                let mut p = Cognito::user_pool(req(&self.region), req(&self.user_pool))
                    .allowed_client_ids(ids);
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                roles.fold(p, |p, (r, s)| p.map_group(r, s)).into()
            }
            ProviderKind::Clerk => {
                let mut p = Clerk::frontend_api(req(&self.domain));
                if with_ids {
                    p = p.allowed_client_ids(ids);
                }
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                p.into()
            }
            ProviderKind::Workos => {
                let mut p = WorkOs::authkit_domain(req(&self.domain));
                if with_ids {
                    p = p.allowed_client_ids(ids);
                }
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                p.into()
            }
            ProviderKind::Descope => {
                let project = req(&self.project);
                let mut p = match &self.mcp_server_id {
                    Some(id) => Descope::mcp_server(project, id),
                    None => Descope::inbound_apps(project),
                };
                if with_ids {
                    p = p.allowed_client_ids(ids);
                }
                if let Some(b) = base {
                    p = p.base_url(b);
                }
                roles.fold(p, |p, (r, s)| p.map_role(r, s)).into()
            }
        };
        Ok(t)
    }
}

/// The provider a [`RunningServer`](crate::RunningServer) trusts.
#[derive(Debug, Clone)]
pub struct TrustedProvider {
    /// Which preset.
    pub kind: ProviderKind,
    /// The issuers it trusts, as in `iss` (one per tenant for Entra multi-tenant).
    pub issuers: Vec<String>,
    /// The audiences its tokens may carry besides the resource URI.
    pub audiences: Vec<String>,
}

/// The parameters given to `--provider` cannot configure it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A parameter the provider needs is missing.
    #[error("--provider {provider} needs {flag} ({meaning})")]
    Missing {
        /// The provider.
        provider: ProviderKind,
        /// The missing flag.
        flag: &'static str,
        /// What it is.
        meaning: &'static str,
    },
    /// A parameter the provider does not take was given.
    #[error("{flag} does not apply to --provider {provider} (see docs/providers.md)")]
    NotApplicable {
        /// The provider.
        provider: ProviderKind,
        /// The flag.
        flag: &'static str,
    },
    /// A single-tenant preset was given several tenants.
    #[error(
        "--provider {provider} trusts one tenant: give --tenant once, or use \
         --provider entra-multi-tenant-v1 / entra-multi-tenant-v2"
    )]
    OneTenant {
        /// The provider.
        provider: ProviderKind,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn a_missing_parameter_names_its_flag() {
        let mut p = ProviderConfig::new(ProviderKind::EntraV2);
        p.tenants.push(T.into());
        let e = p.trusted_issuer().unwrap_err();
        assert_eq!(
            e.to_string(),
            "--provider entra-v2 needs --audience (the API's application (client) id, the aud \
             of v2.0 tokens)"
        );
        let e = ProviderConfig::new(ProviderKind::Keycloak)
            .trusted_issuer()
            .unwrap_err();
        assert!(e.to_string().contains("needs --domain"), "{e}");
        let mut c = ProviderConfig::new(ProviderKind::Cognito);
        c.region = Some("us-east-1".into());
        c.user_pool = Some("us-east-1_AbC".into());
        let e = c.trusted_issuer().unwrap_err();
        assert!(e.to_string().contains("needs --client-id"), "{e}");
    }

    #[test]
    fn a_parameter_the_provider_does_not_take_is_refused() {
        let mut p = ProviderConfig::new(ProviderKind::Clerk);
        p.domain = Some("clerk.example.com".into());
        p.realm = Some("acme".into());
        assert_eq!(
            p.trusted_issuer().unwrap_err(),
            ProviderError::NotApplicable {
                provider: ProviderKind::Clerk,
                flag: "--realm"
            }
        );
        let mut e = ProviderConfig::new(ProviderKind::EntraV1);
        e.tenants = vec![T.into(), T.into()];
        assert!(matches!(
            e.trusted_issuer(),
            Err(ProviderError::OneTenant { .. })
        ));
    }

    #[test]
    fn every_provider_builds_its_issuer() {
        let base = "http://127.0.0.1:9";
        let cases: [(ProviderConfig, String); 4] = [
            (
                {
                    let mut p = ProviderConfig::new(ProviderKind::EntraMultiTenantV2);
                    p.tenants = vec![T.into(), "b9c1f6a2-3d4e-4f50-8a61-7c8d9e0f1a2b".into()];
                    p.audiences.push("api".into());
                    p
                },
                format!("https://login.microsoftonline.com/{T}/v2.0"),
            ),
            (
                {
                    let mut p = ProviderConfig::new(ProviderKind::Okta);
                    p.domain = Some("example.okta.com".into());
                    p
                },
                "https://example.okta.com/oauth2/default".into(),
            ),
            (
                {
                    let mut p = ProviderConfig::new(ProviderKind::Descope);
                    p.project = Some("P2abc".into());
                    p.mcp_server_id = Some("MS2x".into());
                    p.base_url = Some(base.into());
                    p
                },
                format!("{base}/v1/apps/agentic/P2abc/MS2x"),
            ),
            (
                {
                    let mut p = ProviderConfig::new(ProviderKind::Auth0);
                    p.domain = Some("example.us.auth0.com".into());
                    p.audiences.push("https://mcp.example.com/mcp".into());
                    p
                },
                "https://example.us.auth0.com/".into(),
            ),
        ];
        for (p, issuer) in cases {
            let t = p.trusted_issuer().expect("configured");
            assert_eq!(t.issuers()[0], issuer);
        }
    }
}
