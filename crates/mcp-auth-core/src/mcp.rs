//! MCP-aware authorization: which JSON-RPC operation a request performs, and which scopes it
//! needs.
//!
//! - Operation detection: the MCP 2026-07-28 transport headers `Mcp-Method` and `Mcp-Name`
//!   (SEP-2243), cross-checked against the JSON-RPC body. Servers that process the body
//!   "MUST reject requests where the values specified in the headers do not match" (HTTP 400,
//!   JSON-RPC error -32020; transport "Server Validation"). Older clients send no headers and
//!   are classified from the body alone.
//! - Scopes: a [`McpPolicy`] of default, per-method and per-name (tool, resource URI, prompt)
//!   [`Requirement`]s, honouring a scope hierarchy (MCP 2026-07-28: servers MUST account for
//!   scope hierarchies). Unknown names and bodies that cannot be classified with certainty
//!   fail closed.

use base64::Engine;
use serde::Deserialize;
use std::borrow::Cow;

mod policy;
pub use policy::{McpPolicy, McpPolicyBuilder, PolicyError, Requirement};

/// The `Mcp-Method` header (SEP-2243).
pub const HEADER_MCP_METHOD: &str = "mcp-method";
/// The `Mcp-Name` header (SEP-2243).
pub const HEADER_MCP_NAME: &str = "mcp-name";
/// JSON-RPC error code for a header/body mismatch (MCP 2026-07-28 transport).
pub const HEADER_MISMATCH_CODE: i32 = -32020;
/// The `MCP-Protocol-Version` header (MCP transport, "Protocol Version Header").
pub const HEADER_MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// The protocol versions that define the `Mcp-Method`/`Mcp-Name` headers (SEP-2243), as
/// they appear in `MCP-Protocol-Version`. 2025-06-18 and 2025-11-25 do not define them, so
/// a server speaking those versions has no reason to cross-check them with the body (rmcp
/// 3.9 checks them only from 2026-07-28 on). The list is explicit, not "this date or later":
/// a version is added here once it is known to define the headers.
pub const VERSIONS_WITH_MCP_HEADERS: &[&str] = &["2026-07-28"];

static PROTOCOL_VERSION: http::HeaderName =
    http::HeaderName::from_static(HEADER_MCP_PROTOCOL_VERSION);

/// Whether the request's protocol version defines the SEP-2243 headers: exactly one
/// `MCP-Protocol-Version` header whose value is, byte for byte (no trimming, no case
/// folding), one of [`VERSIONS_WITH_MCP_HEADERS`]. Absent, repeated, padded or unknown
/// values give `false`.
///
/// This is what makes trusting the headers sound: the inner server must cross-check them
/// with the body, and it does so only for a version that defines them. rmcp reads the
/// first value, untrimmed, and compares it as a string with `2026-07-28`; every request
/// this function accepts is one rmcp cross-checks.
pub fn protocol_defines_mcp_headers(headers: &http::HeaderMap) -> bool {
    let mut values = headers.get_all(&PROTOCOL_VERSION).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => VERSIONS_WITH_MCP_HEADERS
            .iter()
            .any(|known| v.as_bytes() == known.as_bytes()),
        _ => false,
    }
}

/// Methods whose name is `params.name`.
const NAME_FROM_NAME: [&str; 2] = ["tools/call", "prompts/get"];
/// Methods whose name is `params.uri`.
const NAME_FROM_URI: [&str; 3] = [
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// Whether `method` carries a name (a tool, prompt or resource URI).
pub fn method_has_name(method: &str) -> bool {
    NAME_FROM_NAME.contains(&method) || NAME_FROM_URI.contains(&method)
}

/// One JSON-RPC request or notification, as far as authorization cares.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Operation {
    /// The JSON-RPC method.
    pub method: String,
    /// The tool or prompt name, or the resource URI, for methods that have one.
    pub name: Option<String>,
}

/// What a request does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Classification {
    /// These operations (one for a plain request, several for a JSON-RPC batch; empty when
    /// the body only holds responses to server requests).
    Operations(Vec<Operation>),
    /// Not classifiable with certainty (not JSON, not JSON-RPC): needs every scope any
    /// operation needs.
    Uncertain,
}

