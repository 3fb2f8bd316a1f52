//! RFC 9728 Protected Resource Metadata routes and the CORS preset for browser MCP clients.

use crate::config_error::ConfigError;
use crate::layer::McpAuthLayer;
use crate::metadata::{MetadataService, ROOT_PATH};
use axum::Router;
use http::{HeaderName, Method};
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// A router serving `metadata` (RFC 9728 §3) at the well-known URL of its resource: the
/// path-inserted one (`/.well-known/oauth-protected-resource/mcp` for `https://host/mcp`), or
/// the root form `/.well-known/oauth-protected-resource` for a resource without a path (see
/// [`MetadataService`] for which document is served where, and
/// [`MetadataService::with_root_fallback`] to also answer the root). GET and HEAD,
/// `application/json`, CORS open to any origin (`Access-Control-Allow-Origin: *`: the
/// document is public, and browser clients read it before they have a token). Merge it
/// **outside** the auth layer, and after [`McpAuthLayer::cors`] so that its own CORS answers
/// for it.
///
/// Each path is routed to a [`MetadataService`], which builds every answer (see there); the
/// router adds nothing, so the two can never serve different documents or headers.
///
/// The document's `resource` must be a canonical resource URI; it is served byte for byte
/// (RFC 9728 §3.3).
pub fn protected_resource_router<S>(metadata: ProtectedResourceMetadata) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    MetadataService::new(metadata).into_router()
}

/// One router for the metadata documents of several layers (several protected resources in
/// one server, `/notes/mcp` and `/admin/mcp`), each at the URL its challenges name, and the
/// root URL for the one layer built with
/// [`serve_metadata_at_root`](crate::McpAuthBuilder::serve_metadata_at_root), if any: the
/// layers' [`MetadataService`]s joined by [`MetadataService::merge`]. Two layers claiming one
/// path (two at the root, one at the root beside a resource without a path, one resource
/// twice) are a [`ConfigError::MetadataPathConflict`], where merging their
/// [`metadata_router`](McpAuthLayer::metadata_router)s with `Router::merge` would panic.
///
/// ```
/// # use axum::{Router, routing::post};
/// # use mcp_auth::McpAuthLayer;
/// # use mcp_auth::core::keys::StaticKeySource;
/// # fn main() -> Result<(), mcp_auth::ConfigError> {
/// let layer = |resource: &str, root: bool| {
///     McpAuthLayer::builder(resource)
///         .issuer("https://auth.example.com")
///         .key_source(StaticKeySource::new())
///         .serve_metadata_at_root(root)
///         .build()
/// };
/// let notes = layer("https://mcp.example.com/notes/mcp", true)?;
/// let admin = layer("https://mcp.example.com/admin/mcp", false)?;
/// let app: Router = Router::new()
///     .route("/notes/mcp", post(|| async { "notes" }).route_layer(notes.clone()))
///     .route("/admin/mcp", post(|| async { "admin" }).route_layer(admin.clone()))
///     .merge(mcp_auth::metadata_routes([&notes, &admin])?);
/// # Ok(()) }
/// ```
pub fn metadata_routes<'a, S>(
    layers: impl IntoIterator<Item = &'a McpAuthLayer>,
) -> Result<Router<S>, ConfigError>
where
    S: Clone + Send + Sync + 'static,
{
    let service = MetadataService::merge(layers.into_iter().map(McpAuthLayer::metadata_service))?;
    Ok(service.into_router())
}

impl MetadataService {
    /// This service as an axum router: each of its [`paths`](Self::paths) routed to it.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let mut router = Router::new();
        for p in self.paths() {
            router = router.route_service(p, self.clone());
        }
        router
    }
}

/// Headers a browser MCP client sends (MCP Streamable HTTP transport, 2025-06-18 to
/// 2026-07-28) and the auth headers.
pub const CORS_ALLOW_HEADERS: [&str; 9] = [
    "authorization",
    "content-type",
    "accept",
    "mcp-protocol-version",
    "mcp-session-id",
    "mcp-method",
    "mcp-name",
    "last-event-id",
    "dpop",
];

