//! `--stateful`: MCP sessions (the 2025-06-18 and 2025-11-25 transports' `Mcp-Session-Id`)
//! served by rmcp's session manager, with the layer's session binding on: the `initialize`
//! response that opens a session binds its id to the caller (issuer, subject, client id), and
//! a request carrying a session id some other caller opened is answered 404, as for an
//! unknown session (MCP security best practices, "Session Hijacking"). Requests of
//! 2026-07-28 clients carry no session and stay stateless.
//!
//! With `--redis` ([`crate::fleet`]) both halves are shared by the fleet: the bindings in the
//! layer's Redis session store, and rmcp's session state, so a session opened at one
//! instance is resumed by any other for the same user (rmcp replays the handshake) and a
//! `DELETE` at any instance ends it everywhere.

use crate::StartError;
use crate::fleet::Fleet;
use crate::server::NotesServer;
use mcp_auth::McpAuthBuilder;
use mcp_auth::session::MemorySessionStore;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
pub use rmcp::transport::streamable_http_server::session::store::SessionStore as RmcpSessionStore;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;

/// Bindings kept at most (the oldest unused go first beyond it).
pub const MAX_SESSIONS: u64 = 10_000;

/// A binding unused this long is dropped; the session then reads as unknown (404).
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The layer with the session binding on: in this process's memory, or in the fleet's Redis.
pub(crate) fn bind_sessions(
    builder: McpAuthBuilder,
    fleet: Option<&Fleet>,
) -> Result<McpAuthBuilder, StartError> {
    Ok(match fleet {
        None => builder.sessions(MemorySessionStore::new(MAX_SESSIONS, SESSION_IDLE)),
        Some(f) => builder.sessions(f.session_store(SESSION_IDLE)?),
    })
}

/// The MCP service with rmcp's in-memory session manager, on `config` (hosts, shutdown)
/// with sessions on; with `shared`, their state is kept there too, so another instance can
/// resume them.
pub(crate) fn service(
    handler: NotesServer,
    mut config: StreamableHttpServerConfig,
    shared: Option<Arc<dyn RmcpSessionStore>>,
) -> StreamableHttpService<NotesServer, LocalSessionManager> {
    config.session_store = shared;
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config.with_legacy_session_mode(true),
    )
}
