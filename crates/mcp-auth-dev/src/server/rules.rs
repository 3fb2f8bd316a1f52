//! Pure protocol rules: PKCE, redirect URIs, resource indicators, scopes. No I/O.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use url::{Host, Url};

/// RFC 7636 §4.1/§4.2: 43..=128 characters of `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
/// Applies to both `code_verifier` and an S256 `code_challenge`.
pub(crate) fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`.
/// A verifier of the wrong shape never matches.
pub(crate) fn pkce_s256_matches(code_verifier: &str, code_challenge: &str) -> bool {
    if !is_pkce_value(code_verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    aws_lc_rs::constant_time::verify_slices_are_equal(
        computed.as_bytes(),
        code_challenge.as_bytes(),
    )
    .is_ok()
}

/// The S256 challenge of a verifier (for clients and tests).
pub(crate) fn pkce_s256_challenge(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
pub(crate) fn is_loopback_host(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Why a redirect URI is refused at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectUriProblem {
    NotAbsolute,
    Fragment,
    InsecureScheme,
    UserInfo,
}

impl RedirectUriProblem {
    pub(crate) const fn describe(self) -> &'static str {
        match self {
            Self::NotAbsolute => "redirect URI must be an absolute URI",
            Self::Fragment => "redirect URI must not contain a fragment",
            Self::InsecureScheme => {
                "redirect URI must use https, or http with a loopback host (127.0.0.1, [::1], localhost)"
            }
            Self::UserInfo => "redirect URI must not contain user information",
        }
    }
}

/// Registration rule for redirect URIs (OAuth 2.1 §2.3.1, RFC 8252 §7.3, MCP "Communication
/// Security"): absolute, no fragment, no userinfo, and `https`, or `http` only on a loopback
/// host.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), RedirectUriProblem> {
    let url = Url::parse(uri).map_err(|_| RedirectUriProblem::NotAbsolute)?;
    if url.cannot_be_a_base() {
        return Err(RedirectUriProblem::NotAbsolute);
    }
    if url.fragment().is_some() || uri.contains('#') {
        return Err(RedirectUriProblem::Fragment);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUriProblem::UserInfo);
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback_host(url.host()) => Ok(()),
        _ => Err(RedirectUriProblem::InsecureScheme),
    }
}

/// Matches a redirect URI from an authorization request against the registered ones:
/// exact string comparison; with `loopback_any_port`, an `http` loopback IP-literal URI also
/// matches a registered one that differs only in port (RFC 8252 §7.3).
pub(crate) fn redirect_uri_matches(
    registered: &[String],
    requested: &str,
    loopback_any_port: bool,
) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    if !loopback_any_port {
        return false;
    }
    let Ok(req) = Url::parse(requested) else {
        return false;
    };
    let is_ip_loopback = |u: &Url| {
        u.scheme() == "http" && matches!(u.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
            || u.scheme() == "http" && matches!(u.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
    };
    if !is_ip_loopback(&req) {
        return false;
    }
    registered
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|mut r| {
            is_ip_loopback(&r) && r.set_port(req.port()).is_ok() && r.as_str() == req.as_str()
        })
}

/// RFC 8707 §2: the `resource` value is an absolute URI without a fragment.
pub(crate) fn check_resource(resource: &str) -> Result<(), &'static str> {
    let url = Url::parse(resource).map_err(|_| "resource must be an absolute URI")?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err("resource must be an absolute URI with a host");
    }
    if url.fragment().is_some() || resource.contains('#') {
        return Err("resource must not contain a fragment");
    }
    Ok(())
}

/// Splits a space-delimited scope string (RFC 6749 §3.3), dropping empty items and duplicates.
pub(crate) fn split_scope(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Items of `requested` that are in `allowed`, in request order.
pub(crate) fn intersect_scopes(requested: &[String], allowed: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|s| allowed.contains(s))
        .cloned()
        .collect()
}

/// The scopes to grant for a request: with no `scope` parameter, everything the client may
/// have; otherwise the requested scopes the client may have (`offline_access` is accepted and
/// ignored: refresh tokens are always issued with the code grant). Errors when the parameter
/// is malformed or nothing requested can be granted.
pub(crate) fn grant_scopes(
    requested: Option<&str>,
    client_scopes: &[String],
    supported: &[String],
) -> Result<Vec<String>, &'static str> {
    let allowed = intersect_scopes(client_scopes, supported);
    let Some(requested) = requested else {
        return Ok(allowed);
    };
    let items = split_scope(requested);
    if !items.iter().all(|s| is_scope_token(s)) {
        return Err("malformed scope");
    }
    let wanted: Vec<String> = items
        .into_iter()
        .filter(|s| s != "offline_access")
        .collect();
    let granted = intersect_scopes(&wanted, &allowed);
    if granted.is_empty() && !wanted.is_empty() {
        return Err("none of the requested scopes is available to this client");
    }
    Ok(granted)
}

/// Rules for a Client ID Metadata Document URL (draft-ietf-oauth-client-id-metadata-document
/// §3): `https` (or loopback `http` when allowed), a path, no fragment, no userinfo, no dot
/// segments. IP-literal hosts in private, loopback or link-local ranges are refused unless
/// `allow_loopback` (simple SSRF guard; DNS names are not resolved here).
pub(crate) fn check_cimd_url(client_id: &str, allow_loopback: bool) -> Result<Url, &'static str> {
    let url = Url::parse(client_id).map_err(|_| "client_id is not a URL")?;
    if url.fragment().is_some() || client_id.contains('#') {
        return Err("client_id URL must not contain a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("client_id URL must not contain user information");
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err("client_id URL must contain a path");
    }
    let raw_path = client_path(client_id);
    if raw_path.split('/').any(|seg| seg == "." || seg == "..") || raw_path != url.path() {
        return Err("client_id URL must not contain dot segments or non-canonical paths");
    }
    let loopback = is_loopback_host(url.host());
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback => {}
        _ => return Err("client_id URL must use https"),
    }
    let private_ip = match url.host() {
        Some(Host::Ipv4(ip)) => {
            let ip = IpAddr::V4(ip);
            is_private_ip(ip)
        }
        Some(Host::Ipv6(ip)) => is_private_ip(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => loopback,
        None => return Err("client_id URL must have a host"),
    };
    if private_ip && !allow_loopback {
        return Err("client_id URL must not point at a loopback or private address");
    }
    Ok(url)
}

/// The raw path part of a URL string (between the authority and `?`/`#`).
fn client_path(s: &str) -> &str {
    let after_scheme = s.split_once("://").map_or(s, |(_, rest)| rest);
    let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
    let path = &after_scheme[path_start..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private_ip(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_rfc7636_vector() {
        assert_eq!(pkce_s256_challenge(VERIFIER), CHALLENGE);
        assert!(pkce_s256_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_s256_matches(VERIFIER, VERIFIER), "plain is not S256");
        let mut wrong = VERIFIER.to_owned();
        wrong.replace_range(0..1, "e");
        assert!(!pkce_s256_matches(&wrong, CHALLENGE));
        assert!(!pkce_s256_matches("short", &pkce_s256_challenge("short")));
    }

    #[test]
    fn pkce_value_shape() {
        assert!(is_pkce_value(VERIFIER));
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"~".repeat(128)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
        assert!(!is_pkce_value(&format!("{} ", "a".repeat(43))));
        assert!(!is_pkce_value(&format!("{}é", "a".repeat(43))));
    }

    #[test]
    fn redirect_uri_registration_rules() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:33418/callback",
            "http://127.0.0.2/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "http://LOCALHOST/cb",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://example.com/cb", RedirectUriProblem::InsecureScheme),
            (
                "http://localhost.evil.com/cb",
                RedirectUriProblem::InsecureScheme,
            ),
            (
                "http://127.0.0.1.nip.io/cb",
                RedirectUriProblem::InsecureScheme,
            ),
            ("myapp://cb", RedirectUriProblem::InsecureScheme),
            ("javascript:alert(1)", RedirectUriProblem::NotAbsolute),
            ("/relative", RedirectUriProblem::NotAbsolute),
            (
                "https://app.example.com/cb#frag",
                RedirectUriProblem::Fragment,
            ),
            ("https://app.example.com/cb#", RedirectUriProblem::Fragment),
            (
                "https://user:pw@app.example.com/cb",
                RedirectUriProblem::UserInfo,
            ),
        ] {
            assert_eq!(check_redirect_uri(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn redirect_uri_matching() {
        let reg = vec![
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1:1234/cb".to_owned(),
        ];
        assert!(redirect_uri_matches(
            &reg,
            "https://app.example.com/cb",
            false
        ));
        assert!(!redirect_uri_matches(
            &reg,
            "https://app.example.com/cb/",
            false
        ));
        assert!(!redirect_uri_matches(
            &reg,
            "https://app.example.com/cb?x",
            false
        ));
        assert!(!redirect_uri_matches(
            &reg,
            "https://APP.example.com/cb",
            false
        ));
        assert!(!redirect_uri_matches(
            &reg,
            "http://127.0.0.1:9999/cb",
            false
        ));
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1:9999/cb", true));
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1/cb", true));
        assert!(!redirect_uri_matches(
            &reg,
            "http://127.0.0.1:9999/other",
            true
        ));
        assert!(!redirect_uri_matches(
            &reg,
            "https://app.example.com:444/cb",
            true
        ));
    }

    #[test]
    fn resource_rules() {
        assert!(check_resource("https://mcp.example.com/mcp").is_ok());
        assert!(check_resource("http://127.0.0.1:8080").is_ok());
        assert!(check_resource("https://mcp.example.com/mcp#x").is_err());
        assert!(check_resource("mcp.example.com").is_err());
        assert!(check_resource("/mcp").is_err());
        assert!(check_resource("urn:x:y").is_err());
        assert!(check_resource("").is_err());
    }

    #[test]
    fn scopes() {
        assert_eq!(split_scope(" a  b a "), ["a", "b"]);
        assert!(split_scope("").is_empty());
        let allowed = split_scope("mcp:read mcp:write");
        assert_eq!(
            intersect_scopes(&split_scope("mcp:write admin mcp:read"), &allowed),
            ["mcp:write", "mcp:read"]
        );
        assert!(is_scope_token("mcp:read"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\\b"));
        assert!(!is_scope_token(""));
    }

    #[test]
    fn granting_scopes() {
        let client = split_scope("mcp:read mcp:write");
        let supported = split_scope("mcp:read mcp:write mcp:admin");
        assert_eq!(grant_scopes(None, &client, &supported).unwrap(), client);
        assert_eq!(
            grant_scopes(Some("mcp:write mcp:admin"), &client, &supported).unwrap(),
            ["mcp:write"]
        );
        assert!(
            grant_scopes(Some("offline_access"), &client, &supported)
                .unwrap()
                .is_empty()
        );
        assert!(grant_scopes(Some("mcp:admin"), &client, &supported).is_err());
        assert!(grant_scopes(Some("a\\b"), &client, &supported).is_err());
    }

    #[test]
    fn cimd_url_rules() {
        assert!(check_cimd_url("https://app.example.com/client.json", false).is_ok());
        assert!(check_cimd_url("https://app.example.com/", false).is_err());
        assert!(check_cimd_url("https://app.example.com", false).is_err());
        assert!(check_cimd_url("http://app.example.com/c.json", true).is_err());
        assert!(check_cimd_url("http://127.0.0.1:9/c.json", false).is_err());
        assert!(check_cimd_url("http://127.0.0.1:9/c.json", true).is_ok());
        assert!(check_cimd_url("https://10.0.0.1/c.json", false).is_err());
        assert!(check_cimd_url("https://[::1]/c.json", false).is_err());
        assert!(check_cimd_url("https://app.example.com/c.json#x", false).is_err());
        assert!(check_cimd_url("https://u@app.example.com/c.json", false).is_err());
        assert!(check_cimd_url("https://app.example.com/a/../c.json", false).is_err());
        assert!(check_cimd_url("https://app.example.com/./c.json", false).is_err());
        assert!(check_cimd_url("client-1", false).is_err());
    }
}