/// Headers a browser MCP client must be able to read.
pub const CORS_EXPOSE_HEADERS: [&str; 4] = [
    "www-authenticate",
    "mcp-session-id",
    "dpop-nonce",
    "retry-after",
];

/// The CORS preset for browser-based MCP clients (e.g. MCP Inspector) from `origins`: the
/// methods of the Streamable HTTP transport, the MCP and auth request headers allowed, and
/// `WWW-Authenticate` and `Mcp-Session-Id` exposed so a 401 challenge is readable. Apply it
/// outside the auth layer, so preflights are answered before authorization.
///
/// Prefer [`McpAuthLayer::cors`], which allows exactly the origins the layer allows; with
/// `mcp_cors(Any)` a page from an origin the layer refuses passes the preflight and can read
/// the layer's 403, nothing more.
///
/// No credentials mode (`Access-Control-Allow-Credentials`) is enabled: tokens travel in the
/// `Authorization` header, never in cookies.
pub fn mcp_cors(origins: impl Into<AllowOrigin>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(CORS_ALLOW_HEADERS.map(HeaderName::from_static))
        .expose_headers(CORS_EXPOSE_HEADERS.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(600))
}

impl McpAuthLayer {
    /// This layer's [`metadata_service`](Self::metadata_service) as an axum router: its
    /// document at the URL its challenges name (and the root URL with
    /// [`serve_metadata_at_root`](crate::McpAuthBuilder::serve_metadata_at_root)). For
    /// several layers in one router, [`metadata_routes`] joins theirs and refuses two that
    /// claim one path.
    pub fn metadata_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.metadata_service().into_router()
    }

    /// The CORS preset, [`mcp_cors`], for the origins this layer allows (the resource's own,
    /// [`allowed_origin`](crate::McpAuthBuilder::allowed_origin)s, loopback with
    /// [`allow_loopback_origins`](crate::McpAuthBuilder::allow_loopback_origins)): an
    /// allowed origin gets CORS headers, any other gets none, so its page can neither send a
    /// preflighted request nor read a response. The well-known metadata paths
    /// (`/.well-known/oauth-protected-resource` and below, this resource's and any other's)
    /// stay readable from any origin (RFC 9728 documents are public), in case a
    /// [`metadata_router`](Self::metadata_router) or [`metadata_routes`] is merged inside
    /// this layer.
    ///
    /// ```
    /// # use axum::{Router, routing::post};
    /// # use mcp_auth::McpAuthLayer;
    /// # use mcp_auth::core::keys::StaticKeySource;
    /// # fn main() -> Result<(), mcp_auth::ConfigError> {
    /// let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     .allowed_origin("https://app.example.com")
    ///     .build()?;
    /// let app: Router = Router::new()
    ///     .route("/mcp", post(|| async { "ok" }))
    ///     .route_layer(auth.clone())
    ///     .layer(auth.cors())              // the MCP endpoint: allowed origins only
    ///     .merge(auth.metadata_router());  // the metadata: any origin
    /// # Ok(()) }
    /// ```
    pub fn cors(&self) -> CorsLayer {
        let origins = self.shared.origins.clone();
        mcp_cors(AllowOrigin::predicate(move |origin, parts| {
            origins.allows(origin.as_bytes()) || is_metadata_path(parts.uri.path())
        }))
    }
}

/// Whether `path` is a well-known Protected Resource Metadata path (the root form, or one
/// with a resource path inserted after it): only public documents, or 404s, live there.
fn is_metadata_path(path: &str) -> bool {
    path.strip_prefix(ROOT_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::is_metadata_path;

    #[test]
    fn metadata_paths_are_the_root_and_below_it_only() {
        for p in [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource/admin/mcp",
        ] {
            assert!(is_metadata_path(p), "{p}");
        }
        for p in [
            "/",
            "/mcp",
            "/.well-known/oauth-protected-resourcex",
            "/.well-known/oauth-authorization-server",
            "/x/.well-known/oauth-protected-resource",
        ] {
            assert!(!is_metadata_path(p), "{p}");
        }
    }
}
