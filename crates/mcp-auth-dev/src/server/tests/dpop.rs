//! DPoP at `/token` (RFC 9449 §5): bound tokens with the proof key's thumbprint, refresh
//! tokens bound to the key, refused proofs, replay, `require_dpop`, the server nonce (§8), the
//! metadata and introspection of bound tokens. Proofs are signed here with ES256 keys made
//! with aws-lc-rs, and the expected `cnf.jkt` is computed here from RFC 7638.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use super::*;

const TOKEN_ENDPOINT: &str = "http://as.test/token";

/// A client's DPoP key.
struct ProofKey {
    pair: EcdsaKeyPair,
    jwk: Value,
}

static JTI: AtomicU64 = AtomicU64::new(0);

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

impl ProofKey {
    fn new() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk =
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
        Self { pair, jwk }
    }

    /// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
    fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            str_of(&self.jwk, "x"),
            str_of(&self.jwk, "y")
        );
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// A proof with the given claims (a fresh `jti` unless `claims` has one).
    fn sign(&self, mut claims: Value) -> String {
        if claims.get("jti").is_none() {
            claims["jti"] = json!(format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)));
        }
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
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

    /// A good proof for `POST /token` at `iat`.
    fn proof_at(&self, iat: i64) -> String {
        self.sign(json!({"htm": "POST", "htu": TOKEN_ENDPOINT, "iat": iat}))
    }

    fn proof(&self) -> String {
        self.proof_at(crate::keys::now_unix())
    }
}

/// `POST /token` with `pairs` and one `DPoP` header per item of `proofs`.
async fn token_with(app: &Router, pairs: &[(&str, &str)], proofs: &[&str]) -> Resp {
    let mut req =
        Request::post("/token").header("content-type", "application/x-www-form-urlencoded");
    for p in proofs {
        req = req.header("dpop", *p);
    }
    send(app, req.body(Body::from(form(pairs))).unwrap()).await
}

async fn exchange_with(app: &Router, client_id: &str, code: &str, proofs: &[&str]) -> Resp {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
        ("resource", RESOURCE),
    ];
    token_with(app, &pairs, proofs).await
}

async fn refresh_with(app: &Router, client_id: &str, rt: &str, proofs: &[&str]) -> Resp {
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client_id),
    ];
    token_with(app, &pairs, proofs).await
}

/// Asserts a 200 DPoP token response bound to `key`; returns it.
fn assert_bound(server: &DevAuthorizationServer, r: &Resp, key: &ProofKey) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t = r.json();
    assert_eq!(t["token_type"], "DPoP", "{t}");
    let (_, claims) = verify_jwt(server, str_of(&t, "access_token"), RESOURCE);
    assert_eq!(
        claims["cnf"],
        json!({ "jkt": key.thumbprint() }),
        "{claims}"
    );
    t
}

#[tokio::test]
async fn a_token_request_with_a_proof_gets_a_token_bound_to_its_key() {
    let server = builder().build().unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let key = ProofKey::new();
    let code = get_code(&app, &client_id).await;
    let r = exchange_with(&app, &client_id, &code, &[&key.proof()]).await;
    assert_bound(&server, &r, &key);
    assert!(r.headers.get("dpop-nonce").is_none());

    // Without a proof: Bearer, no cnf.
    let code = get_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    assert_eq!(t["token_type"], "Bearer");
    let (_, claims) = verify_jwt(&server, str_of(&t, "access_token"), RESOURCE);
    assert!(claims.get("cnf").is_none(), "{claims}");

    // client_credentials too.
    server.register_confidential_client("svc", "svc-s3cret", &[]);
    let pairs = [
        ("grant_type", "client_credentials"),
        ("resource", RESOURCE),
        ("client_id", "svc"),
        ("client_secret", "svc-s3cret"),
    ];
    let r = token_with(&app, &pairs, &[&key.proof()]).await;
    assert_bound(&server, &r, &key);
}

