//! The default reqwest fetcher against a real HTTP server on 127.0.0.1:0.
#![cfg(feature = "reqwest")]

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode, Uri, header};
use bytes::Bytes;
use common::{jwks, settle};
use mcp_auth_core::keys::KeySource;
use mcp_auth_jwks::{FetchError, JwksError, JwksKeySource, ManualClock};
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What the server answers on one path.
#[derive(Clone)]
enum Reply {
    Json {
        body: String,
        content_type: &'static str,
        cache_control: Option<&'static str>,
    },
    /// Body sent in chunks, without `Content-Length`.
    Chunked(Vec<u8>),
    Redirect(String),
    /// Never answers.
    Hang,
}

fn json_reply(body: String) -> Reply {
    Reply::Json {
        body,
        content_type: "application/json",
        cache_control: None,
    }
}

struct Server {
    base: String,
    routes: Mutex<HashMap<String, Reply>>,
    hits: watch::Sender<HashMap<String, usize>>,
    gate: watch::Sender<bool>,
}

impl Server {
    async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = Arc::new(Self {
            base,
            routes: Mutex::default(),
            hits: watch::channel(HashMap::new()).0,
            gate: watch::channel(true).0,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&server));
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_owned(), reply);
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.borrow().get(path).copied().unwrap_or(0)
    }

    /// Waits (with a generous safety timeout, not a sleep) until `path` was requested `n` times.
    async fn wait_hits(&self, path: &str, n: usize) {
        let mut rx = self.hits.subscribe();
        tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|h| h.get(path).copied().unwrap_or(0) >= n),
        )
        .await
        .expect("request not seen")
        .unwrap();
    }
}

