//! The per-address rate limit of `/register` and `/token`
//! ([`DevAuthorizationServerBuilder::rate_limit`](super::DevAuthorizationServerBuilder::rate_limit)).
//!
//! GCRA (the `governor` crate) per client address and endpoint, IPv6 per /64; the per-key
//! state in a bounded `moka` cache (least recently used out past
//! [`DevRateLimit::max_addresses`], and a key idle for the time its burst takes to refill
//! is dropped, when its state equals a fresh key's). A refusal is `429 Too Many Requests`
//! (RFC 6585 §4) with `Retry-After` in whole seconds (RFC 9110 §10.2.3) and an OAuth error
//! body, `temporarily_unavailable` ("temporarily unable to handle the request due to a
//! temporary overloading", RFC 6749 §4.1.2.1, an error code registered for OAuth).
//!
//! The address is the TCP peer (axum's `ConnectInfo<SocketAddr>`, which
//! [`serve`](super::DevAuthorizationServer::serve) provides). A router merged into another
//! app that is served without `into_make_service_with_connect_info::<SocketAddr>()` has no
//! peer address, and its requests are not limited.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, MonotonicClock};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use moka::sync::Cache;

use super::error::OAuthError;

/// The default rate: 10 requests per second per address and endpoint.
pub const DEFAULT_RATE_LIMIT_PER_SECOND: u32 = 10;
/// The default burst: 100 requests at once (a test suite's registrations and token calls
/// from one loopback address fit; a flood does not).
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 100;
/// The default bound on the addresses whose state is kept.
pub const DEFAULT_RATE_LIMIT_MAX_ADDRESSES: u64 = 10_000;

/// The per-address limit of `/register` and `/token`: `requests` per `period` on average,
/// `burst` at once, each endpoint counted apart.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DevRateLimit {
    requests: NonZeroU32,
    period: Duration,
    burst: NonZeroU32,
    max_addresses: u64,
}

impl fmt::Debug for DevRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{:?} burst {} (at most {} addresses)",
            self.requests, self.period, self.burst, self.max_addresses
        )
    }
}

impl Default for DevRateLimit {
    /// [`DEFAULT_RATE_LIMIT_PER_SECOND`] per second, [`DEFAULT_RATE_LIMIT_BURST`] at once,
    /// [`DEFAULT_RATE_LIMIT_MAX_ADDRESSES`] addresses.
    fn default() -> Self {
        Self {
            requests: NonZeroU32::new(DEFAULT_RATE_LIMIT_PER_SECOND).unwrap_or(NonZeroU32::MIN),
            period: Duration::from_secs(1),
            burst: NonZeroU32::new(DEFAULT_RATE_LIMIT_BURST).unwrap_or(NonZeroU32::MIN),
            max_addresses: DEFAULT_RATE_LIMIT_MAX_ADDRESSES,
        }
    }
}

impl DevRateLimit {
    /// `requests` per `period`, `burst` at once; `None` if a count is zero or
    /// `period / requests` is under a nanosecond.
    #[must_use]
    pub fn new(requests: u32, period: Duration, burst: u32) -> Option<Self> {
        let requests = NonZeroU32::new(requests)?;
        let burst = NonZeroU32::new(burst)?;
        if (period / requests.get()).is_zero() {
            return None;
        }
        Some(Self {
            requests,
            period,
            burst,
            max_addresses: DEFAULT_RATE_LIMIT_MAX_ADDRESSES,
        })
    }

    /// The bound on addresses (and /64s) whose state is kept, both endpoints together
    /// (default [`DEFAULT_RATE_LIMIT_MAX_ADDRESSES`], at least 1).
    #[must_use]
    pub fn max_addresses(mut self, max: u64) -> Self {
        self.max_addresses = max.max(1);
        self
    }

    fn emission_interval(&self) -> Duration {
        self.period / self.requests.get()
    }
}

/// Which endpoint a key counts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    Register,
    Token,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Addr {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl Addr {
    fn new(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut p = [0; 8];
                p.copy_from_slice(&v6.octets()[..8]);
                Self::V6Prefix(p)
            }
        }
    }
}

type Key = (Endpoint, Addr);

/// governor's state store over a bounded cache: an evicted key comes back fresh.
#[derive(Clone)]
struct Bounded(Cache<Key, Arc<InMemoryState>>);

