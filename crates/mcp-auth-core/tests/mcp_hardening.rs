//! Issue 13 (hardening), the MCP classification defects: positional params (7).

use mcp_auth_core::mcp::{Classification, McpHeaders, McpPolicy, classify};
use mcp_auth_core::scope::{FlatScopes, ScopeSet};

fn body_only(body: &[u8]) -> Classification {
    classify(&McpHeaders::default(), body).unwrap()
}

fn ops(c: Classification) -> Vec<(String, Option<String>)> {
    match c {
        Classification::Operations(v) => v.into_iter().map(|o| (o.method, o.name)).collect(),
        other => panic!("{other:?}"),
    }
}

/// Defect 7: serde's derived `Deserialize` fills a struct from a JSON array in field order,
/// so `"params": ["whoami", "admin_reset_notes"]` was classified as a call of `whoami`.
/// Params that are present and not an object, and messages that are not objects, are
/// Uncertain (every scope needed).
#[test]
fn positional_params_are_uncertain() {
    for body in [
        &br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["whoami","admin_reset_notes"]}"#[..],
        br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":["notes://list"]}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"whoami"}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":7}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":true}"#,
        br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":["whoami"]}]"#,
        // A whole message given as an array is read the same way (method, id, params).
        br#"[["tools/call",1,{"name":"whoami"}]]"#,
    ] {
        assert_eq!(
            body_only(body),
            Classification::Uncertain,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Headers cannot vouch for a body that is not classifiable: still Uncertain.
    let mut hm = http::HeaderMap::new();
    hm.insert("mcp-method", "tools/call".parse().unwrap());
    hm.insert("mcp-name", "whoami".parse().unwrap());
    let headers = McpHeaders::from_headers(&hm).unwrap();
    assert_eq!(
        classify(
            &headers,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["whoami","admin_reset_notes"]}"#
        ),
        Ok(Classification::Uncertain)
    );
}

/// Defect 7, the decision on `null`: no params, as if absent (nothing in it can name an
/// operation, and a server reading the message sees no name either).
#[test]
fn null_params_are_absent_params() {
    assert_eq!(
        ops(body_only(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#
        )),
        vec![("tools/call".to_owned(), None)]
    );
    assert_eq!(
        ops(body_only(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}"#
        )),
        vec![("tools/list".to_owned(), None)]
    );
    // Object params are read as before, nested objects included.
    assert_eq!(
        ops(body_only(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":["b"]}}"#
        )),
        vec![("tools/call".to_owned(), Some("a".to_owned()))]
    );
}

/// Defect 7 under a policy: the positional call needs every scope the policy names.
#[test]
fn positional_call_needs_every_scope() {
    let policy = McpPolicy::builder()
        .default_scopes(["mcp:read"])
        .tool("whoami", ["mcp:read"])
        .tool("admin_reset_notes", ["mcp:admin"])
        .build()
        .unwrap();
    let need = policy.requirement(&body_only(
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["whoami","admin_reset_notes"]}"#,
    ));
    let read = ScopeSet::parse("mcp:read").unwrap();
    assert!(!need.is_satisfied_by(&read, &FlatScopes));
    assert_eq!(
        need.challenge_scopes(&read, &FlatScopes).to_string(),
        "mcp:admin mcp:read"
    );
}
