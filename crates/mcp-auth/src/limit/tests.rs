use super::*;
use memory::ManualClock;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn rate(requests: u32, period: Duration, burst: u32) -> Rate {
    Rate::new(requests, period, burst).unwrap()
}

fn manual(limits: Limits) -> (Limiter, ManualClock) {
    let (store, clock) = MemoryLimitStore::with_manual_clock(&limits);
    (Limiter::with_store(limits, store), clock)
}

fn now<F: Future<Output = Result<Decision, LimitStoreError>>>(f: F) -> Decision {
    // The memory store's future is already resolved.
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(r) => r.unwrap(),
        std::task::Poll::Pending => panic!("memory store pending"),
    }
}

fn addr(l: &Limiter, ip: &str) -> Decision {
    now(l.check_address(ip.parse().unwrap()).unwrap())
}

fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

#[test]
fn burst_then_refusal() {
    let (l, _clock) = manual(Limits::new().per_address(rate(1, secs(10), 3)));
    for _ in 0..3 {
        assert_eq!(addr(&l, "192.0.2.1"), Decision::Allowed);
    }
    assert!(!addr(&l, "192.0.2.1").is_allowed());
    // Another address has its own burst.
    assert_eq!(addr(&l, "192.0.2.2"), Decision::Allowed);
}

#[test]
fn refill_after_the_period() {
    let (l, clock) = manual(Limits::new().per_address(rate(2, secs(10), 2)));
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert!(!addr(&l, "192.0.2.1").is_allowed());
    clock.advance(Duration::from_millis(4_900));
    assert!(
        !addr(&l, "192.0.2.1").is_allowed(),
        "one emission interval is 5 s"
    );
    clock.advance(Duration::from_millis(100));
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert!(!addr(&l, "192.0.2.1").is_allowed());
    clock.advance(secs(10));
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert!(!addr(&l, "192.0.2.1").is_allowed());
}

#[test]
fn retry_after_is_the_wait_rounded_up() {
    let (l, clock) = manual(Limits::new().per_address(rate(1, secs(30), 1)));
    assert!(addr(&l, "192.0.2.1").is_allowed());
    let d = addr(&l, "192.0.2.1");
    assert_eq!(
        d,
        Decision::Limited {
            retry_after: secs(30)
        }
    );
    assert_eq!(d.retry_after_secs(), Some(30));
    clock.advance(Duration::from_millis(100));
    let d = addr(&l, "192.0.2.1");
    assert_eq!(
        d,
        Decision::Limited {
            retry_after: Duration::from_millis(29_900)
        }
    );
    assert_eq!(d.retry_after_secs(), Some(30), "29.9 s rounds up");
    clock.advance(Duration::from_millis(29_899));
    assert_eq!(
        addr(&l, "192.0.2.1").retry_after_secs(),
        Some(1),
        "1 ms rounds up to 1"
    );
    assert_eq!(Decision::Allowed.retry_after_secs(), None);
    assert_eq!(
        Decision::Limited {
            retry_after: Duration::ZERO
        }
        .retry_after_secs(),
        Some(1)
    );
}

#[test]
fn ipv6_addresses_share_a_limit_per_64() {
    let (l, _clock) = manual(Limits::new().per_address(rate(1, secs(60), 2)));
    assert!(addr(&l, "2001:db8:1:2::1").is_allowed());
    assert!(addr(&l, "2001:db8:1:2::2").is_allowed());
    assert!(!addr(&l, "2001:db8:1:2:ffff::9").is_allowed(), "same /64");
    assert!(addr(&l, "2001:db8:1:3::1").is_allowed(), "next /64");
    // IPv4 is per address.
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert!(addr(&l, "192.0.2.2").is_allowed());
}

