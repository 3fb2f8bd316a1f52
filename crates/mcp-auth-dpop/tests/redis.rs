//! The Redis replay store against a real `redis-server` each test starts on a free loopback
//! port (the shared starter, `mcp_auth_dev::test_support::redis`). Without `redis-server` on
//! the PATH the tests are skipped with a printed reason, unless `MCP_AUTH_REQUIRE_REDIS=1`
//! (CI), which makes a missing Redis a failure.
#![cfg(feature = "redis")]

use mcp_auth_dev::test_support::redis::RedisServer;
use mcp_auth_dpop::{JtiHash, RedisReplayStore, Replay, ReplayStore, StoreError};
use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn jti(n: u8) -> JtiHash {
    JtiHash::from_bytes([n; 32])
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn store(server: &RedisServer) -> RedisReplayStore {
    RedisReplayStore::builder(server.url())
        .prefix("test:jti:")
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_same_jti_twice_is_replayed() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let store = store(&server).await;
    let until = now_s() + 360;
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Fresh)
    );
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Replayed)
    );
    assert_eq!(
        store.check_and_insert(&jti(2), until).await,
        Ok(Replay::Fresh)
    );
    // Not an in-memory store: the answer needs the future.
    assert_eq!(store.check_in_memory(&jti(3), until), None);
}

#[tokio::test]
async fn two_instances_on_one_redis_share_what_they_saw() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let (a, b) = (store(&server).await, store(&server).await);
    let until = now_s() + 360;
    assert_eq!(a.check_and_insert(&jti(1), until).await, Ok(Replay::Fresh));
    assert_eq!(
        b.check_and_insert(&jti(1), until).await,
        Ok(Replay::Replayed)
    );
    assert_eq!(b.check_and_insert(&jti(2), until).await, Ok(Replay::Fresh));
    assert_eq!(
        a.check_and_insert(&jti(2), until).await,
        Ok(Replay::Replayed)
    );
    // Another prefix is another deployment.
    let other = RedisReplayStore::builder(server.url())
        .prefix("other:")
        .build()
        .await
        .unwrap();
    assert_eq!(other.prefix(), "other:");
    assert_eq!(
        other.check_and_insert(&jti(1), until).await,
        Ok(Replay::Fresh)
    );
}

#[tokio::test]
async fn keys_expire_at_until_not_at_insert_plus_window() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let store = store(&server).await;
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // A deadline 2 s from now: the key's TTL is what is left until it, whatever a window is.
    let until = now_s() + 2;
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Fresh)
    );
    let key = format!("test:jti:{}", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=2000).contains(&pttl), "PTTL {pttl}");
    // A far deadline gives a long TTL (iat + window + leeway of a proof dated in the future).
    assert_eq!(
        store.check_and_insert(&jti(2), now_s() + 900).await,
        Ok(Replay::Fresh)
    );
    let key2 = format!("test:jti:{}", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI");
    let pttl2: i64 = redis::cmd("PTTL")
        .arg(&key2)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((898_000..=900_000).contains(&pttl2), "PTTL {pttl2}");
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Replayed)
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        store.check_and_insert(&jti(1), now_s() + 60).await,
        Ok(Replay::Fresh)
    );
}

#[tokio::test]
async fn redis_stopped_is_a_store_error_and_the_manager_reconnects() {
    let Some(mut server) = RedisServer::start(&[]) else {
        return;
    };
    let store = RedisReplayStore::builder(server.url())
        .response_timeout(Duration::from_millis(500))
        .connection_timeout(Duration::from_millis(500))
        .reconnect_retries(1)
        .retry_after(7)
        .build()
        .await
        .unwrap();
    let until = now_s() + 360;
    assert_eq!(
        store.check_and_insert(&jti(1), until).await,
        Ok(Replay::Fresh)
    );
    server.stop();
    let started = Instant::now();
    let err = store.check_and_insert(&jti(2), until).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert_eq!(err.retry_after(), 7);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Still down: still an error, never an acceptance.
    assert!(store.check_and_insert(&jti(3), until).await.is_err());
    // Back up (empty: no persistence): the same store reconnects by itself.
    server.spawn(&[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.check_and_insert(&jti(4), until).await {
            Ok(r) => {
                assert_eq!(r, Replay::Fresh);
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no reconnection: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(
        store.check_and_insert(&jti(4), until).await,
        Ok(Replay::Replayed)
    );
}

#[tokio::test]
async fn a_redis_that_may_evict_is_refused() {
    let Some(server) = RedisServer::start(&["--maxmemory-policy", "allkeys-lru"]) else {
        return;
    };
    let err = RedisReplayStore::builder(server.url())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Misconfigured(m) if m.contains("allkeys-lru")),
        "{err:?}"
    );
    // An operator who knows better may turn the check off.
    assert!(
        RedisReplayStore::builder(server.url())
            .require_noeviction(false)
            .build()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn no_redis_at_startup_is_unavailable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisReplayStore::builder(format!("redis://127.0.0.1:{port}/"))
        .connection_timeout(Duration::from_millis(300))
        .reconnect_retries(0)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(matches!(
        RedisReplayStore::builder("not a url")
            .build()
            .await
            .unwrap_err(),
        StoreError::Misconfigured(_)
    ));
}

#[tokio::test]
async fn a_store_on_a_shared_connection_manager_sees_the_same_keys() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let conn = redis::Client::open(server.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let shared = RedisReplayStore::from_connection(conn.clone())
        .prefix("test:jti:")
        .build()
        .await
        .unwrap();
    let own = store(&server).await;
    let until = now_s() + 360;
    assert_eq!(
        shared.check_and_insert(&jti(1), until).await,
        Ok(Replay::Fresh)
    );
    assert_eq!(
        own.check_and_insert(&jti(1), until).await,
        Ok(Replay::Replayed)
    );
    // The eviction policy is still checked on a given connection.
    let Some(evicting) = RedisServer::start(&["--maxmemory-policy", "allkeys-lru"]) else {
        return;
    };
    let conn = redis::Client::open(evicting.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    assert!(matches!(
        RedisReplayStore::from_connection(conn).build().await,
        Err(StoreError::Misconfigured(_))
    ));
}
