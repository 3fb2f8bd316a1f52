//! RFC 6749 §5.2 / RFC 7591 §3.2.2 JSON error responses.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An OAuth error answered as JSON (`{"error": .., "error_description": ..}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) description: Cow<'static, str>,
    /// A `DPoP-Nonce` header to send along (RFC 9449 §8, with `use_dpop_nonce`).
    pub(crate) dpop_nonce: Option<HeaderValue>,
}

impl OAuthError {
    pub(crate) fn new(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        let status = match code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            code,
            description: description.into(),
            dpop_nonce: None,
        }
    }

    pub(crate) fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", d)
    }
    pub(crate) fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_client", d)
    }
    pub(crate) fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_grant", d)
    }
    pub(crate) fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_target", d)
    }
    pub(crate) fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_scope", d)
    }
    pub(crate) fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new("unauthorized_client", d)
    }
    pub(crate) fn server_error(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new("server_error", d)
    }
}

/// RFC 6749 §5.2: `error_description` is limited to `%x20-21 / %x23-5B / %x5D-7E`.
pub(crate) fn sanitize_description(s: &str) -> String {
    s.chars()
        .take(300)
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

/// `200 OK` with a JSON body that must not be cached (RFC 6749 §5.1; RFC 7662 §2.2 answers
/// too, as they carry token data).
pub(crate) fn no_store_json(body: serde_json::Value) -> Response {
    let mut resp = Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.code,
            "error_description": sanitize_description(&self.description),
        });
        let mut resp = (self.status, Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(nonce) = self.dpop_nonce {
            h.insert(super::dpop::DPOP_NONCE, nonce);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mcp-auth-dev\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_sanitizing() {
        assert_eq!(
            OAuthError::invalid_client("x").status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            OAuthError::invalid_grant("x").status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(sanitize_description("a\"b\\c\né"), "a?b?c??");
    }
}
