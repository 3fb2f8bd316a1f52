//! rmcp's OAuth client (crate `rmcp`, feature `auth`) against example-mcp-server, headless.
//!
//! rmcp's own discovery (from the 401 challenge: RFC 9728, then RFC 8414/OIDC), dynamic client
//! registration, PKCE, `resource` and token exchange run unmodified. Only the browser step is
//! replaced: the authorization URL is walked here (redirects followed, cookies kept for the
//! authorization server's login/consent interaction, which the test authorization servers
//! approve without a page) and the redirect handed back to rmcp.
//!
//! Usage: `rmcp-interop-client --mcp <url> --issuer <issuer> --label <name> [--step-up]`.
//! Prints one `RESULT {"check":..,"ok":..,"detail":..}` line per check; exits 1 on a failure.

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationCallback, AuthorizationManager, AuthorizationRequest,
    AuthorizationSession,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

const REDIRECT_URI: &str = "http://127.0.0.1:9/rmcp/callback";

struct Args {
    mcp: String,
    issuer: String,
    label: String,
    step_up: bool,
}

fn args() -> Result<Args, String> {
    let mut mcp = None;
    let mut issuer = None;
    let mut label = "rmcp".to_owned();
    let mut step_up = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--mcp" => mcp = it.next(),
            "--issuer" => issuer = it.next(),
            "--label" => label = it.next().ok_or("--label needs a value")?,
            "--step-up" => step_up = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        mcp: mcp.ok_or("--mcp is required")?,
        issuer: issuer.ok_or("--issuer is required")?,
        label,
        step_up,
    })
}

struct Report {
    label: String,
    failures: usize,
}

impl Report {
    fn result(&mut self, check: &str, outcome: Result<String, String>) -> bool {
        let (ok, detail) = match outcome {
            Ok(d) => (true, d),
            Err(e) => {
                self.failures += 1;
                (false, e)
            }
        };
        println!(
            "RESULT {}",
            json!({"check": format!("{}: {check}", self.label), "ok": ok, "detail": detail})
        );
        ok
    }
}

fn http() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())
}

