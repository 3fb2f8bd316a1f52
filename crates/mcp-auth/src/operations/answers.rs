//! The responses of the operational checks: fixed JSON-RPC error bodies without an `id`
//! (MCP Streamable HTTP transport: an HTTP error MAY carry a JSON-RPC error response with no
//! `id`), no `WWW-Authenticate` (no token can fix them) and no token detail.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

const TOO_MANY: &str = r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Too many requests"}}"#;
const UNKNOWN_SESSION: &str =
    r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"}}"#;
const SESSION_UNAVAILABLE: &str =
    r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Session store unavailable"}}"#;

/// `Retry-After` of a 503 when the session store could not answer, in seconds.
pub(crate) const SESSION_RETRY_AFTER_SECS: u64 = 5;

fn fixed<R: From<Bytes>>(status: StatusCode, body: &'static str) -> Response<R> {
    let mut res = Response::new(R::from(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// 429 (RFC 6585 §4) with `Retry-After` in whole seconds (RFC 9110 §10.2.3).
#[cold]
pub(crate) fn too_many_requests<R: From<Bytes>>(retry_after_secs: u64) -> Response<R> {
    let mut res = fixed(StatusCode::TOO_MANY_REQUESTS, TOO_MANY);
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    res
}

/// 404 for a session id the store does not vouch for: unknown, ended, expired, evicted, or
/// another principal's, all alike (MCP transport: a request with a session id the server
/// does not know is answered 404, and the client starts a new session).
#[cold]
pub(crate) fn unknown_session<R: From<Bytes>>() -> Response<R> {
    fixed(StatusCode::NOT_FOUND, UNKNOWN_SESSION)
}

/// 503 with `Retry-After` when the session store could not answer or bind.
#[cold]
pub(crate) fn session_unavailable<R: From<Bytes>>() -> Response<R> {
    let mut res = fixed(StatusCode::SERVICE_UNAVAILABLE, SESSION_UNAVAILABLE);
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(SESSION_RETRY_AFTER_SECS));
    res
}
