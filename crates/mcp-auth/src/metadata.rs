//! [`MetadataService`]: the RFC 9728 Protected Resource Metadata documents as a plain tower
//! service, for any server (hyper, tower, and axum through `protected_resource_router`).

use crate::layer::McpAuthLayer;
use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW,
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use mcp_auth_core::resource::ResourceUri;
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// The root form of the well-known URL, which MCP clients try after the path-inserted one.
pub(crate) const ROOT_PATH: &str = "/.well-known/oauth-protected-resource";

/// The methods answered on the document's paths (the `Allow` header).
const ALLOWED: &str = "GET,HEAD,OPTIONS";

/// Serves a metadata document (RFC 9728 §3) at the path-inserted well-known URL of its
/// resource (`/.well-known/oauth-protected-resource/mcp` for `https://host/mcp`) and at the
/// root form `/.well-known/oauth-protected-resource`, which MCP clients try next (MCP
/// 2025-11-25, "Authorization Server Location"); a resource without a path has only the root
/// form. Built by [`McpAuthLayer::metadata_service`] for the layer's own document, or by
/// [`MetadataService::new`].
///
/// A `tower_service::Service<Request<B>>` for any request body `B` (it never reads it),
/// answering `Response<Full<Bytes>>`, never failing:
///
/// - `GET` on one of its paths: 200, the document as `application/json`, byte for byte
///   (RFC 9728 §3.3), `Cache-Control: public, max-age=300`, `Content-Length`;
/// - `HEAD`: the same headers, no body;
/// - `OPTIONS` (a CORS preflight): 200 with `Access-Control-Allow-Methods: GET,HEAD,OPTIONS`
///   and `Access-Control-Allow-Headers: mcp-protocol-version`;
/// - any other method: 405 with `Allow`;
/// - every answer on its paths has `Access-Control-Allow-Origin: *`: the document is public,
///   and browser clients read it before they have a token;
/// - any other path: 404 with an empty body (put it behind your own routing, or use it as
///   the fallback of a server that serves nothing else without a token).
///
/// Serve it **outside** the auth layer: the document must be readable without a token.
///
/// ```
/// use http::Request;
/// use http_body_util::{BodyExt, Empty};
/// use mcp_auth::McpAuthLayer;
/// use mcp_auth::core::keys::StaticKeySource;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .issuer("https://auth.example.com")
///     .key_source(StaticKeySource::new())
///     .build()?;
/// let req = Request::get("/.well-known/oauth-protected-resource/mcp")
///     .body(Empty::<bytes::Bytes>::new())?;
/// let res = auth.metadata_service().oneshot(req).await?;
/// assert_eq!(res.status(), 200);
/// let doc: serde_json::Value = serde_json::from_slice(&res.into_body().collect().await?.to_bytes())?;
/// assert_eq!(doc["resource"], "https://mcp.example.com/mcp");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MetadataService {
    docs: Arc<Documents>,
}

/// What every clone serves.
struct Documents {
    /// The path-inserted path (if the resource has a path), then the root one.
    paths: Vec<String>,
    /// The serialized document.
    body: Bytes,
    content_length: HeaderValue,
}

impl MetadataService {
    /// Serves `metadata`, at the paths its `resource` gives (see the [type docs](Self)). The
    /// document's `resource` must be a canonical resource URI; it is served byte for byte.
    pub fn new(metadata: ProtectedResourceMetadata) -> Self {
        let paths = match ResourceUri::parse(&metadata.resource) {
            Ok(r) if !r.path().is_empty() => vec![r.metadata_path(), ROOT_PATH.to_owned()],
            _ => vec![ROOT_PATH.to_owned()],
        };
        let body = match serde_json::to_vec(&metadata) {
            Ok(b) => Bytes::from(b),
            Err(_) => Bytes::from_static(b"{}"),
        };
        Self {
            docs: Arc::new(Documents {
                paths,
                content_length: HeaderValue::from(body.len()),
                body,
            }),
        }
    }

    /// The paths served, the path-inserted one first (when the resource has a path).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.docs.paths.iter().map(String::as_str)
    }

    /// The answer to a request with this method and path (the body is never needed).
    fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if !self.docs.paths.iter().any(|p| p == path) {
            return status(StatusCode::NOT_FOUND);
        }
        let mut res = if method == Method::GET || method == Method::HEAD {
            let body = if method == Method::GET {
                self.docs.body.clone()
            } else {
                Bytes::new()
            };
            let mut res = Response::new(Full::new(body));
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            h.insert(CONTENT_LENGTH, self.docs.content_length.clone());
            res
        } else if method == Method::OPTIONS {
            let mut res = status(StatusCode::OK);
            let h = res.headers_mut();
            h.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET,HEAD,OPTIONS"),
            );
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("mcp-protocol-version"),
            );
            h.insert(ALLOW, HeaderValue::from_static(ALLOWED));
            res
        } else {
            let mut res = status(StatusCode::METHOD_NOT_ALLOWED);
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(ALLOWED));
            res
        };
        res.headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        res
    }
}

