//! The hyper server puts each connection's peer address in the request (`ClientAddr`), so
//! the layer's per-address rate limit applies: with a burst of 2, the third request from
//! loopback is 429 with `Retry-After`, before its token is looked at.

use bytes::Bytes;
use example_hyper_server::serve;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mcp_auth::McpAuthLayer;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::limit::{Limiter, Limits, Rate};
use mcp_auth_dev::TestAuthority;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const ISS: &str = "https://auth.example.test";

async fn send(addr: SocketAddr, token: &str) -> (StatusCode, Option<String>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = res.status();
    res.into_body().collect().await.unwrap();
    (status, retry)
}

#[tokio::test]
async fn the_peer_address_feeds_the_per_address_limit() {
    let authority = TestAuthority::new(ISS);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let jwks = serde_json::to_vec(&authority.jwks()).unwrap();
    let keys = KeySet::from_jwks(&jwks, &Algorithm::DEFAULT_ALLOWED, 32)
        .unwrap()
        .keys;
    let limits = Limits::new().per_address(Rate::new(1, Duration::from_secs(60), 2).unwrap());
    let auth = McpAuthLayer::builder(&resource)
        .issuer(ISS)
        .key_source(StaticKeySource::new().with_issuer(ISS, keys))
        .rate_limits(Limiter::in_memory(limits))
        .build()
        .unwrap();
    let task = tokio::spawn(serve(listener, auth));
    let token = authority.token().aud(&resource).sign();
    assert_eq!(send(addr, &token).await.0, StatusCode::OK);
    assert_eq!(send(addr, "junk").await.0, StatusCode::UNAUTHORIZED);
    // The budget of 127.0.0.1 is spent, whatever the token.
    assert_eq!(
        send(addr, &token).await,
        (StatusCode::TOO_MANY_REQUESTS, Some("60".to_owned()))
    );
    task.abort();
}
