//! The default [`Fetcher`]: reqwest over rustls.

use crate::JwksError;
use crate::fetch::{FetchError, FetchFuture, FetchResponse, Fetcher};
use crate::rules::check_redirect;
use crate::source::DEFAULT_TIMEOUT;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use std::error::Error as _;
use std::time::Duration;

const ACCEPT_JWKS: &str = "application/jwk-set+json, application/json;q=0.9";

/// A [`Fetcher`] built on one shared [`reqwest::Client`].
///
/// The body is read chunk by chunk and the read stops at the cap; a `Content-Length` over the
/// cap is refused before reading. A response whose final URL is plain http after a request to
/// https is refused even with a client you built yourself.
#[derive(Debug, Clone)]
pub struct ReqwestFetcher {
    client: reqwest::Client,
    timeout: Duration,
}

impl ReqwestFetcher {
    /// A fetcher over `client`, with [`DEFAULT_TIMEOUT`] per request.
    ///
    /// Redirects follow the client's policy; see [`ReqwestFetcher::client`] for the policy
    /// this crate uses.
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the timeout of each request (connection to last byte).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client this crate builds: rustls, `timeout` overall, at most `max_redirects`
    /// redirects, never from https to plain http, and plain http only to loopback hosts unless
    /// `allow_insecure_http`.
    pub fn client(
        timeout: Duration,
        max_redirects: usize,
        allow_insecure_http: bool,
    ) -> Result<reqwest::Client, JwksError> {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            match check_redirect(
                attempt.previous(),
                attempt.url(),
                max_redirects,
                allow_insecure_http,
            ) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(reason),
            }
        });
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(policy)
            .user_agent(concat!("mcp-auth-jwks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JwksError::HttpClient(error_chain(&e)))
    }

    async fn fetch(&self, url: &str, max_bytes: usize) -> Result<FetchResponse, FetchError> {
        let map = |e: reqwest::Error| map_error(url, &e);
        let mut resp = self
            .client
            .get(url)
            .header(ACCEPT, ACCEPT_JWKS)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(map)?;
        let requested_https = url
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("https:"));
        if requested_https && resp.url().scheme() != "https" {
            return Err(FetchError::Redirect {
                url: url.to_owned(),
                reason: format!("redirected from https to {}", resp.url()),
            });
        }
        let header = |name| {
            let values: Vec<&str> = resp
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(", "))
        };
        let mut out = FetchResponse::new(resp.status(), bytes::Bytes::new());
        out.content_type = header(CONTENT_TYPE);
        out.cache_control = header(CACHE_CONTROL);
        if !resp.status().is_success() {
            return Ok(out);
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            limit: max_bytes,
        };
        let declared = resp.content_length();
        if declared.is_some_and(|len| len > max_bytes as u64) {
            return Err(too_large());
        }
        let capacity = declared.map_or(8 * 1024, |len| len as usize).min(max_bytes);
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = resp.chunk().await.map_err(map)? {
            if body.len().saturating_add(chunk.len()) > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        out.body = body.into();
        Ok(out)
    }
}

impl Fetcher for ReqwestFetcher {
    fn get<'a>(&'a self, url: &'a str, max_bytes: usize) -> FetchFuture<'a> {
        Box::pin(self.fetch(url, max_bytes))
    }
}

fn map_error(url: &str, e: &reqwest::Error) -> FetchError {
    let url = url.to_owned();
    if e.is_timeout() {
        FetchError::Timeout { url }
    } else if e.is_redirect() {
        // The policy's reason is the innermost error; reqwest's own message names the hop.
        let mut reason = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        FetchError::Redirect { url, reason }
    } else {
        FetchError::Transport {
            url,
            reason: error_chain(e),
        }
    }
}

/// `outer: inner: innermost`, without repeating the URL reqwest puts in its messages.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}
