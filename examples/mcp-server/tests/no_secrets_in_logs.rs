//! No secret in any log line, at `TRACE`, over a whole flow: every `tracing` event and span
//! of every crate in the process (the layer, the JWKS key source, rmcp, axum, hyper, the
//! development authorization server) is captured while the example serves accepted
//! requests, every kind of rejection, a JWKS refresh, and the authorization server's token
//! endpoint (authorization code with PKCE and a client secret, refresh, client credentials).
//! Then no access token (whole, its signature segment, its header and payload), client
//! secret, authorization code, refresh token or PKCE verifier may appear in what was
//! captured. `log` records of dependencies that do not use `tracing` are not seen here.
//!
//! `the_leak_check_finds_every_kind_of_leak` shows the check can fail: secrets logged on
//! purpose, whole or in part, in an event or a span, are all found.

mod common;

use common::*;
use example_mcp_server::policy::{SCOPE_READ, SCOPE_WRITE};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use std::collections::HashSet;
use tracing_subscriber::layer::SubscriberExt as _;

/// What must never be logged, and how much of it counts as a leak.
struct Secret {
    label: String,
    value: String,
    /// Any [`WINDOW`] bytes of it (random values: signatures, secrets, codes), not only
    /// the whole.
    partial: bool,
}

/// Bytes of a random secret that count as a leak.
const WINDOW: usize = 20;

#[derive(Default)]
struct Secrets(Vec<Secret>);

impl Secrets {
    fn whole(&mut self, label: &str, value: &str) {
        self.0.push(Secret {
            label: label.to_owned(),
            value: value.to_owned(),
            partial: false,
        });
    }

    fn random(&mut self, label: &str, value: &str) {
        assert!(value.len() >= WINDOW, "{label} is too short to look for");
        self.0.push(Secret {
            label: label.to_owned(),
            value: value.to_owned(),
            partial: true,
        });
    }

    /// An access token: whole, header and payload, and (any part of) its signature.
    fn token(&mut self, label: &str, token: &str) {
        let (signed, signature) = token.rsplit_once('.').expect("a compact JWS");
        self.whole(label, token);
        self.whole(&format!("{label} (header.payload)"), signed);
        let payload = signed.split_once('.').expect("a compact JWS").1;
        self.whole(&format!("{label} (payload)"), payload);
        self.random(&format!("{label} (signature)"), signature);
    }
}

/// The secrets found in `lines`, with the first line that holds each.
fn leaks(lines: &[String], secrets: &Secrets) -> Vec<String> {
    let mut windows: HashSet<&[u8]> = HashSet::new();
    for line in lines {
        windows.extend(line.as_bytes().windows(WINDOW));
    }
    let mut found = Vec::new();
    for s in &secrets.0 {
        let leaked = if s.partial {
            s.value
                .as_bytes()
                .windows(WINDOW)
                .any(|w| windows.contains(w))
        } else {
            lines.iter().any(|l| l.contains(&s.value))
        };
        if leaked {
            let probe = if s.partial {
                &s.value[..WINDOW]
            } else {
                &s.value
            };
            let line = lines
                .iter()
                .find(|l| l.contains(probe))
                .map_or("(a part of it)", String::as_str);
            found.push(format!("{}: {line}", s.label));
        }
    }
    found
}

