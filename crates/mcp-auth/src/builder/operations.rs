//! The operational settings of [`McpAuthBuilder`]: rate limits, the trusted proxies their
//! client address may come from, and the session store (issue 18; see
//! [`crate::limit`], [`crate::client_addr`] and [`crate::session`]).

use super::McpAuthBuilder;
use crate::client_addr::TrustedProxies;
use crate::limit::{Limiter, RateLimitStore};
use crate::session::SessionStore;

impl McpAuthBuilder {
    /// Rate limits: the per-address limit before any token work (right after the `Origin`
    /// check), the per-principal and per-client limits with their scope tiers once the token
    /// was accepted. Over a limit is 429 with `Retry-After` and no token detail. A store that
    /// cannot answer lets the request through with a warning (fail open).
    ///
    /// The client address is the socket's: serve with axum's
    /// `into_make_service_with_connect_info::<SocketAddr>()`, or insert a
    /// [`ClientAddr`](crate::client_addr::ClientAddr) extension (hyper). Without either the
    /// per-address limit cannot apply (one warning is logged). `Forwarded` and
    /// `X-Forwarded-For` are read only from [`trusted_proxies`](Self::trusted_proxies).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_auth::McpAuthLayer;
    /// use mcp_auth::limit::{Limiter, Limits, Rate};
    /// # use mcp_auth::core::keys::StaticKeySource;
    ///
    /// let limits = Limits::new()
    ///     .per_address(Rate::new(100, Duration::from_secs(1), 200)?)
    ///     .per_principal(Rate::new(60, Duration::from_secs(60), 20)?)
    ///     .tier("mcp:admin", Rate::new(600, Duration::from_secs(60), 100)?, None);
    /// let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     .rate_limits(Limiter::in_memory(limits))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rate_limits<S: RateLimitStore>(mut self, limiter: Limiter<S>) -> Self {
        self.operations.set_limiter(limiter);
        self
    }

    /// The proxies whose `Forwarded` or `X-Forwarded-For` header names the client address
    /// for the per-address limit. None by default: the headers are then ignored, since any
    /// client can send them.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.operations.set_proxies(proxies);
        self
    }

    /// Binds `Mcp-Session-Id` to the principal (issuer, subject, client id) that opened the
    /// session: the response that assigns a new id records it, and a later request whose
    /// session id is unknown, ended, expired or another principal's is answered 404, the same
    /// in every case (MCP security best practices: session ids are bound to the user and
    /// never used for authentication). A successful `DELETE` ends the binding. A store error
    /// is 503 with `Retry-After`, on the request and when binding a new session.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_auth::McpAuthLayer;
    /// use mcp_auth::session::MemorySessionStore;
    /// # use mcp_auth::core::keys::StaticKeySource;
    ///
    /// let auth = McpAuthLayer::builder("https://mcp.example.com/mcp")
    ///     .issuer("https://auth.example.com")
    ///     .key_source(StaticKeySource::new())
    ///     .sessions(MemorySessionStore::new(10_000, Duration::from_secs(30 * 60)))
    ///     .build()?;
    /// # Ok::<(), mcp_auth::ConfigError>(())
    /// ```
    pub fn sessions(mut self, store: impl SessionStore) -> Self {
        self.operations.set_sessions(store);
        self
    }
}
