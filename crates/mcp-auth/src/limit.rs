//! Rate limits: 429 with `Retry-After` before and after the token decision.
//!
//! Two places on the request path, in this order (issue 18):
//!
//! 1. **Pre-auth**, right after the `Origin` check and before any token work, per client
//!    address ([`Limiter::check_address`], the address from
//!    [`client_ip`](crate::client_addr::client_ip)): a flood of junk costs a hash lookup.
//! 2. **Post-auth**, after the token was accepted, per principal (issuer and subject) and per
//!    client id ([`Limiter::check_principal`]), at a rate chosen by the first configured
//!    [tier](Limits::tier) whose scope the token holds.
//!
//! Each check is GCRA (the generic cell rate algorithm, as the `governor` crate computes
//! it; see [`MemoryLimitStore`]): `requests` per `period` on average, at most
//! `burst` at once. A refusal carries the time until one more request conforms, which the
//! layer sends as `Retry-After` in whole seconds, rounded up ([`Decision::retry_after_secs`]).
//!
//! # Memory
//!
//! The in-memory store ([`MemoryLimitStore`]) keeps each key's GCRA state (one `u64`, the
//! theoretical arrival time) in a bounded map of its own rather than governor's keyed store:
//! governor's `DashMap` store grows with every distinct key until `retain_recent` runs, and
//! `retain_recent` only drops keys that are back to "fresh", so a flood of distinct keys
//! inside one period is never dropped by it. Here:
//!
//! - **bound**: at most [`Limits::max_keys`] keys (default [`DEFAULT_MAX_KEYS`]), all checks
//!   together, split evenly over up to 64 shards (a keyed hash picks the shard). Each shard
//!   keeps two generations of at most half its share: keys used since the last turnover, and
//!   the generation before. When the young one is full it becomes the old one and the old
//!   one is forgotten; a key found in the old generation moves to the young one. So a key
//!   keeps its state as long as it is used again before half its shard's share of new keys
//!   arrived (about `max_keys / 2` distinct keys across the store): an abuser that keeps
//!   sending stays limited through a flood of one-shot keys;
//! - **idle eviction**: a key whose state is back to fresh (its theoretical arrival time has
//!   passed, at the latest one refill time of its rate after its last request) is swept
//!   from its shard by the first check into that shard once the longest refill time of the
//!   configured rates has passed since the shard's last sweep, before a turnover, and by
//!   [`MemoryLimitStore::retained_keys`]; GCRA decides for such a key exactly as for an
//!   absent one, so that eviction changes no decision. A principal's or client's state that
//!   a verified context in the token cache holds (below) is not swept while it is held.
//!
//! A principal's and a client id's state is a cell that the verified contexts of that
//! principal (or client) hold as well (in the context's memo, shared by every hit of the
//! token cache): a cached token's post-auth checks count on the cells by compare-and-swap,
//! without the shard lock or the map probe, on the same state as every other token of the
//! principal. A turnover keeps a cell that contexts used since the previous turnover (their
//! use does not pass through the map); a cell the table dropped is seen as dropped, and the
//! context asks the table again.
//!
//! A key forgotten by a turnover starts again with a full burst: under a flood of more
//! distinct keys than the bound, a limited key may be forgiven early. Size the bound above
//! twice the number of clients expected within one refill time. An entry is 48 bytes (the
//! key's hash, slot and 128-bit id, and the state: an address's TAT, or a pointer to a
//! principal's or client's 32-byte cell) in std's `HashMap`; the test
//! `limit_memory` measures about 70 bytes of resident memory per key under a flood of
//! distinct addresses, about 7 MB at the default bound, and no growth past the bound (a
//! principal's or client's key adds its cell, 48 bytes with the allocator's header).
//!
//! Principals and client ids are kept as a 128-bit keyed hash (foldhash, seeds random per
//! process), never as text: memory per key is fixed and no identifier sits in the cache.
//!
//! # Stores
//!
//! [`RateLimitStore`] is what a fleet-wide store implements; its future resolves to an error
//! when the store is unreachable, and the layer lets the request through (fail open) with a
//! counter and a warning. `RedisLimitStore` (feature `redis`) is one: the same GCRA and the
//! same answers as the memory store, all the checks of one request in one atomic Lua script,
//! keys hashed under a secret the fleet shares and expiring when idle (see
//! docs/operations.md for running it).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use mcp_auth::limit::{Decision, Limiter, Limits, Rate};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let limits = Limits::new()
//!     .per_address(Rate::new(2, Duration::from_secs(60), 2).unwrap())
//!     .per_principal(Rate::new(60, Duration::from_secs(60), 10).unwrap())
//!     .tier("mcp:admin", Rate::new(600, Duration::from_secs(60), 100).unwrap(), None);
//! let limiter = Limiter::in_memory(limits);
//! let ip = "192.0.2.1".parse().unwrap();
//! assert_eq!(limiter.check_address(ip).unwrap().await.unwrap(), Decision::Allowed);
//! assert_eq!(limiter.check_address(ip).unwrap().await.unwrap(), Decision::Allowed);
//! let refused = limiter.check_address(ip).unwrap().await.unwrap();
//! assert_eq!(refused.retry_after_secs(), Some(30));
//! # }
//! ```

