//! Errors of configuration and of loading a key set.

use crate::fetch::FetchError;
use http::StatusCode;
use mcp_auth_core::jwk::JwkError;

/// Why a key source could not be built, or a key set could not be loaded.
///
/// Loading errors never replace keys already loaded: the last good set stays in use.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The builder was given no issuer.
    #[error("no issuer configured: call `issuer(..)` or `issuer_with_jwks_uri(..)`")]
    NoIssuers,
    /// The same issuer was configured twice.
    #[error("issuer {0:?} is configured twice")]
    DuplicateIssuer(String),
    /// An issuer identifier that is not an acceptable URL.
    #[error("issuer {issuer:?} is invalid: {reason}")]
    InvalidIssuer {
        /// The issuer as configured.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// A `jwks_uri` (configured or discovered) that may not be fetched.
    #[error("JWKS URL {url:?} is refused: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A setting out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// No fetcher: the `reqwest` feature is off and none was given.
    #[error("no fetcher: enable the `reqwest` feature or call `fetcher(..)`")]
    NoFetcher,
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
    /// The issuer is not one of the configured issuers.
    #[error("issuer {0:?} is not configured")]
    UnknownIssuer(String),
    /// The request failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// The response is not JSON (for example an HTML login or error page).
    #[error(
        "{url} answered with Content-Type {content_type:?}, not JSON (application/json, \
         application/jwk-set+json or another +json type); is the URL right?"
    )]
    ContentType {
        /// The URL.
        url: String,
        /// The `Content-Type` received.
        content_type: Option<String>,
    },
    /// The JWKS was refused: not a JWK Set, too many keys, or no usable key.
    #[error("JWKS from {url} refused: {source}")]
    Jwks {
        /// The URL.
        url: String,
        /// Why.
        source: JwkError,
    },
    /// A metadata document that cannot be used.
    #[error("authorization server metadata at {url} is invalid: {reason}")]
    Metadata {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The metadata document names another issuer (RFC 8414 §3.3, OpenID Connect Discovery
    /// §4.3): it is refused, whatever it contains.
    #[error(
        "authorization server metadata at {url} names issuer {found:?}, \
         not the configured {expected:?} (RFC 8414 §3.3); refused"
    )]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// The `issuer` in the document.
        found: String,
    },
    /// No discovery URL gave a metadata document.
    #[error("discovery failed for issuer {issuer:?}: {attempts}")]
    Discovery {
        /// The issuer.
        issuer: String,
        /// What each URL answered.
        attempts: String,
    },
}
