//! The MCP server: tools, a resource, and who the caller is.
//!
//! [`McpAuthLayer`](mcp_auth::McpAuthLayer) verifies the token and inserts an
//! [`AuthContext`] into the HTTP request extensions; rmcp's Streamable HTTP service puts the
//! request's `http::request::Parts` into the MCP request context, and mcp-auth's `rmcp`
//! feature makes `auth: AuthContext` a tool parameter (or [`mcp_auth::rmcp::auth_context`]
//! from a `RequestContext`).

use crate::notes::{Note, NoteStats, NoteStore, ResetResult};
use crate::policy::{Denied, Operation, OperationPolicy, ScopeTable};
use mcp_auth::AuthContext;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Json, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The caller's notes, as JSON (needs `mcp:read`).
pub const NOTES_URI: &str = "notes://mine";
/// A short guide to this server: tools, scopes, how to get a token (needs `mcp:read`).
pub const GUIDE_URI: &str = "docs://guide";

const GUIDE: &str = "\
# mcp-auth example server

An MCP server behind `McpAuthLayer` (crate mcp-auth). Every request needs an OAuth access \
token for this server's resource URI with scope `mcp:read`.

| tool | needs |
|---|---|
| `whoami` | mcp:read |
| `echo` | mcp:read |
| `list_notes` | mcp:read |
| `add_note` | mcp:write |
| `note_stats` | mcp:admin |
| `admin_reset_notes` | mcp:admin |

Scopes form a hierarchy: `mcp:admin` implies `mcp:write`, which implies `mcp:read`.
Notes are kept in memory per user (issuer and subject of the token).
";

/// The caller of this MCP request, from the layer.
///
/// # Errors
///
/// An internal error when there is none: the MCP service is not behind `McpAuthLayer`
/// (a wiring bug, never a client error).
fn caller(ctx: &RequestContext<RoleServer>) -> Result<AuthContext, ErrorData> {
    mcp_auth::rmcp::auth_context(&ctx.extensions).ok_or_else(|| {
        ErrorData::internal_error(
            "no AuthContext for this request: is McpAuthLayer in front of the MCP service?",
            None,
        )
    })
}

/// `echo` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    pub text: String,
}

/// `add_note` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AddNoteArgs {
    /// The note (at most 1000 characters).
    pub text: String,
}

/// `whoami` result.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WhoAmI {
    /// `sub` of the access token.
    pub subject: Option<String>,
    /// `client_id` (or `azp`) of the access token.
    pub client_id: Option<String>,
    /// `iss` of the access token.
    pub issuer: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The key this server files the caller's notes under.
    pub user_key: String,
}

/// `list_notes` result.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NoteList {
    /// The caller's notes, oldest first.
    pub notes: Vec<Note>,
}

/// The MCP server handler. Cheap to clone: rmcp's stateless Streamable HTTP service makes one
/// per request, and they all share the note store and the policy.
#[derive(Clone)]
pub struct NotesServer {
    notes: Arc<NoteStore>,
    policy: Arc<dyn OperationPolicy>,
    tool_router: ToolRouter<Self>,
}

impl fmt::Debug for NotesServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotesServer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for NotesServer {
    fn default() -> Self {
        Self::new(Arc::new(NoteStore::new()))
    }
}

#[tool_router]
impl NotesServer {
    /// A server over `notes`, with the [`ScopeTable`] policy.
    pub fn new(notes: Arc<NoteStore>) -> Self {
        Self {
            notes,
            policy: Arc::new(ScopeTable::default()),
            tool_router: Self::tool_router(),
        }
    }

