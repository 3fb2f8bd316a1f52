//! The whole MCP authorization flow against the example, driven the way an MCP client does it,
//! with nothing but an HTTP client: 401 challenge -> protected resource metadata (RFC 9728) ->
//! authorization server metadata (RFC 8414) -> client registration (RFC 7591, or a Client ID
//! Metadata Document) -> authorization code with PKCE S256 and `resource` (RFC 8707), `state`
//! and `iss` (RFC 9207) checked -> token -> MCP calls. Plus audience and scope enforcement.

mod common;

use axum::Json;
use axum::routing::get;
use common::*;
use example_mcp_server::RunningServer;
use example_mcp_server::policy::{SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// What a client learns from discovery.
#[derive(Debug)]
struct Discovered {
    resource: String,
    issuer: String,
    challenge_scope: String,
    as_metadata: Value,
}

impl Discovered {
    fn endpoint(&self, name: &str) -> String {
        self.as_metadata[name]
            .as_str()
            .unwrap_or_else(|| panic!("AS metadata has no {name}: {}", self.as_metadata))
            .to_owned()
    }
}

/// The RFC 8414 §3.1 metadata URL of `issuer` (well-known segment inserted before the path).
fn as_metadata_url(issuer: &str) -> String {
    let url = url::Url::parse(issuer).expect("issuer is a URL");
    let path = url.path().trim_end_matches('/');
    format!(
        "{}/.well-known/oauth-authorization-server{path}",
        url.origin().ascii_serialization()
    )
}

/// Steps 1-3: the unauthenticated request, the resource metadata, the AS metadata.
async fn discover(http: &reqwest::Client, server: &RunningServer) -> Discovered {
    // 1. An MCP request without a token: 401 and a challenge naming the metadata.
    let resp = mcp_post(http, &server.mcp_url, None, &initialize(1)).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let challenge = resp.www_authenticate().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "no error code without credentials (RFC 6750 §3.1): {challenge}"
    );
    let metadata_url =
        challenge_param(&challenge, "resource_metadata").expect("resource_metadata in challenge");
    assert_eq!(metadata_url, server.metadata_url);
    let challenge_scope = challenge_param(&challenge, "scope").expect("scope in challenge");
    assert_eq!(challenge_scope, SCOPE_READ);

    // 2. The protected resource metadata (RFC 9728).
    let prm: Value = http
        .get(&metadata_url)
        .send()
        .await
        .expect("GET resource metadata")
        .error_for_status()
        .expect("resource metadata 200")
        .json_value()
        .await;
    assert_eq!(prm["resource"], json!(server.mcp_url), "{prm}");
    assert_eq!(
        prm["scopes_supported"],
        json!([SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN])
    );
    let issuer = prm["authorization_servers"][0]
        .as_str()
        .expect("an authorization server")
        .to_owned();
    assert_eq!(issuer, server.as_issuer);

    // 3. The authorization server metadata (RFC 8414), which must name the same issuer.
    let as_metadata: Value = http
        .get(as_metadata_url(&issuer))
        .send()
        .await
        .expect("GET AS metadata")
        .error_for_status()
        .expect("AS metadata 200")
        .json_value()
        .await;
    assert_eq!(as_metadata["issuer"], json!(issuer));
    assert!(
        as_metadata["code_challenge_methods_supported"]
            .as_array()
            .is_some_and(|m| m.contains(&json!("S256"))),
        "PKCE S256 must be advertised: {as_metadata}"
    );
    Discovered {
        resource: server.mcp_url.clone(),
        issuer,
        challenge_scope,
        as_metadata,
    }
}

