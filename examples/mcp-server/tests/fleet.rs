//! Two example servers sharing one Redis over loopback (`--redis`, `--fleet-secret`): what a
//! fleet behind a load balancer shares (issue 17's replay store, issue 18's session bindings
//! and rate limits), and what happens when Redis stops.
//!
//! The setup: server A runs the embedded development authorization server; server B trusts
//! A's issuer as an external authorization server (keys discovered from A's metadata) and
//! serves the same resource URI (`--resource`, the fleet's public URL, so a token's `aud` and a
//! proof's `htu` are the same at both). Requests go to each server's own socket. Every test
//! starts its own `redis-server` on a free loopback port; without the binary the tests are
//! skipped with a printed reason, unless `MCP_AUTH_REQUIRE_REDIS=1`.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{
    Capture, bounded, find_uuid, http, initialize, jsonrpc_body, make_the_state_unreadable,
    put_state_back, tools_call,
};
use example_mcp_server::dpop::{DpopFlag, DpopSettings};
use example_mcp_server::fleet::{FleetSettings, parse_rate};
use example_mcp_server::{
    AuthorizationServer, Config, DEFAULT_LOG_FILTER, ExternalAs, RunningServer,
};
use mcp_auth_dev::test_support::redis::RedisServer;
use redis::aio::MultiplexedConnection;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

const SECRET: &str = "fleet-test-secret-0123456789abcdefghij";

/// What a server of the fleet runs besides the shared Redis.
#[derive(Clone, Copy, Default)]
struct Options {
    dpop: DpopFlag,
    stateful: bool,
    /// `--rate-limit-per-address`.
    per_address: Option<&'static str>,
    /// `--rate-limit-per-principal`.
    per_principal: Option<&'static str>,
}

fn fleet_settings(redis: &RedisServer, o: Options) -> FleetSettings {
    FleetSettings {
        redis: Some(redis.url()),
        secret: Some(SECRET.into()),
        per_address: o.per_address.map(|r| parse_rate(r).unwrap()),
        per_principal: o.per_principal.map(|r| parse_rate(r).unwrap()),
        ..FleetSettings::default()
    }
}

/// Server A: the development authorization server beside it.
async fn server_a(redis: &RedisServer, o: Options) -> RunningServer {
    example_mcp_server::start(Config {
        dpop: DpopSettings {
            mode: o.dpop,
            nonce_secret: None,
        },
        stateful: o.stateful,
        debug_counters: true,
        fleet: fleet_settings(redis, o),
        ..Config::ephemeral()
    })
    .await
    .expect("server A starts")
}

/// A server trusting A's issuer as an external authorization server, for A's resource URI.
async fn server_b(a: &RunningServer, redis: &RedisServer, o: Options) -> RunningServer {
    example_mcp_server::start(Config {
        resource: Some(a.mcp_url.clone()),
        authorization_server: AuthorizationServer::External(ExternalAs {
            issuer: a.as_issuer.clone(),
            jwks_uri: None,
        }),
        dpop: DpopSettings {
            mode: o.dpop,
            nonce_secret: None,
        },
        stateful: o.stateful,
        debug_counters: true,
        fleet: fleet_settings(redis, o),
        ..Config::ephemeral()
    })
    .await
    .expect("server B starts")
}

/// Servers A and B of one fleet, both with `o`.
async fn fleet(redis: &RedisServer, o: Options) -> (RunningServer, RunningServer) {
    let a = server_a(redis, o).await;
    let b = server_b(&a, redis, o).await;
    (a, b)
}

/// The tool answered 200, as `sub`.
fn assert_answered_as(r: &Reply, sub: &str) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.whoami().contains(sub), "{}", r.text);
}

/// A `whoami` call as `token` at each of `urls`, in order, each answered 200.
async fn assert_all_ok(urls: &[String], token: &str) {
    for url in urls {
        let r = bearer_call(url, token, None).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
    }
}