mod memory;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{DEFAULT_LIMIT_PREFIX, RedisLimitStore, RedisLimitStoreFuture};
#[cfg(feature = "redis")]
pub use crate::redis_support::WeakStoreSecret;
pub use memory::{MemoryLimitStore, MemoryLimitStoreFuture};

use crate::client_addr::AddrKey;
use mcp_auth_core::scope::ScopeSet;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The default bound on the keys a [`MemoryLimitStore`] retains.
pub const DEFAULT_MAX_KEYS: u64 = 100_000;

/// A GCRA rate: `requests` per `period` on average, at most `burst` at once.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    requests: NonZeroU32,
    period: Duration,
    burst: NonZeroU32,
}

/// A [`Rate`] that cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRate {
    /// Zero requests or a zero burst.
    #[error("a rate needs at least one request and a burst of at least one")]
    Zero,
    /// The period divided by the requests is under a nanosecond, or the period is zero.
    #[error("the period is too short for the number of requests")]
    TooFast,
}

impl Rate {
    /// `requests` per `period`, `burst` at once.
    pub fn new(requests: u32, period: Duration, burst: u32) -> Result<Self, InvalidRate> {
        let (Some(requests), Some(burst)) = (NonZeroU32::new(requests), NonZeroU32::new(burst))
        else {
            return Err(InvalidRate::Zero);
        };
        if (period / requests.get()).is_zero() {
            return Err(InvalidRate::TooFast);
        }
        Ok(Self {
            requests,
            period,
            burst,
        })
    }

    /// Requests per period.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The most requests at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// The time one request's allowance takes to come back: `period / requests`.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.requests.get()
    }

    /// The time a key takes to refill its whole burst, after which its state equals a fresh
    /// key's.
    pub fn refill_time(&self) -> Duration {
        self.emission_interval().saturating_mul(self.burst.get())
    }

    /// governor's quota for this rate: the reference the store's GCRA is tested against.
    #[cfg(test)]
    fn quota(&self) -> governor::Quota {
        // `new` refused a zero interval, so `with_period` gives a quota.
        governor::Quota::with_period(self.emission_interval())
            .unwrap_or_else(|| governor::Quota::per_second(self.requests))
            .allow_burst(self.burst)
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{:?} burst {}",
            self.requests, self.period, self.burst
        )
    }
}

/// A post-auth tier: the rates for a token that holds `scope`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tier {
    scope: String,
    principal: Option<Rate>,
    client: Option<Rate>,
}

/// Which limits apply. Nothing is limited until a rate is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    per_address: Option<Rate>,
    per_principal: Option<Rate>,
    per_client: Option<Rate>,
    tiers: Vec<Tier>,
    max_keys: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

impl Limits {
    /// No limit, [`DEFAULT_MAX_KEYS`].
    pub fn new() -> Self {
        Self {
            per_address: None,
            per_principal: None,
            per_client: None,
            tiers: Vec::new(),
            max_keys: DEFAULT_MAX_KEYS,
        }
    }

    /// The pre-auth limit per client address (IPv6 per /64).
    #[must_use]
    pub fn per_address(mut self, rate: Rate) -> Self {
        self.per_address = Some(rate);
        self
    }

    /// The post-auth limit per principal (issuer and subject) for tokens in no tier.
    #[must_use]
    pub fn per_principal(mut self, rate: Rate) -> Self {
        self.per_principal = Some(rate);
        self
    }

    /// The post-auth limit per client id (issuer and client id) for tokens in no tier.
    #[must_use]
    pub fn per_client(mut self, rate: Rate) -> Self {
        self.per_client = Some(rate);
        self
    }

