//! The example against rmcp's own OAuth client: a real MCP client nobody on this project
//! wrote. Its discovery (from the 401 challenge), dynamic registration, PKCE and token exchange
//! run unmodified; only the browser step is replaced by fetching the authorization URL (the
//! development authorization server auto-approves) and handing the redirect back to rmcp.

mod common;

use common::*;
use example_mcp_server::policy::{SCOPE_READ, SCOPE_WRITE};
use reqwest::StatusCode;
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationManager, AuthorizationRequest, AuthorizationSession,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

const REDIRECT_URI: &str = "http://127.0.0.1:9/rmcp/callback";

/// rmcp's authorization flow, headless: returns an authorized manager. `scopes: None`
/// requests the scope of the challenge.
async fn authorize_with_rmcp(mcp_url: &str, scopes: Option<&[&str]>) -> AuthorizationManager {
    let http = http();
    // What rmcp's transport sees first: a 401 with a challenge.
    let resp = mcp_post(&http, mcp_url, None, &initialize(1)).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let challenge = resp.www_authenticate().to_owned();

    let mut manager = AuthorizationManager::new(mcp_url)
        .await
        .expect("rmcp AuthorizationManager");
    let resolution = manager
        .resolve_metadata_from_challenge(Some(&challenge))
        .await
        .expect("rmcp discovers the authorization server from the challenge");
    manager.set_metadata(resolution.metadata);

    let mut request = AuthorizationRequest::new(REDIRECT_URI).with_client_name("rmcp oauth test");
    request = match scopes {
        Some(scopes) => request.with_scopes(scopes.iter().copied()),
        // The scope the 401 challenge named (MCP "Scope Selection Strategy"). rmcp's default
        // would ask for the union of the challenge and every `scopes_supported` scope.
        None => request.with_initial_scope_selection(),
    };
    let session = match AuthorizationSession::new(manager, request).await {
        Ok(s) => s,
        Err((_, e)) => panic!("rmcp authorization session (registration): {e}"),
    };

    // The "browser": the dev AS auto-approves and redirects with code, state and iss.
    let resp = http
        .get(session.get_authorization_url())
        .send()
        .await
        .expect("authorization request");
    let callback = location(&resp);
    assert!(callback.as_str().starts_with(REDIRECT_URI), "{callback}");
    session
        .handle_callback_url(callback.as_str())
        .await
        .expect("rmcp exchanges the code (PKCE, resource, iss checked)");
    session.auth_manager
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_oauth_client_lists_tools_and_calls_whoami() {
    bounded(async {
        let server = start().await;
        let manager = authorize_with_rmcp(&server.mcp_url, None).await;
        let (client_id, credentials) = manager.get_credentials().await.expect("credentials");
        assert!(credentials.is_some(), "rmcp holds a token");

        let transport = StreamableHttpClientTransport::with_client(
            AuthClient::new(reqwest::Client::default(), manager),
            StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone()),
        );
        let client = ().serve(transport).await.expect("rmcp client initializes");
        let info = client.peer_info().expect("server info");
        assert_eq!(
            info.server_info.as_ref().map(|i| i.name.as_str()),
            Some("mcp-auth-example")
        );

        let mut tools: Vec<String> = client
            .list_all_tools()
            .await
            .expect("tools/list")
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        tools.sort();
        assert_eq!(
            tools,
            [
                "add_note",
                "admin_reset_notes",
                "echo",
                "list_notes",
                "note_stats",
                "whoami"
            ]
        );

        let whoami = client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .expect("tools/call whoami");
        assert_ne!(whoami.is_error, Some(true), "{whoami:?}");
        let me = whoami.structured_content.expect("structured result");
        assert_eq!(me["subject"], json!(example_mcp_server::DEV_SUBJECT));
        assert_eq!(me["client_id"], json!(client_id));
        assert_eq!(me["issuer"], json!(server.as_issuer));
        // rmcp asked for the scope the challenge named.
        assert_eq!(me["scopes"], json!([SCOPE_READ]));

        client.cancel().await.expect("client closes");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_oauth_client_with_write_scope_adds_a_note() {
    bounded(async {
        let server = start().await;
        let manager = authorize_with_rmcp(&server.mcp_url, Some(&[SCOPE_WRITE])).await;
        let transport = StreamableHttpClientTransport::with_client(
            AuthClient::new(reqwest::Client::default(), manager),
            StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone()),
        );
        let client = ().serve(transport).await.expect("rmcp client initializes");
        let args = json!({"text": "from rmcp"});
        let added = client
            .call_tool(
                CallToolRequestParams::new("add_note")
                    .with_arguments(args.as_object().cloned().unwrap_or_default()),
            )
            .await
            .expect("tools/call add_note");
        assert_ne!(added.is_error, Some(true), "{added:?}");
        let listed = client
            .call_tool(CallToolRequestParams::new("list_notes"))
            .await
            .expect("tools/call list_notes");
        let notes = listed.structured_content.expect("structured");
        assert_eq!(notes["notes"][0]["text"], json!("from rmcp"));
        client.cancel().await.expect("client closes");
        server.shutdown().await;
    })
    .await;
}

/// Every message in an error's source chain, joined.
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

/// The `scope` parameter of a challenge.
fn challenged_scope(challenge: &str) -> String {
    let start = challenge.find("scope=\"").expect("scope in challenge") + 7;
    let rest = &challenge[start..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

/// Issue 6, end to end with a client nobody here wrote: rmcp's client gets an HTTP 403
/// `insufficient_scope` on a privileged tool, re-authorizes with exactly the challenged
/// scopes through its own AuthorizationManager, and then succeeds; earlier tools keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_steps_up_after_a_403() {
    bounded(async {
        let server = start().await;
        let manager = authorize_with_rmcp(&server.mcp_url, None).await;
        let auth_client = AuthClient::new(reqwest::Client::default(), manager);
        let shared_manager = auth_client.auth_manager.clone();
        let transport = StreamableHttpClientTransport::with_client(
            auth_client,
            StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone()),
        );
        let client = ().serve(transport).await.expect("rmcp client initializes");
        let add = || {
            let args = json!({"text": "after step-up"});
            CallToolRequestParams::new("add_note")
                .with_arguments(args.as_object().cloned().unwrap_or_default())
        };

        // 1. mcp:read only: the layer answers HTTP 403 insufficient_scope, which rmcp surfaces
        //    as its InsufficientScope transport error carrying the challenge.
        let err = client.call_tool(add()).await.expect_err("403 for add_note");
        let chain = match &err {
            rmcp::ServiceError::TransportSend(transport) => error_chain(transport),
            other => error_chain(other),
        };
        assert!(chain.contains("insufficient_scope"), "{chain}");
        let scope = challenged_scope(&chain);
        assert_eq!(scope, "mcp:read mcp:write", "needed + already held");

        // 2. Re-authorize with exactly the challenged scopes (what the TypeScript SDK does too).
        let scopes: Vec<&str> = scope.split(' ').collect();
        let url = shared_manager
            .lock()
            .await
            .get_authorization_url(&scopes)
            .await
            .expect("authorization URL for the larger scope");
        let resp = http().get(url).send().await.expect("authorization request");
        let callback = location(&resp);
        let cb = rmcp::transport::auth::AuthorizationCallback::from_redirect_url(callback.as_str())
            .expect("callback");
        shared_manager
            .lock()
            .await
            .exchange_code_for_token_with_issuer(&cb.code, &cb.csrf_token, cb.issuer.as_deref())
            .await
            .expect("token for the larger scope");

        // 3. The same client now succeeds, and the read tools still work.
        let added = client
            .call_tool(add())
            .await
            .expect("add_note after step-up");
        assert_ne!(added.is_error, Some(true), "{added:?}");
        let me = client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .expect("whoami after step-up");
        let me = me.structured_content.expect("structured");
        assert_eq!(me["scopes"], json!([SCOPE_READ, SCOPE_WRITE]));
        client.cancel().await.expect("client closes");
        server.shutdown().await;
    })
    .await;
}
