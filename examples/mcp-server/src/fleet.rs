//! `--redis URL`, `--fleet-secret` and the rate-limit flags: what several instances of the
//! example behind one load balancer share (docs/operations.md, "Running a fleet").
//!
//! One Redis connection ([`ConnectionManager`], reconnecting) serves every fleet store:
//!
//! - the DPoP replay store (with `--dpop allowed|required`, [`crate::dpop`]): a proof used at
//!   one instance is refused at every other (RFC 9449 §11.1); Redis down → 503 with
//!   `Retry-After`;
//! - the session bindings (with `--stateful`, [`crate::stateful`]): the layer's
//!   [`RedisSessionStore`], so every instance knows which principal opened a session, and
//!   rmcp's session state ([`RmcpSessionState`], the client's `initialize` parameters), so
//!   any instance can resume a session another one opened; Redis down → 503;
//! - the rate limits (with `--rate-limit-per-address` or `--rate-limit-per-principal`): the
//!   layer's [`RedisLimitStore`], one budget per key for the whole fleet; Redis down → the
//!   limits fail open (the request goes through, the layer counts and warns). Behind a load
//!   balancer, `--trusted-proxy` names it, so the per-address limit reads the client's
//!   address from its `X-Forwarded-For` (or `Forwarded`, `--proxy-header`) instead of
//!   counting every request as the balancer's.
//!
//! Keys of the session and limit stores are keyed hashes (HMAC-SHA256) of session ids,
//! principals and addresses, so every instance needs the same secret: `--fleet-secret` or,
//! better (a command line is visible to every local user), `MCP_AUTH_FLEET_SECRET`. It is
//! never printed, and one under [`MIN_SECRET_BYTES`] bytes is refused.

use crate::StartError;
use crate::unavailable::{RecentLoadFailures, StoreFailure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth::McpAuthBuilder;
use mcp_auth::client_addr::{ProxyHeader, TrustedProxies};
use mcp_auth::limit::{Limiter, Limits, Rate, RedisLimitStore};
use mcp_auth::session::{RedisSessionStore, SessionHasher};
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore as RmcpSessionStore, SessionStoreError as RmcpStoreError,
};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The shortest fleet secret accepted: 32 bytes, what the stores' keyed hashes need.
pub const MIN_SECRET_BYTES: usize = 32;

/// How long one Redis command may take before the store answers "unavailable".
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The prefix of rmcp's session state in Redis.
pub const RMCP_SESSION_PREFIX: &str = "mcp-auth-example:rmcp-session:";

/// A secret flag value (the fleet's shared secret, the DPoP nonce secret). Its `Debug` says
/// nothing of it, so a printed `Config` or argument list holds none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that keys a MAC with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    /// Any text; its length is checked at start, where the error names no value (clap's
    /// parse errors would quote it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// The command-line flags, flattened into the example's arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FleetArgs {
    /// Share the DPoP replay store, the session bindings (--stateful) and the rate limits
    /// with every instance using this Redis (redis://host:port/; it must run with
    /// maxmemory-policy noeviction). Needs --fleet-secret.
    #[arg(long, env = "MCP_AUTH_REDIS", value_name = "URL")]
    pub redis: Option<String>,
    /// The secret (at least 32 bytes, the same on every instance) the Redis stores hash
    /// session ids, principals and addresses with. Prefer the environment variable.
    #[arg(
        long,
        env = "MCP_AUTH_FLEET_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub fleet_secret: Option<Secret>,
    /// Pre-auth limit per client address (IPv6 per /64): N requests per SECONDS on average,
    /// BURST at once (default N); more get 429 with Retry-After.
    #[arg(long, env = "MCP_AUTH_RATE_LIMIT_PER_ADDRESS", value_name = "N/SECONDS[:BURST]", value_parser = parse_rate)]
    pub rate_limit_per_address: Option<Rate>,
    /// Post-auth limit per principal (issuer and subject), in the same form.
    #[arg(long, env = "MCP_AUTH_RATE_LIMIT_PER_PRINCIPAL", value_name = "N/SECONDS[:BURST]", value_parser = parse_rate)]
    pub rate_limit_per_principal: Option<Rate>,
    /// A reverse proxy or load balancer (an address or a CIDR block: 10.0.0.0/8,
    /// fd00::/8) whose --proxy-header names the client address for
    /// --rate-limit-per-address; repeatable. The client is the right-most address of the
    /// header that is not a trusted proxy. Default: none, the header is ignored (any client
    /// can write it) and the address is the socket's.
    #[arg(
        long = "trusted-proxy",
        env = "MCP_AUTH_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR",
        value_parser = parse_proxy,
        requires = "rate_limit_per_address"
    )]
    pub trusted_proxies: Vec<String>,
    /// The forwarding header the trusted proxies write: exactly this one is read.
    #[arg(
        long,
        env = "MCP_AUTH_PROXY_HEADER",
        value_name = "HEADER",
        value_enum,
        default_value_t = ProxyHeaderFlag::XForwardedFor,
        requires = "trusted_proxies"
    )]
    pub proxy_header: ProxyHeaderFlag,
}

