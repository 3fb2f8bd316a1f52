//! [`RedisLimitStore`]: the same GCRA as [`MemoryLimitStore`](super::MemoryLimitStore), in
//! one Lua script on a Redis every instance of a fleet shares (feature `redis`).

use super::{Decision, LimitCheck, LimitKey, LimitStoreError, RateLimitStore};
use crate::client_addr::AddrKey;
use crate::redis_support::{Described, KeyedHash, LuaScript, WeakStoreSecret, describe};
use redis::aio::ConnectionManager;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use zeroize::Zeroizing;

/// The future of [`RedisLimitStore`].
pub type RedisLimitStoreFuture =
    Pin<Box<dyn Future<Output = Result<Decision, LimitStoreError>> + Send + 'static>>;

/// GCRA for every check of one request, atomically (a script runs alone in Redis).
///
/// Times are nanoseconds, kept as differences from now so every number stays an exact
/// integer in Lua's doubles (a Unix time in nanoseconds does not): a key holds its
/// theoretical arrival time (TAT) as "seconds nanoseconds". Per check, with `d = TAT - now`
/// (0 for a missing key), `T` the emission interval and `tau = T * (burst - 1)` (governor's
/// tolerance): `d > tau` refuses, one more request conforming in `d - tau`; otherwise the
/// TAT becomes `now + max(d, 0) + T`, and the key expires when that TAT is reached, when
/// its state equals a missing key's. The first refusal stops the loop (the checks before it
/// stay counted), as in the memory store.
///
/// KEYS: one per check. ARGV: now (seconds, nanoseconds; empty: Redis's `TIME`, one clock
/// for the fleet), then `T` and `tau` per check. Answer: `{0, 0}`, or `{i, retry_ns}` for a
/// refusal by check `i` (1-based).
const GCRA: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local now_s, now_ns
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now_s = tonumber(t[1])
  now_ns = tonumber(t[2]) * 1000
else
  now_s = tonumber(ARGV[1])
  now_ns = tonumber(ARGV[2])
end
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[1 + 2 * i])
  local tau = tonumber(ARGV[2 + 2 * i])
  local d = 0
  local v = redis.call('GET', key)
  if v then
    local s, ns = string.match(v, '^(%d+) (%d+)$')
    if s then
      d = (tonumber(s) - now_s) * 1000000000 + (tonumber(ns) - now_ns)
    end
  end
  if d > tau then
    return {i, d - tau}
  end
  if d < 0 then d = 0 end
  d = d + t
  local total = now_ns + d
  local carry = math.floor(total / 1000000000)
  local tat = string.format('%d %d', now_s + carry, total - carry * 1000000000)
  redis.call('SET', key, tat, 'PX', string.format('%d', math.ceil(d / 1000000)))
end
return {0, 0}
";

/// Rate-limit state in Redis, shared by every instance of a fleet (feature `redis`).
///
/// - **One round trip per request**: all the checks of one [`Limiter`](super::Limiter) call
///   (the address, or the principal and the client id) run in one Lua script (`EVALSHA`,
///   falling back to `EVAL` when Redis does not have it cached), atomically, so two
///   instances never both spend the last unit of one key's burst.
/// - **Same answers as the memory store**: governor's GCRA (same emission interval,
///   tolerance and `retry_after`), on Redis's clock (`TIME`), so the instances' clocks do
///   not matter.
/// - **Keys are keyed hashes**: `<prefix><32 hex digits>`, the first 128 bits of an
///   HMAC-SHA256 of the slot, the kind and the address (IPv6 per /64), the issuer and
///   subject, or the issuer and client id, under a key derived from a secret the fleet
///   shares. No address, subject or client id is in Redis.
/// - **Idle keys expire**: each key's `PX` is the time until its state equals a fresh key's
///   (at most the refill time of its rate), so Redis holds only keys in use.
/// - **Redis down fails open**: the future resolves to [`LimitStoreError`], on which the
///   layer lets the request through (rate limits are a cost control, and a Redis outage must
///   not take the service down). Each such error bumps [`unavailable_count`] and calls the
///   [`on_unavailable`] hook; a `tracing` warning is logged when Redis becomes unreachable
///   (once per outage, not per request) and an info line when it answers again. How fast a
///   check gives up is the connection manager's response timeout.
///
/// Every instance must use the same [`Limits`](super::Limits) (a slot is a rate's position in
/// them), the same secret and the same prefix. A single Redis (with replicas), not Redis
/// Cluster: one request's keys may fall in different slots. Under `maxmemory-policy
/// noeviction` (which the DPoP replay store requires) a full Redis refuses the write and the
/// limits fail open; under an evicting policy an evicted key starts again with a full burst.
///
/// [`unavailable_count`]: Self::unavailable_count
/// [`on_unavailable`]: Self::on_unavailable
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use mcp_auth::limit::{Limiter, Limits, Rate, RedisLimitStore};
/// use redis::aio::{ConnectionManager, ConnectionManagerConfig};
///
/// # async fn run(secret: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
/// let config = ConnectionManagerConfig::new()
///     .set_response_timeout(Some(Duration::from_millis(250)))
///     .set_connection_timeout(Some(Duration::from_millis(500)));
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// // One manager for the replay, session and limit stores.
/// let conn = ConnectionManager::new_with_config(client, config).await?;
/// let limits = Limits::new().per_address(Rate::new(100, Duration::from_secs(1), 200)?);
/// let store = RedisLimitStore::new(conn.clone(), secret)? // the fleet's secret, >= 32 bytes
///     .on_unavailable(|| { /* count it in your metrics */ });
/// let limiter = Limiter::with_store(limits, store);
/// # let _ = limiter; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisLimitStore {
    inner: Arc<Inner>,
}