/// The `Mcp-Method`/`Mcp-Name` headers disagree with the body, or are malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct HeaderMismatch {
    /// Fixed description.
    pub reason: &'static str,
    /// The JSON-RPC `id` of the request, for the error response (`null` if none).
    pub id: serde_json::Value,
}

/// The values of the SEP-2243 headers of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct McpHeaders {
    /// `Mcp-Method`.
    pub method: Option<String>,
    /// `Mcp-Name`, decoded from its `=?base64?…?=` form if needed.
    pub name: Option<String>,
}

impl McpHeaders {
    /// Reads the headers. Duplicates, non-visible characters and bad base64 are a mismatch.
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Self, HeaderMismatch> {
        let one = |name: &str| -> Result<Option<String>, HeaderMismatch> {
            let mut it = headers.get_all(name).iter();
            let Some(v) = it.next() else { return Ok(None) };
            if it.next().is_some() {
                return Err(mismatch("duplicate Mcp-Method or Mcp-Name header"));
            }
            v.to_str()
                .map(|s| Some(s.trim().to_owned()))
                .map_err(|_| mismatch("Mcp-Method or Mcp-Name header has invalid characters"))
        };
        let method = one(HEADER_MCP_METHOD)?;
        let name = match one(HEADER_MCP_NAME)? {
            Some(raw) => Some(decode_header_value(&raw)?),
            None => None,
        };
        Ok(Self { method, name })
    }

    /// Whether neither header is present.
    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.name.is_none()
    }

    /// The operation the headers alone describe, if `Mcp-Method` is present.
    pub fn operation(&self) -> Option<Operation> {
        self.method.as_ref().map(|m| Operation {
            method: m.clone(),
            name: self.name.clone(),
        })
    }
}

fn mismatch(reason: &'static str) -> HeaderMismatch {
    HeaderMismatch {
        reason,
        id: serde_json::Value::Null,
    }
}

/// SEP-2243 value encoding: `=?base64?<standard base64 of UTF-8>?=`, else the raw value.
fn decode_header_value(raw: &str) -> Result<String, HeaderMismatch> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| mismatch("Mcp-Name header is not valid base64")),
        None => Ok(raw.to_owned()),
    }
}

/// `T` read from a JSON object only. A derived `Deserialize` of a struct also accepts a JSON
/// array, filling the fields in declaration order: positional `params`
/// `["whoami", "admin_reset_notes"]` would be read as `name = "whoami"`. JSON-RPC 2.0 §4.2
/// allows positional params, and MCP defines none, so a server that took them could run
/// another operation than the one classified; an array (or any non-object) fails the parse
/// and the body is [`Classification::Uncertain`].
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Object(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::borrowed_or_owned")]
    method: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    /// Absent or `null`: no params (nothing in them can name an operation, and a server
    /// reading the message sees no name either). Anything else but an object: Uncertain.
    #[serde(borrow, default)]
    params: Option<ObjectOnly<RawParams<'a>>>,
}

#[derive(Deserialize)]
struct RawParams<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::borrowed_or_owned")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::borrowed_or_owned")]
    uri: Option<Cow<'a, str>>,
}

impl RawMessage<'_> {
    fn operation(&self) -> Option<Operation> {
        let method = self.method.as_deref()?;
        let name = self.params.as_ref().and_then(|ObjectOnly(p)| {
            if NAME_FROM_NAME.contains(&method) {
                p.name.as_deref()
            } else if NAME_FROM_URI.contains(&method) {
                p.uri.as_deref()
            } else {
                None
            }
        });
        Some(Operation {
            method: method.to_owned(),
            name: name.map(str::to_owned),
        })
    }
}

