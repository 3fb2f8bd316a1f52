//! Building rejection responses, and the hook that renders their bodies
//! ([`RenderRejection`]).

use bytes::Bytes;
use foldhash::fast::RandomState;
use http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use mcp_auth_core::challenge::ChallengeTemplate;
use mcp_auth_core::scope::ScopeSet;
use mcp_auth_core::{AuthError, ErrorKind};
use std::collections::HashMap;
use std::sync::RwLock;

/// Challenges rendered once and reused: every kind but `insufficient_scope` (whose `scope`
/// depends on the token) has one fixed challenge per description, and a flood of bad
/// tokens should not format a header per request.
///
/// Keyed by the kind and the description's address and length, not its text: hashing a
/// pointer is cheaper than hashing a sentence on every rejected request, and two equal
/// literals at different addresses only cost a second entry.
#[derive(Debug, Default)]
pub(crate) struct ChallengeCache(RwLock<HashMap<ChallengeKey, Option<HeaderValue>, RandomState>>);

type ChallengeKey = (ErrorKind, usize, usize);

/// Descriptions are `&'static str`s, so the map is small; the cap only guards against a
/// custom validator with unbounded descriptions.
const MAX_CACHED_CHALLENGES: usize = 256;

impl ChallengeCache {
    /// The `WWW-Authenticate` value for `e`, if any.
    pub(crate) fn header(
        &self,
        template: &ChallengeTemplate,
        e: &AuthError,
        granted: Option<&ScopeSet>,
    ) -> Option<HeaderValue> {
        let render = |granted| {
            template
                .render(e, granted)
                .and_then(|c| HeaderValue::from_str(&c).ok())
        };
        if e.kind() == ErrorKind::InsufficientScope {
            return render(granted);
        }
        let d = e.description();
        let key = (e.kind(), d.as_ptr() as usize, d.len());
        if let Some(v) = self.0.read().ok().and_then(|m| m.get(&key).cloned()) {
            return v;
        }
        let v = render(None);
        if let Ok(mut m) = self.0.write()
            && m.len() < MAX_CACHED_CHALLENGES
        {
            m.insert(key, v.clone());
        }
        v
    }
}

/// A rejection response: the status of `error`'s kind, the challenge if any, `Retry-After`
/// for a 503, an empty body, and the [`AuthError`] in the response extensions so outer
/// logging or metrics layers can see why (never the token).
pub(crate) fn rejection<B: Default>(
    error: AuthError,
    challenge: Option<HeaderValue>,
) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = error.kind().status();
    if let Some(value) = challenge {
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

/// The fixed body of the `Origin` 403 (MCP Streamable HTTP transport, "Security Warning";
/// since 2025-11-25 the body MAY be a JSON-RPC error without an `id`).
const ORIGIN_BODY: &str =
    r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Forbidden: Origin not allowed"}}"#;

/// The 403 for an `Origin` that is not allowed: a fixed JSON-RPC error ([`ORIGIN_BODY`]), no
/// `WWW-Authenticate` (no token can fix it), no CORS headers from here, and the
/// [`AuthError`] in the extensions like every rejection.
pub(crate) fn origin_rejection<B: From<Bytes>>() -> Response<B> {
    let mut res = Response::new(B::from(Bytes::from_static(ORIGIN_BODY.as_bytes())));
    *res.status_mut() = StatusCode::FORBIDDEN;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.extensions_mut().insert(AuthError::origin_not_allowed());
    res
}

/// Renders the body of the layer's rejections, for example as a JSON error document
/// (set with [`McpAuthBuilder::rejection_response`](crate::McpAuthBuilder::rejection_response)).
///
/// The hook gets the [`AuthError`]: its [`kind`](AuthError::kind), its fixed
/// [`description`](AuthError::description) (never a token, a claim value or a library error
/// message), the scopes of an `insufficient_scope` and the `Retry-After` of a 503. It never
/// sees the request or the token. It returns a response whose body and headers the layer
/// keeps, except for what the protocol fixes, which the layer sets afterwards whatever the
/// hook returned:
///
/// - the status, from [`ErrorKind::status`] (401, 400, 403, 413, 503);
/// - `WWW-Authenticate`: the layer's challenge (RFC 6750 §3, RFC 9728 §5.1), or none for
///   the kinds without one; any value the hook set is removed;
/// - `Retry-After`: the layer's for a 503, otherwise none;
/// - the [`AuthError`] in the response extensions.
///
/// It is called only on the rejection path: accepted requests never reach it. It must not
/// panic. Implemented for every `Fn(&AuthError) -> Response<Bytes> + Send + Sync`.
pub trait RenderRejection: Send + Sync + 'static {
    /// The response (body and extra headers) for `error`.
    fn render(&self, error: &AuthError) -> Response<Bytes>;
}

impl<F> RenderRejection for F
where
    F: Fn(&AuthError) -> Response<Bytes> + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError) -> Response<Bytes> {
        self(error)
    }
}

/// The layer's own rejection bodies, used when no hook is set: an empty body for every token
/// rejection (the challenge says it all), and for the `Origin` 403 the fixed JSON-RPC error
/// `{"jsonrpc":"2.0","error":{"code":-32600,"message":"Forbidden: Origin not allowed"}}` with
/// `Content-Type: application/json`.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultRejection;

impl RenderRejection for DefaultRejection {
    fn render(&self, error: &AuthError) -> Response<Bytes> {
        if error.kind() == ErrorKind::OriginNotAllowed {
            origin_rejection()
        } else {
            Response::new(Bytes::new())
        }
    }
}

/// A rejection through a hook: the hook's body and headers, then the status, challenge,
/// `Retry-After` and extension the layer owns (see [`RenderRejection`]).
#[cold]
#[inline(never)]
pub(crate) fn rendered<B: From<Bytes>>(
    hook: &dyn RenderRejection,
    error: AuthError,
    challenge: Option<HeaderValue>,
) -> Response<B> {
    let mut res = hook.render(&error);
    *res.status_mut() = error.kind().status();
    let headers = res.headers_mut();
    // `insert` replaces every value of the name; `remove` drops every value.
    match challenge {
        Some(value) => headers.insert(WWW_AUTHENTICATE, value),
        None => headers.remove(WWW_AUTHENTICATE),
    };
    match error.retry_after() {
        Some(secs) => headers.insert(RETRY_AFTER, HeaderValue::from(secs)),
        None => headers.remove(RETRY_AFTER),
    };
    res.extensions_mut().insert(error);
    res.map(B::from)
}