/// The "browser": follows the authorization request's redirects, keeping cookies per host,
/// until the authorization server redirects to [`REDIRECT_URI`].
async fn follow_authorization(url: &str) -> Result<String, String> {
    let http = http()?;
    let mut jar: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = url::Url::parse(url).map_err(|e| e.to_string())?;
    let mut hops = Vec::new();
    for _ in 0..15 {
        if current.as_str().starts_with(REDIRECT_URI) {
            return Ok(current.to_string());
        }
        let host = current.host_str().unwrap_or_default().to_owned();
        let mut req = http.get(current.clone());
        if let Some(cookies) = jar.get(&host).filter(|c| !c.is_empty()) {
            let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", header.join("; "));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("GET {current}: {e}"))?;
        hops.push(format!("{} {}", resp.status().as_u16(), current.path()));
        for sc in resp.headers().get_all("set-cookie") {
            let sc = sc.to_str().unwrap_or_default();
            let pair = sc.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                jar.entry(host.clone())
                    .or_default()
                    .insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(loc) if status.is_redirection() => {
                current = current.join(&loc).map_err(|e| e.to_string())?;
            }
            _ => {
                let body = resp.text().await.unwrap_or_default();
                return Err(format!(
                    "authorization stopped at {status} {current} ({}): {}",
                    hops.join(" -> "),
                    body.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    Err(format!(
        "no redirect to the client after {}",
        hops.join(" -> ")
    ))
}

/// POSTs `initialize` without a token: the 401's `WWW-Authenticate`.
async fn challenge(mcp: &str) -> Result<String, String> {
    let resp = http()?
        .post(mcp)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion":"2025-11-25","capabilities":{},
                "clientInfo":{"name":"rmcp-interop","version":"1"}}})
            .to_string(),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Err(format!("expected 401, got {}", resp.status()));
    }
    resp.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "401 without WWW-Authenticate".to_owned())
}

/// A `key="value"` parameter of a challenge.
fn param(challenge: &str, key: &str) -> Option<String> {
    let start = challenge.find(&format!("{key}=\""))? + key.len() + 2;
    let len = challenge[start..].find('"')?;
    Some(challenge[start..start + len].to_owned())
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(" / ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn tool(name: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default())
}

async fn run(a: &Args, report: &mut Report) -> Result<(), String> {
    // 1. The 401 challenge (it must point at the metadata: rmcp would otherwise fall back to
    //    well-known discovery and hide the regression), and rmcp's discovery from it.
    let www = challenge(&a.mcp).await?;
    let expected_prm = {
        let u = url::Url::parse(&a.mcp).map_err(|e| e.to_string())?;
        let path = if u.path() == "/" { "" } else { u.path() };
        format!(
            "{}/.well-known/oauth-protected-resource{path}",
            u.origin().ascii_serialization()
        )
    };
    if param(&www, "resource_metadata").as_deref() != Some(expected_prm.as_str()) {
        let e = format!("401 challenge without resource_metadata=\"{expected_prm}\": {www}");
        report.result(
            "discovery from the 401 (resource_metadata -> AS metadata)",
            Err(e.clone()),
        );
        return Err(e);
    }
    let mut manager = AuthorizationManager::new(a.mcp.as_str())
        .await
        .map_err(|e| format!("AuthorizationManager: {e}"))?;
    let discovered = manager
        .resolve_metadata_from_challenge(Some(&www))
        .await
        .map_err(|e| format!("discovery: {e}"));
    let metadata = match discovered {
        Ok(r) => {
            let issuer = r.metadata.issuer.clone().unwrap_or_default();
            report.result(
                "discovery from the 401 (resource_metadata -> AS metadata)",
                if issuer == a.issuer {
                    Ok(format!("issuer {issuer}, challenge {www}"))
                } else {
                    Err(format!("issuer {issuer:?}, expected {}", a.issuer))
                },
            );
            r.metadata
        }
        Err(e) => {
            report.result(
                "discovery from the 401 (resource_metadata -> AS metadata)",
                Err(e.clone()),
            );
            return Err(e);
        }
    };
    manager.set_metadata(metadata);

    // 2. Registration (RFC 7591), PKCE, resource, headless approval, token exchange.
    let request = AuthorizationRequest::new(REDIRECT_URI)
        .with_client_name("mcp-auth interop: rmcp")
        .with_initial_scope_selection();
    let session = match AuthorizationSession::new(manager, request).await {
        Ok(s) => s,
        Err((_, e)) => {
            let e = format!("registration: {e}");
            report.result("registration, PKCE, resource, token", Err(e.clone()));
            return Err(e);
        }
    };
    let auth_url = session.get_authorization_url().to_owned();
    let flow = async {
        let parsed = url::Url::parse(&auth_url).map_err(|e| e.to_string())?;
        let q: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
        if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
            return Err(format!("no PKCE S256 in {auth_url}"));
        }
        if q.get("resource") != Some(&a.mcp) {
            return Err(format!("resource {:?} in {auth_url}", q.get("resource")));
        }
        let callback = follow_authorization(&auth_url).await?;
        session
            .handle_callback_url(&callback)
            .await
            .map_err(|e| format!("token exchange: {e}"))?;
        Ok(format!(
            "scope {:?}, resource {}, PKCE S256",
            q.get("scope").cloned().unwrap_or_default(),
            a.mcp
        ))
    }
    .await;
    if !report.result("registration, PKCE, resource, token", flow.clone()) {
        return Err(flow.unwrap_err());
    }
    let manager = session.auth_manager;

    // 3. MCP over the authorized transport.
    let auth_client = AuthClient::new(reqwest::Client::default(), manager);
    let shared = auth_client.auth_manager.clone();
    let transport = StreamableHttpClientTransport::with_client(
        auth_client,
        StreamableHttpClientTransportConfig::with_uri(a.mcp.clone()),
    );
    let client = match ().serve(transport).await {
        Ok(c) => {
            let name = c
                .peer_info()
                .and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()))
                .unwrap_or_default();
            report.result(
                "initialize",
                if name == "mcp-auth-example" {
                    Ok(format!("server {name}"))
                } else {
                    Err(format!("server {name:?}"))
                },
            );
            c
        }
        Err(e) => {
            let e = format!("initialize: {e}");
            report.result("initialize", Err(e.clone()));
            return Err(e);
        }
    };
    let listed = client
        .list_all_tools()
        .await
        .map_err(|e| e.to_string())
        .and_then(|tools| {
            let names: Vec<String> = tools.into_iter().map(|t| t.name.into_owned()).collect();
            if names.iter().any(|n| n == "whoami") {
                Ok(names.join(", "))
            } else {
                Err(format!("no whoami in {names:?}"))
            }
        });
    report.result("tools/list", listed);
    let whoami = client
        .call_tool(tool("whoami", json!({})))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| {
            let me = r.structured_content.unwrap_or_default();
            if r.is_error != Some(true) && me["issuer"] == json!(a.issuer) {
                Ok(format!("sub {}, scopes {}", me["subject"], me["scopes"]))
            } else {
                Err(format!("whoami: {me}"))
            }
        });
    report.result("tools/call whoami", whoami);

    // 4. Step-up: a 403 insufficient_scope, re-authorization with the challenged scopes.
    if a.step_up {
        let outcome = async {
            let err = match client
                .call_tool(tool("add_note", json!({"text": "from rmcp"})))
                .await
            {
                Ok(r) => return Err(format!("add_note with mcp:read succeeded: {r:?}")),
                Err(e) => e,
            };
            let chain = match &err {
                rmcp::ServiceError::TransportSend(t) => error_chain(t),
                other => error_chain(other),
            };
            if !chain.contains("insufficient_scope") {
                return Err(format!("not an insufficient_scope 403: {chain}"));
            }
            let scope = param(&chain, "scope").ok_or_else(|| format!("no scope in {chain}"))?;
            let scopes: Vec<&str> = scope.split(' ').collect();
            let url = shared
                .lock()
                .await
                .get_authorization_url(&scopes)
                .await
                .map_err(|e| format!("authorization URL: {e}"))?;
            let callback = follow_authorization(&url).await?;
            let cb =
                AuthorizationCallback::from_redirect_url(&callback).map_err(|e| e.to_string())?;
            shared
                .lock()
                .await
                .exchange_code_for_token_with_issuer(&cb.code, &cb.csrf_token, cb.issuer.as_deref())
                .await
                .map_err(|e| format!("token for the larger scope: {e}"))?;
            let added = client
                .call_tool(tool("add_note", json!({"text": "from rmcp"})))
                .await
                .map_err(|e| format!("add_note after step-up: {e}"))?;
            if added.is_error == Some(true) {
                return Err(format!("add_note after step-up: {added:?}"));
            }
            let me = client
                .call_tool(tool("whoami", json!({})))
                .await
                .map_err(|e| format!("whoami after step-up: {e}"))?;
            let me = me.structured_content.unwrap_or_default();
            Ok(format!(
                "403 scope=\"{scope}\" -> re-authorized -> add_note ok; whoami scopes {}",
                me["scopes"]
            ))
        }
        .await;
        report.result("step-up: add_note 403 -> re-authorize -> success", outcome);
    }
    let _ = client.cancel().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut report = Report {
        label: a.label.clone(),
        failures: 0,
    };
    let outcome = tokio::time::timeout(Duration::from_secs(90), run(&a, &mut report)).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("stopped: {e}"),
        Err(_) => {
            report.result("completes in time", Err("timed out after 90 s".to_owned()));
        }
    }
    if report.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