/// 429 from a one-minute budget (`1/60`): `Retry-After` (RFC 6585 §4) within the minute.
fn assert_limited(r: &Reply, url: &str) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{url}: {}", r.text);
    let secs = r.retry_after();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
}

/// The MCP endpoint on `server`'s own socket (B's `mcp_url` is A's resource URI).
fn endpoint(server: &RunningServer) -> String {
    format!("http://{}/mcp", server.local_addr)
}

async fn inner_requests(server: &RunningServer) -> u64 {
    let url = format!("http://{}/debug/counters", server.local_addr);
    let v: Value = http().get(url).send().await.unwrap().json().await.unwrap();
    v["inner_requests"].as_u64().unwrap()
}

/// A token of A's authorization server for the fleet's resource, `mcp:read`, for `sub`,
/// bound to `jkt` if given.
fn token(a: &RunningServer, sub: &str, jkt: Option<&str>) -> String {
    let mut t = a
        .dev_authorization_server()
        .expect("A runs the dev AS")
        .authority()
        .token()
        .aud(&a.mcp_url)
        .scope("mcp:read")
        .subject(sub)
        .expires_in(600);
    if let Some(jkt) = jkt {
        t = t.cnf_jkt(jkt);
    }
    t.sign()
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A client's ES256 DPoP key (RFC 9449 §4.2), independent of the layer's code.
struct ProofKey {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl ProofKey {
    fn new() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk =
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
        Self { pair, jwk }
    }

    /// The RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
    fn jkt(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
            self.jwk["x"], self.jwk["y"]
        );
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// A fresh proof for `POST htu` with `token`.
    fn proof(&self, htu: &str, token: &str) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let claims = json!({
            "jti": format!("fleet-{now}-{}", N.fetch_add(1, Ordering::SeqCst)),
            "htm": "POST",
            "htu": htu,
            "iat": now,
            "ath": b64(&Sha256::digest(token.as_bytes())),
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn whoami(&self) -> String {
        let body = jsonrpc_body(self.header("content-type"), &self.text);
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `Retry-After` in seconds (RFC 9110 §10.2.3), which must be there.
    fn retry_after(&self) -> u64 {
        let v = self.header("retry-after");
        v.parse()
            .unwrap_or_else(|_| panic!("Retry-After {v:?} on {}", self.status))
    }
}

/// One request to `url`: `auth` is the whole `Authorization` value.
async fn send(
    url: &str,
    method: Method,
    auth: &str,
    dpop: Option<&str>,
    session: Option<&str>,
    message: Option<&Value>,
) -> Reply {
    let mut req = http()
        .request(method, url)
        .header(AUTHORIZATION, auth)
        .header(ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(m) = message {
        req = req
            .header(CONTENT_TYPE, "application/json")
            .body(m.to_string());
    }
    if let Some(p) = dpop {
        req = req.header("dpop", p);
    }
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let resp = req.send().await.expect("request");
    Reply {
        status: resp.status(),
        headers: resp.headers().clone(),
        text: resp.text().await.expect("body"),
    }
}

async fn bearer_call(url: &str, token: &str, session: Option<&str>) -> Reply {
    let call = tools_call(2, "whoami", json!({}));
    send(
        url,
        Method::POST,
        &format!("Bearer {token}"),
        None,
        session,
        Some(&call),
    )
    .await
}

async fn dpop_call(url: &str, token: &str, proof: &str) -> Reply {
    let call = tools_call(2, "whoami", json!({}));
    send(
        url,
        Method::POST,
        &format!("DPoP {token}"),
        Some(proof),
        None,
        Some(&call),
    )
    .await
}

/// `initialize` then `notifications/initialized` at `url` as `token`: the session id.
async fn open_session(url: &str, token: &str) -> String {
    let auth = format!("Bearer {token}");
    let r = send(url, Method::POST, &auth, None, None, Some(&initialize(1))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.header("mcp-session-id").to_owned();
    assert!(!id.is_empty(), "a stateful server assigns a session");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = send(url, Method::POST, &auth, None, Some(&id), Some(&note)).await;
    assert!(r.status.is_success(), "{}: {}", r.status, r.text);
    id
}

/// 503 for a session whose store could not answer: `Retry-After` of 5 s (what the layer
/// sends for its session store), a JSON-RPC error body without an `id`, and nothing in it of
/// the session id, the token or the fleet secret.
fn assert_session_unavailable(r: &Reply, session_id: &str, token: &str) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.retry_after(), 5, "{}", r.text);
    assert_eq!(r.header("content-type"), "application/json");
    let body: Value = serde_json::from_str(&r.text).expect("a JSON body");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["error"]["code"], -32000, "{body}");
    assert!(body.get("id").is_none(), "{body}");
    for secret in [session_id, token, SECRET] {
        assert!(!r.text.contains(secret), "{}", r.text);
    }
}

#[tokio::test]
async fn a_dpop_proof_used_at_one_server_is_refused_at_the_other() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    bounded(async {
        let o = Options {
            dpop: DpopFlag::Required,
            ..Options::default()
        };
        let (a, b) = fleet(&redis, o).await;
        let key = ProofKey::new();
        let token = token(&a, "alice", Some(&key.jkt()));
        let proof = key.proof(&a.mcp_url, &token);

        let first = dpop_call(&endpoint(&a), &token, &proof).await;
        assert_answered_as(&first, "alice");

        let before = inner_requests(&b).await;
        let replayed = dpop_call(&endpoint(&b), &token, &proof).await;
        assert_eq!(
            replayed.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            replayed.text
        );
        let challenge = replayed.header("www-authenticate");
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert!(
            challenge.contains(r#"error="invalid_dpop_proof""#),
            "{challenge}"
        );
        assert_eq!(inner_requests(&b).await, before, "the replay reached rmcp");

        let fresh = dpop_call(&endpoint(&b), &token, &key.proof(&a.mcp_url, &token)).await;
        assert_answered_as(&fresh, "alice");
        assert_eq!(inner_requests(&b).await, before + 1);
        b.shutdown().await;
        a.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_session_opened_at_one_server_is_its_users_at_the_other_and_ends_everywhere() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    bounded(async {
        let o = Options {
            stateful: true,
            ..Options::default()
        };
        let (a, b) = fleet(&redis, o).await;
        let (alice, mallory) = (token(&a, "alice", None), token(&a, "mallory", None));
        let id = open_session(&endpoint(&a), &alice).await;

        // B never saw the session: rmcp resumes it from Redis, the layer finds alice's binding.
        let at_b = bearer_call(&endpoint(&b), &alice, Some(&id)).await;
        assert_answered_as(&at_b, "alice");

        // Mallory's valid token with alice's session id: exactly an unknown session's answer.
        let before = inner_requests(&b).await;
        let unknown = bearer_call(&endpoint(&b), &mallory, Some("no-such-session")).await;
        let hijack = bearer_call(&endpoint(&b), &mallory, Some(&id)).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
        assert_eq!(hijack.status, unknown.status);
        assert_eq!(hijack.text, unknown.text);
        assert_eq!(
            hijack.header("content-type"),
            unknown.header("content-type")
        );
        assert_eq!(inner_requests(&b).await, before, "a hijack reached rmcp");

        // DELETE at B ends the session at A too.
        let auth = format!("Bearer {alice}");
        let deleted = send(&endpoint(&b), Method::DELETE, &auth, None, Some(&id), None).await;
        assert!(
            deleted.status.is_success(),
            "{}: {}",
            deleted.status,
            deleted.text
        );
        let after = bearer_call(&endpoint(&a), &alice, Some(&id)).await;
        assert_eq!(after.status, StatusCode::NOT_FOUND, "{}", after.text);
        assert_eq!(after.text, unknown.text);
        b.shutdown().await;
        a.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_per_address_budget_is_one_for_the_fleet() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    bounded(async {
        // 3 at once, then one a minute: the test runs well inside one refill.
        let o = Options {
            per_address: Some("1/60:3"),
            ..Options::default()
        };
        let (a, b) = fleet(&redis, o).await;
        let alice = token(&a, "alice", None);
        assert_all_ok(&[endpoint(&a), endpoint(&b), endpoint(&a)], &alice).await;
        // The burst is spent across A and B: each server alone has seen at most 2.
        for url in [endpoint(&b), endpoint(&a)] {
            let r = bearer_call(&url, &alice, None).await;
            assert_limited(&r, &url);
            assert!(!r.text.contains(&alice));
        }
        b.shutdown().await;
        a.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_per_principal_budget_is_one_for_the_fleet_and_each_users_own() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    bounded(async {
        let o = Options {
            per_principal: Some("1/60:2"),
            ..Options::default()
        };
        let (a, b) = fleet(&redis, o).await;
        let (alice, mallory) = (token(&a, "alice", None), token(&a, "mallory", None));
        assert_all_ok(&[endpoint(&a), endpoint(&b)], &alice).await;
        let url = endpoint(&a);
        let r = bearer_call(&url, &alice, None).await;
        assert_limited(&r, &url);
        // Another user, same address: a budget of their own.
        let r = bearer_call(&endpoint(&b), &mallory, None).await;
        assert_answered_as(&r, "mallory");
        b.shutdown().await;
        a.shutdown().await;
    })
    .await;
}

/// Redis stops: DPoP and session requests are 503 with `Retry-After`, the limits fail open.
/// What is logged through the example's default filter names no session: neither the open
/// session's id nor the id rmcp gives an `initialize` whose state it cannot save (rmcp
/// logs that one with the id, unless the store hides the failure from it).
#[tokio::test]
async fn redis_stopped_dpop_and_sessions_are_503_and_limits_fail_open() {
    let Some(mut redis) = RedisServer::start(&[]) else {
        return;
    };
    let logged = Capture::default();
    let _log = mcp_auth_dev::test_support::logs::capture(
        tracing_subscriber::registry().with(
            logged
                .clone()
                .with_filter(EnvFilter::new(DEFAULT_LOG_FILTER)),
        ),
    );
    let (id, alice) = bounded(async {
        let limited = Options {
            dpop: DpopFlag::Allowed,
            per_address: Some("1000/1"),
            ..Options::default()
        };
        let a = server_a(&redis, limited).await;
        let b = server_b(&a, &redis, limited).await;
        let stateful = Options {
            stateful: true,
            ..Options::default()
        };
        let s = server_b(&a, &redis, stateful).await;
        let key = ProofKey::new();
        let bound = token(&a, "alice", Some(&key.jkt()));
        let alice = token(&a, "alice", None);
        let id = open_session(&endpoint(&s), &alice).await;
        let ok = bearer_call(&endpoint(&s), &alice, Some(&id)).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

        redis.stop();

        // DPoP: the replay store cannot say the proof is new, so it is not accepted.
        let r = dpop_call(&endpoint(&b), &bound, &key.proof(&a.mcp_url, &bound)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
        assert!(r.retry_after() >= 1);
        // Sessions: the binding cannot be checked.
        let r = bearer_call(&endpoint(&s), &alice, Some(&id)).await;
        assert_session_unavailable(&r, &id, &alice);
        // A new session: rmcp opens it, cannot save its state, the layer cannot bind it.
        let auth = format!("Bearer {alice}");
        let r = send(
            &endpoint(&s),
            Method::POST,
            &auth,
            None,
            None,
            Some(&initialize(1)),
        )
        .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
        assert!(r.retry_after() >= 1);
        assert_eq!(r.header("mcp-session-id"), "");
        // Limits: fail open, the request goes through to the tool.
        let before = inner_requests(&b).await;
        let r = bearer_call(&endpoint(&b), &alice, None).await;
        assert_answered_as(&r, "alice");
        assert_eq!(inner_requests(&b).await, before + 1);
        s.shutdown().await;
        b.shutdown().await;
        a.shutdown().await;
        (id, alice)
    })
    .await;

    let lines = logged.lines();
    for l in &lines {
        assert!(!l.contains(&id), "logged: {l}");
        assert!(!l.contains(&alice), "logged: {l}");
        // rmcp's session ids are UUIDs: none of them, not only the one the test knows.
        assert!(find_uuid(l).is_none(), "logged: {l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARN example_mcp_server::fleet:")
                && l.contains("op=store")
                && l.contains("error_kind=connection")),
        "the example's warning for the state it could not save: {lines:#?}"
    );
}

#[test]
fn a_uuid_is_found_anywhere_in_a_line() {
    let id = "1c5b4420-46eb-4c36-ba8c-52126a8e0316";
    assert_eq!(
        find_uuid(&format!("Failed to persist session {id} to store")),
        Some(id)
    );
    assert_eq!(find_uuid(id), Some(id));
    assert_eq!(find_uuid("session_id=1c5b4420-46eb-4c36-ba8c"), None);
    assert_eq!(find_uuid("op=store error_kind=connection"), None);
}

/// A stateful fleet `(A, B)`, alice's token, and the id of her session opened at A, whose
/// rmcp state in Redis then cannot be read (with what [`put_state_back`] needs).
async fn unreadable_session(
    redis: &RedisServer,
) -> (
    (RunningServer, RunningServer),
    String,
    String,
    (MultiplexedConnection, String, String),
) {
    let o = Options {
        stateful: true,
        ..Options::default()
    };
    let (a, b) = fleet(redis, o).await;
    let alice = token(&a, "alice", None);
    let id = open_session(&endpoint(&a), &alice).await;
    let unreadable = make_the_state_unreadable(redis).await;
    ((a, b), alice, id, unreadable)
}

/// The layer's binding check passes, then rmcp cannot read the session's state from Redis:
/// rmcp's 500 with the store's error text becomes the layer's 503. What is logged, through
/// the example's default filter, holds neither the session id nor the token nor Redis's
/// error text, and holds the example's warning; rmcp's own line (with the session id,
/// seen here without the filter) is not let through.
#[tokio::test]
async fn an_unreadable_rmcp_session_state_is_503_with_retry_after() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    // The test's runtime is on this thread, and so is every task of both servers.
    let (all, logged) = (Capture::default(), Capture::default());
    let _log = mcp_auth_dev::test_support::logs::capture(
        tracing_subscriber::registry().with(all.clone()).with(
            logged
                .clone()
                .with_filter(EnvFilter::new(DEFAULT_LOG_FILTER)),
        ),
    );
    let (id, alice) = bounded(async {
        let ((a, b), alice, id, (mut conn, key, saved)) = unreadable_session(&redis).await;

        let r = bearer_call(&endpoint(&b), &alice, Some(&id)).await;
        assert_session_unavailable(&r, &id, &alice);
        assert!(!r.text.contains("WRONGTYPE"), "{}", r.text);
        // A, which holds the session in memory, still serves it.
        let r = bearer_call(&endpoint(&a), &alice, Some(&id)).await;
        assert_answered_as(&r, "alice");
        // Once the state reads again, B resumes the session.
        put_state_back(&mut conn, &key, &saved).await;
        let r = bearer_call(&endpoint(&b), &alice, Some(&id)).await;
        assert_answered_as(&r, "alice");
        b.shutdown().await;
        a.shutdown().await;
        (id, alice)
    })
    .await;

    // rmcp did log the failed read with the session id: the check below can fail.
    let rmcps = all
        .lines()
        .into_iter()
        .find(|l| l.contains("session store load failed during restore"))
        .expect("rmcp logs the failed read");
    assert!(rmcps.starts_with("ERROR "), "{rmcps}");
    assert!(rmcps.contains(&id), "{rmcps}");
    let lines = logged.lines();
    let signature = alice.rsplit_once('.').unwrap().1;
    for l in &lines {
        for secret in [id.as_str(), alice.as_str(), signature, SECRET, "WRONGTYPE"] {
            assert!(!l.contains(secret), "logged: {l}");
        }
    }
    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("rmcp's session state could not be read from Redis"))
        .collect();
    assert_eq!(ours.len(), 1, "{lines:#?}");
    let ours = ours[0];
    assert!(
        ours.starts_with("WARN example_mcp_server::fleet:"),
        "{ours}"
    );
    assert!(ours.contains("op=load"), "{ours}");
    assert!(ours.contains("error_kind=server error"), "{ours}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("session store load failed")),
        "{lines:#?}"
    );
    // rmcp's other errors still get through the filter (not a blanket `off`): its line for
    // the 500, which holds the store's error as the example words it, without data.
    let internal = lines
        .iter()
        .find(|l| l.contains("Internal server error when restore session"))
        .expect("rmcp's error for its 500 is logged");
    assert!(internal.starts_with("ERROR rmcp::"), "{internal}");
    assert!(
        internal.contains("load failed (server error)"),
        "{internal}"
    );
}

/// `failed_calls` of `GETEX` (rmcp's reads of its session state) since `CONFIG RESETSTAT`.
async fn failed_state_reads(conn: &mut MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_getex:"))
        .and_then(|stats| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("failed_calls="))
        })
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// `n` concurrent `whoami` calls at `url` in `session`, each with its own JSON-RPC id (one
/// session's responses are matched to its requests by id).
async fn concurrent_calls(n: usize, url: &str, token: &str, session: &str) -> Vec<Reply> {
    let mut set = tokio::task::JoinSet::new();
    for id in 0..n {
        let call = tools_call(100 + id as u64, "whoami", json!({}));
        let (url, auth, session) = (
            url.to_owned(),
            format!("Bearer {token}"),
            session.to_owned(),
        );
        set.spawn(async move {
            send(&url, Method::POST, &auth, None, Some(&session), Some(&call)).await
        });
    }
    set.join_all().await
}

/// While a session's state cannot be read, concurrent requests for it at an instance that
/// must restore it: rmcp reads once and has the others wait on that restore (fewer failed
/// reads than requests, counted by Redis), and every one of them is the 503 with
/// `Retry-After`, none the 404 of an unknown session (which would make a client drop a
/// good session during an outage). Then, the state readable again, all are served.
#[tokio::test]
async fn concurrent_requests_for_an_unreadable_session_are_all_503_none_404() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    bounded(async {
        const N: usize = 8;
        const ROUNDS: usize = 10;
        let ((a, b), alice, id, (mut conn, key, saved)) = unreadable_session(&redis).await;

        let mut waited = None;
        for round in 0..ROUNDS {
            let () = redis::cmd("CONFIG")
                .arg("RESETSTAT")
                .query_async(&mut conn)
                .await
                .unwrap();
            for r in concurrent_calls(N, &endpoint(&b), &alice, &id).await {
                assert_session_unavailable(&r, &id, &alice);
            }
            let reads = failed_state_reads(&mut conn).await;
            assert!((1..=N as u64).contains(&reads), "{reads} failed reads");
            if reads < N as u64 {
                waited = Some((round, reads));
                break;
            }
        }
        let (round, reads) = waited.unwrap_or_else(|| {
            panic!("in {ROUNDS} rounds of {N}, no request waited on another's restore")
        });
        eprintln!("round {round}: {N} requests, {reads} failed reads, all 503");

        put_state_back(&mut conn, &key, &saved).await;
        for r in concurrent_calls(N, &endpoint(&b), &alice, &id).await {
            assert_answered_as(&r, "alice");
        }
        b.shutdown().await;
        a.shutdown().await;
    })
    .await;
}
