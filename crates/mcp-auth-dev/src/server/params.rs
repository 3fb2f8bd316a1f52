//! `application/x-www-form-urlencoded` parameters with OAuth's rules (RFC 6749 §3.1):
//! empty values count as absent, and parameters must not repeat.

/// Parsed parameters. Values include secrets (`client_secret`, `code`, `code_verifier`,
/// `refresh_token`), so `Debug` shows the names only.
#[derive(Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Params {
    /// Parses `input`; returns the name of a repeated parameter as error, unless it is listed
    /// in `repeatable`.
    pub(crate) fn parse(input: &[u8], repeatable: &[&str]) -> Result<Self, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(input) {
            if v.is_empty() {
                continue;
            }
            if out.iter().any(|(ok, _)| *ok == k) && !repeatable.contains(&k.as_ref()) {
                return Err(k.into_owned());
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(out))
    }

    /// The value of `name`, if present and non-empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The parameters of a `POST` whose body must be `application/x-www-form-urlencoded`
/// (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1).
pub(crate) fn form_params(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<Params, super::error::OAuthError> {
    use super::error::OAuthError;
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    Params::parse(body, &[])
        .map_err(|name| OAuthError::invalid_request(format!("parameter {name} is repeated")))
}

/// Decodes one `application/x-www-form-urlencoded` value (`+` is a space, `%XX` a byte), as
/// used for the client id and secret inside HTTP Basic credentials (RFC 6749 §2.3.1).
pub(crate) fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let p = Params::parse(b"grant_type=authorization_code&code=c0de-s3cret&client_secret=s3cret-value&code_verifier=v3rifier", &[]).unwrap();
        let shown = format!("{p:?}");
        assert_eq!(
            shown,
            r#"["grant_type", "code", "client_secret", "code_verifier"]"#
        );
    }

    #[test]
    fn parse_rules() {
        let p = Params::parse(b"a=1&b=&resource=x&resource=y&c=%20z", &["resource"]).unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some(" z"));
        assert_eq!(p.all("resource"), ["x", "y"]);
        assert_eq!(Params::parse(b"a=1&a=2", &[]).unwrap_err(), "a");
        assert!(Params::parse(b"a=1&a=", &[]).is_ok());
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%2Fc%3A").as_deref(), Some("a b/c:"));
        assert_eq!(form_decode("plain").as_deref(), Some("plain"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%ff"), None);
    }
}
