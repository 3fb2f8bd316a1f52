//! Every 503 of the MCP route carries `Retry-After` (RFC 9110 §10.2.3), as the layer's own
//! 503s do (keys, introspection, DPoP replay store, session store).
//!
//! One 503 the layer does not write: with `--stateful --redis`, a request whose session
//! another instance opened is resumed by rmcp from its session state in Redis
//! ([`crate::fleet::RmcpSessionState`]). When that read fails after the layer's own binding
//! check succeeded (Redis stopped in between, or answered an error), rmcp answers 500 with
//! the store's error text. [`session_store_errors`], around the rmcp service, turns that
//! answer into the layer's 503: a fixed JSON-RPC error body (no session id, no error text)
//! and `Retry-After`. It knows the 500 came from the store, not from anything else, because
//! the store marks the request's task when one of its commands fails
//! ([`note_session_store_failure`]); rmcp reads the store inline, in the request's task.
//!
//! [`retry_after_on_503`], around the whole MCP route, adds `Retry-After` to any 503 that
//! lacks one.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use std::cell::Cell;

/// `Retry-After` of the example's own 503s, in seconds: what the mcp-auth layer sends when
/// its session store cannot answer (its `SESSION_RETRY_AFTER_SECS`), so a client sees one
/// value for one outage whichever store noticed it first.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// The body of the 503 for an unreadable rmcp session state: the layer's body for an
/// unavailable session store, so both look alike.
pub(crate) const SESSION_UNAVAILABLE_BODY: &str =
    r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Session store unavailable"}}"#;

tokio::task_local! {
    /// Set when a command of the rmcp session store failed during this request.
    static SESSION_STORE_FAILED: Cell<bool>;
}

/// Marks the current request: a session store command failed. Outside
/// [`session_store_errors`] (no request scope), nothing happens.
pub(crate) fn note_session_store_failure() {
    let _ = SESSION_STORE_FAILED.try_with(|failed| failed.set(true));
}

/// Around the rmcp service: rmcp's 500 after a failed session store command becomes a 503
/// with `Retry-After` and a fixed body.
pub(crate) async fn session_store_errors(req: Request, next: Next) -> Response {
    let (res, failed) = SESSION_STORE_FAILED
        .scope(Cell::new(false), async move {
            let res = next.run(req).await;
            (res, SESSION_STORE_FAILED.with(Cell::get))
        })
        .await;
    if failed && res.status() == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(
            target: "example_mcp_server::fleet",
            "rmcp's session state could not be read from Redis: answered 503"
        );
        return session_unavailable();
    }
    res
}

/// The 503 for a session whose state could not be read.
fn session_unavailable() -> Response {
    let mut res = Response::new(axum::body::Body::from(SESSION_UNAVAILABLE_BODY));
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    res
}

/// Around the MCP route: a 503 without `Retry-After` gets [`RETRY_AFTER_SECS`].
pub(crate) async fn retry_after_on_503(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    ensure_retry_after(&mut res);
    res
}

fn ensure_retry_after<B>(res: &mut http::Response<B>) {
    if res.status() == StatusCode::SERVICE_UNAVAILABLE && !res.headers().contains_key(RETRY_AFTER) {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: StatusCode, retry_after: Option<&'static str>) -> http::Response<()> {
        let mut res = http::Response::new(());
        *res.status_mut() = status;
        if let Some(v) = retry_after {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static(v));
        }
        res
    }

    #[test]
    fn a_503_without_retry_after_gets_one_and_nothing_else_changes() {
        let mut res = response(StatusCode::SERVICE_UNAVAILABLE, None);
        ensure_retry_after(&mut res);
        assert_eq!(res.headers()[RETRY_AFTER], "5");
        // The layer's own value stays.
        let mut res = response(StatusCode::SERVICE_UNAVAILABLE, Some("30"));
        ensure_retry_after(&mut res);
        assert_eq!(res.headers()[RETRY_AFTER], "30");
        assert_eq!(res.headers().get_all(RETRY_AFTER).iter().count(), 1);
        // Other statuses are left alone (a 429's Retry-After is the limiter's).
        for status in [StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR] {
            let mut res = response(status, None);
            ensure_retry_after(&mut res);
            assert!(!res.headers().contains_key(RETRY_AFTER), "{status}");
        }
    }

    #[tokio::test]
    async fn a_failure_is_noted_only_inside_a_request_scope() {
        // No scope: no panic, nothing recorded.
        note_session_store_failure();
        let failed = SESSION_STORE_FAILED
            .scope(Cell::new(false), async {
                note_session_store_failure();
                SESSION_STORE_FAILED.with(Cell::get)
            })
            .await;
        assert!(failed);
        let untouched = SESSION_STORE_FAILED
            .scope(Cell::new(false), async {
                SESSION_STORE_FAILED.with(Cell::get)
            })
            .await;
        assert!(!untouched);
    }
}
