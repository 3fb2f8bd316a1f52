//! DPoP (RFC 9449) through the layer (issue 17): one proof per row breaking one rule of
//! §4.3, the `htu` and `iat` edges, nonces (§8–9), replay (§11.1), the replay store failing
//! (503, never an acceptance), the modes' challenges (§7.1) and the metadata (RFC 9728 §2).
//! tests/dpop_cache.rs covers the scheme-keyed cache and introspection, tests/dpop_redis.rs
//! a fleet sharing one Redis.

mod common;
use common::dpop::{
    ALGS, ProofKey, assert_refused, assert_store_unavailable, assert_used_once, b64, dpop_bare,
    dpop_request, now, request, send_fresh,
};
use common::{MD, assert_rejected, builder, send, token};

use mcp_auth::dpop::{
    DpopError, DpopMode, DpopPolicy, JtiHash, MemoryReplayStore, Nonces, ReplayFuture, ReplayStore,
    StoreError,
};
use mcp_auth::{ErrorKind, McpAuthLayer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn layer_at(mode: DpopMode, policy: DpopPolicy, store: impl ReplayStore, at: i64) -> McpAuthLayer {
    builder()
        .clock(move || at)
        .dpop(mode, policy, store)
        .build()
        .unwrap()
}

fn layer(mode: DpopMode) -> McpAuthLayer {
    layer_at(mode, DpopPolicy::new(), MemoryReplayStore::new(1000), now())
}

fn bearer_invalid_token(why: &str) -> String {
    common::invalid_token(why)
}

/// `req` through `l` to a handler that answers with the binding it sees in the context.
async fn send_binding(l: McpAuthLayer, req: http::Request<axum::body::Body>) -> common::Outcome {
    let svc = tower::ServiceBuilder::new().layer(l).service_fn(
        |req: http::Request<mcp_auth::RequestBody<axum::body::Body>>| async move {
            let ctx = req.extensions().get::<mcp_auth::AuthContext>().unwrap();
            let body = json!({"bound": ctx.is_sender_constrained(), "jkt": ctx.dpop_jkt()});
            Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::from(
                body.to_string(),
            )))
        },
    );
    use tower::ServiceExt;
    let res = svc.oneshot(req).await.unwrap();
    common::outcome(res.map(axum::body::Body::new), 1).await
}

#[tokio::test]
async fn a_good_dpop_request_is_allowed_sender_constrained() {
    let key = ProofKey::new();
    let t = key.token();
    let l = layer(DpopMode::Allowed);
    let o = send_fresh(l.clone(), &key, &t).await;
    assert_eq!(o.status, 200, "{:?}", o.challenge);
    assert_eq!(o.calls, 1);
    assert_eq!(o.body["authorization_seen"], json!(false));
    // The handler sees the binding.
    let o = send_binding(l, dpop_request(&t, &[&key.proof(&t)])).await;
    assert_eq!(o.body, json!({"bound": true, "jkt": key.jkt()}));
}

#[tokio::test]
async fn a_bearer_request_on_an_allowed_layer_is_not_sender_constrained() {
    let l = layer(DpopMode::Allowed);
    let o = send_binding(l, common::bearer(&token().sign())).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body, json!({"bound": false, "jkt": null}));
}

/// Where a row of the §4.3 table edits the proof: its JOSE header, the header's `jwk`, or
/// its claims.
#[derive(Clone, Copy)]
enum Part {
    H,
    Jwk,
    C,
}

