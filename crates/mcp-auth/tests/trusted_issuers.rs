//! Per-issuer configuration (issue 15): each `TrustedIssuer` entry judges its own tokens by
//! its own algorithms, `typ` rule, audiences, claim mapping and claim checks, and by nothing
//! of another entry's; the payload's `iss` picks the entry, on both ways through the state
//! machine and on cache hits.

mod common;
use common::{AsyncOnly, ISS, RES, bearer, expect_invalid_token, send};

use mcp_auth::core::claims::ScopeSource;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::{Algorithm, TypPolicy};
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::core::validation::RulesError;
use mcp_auth::{ConfigError, McpAuthBuilder, McpAuthLayer, TrustedIssuer};
use mcp_auth_dev::TestAuthority;
use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const PARTNER: &str = "https://sso.partner.example/realms/mcp";

fn ours() -> &'static TestAuthority {
    common::authority()
}

fn partner() -> &'static TestAuthority {
    static P: OnceLock<TestAuthority> = OnceLock::new();
    P.get_or_init(|| TestAuthority::new(PARTNER))
}

fn set(a: &TestAuthority) -> KeySet {
    let jwks = serde_json::to_vec(&a.jwks()).unwrap();
    KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys
}

fn keys() -> StaticKeySource {
    StaticKeySource::new()
        .with_issuer(ISS, set(ours()))
        .with_issuer(PARTNER, set(partner()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Our strict RFC 9068 issuer (ES256 only), and a partner's Keycloak-like realm with rules of
/// its own: RS256, `typ: JWT`, an `api://` audience, `azp`, realm roles mapped to scopes, a
/// maximum token age.
fn two_issuers(clock: &Arc<AtomicI64>) -> McpAuthBuilder {
    let c = clock.clone();
    McpAuthLayer::builder(RES)
        .trusted_issuer(TrustedIssuer::new(ISS).algorithms([Algorithm::ES256]))
        .trusted_issuer(
            TrustedIssuer::new(PARTNER)
                .algorithms([Algorithm::RS256])
                .typ_policy(TypPolicy::AllowJwt)
                .additional_audience("api://mcp")
                .client_id_claims(["azp"])
                .scope_sources([ScopeSource::path(["realm_access", "roles"]).roles()])
                .map_role("mcp-reader", ["mcp:read"])
                .max_token_age(Duration::from_secs(600)),
        )
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .clock(move || c.load(Ordering::SeqCst))
}

fn layers(clock: &Arc<AtomicI64>) -> [McpAuthLayer; 2] {
    [
        two_issuers(clock).key_source(keys()).build().unwrap(),
        two_issuers(clock)
            .key_source(AsyncOnly(keys()))
            .build()
            .unwrap(),
    ]
}

/// A partner token as its realm issues it: `typ: JWT`, RS256, `aud` its API name, `azp`,
/// realm roles and no `scope`.
fn partner_token() -> mcp_auth_dev::TokenBuilder {
    partner()
        .token()
        .alg("RS256")
        .header("typ", json!("JWT"))
        .aud("api://mcp")
        .without_claim("client_id")
        .claim("azp", json!("partner-agent"))
        .claim(
            "realm_access",
            json!({"roles": ["mcp-reader", "offline_access"]}),
        )
        .without_claim("scope")
}

#[tokio::test]
async fn each_issuer_is_judged_by_its_own_rules() {
    let clock = Arc::new(AtomicI64::new(now()));
    for l in layers(&clock) {
        // Each issuer's documented token: accepted, three times to cover the cache.
        let good_ours = common::token().alg("ES256").sign();
        let good_partner = partner_token().sign();
        for _ in 0..3 {
            let o = send(l.clone(), bearer(&good_ours)).await;
            assert_eq!(o.status, 200, "{:?}", o.error);
            assert_eq!(o.body["scopes"], "mcp:read");
            let o = send(l.clone(), bearer(&good_partner)).await;
            assert_eq!(o.status, 200, "{:?}", o.error);
            // The realm role mapped to the scope; the unmapped role grants nothing.
            assert_eq!(o.body["scopes"], "mcp:read");
            assert_eq!(o.body["client_id"], "partner-agent");
        }

        // Our issuer's rules are not loosened by the partner's.
        let cases = [
            (
                common::token().alg("RS256").sign(),
                "token algorithm not allowed",
            ),
            (
                common::token()
                    .alg("ES256")
                    .header("typ", json!("JWT"))
                    .sign(),
                "token type is not at+jwt",
            ),
            (
                common::token().alg("ES256").aud("api://mcp").sign(),
                "token audience is not this resource",
            ),
        ];
        for (t, why) in &cases {
            expect_invalid_token(l.clone(), t, why).await;
        }
        // Roles mean nothing for our issuer: no mapping, so no scope from them.
        let roles_only = common::token()
            .alg("ES256")
            .without_claim("scope")
            .claim("realm_access", json!({"roles": ["mcp-reader"]}))
            .sign();
        let o = send(l.clone(), bearer(&roles_only)).await;
        assert_eq!(o.status, 403, "{:?}", o.error);

        // And the partner's tokens meet the partner's rules only.
        let cases = [
            (
                partner_token().alg("ES256").sign(),
                "token algorithm not allowed",
            ),
            (
                partner_token().header("typ", json!("id+jwt")).sign(),
                "token type is not at+jwt",
            ),
            (
                partner_token().aud("api://other").sign(),
                "token audience is not this resource",
            ),
            (
                partner_token().issued_at_in(-601).sign(),
                "token is older than this resource accepts",
            ),
        ];
        for (t, why) in &cases {
            expect_invalid_token(l.clone(), t, why).await;
        }
    }
}

#[tokio::test]
async fn an_issuer_in_no_entry_is_refused_before_its_keys_are_asked() {
    let clock = Arc::new(AtomicI64::new(now()));
    let stranger = TestAuthority::new("https://evil.example");
    for l in layers(&clock) {
        let t = stranger.token().aud(RES).alg("ES256").sign();
        expect_invalid_token(l.clone(), &t, "token issuer is not trusted").await;
        let no_iss = common::token().alg("ES256").without_claim("iss").sign();
        expect_invalid_token(l, &no_iss, "token has no issuer").await;
    }
}

#[tokio::test]
async fn a_timed_check_of_one_issuer_runs_on_its_cache_hits_only() {
    let clock = Arc::new(AtomicI64::new(now()));
    let l = two_issuers(&clock).key_source(keys()).build().unwrap();
    let ours = common::token().alg("ES256").expires_in(3600).sign();
    let theirs = partner_token().expires_in(3600).sign();
    for t in [&ours, &theirs] {
        for _ in 0..3 {
            assert_eq!(send(l.clone(), bearer(t)).await.status, 200);
        }
    }
    assert_eq!(l.token_cache_len(), 2);
    // Eleven minutes later both are still within `exp`; only the partner's entry has a
    // maximum age, and its cache hit applies it.
    clock.fetch_add(660, Ordering::SeqCst);
    assert_eq!(send(l.clone(), bearer(&ours)).await.status, 200);
    expect_invalid_token(l, &theirs, "token is older than this resource accepts").await;
}

#[test]
fn an_issuer_trusted_twice_is_refused_at_build() {
    let twice = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .trusted_issuer(TrustedIssuer::new(ISS).typ_policy(TypPolicy::AllowJwt))
        .key_source(keys())
        .build();
    assert!(
        matches!(&twice, Err(ConfigError::Rules(RulesError::DuplicateIssuer(i))) if i == ISS),
        "{twice:?}"
    );
    let in_one_entry = McpAuthLayer::builder(RES)
        .trusted_issuer(TrustedIssuer::any_of([PARTNER, PARTNER]))
        .key_source(keys())
        .build();
    assert!(
        matches!(
            &in_one_entry,
            Err(ConfigError::Rules(RulesError::DuplicateIssuer(_)))
        ),
        "{in_one_entry:?}"
    );
    let no_alg = McpAuthLayer::builder(RES)
        .trusted_issuer(TrustedIssuer::new(PARTNER).algorithms([]))
        .key_source(keys())
        .build();
    assert!(
        matches!(&no_alg, Err(ConfigError::NoAlgorithms)),
        "{no_alg:?}"
    );
    let empty = McpAuthLayer::builder(RES)
        .trusted_issuer(TrustedIssuer::any_of(Vec::<String>::new()))
        .key_source(keys())
        .build();
    assert!(matches!(&empty, Err(ConfigError::NoIssuer)), "{empty:?}");
}

#[test]
fn the_builder_settings_do_not_reach_a_trusted_issuer_entry() {
    // `typ_policy` on the builder is for `issuer(..)`'s issuers: the entry keeps the strict
    // default, visible in the rules the validator runs.
    let l = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .typ_policy(TypPolicy::AllowJwt)
        .additional_audience("api://ours")
        .trusted_issuer(TrustedIssuer::new(PARTNER))
        .key_source(keys())
        .build()
        .unwrap();
    let rules = l.jwt_validator().unwrap().rules();
    let entries: Vec<_> = rules.entries().collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].0.typ, TypPolicy::AllowJwt);
    assert_eq!(entries[0].1.extra_audiences.len(), 1);
    assert_eq!(entries[1].0.typ, TypPolicy::Strict);
    assert!(entries[1].1.extra_audiences.is_empty());
    assert_eq!(entries[1].1.issuers, [PARTNER]);
    // Before the issuer is known, the union: both rules' `typ` values pass the first check.
    assert_eq!(rules.header().typ, TypPolicy::AllowJwt);
    assert_eq!(rules.position(PARTNER), Some(1));
    assert_eq!(rules.position("https://evil.example"), None);
}

#[tokio::test]
async fn without_an_audience_claim_the_client_allow_list_binds_the_token() {
    let unbound = McpAuthLayer::builder(RES)
        .trusted_issuer(TrustedIssuer::new(PARTNER).without_audience_claim())
        .key_source(keys())
        .build();
    assert!(
        matches!(&unbound, Err(ConfigError::UnboundAudience(i)) if i == PARTNER),
        "{unbound:?}"
    );
    let l = McpAuthLayer::builder(RES)
        .trusted_issuer(
            TrustedIssuer::new(PARTNER)
                .without_audience_claim()
                .allowed_client_ids(["agent-1"]),
        )
        .key_source(keys())
        .require_scopes(["mcp:read"])
        .build()
        .unwrap();
    let t = |client: &str| {
        partner()
            .token()
            .without_claim("aud")
            .client_id(client)
            .scope("mcp:read")
            .sign()
    };
    for _ in 0..3 {
        let o = send(l.clone(), bearer(&t("agent-1"))).await;
        assert_eq!(o.status, 200, "{:?}", o.error);
    }
    let other = t("agent-2");
    let o = send(l.clone(), bearer(&other)).await;
    assert_eq!(o.status, 401);
    assert_eq!(
        o.error.unwrap().description(),
        "token client is not allowed"
    );
    // A token that carries `aud` is still bound by it.
    let elsewhere = partner()
        .token()
        .aud("https://other.example/mcp")
        .client_id("agent-1")
        .scope("mcp:read")
        .sign();
    let o = send(l, bearer(&elsewhere)).await;
    assert_eq!(o.status, 401);
    assert_eq!(
        o.error.unwrap().description(),
        "token audience is not this resource"
    );
}

#[test]
fn trusted_issuer_entries_with_their_own_jwks_uri_need_the_default_key_source() {
    let l = McpAuthLayer::builder(RES)
        .trusted_issuer(TrustedIssuer::new(PARTNER).jwks_uri("https://sso.partner.example/keys"))
        .key_source(keys())
        .build();
    assert!(
        matches!(&l, Err(ConfigError::IgnoredByKeySource("jwks_uri"))),
        "{l:?}"
    );
}
