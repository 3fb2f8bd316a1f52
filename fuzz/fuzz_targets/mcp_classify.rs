//! `Mcp-Method`/`Mcp-Name` headers (MCP SEP-2243) with the JSON-RPC body: the classification
//! the scope policy runs on. Checked against a reading of the body with `serde_json::Value`:
//! whatever `classify` calls operations are exactly the body's requests (method, and the
//! tool/prompt name or resource URI from an object `params`), and a message whose `params`
//! is not an object, or that is not an object itself, is never classified (JSON-RPC 2.0 §4.2
//! allows positional params, which an inner server might read differently; issue 13 item 7).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_core::mcp::{Classification, McpHeaders, classify};
use serde_json::Value;

/// The input: `Mcp-Method` line, `Mcp-Name` line (an empty line: no header; a method line
/// starting with `2*` sends the header twice), then the body.
struct Input<'a> {
    method: Option<&'a [u8]>,
    name: Option<&'a [u8]>,
    repeat_method: bool,
    body: &'a [u8],
}

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn input(data: &[u8]) -> Input<'_> {
    let (m, rest) = line(data);
    let (n, body) = line(rest);
    let (repeat_method, m) = match m.strip_prefix(b"2*") {
        Some(m) => (true, m),
        None => (false, m),
    };
    fn some(v: &[u8]) -> Option<&[u8]> {
        (!v.is_empty()).then_some(v)
    }
    Input {
        method: some(m),
        name: some(n),
        repeat_method,
        body,
    }
}

const NAME_FROM_NAME: &[&str] = &["tools/call", "prompts/get"];
const NAME_FROM_URI: &[&str] = &[
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// `(method, name)` of each request in the body; `Err` when some message must not be
/// classified at all.
fn reference(body: &[u8]) -> Result<Vec<(String, Option<String>)>, &'static str> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    let msgs = match v {
        Value::Array(a) if !a.is_empty() => a,
        Value::Object(_) => vec![v],
        _ => return Err("not a message or a batch"),
    };
    let mut ops = Vec::new();
    for m in &msgs {
        let Value::Object(m) = m else {
            return Err("a message that is not an object");
        };
        let method = match m.get("method") {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err("method not a string"),
        };
        let field = if NAME_FROM_NAME.contains(&method.as_str()) {
            Some("name")
        } else if NAME_FROM_URI.contains(&method.as_str()) {
            Some("uri")
        } else {
            None
        };
        let name = match m.get("params") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => match field.and_then(|f| p.get(f)) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err("name not a string"),
            },
            Some(_) => return Err("params not an object"),
        };
        ops.push((method, name));
    }
    Ok(ops)
}

fuzz_target!(|data: &[u8]| {
    let input = input(data);
    let mut headers = http::HeaderMap::new();
    let mut put = |name: &'static str, v: &[u8]| {
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            headers.append(name, v);
        }
    };
    if let Some(m) = input.method {
        put("mcp-method", m);
        if input.repeat_method {
            put("mcp-method", m);
        }
    }
    if let Some(n) = input.name {
        put("mcp-name", n);
    }
    let Ok(h) = McpHeaders::from_headers(&headers) else {
        return;
    };
    match classify(&h, input.body) {
        Ok(Classification::Operations(ops)) => {
            let want = reference(input.body).unwrap_or_else(|why| {
                panic!("classified a body the reference refuses ({why}): {ops:?}")
            });
            let got: Vec<(String, Option<String>)> = ops
                .iter()
                .map(|o| (o.method.clone(), o.name.clone()))
                .collect();
            assert_eq!(got, want, "classification differs from the body");
            if let Some(m) = &h.method {
                assert!(ops.iter().all(|o| &o.method == m && o.name == h.name));
                assert!(
                    !ops.is_empty(),
                    "headers trusted with no operation in the body"
                );
            }
        }
        Ok(Classification::Uncertain) | Ok(_) | Err(_) => {}
    }
});
