//! The introspector against a real introspection endpoint on 127.0.0.1:0 (issue 16): single
//! flight, the revocation delay, outage and recovery, timeouts, client authentication as the
//! server sees it, the in-flight cap, discovery and RFC 9701 signed answers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::introspection::IntrospectionRules;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::jws::{Algorithm, HeaderPolicy, TypPolicy, UnverifiedJws};
use mcp_auth_core::keys::StaticKeySource;
use mcp_auth_core::resource::ResourceUri;
use mcp_auth_core::{AuthError, ErrorKind};
use mcp_auth_introspect::{
    AssertionKey, ClientAuth, ConfigError, Introspector, JWT_BEARER_ASSERTION, TokenIntrospector,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const RES: &str = "https://mcp.example.com/mcp";

/// What the endpoint answers.
#[derive(Clone)]
enum Mode {
    Active,
    Inactive,
    Status(u16),
    Junk,
    Huge,
    Redirect,
    /// A body with this content type.
    Raw(&'static str, String),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
    form: Vec<(String, String)>,
}

impl Seen {
    fn form(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct As {
    base: String,
    calls: AtomicUsize,
    mode: Mutex<Mode>,
    delay: Mutex<Duration>,
    seen: Mutex<Vec<Seen>>,
}

impl As {
    async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Arc::new(Self {
            base: format!("http://{}", listener.local_addr().unwrap()),
            calls: AtomicUsize::new(0),
            mode: Mutex::new(Mode::Active),
            delay: Mutex::new(Duration::ZERO),
            seen: Mutex::default(),
        });
        let app = Router::new()
            .route("/introspect", post(introspect))
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    fn endpoint(&self) -> String {
        format!("{}/introspect", self.base)
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn active_answer() -> Value {
    json!({"active": true, "aud": RES, "scope": "mcp:read", "client_id": "c1",
           "sub": "u1", "exp": now() + 300})
}

async fn introspect(State(s): State<Arc<As>>, headers: HeaderMap, body: Bytes) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    let h = |n: header::HeaderName| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    s.seen.lock().unwrap().push(Seen {
        authorization: h(header::AUTHORIZATION),
        content_type: h(header::CONTENT_TYPE),
        accept: h(header::ACCEPT),
        form: form_urlencoded::parse(&body).into_owned().collect(),
    });
    let delay = *s.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let json = |v: Value| ([(header::CONTENT_TYPE, "application/json")], v.to_string());
    let mode = s.mode.lock().unwrap().clone();
    match mode {
        Mode::Active => json(active_answer()).into_response(),
        Mode::Inactive => json(json!({"active": false})).into_response(),
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Junk => ([(header::CONTENT_TYPE, "application/json")], "<html>").into_response(),
        Mode::Huge => json(json!({"active": true, "pad": "x".repeat(100_000)})).into_response(),
        Mode::Redirect => (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{}/introspect", s.base))],
        )
            .into_response(),
        Mode::Raw(ty, body) => ([(header::CONTENT_TYPE, ty)], body).into_response(),
    }
}

async fn metadata(State(s): State<Arc<As>>) -> Response {
    let doc = json!({"issuer": s.base, "introspection_endpoint": s.endpoint()});
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
        .into_response()
}

fn rules(server: &As) -> IntrospectionRules {
    let policy = ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), &server.base);
    IntrospectionRules::new(&server.base, policy).unwrap()
}

fn basic() -> ClientAuth {
    ClientAuth::client_secret_basic("rs:1", "s&cret w")
}

fn introspector(server: &As, rules: IntrospectionRules) -> Introspector {
    Introspector::builder(rules, basic())
        .endpoint(server.endpoint())
        .build()
        .unwrap()
}

fn kind(e: &AuthError) -> (ErrorKind, &'static str) {
    (e.kind(), e.description())
}

const UNAVAILABLE: (ErrorKind, &str) = (
    ErrorKind::KeySourceUnavailable,
    "the authorization server cannot introspect the token now",
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_one_new_token_make_one_call() {
    let server = As::start().await;
    server.delay(Duration::from_millis(200));
    let i = introspector(&server, rules(&server));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let i = i.clone();
            tokio::spawn(async move { i.introspect("new-token").await })
        })
        .collect();
    for t in tasks {
        let answer = t.await.unwrap().unwrap();
        assert_eq!(answer.verified.scopes.to_scope_string(), "mcp:read");
    }
    assert_eq!(server.calls(), 1);
    let stats = i.stats();
    assert_eq!((stats.calls, stats.hits, stats.active), (1, 999, 1));
}

#[tokio::test]
async fn a_revoked_token_is_accepted_until_the_cache_maximum_then_refused() {
    let server = As::start().await;
    let i = introspector(
        &server,
        rules(&server).with_max_cache(Duration::from_millis(1200)),
    );
    assert!(i.introspect("tok").await.is_ok());
    server.set(Mode::Inactive); // revoked at the AS
    assert!(i.introspect("tok").await.is_ok(), "kept within the maximum");
    assert_eq!(server.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let e = i.introspect("tok").await.unwrap_err();
    assert_eq!(kind(&e), (ErrorKind::InvalidToken, "token is not active"));
    assert_eq!(server.calls(), 2);
    // The refusal is kept for the negative lifetime too.
    assert!(i.introspect("tok").await.is_err());
    assert_eq!(server.calls(), 2);
    assert_eq!(i.stats().refused, 1);
}

#[tokio::test]
async fn a_refusal_is_kept_only_for_the_negative_lifetime() {
    let server = As::start().await;
    server.set(Mode::Inactive);
    let i = Introspector::builder(rules(&server), basic())
        .endpoint(server.endpoint())
        .negative_ttl(Duration::from_millis(300))
        .build()
        .unwrap();
    assert!(i.introspect("tok").await.is_err());
    assert!(i.introspect("tok").await.is_err());
    assert_eq!(server.calls(), 1);
    server.set(Mode::Active); // e.g. a token introspected before the AS had stored it
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(i.introspect("tok").await.is_ok());
    assert_eq!(server.calls(), 2);
    let stats = i.stats();
    assert_eq!((stats.refused, stats.active, stats.hits), (1, 1, 1));
}

#[tokio::test]
async fn an_outage_is_unavailable_with_retry_after_then_recovers() {
    let server = As::start().await;
    let i = introspector(&server, rules(&server));
    for (n, mode) in [
        Mode::Status(500),
        Mode::Status(401),
        Mode::Junk,
        Mode::Huge,
        Mode::Redirect,
        Mode::Raw("application/json", r#"{"active":"true"}"#.to_owned()),
    ]
    .into_iter()
    .enumerate()
    {
        server.set(mode);
        let e = i.introspect("tok").await.unwrap_err();
        assert_eq!(kind(&e), UNAVAILABLE, "case {n}");
        assert_eq!(e.retry_after(), Some(5));
        // Never kept: each request asks again.
        assert_eq!(server.calls(), n + 1);
    }
    assert_eq!(i.stats().unavailable, 6);
    server.set(Mode::Active);
    assert!(i.introspect("tok").await.is_ok());
    assert_eq!(i.stats().active, 1);
}

#[tokio::test]
async fn a_slow_endpoint_ends_in_the_timeout_not_a_hang() {
    let server = As::start().await;
    server.delay(Duration::from_secs(30));
    let i = Introspector::builder(rules(&server), basic())
        .endpoint(server.endpoint())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = i.introspect("tok").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kind(&e), UNAVAILABLE);
    assert_eq!(i.stats().timeouts, 1);
}

#[tokio::test]
async fn each_client_authentication_reaches_the_server_as_sent() {
    let server = As::start().await;
    let with = |auth: ClientAuth| {
        Introspector::builder(rules(&server), auth)
            .endpoint(server.endpoint())
            .build()
            .unwrap()
    };
    // client_secret_basic: RFC 6749 §2.3.1, each part form-urlencoded before base64.
    with(basic()).introspect("t1").await.unwrap();
    let seen = server.last();
    let basic = seen.authorization.as_deref().unwrap();
    let decoded = STANDARD
        .decode(basic.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(decoded, b"rs%3A1:s%26cret+w");
    assert_eq!(
        seen.form,
        [
            ("token".into(), "t1".into()),
            ("token_type_hint".into(), "access_token".into())
        ]
    );
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.accept.as_deref(), Some("application/json"));

    // client_secret_post.
    with(ClientAuth::client_secret_post("rs", "p&ss"))
        .introspect("t2")
        .await
        .unwrap();
    let seen = server.last();
    assert_eq!(seen.authorization, None);
    assert_eq!(seen.form("token"), Some("t2"));
    assert_eq!(seen.form("client_id"), Some("rs"));
    assert_eq!(seen.form("client_secret"), Some("p&ss"));

    // private_key_jwt: an ES256 assertion the server can verify with the public key.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let der = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let key = AssertionKey::es256_pkcs8(der.as_ref(), Some("k1".into())).unwrap();
    let point = key.public_key();
    let jwk = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]});
    let keys = KeySet::from_jwks(jwk.to_string().as_bytes(), &[Algorithm::ES256], 4)
        .unwrap()
        .keys;
    with(ClientAuth::private_key_jwt("rs", key))
        .introspect("t3")
        .await
        .unwrap();
    let seen = server.last();
    assert_eq!(seen.authorization, None);
    assert_eq!(seen.form("token"), Some("t3"));
    assert_eq!(seen.form("client_id"), Some("rs"));
    assert_eq!(
        seen.form("client_assertion_type"),
        Some(JWT_BEARER_ASSERTION)
    );
    let assertion = seen.form("client_assertion").unwrap();
    let policy = HeaderPolicy {
        algorithms: vec![Algorithm::ES256],
        typ: TypPolicy::AllowJwt,
        ..HeaderPolicy::default()
    };
    let jws = UnverifiedJws::parse(assertion, &policy).unwrap();
    assert_eq!(jws.kid(), Some("k1"));
    jws.verify(&keys)
        .expect("the assertion verifies with the client's key");
    let claims: Value = serde_json::from_slice(jws.unverified_payload()).unwrap();
    assert_eq!(claims["iss"], "rs");
    assert_eq!(claims["sub"], "rs");
    assert_eq!(claims["aud"], server.base.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 22));
    // A fresh jti each call.
    let again = {
        let key = AssertionKey::es256_pkcs8(der.as_ref(), Some("k1".into())).unwrap();
        with(ClientAuth::private_key_jwt("rs", key).with_assertion_audience(server.endpoint()))
    };
    again.introspect("t4").await.unwrap();
    let second = server.last();
    let jws = UnverifiedJws::parse(second.form("client_assertion").unwrap(), &policy).unwrap();
    let claims2: Value = serde_json::from_slice(jws.unverified_payload()).unwrap();
    assert_ne!(claims2["jti"], claims["jti"]);
    assert_eq!(claims2["aud"], server.endpoint().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_in_flight_cap_are_refused_without_a_call() {
    let server = As::start().await;
    server.delay(Duration::from_millis(400));
    let i = Introspector::builder(rules(&server), basic())
        .endpoint(server.endpoint())
        .max_in_flight(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|n| {
            let i = i.clone();
            tokio::spawn(async move { i.introspect(&format!("token-{n}")).await })
        })
        .collect();
    let mut overloaded = 0;
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(
                    kind(&e),
                    (
                        ErrorKind::KeySourceUnavailable,
                        "too many token introspections in flight"
                    )
                );
                assert_eq!(e.retry_after(), Some(1));
                overloaded += 1;
            }
        }
    }
    assert_eq!((ok, overloaded), (2, 3));
    assert_eq!(server.calls(), 2);
    assert_eq!(i.stats().overloaded, 3);
    // The permits come back: a refused token gets its call later.
    assert!(i.introspect("token-4").await.is_ok());
}

