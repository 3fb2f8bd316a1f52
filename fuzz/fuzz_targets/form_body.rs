//! Form bodies (RFC 6750 §2.2: a token in an `application/x-www-form-urlencoded` body, which
//! MCP forbids): `form_body_has_access_token` against a plain reading with `form_urlencoded`,
//! and `is_form_body` on fuzzed `Content-Type` values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_core::credentials::{form_body_has_access_token, is_form_body};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (split as usize).min(rest.len());
    let (content_type, body) = rest.split_at(at);
    let has = form_body_has_access_token(body);
    // The reference reading: any parameter named exactly `access_token` after decoding.
    let reference = body
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .any(|p| {
            let name = p.split(|&b| b == b'=').next().unwrap_or_default();
            let decoded: Vec<u8> = percent_decode_plus(name);
            decoded == b"access_token"
        });
    assert_eq!(
        has, reference,
        "form body access_token detection differs from the reference"
    );
    if let Ok(v) = http::HeaderValue::from_bytes(content_type) {
        let mut parts = http::Request::new(()).into_parts().0;
        parts.headers.insert(http::header::CONTENT_TYPE, v);
        let form = is_form_body(&parts).ok();
        // The reference: the media type ends at the first `;` or `,`; a `,` there joins two
        // values (issue 13 defect 9), refused; otherwise a form type is the form media type.
        let end = content_type.iter().position(|&b| b == b';' || b == b',');
        let expected = match end {
            Some(i) if content_type[i] == b',' => None,
            _ => Some(
                content_type[..end.unwrap_or(content_type.len())]
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"application/x-www-form-urlencoded"),
            ),
        };
        assert_eq!(form, expected, "is_form_body differs from the reference");
    }
});

/// `application/x-www-form-urlencoded` name decoding (WHATWG URL §5.1): `+` is a space,
/// `%XX` a byte, anything else itself; invalid UTF-8 becomes U+FFFD (which never equals
/// `access_token`, so a lossy comparison is exact here).
fn percent_decode_plus(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(a), Some(b)) => {
                        out.push((a * 16 + b) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned().into_bytes()
}