#[test]
fn tiers_follow_a_scope_the_token_holds() {
    let (l, _clock) = manual(
        Limits::new()
            .per_principal(rate(1, secs(60), 2))
            .per_client(rate(1, secs(60), 3))
            .tier("mcp:admin", rate(1, secs(60), 5), None),
    );
    let user = |s: &ScopeSet, sub: &str| {
        now(l
            .check_principal("https://as", Some(sub), Some("app"), s)
            .unwrap())
    };
    let read = scopes("mcp:read");
    let admin = scopes("mcp:read mcp:admin");
    // Default tier: the principal's burst of 2.
    assert!(user(&read, "alice").is_allowed());
    assert!(user(&read, "alice").is_allowed());
    assert!(!user(&read, "alice").is_allowed());
    // Another principal of the same client: the client's burst of 3 is now used up
    // (alice's 2 allowed + bob's 1; alice's refused request stopped at the principal check).
    assert!(user(&read, "bob").is_allowed());
    assert!(!user(&read, "bob").is_allowed(), "client app is over its 3");
    // Admin tier: 5 per principal, no client limit, counted apart.
    for i in 0..5 {
        assert!(user(&admin, "alice").is_allowed(), "admin request {i}");
    }
    assert!(!user(&admin, "alice").is_allowed());
    // Issuers keep principals apart.
    assert!(
        now(l
            .check_principal("https://other", Some("alice"), None, &read)
            .unwrap())
        .is_allowed()
    );
}

#[test]
fn nothing_configured_checks_nothing() {
    let l = Limiter::in_memory(Limits::new());
    assert!(l.limits().is_empty());
    assert!(l.check_address("192.0.2.1".parse().unwrap()).is_none());
    assert!(
        l.check_principal("https://as", Some("a"), Some("c"), &scopes("x"))
            .is_none()
    );
    // A tier without a client rate, and no subject: nothing to count.
    let l = Limiter::in_memory(Limits::new().tier("mcp:admin", rate(1, secs(1), 1), None));
    assert!(
        l.check_principal("https://as", None, Some("c"), &scopes("mcp:admin"))
            .is_none()
    );
}

#[test]
fn a_store_built_for_other_limits_errors_rather_than_guessing() {
    let store = MemoryLimitStore::new(&Limits::new().per_address(rate(1, secs(1), 1)));
    let l = Limiter::with_store(Limits::new().per_address(rate(9, secs(1), 9)), store);
    let r = now_result(l.check_address("192.0.2.1".parse().unwrap()).unwrap());
    assert!(r.is_err());
}

fn now_result(f: MemoryLimitStoreFuture) -> Result<Decision, LimitStoreError> {
    f.into_inner()
}

#[test]
fn bad_rates_are_refused() {
    assert_eq!(Rate::new(0, secs(1), 1), Err(InvalidRate::Zero));
    assert_eq!(Rate::new(1, secs(1), 0), Err(InvalidRate::Zero));
    assert_eq!(Rate::new(1, Duration::ZERO, 1), Err(InvalidRate::TooFast));
    assert_eq!(
        Rate::new(u32::MAX, Duration::from_nanos(10), 1),
        Err(InvalidRate::TooFast)
    );
    let r = rate(10, secs(60), 5);
    assert_eq!(r.emission_interval(), secs(6));
    assert_eq!(r.refill_time(), secs(30));
}

#[test]
fn retained_keys_stay_under_the_bound_with_100_000_distinct_keys() {
    const BOUND: u64 = 10_000;
    let (l, _clock) = manual(
        Limits::new()
            .per_address(rate(1, secs(60), 1))
            .per_principal(rate(1, secs(60), 1))
            .max_keys(BOUND),
    );
    let read = scopes("mcp:read");
    for i in 0u32..100_000 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 | i);
        assert!(now(l.check_address(ip.into()).unwrap()).is_allowed());
        let sub = i.to_string();
        assert!(
            now(l
                .check_principal("https://as", Some(&sub), None, &read)
                .unwrap())
            .is_allowed()
        );
        if i % 10_000 == 0 {
            assert!(l.store().retained_keys() <= BOUND);
        }
    }
    let kept = l.store().retained_keys();
    assert!(kept <= BOUND, "{kept} keys retained, bound {BOUND}");
    assert!(kept > BOUND / 2, "the cache is used: {kept}");
    // An abuser that keeps sending keeps its state through the flood.
    let abuser = "198.51.100.1";
    assert!(addr(&l, abuser).is_allowed());
    for i in 0u32..20_000 {
        let _ = now(l
            .check_address(std::net::Ipv4Addr::from(0x0b00_0000 | i).into())
            .unwrap());
        if i % 100 == 0 {
            assert!(
                !addr(&l, abuser).is_allowed(),
                "abuser forgiven after {i} flood keys"
            );
        }
    }
}

#[test]
fn idle_keys_are_evicted_after_the_refill_time() {
    // moka's time_to_idle runs on its own clock: use a real, short refill time.
    let l = Limiter::in_memory(Limits::new().per_address(rate(10, Duration::from_millis(100), 1)));
    assert!(addr(&l, "192.0.2.1").is_allowed());
    assert_eq!(l.store().retained_keys(), 1);
    std::thread::sleep(Duration::from_millis(150)); // refill time: 10 ms
    assert_eq!(l.store().retained_keys(), 0);
}

