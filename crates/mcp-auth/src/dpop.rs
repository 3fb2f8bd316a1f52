//! DPoP (RFC 9449): sender-constrained access tokens, switched on per layer with
//! [`McpAuthBuilder::dpop`](crate::McpAuthBuilder::dpop).
//!
//! A DPoP request carries `Authorization: DPoP <token>` and exactly one `DPoP` header with a
//! proof signed by the client's key; the token's `cnf.jkt` names that key. The layer checks,
//! in this order: the scheme ([`DpopMode`]), the token (JWT, cache hit or introspection, as
//! for `Bearer`), the proof against every rule of RFC 9449 §4.3 ([`DpopPolicy::check`]: `typ`,
//! `alg`, public `jwk`, signature, `jti`/`htm`/`htu`/`iat`, the `iat` window, `ath`,
//! `cnf.jkt`, the nonce), and only then records the proof's `jti` in the [`ReplayStore`]
//! (RFC 9449 §11.1): a second use is refused, a store that cannot answer is a 503 with
//! `Retry-After`, never an acceptance.
//!
//! `htu` is compared with the configured resource URI's scheme, host and port and the
//! request's path (a server behind a proxy sees its public URL, not the one it listens on).
//!
//! # Example
//!
//! ```
//! use mcp_auth::McpAuthLayer;
//! use mcp_auth::core::keys::StaticKeySource;
//! use mcp_auth::dpop::{DpopMode, DpopPolicy, MemoryReplayStore};
//!
//! let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
//!     .issuer("https://auth.example.com")
//!     .key_source(StaticKeySource::new())
//!     .dpop(DpopMode::Allowed, DpopPolicy::new(), MemoryReplayStore::new(100_000))
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     layer.metadata().dpop_signing_alg_values_supported,
//!     ["ES256", "ES384", "EdDSA", "PS256", "RS256"]
//! );
//! ```

pub use mcp_auth_core::dpop::{
    CheckedProof, DpopConfigError, DpopError, DpopPolicy, JtiHash, Nonces, jwk_thumbprint,
};
pub use mcp_auth_dpop::{MemoryReplayStore, Replay, ReplayFuture, ReplayStore, StoreError};
#[cfg(feature = "redis")]
pub use mcp_auth_dpop::{RedisReplayStore, RedisReplayStoreBuilder};

/// Which schemes a layer takes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// No DPoP: `Authorization: DPoP` and every token with `cnf` are refused (the behaviour
    /// of a layer without [`McpAuthBuilder::dpop`](crate::McpAuthBuilder::dpop)).
    #[default]
    Off,
    /// `Bearer` and `DPoP` both. A request without credentials is answered with a `Bearer`
    /// and a `DPoP` challenge. A `Bearer` request that also carries a `DPoP` header is
    /// refused with 400 `invalid_request`: the client meant to prove possession, and taking
    /// the token as a bearer token would silently drop that protection.
    Allowed,
    /// `DPoP` only (RFC 9449 §7.1): a `Bearer` request is refused with a `DPoP` challenge,
    /// and the metadata says `dpop_bound_access_tokens_required: true` (RFC 9728 §2).
    Required,
}
