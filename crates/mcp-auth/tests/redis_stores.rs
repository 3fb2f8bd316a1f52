//! The Redis rate-limit and session stores against a real `redis-server` each test starts on
//! a free loopback port (`mcp_auth_dev::test_support::redis`). Without `redis-server` on the
//! PATH the tests are skipped with a printed reason, unless `MCP_AUTH_REQUIRE_REDIS=1` (CI).
//! That the Redis store answers as the memory store, to the nanosecond on one clock, is the
//! unit test `limit::redis::tests`.
#![cfg(feature = "redis")]

use mcp_auth::core::scope::ScopeSet;
use mcp_auth::core::sealed::Principal;
use mcp_auth::limit::{Decision, Limiter, Limits, Rate, RateLimitStore, RedisLimitStore};
use mcp_auth::session::{Binding, RedisSessionStore, SessionHasher, SessionStore};
use mcp_auth_dev::test_support::redis::RedisServer;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECRET: [u8; 32] = [7; 32];

async fn conn(server: &RedisServer) -> ConnectionManager {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_millis(300)))
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_with_config(redis::Client::open(server.url()).unwrap(), config)
        .await
        .unwrap()
}

async fn all_keys(c: &mut ConnectionManager) -> Vec<String> {
    redis::cmd("KEYS").arg("*").query_async(c).await.unwrap()
}

async fn pttl(c: &mut ConnectionManager, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(c).await.unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn address(l: &Limiter<RedisLimitStore>, a: &str) -> Decision {
    l.check_address(ip(a)).unwrap().await.unwrap()
}

#[tokio::test]
async fn limit_burst_refill_and_retry_after_on_redis() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    // 2 per 600 ms (one every 300 ms), 2 at once.
    let limits = Limits::new().per_address(Rate::new(2, ms(600), 2).unwrap());
    let l = Limiter::with_store(
        limits,
        RedisLimitStore::new(conn(&server).await, SECRET.to_vec()).unwrap(),
    );
    assert_eq!(address(&l, "192.0.2.1").await, Decision::Allowed);
    assert_eq!(address(&l, "192.0.2.1").await, Decision::Allowed);
    let refused = address(&l, "192.0.2.1").await;
    let Decision::Limited { retry_after } = refused else {
        panic!("burst spent: {refused:?}");
    };
    assert!(
        retry_after > ms(150) && retry_after <= ms(300),
        "{retry_after:?}"
    );
    assert_eq!(refused.retry_after_secs(), Some(1));
    // Another address, and another /64, have their own burst; one /64 is one key.
    assert_eq!(address(&l, "192.0.2.2").await, Decision::Allowed);
    assert_eq!(address(&l, "2001:db8:1:2::1").await, Decision::Allowed);
    assert_eq!(address(&l, "2001:db8:1:2::ffff").await, Decision::Allowed);
    assert!(!address(&l, "2001:db8:1:2:aaaa::1").await.is_allowed());
    assert_eq!(address(&l, "2001:db8:1:3::1").await, Decision::Allowed);
    // Refill: one request conforms once retry_after passed, and only one.
    tokio::time::sleep(retry_after + ms(30)).await;
    assert_eq!(address(&l, "192.0.2.1").await, Decision::Allowed);
    assert!(!address(&l, "192.0.2.1").await.is_allowed());
}