/// One row per rule of RFC 9449 §4.3: the proof breaks that rule only (the member set to the
/// value, or removed on `None`).
#[tokio::test]
async fn every_rule_of_section_4_3_refuses_its_own_broken_proof() {
    use Part::{C, H, Jwk};
    let rows: Vec<(&str, Part, &str, Option<Value>, &str)> = vec![
        (
            "typ",
            H,
            "typ",
            Some(json!("jwt")),
            "DPoP proof type is not dpop+jwt",
        ),
        ("no typ", H, "typ", None, "DPoP proof type is not dpop+jwt"),
        (
            "alg none",
            H,
            "alg",
            Some(json!("none")),
            "DPoP proof algorithm not allowed",
        ),
        (
            "alg HS256",
            H,
            "alg",
            Some(json!("HS256")),
            "DPoP proof algorithm not allowed",
        ),
        (
            "private jwk",
            Jwk,
            "d",
            Some(json!(b64(&[7; 32]))),
            "DPoP proof key contains private key material",
        ),
        (
            "wrong family",
            H,
            "alg",
            Some(json!("RS256")),
            "DPoP proof key does not fit its algorithm",
        ),
        ("no jwk", H, "jwk", None, "DPoP proof has no jwk header"),
        (
            "no jti",
            C,
            "jti",
            None,
            "DPoP proof lacks a required claim: jti",
        ),
        (
            "no htm",
            C,
            "htm",
            None,
            "DPoP proof lacks a required claim: htm",
        ),
        (
            "no htu",
            C,
            "htu",
            None,
            "DPoP proof lacks a required claim: htu",
        ),
        (
            "no iat",
            C,
            "iat",
            None,
            "DPoP proof lacks a required claim: iat",
        ),
        (
            "no ath",
            C,
            "ath",
            None,
            "DPoP proof lacks a required claim: ath",
        ),
        (
            "htm",
            C,
            "htm",
            Some(json!("GET")),
            "DPoP proof htm does not match the request method",
        ),
        (
            "htm case",
            C,
            "htm",
            Some(json!("post")),
            "DPoP proof htm does not match the request method",
        ),
        (
            "htu trailing slash",
            C,
            "htu",
            Some(json!("https://mcp.example.com/mcp/")),
            "DPoP proof htu does not match the request URI",
        ),
        (
            "htu scheme",
            C,
            "htu",
            Some(json!("http://mcp.example.com/mcp")),
            "DPoP proof htu does not match the request URI",
        ),
        (
            "htu host",
            C,
            "htu",
            Some(json!("https://evil.example.com/mcp")),
            "DPoP proof htu does not match the request URI",
        ),
        (
            "htu port",
            C,
            "htu",
            Some(json!("https://mcp.example.com:8443/mcp")),
            "DPoP proof htu does not match the request URI",
        ),
        (
            "htu path case",
            C,
            "htu",
            Some(json!("https://mcp.example.com/MCP")),
            "DPoP proof htu does not match the request URI",
        ),
        (
            "ath",
            C,
            "ath",
            Some(json!(common::dpop::ath("another token"))),
            "DPoP proof ath does not match the access token",
        ),
    ];
    let key = ProofKey::new();
    let t = key.token();
    let l = layer(DpopMode::Allowed);
    for (name, part, member, value, why) in rows {
        let (mut h, mut c) = (key.header(), key.claims(&t, now()));
        let target = match part {
            H => &mut h,
            Jwk => h["jwk"].as_object_mut().unwrap(),
            C => &mut c,
        };
        match value {
            Some(v) => target.insert(member.into(), v),
            None => target.remove(member),
        };
        let o = send(l.clone(), dpop_request(&t, &[&key.sign(&h, &c)])).await;
        assert_refused(&o, "invalid_dpop_proof", why);
        assert_eq!(o.error.unwrap().description(), why, "{name}");
    }
    // The signature: another proof's signature on these bytes.
    let good = key.proof(&t);
    let other = key.proof(&t);
    let forged = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    let o = send(l.clone(), dpop_request(&t, &[&forged])).await;
    assert_refused(&o, "invalid_dpop_proof", "DPoP proof signature invalid");
    // Not a JWS; two DPoP headers; none at all.
    for (proofs, why) in [
        (vec!["not-a-jws"], "DPoP proof is not a well-formed JWT"),
        (
            vec![good.as_str(), other.as_str()],
            "more than one DPoP header",
        ),
        (vec![], "no DPoP proof"),
    ] {
        let o = send(l.clone(), dpop_request(&t, &proofs)).await;
        assert_refused(&o, "invalid_dpop_proof", why);
    }
    // Each of these stayed unused: the good proofs are still fresh (nothing was recorded
    // for a refused request).
    assert_eq!(
        send(l.clone(), dpop_request(&t, &[&good])).await.status,
        200
    );
    assert_eq!(send(l, dpop_request(&t, &[&other])).await.status, 200);
}