/// Classifies a JSON-RPC body and cross-checks it with the SEP-2243 headers.
///
/// `Err` only for a header/body disagreement (answer 400, JSON-RPC -32020). A body that is
/// not JSON-RPC gives [`Classification::Uncertain`] (the inner service reports the parse
/// error; the layer demands every scope first).
pub fn classify(headers: &McpHeaders, body: &[u8]) -> Result<Classification, HeaderMismatch> {
    // serde_json does not read the members a struct ignores as JSON values: bytes that are
    // not UTF-8 (RFC 8259 §8.1), `{"x":1e400}` (a number no parser can hold), a lone
    // surrogate escape or a duplicate member name there would pass the typed read below
    // although the inner service's parser reads the body differently or not at all (found
    // by `fuzz/` mcp_classify). The whole body is read once as `serde_json::Value` reads it
    // (strings decoded, so UTF-8 checked), without building anything (the JSON rules of
    // tokens: `json::check_slice`); a body that breaks them is Uncertain, never refused here.
    if crate::json::check_slice(body).is_err() {
        return uncertain(headers);
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    // Each message must be an object (JSON-RPC 2.0 §4, §6): a message given as an array
    // would otherwise be read field by field in order, like positional params.
    let messages: Vec<RawMessage<'_>> = match first {
        Some(b'{') => match serde_json::from_slice::<ObjectOnly<RawMessage<'_>>>(body) {
            Ok(ObjectOnly(m)) => vec![m],
            Err(_) => return uncertain(headers),
        },
        Some(b'[') => match serde_json::from_slice::<Vec<ObjectOnly<RawMessage<'_>>>>(body) {
            Ok(v) if !v.is_empty() => v.into_iter().map(|ObjectOnly(m)| m).collect(),
            _ => return uncertain(headers),
        },
        _ => return uncertain(headers),
    };
    let ops: Vec<Operation> = messages.iter().filter_map(RawMessage::operation).collect();
    if !headers.is_empty() {
        let id = match messages.as_slice() {
            [m] => m.id.clone().unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Null,
        };
        let fail = |reason| {
            Err(HeaderMismatch {
                reason,
                id: id.clone(),
            })
        };
        let Some(h_method) = headers.method.as_deref() else {
            return fail("Mcp-Name header without Mcp-Method");
        };
        // Every message must be the operation the headers name (responses have no method).
        if ops.len() != messages.len() {
            return fail("Mcp-Method header does not match the body");
        }
        for op in &ops {
            if op.method != h_method {
                return fail("Mcp-Method header does not match the body method");
            }
            if op.name.as_deref() != headers.name.as_deref() {
                return fail("Mcp-Name header does not match the body");
            }
        }
    }
    Ok(Classification::Operations(ops))
}