    /// Rates for tokens holding `scope` (e.g. `mcp:admin` automation). The first tier whose
    /// scope a token holds wins, so add the most privileged first; `None` leaves that
    /// dimension unlimited for the tier. A tier's keys are counted apart from the default
    /// rate's. (Past 32,000 tiers the later ones' checks fail as unconfigured.)
    #[must_use]
    pub fn tier(mut self, scope: &str, principal: Rate, client: Option<Rate>) -> Self {
        self.tiers.push(Tier {
            scope: scope.to_owned(),
            principal: Some(principal),
            client,
        });
        self
    }

    /// The bound on keys a [`MemoryLimitStore`] retains, all checks together (at least 1).
    #[must_use]
    pub fn max_keys(mut self, max: u64) -> Self {
        self.max_keys = max.max(1);
        self
    }

    /// The configured bound.
    pub fn key_bound(&self) -> u64 {
        self.max_keys
    }

    /// The pre-auth rate per client address, if one is set.
    pub fn address_rate(&self) -> Option<Rate> {
        self.per_address
    }

    /// Whether any limit is set.
    pub fn is_empty(&self) -> bool {
        self.per_address.is_none()
            && self.per_principal.is_none()
            && self.per_client.is_none()
            && self.tiers.is_empty()
    }

    /// Every rate with its slot: 0 address, 1 principal, 2 client, then two per tier.
    fn slots(&self) -> impl Iterator<Item = (u16, Rate)> + '_ {
        [self.per_address, self.per_principal, self.per_client]
            .into_iter()
            .chain(self.tiers.iter().flat_map(|t| [t.principal, t.client]))
            .enumerate()
            .filter_map(|(i, r)| Some((u16::try_from(i).ok()?, r?)))
    }

    /// The post-auth slot and rates (principal, client) for a token holding `scopes`: the
    /// first tier whose scope it holds, else the default rates. The client's slot is
    /// `slot + 1`.
    fn post_auth_rates(&self, scopes: &ScopeSet) -> (u16, Option<Rate>, Option<Rate>) {
        if self.tiers.is_empty() {
            return (1, self.per_principal, self.per_client);
        }
        let (slot, principal, client) =
            match self.tiers.iter().position(|t| scopes.contains(&t.scope)) {
                Some(i) => (3 + 2 * i, self.tiers[i].principal, self.tiers[i].client),
                None => (1, self.per_principal, self.per_client),
            };
        (u16::try_from(slot).unwrap_or(u16::MAX), principal, client)
    }

    /// The post-auth checks for a token holding `scopes`.
    fn post_auth<'a>(
        &self,
        issuer: &'a str,
        subject: Option<&'a str>,
        client_id: Option<&'a str>,
        scopes: &ScopeSet,
        memo: Memo<'a>,
    ) -> [Option<LimitCheck<'a>>; 2] {
        let (slot, principal, client) = self.post_auth_rates(scopes);
        [
            principal.zip(subject).map(|(rate, subject)| LimitCheck {
                key: LimitKey::Principal { issuer, subject },
                rate,
                slot,
                memo,
            }),
            client.zip(client_id).map(|(rate, client_id)| LimitCheck {
                key: LimitKey::Client { issuer, client_id },
                rate,
                slot: slot.saturating_add(1),
                memo,
            }),
        ]
    }
}

/// What a check is counted under.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKey<'a> {
    /// A client address (pre-auth).
    Address(AddrKey),
    /// A principal: a verified `iss` and subject.
    Principal {
        /// `iss`.
        issuer: &'a str,
        /// The subject.
        subject: &'a str,
    },
    /// A client: a verified `iss` and client id.
    Client {
        /// `iss`.
        issuer: &'a str,
        /// The client id.
        client_id: &'a str,
    },
}

impl fmt::Debug for LimitKey<'_> {
    // Identifiers stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(a) => f.debug_tuple("Address").field(a).finish(),
            Self::Principal { .. } => f.write_str("Principal(..)"),
            Self::Client { .. } => f.write_str("Client(..)"),
        }
    }
}

/// One key checked against one rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitCheck<'a> {
    key: LimitKey<'a>,
    rate: Rate,
    slot: u16,
    memo: Memo<'a>,
}

