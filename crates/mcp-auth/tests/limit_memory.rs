//! Memory of the in-memory rate-limit store under 100,000 and 200,000 distinct keys.
//!
//! Its own test binary so no other test allocates meanwhile. Run with `--nocapture` to see
//! the bytes per key (Linux: resident set size from `/proc/self/statm`).

use mcp_auth::limit::{DEFAULT_MAX_KEYS, Limiter, Limits, Rate};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn flood(l: &Limiter, from: u32, to: u32) {
    for i in from..to {
        // Half IPv4, half IPv6 in distinct /64s.
        let ip: IpAddr = if i % 2 == 0 {
            Ipv4Addr::from(0x0a00_0000 | i).into()
        } else {
            Ipv6Addr::from(u128::from(0x2001_0db8_0000_0000_u64 | u64::from(i)) << 64).into()
        };
        let d = l.check_address(ip).unwrap().into_inner().unwrap();
        assert!(d.is_allowed());
    }
}

#[test]
fn memory_stays_bounded_under_a_flood_of_distinct_addresses() {
    let limiter = Limiter::in_memory(
        Limits::new().per_address(Rate::new(1, Duration::from_secs(600), 5).unwrap()),
    );
    let before = resident_bytes();
    flood(&limiter, 0, 100_000);
    let kept = limiter.store().retained_keys();
    assert!(kept <= DEFAULT_MAX_KEYS, "{kept} keys retained");
    let at_100k = resident_bytes();
    flood(&limiter, 100_000, 200_000);
    let kept = limiter.store().retained_keys();
    assert!(
        kept <= DEFAULT_MAX_KEYS,
        "{kept} keys retained after 200,000"
    );
    let at_200k = resident_bytes();

    if let (Some(b), Some(m), Some(e)) = (before, at_100k, at_200k) {
        let first = m.saturating_sub(b);
        let second = e.saturating_sub(m);
        println!(
            "100,000 keys: +{} KiB ({} B/key); next 100,000 (evicting): +{} KiB",
            first / 1024,
            first / 100_000,
            second / 1024
        );
        assert!(first / 100_000 < 1024, "over 1 KiB per key: {first} B");
        // Past the bound, entries are replaced, not added.
        assert!(
            second < first / 2,
            "grew {second} B past the bound (first {first} B)"
        );
    }
}