/// Steps 5-6: authorization request (auto-approved; the redirect is read, not followed) and
/// token request. Returns the token response.
async fn authorize(
    http: &reqwest::Client,
    d: &Discovered,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    resource: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let state = random_state();
    let mut url = url::Url::parse(&d.endpoint("authorization_endpoint")).expect("URL");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", resource);
    let resp = http.get(url).send().await.expect("authorization request");
    let back = location(&resp);
    assert!(
        back.as_str().starts_with(redirect_uri),
        "redirected to {back}, not to {redirect_uri}"
    );
    assert_eq!(query_param(&back, "error"), None, "{back}");
    assert_eq!(
        query_param(&back, "state"),
        Some(state),
        "state must round-trip"
    );
    assert_eq!(
        query_param(&back, "iss"),
        Some(d.issuer.clone()),
        "RFC 9207 iss must name the issuer"
    );
    let code = query_param(&back, "code").expect("code in the redirect");

    let resp = http
        .post(d.endpoint("token_endpoint"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", &verifier),
            ("resource", resource),
        ]))
        .send()
        .await
        .expect("token request");
    let status = resp.status();
    let token = resp.json_value().await;
    assert_eq!(status, StatusCode::OK, "token endpoint: {token}");
    assert_eq!(
        token["token_type"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer")
    );
    token
}

/// Step 7: `initialize` and `tools/call whoami` with the token; returns `whoami`'s result.
async fn use_token(http: &reqwest::Client, server: &RunningServer, token: &str) -> Value {
    let resp = mcp_post(http, &server.mcp_url, Some(token), &initialize(1)).await;
    assert_eq!(resp.status, StatusCode::OK, "{resp:?}");
    assert_eq!(
        resp.body["result"]["serverInfo"]["name"],
        json!("mcp-auth-example")
    );
    assert!(resp.body["result"]["capabilities"]["tools"].is_object());

    let whoami = call_tool(http, &server.mcp_url, token, "whoami", json!({})).await;
    assert!(!is_tool_error(&whoami), "{whoami}");
    whoami["structuredContent"].clone()
}