fn uncertain(_headers: &McpHeaders) -> Result<Classification, HeaderMismatch> {
    // Headers cannot be checked against a body that is not JSON-RPC, so they are not trusted.
    Ok(Classification::Uncertain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{FlatScopes, ImpliedScopes, ScopeSet};

    fn h(method: Option<&str>, name: Option<&str>) -> McpHeaders {
        McpHeaders {
            method: method.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }

    fn ops(c: Result<Classification, HeaderMismatch>) -> Vec<(String, Option<String>)> {
        match c {
            Ok(Classification::Operations(v)) => {
                v.into_iter().map(|o| (o.method, o.name)).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"hi","nested":{"name":"decoy"}}}}"#;

    #[test]
    fn body_only() {
        assert_eq!(
            ops(classify(&h(None, None), CALL)),
            vec![("tools/call".into(), Some("add_note".into()))]
        );
        let read = br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"notes://list","name":"x"}}"#;
        assert_eq!(
            ops(classify(&h(None, None), read)),
            vec![("resources/read".into(), Some("notes://list".into()))]
        );
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"ignored"}}"#;
        assert_eq!(
            ops(classify(&h(None, None), list)),
            vec![("tools/list".into(), None)]
        );
    }

    #[test]
    fn headers_and_body() {
        assert!(classify(&h(Some("tools/call"), Some("add_note")), CALL).is_ok());
        let e = classify(&h(Some("tools/call"), Some("whoami")), CALL).unwrap_err();
        assert_eq!(
            (e.reason, e.id.clone()),
            (
                "Mcp-Name header does not match the body",
                serde_json::json!(7)
            )
        );
        assert!(classify(&h(Some("tools/list"), None), CALL).is_err());
        assert!(classify(&h(Some("tools/call"), None), CALL).is_err());
        assert!(classify(&h(None, Some("add_note")), CALL).is_err());
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert!(classify(&h(Some("tools/list"), Some("x")), list).is_err());
        assert!(classify(&h(Some("tools/list"), None), list).is_ok());
    }

    #[test]
    fn batch_notification_response_and_junk() {
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a"}}]"#;
        assert_eq!(ops(classify(&h(None, None), batch)).len(), 2);
        let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(
            ops(classify(&h(None, None), note)),
            vec![("notifications/initialized".into(), None)]
        );
        let resp = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        assert_eq!(ops(classify(&h(None, None), resp)), vec![]);
        assert!(classify(&h(Some("tools/list"), None), resp).is_err());
        for junk in [
            &b"not json"[..],
            b"",
            b"[]",
            b"{\"method\":",
            b"42",
            b"{\"method\":5}",
        ] {
            assert_eq!(
                classify(&h(None, None), junk),
                Ok(Classification::Uncertain),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn header_decoding() {
        let mut hm = http::HeaderMap::new();
        hm.insert("mcp-method", "tools/call".parse().unwrap());
        hm.insert("mcp-name", "=?base64?YWRkX25vdGU=?=".parse().unwrap());
        let parsed = McpHeaders::from_headers(&hm).unwrap();
        assert_eq!(parsed.name.as_deref(), Some("add_note"));
        hm.insert("mcp-name", "=?base64?!!?=".parse().unwrap());
        assert!(McpHeaders::from_headers(&hm).is_err());
        hm.insert("mcp-name", "a".parse().unwrap());
        hm.append("mcp-name", "b".parse().unwrap());
        assert!(McpHeaders::from_headers(&hm).is_err());
    }

    fn policy() -> McpPolicy {
        McpPolicy::builder()
            .default_scopes(["mcp:read"])
            .tool("add_note", ["mcp:write"])
            .tool("admin_reset_notes", ["mcp:admin"])
            .name_any_of(
                "tools/call",
                "export",
                vec![vec!["export:all"], vec!["mcp:admin"]],
            )
            .build()
            .unwrap()
    }

    fn need(c: Classification) -> Requirement {
        policy().requirement(&c)
    }

    fn s(x: &str) -> ScopeSet {
        ScopeSet::parse(x).unwrap()
    }

    #[test]
    fn policy_requirements() {
        let call =
            |n: &str| Classification::Operations(vec![McpPolicy::operation("tools/call", Some(n))]);
        assert!(need(call("add_note")).is_satisfied_by(&s("mcp:read mcp:write"), &FlatScopes));
        assert!(!need(call("add_note")).is_satisfied_by(&s("mcp:write"), &FlatScopes));
        // any-of
        assert!(need(call("export")).is_satisfied_by(&s("mcp:read export:all"), &FlatScopes));
        assert!(need(call("export")).is_satisfied_by(&s("mcp:read mcp:admin"), &FlatScopes));
        assert!(!need(call("export")).is_satisfied_by(&s("mcp:read mcp:write"), &FlatScopes));
        // unknown tool: fail closed
        let unknown = need(call("nope"));
        assert!(!unknown.is_satisfied_by(&s("mcp:read mcp:write"), &FlatScopes));
        assert_eq!(
            unknown.challenge_scopes(&s("mcp:read"), &FlatScopes),
            s("export:all mcp:admin mcp:read mcp:write")
        );
        // methods without name rules: default only
        let prompt =
            Classification::Operations(vec![McpPolicy::operation("prompts/get", Some("p"))]);
        assert!(need(prompt).is_satisfied_by(&s("mcp:read"), &FlatScopes));
        // uncertain: everything
        assert_eq!(
            need(Classification::Uncertain).alternatives(),
            &[s("export:all mcp:admin mcp:read mcp:write")]
        );
        // batch: union
        let batch = Classification::Operations(vec![
            McpPolicy::operation("tools/call", Some("add_note")),
            McpPolicy::operation("tools/call", Some("admin_reset_notes")),
        ]);
        assert_eq!(
            need(batch).challenge_scopes(&s("mcp:read"), &FlatScopes),
            s("mcp:admin mcp:read mcp:write")
        );
    }

    #[test]
    fn hierarchy_satisfies_policy() {
        let h = ImpliedScopes::builder()
            .implies("mcp:admin", ["mcp:write"])
            .implies("mcp:write", ["mcp:read"])
            .build()
            .unwrap();
        let c =
            Classification::Operations(vec![McpPolicy::operation("tools/call", Some("add_note"))]);
        assert!(need(c.clone()).is_satisfied_by(&s("mcp:admin"), &h));
        assert!(need(c.clone()).is_satisfied_by(&s("mcp:write"), &h));
        assert!(!need(c).is_satisfied_by(&s("mcp:read"), &h));
    }
}