/// `htu` after RFC 3986 normalization, query and fragment ignored on both sides, the origin
/// from the configured resource (not from the request's Host).
#[tokio::test]
async fn htu_is_normalized_and_ignores_query_and_fragment() {
    let key = ProofKey::new();
    let t = key.token();
    let l = layer(DpopMode::Allowed);
    for htu in [
        "https://mcp.example.com/mcp?x=1",
        "https://mcp.example.com/mcp#frag",
        "https://mcp.example.com:443/mcp",
        "HTTPS://MCP.Example.COM/mcp",
        "https://mcp.example.com/./mcp",
    ] {
        let mut c = key.claims(&t, now());
        c.insert("htu".into(), json!(htu));
        let o = send(l.clone(), dpop_request(&t, &[&key.sign(&key.header(), &c)])).await;
        assert_eq!(o.status, 200, "{htu}: {:?}", o.challenge);
    }
    // The request's own query does not count either; its path does.
    let o = send(
        l.clone(),
        request("/mcp?session=1", &format!("DPoP {t}"), &[&key.proof(&t)]),
    )
    .await;
    assert_eq!(o.status, 200);
    let o = send(
        l,
        request("/other", &format!("DPoP {t}"), &[&key.proof(&t)]),
    )
    .await;
    assert_refused(
        &o,
        "invalid_dpop_proof",
        "DPoP proof htu does not match the request URI",
    );
}

#[tokio::test]
async fn iat_within_the_window_edges() {
    let key = ProofKey::new();
    let t = key.token();
    let at = now();
    let policy = DpopPolicy::new()
        .with_window(Duration::from_secs(60))
        .unwrap();
    let l = layer_at(DpopMode::Allowed, policy, MemoryReplayStore::new(100), at);
    for iat in [at - 59, at + 59, at - 60, at + 60] {
        let o = send(l.clone(), dpop_request(&t, &[&key.proof_at(&t, iat)])).await;
        assert_eq!(o.status, 200, "iat {}", iat - at);
    }
    for iat in [at - 61, at + 61] {
        let o = send(l.clone(), dpop_request(&t, &[&key.proof_at(&t, iat)])).await;
        assert_refused(
            &o,
            "invalid_dpop_proof",
            "DPoP proof iat outside the acceptance window",
        );
    }
}