/// `POST` to the token endpoint; the JSON answer.
async fn token_request(http: &reqwest::Client, endpoint: &str, pairs: &[(&str, &str)]) -> Value {
    let resp = http
        .post(endpoint)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .expect("token request");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(status, StatusCode::OK, "token endpoint: {body}");
    body
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

fn expect(got: StatusCode, want: StatusCode, what: &str) {
    assert_eq!(got, want, "{what}");
}

/// A raw request to the MCP endpoint, with the header, body and query given.
async fn raw_post(
    http: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    content_type: &str,
    body: String,
) -> (StatusCode, String) {
    let mut req = http
        .post(url)
        .header(CONTENT_TYPE, content_type)
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(a) = authorization {
        req = req.header(AUTHORIZATION, a);
    }
    let resp = req.send().await.expect("POST");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_at_trace_over_a_whole_flow() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(capture.clone())
            .with(tracing_subscriber::filter::LevelFilter::TRACE),
    )
    .expect("the only subscriber of this test binary");
    let mut secrets = Secrets::default();

    bounded(async {
        let server = start().await;
        let http = http();
        let dev = server.dev_authorization_server().expect("embedded AS");
        let authority = dev.authority().clone();
        let as_meta: Value = http
            .get(server.as_metadata_url().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token_endpoint = str_of(&as_meta, "token_endpoint").to_owned();
        let mcp = server.mcp_url.clone();

        // Dynamic registration of a confidential client (RFC 7591): a client secret.
        let redirect_uri = "http://127.0.0.1:9/callback";
        let registered: Value = http
            .post(str_of(&as_meta, "registration_endpoint"))
            .json(&json!({
                "client_name": "log capture",
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
                "scope": "mcp:read mcp:write",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let client_id = str_of(&registered, "client_id").to_owned();
        let client_secret = str_of(&registered, "client_secret").to_owned();
        secrets.random("client secret (DCR)", &client_secret);

        // Authorization code with PKCE S256 (auto-approved), then the token endpoint.
        let (verifier, challenge) = pkce();
        secrets.random("PKCE verifier", &verifier);
        let state = random_state();
        let mut url = url::Url::parse(str_of(&as_meta, "authorization_endpoint")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair(
                "scope",
                &format!("{SCOPE_READ} {SCOPE_WRITE} offline_access"),
            )
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &mcp);
        let back = location(&http.get(url).send().await.unwrap());
        let code = query_param(&back, "code").expect("a code");
        secrets.random("authorization code", &code);
        let code_pairs = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", mcp.as_str()),
        ];
        let issued = token_request(&http, &token_endpoint, &code_pairs).await;
        let access = str_of(&issued, "access_token").to_owned();
        let refresh = str_of(&issued, "refresh_token").to_owned();
        secrets.token("access token (code)", &access);
        secrets.random("refresh token", &refresh);

        // Refresh, then client credentials with the example's demo client.
        let refreshed = token_request(
            &http,
            &token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client_id),
                ("client_secret", &client_secret),
                ("resource", &mcp),
            ],
        )
        .await;
        let access2 = str_of(&refreshed, "access_token").to_owned();
        secrets.token("access token (refresh)", &access2);
        if let Some(rt) = refreshed["refresh_token"].as_str() {
            secrets.random("refresh token (rotated)", rt);
        }
        // The code again (after the refresh, since a replay revokes the grant's tokens): refused (RFC 6749 §4.1.2), the request still holds secrets.
        let replay = http
            .post(&token_endpoint)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&code_pairs))
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
        let (demo_id, demo_secret) = server.demo_client().expect("demo client");
        secrets.random("client secret (demo)", demo_secret);
        let cc = token_request(
            &http,
            &token_endpoint,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", demo_id),
                ("client_secret", demo_secret),
                ("scope", SCOPE_READ),
                ("resource", &mcp),
            ],
        )
        .await;
        let access3 = str_of(&cc, "access_token").to_owned();
        secrets.token("access token (client credentials)", &access3);

        // Accepted: each token a few times (the verified-token cache answers from the second).
        for t in [&access, &access2, &access3] {
            for _ in 0..3 {
                let r = mcp_post(&http, &mcp, Some(t), &initialize(1)).await;
                assert_eq!(r.status, StatusCode::OK, "{r:?}");
            }
            let whoami = call_tool(&http, &mcp, t, "whoami", json!({})).await;
            assert!(!is_tool_error(&whoami), "{whoami}");
        }

        // A JWKS refresh: the issuer rotates, the first token with the new key is accepted
        // after one refetch.
        authority.rotate("RS256");
        let rotated = authority.token().aud(&mcp).scope(SCOPE_READ).sign();
        secrets.token("access token (rotated key)", &rotated);
        assert_eq!(
            mcp_post(&http, &mcp, Some(&rotated), &initialize(1))
                .await
                .status,
            StatusCode::OK
        );

        // Every kind of rejection.
        // Missing.
        expect(
            mcp_post(&http, &mcp, None, &initialize(1)).await.status,
            StatusCode::UNAUTHORIZED,
            "missing",
        );
        // Malformed: a real token with a character a b64token does not allow.
        let (s, _) = raw_post(
            &http,
            &mcp,
            Some(&format!("Bearer {access}!")),
            "application/json",
            initialize(1).to_string(),
        )
        .await;
        expect(s, StatusCode::BAD_REQUEST, "malformed");
        // Bad signature: one signature character changed.
        let (signed, sig) = access.rsplit_once('.').unwrap();
        let mut sig = sig.as_bytes().to_vec();
        let mid = sig.len() / 2;
        sig[mid] = if sig[mid] == b'A' { b'B' } else { b'A' };
        let forged = format!("{signed}.{}", String::from_utf8(sig).unwrap());
        secrets.token("access token (bad signature)", &forged);
        expect(
            mcp_post(&http, &mcp, Some(&forged), &initialize(1))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "bad signature",
        );
        let mut kinds: Vec<(&str, String, StatusCode)> = vec![
            (
                "expired",
                authority
                    .token()
                    .aud(&mcp)
                    .scope(SCOPE_READ)
                    .expires_in(-3600)
                    .sign(),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "wrong aud",
                authority
                    .token()
                    .aud("https://other.example.com/mcp")
                    .scope(SCOPE_READ)
                    .sign(),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "wrong iss",
                mcp_auth_dev::TestAuthority::new("https://evil.example.com")
                    .token()
                    .aud(&mcp)
                    .scope(SCOPE_READ)
                    .sign(),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "unknown kid",
                authority
                    .token()
                    .aud(&mcp)
                    .scope(SCOPE_READ)
                    .kid("forged-kid")
                    .sign(),
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for (what, token, status) in kinds.drain(..) {
            secrets.token(&format!("access token ({what})"), &token);
            expect(
                mcp_post(&http, &mcp, Some(&token), &initialize(1))
                    .await
                    .status,
                status,
                what,
            );
        }
        // Insufficient scope: a mcp:read token calling an admin tool.
        let r = mcp_post(
            &http,
            &mcp,
            Some(&access3),
            &tools_call(2, "admin_reset_notes", json!({})),
        )
        .await;
        expect(r.status, StatusCode::FORBIDDEN, "insufficient scope");
        // A token in a form body, and in the query string.
        let (s, _) = raw_post(
            &http,
            &mcp,
            None,
            "application/x-www-form-urlencoded",
            form(&[("access_token", &access)]),
        )
        .await;
        expect(s, StatusCode::BAD_REQUEST, "form body token");
        let (s, _) = raw_post(
            &http,
            &format!("{mcp}?access_token={access}"),
            None,
            "application/json",
            initialize(1).to_string(),
        )
        .await;
        expect(s, StatusCode::BAD_REQUEST, "query token");

        server.shutdown().await;
    })
    .await;

    let lines = capture.lines();
    // The capture saw the flow: otherwise an empty log would pass.
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // One rejection logged per kind tried above: missing; malformed, form body, query;
    // bad signature, expired, audience, issuer, unknown kid; insufficient scope.
    for (kind, n) in [
        ("kind=MissingCredentials", 1),
        ("kind=InvalidRequest", 3),
        ("kind=InvalidToken", 5),
        ("kind=InsufficientScope", 1),
    ] {
        let seen = lines
            .iter()
            .filter(|l| l.contains("mcp_auth::rejection") && l.contains(kind))
            .count();
        assert!(seen >= n, "{kind}: {seen} rejections logged, {n} expected");
    }
    assert!(count("request authorized") >= 10);
    assert!(
        count("JWKS loaded") >= 2,
        "the initial load and the refetch"
    );
    assert!(count("fetching JWKS") >= 2);
    assert!(lines.iter().any(|l| l.starts_with("TRACE ")), "TRACE is on");
    if std::env::var_os("SHOW_LOG").is_some() {
        for l in &lines {
            eprintln!("{l}");
        }
    }
    let found = leaks(&lines, &secrets);
    assert!(
        found.is_empty(),
        "secrets in {} captured log lines:\n{}",
        lines.len(),
        found.join("\n")
    );
}

