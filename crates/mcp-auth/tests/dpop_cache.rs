//! DPoP (issue 17) and the verified-token cache: an entry remembers the scheme it was
//! verified on (a DPoP token is never answered from the cache as Bearer), and the proof is
//! checked on every request, cache hit or not. Opaque DPoP-bound tokens through
//! introspection: the answer's `cnf.jkt` must be the proof key's thumbprint (RFC 9449 §6.2),
//! and on Bearer an answer with `cnf` stays refused.

mod common;
use common::dpop::{ProofKey, assert_refused, assert_used_once, dpop_request, now, send_fresh};
use common::{RES, assert_rejected, bearer, builder, invalid_token, send};

use mcp_auth::core::introspection::{IntrospectFuture, IntrospectionRules, TokenIntrospector};
use mcp_auth::dpop::{DpopMode, DpopPolicy, MemoryReplayStore};
use mcp_auth::introspection::Introspection;
use mcp_auth::{AuthError, McpAuthLayer, TrustedIssuer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const OPAQUE: &str = "https://opaque.example.com";
const BOUND: &str = "sender-constrained token presented without proof of possession";

fn layer(mode: DpopMode) -> McpAuthLayer {
    builder()
        .dpop(mode, DpopPolicy::new(), MemoryReplayStore::new(1000))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_token_cached_on_dpop_is_never_answered_as_bearer() {
    let key = ProofKey::new();
    let t = key.token();
    let l = layer(DpopMode::Allowed);
    // Two uses admit it (admission on second use), the third is a hit.
    for _ in 0..3 {
        let o = send_fresh(l.clone(), &key, &t).await;
        assert_eq!(o.status, 200, "{:?}", o.challenge);
    }
    assert_eq!(l.token_cache_len(), 1);
    // The same bytes as Bearer: refused, however often (no entry answers Bearer).
    for _ in 0..3 {
        let o = send(l.clone(), bearer(&t)).await;
        assert_rejected(&o, 401, Some(&invalid_token(BOUND)));
    }
    // And the DPoP entry still answers DPoP requests.
    let o = send_fresh(l.clone(), &key, &t).await;
    assert_eq!(o.status, 200);
    assert_eq!(l.token_cache_len(), 1);
}

#[tokio::test]
async fn a_bearer_token_cached_on_bearer_is_no_dpop_token() {
    let l = layer(DpopMode::Allowed);
    let t = common::token().sign();
    for _ in 0..3 {
        assert_eq!(send(l.clone(), bearer(&t)).await.status, 200);
    }
    assert_eq!(l.token_cache_len(), 1);
    // Presented on DPoP with a good proof: refused, the token has no cnf.
    let key = ProofKey::new();
    let o = send_fresh(l, &key, &t).await;
    assert_refused(
        &o,
        "invalid_token",
        "access token is not bound to a DPoP key",
    );
}

#[tokio::test]
async fn the_proof_is_checked_on_every_cache_hit() {
    let key = ProofKey::new();
    let t = key.token();
    let l = layer(DpopMode::Allowed);
    let first = key.proof(&t);
    for p in [first.clone(), key.proof(&t), key.proof(&t)] {
        assert_eq!(send(l.clone(), dpop_request(&t, &[&p])).await.status, 200);
    }
    assert_eq!(l.token_cache_len(), 1);
    // Hits now: a replayed proof, no proof, another key's proof, a proof for another
    // token are each refused.
    let other = ProofKey::new();
    let mut c = key.claims("another token", now());
    c.insert("ath".into(), json!(common::dpop::ath("another token")));
    let for_other_token = key.sign(&key.header(), &c);
    for (proofs, code, why) in [
        (
            vec![first.as_str()],
            "invalid_dpop_proof",
            "DPoP proof already used",
        ),
        (vec![], "invalid_dpop_proof", "no DPoP proof"),
        (
            vec![for_other_token.as_str()],
            "invalid_dpop_proof",
            "DPoP proof ath does not match the access token",
        ),
    ] {
        let o = send(l.clone(), dpop_request(&t, &proofs)).await;
        assert_refused(&o, code, why);
    }
    let o = send(l.clone(), dpop_request(&t, &[&other.proof(&t)])).await;
    assert_refused(&o, "invalid_token", "invalid DPoP key binding");
}

/// Canned RFC 7662 answers, judged by the rules the layer made for the entry.
#[derive(Debug)]
struct Canned {
    rules: IntrospectionRules,
    answers: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
}

impl TokenIntrospector for Canned {
    fn issuer(&self) -> &str {
        self.rules.issuer()
    }

    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.lock().unwrap().get(token).cloned();
        Box::pin(async move {
            match answer {
                None => Err(AuthError::introspection_unavailable(7)),
                Some(a) => self
                    .rules
                    .check_answer(token, a.to_string().as_bytes(), now())
                    .map(Arc::new),
            }
        })
    }
}

fn opaque_layer(
    mode: Option<DpopMode>,
    answers: &Arc<Mutex<HashMap<String, Value>>>,
    calls: &Arc<AtomicUsize>,
) -> McpAuthLayer {
    let (answers, calls) = (answers.clone(), calls.clone());
    let b = builder().trusted_issuer(TrustedIssuer::new(OPAQUE).introspection(
        Introspection::custom(move |rules| Canned {
            rules,
            answers,
            calls,
        }),
    ));
    let b = match mode {
        Some(m) => b.dpop(m, DpopPolicy::new(), MemoryReplayStore::new(100)),
        None => b,
    };
    b.build().unwrap()
}

fn answer(jkt: Option<&str>, token_type: &str) -> Value {
    let mut a = json!({"active": true, "iss": OPAQUE, "aud": RES, "sub": "alice",
        "client_id": "agent", "scope": "mcp:read", "exp": now() + 3600,
        "token_type": token_type});
    if let Some(jkt) = jkt {
        a["cnf"] = json!({"jkt": jkt});
    }
    a
}

#[tokio::test]
async fn an_opaque_dpop_token_is_bound_by_its_introspection_answer() {
    let key = ProofKey::new();
    let (answers, calls) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    let l = opaque_layer(Some(DpopMode::Allowed), &answers, &calls);
    {
        let mut a = answers.lock().unwrap();
        a.insert("opaque-bound".to_owned(), answer(Some(&key.jkt()), "DPoP"));
        a.insert("opaque-plain".to_owned(), answer(None, "Bearer"));
    }
    // Its key's proof: allowed, three times (the third from the cache, proof still checked).
    for _ in 0..3 {
        let t = "opaque-bound";
        let o = send(l.clone(), dpop_request(t, &[&key.proof(t)])).await;
        assert_eq!(o.status, 200, "{:?}", o.challenge);
        assert_eq!(o.body["sub"], "alice");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Another key's proof: the answer's cnf.jkt does not match.
    let other = ProofKey::new();
    let o = send(
        l.clone(),
        dpop_request("opaque-bound", &[&other.proof("opaque-bound")]),
    )
    .await;
    assert_refused(&o, "invalid_token", "invalid DPoP key binding");
    // As Bearer: refused (cnf in the answer), not from the DPoP entry of the cache.
    let o = send(l.clone(), bearer("opaque-bound")).await;
    assert_rejected(&o, 401, Some(&invalid_token(BOUND)));
    // An answer without cnf on DPoP: not bound.
    let o = send(
        l.clone(),
        dpop_request("opaque-plain", &[&key.proof("opaque-plain")]),
    )
    .await;
    assert_refused(
        &o,
        "invalid_token",
        "access token is not bound to a DPoP key",
    );
    // And as Bearer it is the bearer token it always was.
    assert_eq!(send(l, bearer("opaque-plain")).await.status, 200);
}

#[tokio::test]
async fn without_dpop_an_introspection_answer_with_cnf_stays_refused() {
    let key = ProofKey::new();
    let (answers, calls) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    let l = opaque_layer(None, &answers, &calls);
    answers.lock().unwrap().insert(
        "opaque-bound".to_owned(),
        answer(Some(&key.jkt()), "Bearer"),
    );
    let o = send(l.clone(), bearer("opaque-bound")).await;
    assert_rejected(&o, 401, Some(&invalid_token(BOUND)));
    answers
        .lock()
        .unwrap()
        .insert("opaque-dpop".to_owned(), answer(Some(&key.jkt()), "DPoP"));
    let o = send(l, bearer("opaque-dpop")).await;
    assert_rejected(&o, 401, Some(&invalid_token("token type is not Bearer")));
}

/// Keys not in memory: the token is verified after `KeySource::keys` is awaited, and the
/// proof is checked on that resumed path too.
#[tokio::test]
async fn the_proof_is_checked_after_awaited_keys() {
    let key = ProofKey::new();
    let t = key.token();
    let l = builder()
        .key_source(common::AsyncOnly(common::keys(
            &mcp_auth::core::jws::Algorithm::ALL,
        )))
        .token_cache(0)
        .dpop(
            DpopMode::Required,
            DpopPolicy::new(),
            MemoryReplayStore::new(100),
        )
        .build()
        .unwrap();
    let proof = key.proof(&t);
    assert_used_once(l.clone(), l.clone(), &t, &proof).await;
    let other = ProofKey::new();
    let o = send(l, dpop_request(&t, &[&other.proof(&t)])).await;
    assert_refused(&o, "invalid_token", "invalid DPoP key binding");
}

/// A custom validator gets `DPoP` credentials on a DPoP layer; the layer checks the proof
/// against the `cnf` of the context it returns, and refuses that context on `Bearer`.
#[tokio::test]
async fn a_custom_validators_context_is_bound_by_its_cnf() {
    let key = ProofKey::new();
    let jkt = key.jkt();
    let l = builder()
        .dpop(
            DpopMode::Allowed,
            DpopPolicy::new(),
            MemoryReplayStore::new(100),
        )
        .build_with_validator(
            move |c: mcp_auth::core::credentials::Credentials, _p: &http::request::Parts| {
                let jkt = jkt.clone();
                async move {
                    let mut claims = mcp_auth::core::claims::Claims::default();
                    claims.iss = Some(common::ISS.to_owned());
                    claims.cnf = Some(json!({"jkt": jkt}));
                    let scopes = mcp_auth::core::scope::ScopeSet::parse("mcp:read").unwrap();
                    let hash = mcp_auth::core::TokenHash::of(c.token.expose().as_bytes());
                    Ok(mcp_auth::AuthContext::new(claims, scopes, hash))
                }
            },
        )
        .unwrap();
    let t = "custom-token";
    let o = send(l.clone(), dpop_request(t, &[&key.proof(t)])).await;
    assert_eq!(o.status, 200, "{:?}", o.challenge);
    let other = ProofKey::new();
    let o = send(l.clone(), dpop_request(t, &[&other.proof(t)])).await;
    assert_refused(&o, "invalid_token", "invalid DPoP key binding");
    let o = send(l, bearer(t)).await;
    assert_rejected(&o, 401, Some(&invalid_token(BOUND)));
}

/// Through a rejection hook the layer still owns the `DPoP` challenge and the status.
#[tokio::test]
async fn a_rejection_hook_keeps_the_dpop_challenge() {
    let key = ProofKey::new();
    let t = key.token();
    let l = builder()
        .dpop(
            DpopMode::Allowed,
            DpopPolicy::new(),
            MemoryReplayStore::new(100),
        )
        .rejection_response(|e: &AuthError| {
            let mut r = http::Response::new(bytes::Bytes::from(
                json!({"error": e.description()}).to_string(),
            ));
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic"),
            );
            r
        })
        .build()
        .unwrap();
    let o = send(l, dpop_request(&t, &[])).await;
    assert_refused(&o, "invalid_dpop_proof", "no DPoP proof");
    assert_eq!(o.body, json!({"error": "no DPoP proof"}));
}
