//! RFC 9728 Protected Resource Metadata routes and the CORS preset for browser MCP clients.

use crate::layer::McpAuthLayer;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method};
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use mcp_auth_core::resource::ResourceUri;
use std::sync::Arc;
use tower_http::cors::{Any, CorsLayer};

/// A router serving `metadata` (RFC 9728 §3) at the path-inserted well-known URL of its
/// resource (`/.well-known/oauth-protected-resource/mcp` for `https://host/mcp`) and at the
/// root form `/.well-known/oauth-protected-resource`, which MCP clients try next (MCP
/// 2025-11-25, "Authorization Server Location"). GET and HEAD, `application/json`, CORS open
/// to any origin. Merge it **outside** the auth layer.
///
/// The document's `resource` must be a canonical resource URI; it is served byte for byte
/// (RFC 9728 §3.3).
pub fn protected_resource_router<S>(metadata: ProtectedResourceMetadata) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let paths = match ResourceUri::parse(&metadata.resource) {
        Ok(r) if !r.path().is_empty() => vec![r.metadata_path(), root_path()],
        _ => vec![root_path()],
    };
    let body: Arc<[u8]> = match serde_json::to_vec(&metadata) {
        Ok(b) => b.into(),
        Err(_) => Arc::from(&b"{}"[..]),
    };
    let handler = move || {
        let body = body.clone();
        async move { json_response(body) }
    };
    let mut router = Router::new();
    for p in paths {
        router = router.route(&p, get(handler.clone()));
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
            .allow_headers([HeaderName::from_static("mcp-protocol-version")]),
    )
}

fn root_path() -> String {
    "/.well-known/oauth-protected-resource".to_owned()
}

fn json_response(body: Arc<[u8]>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body.to_vec(),
    )
        .into_response()
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

/// The CORS preset for browser-based MCP clients (e.g. MCP Inspector): any origin, the
/// methods of the Streamable HTTP transport, the MCP and auth request headers allowed, and
/// `WWW-Authenticate` and `Mcp-Session-Id` exposed so a 401 challenge is readable. Apply it
/// to the whole router, outside the auth layer, so preflights are answered before
/// authorization.
///
/// No credentials mode (`Access-Control-Allow-Credentials`) is enabled: tokens travel in the
/// `Authorization` header, never in cookies.
pub fn mcp_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(CORS_ALLOW_HEADERS.map(HeaderName::from_static))
        .expose_headers(CORS_EXPOSE_HEADERS.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(600))
}

impl<V> McpAuthLayer<V> {
    /// [`protected_resource_router`] for this layer's metadata document.
    pub fn metadata_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        protected_resource_router(self.metadata().clone())
    }

    /// The CORS preset, [`mcp_cors`].
    pub fn cors(&self) -> CorsLayer {
        mcp_cors()
    }
}