#[tokio::test]
async fn the_endpoint_is_discovered_once_from_the_metadata() {
    let server = As::start().await;
    let i = Introspector::builder(rules(&server), basic())
        .build()
        .unwrap();
    assert!(i.introspect("a").await.is_ok());
    assert!(i.introspect("b").await.is_ok());
    assert_eq!(server.calls(), 2);
    assert_eq!(i.stats().discovery_fetches, 1);
    // What the layer holds: the core trait, as a trait object.
    let dynamic: Arc<dyn TokenIntrospector> = Arc::new(i.clone());
    assert_eq!(dynamic.issuer(), server.base);
    assert!(dynamic.introspect("a").await.is_ok());
    assert_eq!(server.calls(), 2, "the same cache behind the trait");
}

#[tokio::test]
async fn junk_tokens_never_reach_the_endpoint() {
    let server = As::start().await;
    let i = Introspector::builder(rules(&server), basic())
        .endpoint(server.endpoint())
        .max_token_len(64)
        .build()
        .unwrap();
    for bad in ["a b", "", "tök", &"a".repeat(65)] {
        assert!(i.introspect(bad).await.is_err(), "{bad:?}");
    }
    assert_eq!(server.calls(), 0);
    assert_eq!(i.stats().calls, 0);
}

#[test]
fn endpoints_that_would_leak_tokens_are_refused_at_build() {
    let r = IntrospectionRules::new(
        "https://as.example.com",
        ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), "https://as.example.com"),
    )
    .unwrap();
    for bad in [
        "http://as.example.com/i",
        "https://u:p@as.example.com/i",
        "nope",
    ] {
        let e = Introspector::builder(r.clone(), basic())
            .endpoint(bad)
            .build()
            .unwrap_err();
        assert!(matches!(e, ConfigError::Endpoint { .. }), "{bad}");
    }
    assert!(
        Introspector::builder(r.clone(), basic())
            .endpoint("http://as.example.com/i")
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    let e = Introspector::builder(r, basic())
        .max_in_flight(0)
        .build()
        .unwrap_err();
    assert_eq!(e, ConfigError::Zero("max_in_flight"));
    assert!(!format!("{:?}", basic()).contains("s&cret"));
}

