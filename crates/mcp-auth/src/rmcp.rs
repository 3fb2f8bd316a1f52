//! rmcp integration (feature `rmcp`): [`AuthContext`] as a tool/prompt handler parameter, and
//! an [`McpPolicy`](mcp_auth_core::mcp::McpPolicy) built from the server's tool list.
//!
//! ```ignore
//! #[tool(description = "Add a note")]
//! async fn add_note(&self, auth: AuthContext, Parameters(p): Parameters<Note>) -> Result<String, ErrorData> {
//!     Ok(format!("noted for {}", auth.subject().unwrap_or("?")))
//! }
//! ```
//!
//! rmcp's Streamable HTTP service puts the request's `http::request::Parts` into the
//! request context, and [`McpAuth`](crate::McpAuth) put the [`AuthContext`] into those
//! parts' extensions, so a handler can take `auth: AuthContext` directly.

use crate::context::{AuthContext, ScopeError};
use mcp_auth_core::mcp::McpPolicyBuilder;
use rmcp::handler::server::common::{AsRequestContext, FromContextPart};
use rmcp::model::{ErrorData, Extensions, Tool};

/// The `_meta` key of a tool that lists the scopes calling it needs: an array of scope
/// strings (all needed), or an array of such arrays (any one of them). An empty array is
/// the first form with no scope: the tool needs only the policy's default scopes.
pub const SCOPES_META_KEY: &str = "mcp-auth/scopes";

/// The [`AuthContext`] of the request whose rmcp context extensions are `ext`.
pub fn auth_context(ext: &Extensions) -> Option<AuthContext> {
    ext.get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<AuthContext>())
        .or_else(|| ext.get::<AuthContext>())
        .cloned()
}

impl<C: AsRequestContext> FromContextPart<C> for AuthContext {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        auth_context(&context.as_request_context().extensions).ok_or_else(|| {
            ErrorData::internal_error(
                "missing AuthContext: is McpAuthLayer applied in front of this MCP service?",
                None,
            )
        })
    }
}

impl From<ScopeError> for ErrorData {
    fn from(e: ScopeError) -> Self {
        // The layer answers with an HTTP 403 before a handler runs when a policy is
        // configured; this is the in-handler fallback.
        Self::invalid_request(e.error().description(), None)
    }
}

/// The tools of `tools` that `auth` may call under the layer's policy: for a `list_tools`
/// handler that hides what the caller cannot use. (Hiding is a courtesy; calls are enforced
/// by the layer either way.)
pub fn visible_tools(auth: &AuthContext, tools: Vec<Tool>) -> Vec<Tool> {
    tools
        .into_iter()
        .filter(|t| auth.may("tools/call", Some(&t.name)))
        .collect()
}

/// Annotates `tool` with the scopes calling it needs (read by [`policy_from_tools`]).
pub fn with_scopes<I, S>(mut tool: Tool, scopes: I) -> Tool
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let scopes: Vec<serde_json::Value> = scopes
        .into_iter()
        .map(|s| serde_json::Value::String(s.into()))
        .collect();
    let mut meta = tool.meta.take().unwrap_or_default();
    meta.insert(SCOPES_META_KEY.to_owned(), serde_json::Value::Array(scopes));
    tool.meta = Some(meta);
    tool
}

/// Why a tool's scope annotation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tool {tool:?}: `_meta[\"{SCOPES_META_KEY}\"]` must be an array of scope strings or of arrays of them"
)]
pub struct BadScopeAnnotation {
    /// The tool.
    pub tool: String,
}

/// Adds one rule per tool to `builder`: the scopes of its [`SCOPES_META_KEY`] annotation, or
/// only the policy's default scopes when it has none. Tools not in `tools` stay unknown, and
/// unknown names fail closed (see [`McpPolicyBuilder::unknown_names`]).
pub fn policy_from_tools<'a>(
    mut builder: McpPolicyBuilder,
    tools: impl IntoIterator<Item = &'a Tool>,
) -> Result<McpPolicyBuilder, BadScopeAnnotation> {
    for tool in tools {
        let bad = || BadScopeAnnotation {
            tool: tool.name.to_string(),
        };
        let annotation = tool.meta.as_ref().and_then(|m| m.get(SCOPES_META_KEY));
        let alternatives: Vec<Vec<&str>> = match annotation {
            None => vec![vec![]],
            Some(serde_json::Value::Array(items)) if items.iter().all(|v| v.is_string()) => {
                vec![items.iter().filter_map(|v| v.as_str()).collect()]
            }
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|alt| {
                    alt.as_array()
                        .and_then(|a| a.iter().map(|v| v.as_str()).collect::<Option<Vec<_>>>())
                        .ok_or_else(bad)
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad()),
        };
        builder = builder.name_any_of("tools/call", &tool.name, alternatives);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::mcp::{Classification, McpPolicy};
    use mcp_auth_core::scope::{FlatScopes, ScopeSet};
    use std::sync::Arc;

    fn tool(name: &'static str) -> Tool {
        Tool::new(name, "test tool", Arc::new(serde_json::Map::new()))
    }

    #[test]
    fn policy_follows_annotations() {
        let mut any = tool("export");
        any.meta = Some({
            let mut m = rmcp::model::MetaObject::default();
            m.insert(
                SCOPES_META_KEY.into(),
                serde_json::json!([["export:all"], ["mcp:admin"]]),
            );
            m
        });
        let tools = [
            tool("whoami"),
            with_scopes(tool("add_note"), ["mcp:write"]),
            any,
        ];
        let policy = policy_from_tools(McpPolicy::builder().default_scopes(["mcp:read"]), &tools)
            .unwrap()
            .build()
            .unwrap();
        let need = |n: &str| {
            policy.requirement(&Classification::Operations(vec![McpPolicy::operation(
                "tools/call",
                Some(n),
            )]))
        };
        let s = |x: &str| ScopeSet::parse(x).unwrap();
        assert!(need("whoami").is_satisfied_by(&s("mcp:read"), &FlatScopes));
        assert!(!need("add_note").is_satisfied_by(&s("mcp:read"), &FlatScopes));
        assert!(need("add_note").is_satisfied_by(&s("mcp:read mcp:write"), &FlatScopes));
        assert!(need("export").is_satisfied_by(&s("mcp:read mcp:admin"), &FlatScopes));
        assert!(!need("unlisted").is_satisfied_by(&s("mcp:read mcp:write"), &FlatScopes));
    }

    /// Issue 13, defect 8: an empty annotation is the empty scope list (the default scopes
    /// only), never an empty any-of list, which the policy builder refuses.
    #[test]
    fn empty_annotation_needs_the_default_only() {
        let tools = [with_scopes(tool("free"), Vec::<String>::new())];
        let policy = policy_from_tools(McpPolicy::builder().default_scopes(["mcp:read"]), &tools)
            .unwrap()
            .build()
            .unwrap();
        let need = policy.requirement(&Classification::Operations(vec![McpPolicy::operation(
            "tools/call",
            Some("free"),
        )]));
        let s = |x: &str| ScopeSet::parse(x).unwrap();
        assert!(need.is_satisfied_by(&s("mcp:read"), &FlatScopes));
        assert!(!need.is_satisfied_by(&s("other"), &FlatScopes));
    }

    #[test]
    fn bad_annotation_is_refused() {
        let mut t = tool("x");
        t.meta = Some({
            let mut m = rmcp::model::MetaObject::default();
            m.insert(SCOPES_META_KEY.into(), serde_json::json!("mcp:read"));
            m
        });
        assert!(policy_from_tools(McpPolicy::builder(), [&t]).is_err());
    }
}