#[test]
fn debug_prints_no_identifier() {
    let k = LimitKey::Principal {
        issuer: "https://as",
        subject: "alice@example.com",
    };
    assert_eq!(format!("{k:?}"), "Principal(..)");
    let l = Limiter::in_memory(Limits::new().per_address(rate(1, secs(1), 1)));
    assert!(format!("{l:?}").contains("max_keys: Some(100000)"));
}

/// Why `MemoryLimitStore` does not use governor's own keyed store: `retain_recent` drops only
/// keys back to "fresh", so a flood of distinct keys inside one refill time all stay.
#[test]
fn governors_keyed_store_keeps_every_key_of_a_flood() {
    let quota = governor::Quota::per_minute(std::num::NonZeroU32::new(1).unwrap());
    let keyed = governor::RateLimiter::hashmap(quota);
    for i in 0u32..100_000 {
        assert!(keyed.check_key(&i).is_ok());
    }
    keyed.retain_recent();
    assert_eq!(keyed.len(), 100_000);
}

fn context(iss: &str, sub: &str, client: &str) -> crate::AuthContext {
    let mut claims = mcp_auth_core::claims::Claims::default();
    claims.iss = Some(iss.to_owned());
    claims.sub = Some(sub.to_owned());
    claims.client_id = Some(client.to_owned());
    let hash = mcp_auth_core::TokenHash::of(b"t");
    crate::AuthContext::new(claims, ScopeSet::new(), hash)
}

fn principal(l: &Limiter, iss: &str, sub: Option<&str>, client: Option<&str>) -> Decision {
    now(l
        .check_principal(iss, sub, client, &ScopeSet::new())
        .unwrap())
}

#[test]
fn a_contexts_cached_keys_are_the_stores_own_keys() {
    // Issue 18: a verified context keeps the keyed hashes of its principal and client id
    // (computed once); the memoized key must be the key the store computes without it, and
    // a second store must compute its own, whatever the first one left in the context.
    let limits = Limits::new()
        .per_principal(rate(1, secs(60), 1))
        .per_client(rate(1, secs(60), 2));
    let ctx = context("https://as.example", "alice", "app");
    let (a, _) = manual(limits.clone());
    assert!(now(a.check_context(&ctx).unwrap()).is_allowed());
    assert!(
        !principal(&a, "https://as.example", Some("alice"), None).is_allowed(),
        "the memoized principal key is the uncached one"
    );
    assert!(principal(&a, "https://as.example", None, Some("app")).is_allowed());
    assert!(
        !now(a.check_context(&ctx).unwrap()).is_allowed(),
        "the memoized key is reused"
    );
    assert!(
        !principal(&a, "https://as.example", None, Some("app")).is_allowed(),
        "the memoized client key is the uncached one (its burst of 2 is spent)"
    );
    let (b, _) = manual(limits);
    assert!(principal(&b, "https://as.example", Some("alice"), None).is_allowed());
    assert!(
        !now(b.check_context(&ctx).unwrap()).is_allowed(),
        "another store keys the context with its own seeds"
    );
    let other = context("https://as.example", "bob", "app2");
    assert!(now(b.check_context(&other).unwrap()).is_allowed());
}

