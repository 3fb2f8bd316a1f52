//! Development and test tooling for mcp-auth: an in-memory token authority and a small
//! OAuth 2.1 authorization server.
//!
//! # **Not for production**
//!
//! Everything here keeps keys, clients, codes and tokens in memory, trusts loopback, and
//! favours observability over safety. It exists so tests and demos can mint tokens and run
//! real OAuth flows without an external identity provider.
//!
//! - [`TestAuthority`]: signing keys (RS256, PS256, ES256, EdDSA), a public JWKS, and a
//!   [`TokenBuilder`] for valid and deliberately malformed JWTs (wrong `aud`, expired,
//!   `alg: none`, HS256 with the RSA public key, forged `kid`, ...).
//! - [`ServedAuthority`]: the authority's RFC 8414 metadata and live JWKS over loopback HTTP,
//!   with fetch counters.
//! - [`DevAuthorizationServer`]: an OAuth 2.1 authorization server following the MCP
//!   authorization spec (RFC 8414 metadata, PKCE S256, RFC 8707 resource indicators, RFC 7591
//!   dynamic registration, Client ID Metadata Documents, RFC 9207 `iss`, RFC 9068 JWT access
//!   tokens or opaque ones, RFC 7662 introspection, RFC 7009 revocation, refresh token
//!   rotation), as an axum `Router` or a standalone loopback server.
//! - [`test_support`]: test-only helpers (a throwaway `redis-server`, a log capture).
//!
//! # Example
//!
//! ```
//! use mcp_auth_dev::TestAuthority;
//!
//! let authority = TestAuthority::new("https://auth.example.test");
//! let jwks = authority.jwks(); // publish this to the validator
//! assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(4));
//!
//! let token = authority
//!     .token()
//!     .aud("https://mcp.example.test/mcp")
//!     .scope("mcp:read")
//!     .sign();
//! let expired = authority.token().aud("https://mcp.example.test/mcp").expires_in(-600).sign();
//! # let _ = (token, expired);
//! ```
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod authority;
mod background;
mod keys;
pub mod served;
pub mod server;
pub mod test_support;

pub use authority::{TestAuthority, TokenBuilder};
pub use keys::SigningKeyError;
pub use served::ServedAuthority;
pub use server::{
    DevAuthorizationServer, DevAuthorizationServerBuilder, DevServerError, ResourceServerClient,
    RunningDevServer, TokenFormat,
};
