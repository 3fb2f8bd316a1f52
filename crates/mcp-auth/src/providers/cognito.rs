//! AWS Cognito user pools: [`Cognito`].

use super::{Common, PresetError, host_problem, origin_of};
use crate::{ConfigError, TrustedIssuer};
use mcp_auth_core::checks::{ClaimIn, ClaimRejection};
use mcp_auth_core::claims::ScopeSource;
use mcp_auth_core::jws::{Algorithm, TypPolicy};

const PROVIDER: &str = "AWS Cognito";

/// The issuer settings for the access tokens of an AWS Cognito user pool.
///
/// - **Issuer** `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`, keys at
///   `{issuer}/.well-known/jwks.json` (taken directly, no discovery), RS256 only.
/// - **No `typ`**: Cognito's header has only `kid` and `alg`, so the header cannot tell an
///   access token from an ID token ([`TypPolicy::AllowJwt`]).
/// - **Access token, not ID token**: `token_use` must be `"access"` (a [`ClaimIn`] check);
///   an ID token says `"id"` and carries the app client id as `aud`, which is not this
///   resource either.
/// - **Client**: `client_id`, which must be in [`allowed_client_ids`](Self::allowed_client_ids)
///   (required, see below). Subject `sub` (for a client-credentials token, the app client
///   id). All RFC 9068 §2.2 claims are required: Cognito access tokens carry `sub`,
///   `client_id`, `iat` and `jti`.
/// - **Scopes**: `scope` as it is (custom scopes are `{resource-server-identifier}/{name}`,
///   so require them under that name), plus `cognito:groups` mapped to scopes with
///   [`map_group`](Self::map_group).
///
/// **Weaker than RFC 9068** (named, not silent):
/// - a token without `typ` is accepted ([`TypPolicy::AllowJwt`]); `token_use` decides;
/// - **no audience**: Cognito access tokens carry no `aud` unless the client sends an
///   RFC 8707 `resource` indicator (managed login, Essentials or Plus feature plan,
///   authorization code and implicit grants only). Without one, nothing in the token says
///   which API it was issued for: any access token of the pool, for any app client and any
///   resource server, would otherwise be accepted here. The MCP requirement that a server
///   refuse tokens not issued for it (RFC 8707, "Token Handling") is then met only through
///   the app client: the preset **requires** [`allowed_client_ids`](Self::allowed_client_ids),
///   and [`McpAuthBuilder::build`](crate::McpAuthBuilder::build) fails with
///   [`ConfigError::Preset`](crate::ConfigError::Preset) without it. List only app clients
///   that request tokens for this server, and require scopes only this server's resource
///   server defines. A token that does carry `aud` must still name this resource.
///
/// With resource indicators configured for every client, call
/// [`resource_indicators`](Self::resource_indicators): `aud` is then required and must be
/// this resource (the RFC 8707 binding), and the client-id allow-list becomes optional.
///
/// ```
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::providers::Cognito;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(
///         Cognito::user_pool("us-east-1", "us-east-1_AbCdEfGhI")
///             .allowed_client_ids(["7m1234abcdefghijklmnopqrst"])
///             .map_group("mcp-admins", ["mcp-server/mcp.read", "mcp-server/mcp.write"]),
///     )
///     .scopes_supported(["mcp-server/mcp.read", "mcp-server/mcp.write"])
///     .require_scopes(["mcp-server/mcp.read"])
///     .build()?;
///
/// // Without a client-id allow-list nothing would bind the tokens to this server: refused.
/// let refused = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(Cognito::user_pool("us-east-1", "us-east-1_AbCdEfGhI"))
///     .build();
/// assert!(matches!(refused, Err(mcp_auth::ConfigError::Preset(_))));
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Cognito {
    region: String,
    pool_id: String,
    base_url: Option<String>,
    resource_indicators: bool,
    common: Common,
}

impl Cognito {
    /// The user pool `pool_id` (`{region}_{id}`, e.g. `us-east-1_AbCdEfGhI`) in `region`
    /// (e.g. `us-east-1`). A pool id of another region is a
    /// [`ConfigError::Preset`](crate::ConfigError::Preset) at build.
    pub fn user_pool(region: impl Into<String>, pool_id: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            pool_id: pool_id.into(),
            base_url: None,
            resource_indicators: false,
            common: Common::default(),
        }
    }

    /// Replaces `https://cognito-idp.{region}.amazonaws.com` (FIPS or other partitions'
    /// endpoints, and loopback tests): the issuer becomes `{url}/{userPoolId}`. A trailing
    /// `/` is dropped.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    common_setters! {
        /// Accepts only access tokens whose `client_id` is one of these app clients. Required
        /// unless [`resource_indicators`](Self::resource_indicators) is on (see the type docs).
    }

    /// Every client of this server sends an RFC 8707 `resource` indicator, so Cognito sets
    /// `aud` to this server's resource URI: `aud` is then required and must name it, as for
    /// any RFC 9068 authorization server.
    pub fn resource_indicators(mut self) -> Self {
        self.resource_indicators = true;
        self
    }

    /// Grants `scopes` of this server to members of the user pool group `group` (the
    /// `cognito:groups` claim, matched whole); may be called more than once. A group not
    /// mapped grants nothing. `scope` is still read as it is.
    pub fn map_group<I, S>(mut self, group: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common.map_role(group, scopes);
        self
    }

    /// The `iss` this preset trusts: `{base}/{userPoolId}`.
    pub fn issuer(&self) -> String {
        match &self.base_url {
            Some(base) => format!("{}/{}", origin_of(base), self.pool_id),
            None => format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                self.region, self.pool_id
            ),
        }
    }

    /// Where the pool's keys are: `{issuer}/.well-known/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer())
    }

    /// Why these parameters cannot work, if they cannot.
    fn problem(&self) -> Option<String> {
        let valid_region = !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_region {
            return Some(format!(
                "region {:?} is not an AWS region name such as \"us-east-1\"",
                self.region
            ));
        }
        let id = self
            .pool_id
            .strip_prefix(self.region.as_str())
            .and_then(|rest| rest.strip_prefix('_'));
        match id {
            Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
            _ => {
                return Some(format!(
                    "user pool id {:?} is not of the form \"{}_<id>\" (a pool of region {:?})",
                    self.pool_id, self.region, self.region
                ));
            }
        }
        if let Some(problem) = self
            .base_url
            .as_deref()
            .and_then(|u| host_problem("base URL", u))
        {
            return Some(problem);
        }
        let no_clients = self.common.client_ids.as_ref().is_none_or(Vec::is_empty);
        if !self.resource_indicators && no_clients {
            return Some(
                "access tokens carry no `aud`, so without `.allowed_client_ids([..])` any \
                 token of the user pool would be accepted: list the app clients of this \
                 server (or call `.resource_indicators()` if every client sends a `resource`)"
                    .to_owned(),
            );
        }
        None
    }
}

