//! The Redis replay store (docs on [`RedisReplayStore`]).

use crate::{Clock, JtiHash, Replay, ReplayFuture, ReplayStore, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt;
use std::time::Duration;

/// The Redis [`ReplayStore`] (feature `redis`): every instance of a fleet records its proofs in
/// one Redis, so a proof replayed to another instance is refused.
///
/// One round trip per proof: `SET <prefix><base64url(jti hash)> 1 NX PX <ms until until>`.
/// `OK` means the key was absent and is now set ([`Replay::Fresh`]); nil means it exists
/// ([`Replay::Replayed`]). Redis expires the key at `until` by itself. Cheap to clone: clones
/// share one connection manager.
///
/// # Deployment
///
/// - **`maxmemory-policy noeviction` is required.** Under any other policy a full Redis
///   evicts keys, and an evicted `jti` can be replayed. With `noeviction` a full Redis refuses
///   the `SET`, which this store reports as [`StoreError::Unavailable`] (503): refused, never
///   accepted. [`RedisReplayStoreBuilder::build`] reads the policy with `CONFIG GET` and
///   refuses any other ([`StoreError::Misconfigured`]); where `CONFIG` is disabled (some
///   managed services) it logs a warning and trusts the operator.
/// - Use a key prefix per deployment if the Redis is shared.
/// - The connection manager reconnects by itself after a failure; a request made while Redis
///   is down gets [`StoreError::Unavailable`] within the response timeout (1 s by default).
/// - The instances' clocks must agree to within the replay leeway (NTP).
#[derive(Clone)]
pub struct RedisReplayStore {
    conn: ConnectionManager,
    prefix: String,
    retry_after: u32,
    clock: Clock,
}

/// Builds a [`RedisReplayStore`].
#[must_use]
pub struct RedisReplayStoreBuilder {
    source: Source,
    prefix: String,
    response_timeout: Duration,
    connection_timeout: Duration,
    retries: usize,
    retry_after: u32,
    require_noeviction: bool,
    clock: Clock,
}

/// Where the builder's connection comes from.
enum Source {
    Url(String),
    Connection(ConnectionManager),
}

impl RedisReplayStore {
    /// A builder for the Redis at `url` (`redis://host:port/db`, `rediss://` needs a TLS
    /// feature of the `redis` crate).
    pub fn builder(url: impl Into<String>) -> RedisReplayStoreBuilder {
        Self::builder_from(Source::Url(url.into()))
    }

    /// A builder over an existing connection manager, so one connection serves this store and
    /// others (mcp-auth's Redis session and rate-limit stores). The timeouts and retries are
    /// the manager's own: the builder's connection settings do not apply;
    /// [`build`](RedisReplayStoreBuilder::build) still checks the eviction policy.
    pub fn from_connection(conn: ConnectionManager) -> RedisReplayStoreBuilder {
        Self::builder_from(Source::Connection(conn))
    }

    fn builder_from(source: Source) -> RedisReplayStoreBuilder {
        RedisReplayStoreBuilder {
            source,
            prefix: "mcp-auth:dpop:jti:".to_owned(),
            response_timeout: Duration::from_secs(1),
            connection_timeout: Duration::from_secs(1),
            retries: 2,
            retry_after: 5,
            require_noeviction: true,
            clock: Clock::system(),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, jti: &JtiHash) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 43);
        key.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(jti.as_bytes(), &mut key);
        key
    }

    fn unavailable(&self, e: &redis::RedisError) -> StoreError {
        StoreError::Unavailable {
            reason: describe_redis_error(e),
            retry_after: self.retry_after,
        }
    }
}

