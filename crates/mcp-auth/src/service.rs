//! [`McpAuth`]: the middleware service.

use crate::body::{RequestBody, ResponseBody};
use crate::decision::{Decision, Io, Next, Rejection, Validation, dpop};
use crate::future::{Authorizing, ResponseFuture};
use crate::layer::Shared;
use crate::metrics::{Path, Timer};
use crate::response::{origin_rejection, rejection, rendered};
use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, COOKIE, ORIGIN, PROXY_AUTHORIZATION, TRANSFER_ENCODING,
};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use mcp_auth_core::credentials;
use mcp_auth_core::keys::KeyError;
use mcp_auth_core::mcp::{HEADER_MISMATCH_CODE, HeaderMismatch};
use mcp_auth_core::scope::ScopeSet;
use mcp_auth_core::{AuthError, ErrorKind};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

mod guarded;

/// The middleware built by [`McpAuthLayer`](crate::McpAuthLayer). See the [crate docs](crate).
///
/// Called with `Request<B>` for any body `B: http_body::Body<Data = Bytes>`, it calls the
/// inner service with `Request<`[`RequestBody<B>`]`>` and answers
/// `Response<`[`ResponseBody<ResBody>`]`>` (the inner service's response, or a rejection);
/// see [Body types](crate#body-types).
pub struct McpAuth<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> McpAuth<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for McpAuth<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for McpAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuth")
            .field("inner", &self.inner)
            .field("resource", &self.shared.resource)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for McpAuth<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // MCP Streamable HTTP transport, "Security Warning": the `Origin` header is validated
        // on every request (DNS rebinding), first, before any token work; present and not
        // allowed is 403. Without `Origin` (non-browser clients) this is one header lookup,
        // and a request without `Origin` is no CORS preflight either.
        if let Some(origin) = req.headers().get(ORIGIN) {
            if let Err(res) = check_origin(&self.shared, req.headers(), origin) {
                return ResponseFuture::rejected(res);
            }
            // A CORS preflight is not gated (a browser sends it without credentials), but it
            // reaches the inner service without any credential or body (MCP: never pass a
            // token through).
            if is_cors_preflight(&req) {
                return match preflight(&self.shared, req) {
                    Ok(req) => ResponseFuture::inner(self.inner.call(req), None),
                    Err(res) => ResponseFuture::rejected(res),
                };
            }
        }
        // Rate limits and session bindings, when configured (see `crate::operations`).
        if let Some(ops) = &self.shared.operations {
            return guarded::call_guarded(&mut self.inner, &self.shared, ops, req);
        }
        // Taken apart once and put together once: the decision works on the parts in place
        // (a request is a few hundred bytes, and every move of it is a copy).
        let timer = Timer::start();
        let (mut parts, body) = req.into_parts();
        let mut decision = Decision::new();
        let next = match decision.advance(&self.shared, &mut parts) {
            // Decided here: the service made ready by `poll_ready` is called at once, and a
            // rejection leaves it ready for the next request.
            Next::Allow => {
                timer.allowed(&self.shared.metrics, Path::Memory);
                let req = Request::from_parts(parts, RequestBody::new(body));
                let fut = self.inner.call(req);
                return ResponseFuture::inner(fut, decision.take_nonce());
            }
            Next::Reject(r) => {
                let res = render(&self.shared, r, &parts, None, (timer, Path::Memory));
                return ResponseFuture::rejected(res);
            }
            io => io,
        };
        let later: Authorizing<B, ResBody> = Box::pin(drive(
            self.shared.clone(),
            decision,
            parts,
            body,
            next,
            timer.for_io(),
        ));
        // The future calls the inner service later: it takes the one that is ready and
        // leaves a clone, which may not be (tower docs, "Be careful when cloning inner
        // services").
        let clone = self.inner.clone();
        ResponseFuture::new(later, std::mem::replace(&mut self.inner, clone))
    }
}

