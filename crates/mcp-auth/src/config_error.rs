//! [`ConfigError`]: why [`McpAuthBuilder::build`](crate::McpAuthBuilder::build) refused a
//! configuration.

use mcp_auth_core::claims::{AudienceError, MappingError};
use mcp_auth_core::metadata::MetadataError;
use mcp_auth_core::origin::InvalidOrigin;
use mcp_auth_core::resource::ResourceUriError;
use mcp_auth_core::scope::InvalidScope;

/// A configuration that cannot work. Returned by
/// [`McpAuthBuilder::build`](crate::McpAuthBuilder::build), and by
/// [`MetadataService::merge`](crate::MetadataService::merge) when several resources' metadata
/// would collide; nothing is ever refused later, at request time.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The resource URI is not a valid RFC 8707 resource identifier.
    #[error(transparent)]
    Resource(#[from] ResourceUriError),
    /// An [`additional_audience`](crate::McpAuthBuilder::additional_audience) is not an
    /// RFC 7519 StringOrURI (empty, whitespace or a control character, or a `:` without
    /// being a URI); the message names the value.
    #[error("additional audience: {0}")]
    Audience(#[from] AudienceError),
    /// The claim mapping cannot work
    /// ([`client_id_claims`](crate::McpAuthBuilder::client_id_claims) and the like).
    #[error("claim mapping: {0}")]
    ClaimMapping(#[from] MappingError),
    /// A scope is not valid RFC 6749 syntax.
    #[error(transparent)]
    Scope(#[from] InvalidScope),
    /// `offline_access` in a challenge or in `scopes_supported` (MCP 2026-07-28 "Refresh
    /// Tokens": servers SHOULD NOT).
    #[error("`offline_access` must not be required or advertised by an MCP server")]
    OfflineAccess,
    /// No issuer was configured.
    #[error("at least one issuer is required")]
    NoIssuer,
    /// The trusted issuer entries cannot work together: an issuer trusted twice (in two
    /// [`trusted_issuer`](crate::McpAuthBuilder::trusted_issuer) entries, or also with
    /// [`issuer`](crate::McpAuthBuilder::issuer)), whose rules would be unclear.
    #[error("trusted issuers: {0}")]
    Rules(#[from] mcp_auth_core::validation::RulesError),
    /// An issuer entry accepts tokens without `aud`
    /// ([`TrustedIssuer::without_audience_claim`](crate::TrustedIssuer::without_audience_claim))
    /// but names no client-id allow-list: nothing would bind its tokens to this server.
    #[error(
        "issuer {0:?} accepts tokens without an audience: it needs `allowed_client_ids` to \
         bind them to this server"
    )]
    UnboundAudience(String),
    /// The introspection configuration cannot work (two issuers for the same opaque tokens,
    /// an empty prefix, an entry of several issuers, ...); the message says which.
    #[error("introspection: {0}")]
    Introspection(String),
    /// The HTTP introspector refused its configuration.
    #[cfg(feature = "introspection")]
    #[error("introspection: {0}")]
    Introspector(#[from] mcp_auth_introspect::ConfigError),
    /// An issuer is not an absolute https URL (http only on loopback).
    #[error("issuer {0:?} is not an absolute https URL (http is allowed only on loopback)")]
    Issuer(String),
    /// No key source for the issuers.
    #[error("no key source: call `.key_source(..)` (a JWKS key source or a static key set)")]
    NoKeySource,
    /// The default JWKS key source refused the configuration.
    #[cfg(feature = "jwks")]
    #[error("JWKS key source: {0}")]
    Jwks(#[from] mcp_auth_jwks::JwksError),
    /// The algorithm allow-list is empty.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// The metadata document would be refused by clients.
    #[error("protected resource metadata: {0}")]
    Metadata(#[from] MetadataError),
    /// A required scope is not listed in `scopes_supported`.
    #[error("required scope {0:?} is not in scopes_supported")]
    UnsupportedScope(String),
    /// An entry of the `Origin` allow-list is not an origin.
    #[error(transparent)]
    Origin(#[from] InvalidOrigin),
    /// An option of the default JWKS key source (the builder method named here:
    /// `jwks_uri`, `allow_insecure_http` or `max_key_staleness`) was set together with
    /// [`key_source`](crate::McpAuthBuilder::key_source), which replaces that source: the option
    /// would have no effect. Configure the key source itself instead (for a JWKS key source,
    /// `JwksKeySourceBuilder::issuer_with_jwks_uri`, `allow_insecure_http`, `max_staleness`).
    #[error(
        "`.{0}(..)` configures the default JWKS key source and has no effect with \
         `.key_source(..)`: set it on that key source instead"
    )]
    IgnoredByKeySource(&'static str),
    /// Two metadata documents would be served at one path (by
    /// [`MetadataService::merge`](crate::MetadataService::merge), or `metadata_routes` with
    /// axum): two resources designated for the root URL
    /// ([`serve_metadata_at_root`](crate::McpAuthBuilder::serve_metadata_at_root)), one
    /// designated beside a resource without a path (whose URL the root is), or one resource
    /// twice. RFC 9728 §3: each URL describes one resource.
    #[error(
        "the metadata of {second:?} would be served at {path:?}, which already serves the \
         metadata of {first:?}: at most one resource may be served at the root URL, and \
         each resource once"
    )]
    MetadataPathConflict {
        /// The well-known path claimed twice.
        path: String,
        /// The `resource` of the document served there first.
        first: String,
        /// The `resource` of the document that claimed it again.
        second: String,
    },
    /// An identity-provider preset ([`providers`](crate::providers)) was given parameters
    /// its provider's tokens can never match (a tenant that is not a GUID, no API audience
    /// where the provider always sets one, an empty tenant list, ...).
    #[error(transparent)]
    Preset(#[from] crate::providers::PresetError),
}
