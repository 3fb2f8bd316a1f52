//! Issue 14, "Any tower service": the layer with body types that are neither `Default` nor
//! `From<Bytes>` (like hyper's `Incoming`), on every path that hands a body on or builds one.

use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::mcp::McpPolicy;
use mcp_auth::{McpAuthLayer, RequestBody, ResponseBody};
use mcp_auth_dev::TestAuthority;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use tower::{ServiceBuilder, ServiceExt};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const ORIGIN: &str = "https://app.example";

fn authority() -> &'static TestAuthority {
    static A: OnceLock<TestAuthority> = OnceLock::new();
    A.get_or_init(|| TestAuthority::new(ISS))
}

/// A body in several frames, with no `Default` and no `From<Bytes>`, and an error type of
/// its own: what hyper's `Incoming` looks like to the layer.
#[derive(Debug)]
struct Chunks(VecDeque<Bytes>);

#[derive(Debug)]
struct ChunkError;

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("chunk error")
    }
}

impl std::error::Error for ChunkError {}

impl Chunks {
    fn of(text: &str) -> Self {
        let parts = text.as_bytes().chunks(7).map(Bytes::copy_from_slice);
        Self(parts.collect())
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = ChunkError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ChunkError>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown length, like a chunked request.
        SizeHint::default()
    }
}

fn builder() -> mcp_auth::McpAuthBuilder {
    let jwks = serde_json::to_vec(&authority().jwks()).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::DEFAULT_ALLOWED, 32)
        .unwrap()
        .keys;
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(StaticKeySource::new().with_issuer(ISS, set))
        .scopes_supported(["mcp:read"])
        .require_scopes(["mcp:read"])
        .allowed_origin(ORIGIN)
}

fn policy() -> McpPolicy {
    McpPolicy::builder()
        .default_scopes(["mcp:read"])
        .build()
        .unwrap()
}

/// What the inner service got.
#[derive(Debug, Default)]
struct Seen {
    calls: usize,
    buffered: Option<bool>,
    body: Vec<u8>,
}

/// `req` through `layer` in front of a service that records the body it got and answers
/// with a [`Chunks`] body of its own.
async fn send(
    layer: McpAuthLayer,
    req: Request<Chunks>,
) -> (Response<ResponseBody<Chunks>>, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    let svc =
        ServiceBuilder::new()
            .layer(layer)
            .service_fn(move |req: Request<RequestBody<Chunks>>| {
                let log = log.clone();
                async move {
                    let body = req.into_body();
                    let buffered = body.is_buffered();
                    let bytes = body.collect().await.unwrap().to_bytes();
                    let mut seen = log.lock().unwrap();
                    seen.calls += 1;
                    seen.buffered = Some(buffered);
                    seen.body = bytes.to_vec();
                    Ok::<_, Infallible>(Response::new(Chunks::of("from the inner service")))
                }
            });
    let res = svc.oneshot(req).await.unwrap();
    (res, seen)
}

fn post(token: Option<&str>, content_type: &str, body: &str) -> Request<Chunks> {
    let mut b = Request::post("/mcp").header("content-type", content_type);
    if let Some(t) = token {
        b = b.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Chunks::of(body)).unwrap()
}

fn token() -> String {
    authority().token().aud(RES).scope("mcp:read").sign()
}

async fn text(res: Response<ResponseBody<Chunks>>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{"note":"a body longer than one chunk"}}}"#;

#[tokio::test]
async fn an_unread_body_reaches_the_inner_service_untouched() {
    let (res, seen) = send(
        builder().build().unwrap(),
        post(Some(&token()), "application/json", CALL),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.body().is_from_inner());
    assert_eq!(text(res).await, "from the inner service");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.calls, 1);
    assert_eq!(seen.buffered, Some(false), "nothing needed the body");
    assert_eq!(seen.body, CALL.as_bytes());
}

#[tokio::test]
async fn a_body_read_for_the_mcp_policy_is_handed_on_whole() {
    let layer = builder().mcp_policy(policy()).build().unwrap();
    let (res, seen) = send(layer, post(Some(&token()), "application/json", CALL)).await;
    assert_eq!(res.status(), 200);
    assert!(res.body().is_from_inner());
    assert_eq!(text(res).await, "from the inner service");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.buffered, Some(true), "classified from the body");
    assert_eq!(seen.body, CALL.as_bytes());
}

