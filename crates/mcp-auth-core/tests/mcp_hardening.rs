//! Issue 13 (hardening), the MCP classification defects: positional params (7), empty
//! any-of lists (8), and the protocol versions whose `Mcp-*` headers may be trusted (1).

use mcp_auth_core::mcp::{
    Classification, McpHeaders, McpPolicy, PolicyError, VERSIONS_WITH_MCP_HEADERS, classify,
    protocol_defines_mcp_headers,
};
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

fn no_alternatives(r: Result<McpPolicy, PolicyError>) -> String {
    match r {
        Err(PolicyError::NoAlternatives { rule }) => rule,
        other => panic!("{other:?}"),
    }
}

/// Defect 8: an empty any-of list became "no requirement" (allow everything), against
/// `Requirement::any_of`'s own docs. It is a build error now, naming the rule.
#[test]
fn empty_any_of_list_is_a_build_error() {
    let rule = no_alternatives(
        McpPolicy::builder()
            .default_scopes(["mcp:read"])
            .name_any_of("tools/call", "admin_reset_notes", vec![])
            .build(),
    );
    assert_eq!(rule, r#"tools/call "admin_reset_notes""#);
    let rule = no_alternatives(
        McpPolicy::builder()
            .method_any_of("tools/call", vec![])
            .build(),
    );
    assert_eq!(rule, r#"method "tools/call""#);
    let e = McpPolicy::builder()
        .method_any_of("tools/call", vec![])
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"method "tools/call": an any-of requirement needs at least one alternative (an empty scope set means no scopes)"#
    );
    // An invalid scope is still its own error.
    assert!(matches!(
        McpPolicy::builder().tool("t", ["a\"b"]).build(),
        Err(PolicyError::InvalidScope(_))
    ));
}

/// Defect 8: an explicitly empty scope SET (all-of nothing) is the "no scopes" requirement,
/// not an error, and "never set" is told apart from "set": without `default_scopes` the
/// default is no requirement, with it the given set.
#[test]
fn empty_scope_set_means_no_scopes_and_unset_is_not_empty() {
    let none = ScopeSet::new();
    let call =
        |n: &str| Classification::Operations(vec![McpPolicy::operation("tools/call", Some(n))]);
    let policy = McpPolicy::builder()
        .default_scopes(Vec::<&str>::new())
        .tool("whoami", Vec::<&str>::new())
        .name_any_of("tools/call", "ping", vec![vec![]])
        .tool("admin", ["mcp:admin"])
        .build()
        .unwrap();
    assert!(
        policy
            .requirement(&call("whoami"))
            .is_satisfied_by(&none, &FlatScopes)
    );
    assert!(
        policy
            .requirement(&call("ping"))
            .is_satisfied_by(&none, &FlatScopes)
    );
    assert!(
        !policy
            .requirement(&call("admin"))
            .is_satisfied_by(&none, &FlatScopes)
    );
    let unset = McpPolicy::builder().build().unwrap();
    assert!(
        unset
            .default_requirement()
            .is_satisfied_by(&none, &FlatScopes)
    );
    let set = McpPolicy::builder()
        .default_scopes(["mcp:read"])
        .build()
        .unwrap();
    assert!(
        !set.default_requirement()
            .is_satisfied_by(&none, &FlatScopes)
    );
}

fn version_headers(values: &[&[u8]]) -> http::HeaderMap {
    let mut hm = http::HeaderMap::new();
    for v in values {
        hm.append(
            "MCP-Protocol-Version",
            http::HeaderValue::from_bytes(v).unwrap(),
        );
    }
    hm
}

/// Defect 1: only exactly one `MCP-Protocol-Version` whose bytes are a version that defines
/// the SEP-2243 headers lets the layer trust them.
#[test]
fn only_exact_single_versions_that_define_the_headers_count() {
    assert_eq!(VERSIONS_WITH_MCP_HEADERS, &["2026-07-28"]);
    assert!(protocol_defines_mcp_headers(&version_headers(&[
        b"2026-07-28"
    ])));
    for values in [
        &[][..],
        &[&b"2025-06-18"[..]],
        &[b"2025-11-25"],
        &[b"2024-11-05"],
        &[b" 2026-07-28"],
        &[b"2026-07-28 "],
        &[b"2026-07-28\t"],
        &[b"2026-07-28,2026-07-28"],
        &[b"2026-07-29"],
        &[b"2027-01-01"],
        &[b""],
        &[b"2026-07-28\xff"],
        &[b"2026-07-28", b"2026-07-28"],
        &[b"2026-07-28", b"2025-06-18"],
        &[b"2025-06-18", b"2026-07-28"],
    ] {
        assert!(
            !protocol_defines_mcp_headers(&version_headers(values)),
            "{values:?}"
        );
    }
}