impl StateStore for Bounded {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let state = self.0.get_with(*key, || Arc::new(InMemoryState::default()));
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

type Gcra = governor::RateLimiter<
    Key,
    Bounded,
    MonotonicClock,
    governor::middleware::NoOpMiddleware<<MonotonicClock as Clock>::Instant>,
>;

/// The limiter the two endpoints share.
pub(crate) struct AddrLimiter {
    gcra: Gcra,
    cache: Cache<Key, Arc<InMemoryState>>,
    clock: MonotonicClock,
}

impl fmt::Debug for AddrLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddrLimiter")
            .field("keys", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl AddrLimiter {
    pub(crate) fn new(limit: DevRateLimit) -> Self {
        let interval = limit.emission_interval();
        let refill = interval
            .saturating_mul(limit.burst.get())
            .max(Duration::from_millis(1));
        let cache = Cache::builder()
            .max_capacity(limit.max_addresses)
            // LRU: an abuser that keeps sending keeps its state through a flood of one-shot
            // addresses (TinyLFU would refuse a new key's admission instead).
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_idle(refill)
            .build();
        // `new` refused a zero interval.
        let quota = governor::Quota::with_period(interval)
            .unwrap_or_else(|| governor::Quota::per_second(limit.requests))
            .allow_burst(limit.burst);
        let clock = MonotonicClock;
        Self {
            gcra: Gcra::new(quota, Bounded(cache.clone()), clock.clone()),
            cache,
            clock,
        }
    }

    /// `None`: go on; `Some(wait)`: refused until `wait` passed.
    pub(crate) fn check(&self, endpoint: Endpoint, ip: IpAddr) -> Option<Duration> {
        self.gcra
            .check_key(&(endpoint, Addr::new(ip)))
            .err()
            .map(|not_until| {
                not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_nanos(1))
            })
    }

    /// The keys held now, after the cache's pending evictions.
    #[cfg(test)]
    pub(crate) fn retained(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

/// The 429 answer.
fn too_many_requests(wait: Duration) -> Response {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut resp = OAuthError {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "temporarily_unavailable",
        description: "too many requests from this address; retry after the Retry-After delay"
            .into(),
        dpop_nonce: None,
    }
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// The middleware of `/register` and `/token`.
pub(crate) async fn limit(
    State((limiter, endpoint)): State<(Arc<AddrLimiter>, Endpoint)>,
    req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
    if let Some(wait) = peer.and_then(|ConnectInfo(addr)| limiter.check(endpoint, addr.ip())) {
        return too_many_requests(wait);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_refusal_and_keys() {
        let l = AddrLimiter::new(DevRateLimit::new(1, Duration::from_secs(60), 2).unwrap());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(l.check(Endpoint::Token, ip("192.0.2.1")), None);
        assert_eq!(l.check(Endpoint::Token, ip("192.0.2.1")), None);
        let wait = l.check(Endpoint::Token, ip("192.0.2.1")).unwrap();
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        // Each endpoint and address counts apart; an IPv6 /64 is one address.
        assert_eq!(l.check(Endpoint::Register, ip("192.0.2.1")), None);
        assert_eq!(l.check(Endpoint::Token, ip("::ffff:192.0.2.2")), None);
        assert_eq!(l.check(Endpoint::Token, ip("192.0.2.2")), None);
        assert!(
            l.check(Endpoint::Token, ip("192.0.2.2")).is_some(),
            "v4-mapped is v4"
        );
        assert_eq!(l.check(Endpoint::Token, ip("2001:db8::1")), None);
        assert_eq!(l.check(Endpoint::Token, ip("2001:db8::2")), None);
        assert!(l.check(Endpoint::Token, ip("2001:db8::ffff")).is_some());
        assert_eq!(l.check(Endpoint::Token, ip("2001:db8:0:1::1")), None);
    }

    #[test]
    fn state_is_bounded_under_a_flood_of_addresses() {
        let l = AddrLimiter::new(
            DevRateLimit::new(1, Duration::from_secs(60), 1)
                .unwrap()
                .max_addresses(1_000),
        );
        let abuser: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(l.check(Endpoint::Register, abuser), None);
        for i in 0..20_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.check(Endpoint::Register, ip);
            if i % 500 == 0 {
                // The abuser keeps sending and stays limited.
                assert!(l.check(Endpoint::Register, abuser).is_some(), "at {i}");
            }
        }
        assert!(l.retained() <= 1_000, "{} keys", l.retained());
    }

    #[test]
    fn the_answer_is_429_with_retry_after_and_an_oauth_error() {
        let r = too_many_requests(Duration::from_millis(1_200));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            too_many_requests(Duration::from_nanos(1)).headers()[header::RETRY_AFTER],
            "1"
        );
        assert!(DevRateLimit::new(0, Duration::from_secs(1), 1).is_none());
        assert!(DevRateLimit::new(1, Duration::from_secs(1), 0).is_none());
        assert!(DevRateLimit::new(2, Duration::from_nanos(1), 1).is_none());
    }
}
