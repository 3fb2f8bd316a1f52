//! The layer's operational checks around the token decision (issue 18): the pre-auth rate
//! limit per client address, the post-auth limits per principal and client id, and the
//! binding of `Mcp-Session-Id` to the principal that opened the session.
//!
//! On the request path ([`McpAuth`](crate::McpAuth)), in this order:
//!
//! 1. the `Origin` check;
//! 2. the per-address limit ([`crate::limit`]), before any token work: the address is the
//!    socket's (axum's `ConnectInfo`, or a [`ClientAddr`](crate::client_addr::ClientAddr)
//!    extension), or the one a configured trusted proxy forwarded
//!    ([`TrustedProxies`]); 429 with `Retry-After`;
//! 3. the token decision;
//! 4. the per-principal and per-client limits, at the rate of the token's tier; 429;
//! 5. the session check, when the request carries `Mcp-Session-Id` and a
//!    [`SessionStore`](crate::session::SessionStore) is configured: unknown, ended, expired
//!    or another principal's session is 404, the same answer in every case; a store error is
//!    503;
//! 6. the inner service; on its response, a new `Mcp-Session-Id` is bound to the principal
//!    (a failed binding turns the response into 503, so the client never learns an id no
//!    store vouches for), and a successful `DELETE` of a bound session ends the binding.
//!
//! A rate-limit store that cannot answer lets the request through (fail open) with a warning;
//! a session store that cannot answer refuses it (503): a session id is never taken as
//! bound without the store saying so.
//!
//! Store futures that are ready at once (the memory stores) are answered while the request
//! is being called, without boxing the rest of the request; without any limit or session
//! store, nothing here runs.

mod answers;
mod session;

pub(crate) use session::After;

use crate::AuthContext;
use crate::client_addr::{AddrKey, TrustedProxies, client_ip};
use crate::decision::Rejection;
use crate::limit::{
    Decision, LimitStoreError, Limiter, Memo, MemoryLimitStore, RateLimitStore, RequestTime,
};
use crate::metrics::LimitStage;
use crate::session::{Binding, SessionStore, SessionStoreError};
use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Response};
use mcp_auth_core::sealed::Principal;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

/// The session header of the MCP Streamable HTTP transport (2025-06-18, 2025-11-25).
pub(crate) const MCP_SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A store's answer: at once, or later.
pub(crate) enum Quick<T> {
    Now(T),
    Later(BoxFuture<T>),
}

impl<T: Send + 'static> Quick<T> {
    /// Polled once with a waker that does nothing: a future that is ready at once (a memory
    /// store's) is answered here; any other is kept, and polled again with the task's waker
    /// (a future re-registers its waker on every poll).
    fn of<F: Future<Output = T> + Send + 'static>(fut: F) -> Self {
        let mut fut = Box::pin(fut);
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => Self::Now(v),
            Poll::Pending => Self::Later(fut),
        }
    }

    /// The answer, awaited if need be.
    async fn get(self) -> T {
        match self {
            Self::Now(v) => v,
            Self::Later(f) => f.await,
        }
    }
}

/// [`Limiter`] behind a pointer, whatever its store.
trait DynLimiter: Send + Sync + 'static {
    fn address(
        &self,
        ip: IpAddr,
        now: &RequestTime,
    ) -> Option<Quick<Result<Decision, LimitStoreError>>>;
    fn principal(
        &self,
        ctx: &AuthContext,
        now: Option<&RequestTime>,
    ) -> Option<Quick<Result<Decision, LimitStoreError>>>;
    fn has_address_limit(&self) -> bool;
}

impl<S: RateLimitStore> DynLimiter for Limiter<S> {
    fn address(
        &self,
        ip: IpAddr,
        now: &RequestTime,
    ) -> Option<Quick<Result<Decision, LimitStoreError>>> {
        self.on_address_at(ip, Some(now), ask)
    }

    fn principal(
        &self,
        ctx: &AuthContext,
        now: Option<&RequestTime>,
    ) -> Option<Quick<Result<Decision, LimitStoreError>>> {
        let (sub, client) = (ctx.subject(), ctx.client_id());
        let memo = Memo {
            keys: Some(ctx.limit_memo()),
            now,
        };
        self.on_principal(ctx.issuer(), sub, client, ctx.scopes(), memo, ask)
    }

    fn has_address_limit(&self) -> bool {
        self.limits().address_rate().is_some()
    }
}

