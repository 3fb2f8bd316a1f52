//! [`MetadataService`]: the RFC 9728 Protected Resource Metadata documents as a plain tower
//! service, for any server (hyper, tower, and axum through `protected_resource_router`).

use crate::config_error::ConfigError;
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

/// The root form of the well-known URL: the metadata of the resource identified by the bare
/// origin (RFC 9728 §3), which MCP clients try after the path-inserted one.
pub(crate) const ROOT_PATH: &str = "/.well-known/oauth-protected-resource";

/// The methods answered on the document's paths (the `Allow` header).
const ALLOWED: &str = "GET,HEAD,OPTIONS";

/// Serves metadata documents (RFC 9728 §3), each at the well-known URL its `resource` gives:
/// the path-inserted form for a resource with a path
/// (`/.well-known/oauth-protected-resource/mcp` for `https://host/mcp`), the root form
/// `/.well-known/oauth-protected-resource` for a resource without one. Built by
/// [`McpAuthLayer::metadata_service`] for the layer's own document, or by
/// [`MetadataService::new`]; several resources' services are joined into one by
/// [`MetadataService::merge`].
///
/// # Which document is served where
///
/// RFC 9728 §3 forms the URL of a resource's document by inserting the well-known string
/// between its host and its path, and §3.3 makes a client discard a document whose `resource`
/// is not the identifier it formed the URL from. So the root URL belongs to the resource
/// identified by the bare origin, and by default a path resource is **not** served there.
/// Every challenge of the layer names the path-inserted URL in `resource_metadata`, and MCP
/// clients (2025-11-25 and later, "Protected Resource Metadata Discovery") use it, or try the
/// path-inserted URL before the root.
///
/// [`with_root_fallback`](Self::with_root_fallback) (for a layer,
/// [`McpAuthBuilder::serve_metadata_at_root`](crate::McpAuthBuilder::serve_metadata_at_root))
/// also answers the root URL with a path resource's document: a fallback for clients that
/// probe only the root and accept a document for the server URL they dialed. One resource
/// at most may be served there: [`merge`](Self::merge) refuses two services that claim the
/// same path (two root fallbacks, a root fallback beside a resource without a path, or one
/// resource twice) with [`ConfigError::MetadataPathConflict`], never a panic.
///
/// A `tower_service::Service<Request<B>>` for any request body `B` (it never reads it),
/// answering `Response<Full<Bytes>>`, never failing:
///
/// - `GET` on one of its paths: 200, the document of that path as `application/json`, byte
///   for byte (RFC 9728 §3.3), `Cache-Control: public, max-age=300`, `Content-Length`;
/// - `HEAD`: the same headers, no body;
/// - `OPTIONS` (a CORS preflight): 200 with `Access-Control-Allow-Methods: GET,HEAD,OPTIONS`
///   and `Access-Control-Allow-Headers: mcp-protocol-version`;
/// - any other method: 405 with `Allow`;
/// - every answer on its paths has `Access-Control-Allow-Origin: *`: the document is public,
///   and browser clients read it before they have a token;
/// - any other path: 404 with an empty body (put it behind your own routing, or use it as
///   the fallback of a server that serves nothing else without a token).
///
/// It routes by path only: two resources on different hosts with the same path cannot share
/// one service.
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
///
/// Two resources, one of them also at the root:
///
/// ```
/// use mcp_auth::{ConfigError, McpAuthLayer, MetadataService};
/// use mcp_auth::core::keys::StaticKeySource;
///
/// # fn main() -> Result<(), ConfigError> {
/// let layer = |resource: &str, root: bool| {
///     McpAuthLayer::builder(resource)
///         .issuer("https://auth.example.com")
///         .key_source(StaticKeySource::new())
///         .serve_metadata_at_root(root)
///         .build()
/// };
/// let notes = layer("https://mcp.example.com/notes/mcp", true)?;
/// let admin = layer("https://mcp.example.com/admin/mcp", false)?;
/// let both = MetadataService::merge([notes.metadata_service(), admin.metadata_service()])?;
/// assert_eq!(
///     both.paths().collect::<Vec<_>>(),
///     [
///         "/.well-known/oauth-protected-resource/notes/mcp",
///         "/.well-known/oauth-protected-resource",
///         "/.well-known/oauth-protected-resource/admin/mcp",
///     ]
/// );
/// // Two resources at the root: refused.
/// let admin_at_root = layer("https://mcp.example.com/admin/mcp", true)?;
/// assert!(matches!(
///     MetadataService::merge([notes.metadata_service(), admin_at_root.metadata_service()]),
///     Err(ConfigError::MetadataPathConflict { .. })
/// ));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MetadataService {
    docs: Arc<Documents>,
}

