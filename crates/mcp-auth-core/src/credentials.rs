//! Where an access token may come from: the `Authorization` header only.
//!
//! MCP (2025-06-18 onward, "Token Requirements"): the client "MUST use the Authorization
//! request header", and "Access tokens MUST NOT be included in the URI query string". RFC 6750
//! §2: "Clients MUST NOT use more than one method to transmit the token in each request".
//! So a token in the query string or a form body is refused with `invalid_request`, never used.

use crate::{AccessToken, AuthError};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;

/// Default cap on the token length, in bytes. Real JWT access tokens are well under 4 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The authentication scheme of the `Authorization` header.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Bearer` (RFC 6750 §2.1).
    Bearer,
    /// `DPoP` (RFC 9449 §7.1): a sender-constrained token, with a `DPoP` proof header.
    DPoP,
}

impl Scheme {
    /// The scheme name as used in challenges.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::DPoP => "DPoP",
        }
    }
}

/// Credentials taken from a request.
#[allow(missing_debug_implementations)] // holds the token: no Debug on purpose
pub struct Credentials {
    /// The scheme used.
    pub scheme: Scheme,
    /// The token.
    pub token: AccessToken,
}

/// Credentials borrowed from the request head, as [`extract_ref`] finds them: the same
/// checks as [`Credentials`], without copying the token. The token is reachable only
/// through [`expose`](Self::expose), and there is no `Debug`, for the reasons given on
/// [`AccessToken`].
#[allow(missing_debug_implementations)] // holds the token: no Debug on purpose
#[derive(Clone, Copy)]
pub struct CredentialsRef<'a> {
    /// The scheme used.
    pub scheme: Scheme,
    token: &'a str,
}

impl<'a> CredentialsRef<'a> {
    /// The secret token text. Treat the result as a secret.
    pub fn expose(&self) -> &'a str {
        self.token
    }

    /// Owned credentials with a copy of the token.
    pub fn to_credentials(&self) -> Credentials {
        Credentials {
            scheme: self.scheme,
            token: AccessToken::new(self.token),
        }
    }
}

/// Extracts the credentials of a request.
///
/// Returns `Ok(None)` when the request carries no credentials at all (the caller answers 401
/// with a challenge without `error`, RFC 6750 §3.1), and `Err` with `invalid_request` when:
/// - there is more than one `Authorization` header;
/// - the header is not `<scheme> 1*SP token` with a b64token / token68 token (RFC 6750 §2.1,
///   RFC 9110 §11.2), or holds non-visible characters, or the token exceeds `max_len`;
/// - the query string has an `access_token` parameter (MCP forbids it; with a header it is
///   also two methods at once, RFC 6750 §2).
///
/// A header with a scheme other than `Bearer` or `DPoP` (case-insensitive, RFC 9110 §11.1)
/// is treated as no credentials, so the client gets the `Bearer` challenge it needs.
///
/// The form body (RFC 6750 §2.2) cannot be seen from `Parts`; see [`is_form_body`] and
/// [`form_body_has_access_token`].
pub fn extract(parts: &Parts, max_len: usize) -> Result<Option<Credentials>, AuthError> {
    Ok(extract_ref(parts, max_len)?.map(|c| c.to_credentials()))
}

/// [`extract`] without copying the token: the credentials borrow from `parts`.
pub fn extract_ref(parts: &Parts, max_len: usize) -> Result<Option<CredentialsRef<'_>>, AuthError> {
    locate(parts, max_len)?
        .map(RawCredentials::check)
        .transpose()
}

/// Credentials found where [`extract`] looks for them, before the token's syntax is
/// checked: what [`locate`] returns. Everything [`extract`] refuses is already refused
/// except the token's own bytes (RFC 6750 §2.1 `b64token`, visible ASCII), which
/// [`check`](Self::check) judges.
///
/// It exists so that a cache can recognise a token accepted before by comparing bytes (the
/// verified-token cache of `mcp-auth`), without scanning it again: bytes equal
/// to a token that passed [`check`](Self::check) pass it too. For anything else, call
/// [`check`](Self::check). No `Debug`, for the reasons given on [`AccessToken`].
#[allow(missing_debug_implementations)] // holds the token: no Debug on purpose
#[derive(Clone, Copy)]
pub struct RawCredentials<'a> {
    /// The scheme used.
    pub scheme: Scheme,
    token: &'a [u8],
}

impl<'a> RawCredentials<'a> {
    /// Credentials that did not come from a request head (a token handed over by another
    /// transport): `token` is judged by [`check`](Self::check) like a header's.
    pub fn new(scheme: Scheme, token: &'a [u8]) -> Self {
        Self { scheme, token }
    }