/// A verified token's keyed hashes of its principal and client id, as one
/// [`MemoryLimitStore`] computes them, and the store's plan for its post-auth checks: kept
/// in the token's [`AuthContext`](crate::AuthContext) (shared by every hit of the
/// verified-token cache), so a cached token's keys are hashed once and its requests count
/// on the store's state cells without the store's lock or map (see `memory::Plan`). Only
/// the keyed hash is kept (never the identifier), with the id of the store whose seeds made
/// it: another store computes its own, uncached.
#[derive(Default)]
pub(crate) struct KeyMemo {
    principal: OnceLock<(u64, [u64; 2])>,
    client: OnceLock<(u64, [u64; 2])>,
    plan: OnceLock<memory::Plan>,
}

impl fmt::Debug for KeyMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMemo(..)")
    }
}

impl KeyMemo {
    /// The principal's (or the client's) hash for `store`, computed by `hash` when not kept
    /// for that store yet.
    fn get(&self, client: bool, store: u64, hash: impl Fn() -> [u64; 2]) -> [u64; 2] {
        let cell = if client {
            &self.client
        } else {
            &self.principal
        };
        match cell.get() {
            Some(&(id, h)) if id == store => h,
            Some(_) => hash(),
            None => {
                let h = hash();
                let _ = cell.set((store, h));
                h
            }
        }
    }

    /// The memory store's plan for this context's post-auth checks, once one store made it.
    fn plan(&self) -> Option<&memory::Plan> {
        self.plan.get()
    }

    /// Keeps `plan` (the first store to make one wins).
    fn keep_plan(&self, plan: memory::Plan) {
        let _ = self.plan.set(plan);
    }
}

/// One request's time on a memory store's clock: read by the request's first check and
/// reused by its later ones while the request is answered without I/O (the pre-auth and
/// post-auth checks of a cache hit see one clock read). GCRA is exact at the time it is
/// given; a time a few microseconds old is one another thread could have read as well.
/// Never carried across I/O: a request that waits gets a fresh read.
#[derive(Default)]
pub(crate) struct RequestTime(AtomicU64);

impl RequestTime {
    /// The time read (`0`: not read yet, read by `read` and kept).
    fn get_or(&self, read: impl FnOnce() -> u64) -> u64 {
        match self.0.load(Ordering::Relaxed) {
            0 => {
                let t = read();
                self.0.store(t, Ordering::Relaxed);
                t
            }
            t => t,
        }
    }
}

/// What a check carries for the memory store beside its key: the verified context's
/// [`KeyMemo`] and the request's [`RequestTime`]. Caches, not part of what the check is
/// (checks compare equal whatever their memo).
#[derive(Clone, Copy, Default)]
pub(crate) struct Memo<'a> {
    pub(crate) keys: Option<&'a KeyMemo>,
    pub(crate) now: Option<&'a RequestTime>,
}

impl PartialEq for Memo<'_> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Memo<'_> {}

impl fmt::Debug for Memo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo")
            .field("keys", &self.keys.is_some())
            .field("now", &self.now.is_some())
            .finish()
    }
}

impl<'a> LimitCheck<'a> {
    /// The key.
    pub fn key(&self) -> LimitKey<'a> {
        self.key
    }

    /// The rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Which configured rate this is (stable for one [`Limits`]): a store keeps one state per
    /// slot and key, so a principal's default-rate and tier-rate counts stay apart.
    pub fn slot(&self) -> u16 {
        self.slot
    }
}

/// The answer of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Within the limits.
    Allowed,
    /// Over a limit: answer 429; one more request conforms after `retry_after`.
    Limited {
        /// Until the next request conforms.
        retry_after: Duration,
    },
}

impl Decision {
    /// The `Retry-After` value (RFC 9110 §10.2.3): whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Allowed => None,
            Self::Limited { retry_after } => {
                let up = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some(up.max(1))
            }
        }
    }

    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// A store that could not answer (unreachable, timed out). The layer fails open on it.
#[derive(Debug, thiserror::Error)]
#[error("rate-limit store unavailable")]
pub struct LimitStoreError {
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl LimitStoreError {
    /// An error caused by `source`.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: Some(source.into()),
        }
    }
}

