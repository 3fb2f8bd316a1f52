//! The two HTTP exchanges: the introspection POST and the metadata GET, each with a timeout,
//! a size cap and no redirect.

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use std::time::Duration;
use url::Url;

/// Why an exchange gave no usable body. Holds no token or secret: logged as is.
#[derive(Debug)]
pub(crate) enum Failure {
    Timeout,
    Transport(String),
    Status(StatusCode),
    TooLarge(usize),
    ContentType(Option<String>),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::Status(s) => write!(f, "answered {s}, not 200"),
            Self::TooLarge(n) => write!(f, "answer larger than {n} bytes"),
            Self::ContentType(t) => write!(f, "answer of type {t:?}"),
        }
    }
}

/// The client this crate uses: rustls, no redirects (a 3xx is a failure: the answer must come
/// from the configured origin), the timeouts.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mcp-auth-introspect/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| error_chain(&e))
}

/// The introspection request (RFC 7662 §2.1): a form POST, `accept` as the `Accept` value.
pub(crate) struct Post<'a> {
    pub(crate) url: &'a Url,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) body: &'a str,
    pub(crate) accept: &'static str,
    /// The `Content-Type` the answer must have (RFC 9701 §5), if any.
    pub(crate) expect_type: Option<&'static str>,
}

pub(crate) async fn post(
    http: &reqwest::Client,
    req: Post<'_>,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, Failure> {
    let mut builder = http
        .post(req.url.clone())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, req.accept)
        .timeout(timeout)
        .body(req.body.to_owned());
    if let Some(auth) = req.authorization {
        let mut value =
            HeaderValue::from_str(auth).map_err(|_| Failure::Transport("bad header".into()))?;
        value.set_sensitive(true);
        builder = builder.header(AUTHORIZATION, value);
    }
    let exchange = async {
        let resp = builder.send().await.map_err(map_error)?;
        if let Some(expected) = req.expect_type {
            let ty = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let mime = ty.map(|t| t.split(';').next().unwrap_or_default().trim());
            if resp.status() == StatusCode::OK
                && !mime.is_some_and(|m| m.eq_ignore_ascii_case(expected))
            {
                return Err(Failure::ContentType(ty.map(str::to_owned)));
            }
        }
        read(resp, max_bytes).await
    };
    // reqwest's own timeout covers the exchange; this one also covers a body trickling in.
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

pub(crate) async fn get(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, Failure> {
    let exchange = async {
        let resp = http
            .get(url)
            .header(ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await
            .map_err(map_error)?;
        read(resp, max_bytes).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

/// A 200 answer's body, read chunk by chunk up to the cap.
async fn read(mut resp: reqwest::Response, max_bytes: usize) -> Result<Vec<u8>, Failure> {
    // RFC 7662 §2.2: the answer is a 200; anything else (401 for our credentials, 3xx, 5xx)
    // is not an answer.
    if resp.status() != StatusCode::OK {
        return Err(Failure::Status(resp.status()));
    }
    if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(Failure::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(map_error)? {
        if body.len().saturating_add(chunk.len()) > max_bytes {
            return Err(Failure::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn map_error(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Transport(error_chain(&e))
    }
}

/// `outer: inner: innermost`, each message once.
fn error_chain(e: &dyn std::error::Error) -> String {
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

/// The metadata URLs of `issuer`, in order: RFC 8414 §3.1 (path insertion), then OpenID
/// Connect Discovery 1.0 §4 (path appending).
pub(crate) fn discovery_urls(issuer: &Url) -> [String; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    [oauth.to_string(), oidc.to_string()]
}

/// Whether `url` may receive tokens: https, plain http on loopback (or anywhere with
/// `allow_insecure_http`); no credentials, no fragment.
pub(crate) fn check_url(url: &str, allow_insecure_http: bool) -> Result<Url, &'static str> {
    let parsed = Url::parse(url).map_err(|_| "not an absolute URL")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("URLs with credentials are refused");
    }
    if parsed.fragment().is_some() || parsed.host_str().is_none() {
        return Err("an endpoint has a host and no fragment");
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_insecure_http || mcp_auth_core::metadata::is_loopback_host(&parsed) => {
            Ok(parsed)
        }
        "http" => Err("plain http is allowed only for loopback hosts unless allow_insecure_http"),
        _ => Err("not an http(s) URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_follows_rfc8414_then_oidc() {
        let u = Url::parse("https://as.example.com").unwrap();
        assert_eq!(
            discovery_urls(&u),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration"
            ]
        );
        let u = Url::parse("https://as.example.com/realms/x").unwrap();
        assert_eq!(
            discovery_urls(&u),
            [
                "https://as.example.com/.well-known/oauth-authorization-server/realms/x",
                "https://as.example.com/realms/x/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn tokens_go_only_to_https_or_loopback() {
        assert!(check_url("https://as.example.com/introspect", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/introspect", false).is_ok());
        assert!(check_url("http://localhost/introspect", false).is_ok());
        assert!(check_url("http://as.example.com/introspect", false).is_err());
        assert!(check_url("http://as.example.com/introspect", true).is_ok());
        assert!(check_url("https://u:p@as.example.com/i", false).is_err());
        assert!(check_url("https://as.example.com/i#f", false).is_err());
        assert!(check_url("ftp://as.example.com/i", true).is_err());
        assert!(check_url("/introspect", true).is_err());
    }
}