#[tokio::test]
async fn a_bound_refresh_token_needs_a_proof_of_the_same_key() {
    let server = builder().build().unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let key = ProofKey::new();
    let code = get_offline_code(&app, &client_id).await;
    let t = assert_bound(
        &server,
        &exchange_with(&app, &client_id, &code, &[&key.proof()]).await,
        &key,
    );
    let rt = str_of(&t, "refresh_token").to_owned();

    // No proof, or a proof of another key: refused, and the refresh token not burnt.
    refresh_with(&app, &client_id, &rt, &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let other = ProofKey::new();
    refresh_with(&app, &client_id, &rt, &[&other.proof()])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // The same key: a new bound access token and a rotated refresh token, still bound.
    let t = assert_bound(
        &server,
        &refresh_with(&app, &client_id, &rt, &[&key.proof()]).await,
        &key,
    );
    let rt2 = str_of(&t, "refresh_token");
    refresh_with(&app, &client_id, rt2, &[&other.proof()])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_bound(
        &server,
        &refresh_with(&app, &client_id, rt2, &[&key.proof()]).await,
        &key,
    );
}

/// An unbound refresh token of a public client is bound by its first refresh with a proof;
/// a confidential client's refresh tokens are not bound (RFC 9449 §5), each access token is
/// bound to the proof it was asked for with.
#[tokio::test]
async fn refresh_binding_follows_the_client_type() {
    let server = builder().build().unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let key = ProofKey::new();
    let rt = str_of(&offline_tokens(&app, &client_id).await, "refresh_token").to_owned();
    let t = assert_bound(
        &server,
        &refresh_with(&app, &client_id, &rt, &[&key.proof()]).await,
        &key,
    );
    refresh_with(&app, &client_id, str_of(&t, "refresh_token"), &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    server.register_confidential_client("conf", "conf-s3cret", &[REDIRECT]);
    let code = get_offline_code(&app, "conf").await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", "conf"),
        ("client_secret", "conf-s3cret"),
    ];
    let t = assert_bound(
        &server,
        &token_with(&app, &pairs, &[&key.proof()]).await,
        &key,
    );
    let other = ProofKey::new();
    let rt = str_of(&t, "refresh_token");
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", "conf"),
        ("client_secret", "conf-s3cret"),
    ];
    assert_bound(
        &server,
        &token_with(&app, &pairs, &[&other.proof()]).await,
        &other,
    );
}

#[tokio::test]
async fn an_invalid_proof_is_invalid_dpop_proof_and_burns_no_code() {
    let server = builder().build().unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let key = ProofKey::new();
    let now = crate::keys::now_unix();
    let good = key.proof();
    let (input, _) = good.rsplit_once('.').unwrap();
    let bad: Vec<String> = vec![
        key.sign(json!({"htm": "GET", "htu": TOKEN_ENDPOINT, "iat": now})),
        key.sign(json!({"htm": "POST", "htu": "http://as.test/revoke", "iat": now})),
        key.sign(json!({"htm": "POST", "htu": "https://as.test/token", "iat": now})),
        key.sign(json!({"htm": "POST", "htu": TOKEN_ENDPOINT, "iat": now - 3600})),
        key.sign(json!({"htm": "POST", "htu": TOKEN_ENDPOINT})),
        format!("{input}.{}", b64(&[1u8; 64])),
        "not-a-jwt".to_owned(),
    ];
    let code = get_code(&app, &client_id).await;
    for proof in &bad {
        let r = exchange_with(&app, &client_id, &code, &[proof]).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        assert!(r.headers.get("dpop-nonce").is_none());
    }
    // Two DPoP headers (RFC 9449 §4.3).
    exchange_with(&app, &client_id, &code, &[&key.proof(), &key.proof()])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof");
    // The code is still good.
    let r = exchange_with(&app, &client_id, &code, &[&good]).await;
    assert_bound(&server, &r, &key);
    // The same proof a second time: replayed.
    let code = get_code(&app, &client_id).await;
    let r = exchange_with(&app, &client_id, &code, &[&good]).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof");
    assert!(r.text().contains("already used"), "{}", r.text());
}

#[tokio::test]
async fn require_dpop_refuses_a_request_without_a_proof() {
    let server = builder().require_dpop(true).build().unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof");
    let key = ProofKey::new();
    let r = exchange_with(&app, &client_id, &code, &[&key.proof()]).await;
    assert_bound(&server, &r, &key);
}

