//! `Mcp-Session-Id` bound to its principal through the layer (issue 18 §1): the response
//! that assigns a session binds it; the same principal may use it; another principal's
//! valid token gets the very answer an unknown session gets (404); `DELETE` ends it; an
//! idle binding expires; a store that cannot answer is 503. And a sealed state handle
//! opens only for its principal through the layer's `AuthContext`.

mod common;
use common::{AsyncOnly, ISS, RES, builder, keys, token};

use axum::body::Body;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::sealed::{HandleSealer, Principal};
use mcp_auth::session::{Binding, MemorySessionStore, SessionStore, SessionStoreError};
use mcp_auth::{AuthContext, McpAuthLayer, RequestBody};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};

const SID: &str = "mcp-session-id";

/// The inner MCP server's part of the transport: a request without a session id is an
/// `initialize` and gets a new id (`sess-N`, or the fixed `id` if set); `DELETE` answers
/// `delete_status`; everything else 200, naming the subject it saw.
#[derive(Clone)]
struct Server {
    next: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    fixed_id: Option<&'static str>,
    delete_status: StatusCode,
    sealer: Arc<HandleSealer>,
}

impl Server {
    fn new() -> Self {
        Self {
            next: Arc::new(AtomicUsize::new(0)),
            calls: Arc::new(AtomicUsize::new(0)),
            fixed_id: None,
            delete_status: StatusCode::OK,
            sealer: Arc::new(HandleSealer::new(vec![7u8; 32]).unwrap()),
        }
    }