#[tokio::test]
async fn post_auth_checks_run_together_and_tiers_count_apart() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let minute = Duration::from_secs(60);
    let limits = Limits::new()
        .per_principal(Rate::new(60, minute, 3).unwrap())
        .per_client(Rate::new(60, minute, 2).unwrap())
        .tier("mcp:admin", Rate::new(60, minute, 5).unwrap(), None);
    let l = Limiter::with_store(
        limits,
        RedisLimitStore::new(conn(&server).await, SECRET.to_vec()).unwrap(),
    );
    let read = ScopeSet::parse("mcp:read").unwrap();
    let admin = ScopeSet::parse("mcp:admin").unwrap();
    let iss = "https://as.example";
    let check = |sub: &'static str, client: Option<&'static str>, s: &ScopeSet| {
        l.check_principal(iss, Some(sub), client, s).unwrap()
    };
    // The client's burst (2) ends first, though alice's (3) is left.
    assert!(
        check("alice", Some("app"), &read)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(check("bob", Some("app"), &read).await.unwrap().is_allowed());
    assert!(
        !check("alice", Some("app"), &read)
            .await
            .unwrap()
            .is_allowed()
    );
    // The refusal was by the client check: alice's own count went on (2 of 3 spent), and
    // without a client id she has one left.
    assert!(check("alice", None, &read).await.unwrap().is_allowed());
    assert!(!check("alice", None, &read).await.unwrap().is_allowed());
    // The admin tier counts alice apart and has no client limit.
    for _ in 0..5 {
        assert!(
            check("alice", Some("app"), &admin)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    assert!(
        !check("alice", Some("app"), &admin)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn two_limiters_on_one_redis_share_the_budget() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let limits = || Limits::new().per_address(Rate::new(1, Duration::from_secs(60), 3).unwrap());
    let store = |c| RedisLimitStore::new(c, SECRET.to_vec()).unwrap();
    // Two instances of a fleet: their own connections, one Redis, one secret.
    let a = Limiter::with_store(limits(), store(conn(&server).await));
    let b = Limiter::with_store(limits(), store(conn(&server).await));
    assert!(address(&a, "192.0.2.9").await.is_allowed());
    assert!(address(&b, "192.0.2.9").await.is_allowed());
    assert!(address(&a, "192.0.2.9").await.is_allowed());
    assert!(!address(&b, "192.0.2.9").await.is_allowed(), "3 of 3 spent");
    assert!(!address(&a, "192.0.2.9").await.is_allowed());
    // Another prefix is another deployment, with its own budget.
    let other = Limiter::with_store(limits(), store(conn(&server).await).prefix("other:"));
    assert!(address(&other, "192.0.2.9").await.is_allowed());
}

#[tokio::test]
async fn limit_keys_are_keyed_hashes_that_expire() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let mut c = conn(&server).await;
    // Refill time: 4 s for the address rate, 10 s for the principal and the client.
    let limits = Limits::new()
        .per_address(Rate::new(1, Duration::from_secs(1), 4).unwrap())
        .per_principal(Rate::new(1, Duration::from_secs(2), 5).unwrap())
        .per_client(Rate::new(1, Duration::from_secs(2), 5).unwrap());
    let l = Limiter::with_store(
        limits,
        RedisLimitStore::new(c.clone(), SECRET.to_vec()).unwrap(),
    );
    assert!(address(&l, "198.51.100.77").await.is_allowed());
    let scopes = ScopeSet::parse("mcp:read").unwrap();
    assert!(
        l.check_principal(
            "https://as.example",
            Some("subject-alice"),
            Some("client-xyz"),
            &scopes
        )
        .unwrap()
        .await
        .unwrap()
        .is_allowed()
    );
    let keys = all_keys(&mut c).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in &keys {
        let digest = k
            .strip_prefix("mcp-auth:limit:")
            .expect("the default prefix");
        assert_eq!(digest.len(), 32, "{k}");
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{k}");
        // The TTL is the time until the key is fresh again: one emission interval after one
        // request (1 s or 2 s), never the whole refill time.
        let t = pttl(&mut c, k).await;
        assert!((1..=2_000).contains(&t), "{k}: PTTL {t}");
        let value: String = redis::cmd("GET").arg(k).query_async(&mut c).await.unwrap();
        for secret in ["198.51.100", "alice", "xyz", "as.example"] {
            assert!(
                !value.contains(secret) && !k.contains(secret),
                "{k} {value}"
            );
        }
    }
    // Another secret gives other keys for the same address (a fresh burst here).
    let l2 = Limiter::with_store(
        Limits::new().per_address(Rate::new(1, Duration::from_secs(1), 1).unwrap()),
        RedisLimitStore::new(c.clone(), vec![8u8; 32]).unwrap(),
    );
    assert!(address(&l2, "198.51.100.77").await.is_allowed());
    assert_eq!(all_keys(&mut c).await.len(), 4);
    // Idle keys leave Redis by themselves.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !all_keys(&mut c).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "keys left: {:?}",
            all_keys(&mut c).await
        );
        tokio::time::sleep(ms(100)).await;
    }
    // A short secret is refused.
    assert!(RedisLimitStore::new(c, vec![1u8; 31]).is_err());
}

