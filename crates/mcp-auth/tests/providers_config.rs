//! Presets as configuration: parameters a provider's tokens could never match are refused at
//! build, and several presets in one layer each keep their own rules (`iss` picks them).
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{Fixture, ProviderServer, assert_invalid_token, provider_jwk, send_cached};
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::providers::{Auth0, EntraId, Keycloak, Okta};
use mcp_auth::{ConfigError, McpAuthLayer, TrustedIssuer};
use serde_json::json;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const API: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

fn build(issuer: impl Into<TrustedIssuer>) -> Result<McpAuthLayer, ConfigError> {
    McpAuthLayer::builder(RES).trusted_issuer(issuer).build()
}

fn preset_error(result: Result<McpAuthLayer, ConfigError>) -> (String, String) {
    match result {
        Err(ConfigError::Preset(e)) => (e.provider().to_owned(), e.to_string()),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("built"),
    }
}

#[test]
fn parameters_no_token_could_match_are_refused_at_build() {
    let cases: Vec<(Result<McpAuthLayer, ConfigError>, &str, &str)> = vec![
        (build(EntraId::v2(TENANT)), "Entra ID", "api_audience"),
        (
            build(EntraId::v2("contoso.onmicrosoft.com").api_audience(API)),
            "Entra ID",
            "GUID",
        ),
        (
            build(EntraId::v2("common").api_audience(API)),
            "Entra ID",
            "multi_tenant_v2",
        ),
        // No tenant: the preset's own error, not the key source's "no issuer" it would lead to.
        (
            build(EntraId::multi_tenant_v2(Vec::<String>::new()).api_audience(API)),
            "Entra ID",
            "at least one",
        ),
        (
            build(Okta::custom_authorization_server(
                "example.okta.com",
                "aus1",
            )),
            "Okta",
            "audience",
        ),
        (
            build(Auth0::new("example.us.auth0.com")),
            "Auth0",
            "api_identifier",
        ),
        (
            build(Keycloak::new("https://sso.example.com", "acme").realm_roles()),
            "Keycloak",
            "map_role",
        ),
        (
            build(Keycloak::new("https://sso.example.com", "a/b")),
            "Keycloak",
            "path segment",
        ),
    ];
    for (result, provider, needle) in cases {
        let (p, message) = preset_error(result);
        assert_eq!(p, provider, "{message}");
        assert!(message.contains(needle), "{message}");
    }
    // Well-formed presets build.
    for ok in [
        build(EntraId::v2(TENANT).api_audience(API)),
        build(EntraId::v1(TENANT)),
        build(Okta::default_server("example.okta.com")),
        build(Auth0::new("example.us.auth0.com").api_identifier(RES)),
        build(Keycloak::new("https://sso.example.com", "acme")),
    ] {
        assert!(ok.is_ok(), "{:?}", ok.err());
    }
    // A preset's JWKS location gives way to a custom key source, which provides the keys.
    let with_source = McpAuthLayer::builder(RES)
        .trusted_issuer(Okta::default_server("example.okta.com"))
        .key_source(StaticKeySource::new())
        .build();
    assert!(with_source.is_ok(), "{:?}", with_source.err());
}

const KID: &str = "mixed-kid-1";

#[tokio::test]
async fn two_presets_in_one_layer_each_keep_their_rules() {
    let server = ProviderServer::start(|_| {
        let keys = json!({ "keys": [provider_jwk(KID, json!({ "use": "sig" }))] });
        vec![
            (format!("/{TENANT}/discovery/v2.0/keys"), keys.clone()),
            (
                "/realms/acme/protocol/openid-connect/certs".to_owned(),
                keys,
            ),
        ]
    })
    .await;
    let base = server.base_url();
    let layer = McpAuthLayer::builder(RES)
        .trusted_issuer(EntraId::v2(TENANT).api_audience(API).base_url(base))
        .trusted_issuer(Keycloak::new(base, "acme"))
        .build()
        .unwrap();
    let entra = Fixture::new(
        json!({ "typ": "JWT", "alg": "RS256", "kid": KID }),
        json!({
            "aud": API, "iss": format!("{base}/{TENANT}/v2.0"), "iat": 1_732_000_000,
            "nbf": 1_732_000_000, "exp": 1_732_003_600, "azp": "c1", "scp": "Mcp.Read",
            "sub": "s1", "tid": TENANT, "ver": "2.0",
        }),
    );
    let keycloak = Fixture::new(
        json!({ "typ": "JWT", "alg": "RS256", "kid": KID }),
        json!({
            "aud": RES, "iss": format!("{base}/realms/acme"), "iat": 1_732_000_000,
            "exp": 1_732_000_300, "jti": "j1", "azp": "c2", "typ": "Bearer", "sub": "s2",
            "scope": "mcp:read",
        }),
    );
    assert_eq!(send_cached(&layer, &entra.sign()).await.status, 200);
    assert_eq!(send_cached(&layer, &keycloak.sign()).await.status, 200);
    // Keycloak's rules for Keycloak's issuer: the Entra API audience means nothing there,
    // and Entra's `tid` rule does not apply, but Keycloak's `typ` claim does.
    let entra_aud = keycloak.clone().claim("aud", json!(API));
    assert_invalid_token(
        &send_cached(&layer, &entra_aud.sign()).await,
        "token audience is not this resource",
    );
    let untyped = keycloak.without("typ");
    assert_invalid_token(
        &send_cached(&layer, &untyped.sign()).await,
        "token is not an access token",
    );
    // And Entra's for Entra's: the resource URI is not its audience, `tid` is bound.
    let resource_aud = entra
        .clone()
        .claim("aud", json!(RES))
        .claim("tid", json!("x"));
    assert_eq!(send_cached(&layer, &resource_aud.sign()).await.status, 401);
    assert_invalid_token(
        &send_cached(&layer, &entra.without("tid").sign()).await,
        "token tenant does not match its issuer",
    );
}