impl RedisReplayStoreBuilder {
    /// The prefix of every key (default `mcp-auth:dpop:jti:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one command may take before the store answers [`StoreError::Unavailable`]
    /// (default 1 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long one connection attempt may take (default 1 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Reconnection attempts after a failure before giving up until the next command
    /// (default 2).
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    /// The `Retry-After` seconds of [`StoreError::Unavailable`] (default 5).
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = seconds;
        self
    }

    /// Whether [`build`](Self::build) refuses a Redis whose `maxmemory-policy` is not
    /// `noeviction` (default true; see the module's Deployment section).
    pub fn require_noeviction(mut self, on: bool) -> Self {
        self.require_noeviction = on;
        self
    }

    /// Reads the time (milliseconds since the epoch) from `now_ms`: for tests.
    pub fn clock_ms(mut self, now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::custom(now_ms);
        self
    }

    /// Connects (needs a tokio runtime) and checks the eviction policy.
    pub async fn build(self) -> Result<RedisReplayStore, StoreError> {
        let unavailable = |e: &redis::RedisError| StoreError::Unavailable {
            reason: describe_redis_error(e),
            retry_after: self.retry_after,
        };
        let mut conn = match self.source {
            Source::Connection(conn) => conn,
            Source::Url(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| {
                    StoreError::Misconfigured(format!(
                        "bad Redis URL: {}",
                        describe_redis_error(&e)
                    ))
                })?;
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(self.response_timeout))
                    .set_connection_timeout(Some(self.connection_timeout))
                    .set_number_of_retries(self.retries)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| unavailable(&e))?
            }
        };
        if self.require_noeviction {
            let policy: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory-policy")
                .query_async(&mut conn)
                .await;
            match policy {
                Ok(pair) => match pair.get(1) {
                    Some(p) if p == "noeviction" => {}
                    other => {
                        return Err(StoreError::Misconfigured(format!(
                            "Redis maxmemory-policy is {:?}, the replay store needs noeviction",
                            other.map(String::as_str).unwrap_or("unknown")
                        )));
                    }
                },
                Err(e) if e.is_io_error() || e.is_timeout() => return Err(unavailable(&e)),
                Err(e) => tracing::warn!(
                    target: "mcp_auth_dpop",
                    error = %describe_redis_error(&e),
                    "cannot read Redis maxmemory-policy; make sure it is noeviction"
                ),
            }
        }
        Ok(RedisReplayStore {
            conn,
            prefix: self.prefix,
            retry_after: self.retry_after,
            clock: self.clock,
        })
    }
}

/// A description of a Redis error for logs and error sources: its category (`timed out`,
/// `connection refused`, ...), never a key, a value or a URL. mcp-auth's Redis session and
/// limit stores describe their errors with it too.
pub fn describe_redis_error(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_connection_dropped() {
        "connection dropped".to_owned()
    } else if e.is_io_error() {
        "I/O error".to_owned()
    } else {
        format!("{:?}", e.kind())
    }
}

impl ReplayStore for RedisReplayStore {
    fn check_and_insert<'a>(&'a self, jti: &'a JtiHash, until: i64) -> ReplayFuture<'a> {
        Box::pin(async move {
            // PX: the key lives until `until`, at least 1 ms (a deadline already past cannot
            // come from a proof that passed the window check).
            let ms = until
                .saturating_mul(1000)
                .saturating_sub(self.clock.now_ms())
                .max(1);
            let mut conn = self.conn.clone();
            let answer: redis::Value = redis::cmd("SET")
                .arg(self.key(jti))
                .arg(1u8)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.unavailable(&e))?;
            match answer {
                redis::Value::Okay => Ok(Replay::Fresh),
                redis::Value::SimpleString(s) if s == "OK" => Ok(Replay::Fresh),
                redis::Value::Nil => Ok(Replay::Replayed),
                other => Err(StoreError::Unavailable {
                    reason: format!("unexpected answer to SET NX: {}", kind_of(&other)),
                    retry_after: self.retry_after,
                }),
            }
        })
    }
}

fn kind_of(v: &redis::Value) -> &'static str {
    match v {
        redis::Value::Int(_) => "integer",
        redis::Value::BulkString(_) => "bulk string",
        redis::Value::Array(_) => "array",
        redis::Value::ServerError(_) => "server error",
        _ => "other",
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("prefix", &self.prefix)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RedisReplayStoreBuilder {
    // The URL may hold a password: not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStoreBuilder")
            .field("prefix", &self.prefix)
            .field("response_timeout", &self.response_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .field("retries", &self.retries)
            .field("retry_after", &self.retry_after)
            .field("require_noeviction", &self.require_noeviction)
            .finish_non_exhaustive()
    }
}