#[tokio::test]
async fn redis_stopped_limits_fail_open_with_the_counter() {
    let Some(mut server) = RedisServer::start(&[]) else {
        return;
    };
    let hook = Arc::new(AtomicU64::new(0));
    let h = hook.clone();
    let store = RedisLimitStore::new(conn(&server).await, SECRET.to_vec())
        .unwrap()
        .on_unavailable(move || {
            h.fetch_add(1, Ordering::Relaxed);
        });
    let l = Limiter::with_store(
        Limits::new().per_address(Rate::new(1, Duration::from_secs(60), 1).unwrap()),
        store,
    );
    assert!(address(&l, "192.0.2.1").await.is_allowed());
    assert!(!address(&l, "192.0.2.1").await.is_allowed());
    server.stop();
    let started = Instant::now();
    // The store cannot answer: an error, which the layer lets through (fail open), counted.
    let err = l.check_address(ip("192.0.2.1")).unwrap().await.unwrap_err();
    assert_eq!(err.to_string(), "rate-limit store unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(l.check_address(ip("192.0.2.1")).unwrap().await.is_err());
    assert_eq!(l.store().unavailable_count(), 2);
    assert_eq!(hook.load(Ordering::Relaxed), 2);
    // The error's source names the failure's kind, never a key or an address.
    let source = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap();
    assert!(source.starts_with("redis: "), "{source}");
    assert!(
        !source.contains("192.0.2") && !source.contains("limit:"),
        "{source}"
    );
    // Back up (empty): the manager reconnects and the limits apply again.
    server.spawn(&[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.check_address(ip("192.0.2.1")).unwrap().await {
            Ok(d) => {
                assert!(d.is_allowed(), "an empty Redis: a fresh burst");
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no reconnection: {e}");
                tokio::time::sleep(ms(100)).await;
            }
        }
    }
    assert!(!address(&l, "192.0.2.1").await.is_allowed());
    assert_eq!(l.store().unavailable_count(), hook.load(Ordering::Relaxed));
}

const ALICE: Principal<'static> = Principal::new("https://as.example", Some("alice"), Some("app"));

fn sessions(c: ConnectionManager, idle: Duration) -> RedisSessionStore {
    RedisSessionStore::new(c, SessionHasher::new(SECRET.to_vec()).unwrap(), idle)
}

#[tokio::test]
async fn session_bind_check_other_principal_and_end_on_redis() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let mut c = conn(&server).await;
    let a = sessions(c.clone(), Duration::from_secs(60));
    // Another instance: its own connection, the fleet's secret.
    let b = sessions(conn(&server).await, Duration::from_secs(60));
    let bob = Principal::new("https://as.example", Some("bob"), Some("app"));
    assert_eq!(a.check("sess-1", &ALICE).await.unwrap(), Binding::Unknown);
    assert_eq!(a.bind("sess-1", &ALICE).await.unwrap(), Binding::Bound);
    assert_eq!(b.check("sess-1", &ALICE).await.unwrap(), Binding::Bound);
    for other in [
        bob,
        Principal::new("https://as.example", Some("alice"), Some("other-app")),
        Principal::new("https://other.example", Some("alice"), Some("app")),
        Principal::new("https://as.example", Some("alice"), None),
    ] {
        assert_eq!(
            b.check("sess-1", &other).await.unwrap(),
            Binding::OtherPrincipal
        );
        // A hijacker cannot re-bind the session to itself.
        assert_eq!(
            b.bind("sess-1", &other).await.unwrap(),
            Binding::OtherPrincipal
        );
    }
    assert_eq!(a.check("sess-1", &ALICE).await.unwrap(), Binding::Bound);
    assert_eq!(a.bind("sess-1", &ALICE).await.unwrap(), Binding::Bound);
    // Neither the session id nor the principal is in Redis.
    let keys = all_keys(&mut c).await;
    assert_eq!(keys.len(), 1);
    let digest = keys[0].strip_prefix("mcp-auth:session:").unwrap();
    assert_eq!(digest.len(), 64);
    let value: Vec<u8> = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(value.len(), 32);
    for text in [&b"sess-1"[..], b"alice", b"app", b"as.example"] {
        assert!(!value.windows(text.len()).any(|w| w == text));
        assert!(!keys[0].as_bytes().windows(text.len()).any(|w| w == text));
    }
    // DELETE on any instance ends it everywhere.
    b.end("sess-1").await.unwrap();
    assert_eq!(a.check("sess-1", &ALICE).await.unwrap(), Binding::Unknown);
    assert!(all_keys(&mut c).await.is_empty());
    b.end("never-bound").await.unwrap();
    // A store with another secret does not read this fleet's bindings.
    a.bind("sess-2", &ALICE).await.unwrap();
    let stranger = RedisSessionStore::new(
        c.clone(),
        SessionHasher::new(vec![9u8; 32]).unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(
        stranger.check("sess-2", &ALICE).await.unwrap(),
        Binding::Unknown
    );
}

#[tokio::test]
async fn session_bindings_expire_when_idle_on_redis() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let mut c = conn(&server).await;
    let s = sessions(c.clone(), ms(400));
    assert_eq!(s.idle(), ms(400));
    let bob = Principal::new("https://as.example", Some("bob"), Some("app"));
    s.bind("busy", &ALICE).await.unwrap();
    s.bind("idle", &ALICE).await.unwrap();
    s.bind("probed", &ALICE).await.unwrap();
    for i in 0..4 {
        tokio::time::sleep(ms(150)).await;
        assert_eq!(
            s.check("busy", &ALICE).await.unwrap(),
            Binding::Bound,
            "use keeps it"
        );
        // Another principal's requests (within the first 400 ms) do not keep a session alive.
        if i < 2 {
            assert_eq!(
                s.check("probed", &bob).await.unwrap(),
                Binding::OtherPrincipal
            );
        }
    }
    assert_eq!(
        s.check("idle", &ALICE).await.unwrap(),
        Binding::Unknown,
        "600 ms idle"
    );
    assert_eq!(s.check("probed", &ALICE).await.unwrap(), Binding::Unknown);
    // An expired binding is unknown to everyone, and can be bound afresh.
    assert_eq!(s.check("idle", &bob).await.unwrap(), Binding::Unknown);
    let keys = all_keys(&mut c).await;
    assert_eq!(keys.len(), 1, "only the busy one is left: {keys:?}");
    let t = pttl(&mut c, &keys[0]).await;
    assert!((1..=400).contains(&t), "PTTL {t}");
    tokio::time::sleep(ms(600)).await;
    assert_eq!(s.check("busy", &ALICE).await.unwrap(), Binding::Unknown);
    assert!(all_keys(&mut c).await.is_empty());
}

#[tokio::test]
async fn session_store_down_is_an_error() {
    let Some(mut server) = RedisServer::start(&[]) else {
        return;
    };
    let s = sessions(conn(&server).await, Duration::from_secs(60));
    s.bind("sess-1", &ALICE).await.unwrap();
    server.stop();
    let started = Instant::now();
    let err = s.check("sess-1", &ALICE).await.unwrap_err();
    assert_eq!(err.to_string(), "session store unavailable");
    let source = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap();
    assert!(
        !source.contains("sess-1") && !source.contains("session:"),
        "{source}"
    );
    assert!(s.bind("sess-2", &ALICE).await.is_err());
    assert!(s.end("sess-1").await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Back up, empty: the old binding is gone, so it reads as unknown (404), never as bound.
    server.spawn(&[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.check("sess-1", &ALICE).await {
            Ok(b) => {
                assert_eq!(b, Binding::Unknown);
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no reconnection: {e}");
                tokio::time::sleep(ms(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn one_connection_serves_the_replay_session_and_limit_stores() {
    use mcp_auth_dpop::{JtiHash, RedisReplayStore, Replay, ReplayStore};
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    let shared = conn(&server).await;
    let replay = RedisReplayStore::from_connection(shared.clone())
        .build()
        .await
        .unwrap();
    let limits = RedisLimitStore::new(shared.clone(), SECRET.to_vec()).unwrap();
    let sessions = sessions(shared.clone(), Duration::from_secs(60));
    let until = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
        + 300;
    let jti = JtiHash::from_bytes([1; 32]);
    assert_eq!(
        replay.check_and_insert(&jti, until).await,
        Ok(Replay::Fresh)
    );
    assert_eq!(sessions.bind("s", &ALICE).await.unwrap(), Binding::Bound);
    let l = Limiter::with_store(
        Limits::new().per_address(Rate::new(1, Duration::from_secs(60), 1).unwrap()),
        limits,
    );
    assert!(address(&l, "192.0.2.1").await.is_allowed());
    assert!(!address(&l, "192.0.2.1").await.is_allowed());
    assert_eq!(
        replay.check_and_insert(&jti, until).await,
        Ok(Replay::Replayed)
    );
    assert_eq!(sessions.check("s", &ALICE).await.unwrap(), Binding::Bound);
    // Three stores, three key spaces.
    let mut c = shared;
    let keys = all_keys(&mut c).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    for prefix in ["mcp-auth:dpop:jti:", "mcp-auth:session:", "mcp-auth:limit:"] {
        assert_eq!(
            keys.iter().filter(|k| k.starts_with(prefix)).count(),
            1,
            "{keys:?}"
        );
    }
    // The trait's empty call answers without Redis.
    assert_eq!(l.store().check(&[]).await.unwrap(), Decision::Allowed);
}

/// Records every `tracing` event (level and fields) on this thread.
#[derive(Clone, Default)]
struct Recorder(Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={v:?}", f.name()));
            }
        }
        let mut fields = Fields(format!(
            "{} {}",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn an_outage_is_logged_once_without_identifiers() {
    let Some(mut server) = RedisServer::start(&[]) else {
        return;
    };
    let log = Recorder::default();
    let _guard = mcp_auth_dev::test_support::logs::capture(log.clone());
    let limiter = Limiter::with_store(
        Limits::new().per_address(Rate::new(1, Duration::from_secs(60), 5).unwrap()),
        RedisLimitStore::new(conn(&server).await, SECRET.to_vec()).unwrap(),
    );
    let s = sessions(conn(&server).await, Duration::from_secs(60));
    s.bind("secret-session-id", &ALICE).await.unwrap();
    server.stop();
    for _ in 0..3 {
        assert!(
            limiter
                .check_address(ip("203.0.113.5"))
                .unwrap()
                .await
                .is_err()
        );
        assert!(s.check("secret-session-id", &ALICE).await.is_err());
    }
    server.spawn(&[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter
        .check_address(ip("203.0.113.5"))
        .unwrap()
        .await
        .is_err()
        || s.check("secret-session-id", &ALICE).await.is_err()
    {
        assert!(Instant::now() < deadline, "no reconnection");
        tokio::time::sleep(ms(100)).await;
    }
    let lines = log.0.lock().unwrap().clone();
    let ours = |level: &str, target: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{level} {target}")))
            .count()
    };
    assert_eq!(ours("WARN", "mcp_auth::limit"), 1, "{lines:#?}");
    assert_eq!(ours("WARN", "mcp_auth::session"), 1, "{lines:#?}");
    assert_eq!(ours("INFO", "mcp_auth::limit"), 1, "back up: {lines:#?}");
    assert_eq!(ours("INFO", "mcp_auth::session"), 1, "back up: {lines:#?}");
    for l in lines.iter().filter(|l| l.contains("mcp_auth::")) {
        for secret in [
            "203.0.113",
            "secret-session-id",
            "alice",
            "127.0.0.1",
            "redis://",
        ] {
            assert!(!l.contains(secret), "{l}");
        }
    }
}