    /// The token's bytes, not yet checked: non-empty and within the length cap, nothing
    /// more. Treat the result as a secret, and as untrusted input.
    pub fn unchecked_bytes(&self) -> &'a [u8] {
        self.token
    }

    /// The syntax check of the token (RFC 6750 §2.1 `b64token`): the credentials
    /// [`extract_ref`] would return, or its `invalid_request`.
    pub fn check(self) -> Result<CredentialsRef<'a>, AuthError> {
        let malformed = || AuthError::invalid_request("malformed Authorization header");
        // Not `HeaderValue::to_str`, which walks the value a byte at a time: UTF-8
        // validation is vectorized (simdutf8: AVX2 when the CPU has it, chosen at run time),
        // and only visible ASCII is accepted below anyway.
        let Ok(token) = simdutf8::basic::from_utf8(self.token) else {
            return Err(malformed());
        };
        if !is_b64token(token) {
            // Only on the failure path: say whether the header itself was malformed.
            return Err(if token.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
                AuthError::invalid_request("malformed access token")
            } else {
                malformed()
            });
        }
        Ok(CredentialsRef {
            scheme: self.scheme,
            token,
        })
    }
}

/// Finds the credentials of a request without checking the token's syntax: every refusal
/// of [`extract`] but the token's bytes, which [`RawCredentials::check`] judges.
pub fn locate(parts: &Parts, max_len: usize) -> Result<Option<RawCredentials<'_>>, AuthError> {
    if query_has_access_token(parts.uri.query()) {
        return Err(AuthError::invalid_request(
            "access tokens are accepted only in the Authorization header",
        ));
    }
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::invalid_request(
            "more than one Authorization header",
        ));
    }
    locate_in(value.as_bytes(), max_len)
}

/// Parses one `Authorization` header value. See [`extract`].
pub fn parse_authorization(value: &str, max_len: usize) -> Result<Option<Credentials>, AuthError> {
    Ok(parse_authorization_ref(value, max_len)?.map(|c| c.to_credentials()))
}

/// [`parse_authorization`] without copying the token.
pub fn parse_authorization_ref(
    value: &str,
    max_len: usize,
) -> Result<Option<CredentialsRef<'_>>, AuthError> {
    locate_in(value.as_bytes(), max_len)?
        .map(RawCredentials::check)
        .transpose()
}

/// The scheme and the token's place in one header value, on bytes (non-ASCII bytes can
/// only make a check fail).
fn locate_in(value: &[u8], max_len: usize) -> Result<Option<RawCredentials<'_>>, AuthError> {
    let visible = |b: &u8| *b == b'\t' || (0x20..=0x7e).contains(b);
    // HTTP field values have optional whitespace around them (RFC 9110 §5.5).
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    let value = &value[start..end];
    // The scheme is a few bytes: a plain loop finds its end (no `memchr` set-up).
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &[][..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::DPoP
    } else if scheme.iter().all(u8::is_ascii_graphic) && rest.iter().all(visible) {
        // Another scheme: not ours to judge, but the field must still be visible ASCII.
        return Ok(None);
    } else {
        return Err(AuthError::invalid_request("malformed Authorization header"));
    };
    // `1*SP` between scheme and token (RFC 6750 §2.1).
    let token = &rest[rest.iter().position(|&b| b != b' ').unwrap_or(rest.len())..];
    if token.is_empty() {
        return Err(AuthError::invalid_request("empty access token"));
    }
    if token.len() > max_len {
        return Err(AuthError::invalid_request("access token too large"));
    }
    Ok(Some(RawCredentials { scheme, token }))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
///
/// Every token of every request that is not recalled from the token cache goes through
/// this, so a JWT (dot-separated base64url segments, a subset of the grammar) is checked
/// first with base64-simd's vectorized alphabet check (AVX2 when the CPU has it, chosen at
/// run time; the crates forbid the `unsafe` a hand-written one would need); anything that
/// check does not take, such as padding, `~`, `+`, `/` or a segment of a length no base64
/// has, is judged by the byte-wise grammar, so the answer is the grammar's either way.
pub fn is_b64token(s: &str) -> bool {
    dotted_base64url(s.as_bytes()) || b64token_bytewise(s)
}