    /// Replaces the per-operation policy.
    #[must_use]
    pub fn with_policy(mut self, policy: impl OperationPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// The note store.
    pub fn notes(&self) -> &Arc<NoteStore> {
        &self.notes
    }

    #[tool(
        description = "Who am I? The subject, client id, issuer and scopes of the access token this call was made with."
    )]
    async fn whoami(&self, auth: AuthContext) -> Json<WhoAmI> {
        Json(WhoAmI {
            subject: auth.subject().map(str::to_owned),
            client_id: auth.client_id().map(str::to_owned),
            issuer: auth.issuer().to_owned(),
            scopes: auth
                .scopes()
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            user_key: auth.user_key(),
        })
    }

    #[tool(description = "Sends the text back.")]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    #[tool(description = "Adds a note to your notes (needs scope mcp:write).")]
    async fn add_note(
        &self,
        auth: AuthContext,
        Parameters(args): Parameters<AddNoteArgs>,
    ) -> Result<Json<Note>, CallToolResult> {
        self.notes
            .add(&auth.user_key(), &args.text)
            .map(Json)
            .map_err(|e| CallToolResult::error(vec![ContentBlock::text(e.to_string())]))
    }

    #[tool(description = "Lists your notes, oldest first.")]
    async fn list_notes(&self, auth: AuthContext) -> Json<NoteList> {
        Json(NoteList {
            notes: self.notes.list(&auth.user_key()),
        })
    }

    #[tool(description = "How many users and notes this server holds (needs scope mcp:admin).")]
    async fn note_stats(&self) -> Json<NoteStats> {
        Json(self.notes.stats())
    }

    #[tool(description = "Deletes every user's notes (needs scope mcp:admin).")]
    async fn admin_reset_notes(&self) -> Json<ResetResult> {
        Json(ResetResult {
            deleted: self.notes.reset(),
        })
    }
}

/// The tool error answered when the policy refuses a call: `isError: true` with a message
/// naming the scopes to ask for, so the caller (and the model) can see it.
fn denied_result(denied: &Denied) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(denied.message.clone())])
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "mcp-auth-example",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "A notes demo behind OAuth. `whoami` shows who you are; `add_note` (scope mcp:write) \
             and `list_notes` keep short notes per user; read docs://guide for the scope model.",
        )
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Unknown tools get the router's own error; known ones pass the policy first.
        if self.tool_router.get(&request.name).is_some() {
            let caller = caller(&context)?;
            if let Err(denied) = self
                .policy
                .check(&caller, Operation::CallTool(&request.name))
            {
                tracing::info!(
                    tool = %request.name,
                    sub = caller.subject().unwrap_or_default(),
                    client_id = caller.client_id().unwrap_or_default(),
                    "tool call refused: {denied}"
                );
                return Ok(denied_result(&denied).into());
            }
        }
        let tcc = ToolCallContext::new(self, request, context);
        self.tool_router.call(tcc).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(NOTES_URI, "my-notes")
                .with_title("My notes")
                .with_description("The notes you added with add_note, as JSON.")
                .with_mime_type("application/json"),
            Resource::new(GUIDE_URI, "guide")
                .with_title("Guide")
                .with_description("The tools of this server and the scopes they need.")
                .with_mime_type("text/markdown"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.as_str();
        if uri != NOTES_URI && uri != GUIDE_URI {
            return Err(ErrorData::resource_not_found(
                format!("no resource {uri}"),
                None,
            ));
        }
        let caller = caller(&context)?;
        if let Err(denied) = self.policy.check(&caller, Operation::ReadResource(uri)) {
            return Err(ErrorData::invalid_request(denied.message, None));
        }
        let result = if uri == NOTES_URI {
            let notes = NoteList {
                notes: self.notes.list(&caller.user_key()),
            };
            let text = serde_json::to_string_pretty(&notes)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type("application/json"),
            ])
            .with_cache_scope(CacheScope::Private)
        } else {
            ReadResourceResult::new(vec![
                ResourceContents::text(GUIDE, uri).with_mime_type("text/markdown"),
            ])
        };
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{RESOURCE_SCOPES, TOOL_SCOPES};

    #[test]
    fn every_tool_and_resource_has_a_policy_entry() {
        let table = ScopeTable::default();
        let tools = NotesServer::default().tool_router.list_all();
        assert_eq!(tools.len(), TOOL_SCOPES.len());
        for tool in tools {
            assert!(
                table.required(Operation::CallTool(&tool.name)).is_some(),
                "no policy for tool {}",
                tool.name
            );
        }
        assert_eq!(RESOURCE_SCOPES.len(), 2);
        assert!(table.required(Operation::ReadResource(NOTES_URI)).is_some());
        assert!(table.required(Operation::ReadResource(GUIDE_URI)).is_some());
    }
}