impl From<Cognito> for TrustedIssuer {
    fn from(c: Cognito) -> Self {
        let mut t =
            Self::new(c.issuer())
                .preset_jwks_uri(c.jwks_uri())
                .algorithms([Algorithm::RS256])
                // Cognito headers carry no `typ`: `token_use` tells the kinds apart.
                .typ_policy(TypPolicy::AllowJwt)
                .claim_check(ClaimIn::new("token_use", ["access"]).refusing_with(
                    ClaimRejection::new("token is not a Cognito access token (token_use)"),
                ));
        if !c.resource_indicators {
            // No `aud` without a resource indicator; bound by the client allow-list instead.
            t = t.without_audience_claim();
        }
        if !c.common.roles.is_empty() {
            t = t.scope_sources([
                ScopeSource::claim("scope"),
                ScopeSource::claim("cognito:groups").roles(),
            ]);
        }
        let problem = c.problem();
        t = c.common.apply(t);
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
    fn issuer_and_keys_follow_the_user_pool() {
        let c = Cognito::user_pool("eu-west-1", "eu-west-1_AbC123");
        assert_eq!(
            c.issuer(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
        );
        assert_eq!(
            c.jwks_uri(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json"
        );
        let c = c.base_url("http://127.0.0.1:4000/");
        assert_eq!(c.issuer(), "http://127.0.0.1:4000/eu-west-1_AbC123");
    }

    #[test]
    fn parameters_that_cannot_work_are_named() {
        let ok = Cognito::user_pool("us-east-1", "us-east-1_AbCdEfGhI").allowed_client_ids(["c"]);
        assert_eq!(ok.problem(), None);
        assert_eq!(ok.resource_indicators().problem(), None);
        let cases = [
            (
                Cognito::user_pool("us-east-1", "us-east-1_AbCdEfGhI"),
                "allowed_client_ids",
            ),
            (
                Cognito::user_pool("us-east-1", "us-west-2_AbCdEfGhI").allowed_client_ids(["c"]),
                "us-west-2_AbCdEfGhI",
            ),
            (
                Cognito::user_pool("us-east-1", "us-east-1_").allowed_client_ids(["c"]),
                "user pool id",
            ),
            (
                Cognito::user_pool("us-east-1", "us-east-1_a/b").allowed_client_ids(["c"]),
                "user pool id",
            ),
            (
                Cognito::user_pool("US East", "US East_a").allowed_client_ids(["c"]),
                "region",
            ),
        ];
        for (c, needle) in cases {
            let p = c.problem().expect("refused");
            assert!(p.contains(needle), "{p}");
        }
        // Resource indicators make the allow-list optional, not the pool id check.
        assert!(
            Cognito::user_pool("us-east-1", "x")
                .resource_indicators()
                .problem()
                .is_some()
        );
    }
}
