//! The session binding on both sides of the inner service: the check of the request's
//! `Mcp-Session-Id` against its principal, and, on the response, the binding of a new id
//! and the end of a deleted one.

use super::answers::{session_unavailable, unknown_session};
use super::{Checked, DynSessions, MCP_SESSION_ID, Quick};
use crate::AuthContext;
use crate::metrics::SessionRefusal;
use crate::session::{Binding, SessionStoreError};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};
use std::sync::Arc;

/// A request's session, before the store was asked about it.
pub(super) struct Pending {
    store: Arc<dyn DynSessions>,
    ctx: AuthContext,
    /// The request's `Mcp-Session-Id`, if it has one.
    id: Option<HeaderValue>,
    delete: bool,
}

impl Pending {
    /// A request's session. More than one `Mcp-Session-Id`, or one that is not text, is
    /// answered as an unknown session: no store could vouch for it.
    pub(super) fn new<R: From<Bytes>>(
        store: &Arc<dyn DynSessions>,
        method: &Method,
        headers: &HeaderMap,
        ctx: &AuthContext,
    ) -> Checked<Self, R> {
        let mut all = headers.get_all(MCP_SESSION_ID).iter();
        let id = all.next().cloned();
        if all.next().is_some() || id.as_ref().is_some_and(|v| v.to_str().is_err()) {
            refusal(SessionRefusal::Unknown, Some(ctx), headers);
            return Err(unknown_session());
        }
        Ok(Self {
            store: store.clone(),
            ctx: ctx.clone(),
            id,
            delete: method == Method::DELETE,
        })
    }

    fn after(self) -> After {
        After {
            store: self.store,
            ctx: self.ctx,
            id: self.id,
            delete: self.delete,
        }
    }
}

/// Step 5: a request with a session id goes on only if the store says its principal opened
/// it. `Ok` with the response side's part.
pub(super) fn check<R: From<Bytes> + Send + 'static>(
    pending: Option<Pending>,
) -> Quick<Checked<Option<After>, R>> {
    let Some(pending) = pending else {
        return Quick::Now(Ok(None));
    };
    let Some(id) = pending.id.as_ref().and_then(|v| v.to_str().ok()) else {
        return Quick::Now(Ok(Some(pending.after())));
    };
    match pending.store.check(id, &pending.ctx.principal()) {
        Quick::Now(answer) => {
            Quick::Now(verdict(answer, &pending.ctx).map(|()| Some(pending.after())))
        }
        Quick::Later(f) => Quick::Later(Box::pin(async move {
            verdict(f.await, &pending.ctx).map(|()| Some(pending.after()))
        })),
    }
}

fn verdict<R: From<Bytes>>(
    answer: Result<Binding, SessionStoreError>,
    ctx: &AuthContext,
) -> Checked<(), R> {
    match answer {
        Ok(Binding::Bound) => Ok(()),
        // Unknown, ended, expired, evicted, or another principal's: one answer for all.
        Ok(other) => {
            tracing::debug!(target: "mcp_auth::session", "request refused: session not bound to this principal");
            let why = match other {
                Binding::OtherPrincipal => SessionRefusal::OtherPrincipal,
                _ => SessionRefusal::Unknown,
            };
            refusal(why, Some(ctx), &HeaderMap::new());
            Err(unknown_session())
        }
        Err(e) => {
            tracing::warn!(target: "mcp_auth::session", error = %e, "session store unavailable: request refused (503)");
            refusal(
                SessionRefusal::StoreUnavailable,
                Some(ctx),
                &HeaderMap::new(),
            );
            Err(session_unavailable())
        }
    }
}

/// A request the session binding refused: counted by why (the metric tells a hijack attempt
/// from an unknown session; the response and the audit reason do not), and audited.
/// `headers` name the MCP method and tool when the caller still has them.
fn refusal(why: SessionRefusal, ctx: Option<&AuthContext>, headers: &HeaderMap) {
    crate::metrics::session_refused(why);
    let (reason, status, description) = match why {
        SessionRefusal::StoreUnavailable => {
            ("session_unavailable", 503, "session store unavailable")
        }
        _ => ("session_unknown", 404, "session not found"),
    };
    crate::audit::operation_refused(reason, status, description, ctx, headers);
}

/// What the response side needs of an allowed request when sessions are on.
#[derive(Clone)]
pub(crate) struct After {
    store: Arc<dyn DynSessions>,
    ctx: AuthContext,
    id: Option<HeaderValue>,
    delete: bool,
}

impl After {
    /// The inner service's response, after the binding it calls for:
    ///
    /// - a successful `DELETE` of the request's (bound) session ends the binding; a store
    ///   error is logged and the response kept (the inner service ended the session, and an
    ///   orphaned binding only expires);
    /// - a response carrying a session id other than the request's binds it to the
    ///   request's principal; if that fails (store error, the id already bound to another
    ///   principal, more than one id, an id that is not text) the response becomes 503, so
    ///   the client never learns an id no binding vouches for. Even if it did, the id would
    ///   read as unknown (404) on every request.
    pub(crate) fn answered<B: From<Bytes> + Send + 'static>(
        self,
        res: Response<B>,
    ) -> Quick<Response<B>> {
        if self.delete
            && res.status().is_success()
            && let Some(id) = self.id.as_ref().and_then(|v| v.to_str().ok())
        {
            return match self.store.end(id) {
                Quick::Now(r) => Quick::Now(ended(r, res)),
                Quick::Later(f) => Quick::Later(Box::pin(async move { ended(f.await, res) })),
            };
        }
        let mut ids = res.headers().get_all(MCP_SESSION_ID).iter();
        let Some(new) = ids.next() else {
            return Quick::Now(res);
        };
        if ids.next().is_some() {
            tracing::warn!(target: "mcp_auth::session", "response with more than one Mcp-Session-Id: answered 503");
            return Quick::Now(session_unavailable());
        }
        if self.id.as_ref() == Some(new) {
            return Quick::Now(res);
        }
        let Ok(new) = new.to_str() else {
            tracing::warn!(target: "mcp_auth::session", "response with a non-text Mcp-Session-Id: answered 503");
            return Quick::Now(session_unavailable());
        };
        match self.store.bind(new, &self.ctx.principal()) {
            Quick::Now(r) => Quick::Now(bound(r, res)),
            Quick::Later(f) => Quick::Later(Box::pin(async move { bound(f.await, res) })),
        }
    }
}

fn ended<B>(r: Result<(), SessionStoreError>, res: Response<B>) -> Response<B> {
    if let Err(e) = r {
        tracing::warn!(target: "mcp_auth::session", error = %e, "session store unavailable: a deleted session's binding was not ended (it expires when idle)");
    }
    res
}

fn bound<B: From<Bytes>>(r: Result<Binding, SessionStoreError>, res: Response<B>) -> Response<B> {
    match r {
        Ok(Binding::Bound) => res,
        Ok(_) => {
            tracing::warn!(target: "mcp_auth::session", "a new session id is already bound to another principal: answered 503");
            crate::metrics::session_refused(SessionRefusal::OtherPrincipal);
            session_unavailable()
        }
        Err(e) => {
            tracing::warn!(target: "mcp_auth::session", error = %e, "session store unavailable: new session not bound, answered 503");
            crate::metrics::session_refused(SessionRefusal::StoreUnavailable);
            session_unavailable()
        }
    }
}