/// The rest of a decision that needs I/O: each step's one piece of I/O, handed back to the
/// [`Decision`], until it decides. `Ok` with the request for the inner service (and the
/// `DPoP-Nonce` its response carries, if one is due).
async fn drive<B, ResBody>(
    shared: Arc<Shared>,
    mut decision: Decision,
    mut parts: http::request::Parts,
    body: B,
    mut next: Next,
    timer: Timer,
) -> Result<(Request<RequestBody<B>>, Option<Box<HeaderValue>>), Response<ResponseBody<ResBody>>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = Some(body);
    loop {
        next = match next {
            Next::Allow => {
                timer.allowed(&shared.metrics, Path::Io);
                let body = match (decision.take_body(), body) {
                    (Some(bytes), _) => RequestBody::from_bytes(bytes),
                    (None, Some(body)) => RequestBody::new(body),
                    (None, None) => RequestBody::empty(),
                };
                return Ok((Request::from_parts(parts, body), decision.take_nonce()));
            }
            Next::Reject(r) => {
                let read = decision.take_body();
                return Err(render(
                    &shared,
                    r,
                    &parts,
                    read.as_deref(),
                    (timer, Path::Io),
                ));
            }
            Next::ReadBody { cap } => {
                let read = match body.take() {
                    Some(body) => read_capped(body, cap).await,
                    // Read once already: the decision holds the bytes.
                    None => Err(AuthError::invalid_request("request body could not be read")),
                };
                decision.resume(&shared, &mut parts, Io::Body(read))
            }
            Next::Keys { issuer, kid } => {
                let answer = match &shared.validation {
                    Validation::Jwt(v) => v.key_source().keys(&issuer, kid.as_deref()).await,
                    Validation::Custom(_) => Err(KeyError::UnknownIssuer),
                };
                decision.resume(&shared, &mut parts, Io::Keys(answer))
            }
            Next::Validate(validation) => {
                let outcome = validation.await;
                decision.resume(&shared, &mut parts, Io::Validated(outcome))
            }
            Next::Introspect(introspection) => {
                let answer = introspection.await;
                decision.resume(&shared, &mut parts, Io::Introspected(answer))
            }
            Next::ReplayCheck { jti, until } => {
                let answer = match &shared.dpop {
                    Some(d) => d.store.check_and_insert(&jti, until).await,
                    None => Err(mcp_auth_dpop::StoreError::Misconfigured(
                        "no DPoP replay store".to_owned(),
                    )),
                };
                decision.resume(&shared, &mut parts, Io::Replay(answer))
            }
        };
    }
}

/// A rejection as a response, counted and audited (`decided`: when the request came in, and
/// whether the decision waited for I/O); its challenge on the scheme of the request (RFC
/// 9449 §7.1, when DPoP is on).
fn render<R>(
    shared: &Shared,
    r: Rejection,
    parts: &http::request::Parts,
    body: Option<&[u8]>,
    decided: (Timer, Path),
) -> Response<R>
where
    R: Default + From<Bytes>,
{
    crate::audit::decision_refused(&shared.metrics, &r, &parts.headers, body, decided);
    if shared.dpop.is_some() {
        return dpop_render(shared, parts, r);
    }
    match r {
        Rejection::Auth(e) => reject(shared, e, None),
        Rejection::Scope(denied) => {
            let (e, ctx) = *denied;
            reject(shared, e, Some(ctx.scopes()))
        }
        Rejection::Mismatch(m) => header_mismatch_response(m),
        Rejection::Proof(e) => reject(shared, AuthError::dpop_refused(e), None),
        // No authorization decision: counted, audited and answered as every rate-limit
        // refusal is (crate::operations).
        Rejection::Limited(l) => crate::operations::rate_limited(*l, &parts.headers),
    }
}

/// [`render`] on a layer with DPoP on: a refused proof is 401 with its `DPoP` challenge
/// (and a fresh `DPoP-Nonce` for `use_dpop_nonce`, RFC 9449 §9); every other rejection is
/// rendered on the request's scheme ([`dpop::on_dpop_scheme`]); a 401 without credentials
/// in allowed mode carries a `Bearer` and a `DPoP` challenge.
#[cold]
#[inline(never)]
fn dpop_render<R>(shared: &Shared, parts: &http::request::Parts, r: Rejection) -> Response<R>
where
    R: Default + From<Bytes>,
{
    let template = &shared.challenges.template;
    let (e, ctx) = match r {
        Rejection::Mismatch(m) => return header_mismatch_response(m),
        Rejection::Limited(l) => return crate::operations::rate_limited(*l, &parts.headers),
        Rejection::Proof(p) => {
            let challenge = HeaderValue::from_str(&template.render_dpop_error(&p)).ok();
            let mut res = respond(shared, AuthError::dpop_refused(p), challenge);
            if p.needs_nonce()
                && let Some(nonce) = dpop::fresh_nonce(shared)
            {
                res.headers_mut().insert(dpop::DPOP_NONCE, nonce);
            }
            return res;
        }
        Rejection::Auth(e) => (e, None),
        Rejection::Scope(denied) => {
            let (e, ctx) = *denied;
            (e, Some(ctx))
        }
    };
    let granted = ctx.as_ref().map(|ctx| ctx.scopes());
    tracing::debug!(
        target: "mcp_auth::rejection",
        kind = ?e.kind(),
        reason = e.description(),
        "request rejected"
    );
    if !dpop::on_dpop_scheme(shared, parts) {
        let both = e.kind() == ErrorKind::MissingCredentials && dpop::both_schemes(shared);
        let extra = both
            .then(|| template.render_dpop(&e, None))
            .flatten()
            .and_then(|c| HeaderValue::from_str(&c).ok());
        let mut res = reject(shared, e, granted);
        if let Some(v) = extra {
            res.headers_mut().append(WWW_AUTHENTICATE, v);
        }
        return res;
    }
    let challenge = template
        .render_dpop(&e, granted)
        .and_then(|c| HeaderValue::from_str(&c).ok());
    respond(shared, e, challenge)
}