/// The limits of a [`MemoryLimitStore`], checked by the token decision itself
/// ([`crate::decision`]): every answer is in memory, so the per-address check runs before
/// any token work and the per-principal one on the accepted context in hand, without the
/// I/O path's futures, its second look-up of the context, or a dynamic call. Any other
/// store is asked by [`Operations`].
pub(crate) struct MemoryLimits {
    limiter: Limiter<MemoryLimitStore>,
    proxies: TrustedProxies,
    /// The missing-address warning is logged once, not per request.
    warned_no_address: AtomicBool,
}

impl fmt::Debug for MemoryLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLimits")
            .field("store", self.limiter.store())
            .field("trusted_proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl MemoryLimits {
    /// Step 2, the per-address limit, at the request's time `now` (read here, kept for the
    /// post-auth check while the request does no I/O).
    pub(crate) fn before(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        now: &RequestTime,
    ) -> Result<(), Rejection> {
        if self.limiter.limits().address_rate().is_none() {
            return Ok(());
        }
        let Some(ip) = address(headers, extensions, &self.proxies, &self.warned_no_address) else {
            return Ok(());
        };
        let answer = self.limiter.store().address_now(AddrKey::new(ip), now);
        settled(answer, LimitStage::PreAuth, None)
    }

    /// Step 4, the per-principal and per-client limits of the accepted `ctx`; `now` the
    /// time [`before`](Self::before) read, when the request did no I/O since.
    pub(crate) fn after(
        &self,
        ctx: &AuthContext,
        now: Option<&RequestTime>,
    ) -> Result<(), Rejection> {
        let store = self.limiter.store();
        match store.context_now(self.limiter.limits(), ctx, now) {
            None => Ok(()),
            Some(answer) => settled(answer, LimitStage::PostAuth, Some(ctx)),
        }
    }
}

/// A memory store's answer as the decision's: go on, or a refusal for
/// [`rate_limited`] to answer; a store that could not answer lets the request through.
#[inline(always)]
fn settled(
    answer: Result<Decision, LimitStoreError>,
    stage: LimitStage,
    verified: Option<&AuthContext>,
) -> Result<(), Rejection> {
    match answer {
        Ok(Decision::Allowed) => Ok(()),
        Ok(d) => match d.retry_after_secs() {
            None => Ok(()),
            Some(secs) => Err(Rejection::Limited(Box::new(LimitRefusal {
                stage,
                retry_after_secs: secs,
                verified: verified.cloned(),
            }))),
        },
        Err(e) => {
            failed_open(stage, &e);
            Ok(())
        }
    }
}

/// A rate-limit refusal the decision took ([`MemoryLimits`]), rendered by
/// [`rate_limited`].
pub(crate) struct LimitRefusal {
    stage: LimitStage,
    retry_after_secs: u64,
    /// The accepted caller of a post-auth refusal, for the audit event.
    verified: Option<AuthContext>,
}

impl LimitRefusal {
    /// Whether the token was accepted before the limit refused (the post-auth limits).
    pub(crate) fn after_auth(&self) -> bool {
        matches!(self.stage, LimitStage::PostAuth)
    }
}

/// The client address of the pre-auth limit, or `None` (logged once per layer: a wiring gap).
fn address(
    headers: &HeaderMap,
    extensions: &Extensions,
    proxies: &TrustedProxies,
    warned: &AtomicBool,
) -> Option<IpAddr> {
    let ip = client_ip(headers, extensions, proxies);
    if ip.is_none() && !warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "mcp_auth::limit",
            "per-address rate limit configured but a request has no client address \
             (serve with axum's ConnectInfo or insert mcp_auth::client_addr::ClientAddr): \
             not limited"
        );
    }
    ip
}

