//! The `htu` comparison (RFC 9449 §4.3): the claim against the request's URI, both without
//! query and fragment, after RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based
//! normalization. The request's scheme, host and port are the configured resource's (a server
//! behind a proxy or load balancer sees an internal address; the client signed the public one).

use crate::resource::ResourceUri;
use url::Url;

/// Whether the `htu` claim names the request whose path is `request_path` on `resource`'s
/// origin. Query and fragment are ignored on both sides ("ignoring any query and fragment
/// parts", RFC 9449 §4.3).
pub(super) fn matches(htu: &str, resource: &ResourceUri, request_path: &str) -> bool {
    let path = request_path
        .split(['?', '#'])
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    if !path.starts_with('/') {
        return false;
    }
    // The usual case, the claim byte for byte the request's URI: both would normalize to
    // the same string, so only whether that one normalizes at all is left to ask (one URL
    // parse per proof instead of two, and no string built for the request's side).
    if htu
        .strip_prefix(resource.origin())
        .is_some_and(|rest| rest == path)
    {
        return normalize(htu).is_some();
    }
    let (Some(claim), Some(request)) = (
        normalize(htu),
        normalize(&format!("{}{path}", resource.origin())),
    ) else {
        return false;
    };
    claim == request
}

/// `scheme://host[:port]path`, normalized:
/// - scheme and host lowercased (RFC 3986 §6.2.2.1), the scheme's default port dropped and
///   an empty path made `/` (§6.2.3), dot segments removed (§6.2.2.3): all done by `Url`
///   (WHATWG URL parsing, which also percent-encodes what a path may not hold raw);
/// - percent-encodings of unreserved characters decoded and the hex of the others uppercased
///   (§6.2.2.1, §6.2.2.2), done here.
///
/// `None` for what is not an absolute `http`/`https` URI, or one with user information
/// (never part of a target URI, RFC 9110 §4.2.4).
fn normalize(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let mut out = format!("{}://{}", url.scheme(), url.host_str()?);
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    normalize_percent(url.path(), &mut out);
    Some(out)
}

fn normalize_percent(path: &str, out: &mut String) {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let v = (h << 4) | l;
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(v as char);
            } else {
                out.push('%');
                out.push(b[i + 1].to_ascii_uppercase() as char);
                out.push(b[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
            continue;
        }
        // `Url` serializes paths as ASCII.
        out.push(b[i] as char);
        i += 1;
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_normalization() {
        let n = |p: &str| {
            let mut s = String::new();
            normalize_percent(p, &mut s);
            s
        };
        assert_eq!(n("/a%7Eb%2fc%2Fd"), "/a~b%2Fc%2Fd");
        assert_eq!(n("/%41%62"), "/Ab");
        assert_eq!(n("/x%2"), "/x%2");
        assert_eq!(n("/x%zz"), "/x%zz");
        assert_eq!(n("/%e2%82%ac"), "/%E2%82%AC");
    }
}
