//! Helpers shared by the integration tests: a plain HTTP client that behaves like an MCP
//! client (no redirects followed, bounded in time), JSON-RPC over Streamable HTTP, PKCE.
#![allow(dead_code)] // each test binary uses a subset

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use example_mcp_server::{Config, RunningServer};
use rand::RngCore as _;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LOCATION};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::future::Future;
use std::time::Duration;

/// Upper bound of any one test.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `f` with [`TEST_TIMEOUT`].
pub(crate) async fn bounded<T>(f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TEST_TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("test took longer than {TEST_TIMEOUT:?}"),
    }
}

/// The example on `127.0.0.1:0`, with the development authorization server auto-approving.
pub(crate) async fn start() -> RunningServer {
    example_mcp_server::start(Config::ephemeral())
        .await
        .expect("example starts")
}

/// An HTTP client that follows no redirects (the authorization redirect is read, not
/// followed) and gives up after 10 s.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A PKCE pair `(code_verifier, S256 code_challenge)` (RFC 7636 §4.1-4.2), computed here,
/// independently of the authorization server's code.
pub(crate) fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A random `state`.
pub(crate) fn random_state() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of `param` in a `WWW-Authenticate: Bearer k="v", ...` header (quoted values
/// without escapes, which is all the layer emits).
pub(crate) fn challenge_param(header: &str, param: &str) -> Option<String> {
    let start = header.find(&format!("{param}=\""))? + param.len() + 2;
    let len = header[start..].find('"')?;
    Some(header[start..start + len].to_owned())
}

/// The JSON-RPC message of a Streamable HTTP response: the JSON body, or the last `data:`
/// event of an SSE body.
pub(crate) fn jsonrpc_body(content_type: &str, body: &str) -> Value {
    if content_type.starts_with("text/event-stream") {
        let data = body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .rfind(|d| !d.is_empty())
            .unwrap_or("null");
        serde_json::from_str(data).expect("SSE data is JSON")
    } else if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).expect("body is JSON")
    }
}

/// A response of the MCP endpoint.
#[derive(Debug)]
pub(crate) struct McpResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl McpResponse {
    pub(crate) fn www_authenticate(&self) -> &str {
        self.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// POSTs one JSON-RPC message to the MCP endpoint, as a Streamable HTTP client does.
pub(crate) async fn mcp_post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    message: &Value,
) -> McpResponse {
    let mut req = http
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(message.to_string());
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = req.send().await.expect("MCP POST");
    let status = resp.status();
    let headers = resp.headers().clone();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.expect("MCP body");
    let body = if status.is_success() {
        jsonrpc_body(&content_type, &text)
    } else {
        Value::String(text)
    };
    McpResponse {
        status,
        headers,
        body,
    }
}

/// The `initialize` request of a 2025-11-25 client.
pub(crate) fn initialize(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "oauth-flow-test", "version": "1.0"}
        }
    })
}

/// A `tools/call` request.
pub(crate) fn tools_call(id: u64, name: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}
    })
}

/// Calls a tool with `token` and returns the `result` (panics on a transport or JSON-RPC
/// error; a tool error is a result with `isError: true`).
pub(crate) async fn call_tool(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    arguments: Value,
) -> Value {
    let resp = mcp_post(http, url, Some(token), &tools_call(7, name, arguments)).await;
    assert_eq!(resp.status, StatusCode::OK, "{name}: {resp:?}");
    assert!(
        resp.body.get("error").is_none(),
        "{name}: JSON-RPC error {}",
        resp.body
    );
    resp.body["result"].clone()
}

/// Whether a `tools/call` result is a tool error.
pub(crate) fn is_tool_error(result: &Value) -> bool {
    result["isError"] == json!(true)
}

/// The text of the first content block of a tool result.
pub(crate) fn first_text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Reads the `Location` of an authorization response (a redirect, not followed).
pub(crate) fn location(resp: &reqwest::Response) -> url::Url {
    assert!(
        resp.status().is_redirection(),
        "authorization endpoint answered {} instead of a redirect",
        resp.status()
    );
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location header");
    url::Url::parse(loc).expect("absolute Location")
}

/// The query parameter `name` of `url`.
pub(crate) fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

// The example binary, run with command-line flags it must refuse.

use std::process::{Command, Stdio};
use std::time::Instant;

/// The example binary with `args`, `RUST_LOG` unset, its standard output discarded and its
/// standard error piped (for [`run_refused`]).
pub(crate) fn example_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_example-mcp-server"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` (an [`example_command`]): it must exit with a failure within 20 s, without a
/// panic. Returns its standard error; `what` names the run in the failure messages.
pub(crate) fn run_refused(mut cmd: Command, what: &str) -> String {
    let mut child = cmd.spawn().expect("spawn the example");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after 20 s (it should refuse its flags)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("read stderr");
    assert!(!status.success(), "{what} succeeded: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    err
}

// A capture of `tracing` output, for the tests on what is logged.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Every event and span, one line each: level, target, message and every field.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    pub(crate) fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Field values as they would be written: `str` values raw, the rest through `Debug`
/// (which is what `%` and `?` fields, and the message, render through).
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let m = event.metadata();
        let mut line = format!("{} {}:", m.level(), m.target());
        event.record(&mut Fields(&mut line));
        self.push(line);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let m = attrs.metadata();
        let mut line = format!("span {} {} {}:", m.level(), m.target(), m.name());
        attrs.record(&mut Fields(&mut line));
        self.push(line);
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut line = "span record:".to_owned();
        values.record(&mut Fields(&mut line));
        self.push(line);
    }
}

// The fleet's rmcp session state in a test Redis, and what a log line must not hold.

use example_mcp_server::fleet::RMCP_SESSION_PREFIX;
use mcp_auth_dev::test_support::redis::RedisServer;
use redis::aio::MultiplexedConnection;

/// The only rmcp session state in Redis, replaced by a hash, so `GETEX` on its key fails
/// with WRONGTYPE (as any failed command would, e.g. Redis stopping between the layer's read
/// and rmcp's); with the connection, the key and the state, for [`put_state_back`].
pub(crate) async fn make_the_state_unreadable(
    redis: &RedisServer,
) -> (MultiplexedConnection, String, String) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pattern = format!("{RMCP_SESSION_PREFIX}*");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "one session, one state: {keys:?}");
    let key = keys[0].clone();
    let saved: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let () = redis::pipe()
        .cmd("DEL")
        .arg(&key)
        .ignore()
        .cmd("HSET")
        .arg(&key)
        .arg("not")
        .arg("a string")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    (conn, key, saved)
}

pub(crate) async fn put_state_back(conn: &mut MultiplexedConnection, key: &str, saved: &str) {
    let () = redis::pipe()
        .cmd("DEL")
        .arg(key)
        .ignore()
        .cmd("SET")
        .arg(key)
        .arg(saved)
        .ignore()
        .query_async(conn)
        .await
        .unwrap();
}

/// The first UUID (8-4-4-4-12 hex digits) in `line`.
pub(crate) fn find_uuid(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    (0..b.len().saturating_sub(35)).find_map(|i| {
        let w = &b[i..i + 36];
        let shaped = w.iter().enumerate().all(|(j, c)| match j {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
        shaped.then(|| &line[i..i + 36])
    })
}