/// A store's answer: its synchronous one when it has one (no future, no allocation), else
/// its future's.
fn ask<S: RateLimitStore>(
    store: &S,
    checks: &[crate::limit::LimitCheck<'_>],
) -> Quick<Result<Decision, LimitStoreError>> {
    match store.check_now(checks) {
        Some(answer) => Quick::Now(answer),
        None => Quick::of(store.check(checks)),
    }
}

/// A [`SessionStore`] behind a pointer.
pub(crate) trait DynSessions: Send + Sync + 'static {
    fn check(&self, id: &str, who: &Principal<'_>) -> Quick<Result<Binding, SessionStoreError>>;
    fn bind(&self, id: &str, who: &Principal<'_>) -> Quick<Result<Binding, SessionStoreError>>;
    fn end(&self, id: &str) -> Quick<Result<(), SessionStoreError>>;
}

impl<T: SessionStore> DynSessions for T {
    fn check(&self, id: &str, who: &Principal<'_>) -> Quick<Result<Binding, SessionStoreError>> {
        Quick::of(SessionStore::check(self, id, who))
    }

    fn bind(&self, id: &str, who: &Principal<'_>) -> Quick<Result<Binding, SessionStoreError>> {
        Quick::of(SessionStore::bind(self, id, who))
    }

    fn end(&self, id: &str) -> Quick<Result<(), SessionStoreError>> {
        Quick::of(SessionStore::end(self, id))
    }
}

/// The configured limiter: a memory store's limits, which the decision checks
/// ([`MemoryLimits`]), or another store's, which [`Operations`] asks.
enum Limiting {
    Memory(Limiter<MemoryLimitStore>),
    Store(Arc<dyn DynLimiter>),
}

/// What the builder collected; [`build`](Self::build) gives the decision's memory limits
/// and the operations around the decision, each `None` when not configured, so the request
/// path without them is the one without these checks.
#[derive(Default)]
pub(crate) struct Settings {
    limiter: Option<Limiting>,
    proxies: TrustedProxies,
    sessions: Option<Arc<dyn DynSessions>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("rate_limits", &self.limiter.is_some())
            .field("trusted_proxies", &self.proxies)
            .field("sessions", &self.sessions.is_some())
            .finish()
    }
}

impl Settings {
    pub(crate) fn set_limiter<S: RateLimitStore>(&mut self, limiter: Limiter<S>) {
        if limiter.limits().is_empty() {
            self.limiter = None;
            return;
        }
        // The memory store's limits go to the decision; any other store's stay here.
        let mut slot = Some(limiter);
        let memory = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<Limiter<MemoryLimitStore>>>()
            .and_then(Option::take);
        self.limiter = match (memory, slot) {
            // Made for these limits (`Limiter::in_memory`): the decision's path, which
            // trusts the store's slots.
            (Some(m), _) if m.store().serves(m.limits()) => Some(Limiting::Memory(m)),
            // A memory store made for other limits: asked as any store, which answers the
            // rates it does not count with an error (the request fails open, logged).
            (Some(m), _) => Some(Limiting::Store(Arc::new(m))),
            (None, Some(l)) => Some(Limiting::Store(Arc::new(l))),
            (None, None) => None,
        };
    }

    pub(crate) fn set_proxies(&mut self, proxies: TrustedProxies) {
        self.proxies = proxies;
    }

    pub(crate) fn set_sessions<T: SessionStore>(&mut self, store: T) {
        self.sessions = Some(Arc::new(store));
    }

    pub(crate) fn build(self) -> (Option<MemoryLimits>, Option<Arc<Operations>>) {
        let (memory, limiter) = match self.limiter {
            Some(Limiting::Memory(limiter)) => (
                Some(MemoryLimits {
                    limiter,
                    proxies: self.proxies.clone(),
                    warned_no_address: AtomicBool::new(false),
                }),
                None,
            ),
            Some(Limiting::Store(l)) => (None, Some(l)),
            None => (None, None),
        };
        if limiter.is_none() && self.sessions.is_none() {
            return (memory, None);
        }
        let address_limit = limiter.as_ref().is_some_and(|l| l.has_address_limit());
        let ops = Arc::new(Operations {
            limiter,
            address_limit,
            proxies: self.proxies,
            sessions: self.sessions,
            warned_no_address: AtomicBool::new(false),
        });
        (memory, Some(ops))
    }
}

/// The configured checks, shared by every clone of the layer.
pub(crate) struct Operations {
    limiter: Option<Arc<dyn DynLimiter>>,
    address_limit: bool,
    proxies: TrustedProxies,
    sessions: Option<Arc<dyn DynSessions>>,
    /// The missing-address warning is logged once, not per request.
    warned_no_address: AtomicBool,
}

/// The outcome of a check: go on, or this response.
pub(crate) type Checked<T, R> = Result<T, Response<R>>;

impl Operations {
    /// Step 2: the per-address limit, before any token work, at the request's time `now`
    /// (read here by a memory store, for [`after_auth`](Self::after_auth) to reuse when no
    /// I/O came between).
    pub(crate) fn before<R: From<Bytes>>(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        now: &RequestTime,
    ) -> Quick<Checked<(), R>> {
        let Some(limiter) = self.limiter.as_ref().filter(|_| self.address_limit) else {
            return Quick::Now(Ok(()));
        };
        let Some(ip) = address(headers, extensions, &self.proxies, &self.warned_no_address) else {
            return Quick::Now(Ok(()));
        };
        match limiter.address(ip, now) {
            None | Some(Quick::Now(Ok(Decision::Allowed))) => Quick::Now(Ok(())),
            Some(Quick::Now(answer)) => {
                Quick::Now(limited(answer, LimitStage::PreAuth, None, headers))
            }
            Some(Quick::Later(f)) => {
                // The store answers later: what the audit event of a refusal names goes
                // along (a copy of the headers, on this path of I/O only).
                let headers = headers.clone();
                Quick::Later(Box::pin(async move {
                    limited(f.await, LimitStage::PreAuth, None, &headers)
                }))
            }
        }
    }

    /// Steps 4 and 5, once the decision allowed: the post-auth limits, then the session
    /// check. `Ok` with what the response side needs (when sessions are on). `now`: the
    /// time [`before`](Self::before) read, when the request did no I/O since.
    pub(crate) fn after_auth<R: From<Bytes> + Send + 'static>(
        self: &Arc<Self>,
        method: &Method,
        headers: &HeaderMap,
        extensions: &Extensions,
        now: Option<&RequestTime>,
    ) -> Quick<Checked<Option<After>, R>> {
        let Some(ctx) = extensions.get::<AuthContext>() else {
            // The decision inserts the context whenever it allows; without one there is no
            // principal to bind or check a session against.
            return Quick::Now(
                match headers.contains_key(MCP_SESSION_ID) && self.sessions.is_some() {
                    true => Err(answers::unknown_session()),
                    false => Ok(None),
                },
            );
        };
        let limit = self.limiter.as_ref().and_then(|l| l.principal(ctx, now));
        let session = match &self.sessions {
            None => None,
            Some(store) => match session::Pending::new(store, method, headers, ctx) {
                Ok(p) => Some(p),
                Err(res) => return Quick::Now(Err(res)),
            },
        };
        match limit {
            None | Some(Quick::Now(Ok(Decision::Allowed))) => session::check(session),
            Some(Quick::Now(answer)) => {
                match limited(answer, LimitStage::PostAuth, Some(ctx), headers) {
                    Ok(()) => session::check(session),
                    Err(res) => Quick::Now(Err(res)),
                }
            }
            Some(Quick::Later(f)) => {
                let (ctx, headers) = (ctx.clone(), headers.clone());
                Quick::Later(Box::pin(async move {
                    limited(f.await, LimitStage::PostAuth, Some(&ctx), &headers)?;
                    session::check(session).get().await
                }))
            }
        }
    }
}