/// An empty response with `status` and `Content-Length: 0`.
fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    res
}

impl fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataService")
            .field("paths", &self.docs.paths)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for MetadataService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = MetadataFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> MetadataFuture {
        MetadataFuture(ready(Ok(self.respond(req.method(), req.uri().path()))))
    }
}

/// The response future of [`MetadataService`] (ready at once).
#[derive(Debug)]
pub struct MetadataFuture(Ready<Result<Response<Full<Bytes>>, Infallible>>);

impl Future for MetadataFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl McpAuthLayer {
    /// A [`MetadataService`] serving this layer's metadata document (the one its challenges'
    /// `resource_metadata` points at), for any tower or hyper server; with axum (feature
    /// `axum`), `metadata_router` is the same service as a router.
    pub fn metadata_service(&self) -> MetadataService {
        MetadataService::new(self.metadata().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use tower::ServiceExt;

    const RES: &str = "https://host/mcp";
    const PATH: &str = "/.well-known/oauth-protected-resource/mcp";

    fn service(resource: &str) -> MetadataService {
        let r = ResourceUri::parse(resource).unwrap();
        let mut md = ProtectedResourceMetadata::new(&r, ["https://as.example"]);
        md.scopes_supported = vec!["mcp:read".to_owned()];
        MetadataService::new(md)
    }

    async fn send(
        svc: &MetadataService,
        method: Method,
        path: &str,
    ) -> (http::response::Parts, Bytes) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("origin", "https://app.example")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        (parts, body.collect().await.unwrap().to_bytes())
    }

    #[tokio::test]
    async fn get_serves_the_document_at_both_paths() {
        let svc = service(RES);
        assert_eq!(svc.paths().collect::<Vec<_>>(), [PATH, ROOT_PATH]);
        for path in [PATH, ROOT_PATH] {
            let (p, body) = send(&svc, Method::GET, path).await;
            assert_eq!(p.status, 200, "{path}");
            assert_eq!(p.headers[CONTENT_TYPE], "application/json");
            assert_eq!(p.headers[CACHE_CONTROL], "public, max-age=300");
            assert_eq!(p.headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            assert_eq!(p.headers[CONTENT_LENGTH], body.len().to_string().as_str());
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                v,
                serde_json::json!({
                    "resource": RES,
                    "authorization_servers": ["https://as.example"],
                    "scopes_supported": ["mcp:read"],
                    "bearer_methods_supported": ["header"],
                })
            );
        }
    }

    #[tokio::test]
    async fn head_has_the_headers_and_no_body() {
        let svc = service(RES);
        let (get, doc) = send(&svc, Method::GET, PATH).await;
        let (head, body) = send(&svc, Method::HEAD, PATH).await;
        assert_eq!(head.status, 200);
        assert!(body.is_empty());
        assert_eq!(head.headers, get.headers);
        assert_eq!(head.headers[CONTENT_LENGTH], doc.len().to_string().as_str());
    }

    #[tokio::test]
    async fn a_preflight_is_answered_for_any_origin() {
        let (p, body) = send(&service(RES), Method::OPTIONS, PATH).await;
        assert_eq!(p.status, 200);
        assert!(body.is_empty());
        assert_eq!(p.headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(p.headers[ACCESS_CONTROL_ALLOW_METHODS], "GET,HEAD,OPTIONS");
        assert_eq!(
            p.headers[ACCESS_CONTROL_ALLOW_HEADERS],
            "mcp-protocol-version"
        );
    }

    #[tokio::test]
    async fn other_methods_are_405_and_other_paths_404() {
        let svc = service(RES);
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let (p, body) = send(&svc, m.clone(), PATH).await;
            assert_eq!(p.status, 405, "{m}");
            assert_eq!(p.headers[ALLOW], "GET,HEAD,OPTIONS");
            assert_eq!(p.headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            assert!(body.is_empty());
        }
        for path in [
            "/",
            "/mcp",
            "/.well-known/oauth-protected-resource/other",
            "/.well-known/oauth-protected-resource/",
        ] {
            let (p, body) = send(&svc, Method::GET, path).await;
            assert_eq!(p.status, 404, "{path}");
            assert!(body.is_empty());
            assert!(!p.headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        }
    }

    #[tokio::test]
    async fn a_resource_without_a_path_is_served_at_the_root_only() {
        let svc = service("https://host/");
        assert_eq!(svc.paths().collect::<Vec<_>>(), [ROOT_PATH]);
        let (p, body) = send(&svc, Method::GET, ROOT_PATH).await;
        assert_eq!(p.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["resource"], "https://host");
        assert_eq!(send(&svc, Method::GET, PATH).await.0.status, 404);
    }
}
