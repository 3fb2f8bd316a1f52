//! [`ResponseFuture`] of [`McpAuth`](crate::McpAuth).

use crate::body::{RequestBody, ResponseBody};
use crate::operations::{After, BoxFuture, Quick};
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tower_service::Service;

/// The decision after I/O: the request for the inner service and the `DPoP-Nonce` its
/// response carries (RFC 9449 §8.2), or the rejection.
pub(crate) type Authorizing<B, ResBody> = Pin<
    Box<
        dyn Future<
                Output = Result<
                    (Request<RequestBody<B>>, Option<Box<HeaderValue>>),
                    Response<ResponseBody<ResBody>>,
                >,
            > + Send,
    >,
>;

pin_project! {
    /// The response future of [`McpAuth`](crate::McpAuth): first the authorization decision,
    /// then the inner service. `B` is the request body the layer is called with, `ResBody`
    /// the inner service's response body; it resolves to a
    /// `Response<`[`ResponseBody`]`<ResBody>>`.
    pub struct ResponseFuture<S, B, ResBody>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        #[pin]
        state: State<S::Future, B, ResBody>,
        inner: Option<S>,
        // A fresh `DPoP-Nonce` for the allowed request's response (boxed: every request's
        // future carries the slot).
        nonce: Option<Box<HeaderValue>>,
        // The session binding's response side, when sessions are on.
        after: Option<After>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, ResBody> {
        Authorizing { fut: Authorizing<B, ResBody> },
        Inner { #[pin] fut: F },
        Rejected { res: Option<Response<ResponseBody<ResBody>>> },
        // The response, after a session store's answer that was not ready at once.
        Finishing { fut: BoxFuture<Response<ResponseBody<ResBody>>> },
    }
}

impl<S, B, ResBody> ResponseFuture<S, B, ResBody>
where
    S: Service<Request<RequestBody<B>>>,
{
    /// The decision is still to be awaited; `inner` (ready) is called once it allows.
    pub(crate) fn new(fut: Authorizing<B, ResBody>, inner: S) -> Self {
        Self {
            state: State::Authorizing { fut },
            inner: Some(inner),
            nonce: None,
            after: None,
        }
    }

    /// Already allowed: the inner service's future, and the `DPoP-Nonce` its response
    /// carries, if one is due.
    pub(crate) fn inner(fut: S::Future, nonce: Option<Box<HeaderValue>>) -> Self {
        Self::inner_with_after(fut, nonce, None)
    }

    /// [`inner`](Self::inner), with the session binding's response side (built in place:
    /// no move of the inner future).
    pub(crate) fn inner_with_after(
        fut: S::Future,
        nonce: Option<Box<HeaderValue>>,
        after: Option<After>,
    ) -> Self {
        Self {
            state: State::Inner { fut },
            inner: None,
            nonce,
            after,
        }
    }

    /// Already refused.
    pub(crate) fn rejected(res: Response<ResponseBody<ResBody>>) -> Self {
        Self {
            state: State::Rejected { res: Some(res) },
            inner: None,
            nonce: None,
            after: None,
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B, ResBody>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    ResBody: Send + 'static,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authorizing { fut } => match ready!(fut.as_mut().poll(cx)) {
                    Ok((mut req, nonce)) => {
                        *this.nonce = nonce;
                        // Decided after I/O: the session part rode in the extensions.
                        if let Some(after) = req.extensions_mut().remove::<After>() {
                            *this.after = Some(after);
                        }
                        let mut inner = this
                            .inner
                            .take()
                            .expect("ResponseFuture polled after completion");
                        let fut = inner.call(req);
                        this.state.set(State::Inner { fut });
                    }
                    Err(rejection) => return Poll::Ready(Ok(rejection)),
                },
                StateProj::Inner { fut } => {
                    let res = answered(ready!(fut.poll(cx))?, this.nonce.take());
                    match this.after.take() {
                        None => return Poll::Ready(Ok(res)),
                        Some(after) => match after.answered(res) {
                            Quick::Now(res) => return Poll::Ready(Ok(res)),
                            Quick::Later(fut) => this.state.set(State::Finishing { fut }),
                        },
                    }
                }
                StateProj::Finishing { fut } => return fut.as_mut().poll(cx).map(Ok),
                StateProj::Rejected { res } => {
                    let res = res.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(res));
                }
            }
        }
    }
}

impl<S, B, ResBody> fmt::Debug for ResponseFuture<S, B, ResBody>
where
    S: Service<Request<RequestBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// The one place that sees the inner service's response to a request the layer allowed,
/// whichever way it was decided (in `call` or after I/O): where the layer's view of a
/// response belongs (the session binding then records the `Mcp-Session-Id` an `initialize`
/// response carries, through its `After` part). It sets the fresh `DPoP-Nonce` a DPoP request's
/// proof made due (RFC 9449 §8.2: the slot of its nonce turned), and wraps the body.
fn answered<ResBody>(
    mut res: Response<ResBody>,
    nonce: Option<Box<HeaderValue>>,
) -> Response<ResponseBody<ResBody>> {
    if let Some(nonce) = nonce {
        res.headers_mut()
            .insert(crate::decision::dpop::DPOP_NONCE, *nonce);
    }
    res.map(ResponseBody::new)
}