#[tokio::test]
async fn signed_answers_are_asked_for_and_verified_with_the_issuers_keys() {
    let server = As::start().await;
    let authority = mcp_auth_dev::TestAuthority::new(server.base.clone());
    let jwks = authority.jwks().to_string();
    let keys = KeySet::from_jwks(jwks.as_bytes(), &Algorithm::ALL, 32)
        .unwrap()
        .keys;
    let source = Arc::new(StaticKeySource::new().with_issuer(&server.base, keys));
    let signed_rules = rules(&server)
        .with_signed_answers("rs-client", vec![Algorithm::RS256])
        .unwrap();
    let i = Introspector::builder(signed_rules.clone(), basic())
        .endpoint(server.endpoint())
        .signed_answer_keys(source)
        .build()
        .unwrap();
    let answer = |a: &mcp_auth_dev::TestAuthority| {
        a.token()
            .header("typ", json!("token-introspection+jwt"))
            .aud("rs-client")
            .claim("token_introspection", active_answer())
            .sign()
    };
    const JWT: &str = "application/token-introspection+jwt";
    server.set(Mode::Raw(JWT, answer(&authority)));
    let ok = i.introspect("t1").await.unwrap();
    assert_eq!(ok.verified.scopes.to_scope_string(), "mcp:read");
    assert_eq!(server.last().accept.as_deref(), Some(JWT));
    // Forged by another key, a plain JSON answer, or the right body under another type.
    let evil = mcp_auth_dev::TestAuthority::new(server.base.clone());
    server.set(Mode::Raw(JWT, answer(&evil)));
    assert_eq!(kind(&i.introspect("t2").await.unwrap_err()), UNAVAILABLE);
    server.set(Mode::Active);
    assert_eq!(kind(&i.introspect("t3").await.unwrap_err()), UNAVAILABLE);
    server.set(Mode::Raw("application/jwt", answer(&authority)));
    assert_eq!(kind(&i.introspect("t4").await.unwrap_err()), UNAVAILABLE);
    // Signed answers need the keys, and keys need the rules.
    let e = Introspector::builder(signed_rules, basic())
        .endpoint(server.endpoint())
        .build()
        .unwrap_err();
    assert_eq!(e, ConfigError::SignedAnswers);
}