/// Configuration and state; clones share the counters.
#[derive(Clone)]
struct Inner {
    conn: ConnectionManager,
    prefix: String,
    hash: Arc<KeyedHash>,
    script: Arc<LuaScript>,
    unavailable: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    hook: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Tests: the script's "now" in nanoseconds from a fixed second, instead of `TIME`.
    #[cfg(test)]
    fixed_now: Option<Arc<AtomicU64>>,
}

/// The default key prefix.
pub const DEFAULT_LIMIT_PREFIX: &str = "mcp-auth:limit:";

impl RedisLimitStore {
    /// A store on `conn` (shareable with the DPoP replay store and the session store) whose
    /// keys are hashed under `secret` (at least 32 bytes, the same on every instance; it is
    /// zeroized once the key is derived).
    pub fn new(
        conn: ConnectionManager,
        secret: impl Into<Zeroizing<Vec<u8>>>,
    ) -> Result<Self, WeakStoreSecret> {
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                prefix: DEFAULT_LIMIT_PREFIX.to_owned(),
                hash: Arc::new(KeyedHash::new(secret.into(), b"mcp-auth rate limit v1")?),
                script: Arc::new(LuaScript::new(GCRA)),
                unavailable: Arc::new(AtomicU64::new(0)),
                down: Arc::new(AtomicBool::new(false)),
                hook: None,
                #[cfg(test)]
                fixed_now: None,
            }),
        })
    }

    /// The prefix of every key (default [`DEFAULT_LIMIT_PREFIX`]); one per deployment
    /// sharing a Redis.
    #[must_use]
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        self.edit(|i| i.prefix = prefix.into())
    }

    /// Called on every check Redis could not answer (the request then goes through): the
    /// counter of a metrics system.
    #[must_use]
    pub fn on_unavailable(self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.edit(|i| i.hook = Some(Arc::new(hook)))
    }

    /// Changes this store's configuration (a clone made before keeps its own; the counters
    /// stay shared).
    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The checks Redis could not answer since the store was made (all clones together).
    pub fn unavailable_count(&self) -> u64 {
        self.inner.unavailable.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn with_fixed_now(self, now: Arc<AtomicU64>) -> Self {
        self.edit(|i| i.fixed_now = Some(now))
    }

    fn redis_key(&self, check: &LimitCheck<'_>) -> Vec<u8> {
        let slot = check.slot.to_be_bytes();
        let h = &self.inner.hash;
        let digest = match check.key {
            LimitKey::Address(AddrKey::V4(o)) => h.hex16(&[&slot, b"a4", &o]),
            LimitKey::Address(AddrKey::V6Prefix(p)) => h.hex16(&[&slot, b"a6", &p]),
            LimitKey::Principal { issuer, subject } => {
                h.hex16(&[&slot, b"p", issuer.as_bytes(), subject.as_bytes()])
            }
            LimitKey::Client { issuer, client_id } => {
                h.hex16(&[&slot, b"c", issuer.as_bytes(), client_id.as_bytes()])
            }
        };
        let mut key = Vec::with_capacity(self.inner.prefix.len() + digest.len());
        key.extend_from_slice(self.inner.prefix.as_bytes());
        key.extend_from_slice(digest.as_bytes());
        key
    }

    fn now_args(&self) -> [Vec<u8>; 2] {
        #[cfg(test)]
        if let Some(n) = &self.inner.fixed_now {
            let n = n.load(Ordering::Relaxed);
            let s = 1_700_000_000 + n / 1_000_000_000;
            return [
                s.to_string().into_bytes(),
                (n % 1_000_000_000).to_string().into_bytes(),
            ];
        }
        [Vec::new(), Vec::new()]
    }

    fn failed(&self, e: &redis::RedisError) -> LimitStoreError {
        let inner = &self.inner;
        inner.unavailable.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &inner.hook {
            hook();
        }
        let what = describe(e);
        if !inner.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "mcp_auth::limit",
                error = %what,
                "rate-limit store (Redis) unavailable: limits fail open until it answers"
            );
        }
        LimitStoreError::new(Described(what))
    }

    fn answered(&self) {
        if self.inner.down.swap(false, Ordering::Relaxed) {
            tracing::info!(target: "mcp_auth::limit", "rate-limit store (Redis) answers again");
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RateLimitStore for RedisLimitStore {
    type Future = RedisLimitStoreFuture;

    fn check(&self, checks: &[LimitCheck<'_>]) -> Self::Future {
        let keys: Vec<Vec<u8>> = checks.iter().map(|c| self.redis_key(c)).collect();
        let mut args: Vec<Vec<u8>> = Vec::with_capacity(2 + 2 * checks.len());
        args.extend(self.now_args());
        for c in checks {
            // governor's cell weight and tolerance (`Gcra::new`).
            let t = nanos(c.rate.emission_interval()).max(1);
            let tau = t.saturating_mul(u64::from(c.rate.burst() - 1));
            args.push(t.to_string().into_bytes());
            args.push(tau.to_string().into_bytes());
        }
        let this = self.clone();
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Decision::Allowed);
            }
            let mut conn = this.inner.conn.clone();
            let answer: Result<(u64, u64), _> =
                this.inner.script.invoke(&mut conn, &keys, &args).await;
            match answer {
                Ok((0, _)) => {
                    this.answered();
                    Ok(Decision::Allowed)
                }
                Ok((_, retry_ns)) => {
                    this.answered();
                    Ok(Decision::Limited {
                        retry_after: Duration::from_nanos(retry_ns.max(1)),
                    })
                }
                Err(e) => Err(this.failed(&e)),
            }
        })
    }
}

impl fmt::Debug for RedisLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimitStore")
            .field("prefix", &self.inner.prefix)
            .field("unavailable", &self.unavailable_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
