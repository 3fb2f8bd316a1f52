//! [`McpAuth::call`] with rate limits or session bindings configured: the checks of
//! [`crate::operations`] around the token decision, in the order documented there. Every
//! store answer that is ready at once keeps the request on the unboxed path.

use super::{drive, render};
use crate::body::{RequestBody, ResponseBody};
use crate::decision::{Decision, Next};
use crate::future::{Authorizing, ResponseFuture};
use crate::layer::Shared;
use crate::limit::RequestTime;
use crate::metrics::{Path, Timer};
use crate::operations::{After, Checked, Operations, Quick};
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use std::sync::Arc;
use tower_service::Service;

/// [`McpAuth::call`] past the `Origin` check, with `ops` (from `shared`) configured.
pub(super) fn call_guarded<S, B, ResBody>(
    inner: &mut S,
    shared: &Arc<Shared>,
    ops: &Arc<Operations>,
    req: Request<B>,
) -> ResponseFuture<S, B, ResBody>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Send + 'static,
{
    // One clock read for both limits while the request does no I/O.
    let now = RequestTime::default();
    let pre = match ops.before(req.headers(), req.extensions(), &now) {
        Quick::Now(Ok(())) => None,
        Quick::Now(Err(res)) => return ResponseFuture::rejected(res),
        Quick::Later(f) => Some(f),
    };
    let timer = Timer::start();
    let (mut parts, body) = req.into_parts();
    let mut decision = Decision::new();
    let later: Authorizing<B, ResBody> = match pre {
        // The address limit is still being asked: the rest after its answer.
        Some(pre) => {
            let (shared, ops) = (shared.clone(), ops.clone());
            Box::pin(async move {
                pre.await?;
                let next = decision.advance(&shared, &mut parts);
                let (req, nonce) =
                    drive(shared, decision, parts, body, next, timer.for_io()).await?;
                Ok((checked(&ops, req).await?, nonce))
            })
        }
        None => match decision.advance(shared, &mut parts) {
            Next::Allow => {
                timer.allowed(&shared.metrics, Path::Memory);
                match ops.after_auth(&parts.method, &parts.headers, &parts.extensions, Some(&now)) {
                    Quick::Now(Ok(after)) => {
                        let req = Request::from_parts(parts, RequestBody::new(body));
                        let nonce = decision.take_nonce();
                        return ResponseFuture::inner_with_after(inner.call(req), nonce, after);
                    }
                    Quick::Now(Err(res)) => return ResponseFuture::rejected(res),
                    Quick::Later(f) => {
                        let nonce = decision.take_nonce();
                        Box::pin(async move {
                            let after = f.await?;
                            let req = Request::from_parts(parts, RequestBody::new(body));
                            Ok((with_after(req, after), nonce))
                        })
                    }
                }
            }
            Next::Reject(r) => {
                let res = render(shared, r, &parts, None, (timer, Path::Memory));
                return ResponseFuture::rejected(res);
            }
            io => {
                let (shared, ops) = (shared.clone(), ops.clone());
                Box::pin(async move {
                    let (req, nonce) =
                        drive(shared, decision, parts, body, io, timer.for_io()).await?;
                    Ok((checked(&ops, req).await?, nonce))
                })
            }
        },
    };
    let clone = inner.clone();
    ResponseFuture::new(later, std::mem::replace(inner, clone))
}

/// The post-auth checks of a request allowed after I/O.
async fn checked<B, ResBody>(
    ops: &Arc<Operations>,
    req: Request<RequestBody<B>>,
) -> Checked<Request<RequestBody<B>>, ResponseBody<ResBody>>
where
    ResBody: Send + 'static,
{
    // After I/O: the store reads its clock again.
    let q = ops.after_auth(req.method(), req.headers(), req.extensions(), None);
    let after = match q {
        Quick::Now(r) => r?,
        Quick::Later(f) => f.await?,
    };
    Ok(with_after(req, after))
}

/// The response side's part travels to [`ResponseFuture`] in the extensions, which takes it
/// out before the inner service sees the request.
fn with_after<B>(mut req: Request<B>, after: Option<After>) -> Request<B> {
    if let Some(after) = after {
        req.extensions_mut().insert(after);
    }
    req
}