#[tokio::test]
async fn the_token_binding_is_checked() {
    let key = ProofKey::new();
    let l = layer(DpopMode::Allowed);
    // A token bound to another key.
    let other = ProofKey::new();
    let t = other.token();
    let o = send_fresh(l.clone(), &key, &t).await;
    assert_refused(&o, "invalid_token", "invalid DPoP key binding");
    // A token without cnf, with a good proof.
    let t = token().sign();
    let o = send_fresh(l.clone(), &key, &t).await;
    assert_refused(
        &o,
        "invalid_token",
        "access token is not bound to a DPoP key",
    );
    // A bound token presented as Bearer (no DPoP header).
    let o = send(l.clone(), common::bearer(&key.token())).await;
    assert_rejected(
        &o,
        401,
        Some(&bearer_invalid_token(
            "sender-constrained token presented without proof of possession",
        )),
    );
    // An invalid token with a good proof: the token's own refusal, on the DPoP scheme.
    let t = key.token();
    let bad = format!("{}x", &t[..t.len() - 1]);
    let o = send(l, dpop_request(&bad, &[&key.proof(&bad)])).await;
    assert_eq!(o.status, 401);
    let c = o.challenge.unwrap();
    assert!(
        c.starts_with(&format!(r#"DPoP algs="{ALGS}", error="invalid_token""#)),
        "{c}"
    );
}

#[tokio::test]
async fn off_keeps_todays_refusals() {
    let l = builder().build().unwrap();
    let key = ProofKey::new();
    let t = key.token();
    let o = send_fresh(l.clone(), &key, &t).await;
    assert_rejected(
        &o,
        401,
        Some(&bearer_invalid_token(
            "DPoP-bound tokens are not accepted by this resource",
        )),
    );
    let o = send(l.clone(), common::bearer(&t)).await;
    assert_rejected(
        &o,
        401,
        Some(&bearer_invalid_token(
            "sender-constrained token presented without proof of possession",
        )),
    );
    let o = send(l.clone(), common::get(&[])).await;
    assert_rejected(
        &o,
        401,
        Some(&format!(
            r#"Bearer resource_metadata="{MD}", scope="mcp:read""#
        )),
    );
    assert!(l.metadata().dpop_signing_alg_values_supported.is_empty());
    assert_eq!(l.metadata().dpop_bound_access_tokens_required, None);
    // Off explicitly is the same layer.
    let off = layer(DpopMode::Off);
    let o = send(off.clone(), dpop_request(&t, &[&key.proof(&t)])).await;
    assert_eq!(o.status, 401);
    assert!(o.challenge.unwrap().starts_with("Bearer "));
    assert!(off.metadata().dpop_signing_alg_values_supported.is_empty());
}

#[tokio::test]
async fn allowed_mode_challenges_and_the_bearer_with_a_proof() {
    let l = layer(DpopMode::Allowed);
    // No credentials: both challenges.
    let o = send(l.clone(), common::get(&[])).await;
    assert_eq!(o.status, 401);
    let res_headers = {
        use tower::ServiceExt;
        let svc = tower::ServiceBuilder::new().layer(l.clone()).service_fn(
            |_req: http::Request<mcp_auth::RequestBody<axum::body::Body>>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
            },
        );
        svc.oneshot(common::get(&[]))
            .await
            .unwrap()
            .headers()
            .clone()
    };
    let all: Vec<&str> = res_headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        all,
        [
            format!(r#"Bearer resource_metadata="{MD}", scope="mcp:read""#),
            dpop_bare()
        ]
    );
    // A Bearer token with a DPoP header: 400, decided before any token work.
    let key = ProofKey::new();
    let t = token().sign();
    let o = send(
        l.clone(),
        request("/mcp", &format!("Bearer {t}"), &[&key.proof(&t)]),
    )
    .await;
    assert_rejected(
        &o,
        400,
        Some(&common::invalid_request(
            "a DPoP proof came with a Bearer token: use the DPoP scheme",
        )),
    );
    // Bearer alone still works.
    assert_eq!(send(l.clone(), common::bearer(&t)).await.status, 200);
    // Insufficient scope on the scheme used.
    let narrow = common::token().scope("other").cnf_jkt(&key.jkt()).sign();
    let o = send(l.clone(), dpop_request(&narrow, &[&key.proof(&narrow)])).await;
    assert_eq!(o.status, 403);
    let c = o.challenge.unwrap();
    assert!(
        c.starts_with(&format!(
            r#"DPoP algs="{ALGS}", error="insufficient_scope""#
        )),
        "{c}"
    );
    let o = send(l, common::bearer(&common::token().scope("other").sign())).await;
    assert!(
        o.challenge
            .unwrap()
            .starts_with(r#"Bearer error="insufficient_scope""#)
    );
}

#[tokio::test]
async fn required_mode_refuses_bearer_with_a_dpop_challenge() {
    let l = layer(DpopMode::Required);
    let o = send(l.clone(), common::bearer(&token().sign())).await;
    assert_rejected(
        &o,
        401,
        Some(&format!(
            r#"DPoP algs="{ALGS}", error="invalid_token", error_description="this resource accepts only DPoP-bound access tokens", resource_metadata="{MD}", scope="mcp:read""#
        )),
    );
    let o = send(l.clone(), common::get(&[])).await;
    assert_rejected(&o, 401, Some(&dpop_bare()));
    let key = ProofKey::new();
    let t = key.token();
    assert_eq!(send_fresh(l.clone(), &key, &t).await.status, 200);
    let md = l.metadata();
    assert_eq!(md.dpop_bound_access_tokens_required, Some(true));
    assert_eq!(
        md.dpop_signing_alg_values_supported,
        ALGS.split(' ').collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_metadata_document_lists_the_dpop_members() {
    let policy = DpopPolicy::new()
        .with_algorithms(&[mcp_auth::core::jws::Algorithm::ES256])
        .unwrap();
    let l = layer_at(DpopMode::Allowed, policy, MemoryReplayStore::new(10), now());
    let doc = serde_json::to_value(l.metadata()).unwrap();
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["ES256"]));
    assert!(doc.get("dpop_bound_access_tokens_required").is_none());
    let key = ProofKey::new();
    let t = key.token();
    let o = send(l, dpop_request(&t, &[])).await;
    assert!(
        o.challenge
            .unwrap()
            .starts_with(r#"DPoP algs="ES256", error="invalid_dpop_proof""#)
    );
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let key = ProofKey::new();
    let t = key.token();
    let l = layer(DpopMode::Allowed);
    let proof = key.proof(&t);
    assert_used_once(l.clone(), l.clone(), &t, &proof).await;
    // A fresh proof of the same key is fine.
    assert_eq!(send_fresh(l, &key, &t).await.status, 200);
}

/// A store that answers through its future (the async path), or fails, and counts calls.
#[derive(Debug, Default)]
struct Scripted {
    down: bool,
    calls: AtomicUsize,
    inner: Option<MemoryReplayStore>,
}

impl ReplayStore for Scripted {
    fn check_and_insert<'a>(&'a self, jti: &'a JtiHash, until: i64) -> ReplayFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::task::yield_now().await;
            match (&self.inner, self.down) {
                (Some(m), false) => m.check_and_insert(jti, until).await,
                _ => Err(StoreError::Unavailable {
                    reason: "test store down".into(),
                    retry_after: 7,
                }),
            }
        })
    }
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_503_never_an_acceptance() {
    let key = ProofKey::new();
    let t = key.token();
    let down = Arc::new(Scripted {
        down: true,
        ..Default::default()
    });
    let l = layer_at(DpopMode::Allowed, DpopPolicy::new(), down.clone(), now());
    let o = send_fresh(l.clone(), &key, &t).await;
    assert_store_unavailable(o, "7");
    // The store is asked only once proof and token verified.
    assert_eq!(down.calls.load(Ordering::SeqCst), 1);
    let bad = key.token().replace('.', ".x");
    let _ = send(l.clone(), dpop_request(&bad, &[&key.proof(&bad)])).await;
    let _ = send(l.clone(), dpop_request(&t, &["junk"])).await;
    let other = ProofKey::new();
    let _ = send(l.clone(), dpop_request(&t, &[&other.proof(&t)])).await;
    assert_eq!(down.calls.load(Ordering::SeqCst), 1);

    // Full: the in-memory store refuses rather than forget a live record.
    let l = layer_at(
        DpopMode::Allowed,
        DpopPolicy::new(),
        MemoryReplayStore::new(1),
        now(),
    );
    assert_eq!(send_fresh(l.clone(), &key, &t).await.status, 200);
    let o = send_fresh(l, &key, &t).await;
    assert_rejected(&o, 503, None);
    assert!(o.retry_after.unwrap().parse::<u32>().unwrap() >= 1);

    // The async path decides like the in-memory one.
    let ok = Arc::new(Scripted {
        inner: Some(MemoryReplayStore::new(10)),
        ..Default::default()
    });
    let l = layer_at(DpopMode::Allowed, DpopPolicy::new(), ok.clone(), now());
    let proof = key.proof(&t);
    assert_eq!(
        send(l.clone(), dpop_request(&t, &[&proof])).await.status,
        200
    );
    let o = send(l, dpop_request(&t, &[&proof])).await;
    assert_refused(&o, "invalid_dpop_proof", "DPoP proof already used");
    assert_eq!(ok.calls.load(Ordering::SeqCst), 2);
}

fn nonces() -> Nonces {
    Nonces::new([[1u8; 32]], Duration::from_secs(60)).unwrap()
}

#[tokio::test]
async fn nonces_required_stale_and_from_another_slot() {
    let key = ProofKey::new();
    let t = key.token();
    let at = now() / 60 * 60 + 30; // 30 s into a 60 s slot
    let n = nonces();
    let policy = DpopPolicy::new().with_nonces(nonces());
    let store = MemoryReplayStore::new(100).with_clock(move || at);
    let l = builder()
        .clock(move || at)
        .dpop(DpopMode::Allowed, policy, store)
        .build()
        .unwrap();
    let with_nonce = |nonce: Option<String>| {
        let mut c = key.claims(&t, at);
        if let Some(nonce) = nonce {
            c.insert("nonce".into(), json!(nonce));
        }
        key.sign(&key.header(), &c)
    };
    let expect_nonce_error = |o: &common::Outcome, why: &str| {
        assert_refused(o, "use_dpop_nonce", why);
    };
    // No nonce: use_dpop_nonce and a DPoP-Nonce header with the current one.
    let res = raw(l.clone(), dpop_request(&t, &[&with_nonce(None)])).await;
    assert_eq!(res.0.status(), 401);
    assert_eq!(res.0.headers()["dpop-nonce"].to_str().unwrap(), n.issue(at));
    let o = send(l.clone(), dpop_request(&t, &[&with_nonce(None)])).await;
    expect_nonce_error(&o, "resource server requires nonce in DPoP proof");
    // Stale (two slots old), from a future slot, or from another server's secret.
    let foreign = Nonces::new([[2u8; 32]], Duration::from_secs(60)).unwrap();
    for nonce in [
        n.issue(at - 120),
        n.issue(at + 60),
        foreign.issue(at),
        "junk".into(),
    ] {
        let o = send(l.clone(), dpop_request(&t, &[&with_nonce(Some(nonce))])).await;
        expect_nonce_error(&o, "DPoP proof nonce is invalid or stale");
    }
    // The current slot's: allowed, no new nonce.
    let res = raw(
        l.clone(),
        dpop_request(&t, &[&with_nonce(Some(n.issue(at)))]),
    )
    .await;
    assert_eq!(res.0.status(), 200);
    assert!(res.0.headers().get("dpop-nonce").is_none());
    // The previous slot's: allowed, and a fresh nonce on the response.
    let res = raw(l, dpop_request(&t, &[&with_nonce(Some(n.issue(at - 60)))])).await;
    assert_eq!(res.0.status(), 200);
    assert_eq!(res.0.headers()["dpop-nonce"].to_str().unwrap(), n.issue(at));
}

/// The response itself, through `layer` around an empty 200.
async fn raw(
    layer: McpAuthLayer,
    req: http::Request<axum::body::Body>,
) -> (http::Response<mcp_auth::ResponseBody<axum::body::Body>>,) {
    use tower::ServiceExt;
    let svc = tower::ServiceBuilder::new().layer(layer).service_fn(
        |_req: http::Request<mcp_auth::RequestBody<axum::body::Body>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
        },
    );
    (svc.oneshot(req).await.unwrap(),)
}

#[test]
fn proof_errors_are_401_with_fixed_texts() {
    let e = mcp_auth::AuthError::dpop_refused(DpopError::Replayed);
    assert_eq!(e.kind(), ErrorKind::InvalidToken);
    assert_eq!(e.description(), "DPoP proof already used");
}
