//! [`McpAuth`]: the middleware service.

use crate::body::{RequestBody, ResponseBody};
use crate::context::AuthContext;
use crate::future::{Authorizing, ResponseFuture};
use crate::layer::Shared;
use crate::response::{origin_rejection, rejection, rendered};
use crate::validate::ValidateToken;
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, COOKIE, ORIGIN, PROXY_AUTHORIZATION, TRANSFER_ENCODING,
};
use http::{HeaderName, Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use mcp_auth_core::credentials::{self, form_body_has_access_token, is_form_body};
use mcp_auth_core::mcp::{
    Classification, HEADER_MISMATCH_CODE, HeaderMismatch, McpHeaders, McpPolicy, Requirement,
    classify, protocol_defines_mcp_headers,
};
use mcp_auth_core::scope::ScopeSet;
use mcp_auth_core::{AuthError, ErrorKind};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// The middleware built by [`McpAuthLayer`](crate::McpAuthLayer). See the [crate docs](crate).
///
/// Called with `Request<B>` for any body `B: http_body::Body<Data = Bytes>`, it calls the
/// inner service with `Request<`[`RequestBody<B>`]`>` and answers
/// `Response<`[`ResponseBody<ResBody>`]`>` (the inner service's response, or a rejection);
/// see [Body types](crate#body-types).
pub struct McpAuth<S, V> {
    inner: S,
    shared: Arc<Shared<V>>,
}

impl<S, V> McpAuth<S, V> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<V>>) -> Self {
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

impl<S: Clone, V> Clone for McpAuth<S, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, V> fmt::Debug for McpAuth<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpAuth")
            .field("inner", &self.inner)
            .field("resource", &self.shared.resource)
            .finish_non_exhaustive()
    }
}

impl<S, V, B, ResBody> Service<Request<B>> for McpAuth<S, V>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone,
    V: ValidateToken,
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
                    Ok(req) => ResponseFuture::inner(self.inner.call(req)),
                    Err(res) => ResponseFuture::rejected(res),
                };
            }
        }
        // Taken apart once and put together once: the decision works on the parts in place
        // (a request is a few hundred bytes, and every move of it is a copy).
        let (mut parts, body) = req.into_parts();
        let body = RequestBody::new(body);
        let later = match decide_now(&self.shared, &mut parts) {
            // Decided here: the service made ready by `poll_ready` is called at once, and a
            // rejection leaves it ready for the next request.
            Now::Pass => {
                return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)));
            }
            Now::Reject(res) => return ResponseFuture::rejected(res),
            Now::Authorize => Box::pin(authorize(
                self.shared.clone(),
                Request::from_parts(parts, body),
            )) as Authorizing<B, ResBody>,
            Now::Finish(ctx) => Box::pin(finish(self.shared.clone(), parts, body, ctx)),
        };
        // The future calls the inner service later: it takes the one that is ready and
        // leaves a clone, which may not be (tower docs, "Be careful when cloning inner
        // services").
        let clone = self.inner.clone();
        ResponseFuture::new(later, std::mem::replace(&mut self.inner, clone))
    }
}

/// `Origin` against the layer's allow-list: more than one `Origin` header, or a value not
/// allowed byte for byte (which covers non-UTF-8 and unparseable values), is 403 with a
/// short JSON-RPC error body and no challenge (no token can fix it).
#[inline(never)]
fn check_origin<V, R: From<Bytes>>(
    shared: &Shared<V>,
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
fn preflight<V, B, R>(
    shared: &Shared<V>,
    req: Request<B>,
) -> Result<Request<RequestBody<B>>, Response<R>>
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
        return Err(reject(
            shared,
            AuthError::invalid_request("a CORS preflight must not have a body"),
            None,
        ));
    }
    if credentials::query_has_access_token(parts.uri.query()) {
        return Err(reject(
            shared,
            AuthError::invalid_request(
                "access tokens are accepted only in the Authorization header",
            ),
            None,
        ));
    }
    for name in &PREFLIGHT_STRIPPED {
        parts.headers.remove(name);
    }
    Ok(Request::from_parts(parts, RequestBody::empty()))
}

/// The decision as far as it can be taken without waiting.
enum Now<ResBody> {
    /// Allowed: the parts are ready for the inner service (see [`grant`]).
    Pass,
    Reject(Response<ResBody>),
    /// Everything is still to be decided, awaiting as needed ([`authorize`]).
    Authorize,
    /// The token is good; what the request does needs its body ([`finish`]).
    Finish(AuthContext),
}