#[test]
fn a_request_time_is_read_once_and_reused() {
    // The pre-auth and post-auth checks of one request without I/O share one clock read.
    let limits = Limits::new()
        .per_address(rate(1, secs(10), 1))
        .per_principal(rate(1, secs(10), 1));
    let (l, clock) = manual(limits);
    let ip = "192.0.2.1".parse().unwrap();
    let ask = |s: &MemoryLimitStore, c: &[LimitCheck<'_>]| s.check_now(c).unwrap().unwrap();
    let t = RequestTime::default();
    assert!(l.on_address_at(ip, Some(&t), ask).unwrap().is_allowed());
    assert!(principal(&l, "i", Some("s"), None).is_allowed());
    clock.advance(secs(10));
    // Ten seconds later on the store's clock, but at the request's time: still refused.
    let memo = Memo {
        keys: None,
        now: Some(&t),
    };
    let at_t = l.on_principal("i", Some("s"), None, &ScopeSet::new(), memo, ask);
    assert_eq!(
        at_t.unwrap().retry_after_secs(),
        Some(10),
        "answered at the time the request read first"
    );
    let fresh = l.on_principal("i", Some("s"), None, &ScopeSet::new(), Memo::default(), ask);
    assert!(
        fresh.unwrap().is_allowed(),
        "without it, the store reads its clock"
    );
    // A new request reads the clock anew.
    let t2 = RequestTime::default();
    assert!(l.on_address_at(ip, Some(&t2), ask).unwrap().is_allowed());
}

#[test]
fn the_layers_in_memory_path_counts_exactly_as_the_store_trait() {
    // The layer asks a memory store through `address_now` / `context_now` (no check list);
    // every answer, `retry_after` included, must be the one `RateLimitStore::check` gives
    // for the same sequence of requests and clock moves. Two stores, one per path.
    let limits = Limits::new()
        .per_address(rate(3, secs(1), 2))
        .per_principal(rate(2, secs(1), 3))
        .per_client(rate(5, secs(1), 4))
        .tier("mcp:admin", rate(10, secs(1), 5), Some(rate(1, secs(2), 1)));
    let (trait_path, trait_clock) = manual(limits.clone());
    let (fast_path, fast_clock) = manual(limits.clone());
    let ips: Vec<std::net::IpAddr> = ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2:1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let with_scopes = |sub: &str, client: &str, scopes: &str| {
        let mut claims = mcp_auth_core::claims::Claims::default();
        claims.iss = Some("https://as.example".to_owned());
        claims.sub = Some(sub.to_owned());
        claims.client_id = Some(client.to_owned());
        let hash = mcp_auth_core::TokenHash::of(sub.as_bytes());
        crate::AuthContext::new(claims, ScopeSet::parse(scopes).unwrap(), hash)
    };
    let contexts = [
        with_scopes("alice", "app", "mcp:read"),
        with_scopes("bob", "app", "mcp:read"),
        with_scopes("carol", "ops", "mcp:admin"),
        with_scopes("alice", "ops", "mcp:admin mcp:read"),
    ];
    let (mut seed, mut limited, mut allowed) = (0x2545_f491_4f6c_dd1du64, 0, 0);
    for step in 0..4_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pick = usize::try_from(seed % 1_000).unwrap();
        let (by_trait, by_fast) = if pick < 450 {
            let ip = ips[pick % ips.len()];
            let t = RequestTime::default();
            let fast = fast_path
                .store()
                .address_now(crate::client_addr::AddrKey::new(ip), &t);
            (addr(&trait_path, &ip.to_string()), fast.unwrap())
        } else if pick < 900 {
            let ctx = &contexts[pick % contexts.len()];
            let fast = fast_path.store().context_now(&limits, ctx, None).unwrap();
            (now(trait_path.check_context(ctx).unwrap()), fast.unwrap())
        } else {
            let by = Duration::from_millis(seed % 700);
            trait_clock.advance(by);
            fast_clock.advance(by);
            continue;
        };
        assert_eq!(by_trait, by_fast, "step {step}");
        match by_trait {
            Decision::Allowed => allowed += 1,
            Decision::Limited { .. } => limited += 1,
        }
    }
    // The sequence exercised both answers, or the comparison proves little.
    assert!(
        allowed > 500 && limited > 500,
        "{allowed} allowed, {limited} limited"
    );
    // The in-memory path trusts the store's slots, so only a store made for these limits
    // takes it; a store made for other rates is asked as any store (which answers a rate it
    // does not count with an error, and the layer fails open on it).
    assert!(fast_path.store().serves(&limits));
    let other_limits = Limits::new().per_address(rate(1, secs(9), 1));
    assert!(!MemoryLimitStore::new(&other_limits).serves(&limits));
    let route = |store: MemoryLimitStore| {
        let mut settings = crate::operations::Settings::default();
        settings.set_limiter(Limiter::with_store(limits.clone(), store));
        let (memory, ops) = settings.build();
        (memory.is_some(), ops.is_some())
    };
    assert_eq!(route(MemoryLimitStore::new(&limits)), (true, false));
    assert_eq!(route(MemoryLimitStore::new(&other_limits)), (false, true));
    let other = MemoryLimitStore::new(&other_limits);
    assert!(
        other
            .context_now(&limits, &contexts[0], None)
            .unwrap()
            .is_err(),
        "a slot the store lacks is an error, not a guess"
    );
}

