//! Who may do what: the scopes of this server, their hierarchy, and the per-tool and
//! per-resource requirements.
//!
//! The route-level requirement (`mcp:read` for anything on the MCP endpoint) is enforced by
//! [`McpAuthLayer`](mcp_auth::McpAuthLayer). Finer requirements (`add_note` needs `mcp:write`)
//! are enforced here, in the MCP handler, through the [`OperationPolicy`] trait, so the check
//! can be replaced by (or kept behind) a layer-level per-tool policy later without touching
//! the tools: [`TOOL_SCOPES`] and [`RESOURCE_SCOPES`] are plain data a layer policy can be
//! built from.

use mcp_auth::AuthContext;
use mcp_auth::core::mcp::{McpPolicy, PolicyError};
use mcp_auth::core::scope::{ImpliedScopes, InvalidScope};
use std::fmt;

/// Read access: list tools and resources, call read-only tools.
pub const SCOPE_READ: &str = "mcp:read";
/// Write access: change notes. Implies [`SCOPE_READ`].
pub const SCOPE_WRITE: &str = "mcp:write";
/// Administration: server-wide statistics. Implies [`SCOPE_WRITE`].
pub const SCOPE_ADMIN: &str = "mcp:admin";

/// Every scope this server understands, narrowest first (the default `scopes_supported`).
pub const ALL_SCOPES: [&str; 3] = [SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN];

/// The scopes every request to the MCP endpoint needs (enforced by the layer).
pub const ENDPOINT_SCOPES: [&str; 1] = [SCOPE_READ];

/// The scopes each tool needs.
pub const TOOL_SCOPES: &[(&str, &[&str])] = &[
    ("whoami", &[SCOPE_READ]),
    ("echo", &[SCOPE_READ]),
    ("list_notes", &[SCOPE_READ]),
    ("add_note", &[SCOPE_WRITE]),
    ("note_stats", &[SCOPE_ADMIN]),
    ("admin_reset_notes", &[SCOPE_ADMIN]),
];

/// The scopes each resource needs.
pub const RESOURCE_SCOPES: &[(&str, &[&str])] = &[
    (crate::server::NOTES_URI, &[SCOPE_READ]),
    (crate::server::GUIDE_URI, &[SCOPE_READ]),
];

/// `mcp:admin` ⊃ `mcp:write` ⊃ `mcp:read` (MCP 2026-07-28, "Scope Selection Strategy":
/// servers must account for scope hierarchies).
///
/// # Errors
///
/// Never in practice: the scopes are constants with valid syntax.
pub fn scope_hierarchy() -> Result<ImpliedScopes, InvalidScope> {
    ImpliedScopes::builder()
        .implies(SCOPE_ADMIN, [SCOPE_WRITE])
        .implies(SCOPE_WRITE, [SCOPE_READ])
        .build()
}

/// The same requirements as a layer-level [`McpPolicy`] (crate mcp-auth,
/// `McpAuthBuilder::mcp_policy`): [`ENDPOINT_SCOPES`] for every message, [`TOOL_SCOPES`] per
/// tool, [`RESOURCE_SCOPES`] per resource. Not installed by [`start`](crate::start) yet: the
/// handler enforces the table itself; with this policy in the layer, a call lacking a scope is
/// answered HTTP 403 `insufficient_scope` (step-up) before reaching the handler.
///
/// # Errors
///
/// Never in practice: the scopes are constants with valid syntax, and every rule has one
/// scope set.
pub fn layer_policy() -> Result<McpPolicy, PolicyError> {
    let mut builder = McpPolicy::builder().default_scopes(ENDPOINT_SCOPES);
    for (tool, scopes) in TOOL_SCOPES {
        builder = builder.tool(tool, scopes.iter());
    }
    for (uri, scopes) in RESOURCE_SCOPES {
        builder = builder.resource(uri, scopes.iter());
    }
    builder.build()
}

/// An MCP operation a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    /// `tools/call` of this tool.
    CallTool(&'a str),
    /// `resources/read` of this URI.
    ReadResource(&'a str),
}

impl fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CallTool(name) => write!(f, "tool `{name}`"),
            Self::ReadResource(uri) => write!(f, "resource `{uri}`"),
        }
    }
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The scopes the operation needs (all of them, as in an `insufficient_scope` challenge).
    pub required: Vec<String>,
    /// The scopes the token holds.
    pub granted: Vec<String>,
    /// A message for the caller.
    pub message: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Denied {}

/// Decides whether the caller may perform an operation. Plug another implementation into
/// [`NotesServer::with_policy`](crate::NotesServer::with_policy), e.g. one that trusts a
/// layer-level per-tool policy, or one that also looks at the client id.
pub trait OperationPolicy: Send + Sync + fmt::Debug + 'static {
    /// `Ok` if `caller` may perform `operation`.
    ///
    /// # Errors
    ///
    /// [`Denied`] naming the scopes the operation needs.
    fn check(&self, caller: &AuthContext, operation: Operation<'_>) -> Result<(), Denied>;
}