/// Decides in `call` when nothing needs awaiting (the common case: a token whose keys are
/// in memory, no body to read), so such a request costs no boxed future; otherwise says
/// which of [`authorize`] or [`finish`] takes over. Both paths make the same decision.
fn decide_now<V, ResBody>(shared: &Shared<V>, parts: &mut http::request::Parts) -> Now<ResBody>
where
    V: ValidateToken,
    ResBody: Default + From<Bytes>,
{
    match is_form_body(parts) {
        Ok(false) => {}
        // The body must be read before anything else (see `authorize`).
        Ok(true) => return Now::Authorize,
        // More than one `Content-Type`: refused before any token work.
        Err(e) => return Now::Reject(reject(shared, e, None)),
    }
    let raw = match required(shared, credentials::locate(parts, shared.max_token_len)) {
        Ok(c) => c,
        Err(res) => return Now::Reject(res),
    };
    // A token the validator recognises as one it accepted (same bytes) needs no syntax
    // check; any other goes through `check` (RFC 6750 §2.1) before the validator sees it.
    let outcome = match shared.validator.recall(raw, parts) {
        Some(outcome) => Some(outcome),
        None => match raw.check() {
            Ok(creds) => shared.validator.validate_now(creds, parts),
            Err(e) => return Now::Reject(reject(shared, e, None)),
        },
    };
    let ctx = match outcome {
        None => return Now::Authorize,
        Some(Err(e)) => return Now::Reject(reject(shared, e, None)),
        Some(Ok(ctx)) => ctx.with_policy(shared.scope_policy.clone()),
    };
    let requirement = match &shared.mcp_policy {
        None => None,
        Some(policy) => match classify_head(shared, parts) {
            Ok(Head::Decided(c)) => Some(requirement_of(shared, policy, c)),
            Ok(Head::NeedsBody(_)) => return Now::Finish(ctx),
            Err(r) => return Now::Reject(r.into_response(shared)),
        },
    };
    match grant(shared, parts, ctx, requirement) {
        Ok(()) => Now::Pass,
        Err(res) => Now::Reject(res),
    }
}

/// The `Authorization` credentials of a request: missing or malformed ones are rejected.
fn credentials_of<V, R: Default + From<Bytes>>(
    shared: &Shared<V>,
    parts: &http::request::Parts,
) -> Result<credentials::Credentials, Response<R>> {
    required(shared, credentials::extract(parts, shared.max_token_len))
}

/// What [`credentials::extract`] (or `locate`) found, or the rejection: 401 without
/// `error` when there were no credentials, the extraction's error otherwise.
fn required<V, C, R: Default + From<Bytes>>(
    shared: &Shared<V>,
    found: Result<Option<C>, AuthError>,
) -> Result<C, Response<R>> {
    match found {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(reject(shared, AuthError::missing_credentials(), None)),
        Err(e) => Err(reject(shared, e, None)),
    }
}

/// The whole decision for one request, awaiting the body or the validator as needed: `Ok`
/// with the request to hand to the inner service, or `Err` with the rejection.
async fn authorize<V, B, ResBody>(
    shared: Arc<Shared<V>>,
    req: Request<B>,
) -> Result<Request<B>, Response<ResBody>>
where
    V: ValidateToken,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default + From<Bytes>,
{
    // (CORS preflights never get here: `call` handles them before anything else.)
    let (parts, body) = req.into_parts();
    let reject = |e: AuthError| reject(&shared, e, None);

    // RFC 6750 §2.2 / MCP: a token in a form body is refused, never used.
    let body = if is_form_body(&parts).map_err(reject)? {
        let bytes = read_capped(body, shared.max_form_body)
            .await
            .map_err(reject)?;
        if form_body_has_access_token(&bytes) {
            return Err(reject(AuthError::invalid_request(
                "access tokens are accepted only in the Authorization header",
            )));
        }
        B::from(bytes)
    } else {
        body
    };

    let creds = credentials_of(&shared, &parts)?;
    let ctx = match shared.validator.validate(creds, &parts).await {
        Ok(ctx) => ctx.with_policy(shared.scope_policy.clone()),
        Err(e) => return Err(reject(e)),
    };
    finish(shared, parts, body, ctx).await
}

/// After the token: what the request does (reading the body if the MCP policy needs it),
/// then [`grant`].
async fn finish<V, B, ResBody>(
    shared: Arc<Shared<V>>,
    mut parts: http::request::Parts,
    body: B,
    ctx: AuthContext,
) -> Result<Request<B>, Response<ResBody>>
where
    V: ValidateToken,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default + From<Bytes>,
{
    let (requirement, body) = match &shared.mcp_policy {
        None => (None, body),
        Some(policy) => {
            let (classification, body) = classify_request(&shared, &parts, body)
                .await
                .map_err(|r| r.into_response(&shared))?;
            (Some(requirement_of(&shared, policy, classification)), body)
        }
    };
    grant(&shared, &mut parts, ctx, requirement)?;
    Ok(Request::from_parts(parts, body))
}