/// Where rate-limit state lives: in memory ([`MemoryLimitStore`]) or fleet-wide.
///
/// `check` counts one request against each check in order and stops at the first refusal
/// (the checks before it were counted, the ones after were not). A fleet store does it in one
/// round trip. The future owns what it needs (`'static`).
pub trait RateLimitStore: Send + Sync + 'static {
    /// The answer.
    type Future: Future<Output = Result<Decision, LimitStoreError>> + Send + 'static;

    /// Counts one request against `checks`.
    fn check(&self, checks: &[LimitCheck<'_>]) -> Self::Future;

    /// The answer of [`check`](Self::check) at once, for a store that has it without I/O
    /// (the memory store): the layer calls this first and falls back to `check` on `None`
    /// (the default, a fleet store's), so an in-memory answer costs no future and no
    /// allocation. `Some` counts the request exactly as `check` would.
    fn check_now(&self, checks: &[LimitCheck<'_>]) -> Option<Result<Decision, LimitStoreError>> {
        let _ = checks;
        None
    }
}

/// [`Limits`] over a [`RateLimitStore`]. Cheap to clone.
#[derive(Debug)]
pub struct Limiter<S = MemoryLimitStore> {
    limits: Arc<Limits>,
    store: Arc<S>,
}

impl<S> Clone for Limiter<S> {
    fn clone(&self) -> Self {
        Self {
            limits: self.limits.clone(),
            store: self.store.clone(),
        }
    }
}

impl Limiter<MemoryLimitStore> {
    /// `limits` in this process's memory.
    pub fn in_memory(limits: Limits) -> Self {
        let store = MemoryLimitStore::new(&limits);
        Self::with_store(limits, store)
    }
}

impl<S: RateLimitStore> Limiter<S> {
    /// `limits` over `store`.
    pub fn with_store(limits: Limits, store: S) -> Self {
        Self {
            limits: Arc::new(limits),
            store: Arc::new(store),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The pre-auth check of a client address; `None` when no per-address limit is set.
    pub fn check_address(&self, ip: IpAddr) -> Option<S::Future> {
        self.on_address(ip, |store, checks| store.check(checks))
    }

    /// `f` of the store and the checks of [`check_address`](Self::check_address).
    pub(crate) fn on_address<R>(
        &self,
        ip: IpAddr,
        f: impl FnOnce(&S, &[LimitCheck<'_>]) -> R,
    ) -> Option<R> {
        self.on_address_at(ip, None, f)
    }

    /// [`on_address`](Self::on_address) at the request's time `now`.
    pub(crate) fn on_address_at<R>(
        &self,
        ip: IpAddr,
        now: Option<&RequestTime>,
        f: impl FnOnce(&S, &[LimitCheck<'_>]) -> R,
    ) -> Option<R> {
        let rate = self.limits.per_address?;
        Some(f(
            &self.store,
            &[LimitCheck {
                key: LimitKey::Address(AddrKey::new(ip)),
                rate,
                slot: 0,
                memo: Memo { keys: None, now },
            }],
        ))
    }

    /// The post-auth checks of a verified principal, its client id and its scopes; `None`
    /// when no limit applies (no rate for its tier, or no subject and no client id).
    pub fn check_principal(
        &self,
        issuer: &str,
        subject: Option<&str>,
        client_id: Option<&str>,
        scopes: &ScopeSet,
    ) -> Option<S::Future> {
        let memo = Memo::default();
        self.on_principal(issuer, subject, client_id, scopes, memo, |store, checks| {
            store.check(checks)
        })
    }

    /// `f` of the store and the checks of [`check_principal`](Self::check_principal).
    pub(crate) fn on_principal<R>(
        &self,
        issuer: &str,
        subject: Option<&str>,
        client_id: Option<&str>,
        scopes: &ScopeSet,
        memo: Memo<'_>,
        f: impl FnOnce(&S, &[LimitCheck<'_>]) -> R,
    ) -> Option<R> {
        let checks = self
            .limits
            .post_auth(issuer, subject, client_id, scopes, memo);
        match checks {
            [None, None] => None,
            [Some(a), Some(b)] => Some(f(&self.store, &[a, b])),
            [Some(a), None] | [None, Some(a)] => Some(f(&self.store, &[a])),
        }
    }

    /// [`check_principal`](Self::check_principal) of an accepted token.
    pub fn check_context(&self, ctx: &crate::AuthContext) -> Option<S::Future> {
        let (sub, client) = (ctx.subject(), ctx.client_id());
        let memo = Memo {
            keys: Some(ctx.limit_memo()),
            now: None,
        };
        self.on_principal(
            ctx.issuer(),
            sub,
            client,
            ctx.scopes(),
            memo,
            |store, checks| store.check(checks),
        )
    }
}

#[cfg(test)]
mod tests;