/// Issue 18: `mcp_auth_introspect::metrics`, exact values after a scripted sequence, labelled
/// by the configured issuer only (no token, subject or client id in any label).
#[tokio::test(flavor = "current_thread")]
async fn calls_are_counted_by_outcome_and_cache_hits_by_issuer() {
    use mcp_auth_introspect::metrics::{CACHE_HITS, CALLS};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use std::collections::BTreeMap;

    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = As::start().await;
    let i = introspector(&server, rules(&server));
    i.introspect("token-one").await.unwrap();
    i.introspect("token-one").await.unwrap(); // kept answer
    server.set(Mode::Inactive);
    assert!(i.introspect("token-two").await.is_err());
    server.set(Mode::Status(500));
    assert_eq!(
        kind(&i.introspect("token-three").await.unwrap_err()),
        UNAVAILABLE
    );

    let mut seen = BTreeMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        for (_, v) in &labels {
            assert!(!v.contains("token-") && v != "u1" && v != "c1", "label {v}");
        }
        let DebugValue::Counter(n) = value else {
            panic!("not a counter")
        };
        seen.insert((key.name().to_owned(), labels), n);
    }
    let iss = ("issuer".to_owned(), server.base.clone());
    let call = |outcome: &str| {
        (
            CALLS.to_owned(),
            vec![iss.clone(), ("outcome".to_owned(), outcome.to_owned())],
        )
    };
    assert_eq!(
        seen,
        BTreeMap::from([
            (call("active"), 1),
            (call("refused"), 1),
            (call("unavailable"), 1),
            ((CACHE_HITS.to_owned(), vec![iss.clone()]), 1),
        ])
    );
    let stats = i.stats();
    assert_eq!(
        (stats.active, stats.refused, stats.unavailable, stats.hits),
        (1, 1, 1, 1)
    );
}
