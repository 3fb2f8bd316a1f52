//! Microsoft Entra ID (formerly Azure AD), v1.0 and v2.0 access tokens.

use super::{Common, PresetError, host_problem, origin_of};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::checks::{AnyClaimPresent, ClaimIn, ClaimRejection, IssuerTemplate};
use mcp_auth_core::claims::{RequiredClaims, ScopeSource};
use mcp_auth_core::jws::TypPolicy;

const PROVIDER: &str = "Entra ID";
const LOGIN_HOST: &str = "login.microsoftonline.com";
const V1_ISSUER_HOST: &str = "sts.windows.net";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// Microsoft Entra ID access tokens for an API registered in one tenant
/// ([`v2`](Self::v2), [`v1`](Self::v1)) or in several
/// ([`multi_tenant_v2`](Self::multi_tenant_v2), [`multi_tenant_v1`](Self::multi_tenant_v1)).
///
/// The token version is the API registration's `accessTokenAcceptedVersion` (manifest;
/// `null` or `1` gives v1.0 tokens, `2` gives v2.0), not the endpoint the client used.
///
/// | | v2.0 | v1.0 |
/// |---|---|---|
/// | `iss` | `https://login.microsoftonline.com/{tenant}/v2.0` | `https://sts.windows.net/{tenant}/` |
/// | keys | `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys` | `…/{tenant}/discovery/keys` |
/// | `aud` | the API's application (client) id | its App ID URI (`api://…`) or client id |
/// | client | `azp` | `appid` |
/// | `ver` | `2.0` | `1.0` |
///
/// Multi-tenant: one exact issuer per allowed tenant (the `/common` discovery document's
/// `issuer` holds a `{tenantid}` placeholder that no exact rule accepts), keys from
/// `…/common/discovery[/v2.0]/keys`, and `tid` must equal the tenant segment of the issuer.
/// The same `tid` check runs for one tenant too.
///
/// **Access token, not ID token**: the header says `typ: JWT` for both, so the preset
/// refuses a token without the client claim (`azp` / `appid`, which ID tokens lack) or
/// without `scp` (delegated) or `roles` (application permissions), and an ID token's `aud` is
/// the client's id, not the API's. A `ver` other than the configured version is refused.
///
/// Scopes: `scp` (space-separated) and `roles`, read as scopes; with [`map_role`](Self::map_role)
/// the `roles` are mapped instead (an unmapped role grants nothing).
///
/// **Weaker than RFC 9068** (named, not silent):
/// - `typ: JWT` is accepted ([`TypPolicy::AllowJwt`]): Entra never sends `at+jwt`;
/// - no `jti` is required: Entra sends `uti` instead;
/// - the client id is `azp` / `appid`, not `client_id`;
/// - `aud` is the API's client id or App ID URI, not the MCP resource URI (RFC 8707
///   `resource` is not honoured by Entra's v2 endpoint; clients request
///   `{app-id-uri}/.default` or a named scope instead), and Entra has no dynamic client
///   registration: MCP clients are registered by hand;
/// - without [`allowed_client_ids`](Self::allowed_client_ids), any client the tenant lets
///   obtain a token for this API is accepted.
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::core::keys::StaticKeySource;
/// use mcp_auth::providers::EntraId;
/// use std::time::Duration;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(
///         EntraId::multi_tenant_v2([
///             "72f988bf-86f1-41af-91ab-2d7cd011db47",
///             "b9c1f6a2-3d4e-4f50-8a61-7c8d9e0f1a2b",
///         ])
///         .api_audience("6e74172b-be56-4843-9ff4-e66a39bb12e3")
///         .allowed_client_ids(["04b07795-8ddb-461a-bbee-02f9e1bf7b46"])
///         .max_token_age(Duration::from_secs(3600)),
///     )
///     .key_source(StaticKeySource::new())
///     .require_scopes(["Mcp.Read"])
///     .build()?;
///
/// // US Government cloud, v1 tokens whose `aud` is the App ID URI.
/// let gov = EntraId::v1("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .authority_host("login.microsoftonline.us")
///     .api_audience("api://mcp-server");
/// # let _ = gov;
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct EntraId {
    version: Version,
    tenants: Vec<String>,
    multi: bool,
    authority: Option<String>,
    v1_issuer: Option<String>,
    base_url: Option<String>,
    audiences: Vec<String>,
    common: Common,
}

