//! Issue 18, section 3: the layer's metrics (exact values and labels after a scripted
//! sequence of requests, with `metrics-util`'s debugging recorder) and its audit events
//! (captured with a test `tracing` subscriber: fields, escaping, no token, no claim of an
//! unverified token).

mod common;

use axum::body::Body;
use common::{ISS, authority, builder, send};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use mcp_auth::core::mcp::McpPolicy;
use mcp_auth::metrics::{DECISION_DURATION, DECISIONS};
use mcp_auth::{McpAuthLayer, audit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Every request needs `mcp:read`; `tools/call whoami` also needs `mcp:write`.
fn layer() -> McpAuthLayer {
    builder()
        .mcp_policy(
            McpPolicy::builder()
                .default_scopes(["mcp:read"])
                .tool("search", ["mcp:read"])
                .tool("whoami", ["mcp:write"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn call(token: Option<&str>, tool: &str) -> Request<Body> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": {}}});
    let mut req = Request::post("/mcp")
        .header(CONTENT_TYPE, "application/json")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", tool);
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    req.body(Body::from(body.to_string())).unwrap()
}

/// The audit events seen, each as its fields.
#[derive(Clone, Default)]
struct Audit(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Audit {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != audit::TARGET {
            return;
        }
        assert_eq!(*event.metadata().level(), tracing::Level::INFO);
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
}

type Series = (String, Vec<(String, String)>);

fn snapshot(recorder: &DebuggingRecorder) -> (BTreeMap<Series, u64>, BTreeMap<Series, usize>) {
    let (mut counters, mut histograms) = (BTreeMap::new(), BTreeMap::new());
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let key = key.key();
        let labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let series = (key.name().to_owned(), labels);
        match value {
            DebugValue::Counter(n) => {
                counters.insert(series, n);
            }
            DebugValue::Histogram(v) => {
                histograms.insert(series, v.len());
            }
            DebugValue::Gauge(_) => panic!("the layer records no gauge"),
        }
    }
    (counters, histograms)
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (name.to_owned(), labels)
}

#[tokio::test(flavor = "current_thread")]
async fn a_scripted_sequence_is_counted_exactly_and_audited_without_secrets() {
    // Hostile text in the verified token's subject and client id (escaped, never raw), and
    // in the forged token's claims (never logged at all).
    let alice = "alice \"admin\"\r\nevent=forged";
    let client = "client\u{1b}[31m-1";
    let good = common::token().subject(alice).client_id(client).sign();
    let forged_sub = "mallory-unverified-subject";
    let forged_client = "unverified-client-id";
    let forged = {
        let t = common::token()
            .subject(forged_sub)
            .client_id(forged_client)
            .sign();
        // Same header and claims, another signature.
        let (head, sig) = t.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        format!("{head}.{flipped}{}", &sig[1..])
    };

    let recorder = DebuggingRecorder::new();
    let audit = Audit::default();
    let subscriber = tracing_subscriber::registry().with(audit.clone());
    let _tracing = mcp_auth_dev::test_support::logs::capture(subscriber);
    let _metrics = metrics::set_default_local_recorder(&recorder);

    let layer = layer();
    let accepted = send(layer.clone(), call(Some(&good), "search")).await;
    assert_eq!(accepted.status, StatusCode::OK);
    let missing = send(layer.clone(), call(None, "search")).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    let bad_signature = send(layer.clone(), call(Some(&forged), "search")).await;
    assert_eq!(bad_signature.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad_signature.error.as_ref().map(|e| e.kind()),
        Some(mcp_auth::ErrorKind::InvalidToken)
    );
    let step_up = send(layer.clone(), call(Some(&good), "whoami")).await;
    assert_eq!(step_up.status, StatusCode::FORBIDDEN);
    // Decisions in memory are timed one in 16 (per thread, and this runtime has one): 15
    // more, so exactly one of the 16 consecutive in-memory decisions is timed.
    for _ in 0..15 {
        let again = send(layer.clone(), call(None, "search")).await;
        assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    }
    drop(_metrics);

    let (counters, histograms) = snapshot(&recorder);
    let decided = |outcome, reason| series(DECISIONS, &[("outcome", outcome), ("reason", reason)]);
    // Every reason's series is registered at the layer's first decision (at 0 until used).
    assert_eq!(counters.len(), 10, "{counters:?}");
    let used: BTreeMap<_, _> = counters.iter().filter(|(_, n)| **n > 0).collect();
    let counters: BTreeMap<Series, u64> = used.into_iter().map(|(k, n)| (k.clone(), *n)).collect();
    assert_eq!(
        counters,
        BTreeMap::from([
            (decided("allowed", "none"), 1),
            (decided("refused", "missing_credentials"), 16),
            (decided("refused", "invalid_token"), 1),
            (decided("refused", "insufficient_scope"), 1),
        ])
    );
    // The refusals of the token stage are decided in `call`, one in 16 timed; the two whose
    // token was accepted waited for the body (the MCP policy classifies it), both timed.
    assert_eq!(mcp_auth::metrics::MEMORY_PATH_SAMPLE, 16);
    assert_eq!(
        histograms,
        BTreeMap::from([
            (series(DECISION_DURATION, &[("path", "memory")]), 1),
            (series(DECISION_DURATION, &[("path", "io")]), 2),
        ])
    );
    let secrets = [
        alice,
        client,
        "alice",
        forged_sub,
        forged_client,
        good.as_str(),
        forged.as_str(),
    ];
    for (name, labels) in counters.keys().chain(histograms.keys()) {
        for (k, v) in labels {
            for s in secrets {
                assert!(!v.contains(s) && !k.contains(s), "{name}: label {k}={v}");
            }
        }
    }

    let events = audit.0.lock().unwrap().clone();
    assert_eq!(
        events.len(),
        18,
        "one event per refusal, none for the accepted call: {events:?}"
    );
    let field = |i: usize, name: &str| events[i].get(name).cloned();
    // 401 without a token: no principal, no client, the operation from the `Mcp-*` headers.
    assert_eq!(field(0, "event").as_deref(), Some("refused"));
    assert_eq!(field(0, "reason").as_deref(), Some("missing_credentials"));
    assert_eq!(field(0, "status").as_deref(), Some("401"));
    assert_eq!(field(0, "method").as_deref(), Some("tools/call"));
    assert_eq!(field(0, "tool").as_deref(), Some("search"));
    assert_eq!(field(0, "principal"), None);
    assert_eq!(field(0, "client_id"), None);
    // 401 bad signature: the forged token's claims are attacker text, never logged.
    assert_eq!(field(1, "reason").as_deref(), Some("invalid_token"));
    assert_eq!(field(1, "status").as_deref(), Some("401"));
    assert_eq!(field(1, "issuer"), None);
    assert_eq!(field(1, "principal"), None);
    assert_eq!(field(1, "client_id"), None);
    // 403: a step-up, naming the verified principal (hashed) and client (escaped), and the
    // tool from the body the layer read.
    assert_eq!(field(2, "event").as_deref(), Some("step_up"));
    assert_eq!(field(2, "reason").as_deref(), Some("insufficient_scope"));
    assert_eq!(field(2, "status").as_deref(), Some("403"));
    assert_eq!(field(2, "issuer").as_deref(), Some(ISS));
    assert_eq!(
        field(2, "principal"),
        audit::principal_hash(ISS, alice).map(|h| h.to_string())
    );
    assert_eq!(field(2, "client_id").as_deref(), Some("client\\x1b[31m-1"));
    assert_eq!(field(2, "method").as_deref(), Some("tools/call"));
    assert_eq!(field(2, "tool").as_deref(), Some("whoami"));
    for event in &events {
        for (name, value) in event {
            assert!(
                !value.bytes().any(|b| b.is_ascii_control() || b == b'"'),
                "{name} is not escaped: {value:?}"
            );
            for s in secrets {
                assert!(!value.contains(s), "{name}={value} holds {s:?}");
            }
            // No piece of either token (their signatures' ends, as a log would cut them).
            for t in [&good, &forged] {
                assert!(!value.contains(&t[t.len() - 16..]), "{name} holds a token");
            }
        }
    }
}

/// The audit event's `Mcp-Name` and `Mcp-Method` are request text too: escaped.
#[tokio::test(flavor = "current_thread")]
async fn request_text_in_an_audit_event_is_escaped() {
    let audit = Audit::default();
    let _tracing = mcp_auth_dev::test_support::logs::capture(
        tracing_subscriber::registry().with(audit.clone()),
    );
    let req = Request::post("/mcp")
        .header(CONTENT_TYPE, "application/json")
        .header("Mcp-Method", "tools/call")
        // `=?base64?…?=` decodes to a name with a quote, a newline and a non-ASCII byte.
        .header("Mcp-Name", "=?base64?YSJiCmPDqTg=?=")
        .body(Body::from("{}"))
        .unwrap();
    let out = send(layer(), req).await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    let events = audit.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].get("tool").map(String::as_str),
        Some("a\\\"b\\x0ac\\xc3\\xa98")
    );
    let _ = authority();
}

/// The operational refusals around the decision (issue 18 §1-2) are counted by stage and by
/// reason, and audited: a pre-auth 429 with no principal, a post-auth 429 and the session
/// refusals with the verified principal; a limit store that cannot answer is counted as a
/// fail-open and lets the request through.
#[tokio::test(flavor = "current_thread")]
async fn limit_and_session_refusals_are_counted_and_audited() {
    use mcp_auth::client_addr::ClientAddr;
    use mcp_auth::core::sealed::Principal;
    use mcp_auth::limit::{Limiter, Limits, Rate};
    use mcp_auth::metrics::{RATE_LIMIT_FAIL_OPEN, RATE_LIMIT_REFUSALS, SESSION_REFUSALS};
    use mcp_auth::session::{MemorySessionStore, SessionStore};
    use std::time::Duration;

    let slow = |burst| Rate::new(1, Duration::from_secs(60), burst).unwrap();
    let store = MemorySessionStore::new(100, Duration::from_secs(600));
    // "bob-session" belongs to bob; alice presents it below.
    let bound = store
        .bind("bob-session", &Principal::new(ISS, Some("bob"), None))
        .await
        .unwrap();
    assert_eq!(bound, mcp_auth::session::Binding::Bound);
    let layer = builder()
        .rate_limits(Limiter::in_memory(
            Limits::new().per_address(slow(2)).per_principal(slow(3)),
        ))
        .sessions(store)
        .build()
        .unwrap();
    let from = |peer: &str, token: Option<&str>, session: Option<&str>| {
        let mut req = call(token, "search");
        req.extensions_mut()
            .insert(ClientAddr(peer.parse().unwrap()));
        if let Some(s) = session {
            req.headers_mut()
                .insert("mcp-session-id", s.parse().unwrap());
        }
        req
    };
    let alice = common::token().subject("alice").client_id("c-1").sign();

    let recorder = DebuggingRecorder::new();
    let audit = Audit::default();
    let _tracing = mcp_auth_dev::test_support::logs::capture(
        tracing_subscriber::registry().with(audit.clone()),
    );
    let _metrics = metrics::set_default_local_recorder(&recorder);

    // Per address: two, then 429 before any token work (no token needed to be refused).
    for _ in 0..2 {
        let ok = send(layer.clone(), from("10.0.0.1:1", Some(&alice), None)).await;
        assert_eq!(ok.status, StatusCode::OK);
    }
    let pre = send(layer.clone(), from("10.0.0.1:1", None, None)).await;
    assert_eq!(pre.status, StatusCode::TOO_MANY_REQUESTS);
    // Per principal (3): alice's third call (from another address) passes, the fourth is 429.
    let third = send(layer.clone(), from("10.0.0.2:1", Some(&alice), None)).await;
    assert_eq!(third.status, StatusCode::OK);
    let post = send(layer.clone(), from("10.0.0.3:1", Some(&alice), None)).await;
    assert_eq!(post.status, StatusCode::TOO_MANY_REQUESTS);
    // Sessions: bob's session with another principal's token, then an unknown one (a fresh
    // principal each, so the per-principal limit is not what answers).
    let carol = common::token().subject("carol").client_id("c-2").sign();
    let hijack = send(
        layer.clone(),
        from("10.0.0.4:1", Some(&carol), Some("bob-session")),
    )
    .await;
    assert_eq!(hijack.status, StatusCode::NOT_FOUND);
    let dave = common::token().subject("dave").sign();
    let unknown = send(
        layer.clone(),
        from("10.0.0.5:1", Some(&dave), Some("no-such-session")),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        hijack.body, unknown.body,
        "a hijack reads as an unknown session"
    );
    drop(_metrics);

    let (counters, _) = snapshot(&recorder);
    let got = |name: &str, labels: &[(&str, &str)]| counters.get(&series(name, labels)).copied();
    assert_eq!(got(RATE_LIMIT_REFUSALS, &[("stage", "pre_auth")]), Some(1));
    assert_eq!(got(RATE_LIMIT_REFUSALS, &[("stage", "post_auth")]), Some(1));
    assert_eq!(got(RATE_LIMIT_FAIL_OPEN, &[("stage", "pre_auth")]), None);
    assert_eq!(
        got(SESSION_REFUSALS, &[("reason", "other_principal")]),
        Some(1)
    );
    assert_eq!(got(SESSION_REFUSALS, &[("reason", "unknown")]), Some(1));

    let events = audit.0.lock().unwrap().clone();
    let reasons: Vec<_> = events
        .iter()
        .map(|e| e.get("reason").cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        reasons,
        [
            "rate_limited",
            "rate_limited",
            "session_unknown",
            "session_unknown"
        ]
    );
    let field = |i: usize, name: &str| events[i].get(name).cloned();
    // Before the token: nobody is named.
    assert_eq!(field(0, "status").as_deref(), Some("429"));
    assert_eq!(field(0, "principal"), None);
    assert_eq!(field(0, "method").as_deref(), Some("tools/call"));
    // After it: the verified principal (hashed) and client id.
    assert_eq!(field(1, "status").as_deref(), Some("429"));
    assert_eq!(
        field(1, "principal"),
        audit::principal_hash(ISS, "alice").map(|h| h.to_string())
    );
    assert_eq!(field(1, "client_id").as_deref(), Some("c-1"));
    assert_eq!(field(1, "tool").as_deref(), Some("search"));
    assert_eq!(field(2, "status").as_deref(), Some("404"));
    assert_eq!(
        field(2, "principal"),
        audit::principal_hash(ISS, "carol").map(|h| h.to_string())
    );
    for event in &events {
        for value in event.values() {
            for secret in [alice.as_str(), carol.as_str(), dave.as_str(), "bob-session"] {
                assert!(!value.contains(secret), "an audit field holds {secret:?}");
            }
        }
    }
}

/// A limit store that cannot answer lets the request through, counted as a fail-open.
#[tokio::test(flavor = "current_thread")]
async fn a_limit_store_that_cannot_answer_is_counted_as_failing_open() {
    use mcp_auth::client_addr::ClientAddr;
    use mcp_auth::limit::{
        Decision, LimitCheck, LimitStoreError, Limiter, Limits, Rate, RateLimitStore,
    };
    use mcp_auth::metrics::RATE_LIMIT_FAIL_OPEN;
    use std::time::Duration;

    struct Down;
    impl RateLimitStore for Down {
        type Future = std::future::Ready<Result<Decision, LimitStoreError>>;
        fn check(&self, _: &[LimitCheck<'_>]) -> Self::Future {
            std::future::ready(Err(LimitStoreError::new("connection refused")))
        }
    }
    let rate = Rate::new(1, Duration::from_secs(60), 1).unwrap();
    let layer = builder()
        .rate_limits(Limiter::with_store(Limits::new().per_address(rate), Down))
        .build()
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let token = common::token().sign();
    for _ in 0..3 {
        let mut req = call(Some(&token), "search");
        req.extensions_mut()
            .insert(ClientAddr("10.1.0.1:1".parse().unwrap()));
        assert_eq!(send(layer.clone(), req).await.status, StatusCode::OK);
    }
    drop(_metrics);
    let (counters, _) = snapshot(&recorder);
    assert_eq!(
        counters.get(&series(RATE_LIMIT_FAIL_OPEN, &[("stage", "pre_auth")])),
        Some(&3)
    );
}
