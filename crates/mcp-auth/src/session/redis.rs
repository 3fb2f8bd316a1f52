//! [`RedisSessionStore`]: session bindings in a Redis every instance of a fleet shares
//! (feature `redis`).

use super::{Binding, SessionHasher, SessionStore, SessionStoreError};
use crate::redis_support::{Described, LuaScript, describe, hex};
use mcp_auth_core::sealed::Principal;
use redis::aio::ConnectionManager;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The future of [`RedisSessionStore`].
pub type RedisSessionFuture<T> =
    Pin<Box<dyn Future<Output = Result<T, SessionStoreError>> + Send + 'static>>;

/// KEYS[1] the session's key, ARGV[1] the principal's hash, ARGV[2] the idle timeout (ms).
/// Unbound: bind, 1. Bound to this principal: refresh, 1. Bound to another: keep it, 2.
const BIND: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 2
";

/// As [`BIND`], but an unknown session stays unknown (0); only a `Bound` answer refreshes.
const CHECK: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 2
";

/// Session bindings in Redis (feature `redis`), for a fleet behind a load balancer: a
/// session opened on one instance is checked on any other.
///
/// - One key per session: `<prefix><64 hex digits>`, the [`SessionHasher`] hash of the
///   session id; its value is the hash of the principal (issuer, subject, client id). No
///   session id and no identifier is stored in clear. Every instance must use a hasher made
///   with [`SessionHasher::new`] from the same secret, and the same prefix.
/// - Idle timeout: the key's `PX`, set on bind and refreshed by a `Bound` check or a
///   re-bind (one atomic script each, one round trip); a check by another principal does
///   not keep a session alive. [`end`](SessionStore::end) deletes the key.
/// - A key that expired, or that Redis evicted, reads as [`Binding::Unknown`] (404), never
///   as "unbound, so allowed". Run Redis with `maxmemory-policy noeviction` anyway (the DPoP
///   replay store requires it): an evicted binding ends a user's session.
/// - Redis unreachable (or full under `noeviction`): [`SessionStoreError`], which the layer
///   answers with 503; a `tracing` warning once per outage. How fast a call gives up is the
///   connection manager's response timeout.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use mcp_auth::session::{RedisSessionStore, SessionHasher};
///
/// # async fn run(secret: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let conn = client.get_connection_manager().await?; // shared with the other stores
/// let hasher = SessionHasher::new(secret)?; // the fleet's secret, >= 32 bytes
/// let sessions = RedisSessionStore::new(conn, hasher, Duration::from_secs(30 * 60));
/// # let _ = sessions; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisSessionStore {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    conn: ConnectionManager,
    hasher: Arc<SessionHasher>,
    prefix: String,
    idle_ms: u64,
    bind: Arc<LuaScript>,
    check: Arc<LuaScript>,
    down: Arc<AtomicBool>,
}

/// The default key prefix.
pub const DEFAULT_SESSION_PREFIX: &str = "mcp-auth:session:";

impl RedisSessionStore {
    /// A store on `conn` (shareable with the DPoP replay store and the limit store), keys
    /// hashed by `hasher`, each binding dropped after `idle` without use (at least 1 ms).
    pub fn new(conn: ConnectionManager, hasher: SessionHasher, idle: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                conn,
                hasher: Arc::new(hasher),
                prefix: DEFAULT_SESSION_PREFIX.to_owned(),
                idle_ms: u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1),
                bind: Arc::new(LuaScript::new(BIND)),
                check: Arc::new(LuaScript::new(CHECK)),
                down: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// The prefix of every key (default [`DEFAULT_SESSION_PREFIX`]); one per deployment
    /// sharing a Redis (a clone made before keeps its own).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).prefix = prefix.into();
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.inner.idle_ms)
    }

    fn key(&self, session_id: &str) -> Vec<u8> {
        let mut key = self.inner.prefix.as_bytes().to_vec();
        key.extend_from_slice(hex(&self.inner.hasher.session_id(session_id)).as_bytes());
        key
    }

    fn failed(&self, what: String) -> SessionStoreError {
        if !self.inner.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "mcp_auth::session",
                error = %what,
                "session store (Redis) unavailable: requests with a session id get 503"
            );
        }
        SessionStoreError::new(Described(what))
    }

    fn answered(&self) {
        if self.inner.down.swap(false, Ordering::Relaxed) {
            tracing::info!(target: "mcp_auth::session", "session store (Redis) answers again");
        }
    }

    fn run(
        &self,
        bind: bool,
        session_id: &str,
        principal: &Principal<'_>,
    ) -> RedisSessionFuture<Binding> {
        let keys = [self.key(session_id)];
        let args = [
            self.inner.hasher.principal(principal).to_vec(),
            self.inner.idle_ms.to_string().into_bytes(),
        ];
        let this = self.clone();
        Box::pin(async move {
            let script = if bind {
                &this.inner.bind
            } else {
                &this.inner.check
            };
            let mut conn = this.inner.conn.clone();
            let answer: Result<i64, _> = script.invoke(&mut conn, &keys, &args).await;
            let answer = answer.map_err(|e| this.failed(describe(&e)))?;
            this.answered();
            match answer {
                0 if !bind => Ok(Binding::Unknown),
                1 => Ok(Binding::Bound),
                2 => Ok(Binding::OtherPrincipal),
                _ => Err(this.failed("unexpected answer from the session script".to_owned())),
            }
        })
    }
}

impl SessionStore for RedisSessionStore {
    type Future<T: Send + 'static> = RedisSessionFuture<T>;

    fn bind(&self, session_id: &str, principal: &Principal<'_>) -> Self::Future<Binding> {
        self.run(true, session_id, principal)
    }

    fn check(&self, session_id: &str, principal: &Principal<'_>) -> Self::Future<Binding> {
        self.run(false, session_id, principal)
    }

    fn end(&self, session_id: &str) -> Self::Future<()> {
        let key = self.key(session_id);
        let this = self.clone();
        Box::pin(async move {
            let mut conn = this.inner.conn.clone();
            let deleted: Result<i64, _> = redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
            deleted.map_err(|e| this.failed(describe(&e)))?;
            this.answered();
            Ok(())
        })
    }
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.inner.prefix)
            .field("idle", &self.idle())
            .finish_non_exhaustive()
    }
}