impl EntraId {
    fn with(version: Version, tenants: Vec<String>, multi: bool) -> Self {
        Self {
            version,
            tenants,
            multi,
            authority: None,
            v1_issuer: None,
            base_url: None,
            audiences: Vec::new(),
            common: Common::default(),
        }
    }

    /// v2.0 access tokens of the tenant `tenant_id` (its GUID: issuers name the tenant by
    /// its id, never by a domain). Needs [`api_audience`](Self::api_audience).
    pub fn v2(tenant_id: impl Into<String>) -> Self {
        Self::with(Version::V2, vec![tenant_id.into()], false)
    }

    /// v1.0 access tokens of the tenant `tenant_id` (its GUID).
    pub fn v1(tenant_id: impl Into<String>) -> Self {
        Self::with(Version::V1, vec![tenant_id.into()], false)
    }

    /// v2.0 access tokens of any of `tenant_ids` (GUIDs; at least one): a multi-tenant API.
    pub fn multi_tenant_v2<I, S>(tenant_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(
            Version::V2,
            tenant_ids.into_iter().map(Into::into).collect(),
            true,
        )
    }

    /// v1.0 access tokens of any of `tenant_ids` (GUIDs; at least one).
    pub fn multi_tenant_v1<I, S>(tenant_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(
            Version::V1,
            tenant_ids.into_iter().map(Into::into).collect(),
            true,
        )
    }

    /// An `aud` this API's tokens carry: its application (client) id (always, for v2.0) or
    /// its App ID URI (`api://…`, v1.0). May be called more than once; compared byte for
    /// byte. v2.0 needs at least one.
    pub fn api_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The authority host of a national cloud (default `login.microsoftonline.com`):
    /// `login.microsoftonline.us` (US Government), `login.partner.microsoftonline.cn`
    /// (China, 21Vianet). v2.0 issuers and every key location use it; for v1.0 issuers see
    /// [`v1_issuer_host`](Self::v1_issuer_host).
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority = Some(host.into());
        self
    }

    /// The host of v1.0 issuers (default `sts.windows.net`), for a national cloud whose v1.0
    /// tokens name another (`sts.chinacloudapi.cn`).
    pub fn v1_issuer_host(mut self, host: impl Into<String>) -> Self {
        self.v1_issuer = Some(host.into());
        self
    }

    /// Replaces the origin of every issuer and key location (v1.0 issuers included) with
    /// `url` (`http://127.0.0.1:PORT` for a loopback test, a proxy in front of Entra).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    common_setters! {
        /// Accepts only tokens whose client (`azp`, v1.0 `appid`) is one of `ids`: the MCP
        /// clients registered for this API.
    }

    /// Maps the app role `role` (claim `roles`) to `scopes` of this server. Once any role
    /// is mapped, `roles` are no longer read as scopes themselves.
    pub fn map_role<I, S>(mut self, role: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common.map_role(role, scopes);
        self
    }

    /// The issuers this preset trusts (one per tenant), as they appear in `iss`.
    pub fn issuers(&self) -> Vec<String> {
        let (template, _) = self.issuer_template();
        self.tenants
            .iter()
            .map(|t| template.replace("{tid}", &t.to_ascii_lowercase()))
            .collect()
    }

    /// The issuer template (`{tid}` for the tenant) and the key location.
    fn issuer_template(&self) -> (String, String) {
        let login = origin_of(
            self.base_url
                .as_deref()
                .or(self.authority.as_deref())
                .unwrap_or(LOGIN_HOST),
        );
        let sts = origin_of(
            self.base_url
                .as_deref()
                .or(self.v1_issuer.as_deref())
                .unwrap_or(V1_ISSUER_HOST),
        );
        let keys_tenant = if self.multi {
            "common".to_owned()
        } else {
            self.tenants
                .first()
                .map(|t| t.to_ascii_lowercase())
                .unwrap_or_default()
        };
        match self.version {
            Version::V2 => (
                format!("{login}/{{tid}}/v2.0"),
                format!("{login}/{keys_tenant}/discovery/v2.0/keys"),
            ),
            Version::V1 => (
                format!("{sts}/{{tid}}/"),
                format!("{login}/{keys_tenant}/discovery/keys"),
            ),
        }
    }

    fn problem(&self) -> Option<String> {
        if self.tenants.is_empty() {
            return Some("a multi-tenant preset needs at least one tenant id".to_owned());
        }
        for t in &self.tenants {
            if ["common", "organizations", "consumers"].contains(&t.to_ascii_lowercase().as_str()) {
                return Some(format!(
                    "{t:?} is not a tenant: tokens name the user's tenant; list the allowed \
                     tenants with multi_tenant_v2 / multi_tenant_v1"
                ));
            }
            if !is_guid(t) {
                return Some(format!(
                    "the tenant {t:?} is not a tenant id (a GUID): Entra issuers name the \
                     tenant by its id, never by a domain"
                ));
            }
        }
        if self.version == Version::V2 && self.audiences.is_empty() {
            return Some(
                "v2.0 access tokens carry the API's application (client) id as aud: call \
                 api_audience"
                    .to_owned(),
            );
        }
        for (what, v) in [
            ("authority host", &self.authority),
            ("v1 issuer host", &self.v1_issuer),
            ("base URL", &self.base_url),
        ] {
            if let Some(p) = v.as_deref().and_then(|v| host_problem(what, v)) {
                return Some(p);
            }
        }
        None
    }
}

