//! The Redis store against the memory store: one scripted sequence, the same clock, the same
//! answers. Needs `redis-server` (skipped without it unless `MCP_AUTH_REQUIRE_REDIS=1`).

use super::super::memory::ManualClock;
use super::super::{Decision, Limiter, Limits, MemoryLimitStore, Rate, RateLimitStore};
use super::RedisLimitStore;
use mcp_auth_core::scope::ScopeSet;
use mcp_auth_dev::test_support::redis::RedisServer;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => panic!("memory store pending"),
    }
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Rates whose refill times are seconds to minutes: the script moves "now" by hand, while
/// Redis expires keys on its own clock, so every TTL must outlast the test's real run time.
fn limits() -> Limits {
    let r = |n, s, b| Rate::new(n, Duration::from_secs(s), b).unwrap();
    Limits::new()
        .per_address(r(3, 10, 4))
        .per_principal(r(7, 20, 3))
        .per_client(r(2, 5, 5))
        .tier("mcp:admin", r(11, 30, 6), Some(r(1, 3, 2)))
}

async fn compare(seed: u64, steps: usize, server: &RedisServer) -> (usize, usize) {
    let limits = limits();
    let (memory, clock): (MemoryLimitStore, ManualClock) =
        MemoryLimitStore::with_manual_clock(&limits);
    let memory = Limiter::with_store(limits.clone(), memory);
    let conn = redis::Client::open(server.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let now = Arc::new(AtomicU64::new(0));
    let redis = Limiter::with_store(
        limits,
        RedisLimitStore::new(conn, vec![9u8; 32])
            .unwrap()
            .prefix(format!("cmp{seed}:"))
            .with_fixed_now(now.clone()),
    );
    let ips: [IpAddr; 4] = [
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
        "2001:db8:1:2::1".parse().unwrap(),
        // The same /64 as the one before: one key.
        "2001:db8:1:2:ffff::7".parse().unwrap(),
    ];
    let subjects = ["alice", "bob", "carol"];
    let clients = [Some("app-1"), Some("app-2"), None];
    let scope_sets = [
        ScopeSet::parse("mcp:read").unwrap(),
        ScopeSet::parse("mcp:read mcp:admin").unwrap(),
    ];
    let mut rng = Xorshift(seed);
    let (mut allowed, mut limited) = (0, 0);
    for step in 0..steps {
        // Mostly bursts (no time), sometimes a fraction of an interval, sometimes a long idle.
        let advance = match rng.below(20) {
            0..=13 => 0,
            14..=18 => rng.below(1_500_000_000) + 1,
            _ => rng.below(40_000_000_000),
        };
        clock.advance(Duration::from_nanos(advance));
        now.fetch_add(advance, Ordering::Relaxed);
        let (m, r) = if rng.below(2) == 0 {
            let ip = ips[rng.below(4) as usize];
            (
                ready(memory.check_address(ip).unwrap()),
                redis.check_address(ip).unwrap().await,
            )
        } else {
            let sub = subjects[rng.below(3) as usize];
            let client = clients[rng.below(3) as usize];
            let scopes = &scope_sets[rng.below(2) as usize];
            let iss = "https://as.example";
            (
                ready(
                    memory
                        .check_principal(iss, Some(sub), client, scopes)
                        .unwrap(),
                ),
                redis
                    .check_principal(iss, Some(sub), client, scopes)
                    .unwrap()
                    .await,
            )
        };
        let (m, r) = (m.unwrap(), r.unwrap());
        assert_eq!(m, r, "seed {seed}, step {step}");
        match m {
            Decision::Allowed => allowed += 1,
            Decision::Limited { .. } => limited += 1,
        }
    }
    (allowed, limited)
}

#[tokio::test]
async fn one_scripted_sequence_gets_the_memory_stores_answers() {
    let Some(server) = RedisServer::start(&[]) else {
        return;
    };
    for seed in [0x9e37_79b9_7f4a_7c15, 42, 7_777_777] {
        let (allowed, limited) = compare(seed, 400, &server).await;
        // The sequence exercises both answers, or the comparison proves little.
        assert!(
            allowed > 50 && limited > 50,
            "{allowed} allowed, {limited} limited"
        );
    }
}

#[tokio::test]
async fn no_checks_is_allowed_without_a_round_trip() {
    // A store on a Redis that is not there: an empty check list never reaches it.
    let Some(mut server) = RedisServer::start(&[]) else {
        return;
    };
    let conn = redis::Client::open(server.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    server.stop();
    let store = RedisLimitStore::new(conn, vec![1u8; 32]).unwrap();
    assert_eq!(store.check(&[]).await.unwrap(), Decision::Allowed);
    assert_eq!(store.unavailable_count(), 0);
}