fn access_token(token_response: &Value) -> &str {
    token_response["access_token"]
        .as_str()
        .expect("access_token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_client_registration_flow() {
    bounded(async {
        let server = start().await;
        let http = http();
        let d = discover(&http, &server).await;

        // 4. Dynamic client registration (RFC 7591): a public client.
        let redirect_uri = "http://127.0.0.1:9/callback";
        let resp = http
            .post(d.endpoint("registration_endpoint"))
            .json_body(&json!({
                "client_name": "oauth-flow test client",
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": "mcp:read mcp:write",
            }))
            .send()
            .await
            .expect("registration request");
        let status = resp.status();
        let registered = resp.json_value().await;
        assert_eq!(status, StatusCode::CREATED, "registration: {registered}");
        let client_id = registered["client_id"]
            .as_str()
            .expect("client_id")
            .to_owned();
        assert!(
            registered.get("client_secret").is_none(),
            "a public client has no secret"
        );

        let scope = format!("{} {SCOPE_WRITE}", d.challenge_scope);
        let token = authorize(&http, &d, &client_id, redirect_uri, &scope, &d.resource).await;
        let whoami = use_token(&http, &server, access_token(&token)).await;
        assert_eq!(whoami["subject"], json!(example_mcp_server::DEV_SUBJECT));
        assert_eq!(whoami["client_id"], json!(client_id));
        assert_eq!(whoami["issuer"], json!(server.as_issuer));
        assert_eq!(whoami["scopes"], json!([SCOPE_READ, SCOPE_WRITE]));

        // The token is good for real work: add a note, list it back.
        let t = access_token(&token);
        let added = call_tool(
            &http,
            &server.mcp_url,
            t,
            "add_note",
            json!({"text": "hello"}),
        )
        .await;
        assert!(!is_tool_error(&added), "{added}");
        let listed = call_tool(&http, &server.mcp_url, t, "list_notes", json!({})).await;
        assert_eq!(
            listed["structuredContent"]["notes"][0]["text"],
            json!("hello")
        );
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_metadata_document_flow() {
    bounded(async {
        let server = start().await;
        let http = http();
        let d = discover(&http, &server).await;
        assert_eq!(
            d.as_metadata["client_id_metadata_document_supported"],
            json!(true)
        );

        // The client's metadata document, served on loopback; its URL is the client_id.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client_id = format!("http://{addr}/oauth/client.json");
        let redirect_uri = format!("http://{addr}/callback");
        let doc = json!({
            "client_id": client_id,
            "client_name": "CIMD test client",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        let app = axum::Router::new().route(
            "/oauth/client.json",
            get(move || std::future::ready(Json(doc.clone()))),
        );
        let cimd = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let token = authorize(
            &http,
            &d,
            &client_id,
            &redirect_uri,
            SCOPE_READ,
            &d.resource,
        )
        .await;
        let whoami = use_token(&http, &server, access_token(&token)).await;
        assert_eq!(whoami["client_id"], json!(client_id));
        assert_eq!(whoami["scopes"], json!([SCOPE_READ]));

        // A read-only token cannot write: HTTP 403 step-up challenge from the layer.
        let resp = mcp_post(
            &http,
            &server.mcp_url,
            Some(access_token(&token)),
            &tools_call(1, "add_note", json!({"text": "nope"})),
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{resp:?}");
        cimd.abort();
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_for_another_resource_is_refused() {
    bounded(async {
        let server = start().await;
        let http = http();
        let d = discover(&http, &server).await;
        let redirect_uri = "http://127.0.0.1:9/callback";
        let client_id = "confused-deputy-test";
        server
            .dev_authorization_server()
            .expect("dev AS")
            .register_public_client(client_id, &[redirect_uri]);

        // A real token from the same authorization server, but for another resource (RFC 8707).
        let other = "http://127.0.0.1:9/other-mcp";
        let token = authorize(&http, &d, client_id, redirect_uri, SCOPE_READ, other).await;
        let resp = mcp_post(
            &http,
            &server.mcp_url,
            Some(access_token(&token)),
            &tools_call(1, "whoami", json!({})),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{resp:?}");
        assert!(
            resp.www_authenticate().contains(r#"error="invalid_token""#),
            "{}",
            resp.www_authenticate()
        );
        assert_eq!(
            challenge_param(resp.www_authenticate(), "resource_metadata").as_deref(),
            Some(server.metadata_url.as_str())
        );

        // Same with a token minted by the AS's keys for another audience.
        let minted = server
            .dev_authorization_server()
            .expect("dev AS")
            .authority()
            .token()
            .aud(other)
            .scope(SCOPE_READ)
            .sign();
        let resp = mcp_post(&http, &server.mcp_url, Some(&minted), &initialize(1)).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);

        // And the right audience is accepted, to show the refusal was about the audience.
        let good = server.mint_token(SCOPE_READ).expect("dev token");
        let resp = mcp_post(&http, &server.mcp_url, Some(&good), &initialize(1)).await;
        assert_eq!(resp.status, StatusCode::OK);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_tool_needs_write_scope_and_hierarchy_applies() {
    bounded(async {
        let server = start().await;
        let http = http();
        let url = server.mcp_url.clone();
        let read = server.mint_token(SCOPE_READ).expect("token");
        let write = server.mint_token(SCOPE_WRITE).expect("token");
        let admin = server.mint_token(SCOPE_ADMIN).expect("token");

        // mcp:read only: add_note is refused by the layer with an HTTP 403 step-up challenge
        // naming every scope the call needs, plus the ones the token holds.
        let resp = mcp_post(
            &http,
            &url,
            Some(&read),
            &tools_call(1, "add_note", json!({"text": "a"})),
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{resp:?}");
        let challenge = resp.www_authenticate();
        assert!(
            challenge.starts_with(r#"Bearer error="insufficient_scope""#)
                && challenge.contains(r#"scope="mcp:read mcp:write""#)
                && challenge.contains("resource_metadata="),
            "{challenge}"
        );
        // ... but reading works.
        let r = call_tool(&http, &url, &read, "list_notes", json!({})).await;
        assert!(!is_tool_error(&r), "{r}");

        // mcp:write alone passes the endpoint's mcp:read (hierarchy) and can write.
        let r = call_tool(
            &http,
            &url,
            &write,
            "add_note",
            json!({"text": "from write"}),
        )
        .await;
        assert!(!is_tool_error(&r), "{r}");
        assert_eq!(r["structuredContent"]["id"], json!(1));
        // mcp:admin implies mcp:write.
        let r = call_tool(
            &http,
            &url,
            &admin,
            "add_note",
            json!({"text": "from admin"}),
        )
        .await;
        assert!(!is_tool_error(&r), "{r}");
        assert_eq!(
            r["structuredContent"]["id"],
            json!(2),
            "same user, same notes"
        );

        // note_stats needs mcp:admin: write is not enough (403 naming mcp:admin), admin is.
        let resp = mcp_post(
            &http,
            &url,
            Some(&write),
            &tools_call(1, "note_stats", json!({})),
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{resp:?}");
        assert!(resp.www_authenticate().contains(SCOPE_ADMIN));
        let r = call_tool(&http, &url, &admin, "note_stats", json!({})).await;
        assert_eq!(r["structuredContent"], json!({"users": 1, "notes": 2}));
        // admin_reset_notes: write gets 403, admin resets.
        let resp = mcp_post(
            &http,
            &url,
            Some(&write),
            &tools_call(1, "admin_reset_notes", json!({})),
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{resp:?}");
        let r = call_tool(&http, &url, &admin, "admin_reset_notes", json!({})).await;
        assert_eq!(r["structuredContent"], json!({"deleted": 2}));
        // The layer checks the headers against the body (SEP-2243): a harmless Mcp-Name with
        // a privileged body is 400 / -32020.
        let resp = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {read}"))
            .header("mcp-method", "tools/call")
            .header("mcp-name", "whoami")
            .body(tools_call(1, "admin_reset_notes", json!({})).to_string())
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = resp.json().await.expect("JSON-RPC error");
        assert_eq!(body["error"]["code"], json!(-32020));

        // A token with no MCP scope at all is stopped by the layer: 403 insufficient_scope.
        let none = server.mint_token("profile").expect("token");
        let resp = mcp_post(
            &http,
            &url,
            Some(&none),
            &tools_call(1, "whoami", json!({})),
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{resp:?}");
        assert!(
            resp.www_authenticate()
                .contains(r#"error="insufficient_scope""#)
        );
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_per_user_and_resources_work() {
    bounded(async {
        let server = start().await;
        let http = http();
        let url = server.mcp_url.clone();
        let authority = server.dev_authorization_server().expect("dev AS").authority();
        let alice = authority
            .token()
            .aud(&url)
            .subject("alice")
            .scope(SCOPE_WRITE)
            .sign();
        let bob = authority
            .token()
            .aud(&url)
            .subject("bob")
            .scope(SCOPE_WRITE)
            .sign();
        call_tool(&http, &url, &alice, "add_note", json!({"text": "alice's"})).await;
        let r = call_tool(&http, &url, &bob, "list_notes", json!({})).await;
        assert_eq!(r["structuredContent"]["notes"], json!([]), "bob sees none of alice's");

        let read = |token: String, uri: &'static str| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let msg = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": uri}});
                mcp_post(&http, &url, Some(&token), &msg).await.body
            }
        };
        let body = read(alice.clone(), "notes://mine").await;
        let text = body["result"]["contents"][0]["text"].as_str().expect("text");
        assert!(text.contains("alice's"), "{body}");
        let body = read(alice.clone(), "docs://guide").await;
        assert!(body["result"]["contents"][0]["text"].as_str().is_some_and(|t| t.contains("mcp:admin")));
        // An unknown resource URI fails closed at the layer (it needs every scope the policy
        // names); with mcp:admin the server itself answers "not found".
        let msg = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "notes://nope"}});
        assert_eq!(mcp_post(&http, &url, Some(&alice), &msg).await.status, StatusCode::FORBIDDEN);
        let admin = authority.token().aud(&url).subject("alice").scope(SCOPE_ADMIN).sign();
        let body = read(admin, "notes://nope").await;
        assert!(body.get("error").is_some(), "{body}");

        let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
        let body = mcp_post(&http, &url, Some(&bob), &list).await.body;
        let mut names: Vec<&str> = body["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["add_note", "admin_reset_notes", "echo", "list_notes", "note_stats", "whoami"]);
        server.shutdown().await;
    })
    .await;
}

/// Small conveniences over reqwest's optional features.
trait JsonBody {
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}
