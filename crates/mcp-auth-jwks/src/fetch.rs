//! The HTTP seam under the cache: the [`Fetcher`] trait and what it returns.

use bytes::Bytes;
use http::StatusCode;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future returned by [`Fetcher::get`].
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<FetchResponse, FetchError>> + Send + 'a>>;

/// Fetches a document with an HTTP `GET`.
///
/// The key source calls it for metadata documents and JWKS, and checks the status, the
/// `Content-Type`, the size and the content itself; a fetcher only moves bytes. It must stop
/// reading once the body exceeds `max_bytes` (answering [`FetchError::TooLarge`]), bound the
/// time it takes, and never follow a redirect from https to plain http.
///
/// The default is `ReqwestFetcher` (feature `reqwest`). Tests implement this trait to count
/// fetches and inject failures:
///
/// ```
/// use mcp_auth_jwks::{FetchError, FetchFuture, FetchResponse, Fetcher};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// #[derive(Debug, Default)]
/// struct Counting(AtomicUsize);
///
/// impl Fetcher for Counting {
///     fn get<'a>(&'a self, _url: &'a str, _max_bytes: usize) -> FetchFuture<'a> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Box::pin(async { Ok(FetchResponse::json(r#"{"keys":[]}"#)) })
///     }
/// }
/// ```
pub trait Fetcher: Send + Sync + fmt::Debug + 'static {
    /// `GET url`, reading at most `max_bytes` of body.
    fn get<'a>(&'a self, url: &'a str, max_bytes: usize) -> FetchFuture<'a>;
}

impl<F: Fetcher + ?Sized> Fetcher for Arc<F> {
    fn get<'a>(&'a self, url: &'a str, max_bytes: usize) -> FetchFuture<'a> {
        (**self).get(url, max_bytes)
    }
}

/// A fetched document.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Cache-Control` header (several lines joined with `, `), if any.
    pub cache_control: Option<String>,
    /// The body, at most the `max_bytes` the fetcher was given.
    pub body: Bytes,
}

impl FetchResponse {
    /// A response with `status` and `body` and no headers.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: None,
            cache_control: None,
            body: body.into(),
        }
    }

    /// `200 OK` with `Content-Type: application/json`.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::OK, body).with_content_type("application/json")
    }

    /// Sets the `Content-Type`.
    #[must_use]
    pub fn with_content_type(mut self, value: impl Into<String>) -> Self {
        self.content_type = Some(value.into());
        self
    }

    /// Sets the `Cache-Control`.
    #[must_use]
    pub fn with_cache_control(mut self, value: impl Into<String>) -> Self {
        self.cache_control = Some(value.into());
        self
    }
}

/// Why a fetch failed before a response could be checked.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The request did not complete within the timeout.
    #[error("request to {url} timed out")]
    Timeout {
        /// The URL requested.
        url: String,
    },
    /// The body is larger than the cap.
    #[error("response from {url} is larger than the {limit}-byte cap")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The cap, in bytes.
        limit: usize,
    },
    /// A redirect was refused (too many, https to plain http, or to a URL not allowed).
    #[error("redirect refused while fetching {url}: {reason}")]
    Redirect {
        /// The URL requested.
        url: String,
        /// Why.
        reason: String,
    },
    /// Connection, TLS or protocol failure.
    #[error("could not fetch {url}: {reason}")]
    Transport {
        /// The URL requested.
        url: String,
        /// Why.
        reason: String,
    },
}
