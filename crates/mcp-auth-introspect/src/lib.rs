//! RFC 7662 token introspection for mcp-auth: the HTTP side of
//! [`mcp_auth_core::introspection`].
//!
//! An [`Introspector`] asks one issuer's introspection endpoint about opaque access tokens and
//! judges each answer with that issuer's [`IntrospectionRules`] (the same claims policy as its
//! JWTs). It is what the `mcp-auth` layer awaits when validation needs introspection.
//!
//! - **Endpoint**: explicit, or `introspection_endpoint` from the issuer's RFC 8414 metadata
//!   (then the OpenID Connect discovery document), fetched once. https only (plain http on
//!   loopback, or anywhere with [`allow_insecure_http`](IntrospectorBuilder::allow_insecure_http)),
//!   no redirects followed.
//! - **Client authentication**: [`ClientAuth`]: `client_secret_basic`, `client_secret_post`,
//!   `private_key_jwt` (RFC 7523).
//! - **Before anything is sent**: the token's size and RFC 6750 syntax
//!   ([`check_token`](mcp_auth_core::introspection::check_token)); then a per-issuer cap on
//!   calls in flight: beyond it, [`AuthError::introspection_overloaded`] (503, `Retry-After`),
//!   so a flood of random tokens never becomes a flood of calls.
//! - **Cache**: answers are kept in a bounded cache keyed by an HMAC-SHA256 of the token under
//!   a random key made when the introspector is built, so the cache holds no token and a
//!   collision cannot be forged. An active answer is kept until `min(exp, maximum)` (the
//!   rules' [`max_cache`](IntrospectionRules::max_cache), default 60 s: **the revocation
//!   delay**), a refusal (`active: false`, another audience...) for the short negative
//!   lifetime (default 5 s). Any number of concurrent requests with the same new token share
//!   one call. Every hit is checked again against the clock
//!   ([`IntrospectionRules::recheck`]).
//! - **Failures**: down, slow (timeout, default 5 s), a status other than 200, an oversized
//!   or unusable answer: [`AuthError::introspection_unavailable`] (503, `Retry-After`), never
//!   an acceptance, never kept. [`Introspector::stats`] counts each outcome.
//!
//! # Example
//!
//! ```no_run
//! use mcp_auth_core::claims::ClaimsPolicy;
//! use mcp_auth_core::introspection::IntrospectionRules;
//! use mcp_auth_core::resource::ResourceUri;
//! use mcp_auth_introspect::{ClientAuth, Introspector};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = "https://as.example.com";
//! let resource = ResourceUri::parse("https://mcp.example.com/mcp")?;
//! let rules = IntrospectionRules::new(issuer, ClaimsPolicy::new(resource, issuer))?;
//! let introspector = Introspector::builder(rules, ClientAuth::client_secret_basic("rs", "secret"))
//!     .build()?; // the endpoint comes from the issuer's metadata
//! match introspector.introspect("opaque-token").await {
//!     Ok(answer) => println!("scopes: {}", answer.verified.scopes.to_scope_string()),
//!     Err(e) => println!("refused: {e} (retry after {:?})", e.retry_after()),
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod client_auth;
mod http;
mod introspector;
pub mod metrics;

pub use client_auth::{AssertionKey, ClientAuth, JWT_BEARER_ASSERTION};
pub use introspector::{
    DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_NEGATIVE_TTL,
    DEFAULT_TIMEOUT, IntrospectionStats, Introspector, IntrospectorBuilder,
};
pub use mcp_auth_core::introspection::{Introspected, IntrospectionRules, TokenIntrospector};

#[doc(no_inline)]
pub use mcp_auth_core::AuthError;

/// Why an [`Introspector`] could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The explicit endpoint is not an https URL (plain http only on loopback, unless
    /// allowed), or has credentials or a fragment.
    #[error("introspection endpoint {url:?} refused: {reason}")]
    Endpoint {
        /// The URL given.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The issuer is not a URL from which metadata can be discovered.
    #[error("issuer {0:?} is not an https URL to discover metadata from")]
    Issuer(String),
    /// A `private_key_jwt` key that cannot be used.
    #[error("client assertion key refused: {0}")]
    InvalidKey(&'static str),
    /// The rules expect RFC 9701 signed answers and no key source was given, or the reverse.
    #[error(
        "signed introspection answers need both IntrospectionRules::with_signed_answers and \
         IntrospectorBuilder::signed_answer_keys"
    )]
    SignedAnswers,
    /// A limit of zero (in-flight calls, answer size, timeout).
    #[error("{0} must be more than zero")]
    Zero(&'static str),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
}