#[test]
fn contexts_of_one_principal_share_its_cell_through_turnovers() {
    // A verified context counts on the store's cell for its principal (no lock, no map
    // probe); a second token of the same principal finds the same state, a turnover keeps a
    // cell contexts keep using, and a dropped cell sends its context back to the table.
    let limits = Limits::new()
        .per_principal(rate(1, secs(60), 3))
        .max_keys(8); // one shard, generations of 4
    let (l, clock) = manual(limits.clone());
    let store = l.store();
    let first = context("https://as.example", "alice", "app");
    let second = context("https://as.example", "alice", "app");
    let ask = |ctx: &crate::AuthContext| store.context_now(&limits, ctx, None).unwrap().unwrap();
    assert!(ask(&first).is_allowed());
    assert!(
        ask(&second).is_allowed(),
        "the second token: through the table"
    );
    assert!(
        ask(&first).is_allowed(),
        "the first token: through its memo's cell"
    );
    assert!(
        !ask(&second).is_allowed(),
        "one burst of 3 for the principal"
    );
    assert!(!ask(&first).is_allowed());
    // Many other principals through the table: turnovers. Alice's cell, used by her
    // contexts between them, is kept and stays limited.
    for i in 0..40 {
        let other = context("https://as.example", &format!("u{i}"), "app");
        assert!(ask(&other).is_allowed());
        if i % 3 == 0 {
            assert!(!ask(&first).is_allowed(), "kept through turnover {i}");
        }
    }
    assert!(store.retained_keys() <= 8, "{store:?}");
    // Unused for two generations, her cell is forgotten: a fresh burst (the documented
    // forgiveness of a turnover), counted on a new cell the memo does not hold.
    for i in 100..120 {
        let other = context("https://as.example", &format!("u{i}"), "app");
        assert!(ask(&other).is_allowed());
    }
    assert!(ask(&first).is_allowed(), "forgotten: a full burst again");
    assert!(ask(&second).is_allowed());
    assert!(ask(&first).is_allowed());
    assert!(
        !ask(&second).is_allowed(),
        "both tokens count on the new state"
    );
    // Back to fresh after the refill time: the table may sweep a cell no context holds,
    // never one a context holds (its memo would lose the state).
    clock.advance(secs(300));
    let held = store.retained_keys();
    assert!(held >= 1, "the cell alice's contexts hold is kept");
    drop((first, second));
    assert_eq!(
        store.retained_keys(),
        held - 1,
        "dropped with its last context"
    );
}

#[test]
fn the_stores_gcra_answers_as_governors() {
    // The memory store computes GCRA as a step on a key's TAT (so verified contexts can
    // count on a shared cell without the table's lock); governor is the reference: on a
    // random sequence of requests from three addresses and clock moves, every answer and
    // every wait equals governor's keyed limiter's under a fake clock.
    use governor::clock::{Clock, FakeRelativeClock};
    let rates = [
        rate(3, secs(1), 2),
        rate(1, secs(60), 1),
        rate(100, secs(1), 50),
        rate(7, Duration::from_millis(900), 3),
    ];
    for r in rates {
        let (ours, clock) = manual(Limits::new().per_address(r));
        let fake = FakeRelativeClock::default();
        let theirs = governor::RateLimiter::hashmap_with_clock(r.quota(), fake.clone());
        let (mut seed, mut limited) = (0x9e37_79b9_7f4a_7c15u64, 0);
        for step in 0..3_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed % 4 == 0 {
                // Up to one emission interval (each key asks about twice its rate): both
                // answers, and refills mid-burst.
                let span = u64::try_from(r.emission_interval().as_nanos()).unwrap();
                let by = Duration::from_nanos(seed % span);
                clock.advance(by);
                fake.advance(by);
                continue;
            }
            let key = u8::try_from(seed % 3).unwrap();
            let expected = match theirs.check_key(&key) {
                Ok(()) => Decision::Allowed,
                Err(not_until) => Decision::Limited {
                    retry_after: not_until
                        .wait_time_from(fake.now())
                        .max(Duration::from_nanos(1)),
                },
            };
            let got = addr(&ours, &format!("192.0.2.{key}"));
            assert_eq!(got, expected, "{r:?}, step {step}");
            limited += usize::from(!got.is_allowed());
        }
        assert!(
            limited > 100,
            "{r:?}: {limited} refusals, too few to compare"
        );
    }
}