/// The layer's route requirement and the policy's requirement for `classification`.
fn requirement_of<V>(
    shared: &Shared<V>,
    policy: &McpPolicy,
    classification: Option<Classification>,
) -> Requirement {
    let need = match classification {
        Some(c) => policy.requirement(&c),
        None => policy.default_requirement().clone(),
    };
    shared.route_requirement.and(&need)
}

/// The scope check (`insufficient_scope` naming what is missing), then the parts as the
/// inner service gets them: without the token, with the [`AuthContext`].
fn grant<V, ResBody>(
    shared: &Shared<V>,
    parts: &mut http::request::Parts,
    ctx: AuthContext,
    requirement: Option<Requirement>,
) -> Result<(), Response<ResBody>>
where
    ResBody: Default + From<Bytes>,
{
    let hierarchy = shared.scope_policy.hierarchy.as_ref();
    let requirement = requirement.as_ref().unwrap_or(&shared.route_requirement);
    if !requirement.is_satisfied_by(ctx.scopes(), hierarchy) {
        let needed = requirement.challenge_scopes(ctx.scopes(), hierarchy);
        return Err(reject(
            shared,
            AuthError::insufficient_scope(needed),
            Some(ctx.scopes()),
        ));
    }
    tracing::debug!(
        target: "mcp_auth::authorized",
        iss = ctx.issuer(),
        sub = ctx.subject().unwrap_or_default(),
        client_id = ctx.client_id().unwrap_or_default(),
        token = %ctx.token_hash(),
        "request authorized"
    );
    // MCP: "MUST NOT pass through the token it received from the MCP client".
    if !shared.pass_authorization_header {
        parts.headers.remove(AUTHORIZATION);
    }
    parts.extensions.insert(ctx);
    Ok(())
}

/// A rejection: logged at `debug` with a fixed target, rendered with the layer's challenge,
/// its body from the hook if one is set ([`RenderRejection`](crate::RenderRejection)).
fn reject<V, R: Default + From<Bytes>>(
    shared: &Shared<V>,
    e: AuthError,
    granted: Option<&ScopeSet>,
) -> Response<R> {
    tracing::debug!(
        target: "mcp_auth::rejection",
        kind = ?e.kind(),
        reason = e.description(),
        "request rejected"
    );
    let (template, cache) = &shared.challenges;
    let value = cache.header(template, &e, granted);
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

enum ClassifyRejection {
    Auth(AuthError),
    Mismatch(HeaderMismatch),
}

impl ClassifyRejection {
    fn into_response<V, R>(self, shared: &Shared<V>) -> Response<R>
    where
        R: Default + From<Bytes>,
    {
        match self {
            Self::Auth(e) => reject(shared, e, None),
            Self::Mismatch(m) => header_mismatch_response(m),
        }
    }
}

/// What the head of a request says it does.
enum Head {
    /// Known without the body: `None` for requests that carry no JSON-RPC message (GET
    /// streams, DELETE), which are never buffered; the trusted `Mcp-Method`/`Mcp-Name`
    /// headers otherwise.
    Decided(Option<Classification>),
    /// The body must be read and cross-checked with these headers.
    NeedsBody(McpHeaders),
}

fn classify_head<V>(
    shared: &Shared<V>,
    parts: &http::request::Parts,
) -> Result<Head, ClassifyRejection> {
    if parts.method != Method::POST {
        return Ok(Head::Decided(None));
    }
    let headers = McpHeaders::from_headers(&parts.headers).map_err(ClassifyRejection::Mismatch)?;
    // Trusted only when the request's protocol defines the headers: only then does the
    // inner server cross-check them with the body (MCP 2026-07-28 transport, "Server
    // Validation"). Otherwise the body is read and classified, as without the option.
    if shared.trust_mcp_headers
        && let Some(op) = headers.operation()
        && protocol_defines_mcp_headers(&parts.headers)
    {
        return Ok(Head::Decided(Some(Classification::Operations(vec![op]))));
    }
    Ok(Head::NeedsBody(headers))
}

/// What the request does, reading the body when the head does not say.
async fn classify_request<V, B>(
    shared: &Shared<V>,
    parts: &http::request::Parts,
    body: B,
) -> Result<(Option<Classification>, B), ClassifyRejection>
where
    B: Body<Data = Bytes> + From<Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let headers = match classify_head(shared, parts)? {
        Head::Decided(c) => return Ok((c, body)),
        Head::NeedsBody(headers) => headers,
    };
    let bytes = read_capped(body, shared.max_body)
        .await
        .map_err(ClassifyRejection::Auth)?;
    let c = classify(&headers, &bytes).map_err(ClassifyRejection::Mismatch)?;
    Ok((Some(c), B::from(bytes)))
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