#[tokio::test]
async fn the_server_nonce_flow() {
    let now = Arc::new(AtomicI64::new(1_800_000_000));
    let clock = Arc::clone(&now);
    let server = builder()
        .use_dpop_nonce(true)
        .dpop_nonce_slot(Duration::from_secs(60))
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let app = server.router();
    server.register_confidential_client("svc", "svc-s3cret", &[]);
    let key = ProofKey::new();
    let pairs = [
        ("grant_type", "client_credentials"),
        ("resource", RESOURCE),
        ("client_id", "svc"),
        ("client_secret", "svc-s3cret"),
    ];
    let t = || now.load(Ordering::SeqCst);
    let with_nonce = |nonce: &str, iat: i64| {
        key.sign(json!({"htm": "POST", "htu": TOKEN_ENDPOINT, "iat": iat, "nonce": nonce}))
    };

    // No nonce: 400 use_dpop_nonce with one to use.
    let r = token_with(&app, &pairs, &[&key.proof_at(t())]).await;
    r.assert_error(StatusCode::BAD_REQUEST, "use_dpop_nonce");
    let nonce = r.headers["dpop-nonce"].to_str().unwrap().to_owned();
    // A made-up nonce: the same answer.
    let r = token_with(&app, &pairs, &[&with_nonce("bm9ub25jZQ", t())]).await;
    r.assert_error(StatusCode::BAD_REQUEST, "use_dpop_nonce");
    assert_eq!(r.headers["dpop-nonce"], nonce.as_str());

    // With it: a bound token, and no new nonce yet.
    let r = token_with(&app, &pairs, &[&with_nonce(&nonce, t())]).await;
    assert_bound(&server, &r, &key);
    assert!(r.headers.get("dpop-nonce").is_none());

    // One slot later the nonce still works and a fresh one comes with the answer.
    now.fetch_add(60, Ordering::SeqCst);
    let r = token_with(&app, &pairs, &[&with_nonce(&nonce, t())]).await;
    assert_bound(&server, &r, &key);
    let fresh = r.headers["dpop-nonce"].to_str().unwrap().to_owned();
    assert_ne!(fresh, nonce);

    // Two slots later it is stale.
    now.fetch_add(60, Ordering::SeqCst);
    let r = token_with(&app, &pairs, &[&with_nonce(&nonce, t())]).await;
    r.assert_error(StatusCode::BAD_REQUEST, "use_dpop_nonce");
    let r = token_with(&app, &pairs, &[&with_nonce(&fresh, t())]).await;
    assert_bound(&server, &r, &key);
}

#[tokio::test]
async fn metadata_lists_the_dpop_algorithms_and_cors_allows_the_headers() {
    let app = builder().build().unwrap().router();
    let m = get(&app, "/.well-known/oauth-authorization-server")
        .await
        .json();
    assert_eq!(
        m["dpop_signing_alg_values_supported"],
        json!(["ES256", "ES384", "EdDSA", "PS256", "RS256"])
    );
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/token")
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "dpop")
        .body(Body::empty())
        .unwrap();
    let r = send(&app, preflight).await;
    let allowed = r.headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("dpop"), "{allowed}");
    let r = send(
        &app,
        Request::post("/token")
            .header("origin", "http://app.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let exposed = r.headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("dpop-nonce"), "{exposed}");
}

#[tokio::test]
async fn introspection_of_a_bound_token_says_dpop_and_cnf() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let app = rs_builder(format).build().unwrap().router();
        let client_id = register_public(&app).await;
        let key = ProofKey::new();
        let code = get_code(&app, &client_id).await;
        let r = exchange_with(&app, &client_id, &code, &[&key.proof()]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let t = r.json();
        assert_eq!(t["token_type"], "DPoP");
        let answer = introspect(&app, str_of(&t, "access_token")).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["token_type"], "DPoP", "{answer}");
        assert_eq!(
            answer["cnf"],
            json!({ "jkt": key.thumbprint() }),
            "{answer}"
        );

        let code = get_code(&app, &client_id).await;
        let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
        let answer = introspect(&app, str_of(&t, "access_token")).await;
        assert_eq!(answer["token_type"], "Bearer", "{answer}");
        assert!(answer.get("cnf").is_none(), "{answer}");
    }
}