/// Whether `b` is one or more base64url segments (unpadded, canonical) joined by dots: a
/// `b64token` for sure; `false` says nothing.
fn dotted_base64url(b: &[u8]) -> bool {
    const B64URL: base64_simd::Base64 = base64_simd::URL_SAFE_NO_PAD;
    if b.is_empty() {
        return false;
    }
    let mut start = 0;
    for end in memchr::memchr_iter(b'.', b).chain(std::iter::once(b.len())) {
        if B64URL.check(&b[start..end]).is_err() {
            return false;
        }
        start = end + 1;
    }
    true
}

/// The grammar byte by byte, branch-free per byte so it vectorizes (SSE2).
fn b64token_bytewise(s: &str) -> bool {
    #[inline(always)]
    fn ok(b: u8) -> bool {
        // `+` is 0x2b; `-`, `.`, `/` are 0x2d..=0x2f.
        ((b | 0x20).wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b.wrapping_sub(b'-') < 3)
            | (b == b'+')
            | (b == b'_')
            | (b == b'~')
    }
    let body = s.trim_end_matches('=');
    !body.is_empty() && crate::jws::all_bytes(body.as_bytes(), ok)
}

/// Whether a query string has an `access_token` parameter (MCP "Token Requirements": never
/// in the URI).
pub fn query_has_access_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token"))
}