/// The default policy: a static table of required scopes per tool and resource, checked with
/// [`AuthContext::require_scopes`] (so the layer's scope hierarchy applies). An operation
/// missing from the table is refused (fail closed).
#[derive(Debug, Clone)]
pub struct ScopeTable {
    tools: &'static [(&'static str, &'static [&'static str])],
    resources: &'static [(&'static str, &'static [&'static str])],
}

impl Default for ScopeTable {
    fn default() -> Self {
        Self {
            tools: TOOL_SCOPES,
            resources: RESOURCE_SCOPES,
        }
    }
}

impl ScopeTable {
    /// The scopes `operation` needs, or `None` if the table has no entry for it.
    pub fn required(&self, operation: Operation<'_>) -> Option<&'static [&'static str]> {
        let (table, key) = match operation {
            Operation::CallTool(name) => (self.tools, name),
            Operation::ReadResource(uri) => (self.resources, uri),
        };
        table.iter().find(|(k, _)| *k == key).map(|(_, s)| *s)
    }
}

impl OperationPolicy for ScopeTable {
    fn check(&self, caller: &AuthContext, operation: Operation<'_>) -> Result<(), Denied> {
        let granted: Vec<String> = caller
            .scopes()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let Some(required) = self.required(operation) else {
            return Err(Denied {
                required: Vec::new(),
                granted,
                message: format!("no access policy is defined for {operation}; refused"),
            });
        };
        // The endpoint's scopes are always part of what the operation needs, so the message
        // names every scope to ask for (MCP: one challenge with all the scopes needed).
        let mut all: Vec<&str> = ENDPOINT_SCOPES.to_vec();
        for s in required {
            if !all.contains(s) {
                all.push(s);
            }
        }
        match caller.require_scopes(all.iter().copied()) {
            Ok(()) => Ok(()),
            Err(_) => Err(Denied {
                message: format!(
                    "insufficient_scope: {operation} needs scope \"{}\"; the access token grants \"{}\". \
                     Authorize again with scope=\"{}\".",
                    required.join(" "),
                    granted.join(" "),
                    all.join(" "),
                ),
                required: all.iter().map(|s| (*s).to_owned()).collect(),
                granted,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth::core::scope::{Scope, ScopeHierarchy};

    #[test]
    fn hierarchy_is_admin_write_read() {
        let h = scope_hierarchy().unwrap();
        let s = |x: &str| Scope::new(x).unwrap();
        assert!(h.implies(&s(SCOPE_ADMIN), &s(SCOPE_READ)));
        assert!(h.implies(&s(SCOPE_ADMIN), &s(SCOPE_WRITE)));
        assert!(h.implies(&s(SCOPE_WRITE), &s(SCOPE_READ)));
        assert!(!h.implies(&s(SCOPE_READ), &s(SCOPE_WRITE)));
        assert!(!h.implies(&s(SCOPE_WRITE), &s(SCOPE_ADMIN)));
    }

    #[test]
    fn layer_policy_agrees_with_the_handler_table() {
        use mcp_auth::core::mcp::Classification;
        use mcp_auth::core::scope::ScopeSet;
        let policy = layer_policy().unwrap();
        let h = scope_hierarchy().unwrap();
        let need = |tool: &str| {
            policy.requirement(&Classification::Operations(vec![McpPolicy::operation(
                "tools/call",
                Some(tool),
            )]))
        };
        let granted = |s: &str| ScopeSet::parse(s).unwrap();
        for (tool, scopes) in TOOL_SCOPES {
            let exact = granted(&scopes.join(" "));
            assert!(need(tool).is_satisfied_by(&exact, &h), "{tool}");
            assert!(
                need(tool).is_satisfied_by(&granted(SCOPE_ADMIN), &h),
                "{tool}"
            );
        }
        assert!(!need("add_note").is_satisfied_by(&granted(SCOPE_READ), &h));
        assert!(!need("note_stats").is_satisfied_by(&granted(SCOPE_WRITE), &h));
        assert!(!need("unknown").is_satisfied_by(&granted(SCOPE_WRITE), &h));
    }

    #[test]
    fn table_lookup() {
        let t = ScopeTable::default();
        assert_eq!(
            t.required(Operation::CallTool("add_note")),
            Some(&[SCOPE_WRITE][..])
        );
        assert_eq!(t.required(Operation::CallTool("nope")), None);
        assert_eq!(
            t.required(Operation::ReadResource(crate::server::NOTES_URI)),
            Some(&[SCOPE_READ][..])
        );
    }
}