/// A rejection with the given challenge, its body from the hook if one is set.
fn respond<R: Default + From<Bytes>>(
    shared: &Shared,
    e: AuthError,
    challenge: Option<HeaderValue>,
) -> Response<R> {
    match &shared.rejection {
        None => rejection(e, challenge),
        Some(hook) => rendered(hook.as_ref(), e, challenge),
    }
}

/// `Origin` against the layer's allow-list: more than one `Origin` header, or a value not
/// allowed byte for byte (which covers non-UTF-8 and unparseable values), is 403 with a
/// short JSON-RPC error body and no challenge (no token can fix it).
#[inline(never)]
fn check_origin<R: From<Bytes>>(
    shared: &Shared,
    headers: &http::HeaderMap,
    origin: &http::HeaderValue,
) -> Result<(), Response<R>> {
    let single = headers.get_all(ORIGIN).iter().nth(1).is_none();
    if single && shared.origins.allows(origin.as_bytes()) {
        return Ok(());
    }
    tracing::debug!(
        target: "mcp_auth::rejection",
        kind = ?ErrorKind::OriginNotAllowed,
        repeated = !single,
        "request rejected: Origin not allowed"
    );
    crate::audit::refused_early(&AuthError::origin_not_allowed(), headers);
    Err(match &shared.rejection {
        None => origin_rejection(),
        Some(hook) => rendered(hook.as_ref(), AuthError::origin_not_allowed(), None),
    })
}

/// Called only for requests with an `Origin` header.
fn is_cors_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Credentials a browser never puts on a preflight (Fetch: a CORS-preflight request is made
/// without credentials), removed whatever the layer's settings: nothing checked them.
const PREFLIGHT_STRIPPED: [HeaderName; 4] = [
    AUTHORIZATION,
    PROXY_AUTHORIZATION,
    COOKIE,
    HeaderName::from_static("dpop"),
];

/// A preflight as the inner service gets it: a preflight with a body (`Content-Length`
/// other than 0, or any `Transfer-Encoding`) or an `access_token` in the query is refused
/// with 400; otherwise the credential headers are removed and the body replaced by an empty
/// one.
fn preflight<B, R>(shared: &Shared, req: Request<B>) -> Result<Request<RequestBody<B>>, Response<R>>
where
    R: Default + From<Bytes>,
{
    let (mut parts, _body) = req.into_parts();
    let has_body = parts.headers.contains_key(TRANSFER_ENCODING)
        || parts
            .headers
            .get_all(CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes() != b"0");
    if has_body {
        let e = AuthError::invalid_request("a CORS preflight must not have a body");
        crate::audit::refused_early(&e, &parts.headers);
        return Err(reject(shared, e, None));
    }
    if credentials::query_has_access_token(parts.uri.query()) {
        let e = AuthError::invalid_request(
            "access tokens are accepted only in the Authorization header",
        );
        crate::audit::refused_early(&e, &parts.headers);
        return Err(reject(shared, e, None));
    }
    for name in &PREFLIGHT_STRIPPED {
        parts.headers.remove(name);
    }
    Ok(Request::from_parts(parts, RequestBody::empty()))
}

/// A rejection: logged at `debug` with a fixed target, rendered with the layer's challenge,
/// its body from the hook if one is set ([`RenderRejection`](crate::RenderRejection)).
fn reject<R: Default + From<Bytes>>(
    shared: &Shared,
    e: AuthError,
    granted: Option<&ScopeSet>,
) -> Response<R> {
    tracing::debug!(
        target: "mcp_auth::rejection",
        kind = ?e.kind(),
        reason = e.description(),
        "request rejected"
    );
    let challenges = &shared.challenges;
    let value = challenges
        .rendered
        .header(&challenges.template, &e, granted);
    match &shared.rejection {
        None => rejection(e, value),
        Some(hook) => rendered(hook.as_ref(), e, value),
    }
}

/// Reads a body up to `cap` bytes: 413 beyond it, 400 if it cannot be read.
async fn read_capped<B>(body: B, cap: usize) -> Result<Bytes, AuthError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, cap).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(AuthError::payload_too_large()),
        Err(_) => Err(AuthError::invalid_request("request body could not be read")),
    }
}

/// MCP transport (2026-07-28, "Server Validation"): a header/body mismatch is HTTP 400 with
/// JSON-RPC error -32020. Never rendered by the rejection hook: the transport fixes this
/// body (a JSON-RPC error carrying the request's `id`, which clients match on), so a hook
/// could only break it.
fn header_mismatch_response<R: From<Bytes>>(m: HeaderMismatch) -> Response<R> {
    tracing::debug!(target: "mcp_auth::rejection", reason = m.reason, "Mcp-Method/Mcp-Name mismatch");
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": m.id,
        "error": {"code": HEADER_MISMATCH_CODE, "message": m.reason},
    });
    let mut res = Response::new(R::from(Bytes::from(body.to_string())));
    *res.status_mut() = http::StatusCode::BAD_REQUEST;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res.extensions_mut().insert(AuthError::invalid_request(
        "Mcp-Method or Mcp-Name header does not match the body",
    ));
    res
}