/// The check above can fail: each way a secret may reach a log line is found.
#[test]
fn the_leak_check_finds_every_kind_of_leak() {
    let authority = mcp_auth_dev::TestAuthority::new("https://as.example.com");
    let token = authority.token().aud("https://mcp.example.com").sign();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let code = "0123456789abcdefghijklmnopqrstuvwxyz";
    let mut secrets = Secrets::default();
    secrets.token("token", &token);
    secrets.random("code", code);
    let logged: [Box<dyn Fn()>; 6] = [
        Box::new(|| tracing::info!(token = %token, "whole token in a field")),
        Box::new(|| tracing::debug!("in the message: Bearer {token}")),
        Box::new(|| tracing::trace!(sig = &signature[4..40], "part of the signature")),
        Box::new(|| tracing::warn!(unverified = signed, "header and payload")),
        Box::new(|| {
            let _span = tracing::info_span!("grant", code = &code[..24]).entered();
        }),
        Box::new(|| tracing::error!(err = ?format!("bad code {code}"), "in a Debug value")),
    ];
    for (i, log) in logged.iter().enumerate() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::with_default(subscriber, log);
        let lines = capture.lines();
        assert!(!lines.is_empty(), "case {i}: nothing captured");
        assert!(
            !leaks(&lines, &secrets).is_empty(),
            "case {i} not found: {lines:?}"
        );
    }
    // And a line with only what may be logged passes.
    let capture = Capture::default();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(capture.clone()), || {
        let hash = mcp_auth_core_hash(&token);
        tracing::debug!(token = %hash, iss = "https://as.example.com", "request authorized");
    });
    assert!(leaks(&capture.lines(), &secrets).is_empty());
}

/// The token hash the layer logs (`AuthContext::token_hash`).
fn mcp_auth_core_hash(token: &str) -> String {
    let signature = token.rsplit_once('.').unwrap().1;
    mcp_auth::core::TokenHash::of_signature(signature.as_bytes()).to_string()
}
