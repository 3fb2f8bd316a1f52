//! An MCP endpoint behind [`McpAuthLayer`] on plain hyper 1 and tower, without axum.
//!
//! - `/mcp`: the layer in front of [`handler`], called with hyper's own request body
//!   (`Request<Incoming>`); the handler gets it as `Request<RequestBody<Incoming>>` and
//!   answers `Response<Full<Bytes>>`, which the layer answers as
//!   `Response<ResponseBody<Full<Bytes>>>`.
//! - every other path: [`MetadataService`](mcp_auth::MetadataService), the RFC 9728 document at
//!   `/.well-known/oauth-protected-resource/mcp` (and the root form, which the layer is
//!   built to serve too with `serve_metadata_at_root`), 404 elsewhere. It is
//!   outside the layer: the document is read before the client has a token.
//!
//! The layer classifies every MCP POST by its JSON-RPC body (an [`McpPolicy`]), so the body
//! the handler reads is the layer's copy of it, byte for byte.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use mcp_auth::client_addr::ClientAddr;
use mcp_auth::core::jwk::{JwkError, KeySet};
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::mcp::{McpPolicy, PolicyError};
use mcp_auth::{AuthContext, ConfigError, McpAuthLayer, RequestBody, ResponseBody};
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

/// The path of the MCP endpoint.
pub const MCP_PATH: &str = "/mcp";

/// The response body of the whole server: the layer's (around the handler's), or the
/// metadata service's.
pub type Body = Either<ResponseBody<Full<Bytes>>, Full<Bytes>>;

/// Why the server could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The JWKS document has no usable key.
    #[error("JWKS: {0}")]
    Jwks(#[from] JwkError),
    /// The MCP scope policy was refused.
    #[error("MCP policy: {0}")]
    Policy(#[from] PolicyError),
    /// The layer was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The layer for `resource` (the public URL of `/mcp`), trusting tokens of `issuer` signed by
/// the keys of the JWKS document `jwks`, requiring `mcp:read` for every MCP request.
pub fn auth_layer(resource: &str, issuer: &str, jwks: &[u8]) -> Result<McpAuthLayer, SetupError> {
    let keys = KeySet::from_jwks(jwks, &Algorithm::DEFAULT_ALLOWED, 32)?.keys;
    let policy = McpPolicy::builder().default_scopes(["mcp:read"]).build()?;
    let layer = McpAuthLayer::builder(resource)
        .issuer(issuer)
        .key_source(StaticKeySource::new().with_issuer(issuer, keys))
        .scopes_supported(["mcp:read"])
        .require_scopes(["mcp:read"])
        .mcp_policy(policy)
        // Also at the root URL: the fallback for clients that probe only the root.
        .serve_metadata_at_root(true)
        .build()?;
    Ok(layer)
}

/// The MCP endpoint (a stand-in for a real MCP server): answers with who called it and the
/// request body it got, as JSON.
pub async fn handler(
    req: Request<RequestBody<Incoming>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    // The layer put the verified token's context here; `Authorization` is gone.
    let subject = parts
        .extensions
        .get::<AuthContext>()
        .and_then(|c| c.subject().map(str::to_owned));
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let mut res = Response::new(Full::new(Bytes::from_static(b"body could not be read")));
            *res.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(res);
        }
    };
    let doc = serde_json::json!({
        "subject": subject,
        "authorization_seen": parts.headers.contains_key(http::header::AUTHORIZATION),
        "body": String::from_utf8_lossy(&body),
    });
    let mut res = Response::new(Full::new(Bytes::from(doc.to_string())));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

/// Serves `auth` around [`handler`] at [`MCP_PATH`] and its metadata everywhere else, one
/// task per connection, until the listener fails.
pub async fn serve(listener: TcpListener, auth: McpAuthLayer) -> std::io::Result<()> {
    let mcp = auth.layer(tower::service_fn(handler));
    let metadata = auth.metadata_service();
    let app = move |peer: SocketAddr| {
        let (mcp, metadata) = (mcp.clone(), metadata.clone());
        tower::service_fn(move |mut req: Request<Incoming>| {
            // The socket's address, for the layer's per-address rate limit (if configured).
            req.extensions_mut().insert(ClientAddr(peer));
            let (mcp, metadata) = (mcp.clone(), metadata.clone());
            async move {
                if req.uri().path() == MCP_PATH {
                    let res = mcp.oneshot(req).await?;
                    Ok::<_, Infallible>(res.map(Either::Left))
                } else {
                    let res = metadata.oneshot(req).await?;
                    Ok(res.map(Either::Right))
                }
            }
        })
    };
    loop {
        let (stream, peer) = listener.accept().await?;
        let service = TowerToHyperService::new(app(peer));
        tokio::spawn(async move {
            // A connection that fails (a client that goes away) ends its own task only.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
