//! The pure rules of the key source: `Cache-Control` parsing, lifetime clamping, content-type
//! checks, discovery URL building, issuer comparison, URL and redirect policy.
//!
//! Nothing here does I/O or reads a clock, so each rule is unit-tested on its own.

use mcp_auth_core::metadata::{is_loopback_host, is_secure_url};
use std::time::Duration;
use url::Url;

/// The `Cache-Control` directives that decide how long a key set is kept (RFC 9111 §5.2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheDirectives {
    /// `max-age`, in seconds (the first occurrence, RFC 9111 §4.2.1).
    pub(crate) max_age: Option<u64>,
    /// `no-store`.
    pub(crate) no_store: bool,
    /// `no-cache`.
    pub(crate) no_cache: bool,
}

/// Parses a `Cache-Control` value (several header lines joined with `,`). Unknown directives
/// and malformed `max-age` values are ignored.
pub(crate) fn parse_cache_control(value: Option<&str>) -> CacheDirectives {
    let mut out = CacheDirectives::default();
    let Some(value) = value else {
        return out;
    };
    for directive in value.split(',') {
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") {
            out.no_store = true;
        } else if name.eq_ignore_ascii_case("no-cache") {
            out.no_cache = true;
        } else if name.eq_ignore_ascii_case("max-age") && out.max_age.is_none() {
            out.max_age = arg.and_then(parse_delta_seconds);
        }
    }
    out
}

/// RFC 9111 §1.2.2 `delta-seconds`: digits only; too large a value saturates.
fn parse_delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

/// How long a key set is fresh: `max-age` clamped to `[min, max]`; the floor when the response
/// says `no-store`/`no-cache` or gives no `max-age`.
pub(crate) fn ttl(directives: &CacheDirectives, min: Duration, max: Duration) -> Duration {
    if directives.no_store || directives.no_cache {
        return min;
    }
    match directives.max_age {
        Some(secs) => Duration::from_secs(secs).clamp(min, max),
        None => min,
    }
}

/// When to refresh ahead of expiry: after four fifths of the lifetime.
pub(crate) fn refresh_ahead(ttl: Duration) -> Duration {
    ttl.saturating_sub(ttl / 5)
}

/// Whether a `Content-Type` is JSON: `application/json`, `application/jwk-set+json` or any
/// other `application/*+json`. Absent is not JSON.
pub(crate) fn is_json_content_type(value: Option<&str>) -> bool {
    let Some(value) = value else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    let Some((ty, subtype)) = mime.split_once('/') else {
        return false;
    };
    ty.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || (subtype.len() > 5
                && subtype
                    .get(subtype.len() - 5..)
                    .is_some_and(|s| s.eq_ignore_ascii_case("+json"))))
}

/// RFC 8414 §3.3 / OpenID Connect Discovery 1.0 §4.3: the metadata document's `issuer` must
/// be identical to the configured issuer. Exact, byte for byte: no case folding and no
/// trailing-slash normalization.
pub(crate) fn issuer_matches(configured: &str, document: &str) -> bool {
    configured == document
}

/// Which discovery document a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiscoveryKind {
    /// RFC 8414 authorization server metadata.
    OAuth,
    /// OpenID Connect discovery.
    OpenId,
}

/// The metadata URLs to try for `issuer`, in order (RFC 8414 §3.1, OpenID Connect Discovery
/// §4, MCP "Authorization Server Metadata Discovery"):
///
/// - no path: `/.well-known/oauth-authorization-server`, then `/.well-known/openid-configuration`;
/// - with a path: RFC 8414 path insertion, OpenID Connect path insertion, then OpenID Connect
///   path appending.
pub(crate) fn discovery_urls(issuer: &str) -> Result<Vec<(DiscoveryKind, String)>, String> {
    let url = Url::parse(issuer).map_err(|e| format!("not a URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("an issuer has no query or fragment (RFC 8414 §2)".to_owned());
    }
    if url.host_str().is_none() {
        return Err("an issuer has a host".to_owned());
    }
    let path = url.path().trim_end_matches('/');
    let at = |p: String| {
        let mut u = url.clone();
        u.set_path(&p);
        u.to_string()
    };
    let oauth = at(format!("/.well-known/oauth-authorization-server{path}"));
    let oidc_insert = at(format!("/.well-known/openid-configuration{path}"));
    if path.is_empty() {
        return Ok(vec![
            (DiscoveryKind::OAuth, oauth),
            (DiscoveryKind::OpenId, oidc_insert),
        ]);
    }
    let oidc_append = at(format!("{path}/.well-known/openid-configuration"));
    Ok(vec![
        (DiscoveryKind::OAuth, oauth),
        (DiscoveryKind::OpenId, oidc_insert),
        (DiscoveryKind::OpenId, oidc_append),
    ])
}

/// Whether `url` may be fetched: https, or plain http on loopback, or plain http anywhere when
/// `allow_insecure_http`. No fragment, a host, no credentials.
pub(crate) fn check_fetch_url(url: &str, allow_insecure_http: bool) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("URLs with credentials are refused".to_owned());
    }
    if is_secure_url(url) {
        return Ok(parsed);
    }
    if allow_insecure_http
        && parsed.scheme() == "http"
        && parsed.host_str().is_some()
        && parsed.fragment().is_none()
    {
        return Ok(parsed);
    }
    Err(if parsed.scheme() == "http" {
        "plain http is allowed only for loopback hosts unless allow_insecure_http(true) is set"
            .to_owned()
    } else {
        "must be an absolute https URL without a fragment".to_owned()
    })
}

