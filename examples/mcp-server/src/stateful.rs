//! `--stateful`: MCP sessions (the 2025-06-18 and 2025-11-25 transports' `Mcp-Session-Id`)
//! served by rmcp's session manager, with the layer's session binding on: the `initialize`
//! response that opens a session binds its id to the caller (issuer, subject, client id), and
//! a request carrying a session id some other caller opened is answered 404, as for an
//! unknown session (MCP security best practices, "Session Hijacking"). Requests of
//! 2026-07-28 clients carry no session and stay stateless.

use crate::server::NotesServer;
use mcp_auth::McpAuthBuilder;
use mcp_auth::session::MemorySessionStore;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;

/// Bindings kept at most (the oldest unused go first beyond it).
pub const MAX_SESSIONS: u64 = 10_000;

/// A binding unused this long is dropped; the session then reads as unknown (404).
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The layer with the session binding on, in this process's memory.
pub(crate) fn bind_sessions(builder: McpAuthBuilder) -> McpAuthBuilder {
    builder.sessions(MemorySessionStore::new(MAX_SESSIONS, SESSION_IDLE))
}

/// The MCP service with rmcp's in-memory session manager, on `config` (hosts, shutdown)
/// with sessions on.
pub(crate) fn service(
    handler: NotesServer,
    config: StreamableHttpServerConfig,
) -> StreamableHttpService<NotesServer, LocalSessionManager> {
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config.with_legacy_session_mode(true),
    )
}