impl From<EntraId> for TrustedIssuer {
    fn from(p: EntraId) -> Self {
        let problem = p.problem();
        let (template, jwks) = p.issuer_template();
        let (client, ver) = match p.version {
            Version::V2 => ("azp", "2.0"),
            Version::V1 => ("appid", "1.0"),
        };
        let roles = if p.common.roles.is_empty() {
            ScopeSource::claim("roles")
        } else {
            ScopeSource::claim("roles").roles()
        };
        let mut required = RequiredClaims::ALL;
        required.jti = false; // Entra sends `uti`, not `jti`.
        let mut t = Self::any_of(p.issuers())
            .preset_jwks_uri(jwks)
            .typ_policy(TypPolicy::AllowJwt)
            .client_id_claims([client])
            .required_claims(required)
            .scope_sources([ScopeSource::claim("scp"), roles])
            .claim_check(IssuerTemplate::new(template, "tid"))
            .claim_check(
                ClaimIn::new("ver", [ver]).refusing_with(ClaimRejection::new(
                    "token version is not the one this resource accepts",
                )),
            )
            .claim_check(AnyClaimPresent::new(["scp", "roles"]));
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

/// `8-4-4-4-12` hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn issuers_and_keys_per_version_cloud_and_base_url() {
        let v2 = EntraId::v2(T).api_audience("x");
        assert_eq!(
            v2.issuers(),
            [format!("https://login.microsoftonline.com/{T}/v2.0")]
        );
        assert_eq!(
            v2.issuer_template().1,
            format!("https://login.microsoftonline.com/{T}/discovery/v2.0/keys")
        );
        let v1 = EntraId::v1(T.to_ascii_uppercase());
        assert_eq!(v1.issuers(), [format!("https://sts.windows.net/{T}/")]);
        let multi = EntraId::multi_tenant_v2([T]).authority_host("login.microsoftonline.us");
        assert_eq!(
            multi.issuer_template(),
            (
                "https://login.microsoftonline.us/{tid}/v2.0".to_owned(),
                "https://login.microsoftonline.us/common/discovery/v2.0/keys".to_owned()
            )
        );
        let local = EntraId::v1(T).base_url("http://127.0.0.1:9/");
        assert_eq!(local.issuers(), [format!("http://127.0.0.1:9/{T}/")]);
        assert_eq!(
            local.issuer_template().1,
            format!("http://127.0.0.1:9/{T}/discovery/keys")
        );
    }

    #[test]
    fn parameters_no_token_can_match_are_named() {
        let cases = [
            (EntraId::v2(T), "api_audience"),
            (
                EntraId::v2("contoso.onmicrosoft.com").api_audience("a"),
                "GUID",
            ),
            (EntraId::v1("common"), "not a tenant"),
            (
                EntraId::multi_tenant_v2(Vec::<String>::new()),
                "at least one",
            ),
            (EntraId::v1(T).base_url("http://a b"), "base URL"),
        ];
        for (p, needle) in cases {
            let problem = p.problem().expect("a problem");
            assert!(problem.contains(needle), "{problem}");
        }
        assert!(EntraId::v1(T).problem().is_none());
        assert!(EntraId::v2(T).api_audience("a").problem().is_none());
    }

    #[test]
    fn guids() {
        assert!(is_guid(T));
        assert!(is_guid(&T.to_ascii_uppercase()));
        for bad in [
            "",
            "72f988bf",
            "72f988bf-86f1-41af-91ab-2d7cd011db4",
            "g2f988bf-86f1-41af-91ab-2d7cd011db47",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
    }
}