/// What every clone serves.
struct Documents {
    /// Each served path and its document, in the order they were added.
    paths: Vec<(String, Arc<Document>)>,
}

/// One serialized document.
struct Document {
    /// The document's `resource`, for errors and `Debug`.
    resource: String,
    body: Bytes,
    content_length: HeaderValue,
}

impl MetadataService {
    /// Serves `metadata` at the one well-known path its `resource` gives: the path-inserted
    /// one, or the root one for a resource without a path (see the [type docs](Self)). The
    /// document's `resource` must be a canonical resource URI; it is served byte for byte.
    pub fn new(metadata: ProtectedResourceMetadata) -> Self {
        let path = match ResourceUri::parse(&metadata.resource) {
            Ok(r) => r.metadata_path(),
            Err(_) => ROOT_PATH.to_owned(),
        };
        let body = match serde_json::to_vec(&metadata) {
            Ok(b) => Bytes::from(b),
            Err(_) => Bytes::from_static(b"{}"),
        };
        let doc = Document {
            resource: metadata.resource,
            content_length: HeaderValue::from(body.len()),
            body,
        };
        Self {
            docs: Arc::new(Documents {
                paths: vec![(path, Arc::new(doc))],
            }),
        }
    }

    /// Also serves the document of a resource with a path at the root URL
    /// `/.well-known/oauth-protected-resource`, after its path-inserted one: the fallback for
    /// clients that probe only the root (see the [type docs](Self) for what RFC 9728 says
    /// about it). No change for a resource without a path (already served at the root), nor
    /// for a service of several documents (built by [`merge`](Self::merge)), which keeps the
    /// paths it has: designate the root on one resource before merging.
    #[must_use]
    pub fn with_root_fallback(self) -> Self {
        let [(path, doc)] = self.docs.paths.as_slice() else {
            return self;
        };
        if path == ROOT_PATH {
            return self;
        }
        let paths = vec![
            (path.clone(), doc.clone()),
            (ROOT_PATH.to_owned(), doc.clone()),
        ];
        Self {
            docs: Arc::new(Documents { paths }),
        }
    }

    /// One service for the documents of several services (several protected resources in
    /// one server), each at its own paths. Two services that claim the same path are
    /// [`ConfigError::MetadataPathConflict`]: two resources at the root (two
    /// [`with_root_fallback`](Self::with_root_fallback)s, or one beside a resource without
    /// a path), or one resource twice.
    pub fn merge(services: impl IntoIterator<Item = Self>) -> Result<Self, ConfigError> {
        let mut paths: Vec<(String, Arc<Document>)> = Vec::new();
        for s in services {
            for (path, doc) in &s.docs.paths {
                if let Some((_, first)) = paths.iter().find(|(p, _)| p == path) {
                    return Err(ConfigError::MetadataPathConflict {
                        path: path.clone(),
                        first: first.resource.clone(),
                        second: doc.resource.clone(),
                    });
                }
                paths.push((path.clone(), doc.clone()));
            }
        }
        Ok(Self {
            docs: Arc::new(Documents { paths }),
        })
    }

