//! MCP authorization for axum and tower: an OAuth 2.1 resource server layer.
//!
//! An MCP server is an OAuth 2.1 resource server (MCP authorization, 2025-06-18 onward).
//! [`McpAuthLayer`] makes any tower service or axum router one:
//!
//! - tokens only from `Authorization: Bearer` (never the query string or a form body);
//! - RFC 9068 JWT access tokens checked against the issuer's keys: algorithm allow-list,
//!   `typ`, `iss`, `aud` bound to this server's canonical resource URI (RFC 8707),
//!   `exp`/`nbf`/`iat`, scopes;
//! - RFC 6750 / RFC 9728 challenges: 401 with `resource_metadata` and `scope`, 403
//!   `insufficient_scope`, 400 `invalid_request`, 503 when keys cannot be had;
//! - the `Authorization` header removed before the inner service (no token passthrough);
//! - `Origin` validated first (MCP Streamable HTTP transport, DNS rebinding): 403 unless
//!   allowed, see [`McpAuthBuilder::allowed_origin`];
//! - the RFC 9728 metadata document as a tower service ([`MetadataService`]), as an axum
//!   router, and a CORS preset for browser clients from the allowed origins (feature `axum`);
//!   several protected resources in one server, each with its own layer and document, joined
//!   by [`MetadataService::merge`] (see there for which document is served where).
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::post};
//! use mcp_auth::{AuthContext, McpAuthLayer};
//! use mcp_auth::core::keys::StaticKeySource;
//!
//! # fn keys() -> StaticKeySource { StaticKeySource::new() }
//! # fn main() -> Result<(), mcp_auth::ConfigError> {
//! let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
//!     .issuer("https://auth.example.com")
//!     .key_source(keys()) // in production: a JWKS key source (crate mcp-auth-jwks)
//!     .scopes_supported(["mcp:read", "mcp:write"])
//!     .require_scopes(["mcp:read"])
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/mcp", post(|ctx: AuthContext| async move {
//!         format!("hello {}", ctx.subject().unwrap_or("?"))
//!     }))
//!     .route_layer(auth.clone())      // unknown paths stay 404
//!     .layer(auth.cors())             // browser clients from allowed origins only
//!     .merge(auth.metadata_router()); // RFC 9728 documents, outside the auth layer, any origin
//! # Ok(()) }
//! ```
//!
//! # Body types
//!
//! The layer takes any request body `B` that is an [`http_body::Body`] with `Data = Bytes`
//! (axum's `Body`, hyper's `Incoming`, `http_body_util::Full`, ...). The inner service gets
//! `Request<`[`RequestBody<B>`]`>`: the body untouched, or the bytes the layer had to read
//! (a form body, an MCP POST it classified), whole. Around an inner service answering
//! `Response<ResBody>`, the layer answers `Response<`[`ResponseBody<ResBody>`]`>`: the inner
//! service's body, or the body of a rejection. Both are bodies with the wrapped body's error
//! type. An axum `Router` takes them as they are:
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use mcp_auth::core::keys::StaticKeySource;
//! use mcp_auth::{McpAuthLayer, RequestBody, ResponseBody};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
//!     .issuer("https://auth.example.com")
//!     .key_source(StaticKeySource::new())
//!     .build()?;
//! let svc = ServiceBuilder::new().layer(auth).service_fn(
//!     |req: Request<RequestBody<Full<Bytes>>>| async move {
//!         let body = req.into_body().collect().await?.to_bytes();
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(body)))
//!     },
//! );
//! let res: Response<ResponseBody<Full<Bytes>>> =
//!     svc.oneshot(Request::new(Full::new(Bytes::from("{}")))).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED); // no token
//! assert!(!res.body().is_from_inner());
//! # Ok(()) }
//! ```
//!
//! # Deployment caveat
//!
//! The resource URI you configure is what clients must use and what tokens must name. Behind
//! a proxy, configure the public URL (`https://mcp.example.com/mcp`), not the address the
//! process listens on.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::exhaustive_enums)]

/// The README's code, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub mod audit;
mod body;
mod builder;
pub mod client_addr;
mod config_error;
mod context;
mod decision;
pub mod dpop;
#[cfg(feature = "axum")]
mod extract;
mod future;
pub mod introspection;
mod issuer;
mod layer;
pub mod limit;
mod metadata;
pub mod metrics;
mod operations;
pub mod providers;
#[cfg(feature = "redis")]
mod redis_support;
mod response;
#[cfg(feature = "rmcp")]
pub mod rmcp;
mod service;
pub mod session;
pub mod token_cache;
mod validate;
#[cfg(feature = "axum")]
mod well_known;

/// The pure building blocks, re-exported.
pub use mcp_auth_core as core;
/// The `redis` crate whose `aio::ConnectionManager` the Redis stores take (feature `redis`).
#[cfg(feature = "redis")]
pub use redis;

pub use body::{RequestBody, ResponseBody};
pub use builder::McpAuthBuilder;
pub use config_error::ConfigError;
pub use context::{AuthContext, ScopeError};
#[cfg(feature = "axum")]
pub use extract::MissingAuthContext;
pub use future::ResponseFuture;
pub use issuer::TrustedIssuer;
pub use layer::{DEFAULT_TOKEN_CACHE_CAPACITY, McpAuthLayer};
pub use mcp_auth_core::{AuthError, ErrorKind};
pub use metadata::{MetadataFuture, MetadataService};
pub use response::{DefaultRejection, RenderRejection};
pub use service::McpAuth;
pub use validate::{BoxValidateFuture, JwtValidator, UnixClock, ValidateToken};
#[cfg(feature = "axum")]
pub use well_known::{
    CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, mcp_cors, metadata_routes, protected_resource_router,
};