async fn handle(State(server): State<Arc<Server>>, uri: Uri) -> Response<Body> {
    let path = uri.path().to_owned();
    server
        .hits
        .send_modify(|h| *h.entry(path.clone()).or_default() += 1);
    let mut gate = server.gate.subscribe();
    let _ = gate.wait_for(|open| *open).await;
    let reply = server.routes.lock().unwrap().get(&path).cloned();
    let builder = Response::builder();
    match reply {
        None => builder
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("not found")),
        Some(Reply::Json {
            body,
            content_type,
            cache_control,
        }) => {
            let mut b = builder.header(header::CONTENT_TYPE, content_type);
            if let Some(cc) = cache_control {
                b = b.header(header::CACHE_CONTROL, cc);
            }
            b.body(Body::from(body))
        }
        Some(Reply::Chunked(bytes)) => {
            let chunks: Vec<Result<Bytes, Infallible>> = bytes
                .chunks(8 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
        }
        Some(Reply::Redirect(to)) => builder
            .status(StatusCode::FOUND)
            .header(header::LOCATION, to)
            .body(Body::empty()),
        Some(Reply::Hang) => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
    .unwrap()
}

fn source(server: &Server, clock: &ManualClock) -> JwksKeySource {
    JwksKeySource::builder()
        .issuer_with_jwks_uri(server.base.clone(), server.url("/jwks"))
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_first_requests_one_http_fetch() {
    let server = Server::start().await;
    server.set("/jwks", json_reply(jwks(&["k1"])));
    let src = source(&server, &ManualClock::new());
    server.gate.send_replace(false);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let src = src.clone();
            let iss = server.base.clone();
            tokio::spawn(async move { src.keys(&iss, Some("k1")).await })
        })
        .collect();
    server.wait_hits("/jwks", 1).await;
    // A safety bound only: the loop yields, it does not sleep.
    tokio::time::timeout(Duration::from_secs(60), async {
        while src.stats().misses < 1000 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every request reached the cache");
    assert_eq!(src.stats().misses, 1000);
    server.gate.send_replace(true);
    for t in tasks {
        assert!(t.await.unwrap().unwrap().contains_kid("k1"));
    }
    assert_eq!(server.hits("/jwks"), 1);
}

#[tokio::test]
async fn issuers_naming_one_jwks_uri_share_one_http_fetch() {
    let server = Server::start().await;
    server.set("/common/keys", json_reply(jwks(&["k1"])));
    server.set("/own/keys", json_reply(jwks(&["own"])));
    let (a, b, c) = (server.url("/a"), server.url("/b"), server.url("/c"));
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(a.clone(), server.url("/common/keys"))
        .issuer_with_jwks_uri(b.clone(), server.url("/common/keys"))
        .issuer_with_jwks_uri(c.clone(), server.url("/own/keys"))
        .build()
        .unwrap();
    let (ka, kb) = tokio::join!(src.keys(&a, Some("k1")), src.keys(&b, Some("k1")));
    assert!(Arc::ptr_eq(&ka.unwrap(), &kb.unwrap()));
    assert!(!src.keys(&c, None).await.unwrap().contains_kid("k1"));
    assert_eq!(
        (server.hits("/common/keys"), server.hits("/own/keys")),
        (1, 1)
    );
}

#[tokio::test]
async fn discovery_with_path_insertion_over_http() {
    let server = Server::start().await;
    let issuer = server.url("/tenant1");
    server.set(
        "/.well-known/oauth-authorization-server/tenant1",
        json_reply(json!({"issuer": issuer, "jwks_uri": server.url("/t1/jwks")}).to_string()),
    );
    server.set("/t1/jwks", json_reply(jwks(&["t1"])));
    let src = JwksKeySource::builder()
        .issuer(issuer.clone())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert!(
        src.keys(&issuer, Some("t1"))
            .await
            .unwrap()
            .contains_kid("t1")
    );
    assert_eq!(
        server.hits("/.well-known/oauth-authorization-server/tenant1"),
        1
    );
    assert_eq!(server.hits("/t1/jwks"), 1);
}

#[tokio::test]
async fn discovery_openid_fallback_over_http() {
    let server = Server::start().await;
    let issuer = server.url("/tenant2");
    server.set(
        "/tenant2/.well-known/openid-configuration",
        json_reply(json!({"issuer": issuer, "jwks_uri": server.url("/t2/jwks")}).to_string()),
    );
    server.set(
        "/t2/jwks",
        Reply::Json {
            body: jwks(&["t2"]),
            content_type: "application/jwk-set+json",
            cache_control: None,
        },
    );
    let src = JwksKeySource::builder()
        .issuer(issuer.clone())
        .build()
        .unwrap();
    src.warm_up().await.unwrap();
    assert!(
        src.keys(&issuer, Some("t2"))
            .await
            .unwrap()
            .contains_kid("t2")
    );
    for path in [
        "/.well-known/oauth-authorization-server/tenant2",
        "/.well-known/openid-configuration/tenant2",
        "/tenant2/.well-known/openid-configuration",
        "/t2/jwks",
    ] {
        assert_eq!(server.hits(path), 1, "{path}");
    }
}

#[tokio::test]
async fn discovery_refuses_mismatching_issuer_over_http() {
    let server = Server::start().await;
    let issuer = server.url("/tenant3");
    server.set(
        "/.well-known/oauth-authorization-server/tenant3",
        json_reply(
            json!({"issuer": server.url("/other"), "jwks_uri": server.url("/jwks")}).to_string(),
        ),
    );
    server.set("/jwks", json_reply(jwks(&["k1"])));
    let src = JwksKeySource::builder().issuer(issuer).build().unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(matches!(err, JwksError::IssuerMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("not the configured"), "{err}");
    assert_eq!(server.hits("/jwks"), 0);
}

#[tokio::test]
async fn max_age_from_a_real_response() {
    let server = Server::start().await;
    server.set(
        "/jwks",
        Reply::Json {
            body: jwks(&["k1"]),
            content_type: "application/json; charset=utf-8",
            cache_control: Some("public, max-age=600"),
        },
    );
    let clock = ManualClock::new();
    let src = source(&server, &clock);
    src.warm_up().await.unwrap();
    clock.advance(Duration::from_secs(479));
    src.keys(&server.base, Some("k1")).await.unwrap();
    assert_eq!(src.stats().background_refreshes, 0);
    clock.advance(Duration::from_secs(2));
    src.keys(&server.base, Some("k1")).await.unwrap();
    server.wait_hits("/jwks", 2).await;
    assert_eq!(src.stats().background_refreshes, 1);
}

#[tokio::test]
async fn refused_responses_keep_the_last_good_keys() {
    let server = Server::start().await;
    let big = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let many: Vec<String> = (0..33).map(|i| format!("k{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    server.set("/loop", Reply::Redirect(server.url("/loop")));
    let cases: Vec<(&str, Reply, fn(&JwksError) -> bool, &str)> = vec![
        (
            "html",
            Reply::Json {
                body: "<!doctype html><title>Sign in</title>".to_owned(),
                content_type: "text/html; charset=utf-8",
                cache_control: None,
            },
            |e| matches!(e, JwksError::ContentType { .. }),
            "text/html",
        ),
        (
            "oversize with content-length",
            json_reply(big.clone()),
            |e| matches!(e, JwksError::Fetch(FetchError::TooLarge { .. })),
            "262144-byte cap",
        ),
        (
            "oversize, chunked",
            Reply::Chunked(big.clone().into_bytes()),
            |e| matches!(e, JwksError::Fetch(FetchError::TooLarge { .. })),
            "262144-byte cap",
        ),
        (
            "too many keys",
            json_reply(jwks(&many)),
            |e| matches!(e, JwksError::Jwks { .. }),
            "33 keys",
        ),
        (
            "redirect to plain http off loopback",
            Reply::Redirect("http://jwks.example.invalid/jwks".to_owned()),
            |e| matches!(e, JwksError::Fetch(FetchError::Redirect { .. })),
            "redirect to plain http",
        ),
        (
            "redirect loop",
            Reply::Redirect(server.url("/loop")),
            |e| matches!(e, JwksError::Fetch(FetchError::Redirect { .. })),
            "more than 3 redirects",
        ),
        (
            "not found",
            Reply::Redirect(server.url("/nowhere")),
            |e| matches!(e, JwksError::Status { .. }),
            "HTTP 404",
        ),
    ];
    for (name, reply, is_expected, text) in cases {
        server.set("/jwks", json_reply(jwks(&["k1"])));
        let src = source(&server, &ManualClock::new());
        src.warm_up().await.unwrap();
        server.set("/jwks", reply.clone());
        let err = src.refresh(&server.base).await.unwrap_err();
        assert!(is_expected(&err), "{name}: {err:?}");
        assert!(err.to_string().contains(text), "{name}: {err}");
        let set = src.keys(&server.base, Some("k1")).await.unwrap();
        assert!(set.contains_kid("k1"), "{name}: last good keys kept");

        // Never loaded: warm_up reports the same refusal.
        let src = source(&server, &ManualClock::new());
        let err = src.warm_up().await.unwrap_err();
        assert!(is_expected(&err), "{name} (first load): {err:?}");
    }
}

#[tokio::test]
async fn a_small_body_cap_is_enforced_while_reading() {
    let server = Server::start().await;
    server.set(
        "/jwks",
        Reply::Chunked(jwks(&["k1", "k2", "k3"]).into_bytes()),
    );
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(server.base.clone(), server.url("/jwks"))
        .max_response_bytes(300)
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(
        matches!(
            err,
            JwksError::Fetch(FetchError::TooLarge { limit: 300, .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn hanging_server_times_out() {
    let server = Server::start().await;
    server.set("/jwks", Reply::Hang);
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(server.base.clone(), server.url("/jwks"))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = src.warm_up().await.unwrap_err();
    assert!(
        matches!(err, JwksError::Fetch(FetchError::Timeout { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn a_user_supplied_client_is_used() {
    let server = Server::start().await;
    server.set("/jwks", json_reply(jwks(&["k1"])));
    let client = reqwest::Client::builder().build().unwrap();
    let src = JwksKeySource::builder()
        .issuer_with_jwks_uri(server.base.clone(), server.url("/jwks"))
        .http_client(client)
        .build()
        .unwrap();
    assert!(
        src.keys(&server.base, Some("k1"))
            .await
            .unwrap()
            .contains_kid("k1")
    );
    settle(&src, |s| s.fetches == 1).await;
    assert_eq!(server.hits("/jwks"), 1);
}