/// `--proxy-header`: which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum ProxyHeaderFlag {
    /// `X-Forwarded-For: client, proxy1, ...`.
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1, ...` (RFC 7239).
    Forwarded,
}

impl From<ProxyHeaderFlag> for ProxyHeader {
    fn from(flag: ProxyHeaderFlag) -> Self {
        match flag {
            ProxyHeaderFlag::XForwardedFor => Self::XForwardedFor,
            ProxyHeaderFlag::Forwarded => Self::Forwarded,
        }
    }
}

/// One `--trusted-proxy`: an IP address or a CIDR block, as the layer reads it.
pub fn parse_proxy(s: &str) -> Result<String, String> {
    TrustedProxies::new([s], ProxyHeader::XForwardedFor)
        .map(|_| s.trim().to_owned())
        .map_err(|_| {
            format!(
                "{s:?} is not an IP address or a CIDR block (10.0.0.1, 10.0.0.0/8, fd00::/8; \
                 a prefix of at most 32 bits for IPv4, 128 for IPv6)"
            )
        })
}

/// `N/SECONDS` or `N/SECONDS:BURST`.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let bad = || format!("{s:?} is not N/SECONDS or N/SECONDS:BURST (e.g. 100/60:20)");
    let (n, rest) = s.split_once('/').ok_or_else(bad)?;
    let (secs, burst) = match rest.split_once(':') {
        Some((secs, burst)) => (secs, Some(burst)),
        None => (rest, None),
    };
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
    let burst: u32 = match burst {
        Some(b) => b.trim().parse().map_err(|_| bad())?,
        None => n,
    };
    Rate::new(n, Duration::from_secs(secs), burst).map_err(|e| format!("{s:?}: {e}"))
}

/// The fleet in the example's [`Config`](crate::Config).
#[derive(Debug, Clone, Default)]
pub struct FleetSettings {
    /// The Redis every fleet store uses; `None`: each store in this process's memory.
    pub redis: Option<String>,
    /// The shared secret, required with `redis`.
    pub secret: Option<Secret>,
    /// The pre-auth limit per client address.
    pub per_address: Option<Rate>,
    /// The post-auth limit per principal.
    pub per_principal: Option<Rate>,
    /// The proxies whose forwarding header names the client of the per-address limit
    /// (addresses or CIDR blocks); empty: none, the socket's address is the client's.
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write.
    pub proxy_header: ProxyHeaderFlag,
}

impl FleetArgs {
    /// The settings these flags ask for.
    pub fn settings(&self) -> FleetSettings {
        FleetSettings {
            redis: self.redis.clone(),
            secret: self.fleet_secret.clone(),
            per_address: self.rate_limit_per_address,
            per_principal: self.rate_limit_per_principal,
            trusted_proxies: self.trusted_proxies.clone(),
            proxy_header: self.proxy_header,
        }
    }
}

/// The connection every fleet store shares, and the secret of their keyed hashes.
#[derive(Clone)]
pub(crate) struct Fleet {
    conn: ConnectionManager,
    secret: Secret,
}

impl Fleet {
    /// The connection (clones share it).
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn secret_bytes(&self) -> Vec<u8> {
        self.secret.0.as_bytes().to_vec()
    }

    /// The layer's session bindings on Redis, dropped after `idle` without use.
    pub(crate) fn session_store(&self, idle: Duration) -> Result<RedisSessionStore, StartError> {
        let hasher = SessionHasher::new(self.secret_bytes()).map_err(weak)?;
        Ok(RedisSessionStore::new(self.connection(), hasher, idle))
    }

    /// rmcp's session state on Redis, dropped after `idle`.
    /// Its failed reads are recorded in `recent` too (see [`crate::unavailable`]).
    pub(crate) fn rmcp_sessions(
        &self,
        idle: Duration,
        recent: Arc<RecentLoadFailures>,
    ) -> Result<Arc<dyn RmcpSessionStore>, StartError> {
        // Its own key: the same secret, another label than the layer's binding hash.
        let mut secret = self.secret_bytes();
        secret.extend_from_slice(b" rmcp session state");
        let hasher = SessionHasher::new(secret).map_err(weak)?;
        Ok(Arc::new(RmcpSessionState {
            conn: self.connection(),
            hasher: Arc::new(hasher),
            idle_ms: u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1),
            recent,
        }))
    }
}

fn weak(e: impl fmt::Display) -> StartError {
    StartError::Fleet(format!("--fleet-secret: {e}"))
}

impl FleetSettings {
    /// The rates asked for, `None` when none is.
    fn limits(&self) -> Option<Limits> {
        let mut limits = Limits::new();
        if let Some(rate) = self.per_address {
            limits = limits.per_address(rate);
        }
        if let Some(rate) = self.per_principal {
            limits = limits.per_principal(rate);
        }
        (!limits.is_empty()).then_some(limits)
    }

    /// Checks the flags fit together (`dpop` and `stateful`: whether those stores are on)
    /// and connects to Redis if asked to. The errors name no secret and no URL (which may
    /// hold a password).
    pub(crate) async fn connect(
        &self,
        dpop: bool,
        stateful: bool,
    ) -> Result<Option<Fleet>, StartError> {
        let Some(url) = &self.redis else {
            if self.secret.is_some() {
                return Err(StartError::Fleet("--fleet-secret needs --redis".to_owned()));
            }
            return Ok(None);
        };
        if !dpop && !stateful && self.limits().is_none() {
            return Err(StartError::Fleet(
                "--redis needs --dpop allowed|required, --stateful or a --rate-limit-* flag \
                 (it would be unused)"
                    .to_owned(),
            ));
        }
        let Some(secret) = self.secret.clone() else {
            return Err(StartError::Fleet(
                "--redis needs --fleet-secret (or MCP_AUTH_FLEET_SECRET), the same on every instance"
                    .to_owned(),
            ));
        };
        if secret.0.len() < MIN_SECRET_BYTES {
            return Err(StartError::Fleet(format!(
                "the fleet secret has {} bytes, at least {MIN_SECRET_BYTES} are needed",
                secret.0.len()
            )));
        }
        let client = redis::Client::open(url.as_str())
            .map_err(|e| StartError::Fleet(format!("bad --redis URL: {}", e.category())))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StartError::Fleet(format!("cannot reach Redis: {}", e.category())))?;
        Ok(Some(Fleet { conn, secret }))
    }

    /// The trusted proxies asked for; an entry that is not an address or a CIDR block, or
    /// proxies without a per-address limit (they would be unused), is refused.
    fn proxies(&self) -> Result<TrustedProxies, StartError> {
        if self.trusted_proxies.is_empty() {
            return Ok(TrustedProxies::none());
        }
        if self.per_address.is_none() {
            return Err(StartError::Fleet(
                "--trusted-proxy needs --rate-limit-per-address (it would be unused)".to_owned(),
            ));
        }
        TrustedProxies::new(&self.trusted_proxies, self.proxy_header.into())
            .map_err(|e| StartError::Fleet(format!("--trusted-proxy: {e}")))
    }

    /// `builder` with the rate limits asked for (in memory, or on `fleet`'s Redis) and the
    /// trusted proxies of the per-address one.
    pub(crate) fn apply_limits(
        &self,
        builder: McpAuthBuilder,
        fleet: Option<&Fleet>,
    ) -> Result<McpAuthBuilder, StartError> {
        let proxies = self.proxies()?;
        let Some(limits) = self.limits() else {
            return Ok(builder);
        };
        let builder = if proxies.is_empty() {
            builder
        } else {
            builder.trusted_proxies(proxies)
        };
        Ok(match fleet {
            None => builder.rate_limits(Limiter::in_memory(limits)),
            Some(f) => {
                let store = RedisLimitStore::new(f.connection(), f.secret_bytes()).map_err(weak)?;
                builder.rate_limits(Limiter::with_store(limits, store))
            }
        })
    }
}

/// rmcp's session state (the client's `initialize` parameters) in Redis, so an instance
/// that did not open a session resumes it (rmcp replays the handshake,
/// [`StreamableHttpServerConfig::session_store`](rmcp::transport::streamable_http_server::StreamableHttpServerConfig)).
/// Keys are keyed hashes of the session ids, so the ids (which a client presents as a
/// credential of its session) are not in Redis. Who may use a session is the layer's
/// binding's job, checked before rmcp sees the request.
pub struct RmcpSessionState {
    conn: ConnectionManager,
    hasher: Arc<SessionHasher>,
    idle_ms: u64,
    recent: Arc<RecentLoadFailures>,
}

impl fmt::Debug for RmcpSessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RmcpSessionState")
            .field("idle_ms", &self.idle_ms)
            .finish_non_exhaustive()
    }
}

impl RmcpSessionState {
    fn key(&self, session_id: &str) -> String {
        let mut key = RMCP_SESSION_PREFIX.to_owned();
        URL_SAFE_NO_PAD.encode_string(self.hasher.session_id(session_id), &mut key);
        key
    }

    async fn read(&self, session_id: &str) -> Result<Option<SessionState>, RmcpStoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<String> = redis::cmd("GETEX")
            .arg(self.key(session_id))
            .arg("PX")
            .arg(self.idle_ms)
            .query_async(&mut conn)
            .await?;
        Ok(match raw {
            Some(json) => Some(serde_json::from_str(&json)?),
            None => None,
        })
    }

    async fn write(&self, session_id: &str, state: &SessionState) -> Result<(), RmcpStoreError> {
        let mut conn = self.conn.clone();
        let json = serde_json::to_string(state)?;
        let () = conn
            .pset_ex(self.key(session_id), json, self.idle_ms)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl RmcpSessionStore for RmcpSessionState {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, RmcpStoreError> {
        crate::unavailable::note_session_load();
        let r = self.read(session_id).await;
        if r.is_err() {
            self.recent.record(session_id);
        }
        noted("load", r)
    }

    /// A failed write is noted (the example warns, without the session id) and answered
    /// `Ok`: rmcp (3.9) does nothing with the error but log it at `WARN` with the session id
    /// in clear ("Failed to persist session … to store"), and goes on either way.
    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), RmcpStoreError> {
        let _ = noted("store", self.write(session_id, state).await);
        Ok(())
    }

    /// As [`Self::store`]: rmcp only logs a failed delete, with the session id ("Failed to
    /// delete session … from store"). The state left behind expires after the idle time and
    /// serves no one: the layer's binding is gone, so the session is unknown (404).
    async fn delete(&self, session_id: &str) -> Result<(), RmcpStoreError> {
        let mut conn = self.conn.clone();
        let deleted: Result<i64, redis::RedisError> = conn.del(self.key(session_id)).await;
        let _ = noted("delete", deleted.map(drop).map_err(Into::into));
        Ok(())
    }
}

/// A failed command marks the request, so its 500 from rmcp becomes the example's 503
/// ([`crate::unavailable`]), with the command and the [`error_kind`] for its warning. The
/// error rmcp gets (and logs, and writes in its 500) is [`StateStoreFailed`]: the command
/// and the kind, not the Redis or JSON error's text.
fn noted<T>(op: &'static str, r: Result<T, RmcpStoreError>) -> Result<T, RmcpStoreError> {
    r.map_err(|e| {
        let failure = StoreFailure {
            op,
            kind: error_kind(e.as_ref()),
        };
        crate::unavailable::note_session_store_failure(failure);
        Box::new(StateStoreFailed(failure)) as RmcpStoreError
    })
}

/// A failed command of [`RmcpSessionState`], as rmcp sees it.
#[derive(Debug, thiserror::Error)]
#[error("rmcp session state store: {} failed ({})", .0.op, .0.kind)]
struct StateStoreFailed(StoreFailure);

/// What kind of error a store command failed with, in words that hold no data (a Redis
/// error's text may quote a key or a value, a JSON error a part of the state).
fn error_kind(e: &(dyn std::error::Error + 'static)) -> &'static str {
    if let Some(e) = e.downcast_ref::<redis::RedisError>() {
        if e.is_timeout() {
            "timeout"
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            "connection"
        } else if matches!(
            e.kind(),
            redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
        ) {
            "server error"
        } else {
            "client error"
        }
    } else if e.is::<serde_json::Error>() {
        "json"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_a_burst() {
        let r = parse_rate("100/60:20").unwrap();
        assert_eq!(
            (r.requests(), r.period(), r.burst()),
            (100, Duration::from_secs(60), 20)
        );
        let r = parse_rate("5/1").unwrap();
        assert_eq!((r.requests(), r.burst()), (5, 5));
        for bad in ["", "5", "5/", "x/1", "5/1:", "0/1", "5/0", "5/1:0", "-1/1"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_secret_is_never_in_debug() {
        let s = Secret::from("a-very-secret-value-of-many-bytes-0123");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        let args = FleetArgs {
            fleet_secret: Some(s),
            ..FleetArgs::default()
        };
        assert!(!format!("{args:?}").contains("very-secret"));
    }

    async fn refused(settings: FleetSettings, dpop: bool, stateful: bool) -> String {
        match settings.connect(dpop, stateful).await {
            Ok(_) => panic!("{settings:?} connected"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn flags_that_do_not_fit_are_refused_without_naming_the_secret() {
        let secret = "short-secret-value";
        let redis = Some("redis://127.0.0.1:1/".to_owned());
        let e = refused(
            FleetSettings {
                redis: redis.clone(),
                secret: Some(secret.into()),
                ..FleetSettings::default()
            },
            true,
            false,
        )
        .await;
        assert!(e.contains("at least 32"), "{e}");
        assert!(!e.contains(secret), "{e}");
        let e = refused(
            FleetSettings {
                redis: redis.clone(),
                ..FleetSettings::default()
            },
            false,
            true,
        )
        .await;
        assert!(e.contains("--redis needs --fleet-secret"), "{e}");
        let e = refused(
            FleetSettings {
                redis,
                secret: Some("x".repeat(32).as_str().into()),
                ..FleetSettings::default()
            },
            false,
            false,
        )
        .await;
        assert!(e.contains("it would be unused"), "{e}");
        let e = refused(
            FleetSettings {
                secret: Some("x".repeat(32).as_str().into()),
                ..FleetSettings::default()
            },
            true,
            true,
        )
        .await;
        assert!(e.contains("--fleet-secret needs --redis"), "{e}");
    }
}