/// A limit's answer as the request's fate: 429 when over (counted and audited); through,
/// with a warning and a count, when the store could not answer (fail open, see
/// [`crate::limit`]).
#[cold]
fn limited<R: From<Bytes>>(
    answer: Result<Decision, LimitStoreError>,
    stage: LimitStage,
    verified: Option<&AuthContext>,
    headers: &HeaderMap,
) -> Checked<(), R> {
    match answer {
        Ok(d) => match d.retry_after_secs() {
            None => Ok(()),
            Some(secs) => Err(refuse(stage, secs, verified, headers)),
        },
        Err(e) => {
            failed_open(stage, &e);
            Ok(())
        }
    }
}

/// The 429 of a rate-limit refusal the decision took ([`MemoryLimits`]).
#[cold]
pub(crate) fn rate_limited<R: From<Bytes>>(
    refusal: LimitRefusal,
    headers: &HeaderMap,
) -> Response<R> {
    let LimitRefusal {
        stage,
        retry_after_secs,
        verified,
    } = refusal;
    refuse(stage, retry_after_secs, verified.as_ref(), headers)
}

/// 429 with `Retry-After`, counted and audited: every rate-limit refusal, whichever store.
fn refuse<R: From<Bytes>>(
    stage: LimitStage,
    secs: u64,
    verified: Option<&AuthContext>,
    headers: &HeaderMap,
) -> Response<R> {
    tracing::debug!(target: "mcp_auth::limit", which = stage.as_str(), retry_after = secs, "request rate limited");
    crate::metrics::rate_limited(stage);
    crate::audit::operation_refused("rate_limited", 429, "too many requests", verified, headers);
    answers::too_many_requests(secs)
}

/// A store that could not answer: the request goes on (fail open), counted and logged.
#[cold]
fn failed_open(stage: LimitStage, e: &LimitStoreError) {
    crate::metrics::rate_limit_failed_open(stage);
    tracing::warn!(
        target: "mcp_auth::limit",
        which = stage.as_str(),
        error = %e,
        "rate-limit store unavailable: request let through (fail open)"
    );
}