/// Whether a redirect to `next` may be followed after the hops in `previous` (the first is the
/// original request): at most `max` redirects, never from https to plain http, only to http(s),
/// and plain http only where [`check_fetch_url`] allows it.
#[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
pub(crate) fn check_redirect(
    previous: &[Url],
    next: &Url,
    max: usize,
    allow_insecure_http: bool,
) -> Result<(), String> {
    if previous.len() > max {
        return Err(format!("more than {max} redirects"));
    }
    match next.scheme() {
        "https" => Ok(()),
        "http" => {
            if previous.iter().any(|u| u.scheme() == "https") {
                Err(format!(
                    "redirect from https to plain http ({next}) refused"
                ))
            } else if allow_insecure_http || is_loopback_host(next) {
                Ok(())
            } else {
                Err(format!("redirect to plain http ({next}) refused"))
            }
        }
        other => Err(format!("redirect to a {other:?} URL refused")),
    }
}

/// Seconds for `Retry-After`: rounded up, at least 1.
pub(crate) fn retry_after_secs(d: Duration) -> u32 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(300);
    const MAX: Duration = Duration::from_secs(86_400);

    #[test]
    fn cache_control_parsing() {
        let cases: &[(Option<&str>, Option<u64>, bool, bool)] = &[
            (None, None, false, false),
            (Some(""), None, false, false),
            (Some("max-age=600"), Some(600), false, false),
            (
                Some("public, MAX-AGE=600, must-revalidate"),
                Some(600),
                false,
                false,
            ),
            (Some("max-age=\"60\""), Some(60), false, false),
            (Some("max-age=60, max-age=6000"), Some(60), false, false),
            (Some("max-age=-1"), None, false, false),
            (Some("max-age=1e3"), None, false, false),
            (Some("max-age="), None, false, false),
            (
                Some("max-age=99999999999999999999999"),
                Some(u64::MAX),
                false,
                false,
            ),
            (Some("no-store"), None, true, false),
            (Some("No-Cache, max-age=10"), Some(10), false, true),
            (Some("s-maxage=100"), None, false, false),
        ];
        for (value, max_age, no_store, no_cache) in cases {
            let d = parse_cache_control(*value);
            assert_eq!(
                d,
                CacheDirectives {
                    max_age: *max_age,
                    no_store: *no_store,
                    no_cache: *no_cache
                },
                "{value:?}"
            );
        }
    }

    #[test]
    fn ttl_is_clamped() {
        let ttl_of = |v: &str| ttl(&parse_cache_control(Some(v)), MIN, MAX);
        assert_eq!(ttl_of("max-age=600"), Duration::from_secs(600));
        assert_eq!(ttl_of("max-age=10"), MIN);
        assert_eq!(ttl_of("max-age=0"), MIN);
        assert_eq!(ttl_of("max-age=31536000"), MAX);
        assert_eq!(ttl_of("max-age=99999999999999999999"), MAX);
        assert_eq!(ttl_of("no-store, max-age=3600"), MIN);
        assert_eq!(ttl_of("no-cache"), MIN);
        assert_eq!(ttl_of("private"), MIN);
        assert_eq!(ttl(&parse_cache_control(None), MIN, MAX), MIN);
        assert_eq!(
            refresh_ahead(Duration::from_secs(600)),
            Duration::from_secs(480)
        );
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/jwk-set+json",
            "application/jwk-set+json;charset=UTF-8",
            "application/problem+json",
        ] {
            assert!(is_json_content_type(Some(ok)), "{ok}");
        }
        for bad in [
            "text/html",
            "text/html; charset=utf-8",
            "text/json",
            "application/+json",
            "application/jsonp",
            "application/octet-stream",
            "json",
            "",
        ] {
            assert!(!is_json_content_type(Some(bad)), "{bad}");
        }
        assert!(!is_json_content_type(None));
    }

    #[test]
    fn issuer_comparison_is_exact() {
        assert!(issuer_matches(
            "https://as.example.com",
            "https://as.example.com"
        ));
        assert!(!issuer_matches(
            "https://as.example.com",
            "https://as.example.com/"
        ));
        assert!(!issuer_matches(
            "https://as.example.com",
            "https://AS.example.com"
        ));
        assert!(!issuer_matches(
            "https://as.example.com/t1",
            "https://as.example.com/t2"
        ));
        assert!(!issuer_matches(
            "https://as.example.com",
            "http://as.example.com"
        ));
    }

    #[test]
    fn discovery_urls_insert_the_path() {
        let urls = |i: &str| {
            discovery_urls(i)
                .unwrap()
                .into_iter()
                .map(|(_, u)| u)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            urls("https://as/tenant1"),
            [
                "https://as/.well-known/oauth-authorization-server/tenant1",
                "https://as/.well-known/openid-configuration/tenant1",
                "https://as/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://as.example.com"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://as.example.com/"),
            urls("https://as.example.com")
        );
        assert_eq!(
            urls("http://127.0.0.1:8080/a/b/")[0],
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server/a/b"
        );
        let kinds: Vec<_> = discovery_urls("https://as/t")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            kinds,
            [
                DiscoveryKind::OAuth,
                DiscoveryKind::OpenId,
                DiscoveryKind::OpenId
            ]
        );
        assert!(discovery_urls("https://as/?tenant=1").is_err());
        assert!(discovery_urls("https://as/#x").is_err());
        assert!(discovery_urls("not a url").is_err());
    }

    #[test]
    fn fetch_url_policy() {
        assert!(check_fetch_url("https://as.example.com/jwks", false).is_ok());
        assert!(check_fetch_url("http://127.0.0.1:1/jwks", false).is_ok());
        assert!(check_fetch_url("http://localhost/jwks", false).is_ok());
        assert!(check_fetch_url("http://[::1]/jwks", false).is_ok());
        let err = check_fetch_url("http://as.example.com/jwks", false).unwrap_err();
        assert!(err.contains("allow_insecure_http"), "{err}");
        assert!(check_fetch_url("http://as.example.com/jwks", true).is_ok());
        assert!(check_fetch_url("ftp://as.example.com/jwks", true).is_err());
        assert!(check_fetch_url("https://as.example.com/jwks#k", false).is_err());
        assert!(check_fetch_url("https://u:p@as.example.com/jwks", false).is_err());
        assert!(check_fetch_url("/jwks", false).is_err());
    }

    #[test]
    fn redirect_policy() {
        let u = |s: &str| Url::parse(s).unwrap();
        let https = [u("https://as/jwks")];
        let http_lo = [u("http://127.0.0.1/jwks")];
        assert!(check_redirect(&https, &u("https://cdn/jwks"), 3, false).is_ok());
        let err = check_redirect(&https, &u("http://cdn/jwks"), 3, true).unwrap_err();
        assert!(err.contains("https to plain http"), "{err}");
        assert!(check_redirect(&https, &u("http://127.0.0.1/jwks"), 3, true).is_err());
        assert!(check_redirect(&http_lo, &u("http://localhost/x"), 3, false).is_ok());
        assert!(check_redirect(&http_lo, &u("http://cdn/x"), 3, false).is_err());
        assert!(check_redirect(&http_lo, &u("http://cdn/x"), 3, true).is_ok());
        assert!(check_redirect(&http_lo, &u("file:///etc/passwd"), 3, true).is_err());
        let chain = [
            u("http://127.0.0.1/1"),
            u("http://127.0.0.1/2"),
            u("http://127.0.0.1/3"),
            u("http://127.0.0.1/4"),
        ];
        assert!(check_redirect(&chain[..3], &u("http://127.0.0.1/x"), 3, false).is_ok());
        let err = check_redirect(&chain, &u("http://127.0.0.1/x"), 3, false).unwrap_err();
        assert!(err.contains("more than 3 redirects"), "{err}");
        // A downgrade anywhere in the chain is refused.
        let mixed = [u("https://as/1"), u("https://as/2")];
        assert!(check_redirect(&mixed, &u("http://as/3"), 3, true).is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(10)), 10);
        assert_eq!(retry_after_secs(Duration::MAX), u32::MAX);
    }
}