    fn answer(&self, req: &Request<RequestBody<Body>>) -> Response<Body> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let ctx = req
            .extensions()
            .get::<AuthContext>()
            .expect("context")
            .clone();
        // The state-handle API: seal on request, open what the client sends back.
        if let Some(sealed) = req.headers().get("x-open") {
            let opened = ctx.open_handle(&self.sealer, sealed.to_str().unwrap());
            let mut res = Response::new(Body::from(opened.clone().unwrap_or_default()));
            *res.status_mut() = if opened.is_ok() {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            return res;
        }
        if req.headers().contains_key("x-seal") {
            return Response::new(Body::from(
                ctx.seal_handle(&self.sealer, "cursor-42").unwrap(),
            ));
        }
        if req.method() == Method::DELETE {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = self.delete_status;
            return res;
        }
        let mut res = Response::new(Body::from(ctx.subject().unwrap_or_default().to_owned()));
        if !req.headers().contains_key(SID) {
            let id = match self.fixed_id {
                Some(id) => id.to_owned(),
                None => format!("sess-{}", self.next.fetch_add(1, Ordering::SeqCst)),
            };
            res.headers_mut().insert(SID, id.parse().unwrap());
        }
        res
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn session(&self) -> Option<&str> {
        self.headers.get(SID).map(|v| v.to_str().unwrap())
    }
}

async fn send(layer: &McpAuthLayer, server: &Server, req: Request<Body>) -> Answer {
    let s = server.clone();
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(
        move |req: Request<RequestBody<Body>>| {
            let res = s.answer(&req);
            async move { Ok::<_, Infallible>(res) }
        },
    );
    let res = svc.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(Body::new(body), 1 << 20)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

fn req(method: Method, token: &str, session: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri("/mcp")
        .header(AUTHORIZATION, format!("Bearer {token}"));
    if let Some(s) = session {
        b = b.header(SID, s);
    }
    b.body(Body::empty()).unwrap()
}

fn user(sub: &str) -> String {
    token().subject(sub).sign()
}

fn layer(store: impl SessionStore) -> McpAuthLayer {
    builder().sessions(store).build().unwrap()
}

fn memory() -> MemorySessionStore {
    MemorySessionStore::new(1_000, Duration::from_secs(600))
}

/// Opens a session as `token`: its id.
async fn open(l: &McpAuthLayer, s: &Server, token: &str) -> String {
    let a = send(l, s, req(Method::POST, token, None)).await;
    assert_eq!(a.status, StatusCode::OK);
    a.session().expect("a new session id").to_owned()
}

/// The status of `req(method, token, session)` through `l` to `s`.
async fn status(
    l: &McpAuthLayer,
    s: &Server,
    method: Method,
    token: &str,
    session: Option<&str>,
) -> StatusCode {
    send(l, s, req(method, token, session)).await.status
}

/// `token`'s DELETE of `id` is answered 200 and ends the session: `id` is unknown after.
async fn assert_delete_ends(l: &McpAuthLayer, s: &Server, token: &str, id: &str) {
    assert_eq!(
        status(l, s, Method::DELETE, token, Some(id)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(l, s, Method::POST, token, Some(id)).await,
        StatusCode::NOT_FOUND
    );
}

/// Bob presenting `id` (a session of someone else) is answered as an unknown session asked
/// for as `asker` is.
async fn assert_hijack_like_unknown(l: &McpAuthLayer, s: &Server, id: &str, asker: &str) {
    let unknown = send(l, s, req(Method::POST, asker, Some("never"))).await;
    let hijack = send(l, s, req(Method::POST, &user("bob"), Some(id))).await;
    assert_404_like_unknown(&hijack, &unknown);
}

fn assert_404_like_unknown(a: &Answer, unknown: &Answer) {
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.headers, unknown.headers,
        "same headers as an unknown session"
    );
    assert_eq!(a.body, unknown.body, "same body as an unknown session");
}

#[tokio::test]
async fn a_session_is_bound_and_reused_by_its_principal() {
    let (l, s) = (layer(memory()), Server::new());
    let alice = user("alice");
    let id = open(&l, &s, &alice).await;
    for _ in 0..3 {
        let a = send(&l, &s, req(Method::POST, &alice, Some(&id))).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body, b"alice");
    }
    // A fresh token of the same principal (same issuer, subject and client id) is fine too.
    let again = user("alice");
    assert_ne!(again, alice);
    assert_eq!(
        status(&l, &s, Method::POST, &again, Some(&id)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_hijack_with_another_users_valid_token_is_answered_as_an_unknown_session() {
    let (l, s) = (layer(memory()), Server::new());
    let id = open(&l, &s, &user("alice")).await;
    let unknown = send(&l, &s, req(Method::POST, &user("bob"), Some("sess-never"))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(!unknown.headers.contains_key(http::header::WWW_AUTHENTICATE));
    let calls = s.calls.load(Ordering::SeqCst);
    let hijack = send(&l, &s, req(Method::POST, &user("bob"), Some(&id))).await;
    assert_404_like_unknown(&hijack, &unknown);
    // Another client id of the same subject is another principal too.
    let other_app = token().subject("alice").client_id("other-app").sign();
    let a = send(&l, &s, req(Method::POST, &other_app, Some(&id))).await;
    assert_404_like_unknown(&a, &unknown);
    // Bob cannot end alice's session either.
    let a = send(&l, &s, req(Method::DELETE, &user("bob"), Some(&id))).await;
    assert_404_like_unknown(&a, &unknown);
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        calls,
        "the server never saw the hijacker"
    );
    // Alice's session still stands.
    assert_eq!(
        status(&l, &s, Method::POST, &user("alice"), Some(&id)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_session_is_404_and_never_reaches_the_server() {
    let (l, s) = (layer(memory()), Server::new());
    let a = send(&l, &s, req(Method::POST, &user("alice"), Some("made-up"))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    let body = String::from_utf8(a.body).unwrap();
    assert!(body.contains("Session not found"), "{body}");
    // Two session ids, or one that is not text: no store vouches for that either.
    let mut r = req(Method::POST, &user("alice"), Some("a"));
    r.headers_mut().append(SID, "b".parse().unwrap());
    assert_eq!(send(&l, &s, r).await.status, StatusCode::NOT_FOUND);
    let mut r = req(Method::POST, &user("alice"), None);
    r.headers_mut()
        .insert(SID, http::HeaderValue::from_bytes(b"\xffid").unwrap());
    assert_eq!(send(&l, &s, r).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn delete_ends_the_binding() {
    let (l, s) = (layer(memory()), Server::new());
    let alice = user("alice");
    let id = open(&l, &s, &alice).await;
    assert_delete_ends(&l, &s, &alice, &id).await;
}

#[tokio::test]
async fn a_delete_the_server_refused_keeps_the_binding() {
    let s = Server {
        delete_status: StatusCode::METHOD_NOT_ALLOWED,
        ..Server::new()
    };
    let l = layer(memory());
    let alice = user("alice");
    let id = open(&l, &s, &alice).await;
    let a = send(&l, &s, req(Method::DELETE, &alice, Some(&id))).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        status(&l, &s, Method::POST, &alice, Some(&id)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_idle_binding_expires_as_unknown() {
    let (l, s) = (
        layer(MemorySessionStore::new(100, Duration::from_millis(300))),
        Server::new(),
    );
    let alice = user("alice");
    let id = open(&l, &s, &alice).await;
    assert_eq!(
        status(&l, &s, Method::POST, &alice, Some(&id)).await,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let unknown = send(&l, &s, req(Method::POST, &alice, Some("never"))).await;
    let expired = send(&l, &s, req(Method::POST, &alice, Some(&id))).await;
    assert_404_like_unknown(&expired, &unknown);
}

/// A fleet-like store: answers after yielding to the runtime (never ready at once), from a
/// memory store, or fails for the operations in `down`.
#[derive(Clone)]
struct Remote {
    inner: Arc<MemorySessionStore>,
    check_down: Arc<AtomicBool>,
    bind_down: Arc<AtomicBool>,
}

impl Remote {
    fn new() -> Self {
        Self {
            inner: Arc::new(memory()),
            check_down: Arc::new(AtomicBool::new(false)),
            bind_down: Arc::new(AtomicBool::new(false)),
        }
    }
}

type Later<T> = Pin<Box<dyn Future<Output = Result<T, SessionStoreError>> + Send>>;

fn later<T: Send + 'static>(answer: Result<T, SessionStoreError>) -> Later<T> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        answer
    })
}

fn down<T>() -> Result<T, SessionStoreError> {
    Err(SessionStoreError::new("connection refused"))
}

impl SessionStore for Remote {
    type Future<T: Send + 'static> = Later<T>;

    fn bind(&self, id: &str, who: &Principal<'_>) -> Later<Binding> {
        later(match self.bind_down.load(Ordering::SeqCst) {
            true => down(),
            false => self.inner.bind(id, who).into_inner(),
        })
    }

    fn check(&self, id: &str, who: &Principal<'_>) -> Later<Binding> {
        later(match self.check_down.load(Ordering::SeqCst) {
            true => down(),
            false => self.inner.check(id, who).into_inner(),
        })
    }

    fn end(&self, id: &str) -> Later<()> {
        later(self.inner.end(id).into_inner())
    }
}

#[tokio::test]
async fn a_store_that_answers_later_binds_and_refuses_the_same() {
    let (l, s) = (layer(Remote::new()), Server::new());
    let alice = user("alice");
    let id = open(&l, &s, &alice).await;
    assert_eq!(
        status(&l, &s, Method::POST, &alice, Some(&id)).await,
        StatusCode::OK
    );
    assert_hijack_like_unknown(&l, &s, &id, &alice).await;
    assert_delete_ends(&l, &s, &alice, &id).await;
}

#[tokio::test]
async fn a_store_that_cannot_check_is_503_with_retry_after() {
    let store = Remote::new();
    let (l, s) = (layer(store.clone()), Server::new());
    let alice = user("alice");
    let id = open(&l, &s, &alice).await;
    store.check_down.store(true, Ordering::SeqCst);
    let calls = s.calls.load(Ordering::SeqCst);
    let a = send(&l, &s, req(Method::POST, &alice, Some(&id))).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.headers.get(RETRY_AFTER).unwrap(), "5");
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        calls,
        "never allowed without the store's word"
    );
    store.check_down.store(false, Ordering::SeqCst);
    assert_eq!(
        status(&l, &s, Method::POST, &alice, Some(&id)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_session_that_could_not_be_bound_is_never_handed_out() {
    let store = Remote::new();
    store.bind_down.store(true, Ordering::SeqCst);
    let (l, s) = (layer(store.clone()), Server::new());
    let alice = user("alice");
    let a = send(&l, &s, req(Method::POST, &alice, None)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.headers.get(RETRY_AFTER).unwrap(), "5");
    assert_eq!(a.session(), None, "the unbound id is not in the answer");
    assert_eq!(s.calls.load(Ordering::SeqCst), 1, "the server did open it");
    // Even if the client guessed it, the unbound id reads as unknown.
    store.bind_down.store(false, Ordering::SeqCst);
    let a = send(&l, &s, req(Method::POST, &alice, Some("sess-0"))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_id_already_bound_to_another_principal_is_refused() {
    // A server that hands out one id to everyone.
    let s = Server {
        fixed_id: Some("the-only-session"),
        ..Server::new()
    };
    let l = layer(memory());
    assert_eq!(open(&l, &s, &user("alice")).await, "the-only-session");
    let a = send(&l, &s, req(Method::POST, &user("bob"), None)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.session(), None);
    let a = send(
        &l,
        &s,
        req(Method::POST, &user("bob"), Some("the-only-session")),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_check_applies_after_a_decision_that_awaited_keys() {
    let l = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(AsyncOnly(keys(&Algorithm::ALL)))
        .token_cache(0)
        .sessions(memory())
        .build()
        .unwrap();
    let s = Server::new();
    let id = open(&l, &s, &user("alice")).await;
    assert_eq!(
        status(&l, &s, Method::POST, &user("alice"), Some(&id)).await,
        StatusCode::OK
    );
    assert_hijack_like_unknown(&l, &s, &id, &user("bob")).await;
}

#[tokio::test]
async fn without_a_session_store_session_ids_reach_the_server_unchecked() {
    let l = builder().build().unwrap();
    let s = Server::new();
    let a = send(&l, &s, req(Method::POST, &user("bob"), Some("anything"))).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn a_sealed_handle_opens_only_for_its_principal_through_the_layer() {
    let (l, s) = (layer(memory()), Server::new());
    let mut r = req(Method::POST, &user("alice"), None);
    r.headers_mut().insert("x-seal", "1".parse().unwrap());
    let sealed = String::from_utf8(send(&l, &s, r).await.body).unwrap();
    assert!(!sealed.contains("cursor-42"), "sealed, not in clear");
    let open_as = |sub: &str| {
        let mut r = req(Method::POST, &user(sub), None);
        r.headers_mut().insert("x-open", sealed.parse().unwrap());
        r
    };
    let a = send(&l, &s, open_as("alice")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, b"cursor-42");
    let a = send(&l, &s, open_as("bob")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.is_empty());
}