    /// The paths served, in order: each resource's own path, and the root one after the
    /// path-inserted one of the resource designated for it.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.docs.paths.iter().map(|(p, _)| p.as_str())
    }

    /// The answer to a request with this method and path (the body is never needed).
    fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        let Some((_, doc)) = self.docs.paths.iter().find(|(p, _)| p == path) else {
            return status(StatusCode::NOT_FOUND);
        };
        let mut res = if method == Method::GET || method == Method::HEAD {
            let body = if method == Method::GET {
                doc.body.clone()
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
            h.insert(CONTENT_LENGTH, doc.content_length.clone());
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
            .field("paths", &self.paths().collect::<Vec<_>>())
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
    /// A [`MetadataService`] serving this layer's metadata document at the URL its
    /// challenges' `resource_metadata` names (and at the root too with
    /// [`serve_metadata_at_root`](crate::McpAuthBuilder::serve_metadata_at_root)), for any
    /// tower or hyper server; with axum (feature `axum`), `metadata_router` is the same
    /// service as a router. Several layers' services join with [`MetadataService::merge`].
    pub fn metadata_service(&self) -> MetadataService {
        self.shared.metadata_service.clone()
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
    async fn by_default_a_path_resource_is_served_at_its_path_only() {
        let svc = service(RES);
        assert_eq!(svc.paths().collect::<Vec<_>>(), [PATH]);
        assert_eq!(send(&svc, Method::GET, PATH).await.0.status, 200);
        let (p, body) = send(&svc, Method::GET, ROOT_PATH).await;
        assert_eq!(p.status, 404);
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn get_serves_the_document_at_both_paths() {
        let svc = service(RES).with_root_fallback();
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
        // The root fallback changes nothing for it.
        let svc = svc.with_root_fallback();
        assert_eq!(svc.paths().collect::<Vec<_>>(), [ROOT_PATH]);
    }

    #[tokio::test]
    async fn merged_services_serve_each_document_at_its_own_paths() {
        let notes = "https://host/notes/mcp";
        let admin = "https://host/admin/mcp";
        let svc =
            MetadataService::merge([service(notes).with_root_fallback(), service(admin)]).unwrap();
        let notes_path = "/.well-known/oauth-protected-resource/notes/mcp";
        let admin_path = "/.well-known/oauth-protected-resource/admin/mcp";
        assert_eq!(
            svc.paths().collect::<Vec<_>>(),
            [notes_path, ROOT_PATH, admin_path]
        );
        for (path, resource) in [(notes_path, notes), (ROOT_PATH, notes), (admin_path, admin)] {
            let (p, body) = send(&svc, Method::GET, path).await;
            assert_eq!(p.status, 200, "{path}");
            assert_eq!(p.headers[CONTENT_LENGTH], body.len().to_string().as_str());
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["resource"], resource, "{path}");
        }
        assert_eq!(send(&svc, Method::GET, PATH).await.0.status, 404);
        // A merged service keeps its paths: the root is designated before merging.
        let again = svc.clone().with_root_fallback();
        assert_eq!(again.paths().count(), 3);
    }

    #[test]
    fn two_services_on_one_path_are_a_conflict() {
        let conflict = |services: Vec<MetadataService>| match MetadataService::merge(services) {
            Err(ConfigError::MetadataPathConflict {
                path,
                first,
                second,
            }) => (path, first, second),
            other => panic!("expected a conflict, got {other:?}"),
        };
        let (a, b) = ("https://host/a/mcp", "https://host/b/mcp");
        assert_eq!(
            conflict(vec![
                service(a).with_root_fallback(),
                service(b).with_root_fallback()
            ]),
            (ROOT_PATH.to_owned(), a.to_owned(), b.to_owned())
        );
        assert_eq!(
            conflict(vec![
                service("https://host/"),
                service(a).with_root_fallback()
            ]),
            (
                ROOT_PATH.to_owned(),
                "https://host".to_owned(),
                a.to_owned()
            )
        );
        assert_eq!(
            conflict(vec![service(a), service(a)]),
            (
                "/.well-known/oauth-protected-resource/a/mcp".to_owned(),
                a.to_owned(),
                a.to_owned()
            )
        );
        assert!(MetadataService::merge([service(a), service(b)]).is_ok());
        assert_eq!(MetadataService::merge([]).unwrap().paths().count(), 0);
    }
}