#[tokio::test]
async fn a_form_body_is_checked_then_handed_on_whole() {
    let form = "note=hello+world&more=a+longer+value+than+one+chunk";
    let ct = "application/x-www-form-urlencoded";
    let (res, seen) = send(builder().build().unwrap(), post(Some(&token()), ct, form)).await;
    assert_eq!(res.status(), 200);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.buffered, Some(true));
        assert_eq!(seen.body, form.as_bytes());
    }

    // A token in the form body is refused (RFC 6750 §2.2 / MCP), with the layer's body.
    let form = format!("note=x&access_token={}", token());
    let (res, seen) = send(builder().build().unwrap(), post(Some(&token()), ct, &form)).await;
    assert_eq!(res.status(), 400);
    assert!(!res.body().is_from_inner());
    assert_eq!(seen.lock().unwrap().calls, 0);
}

#[tokio::test]
async fn a_rejection_is_a_body_of_the_layer() {
    let (res, seen) = send(
        builder().build().unwrap(),
        post(None, "application/json", CALL),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("resource_metadata=")
    );
    assert!(!res.body().is_from_inner());
    assert_eq!(res.body().size_hint().exact(), Some(0));
    assert_eq!(text(res).await, "");
    assert_eq!(seen.lock().unwrap().calls, 0);
}

#[tokio::test]
async fn a_header_mismatch_is_the_json_rpc_error_body() {
    let layer = builder().mcp_policy(policy()).build().unwrap();
    let mut req = post(Some(&token()), "application/json", CALL);
    req.headers_mut()
        .insert("mcp-method", "tools/list".parse().unwrap());
    let (res, seen) = send(layer, req).await;
    assert_eq!(res.status(), 400);
    assert!(!res.body().is_from_inner());
    let body: serde_json::Value = serde_json::from_str(&text(res).await).unwrap();
    assert_eq!(body["error"]["code"], -32020);
    assert_eq!(body["id"], 1);
    assert_eq!(seen.lock().unwrap().calls, 0);
}

#[tokio::test]
async fn a_rejection_hook_body_and_the_origin_403_are_bodies_of_the_layer() {
    let layer = builder()
        .rejection_response(|e: &mcp_auth::AuthError| {
            Response::new(Bytes::from(format!("{{\"error\":\"{:?}\"}}", e.kind())))
        })
        .build()
        .unwrap();
    let (res, _) = send(layer, post(None, "application/json", CALL)).await;
    assert_eq!(res.status(), 401);
    assert_eq!(text(res).await, r#"{"error":"MissingCredentials"}"#);

    let mut req = post(Some(&token()), "application/json", CALL);
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let (res, seen) = send(builder().build().unwrap(), req).await;
    assert_eq!(res.status(), 403);
    assert!(text(res).await.contains("Origin not allowed"));
    assert_eq!(seen.lock().unwrap().calls, 0);
}

#[tokio::test]
async fn a_preflight_reaches_the_inner_service_with_an_empty_body() {
    let req = Request::options("/mcp")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .body(Chunks(VecDeque::new()))
        .unwrap();
    let (res, seen) = send(builder().build().unwrap(), req).await;
    assert_eq!(res.status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.calls, 1);
    assert_eq!(
        seen.buffered,
        Some(true),
        "replaced by the layer's empty body"
    );
    assert!(seen.body.is_empty());
}
/// The wrappers cost no size around a boxed body such as axum's: a response of more than
/// 128 bytes is moved with a `memcpy` call, which the instruction gauge counted (see the
/// note on the private `Kind` in src/body.rs).
#[test]
fn the_wrappers_are_no_larger_than_a_boxed_body() {
    use std::mem::size_of;
    type B = axum::body::Body;
    assert_eq!(size_of::<RequestBody<B>>(), size_of::<B>());
    assert_eq!(size_of::<ResponseBody<B>>(), size_of::<B>());
    assert_eq!(
        size_of::<Response<ResponseBody<B>>>(),
        size_of::<Response<B>>()
    );
}
