//! The memory store's generations, sweep and synchronous answers.
use super::super::{Limiter, Rate};
use super::*;

fn ip(last: u8) -> std::net::IpAddr {
    std::net::Ipv4Addr::new(192, 0, 2, last).into()
}

fn store(limits: &Limits) -> (Limiter, ManualClock) {
    let (store, clock) = MemoryLimitStore::with_manual_clock(limits);
    (Limiter::with_store(limits.clone(), store), clock)
}

fn allowed(l: &Limiter, last: u8) -> bool {
    let answer = l.on_address(ip(last), |s, c| s.check_now(c)).unwrap();
    answer.unwrap().unwrap().is_allowed()
}

#[test]
fn check_now_counts_exactly_as_check() {
    let limits = Limits::new().per_address(Rate::new(1, Duration::from_secs(60), 4).unwrap());
    let (l, _clock) = store(&limits);
    // The answer through `check_address` (the trait's synchronous path), for the same address.
    let checked = || {
        l.check_address(ip(1))
            .unwrap()
            .into_inner()
            .unwrap()
            .is_allowed()
    };
    assert!(allowed(&l, 1));
    assert!(checked());
    assert!(allowed(&l, 1));
    assert!(checked());
    assert!(
        !allowed(&l, 1),
        "the fifth request of a burst of 4, whichever path"
    );
    assert!(!checked());
    // A store that answers only through its future keeps the default: no sync answer.
    struct Later;
    impl RateLimitStore for Later {
        type Future = MemoryLimitStoreFuture;
        fn check(&self, _: &[LimitCheck<'_>]) -> Self::Future {
            std::future::ready(Ok(Decision::Allowed))
        }
    }
    let later = Limiter::with_store(limits, Later);
    assert!(
        later
            .on_address(ip(1), |s, c| s.check_now(c))
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_turnover_forgets_only_the_old_generation() {
    // One shard of 4 keys: generations of 2.
    let limits = Limits::new()
        .per_address(Rate::new(1, Duration::from_secs(60), 1).unwrap())
        .max_keys(4);
    let (l, _clock) = store(&limits);
    assert!(allowed(&l, 1) && allowed(&l, 2)); // young {1, 2}
    assert!(allowed(&l, 3)); // turnover: old {1, 2}, young {3}
    assert!(!allowed(&l, 1), "1 kept its state in the old generation"); // young {3, 1}
    assert!(allowed(&l, 4)); // turnover: old {3, 1}, young {4}; 2 forgotten
    assert!(l.store().retained_keys() <= 4);
    // 3 moves to young {4, 3}; 1 turns it over: old {4, 3}, young {1}.
    assert!(
        !allowed(&l, 3) && !allowed(&l, 1),
        "used within a generation: kept"
    );
    assert!(allowed(&l, 2), "2 was forgotten: a full burst again"); // young {1, 2}
    assert_eq!(l.store().retained_keys(), 4, "{:?}", l.store());
    assert!(!allowed(&l, 4), "4 is in the old generation");
}

#[test]
fn keys_back_to_fresh_are_swept_and_answer_as_new() {
    let limits = Limits::new().per_address(Rate::new(1, Duration::from_secs(1), 2).unwrap());
    let (l, clock) = store(&limits);
    for last in 0..10 {
        assert!(allowed(&l, last));
    }
    assert!(allowed(&l, 0) && !allowed(&l, 0));
    assert_eq!(l.store().retained_keys(), 10);
    clock.advance(Duration::from_millis(1_999));
    assert_eq!(
        l.store().retained_keys(),
        1,
        "only 0 is not yet back to fresh"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(l.store().retained_keys(), 0);
    // Swept or not, a fresh key has its full burst.
    assert!(allowed(&l, 0) && allowed(&l, 0) && !allowed(&l, 0));
}
