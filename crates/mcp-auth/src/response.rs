//! Building rejection responses.

use http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use mcp_auth_core::AuthError;

/// A rejection response: the status of `error`'s kind, the challenge if any, `Retry-After`
/// for a 503, an empty body, and the [`AuthError`] in the response extensions so outer
/// logging or metrics layers can see why (never the token).
pub(crate) fn rejection<B: Default>(error: AuthError, challenge: Option<String>) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = error.kind().status();
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    if let Some(secs) = error.retry_after() {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    debug_assert_ne!(res.status(), StatusCode::OK);
    res.extensions_mut().insert(error);
    res
}