/// Whether the request body is `application/x-www-form-urlencoded`, the only body that can
/// carry a token (RFC 6750 §2.2). Such bodies must be checked with
/// [`form_body_has_access_token`].
///
/// `Err` with `invalid_request` when the request has more than one `Content-Type`: as
/// separate header lines, or joined into one value with a comma (RFC 9110 §5.3: a
/// recipient may join lines that way). `Content-Type` is a singleton field (RFC 9110 §8.3),
/// and with two of them the layer and the inner service could read different types: the
/// layer a JSON body, the service a form with a token in it.
pub fn is_form_body(parts: &Parts) -> Result<bool, AuthError> {
    let more_than_one = || AuthError::invalid_request("more than one Content-Type header");
    let mut values = parts.headers.get_all(CONTENT_TYPE).iter();
    let Some(v) = values.next() else {
        return Ok(false);
    };
    if values.next().is_some() {
        return Err(more_than_one());
    }
    // On bytes: this runs on every request. A media type with other bytes cannot match.
    // A comma before the parameters joins two values (a media type is two tokens, which
    // never hold one; a quoted parameter value may, so only the part before `;` is seen).
    let v = v.as_bytes();
    let end = memchr::memchr2(b';', b',', v);
    if end.is_some_and(|i| v[i] == b',') {
        return Err(more_than_one());
    }
    let media = end.map_or(v, |i| &v[..i]);
    Ok(media
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/x-www-form-urlencoded"))
}

/// Whether a form-encoded body has an `access_token` parameter (RFC 6750 §2.2), which MCP
/// forbids.
pub fn form_body_has_access_token(body: &[u8]) -> bool {
    form_urlencoded::parse(body).any(|(k, _)| k == "access_token")
}

#[cfg(test)]
mod tests {

    /// The vectorized b64token check against RFC 6750 §2.1 spelled out, for every byte at
    /// every position of every block.
    #[test]
    fn b64token_matches_the_grammar_everywhere() {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
        for b in 0..=255u8 {
            for len in [1usize, 15, 16, 17, 33, 48] {
                for pos in [0, len / 2, len - 1] {
                    let mut s = vec![b'A'; len];
                    s[pos] = b;
                    let expected = if b == b'=' {
                        // Only trailing `=` padding.
                        pos == len - 1 && len > 1
                    } else {
                        allowed(b)
                    };
                    let got = std::str::from_utf8(&s).is_ok_and(is_b64token);
                    assert_eq!(got, expected, "byte {b:#04x} at {pos} of {len}");
                }
            }
        }
        assert!(!is_b64token("") && !is_b64token("==") && is_b64token("a=="));
    }

    /// The grammar spelled out, for the property below.
    fn grammar(s: &str) -> bool {
        let body = s.trim_end_matches('=');
        !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    }

    proptest::proptest! {
        /// Whichever path answers (the base64url segments or the byte-wise grammar), the
        /// answer is the grammar's: on strings made mostly of JWT bytes, dots and the
        /// characters only the grammar allows, in lengths around the vector widths.
        #[test]
        fn b64token_fast_path_agrees_with_the_grammar(
            s in "[A-Za-z0-9_.=~+/ -]{0,3}([A-Za-z0-9_-]{0,70}[.=~+/ é]?){0,6}[=]{0,3}"
        ) {
            proptest::prop_assert_eq!(is_b64token(&s), grammar(&s), "{:?}", s);
        }
    }

    /// JWT-shaped tokens take the fast path, and its edges answer as the grammar does.
    #[test]
    fn b64token_fast_path_edges() {
        for s in [
            "eyJh.eyJz.c2ln",
            "a",
            "ab.c",
            "abcde",
            "a.b.c",
            "...",
            "a..b",
            "ab.",
            ".ab",
        ] {
            assert_eq!(is_b64token(s), grammar(s), "{s}");
        }
        // Taken by the fast path: unpadded, canonical base64url segments, empty ones too.
        for s in ["eyJh.eyJzdWIi.c2ln", "eyJh", "AA.QQ", "eyJh..c2ln", "..."] {
            assert!(dotted_base64url(s.as_bytes()), "{s}");
        }
        // Not taken (padding, `~`, a 5-character segment), still b64tokens.
        for s in ["YQ==", "a~b", "abcde", "a+b/c"] {
            assert!(!dotted_base64url(s.as_bytes()) && is_b64token(s), "{s}");
        }
        // Neither.
        for s in ["", "=", "a b", "a\u{e9}", "a=b"] {
            assert!(!dotted_base64url(s.as_bytes()) && !is_b64token(s), "{s}");
        }
    }
    use super::*;
    use crate::ErrorKind;

    fn parts(uri: &str, auth: &[&str]) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        for a in auth {
            b = b.header(AUTHORIZATION, *a);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn kind(uri: &str, auth: &[&str]) -> Result<Option<(Scheme, String)>, ErrorKind> {
        extract(&parts(uri, auth), 64)
            .map(|c| c.map(|c| (c.scheme, c.token.expose().to_owned())))
            .map_err(|e| e.kind())
    }

    #[test]
    fn table() {
        use ErrorKind::InvalidRequest as Bad;
        let bearer = |t: &str| Ok(Some((Scheme::Bearer, t.to_owned())));
        let cases: &[(&str, &[&str], Result<Option<(Scheme, String)>, ErrorKind>)] = &[
            ("/mcp", &[], Ok(None)),
            ("/mcp", &["Bearer abc.def.ghi"], bearer("abc.def.ghi")),
            ("/mcp", &["bearer abc"], bearer("abc")),
            ("/mcp", &["BEARER abc"], bearer("abc")),
            ("/mcp", &["Bearer   abc"], bearer("abc")),
            ("/mcp", &["Bearer abc== "], bearer("abc==")),
            ("/mcp", &["Bearer a-b_c~d+e/f"], bearer("a-b_c~d+e/f")),
            (
                "/mcp",
                &["DPoP abc"],
                Ok(Some((Scheme::DPoP, "abc".to_owned()))),
            ),
            ("/mcp", &["Basic dXNlcjpwYXNz"], Ok(None)),
            ("/mcp", &["Bearer"], Err(Bad)),
            ("/mcp", &["Bearer "], Err(Bad)),
            ("/mcp", &["Bearer a b"], Err(Bad)),
            ("/mcp", &["Bearer a,b"], Err(Bad)),
            ("/mcp", &["Bearer ===="], Err(Bad)),
            ("/mcp", &["Bearer a=b"], Err(Bad)),
            ("/mcp", &["Bearer a", "Bearer b"], Err(Bad)),
            ("/mcp", &["Bearer a", "Basic b"], Err(Bad)),
            ("/mcp?access_token=abc", &[], Err(Bad)),
            ("/mcp?x=1&access_token=abc", &["Bearer abc"], Err(Bad)),
            ("/mcp?access%5Ftoken=abc", &[], Err(Bad)),
            ("/mcp?not_access_token=1", &[], Ok(None)),
        ];
        for (uri, auth, want) in cases {
            assert_eq!(&kind(uri, auth), want, "{uri} {auth:?}");
        }
    }

    /// `locate` refuses what can be told without reading the token; `check` the rest.
    #[test]
    fn locate_leaves_the_token_bytes_to_check() {
        let desc = |r: Result<_, AuthError>| r.err().map(|e| e.description());
        for (value, located, checked) in [
            ("Bearer abc", None, None),
            ("Bearer a b", None, Some("malformed access token")),
            ("Bearer a,b", None, Some("malformed access token")),
            (
                "Bearer ab\u{e9}",
                None,
                Some("malformed Authorization header"),
            ),
            ("Bearer ab\tc", None, Some("malformed Authorization header")),
            ("Bearer ", Some("empty access token"), None),
            (
                "B\u{e9}arer abc",
                Some("malformed Authorization header"),
                None,
            ),
        ] {
            let v = http::HeaderValue::from_bytes(value.as_bytes()).unwrap();
            let mut p = parts("/mcp", &[]);
            p.headers.insert(AUTHORIZATION, v);
            let raw = locate(&p, 64);
            assert_eq!(
                desc(raw.as_ref().map(|_| ()).map_err(Clone::clone)),
                located,
                "{value}"
            );
            if let Ok(Some(raw)) = raw {
                assert_eq!(desc(raw.check().map(|_| ())), checked, "{value}");
            }
        }
        let long = format!("Bearer {}", "!".repeat(65));
        let e = locate(&parts("/mcp", &[&long]), 64).err().unwrap();
        assert_eq!(e.description(), "access token too large");
        assert!(locate(&parts("/mcp?access_token=x", &[]), 64).is_err());
        assert!(locate(&parts("/mcp", &["Bearer a", "Bearer a"]), 64).is_err());
    }

    #[test]
    fn control_characters_and_oversize() {
        let v = http::HeaderValue::from_bytes(b"Bearer ab\tc").unwrap();
        let mut p = parts("/mcp", &[]);
        p.headers.insert(AUTHORIZATION, v);
        assert_eq!(
            extract(&p, 64).err().map(|e| e.kind()),
            Some(ErrorKind::InvalidRequest)
        );

        // DEL cannot be in an `http::HeaderValue`; the parser refuses it too.
        let e = parse_authorization("Bearer ab\x7fc", 64).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);

        let v = http::HeaderValue::from_bytes("Bearer ab\u{e9}".as_bytes()).unwrap();
        p.headers.insert(AUTHORIZATION, v);
        assert_eq!(
            extract(&p, 64).err().map(|e| e.kind()),
            Some(ErrorKind::InvalidRequest)
        );

        let long = format!("Bearer {}", "a".repeat(65));
        let e = extract(&parts("/mcp", &[&long]), 64).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert_eq!(e.description(), "access token too large");
        assert!(extract(&parts("/mcp", &[&format!("Bearer {}", "a".repeat(64))]), 64).is_ok());
    }

    #[test]
    fn form_bodies() {
        let p = http::Request::builder()
            .header(
                CONTENT_TYPE,
                "Application/X-WWW-Form-Urlencoded; charset=utf-8",
            )
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(is_form_body(&p), Ok(true));
        let json = http::Request::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(is_form_body(&json), Ok(false));
        let ct = |v: &[u8]| {
            let mut p = json.clone();
            p.headers
                .insert(CONTENT_TYPE, http::HeaderValue::from_bytes(v).unwrap());
            is_form_body(&p).unwrap()
        };
        assert!(ct(b" \tapplication/x-www-form-urlencoded\t;q"));
        assert!(ct(b"application/x-www-form-urlencoded;charset=\xff"));
        assert!(!ct(b"application/x-www-form-urlencoded2"));
        assert!(!ct(b"application/x-www-form-urlencode\xe4"));
        assert!(!ct(b""));
        assert!(form_body_has_access_token(b"a=1&access_token=xyz"));
        assert!(!form_body_has_access_token(b"a=1&token=xyz"));
    }

    /// Issue 13, defect 9: with two `Content-Type` values (JSON, then form) the first alone
    /// was read, so a form body with a token was taken for JSON. Two lines, or two values
    /// joined by a comma, are refused whatever their order; a comma inside a quoted
    /// parameter is not a second value.
    #[test]
    fn more_than_one_content_type_is_refused() {
        let with = |values: &[&[u8]]| {
            let mut b = http::Request::builder();
            for v in values {
                b = b.header(CONTENT_TYPE, http::HeaderValue::from_bytes(v).unwrap());
            }
            is_form_body(&b.body(()).unwrap().into_parts().0)
        };
        let form: &[u8] = b"application/x-www-form-urlencoded";
        for values in [
            &[&b"application/json"[..], form][..],
            &[form, b"application/json"],
            &[form, form],
            &[b"application/json", b"application/json"],
            &[b"application/json, application/x-www-form-urlencoded"],
            &[b"application/x-www-form-urlencoded,application/json; charset=utf-8"],
        ] {
            let e = with(values).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{values:?}");
            assert_eq!(e.description(), "more than one Content-Type header");
        }
        assert_eq!(with(&[b"multipart/form-data; boundary=\"a,b\""]), Ok(false));
        assert_eq!(
            with(&[b"application/x-www-form-urlencoded; x=\"a,b\""]),
            Ok(true)
        );
        assert_eq!(with(&[]), Ok(false));
    }
}
