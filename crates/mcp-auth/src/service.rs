//! [`McpAuth`]: the middleware service.

use crate::future::ResponseFuture;
use crate::layer::Shared;
use crate::response::rejection;
use crate::validate::ValidateToken;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use mcp_auth_core::AuthError;
use mcp_auth_core::credentials::{self, form_body_has_access_token, is_form_body};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// The middleware built by [`McpAuthLayer`](crate::McpAuthLayer). See the [crate docs](crate).
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
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    V: ValidateToken,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone may not be ready: call the one that was (tower docs, "Be careful when
        // cloning inner services").
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(Box::pin(authorize(self.shared.clone(), req)), inner)
    }
}

fn is_cors_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(http::header::ORIGIN)
        && req
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The whole decision for one request: `Ok` with the request to hand to the inner service,
/// or `Err` with the rejection.
async fn authorize<V, B, ResBody>(
    shared: Arc<Shared<V>>,
    req: Request<B>,
) -> Result<Request<B>, Response<ResBody>>
where
    V: ValidateToken,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default,
{
    // CORS preflights carry no credentials and must never be gated.
    if is_cors_preflight(&req) {
        return Ok(req);
    }
    let (mut parts, body) = req.into_parts();
    let reject = |e: AuthError, granted| {
        tracing::debug!(
            target: "mcp_auth::rejection",
            kind = ?e.kind(),
            reason = e.description(),
            "request rejected"
        );
        let challenge = shared.challenge.render(&e, granted);
        rejection(e, challenge)
    };

    // RFC 6750 §2.2 / MCP: a token in a form body is refused, never used.
    let body = if is_form_body(&parts) {
        let bytes = match Limited::new(body, shared.max_form_body).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let err = if e.is::<http_body_util::LengthLimitError>() {
                    AuthError::payload_too_large()
                } else {
                    AuthError::invalid_request("request body could not be read")
                };
                return Err(reject(err, None));
            }
        };
        if form_body_has_access_token(&bytes) {
            return Err(reject(
                AuthError::invalid_request(
                    "access tokens are accepted only in the Authorization header",
                ),
                None,
            ));
        }
        B::from(bytes)
    } else {
        body
    };

    let creds = match credentials::extract(&parts, shared.max_token_len) {
        Ok(Some(c)) => c,
        Ok(None) => return Err(reject(AuthError::missing_credentials(), None)),
        Err(e) => return Err(reject(e, None)),
    };
    let ctx = match shared.validator.validate(creds, &parts).await {
        Ok(ctx) => ctx.with_policy(shared.scope_policy.clone()),
        Err(e) => return Err(reject(e, None)),
    };
    if !ctx.has_scopes(&shared.required) {
        let missing = shared.required.clone();
        return Err(reject(
            AuthError::insufficient_scope(missing),
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
    Ok(Request::from_parts(parts, body))
}
