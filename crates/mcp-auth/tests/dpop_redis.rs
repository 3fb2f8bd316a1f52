//! A fleet behind a load balancer (issue 17): two layers sharing one Redis replay store
//! refuse at B a DPoP proof used at A (RFC 9449 §11.1), and Redis stopped is 503 with
//! `Retry-After`, never an acceptance. Each test starts its own `redis-server` on a free
//! loopback port (mcp_auth_dev::test_support::redis); without it the tests skip, unless
//! `MCP_AUTH_REQUIRE_REDIS=1`.
#![cfg(feature = "redis")]

mod common;
use common::dpop::{
    ProofKey, assert_store_unavailable, assert_used_once, dpop_request, send_fresh,
};
use common::{builder, send};

use mcp_auth::McpAuthLayer;
use mcp_auth::dpop::{DpopMode, DpopPolicy, RedisReplayStore, ReplayStore};
use mcp_auth_dev::test_support::redis::RedisServer;
use std::sync::Arc;
use std::time::Duration;

fn layer(store: impl ReplayStore) -> McpAuthLayer {
    builder()
        .dpop(DpopMode::Required, DpopPolicy::new(), store)
        .build()
        .unwrap()
}

async fn store(server: &RedisServer) -> RedisReplayStore {
    RedisReplayStore::builder(server.url())
        .prefix("mcp-auth-test:jti:")
        .response_timeout(Duration::from_millis(500))
        .connection_timeout(Duration::from_millis(500))
        .reconnect_retries(1)
        .retry_after(9)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_proof_used_at_one_instance_is_refused_at_the_other() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    // Two instances, each with its own connection to the one Redis.
    let (a, b) = (layer(store(&server).await), layer(store(&server).await));
    let key = ProofKey::new();
    let t = key.token();
    let proof = key.proof(&t);
    assert_used_once(a.clone(), b.clone(), &t, &proof).await;
    // And the other way round, and with one store shared by two layers.
    let proof = key.proof(&t);
    assert_eq!(send(b, dpop_request(&t, &[&proof])).await.status, 200);
    assert_eq!(send(a, dpop_request(&t, &[&proof])).await.status, 401);
    let shared = Arc::new(store(&server).await);
    let (c, d) = (layer(shared.clone()), layer(shared));
    let proof = key.proof(&t);
    assert_eq!(send(c, dpop_request(&t, &[&proof])).await.status, 200);
    assert_eq!(send(d, dpop_request(&t, &[&proof])).await.status, 401);
}

#[tokio::test]
async fn redis_stopped_is_503_never_an_acceptance() {
    let Some(mut server) = RedisServer::start(&[]) else {
        return;
    };
    let l = layer(store(&server).await);
    let key = ProofKey::new();
    let t = key.token();
    assert_eq!(send_fresh(l.clone(), &key, &t).await.status, 200);
    server.stop();
    for _ in 0..2 {
        let o = send_fresh(l.clone(), &key, &t).await;
        assert_store_unavailable(o, "9");
    }
}
