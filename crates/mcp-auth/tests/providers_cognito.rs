//! The AWS Cognito preset against fixtures shaped as AWS documents user pool tokens,
//! re-signed by the test key and published by a loopback server at the pool's JWKS path.
//! Not tested against a live user pool.
#![cfg(feature = "jwks")]

mod common;

use common::RES;
use common::providers::{
    Fixture, ProviderServer, assert_accepted, assert_invalid_token, provider_jwk, send_cached,
};
use mcp_auth::providers::Cognito;
use mcp_auth::{ConfigError, McpAuthLayer, TrustedIssuer};
use serde_json::json;
use std::time::Duration;

const REGION: &str = "us-west-2";
const POOL: &str = "us-west-2_example";
/// Cognito signs access and ID tokens with different keys.
const ACCESS_KID: &str = "1234example=";
const ID_KID: &str = "5678example=";
const CLIENT: &str = "12345abcde";
const OTHER_CLIENT: &str = "67890fghij";
const USER: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SCOPES: &str = "aws.cognito.signin.user.admin mcp-server/mcp.read";

fn jwks_path() -> String {
    format!("/{POOL}/.well-known/jwks.json")
}

async fn user_pool() -> ProviderServer {
    ProviderServer::start(|base| {
        let key = |kid| provider_jwk(kid, json!({ "use": "sig", "alg": "RS256" }));
        vec![
            (
                jwks_path(),
                json!({ "keys": [key(ACCESS_KID), key(ID_KID)] }),
            ),
            (
                format!("/{POOL}/.well-known/openid-configuration"),
                json!({
                    "issuer": format!("{base}/{POOL}"),
                    "jwks_uri": format!("{base}{}", jwks_path()),
                }),
            ),
        ]
    })
    .await
}

/// The sample access token of "Understanding the access token"
/// (https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html):
/// a header with only `kid` and `alg`, no `aud`, `client_id`, `token_use` `access`,
/// `cognito:groups`; `scope` also holds a custom scope, `{resource server}/{scope}` as the
/// page describes them. `iss` is the loopback pool.
fn access_token(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "kid": ACCESS_KID, "alg": "RS256" }),
        json!({
            "sub": USER,
            "device_key": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "cognito:groups": ["admin"],
            "iss": iss,
            "version": 2,
            "client_id": CLIENT,
            "origin_jti": "bbbbbbbb-cccc-dddd-eeee-aaaaaaaaaaaa",
            "event_id": "cccccccc-dddd-eeee-aaaa-bbbbbbbbbbbb",
            "token_use": "access",
            "scope": SCOPES,
            "auth_time": 1_562_190_524,
            "exp": 1_562_194_124,
            "iat": 1_562_190_524,
            "jti": "dddddddd-eeee-aaaa-bbbb-cccccccccccc",
            "username": "my-test-user",
        }),
    )
}

/// The sample ID token of "Understanding the identity (ID) token"
/// (https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html):
/// its own `kid`, `aud` the app client id, `token_use` `id`, no `client_id`, no `scope`.
fn id_token(iss: &str) -> Fixture {
    Fixture::new(
        json!({ "kid": ID_KID, "alg": "RS256" }),
        json!({
            "sub": USER,
            "cognito:groups": ["admin"],
            "email_verified": true,
            "iss": iss,
            "cognito:username": "my-test-user",
            "origin_jti": "bbbbbbbb-cccc-dddd-eeee-aaaaaaaaaaaa",
            "aud": CLIENT,
            "event_id": "cccccccc-dddd-eeee-aaaa-bbbbbbbbbbbb",
            "token_use": "id",
            "auth_time": 1_562_190_524,
            "name": "Jane Doe",
            "exp": 1_562_194_124,
            "iat": 1_562_190_524,
            "jti": "eeeeeeee-aaaa-bbbb-cccc-dddddddddddd",
            "email": "janedoe@example.com",
        }),
    )
}

fn layer(issuer: impl Into<TrustedIssuer>) -> McpAuthLayer {
    McpAuthLayer::builder(RES)
        .trusted_issuer(issuer)
        .scopes_supported(["mcp-server/mcp.read", "mcp-server/mcp.write"])
        .require_scopes(["mcp-server/mcp.read"])
        .build()
        .unwrap()
}

fn preset(server: &ProviderServer) -> Cognito {
    Cognito::user_pool(REGION, POOL).base_url(server.base_url())
}

fn pool_iss(server: &ProviderServer) -> String {
    server.url(&format!("/{POOL}"))
}

#[tokio::test]
async fn the_documented_access_token_is_accepted_and_cached() {
    let server = user_pool().await;
    let layer = layer(preset(&server).allowed_client_ids([CLIENT]));
    let o = send_cached(&layer, &access_token(&pool_iss(&server)).sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), SCOPES);
    assert_eq!(server.hits(&jwks_path()), 1, "{:?}", server.all_hits());
    assert_eq!(
        server.all_hits().len(),
        1,
        "no discovery: {:?}",
        server.all_hits()
    );
}

#[tokio::test]
async fn user_pool_groups_map_to_scopes() {
    let server = user_pool().await;
    let layer = layer(
        preset(&server)
            .allowed_client_ids([CLIENT])
            .map_group("admin", ["mcp-server/mcp.write"]),
    );
    let iss = pool_iss(&server);
    let o = send_cached(&layer, &access_token(&iss).sign()).await;
    assert_accepted(
        &o,
        USER,
        Some(CLIENT),
        &format!("{SCOPES} mcp-server/mcp.write"),
    );
    let readers = access_token(&iss).claim("cognito:groups", json!(["readers"]));
    let o = send_cached(&layer, &readers.sign()).await;
    assert_accepted(&o, USER, Some(CLIENT), SCOPES);
}

#[tokio::test]
async fn an_id_token_is_refused_as_an_access_token() {
    let server = user_pool().await;
    let layer = layer(preset(&server).allowed_client_ids([CLIENT]));
    let iss = pool_iss(&server);
    // Its `aud` is the app client id: not this resource.
    let o = send_cached(&layer, &id_token(&iss).sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    // What only `token_use` tells apart: a token of the access shape marked as an ID token.
    let marked = access_token(&iss).claim("token_use", json!("id"));
    let o = send_cached(&layer, &marked.sign()).await;
    assert_invalid_token(&o, "token is not a Cognito access token (token_use)");
    let unmarked = access_token(&iss).without("token_use");
    let o = send_cached(&layer, &unmarked.sign()).await;
    assert_invalid_token(&o, "token is not a Cognito access token (token_use)");
}

#[tokio::test]
async fn a_token_of_another_app_client_is_refused() {
    let server = user_pool().await;
    let layer = layer(preset(&server).allowed_client_ids([CLIENT]));
    // Without `aud`, a token of the pool for another API differs only by its app client.
    let other = access_token(&pool_iss(&server)).claim("client_id", json!(OTHER_CLIENT));
    let o = send_cached(&layer, &other.sign()).await;
    assert_invalid_token(&o, "token client is not allowed");
}

#[tokio::test]
async fn a_token_that_carries_an_audience_must_name_this_resource() {
    let server = user_pool().await;
    let iss = pool_iss(&server);
    let unbound = layer(preset(&server).allowed_client_ids([CLIENT]));
    let other_api = access_token(&iss).claim("aud", json!("https://api.other.example.com"));
    let o = send_cached(&unbound, &other_api.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    let o = send_cached(
        &unbound,
        &access_token(&iss).claim("aud", json!(RES)).sign(),
    )
    .await;
    assert_accepted(&o, USER, Some(CLIENT), SCOPES);
}

#[tokio::test]
async fn with_resource_indicators_the_audience_is_required_and_bound() {
    let server = user_pool().await;
    let iss = pool_iss(&server);
    let bound = layer(preset(&server).resource_indicators());
    let ours = access_token(&iss).claim("aud", json!(RES));
    assert_accepted(
        &send_cached(&bound, &ours.sign()).await,
        USER,
        Some(CLIENT),
        SCOPES,
    );
    let o = send_cached(&bound, &access_token(&iss).sign()).await;
    assert_invalid_token(&o, "token has no audience");
    let other_api = access_token(&iss).claim("aud", json!("https://api.other.example.com"));
    let o = send_cached(&bound, &other_api.sign()).await;
    assert_invalid_token(&o, "token audience is not this resource");
    // Another client with a token for this same resource.
    let both = layer(
        preset(&server)
            .resource_indicators()
            .allowed_client_ids([CLIENT]),
    );
    let theirs = ours.claim("client_id", json!(OTHER_CLIENT));
    let o = send_cached(&both, &theirs.sign()).await;
    assert_invalid_token(&o, "token client is not allowed");
}

#[tokio::test]
async fn an_expired_token_and_a_stale_one_are_refused() {
    let server = user_pool().await;
    let iss = pool_iss(&server);
    let issuer = TrustedIssuer::from(preset(&server).allowed_client_ids([CLIENT]))
        .max_token_age(Duration::from_secs(600));
    let layer = layer(issuer);
    assert_accepted(
        &send_cached(&layer, &access_token(&iss).sign()).await,
        USER,
        Some(CLIENT),
        SCOPES,
    );
    let expired = access_token(&iss).expired();
    assert_invalid_token(&send_cached(&layer, &expired.sign()).await, "token expired");
    // Issued 20 minutes ago, inside its documented hour: older than 10 minutes.
    let stale = access_token(&iss).issued_ago(1200);
    let o = send_cached(&layer, &stale.sign()).await;
    assert_invalid_token(&o, "token is older than this resource accepts");
}

#[tokio::test]
async fn a_token_of_another_user_pool_is_refused() {
    let server = user_pool().await;
    let layer = layer(preset(&server).allowed_client_ids([CLIENT]));
    for iss in [
        server.url("/us-west-2_otherPool"),
        "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_example".to_owned(),
    ] {
        let o = send_cached(&layer, &access_token(&iss).sign()).await;
        assert_invalid_token(&o, "token issuer is not trusted");
    }
}

#[test]
fn a_user_pool_without_client_ids_or_resource_indicators_is_refused_at_build() {
    let refused = McpAuthLayer::builder(RES)
        .trusted_issuer(Cognito::user_pool(REGION, POOL))
        .build();
    assert!(
        matches!(&refused, Err(ConfigError::Preset(e))
            if e.provider() == "AWS Cognito" && e.to_string().contains("allowed_client_ids")),
        "{refused:?}"
    );
    let built = McpAuthLayer::builder(RES)
        .trusted_issuer(Cognito::user_pool(REGION, POOL).resource_indicators())
        .build();
    assert!(built.is_ok(), "{built:?}");
}

#[test]
fn a_user_pool_id_of_another_region_is_refused_at_build() {
    let refused = McpAuthLayer::builder(RES)
        .trusted_issuer(Cognito::user_pool("us-east-1", POOL).allowed_client_ids([CLIENT]))
        .build();
    assert!(
        matches!(&refused, Err(ConfigError::Preset(e)) if e.to_string().contains(POOL)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn beside_another_preset_the_missing_audience_stays_cognitos() {
    // One loopback host for two issuers: the pool at /{pool}, an AuthKit domain at the root.
    let server = ProviderServer::start(|_| {
        let keys = json!({ "keys": [provider_jwk(ACCESS_KID, json!({ "use": "sig" }))] });
        vec![
            (jwks_path(), keys.clone()),
            ("/oauth2/jwks".to_owned(), keys),
        ]
    })
    .await;
    let layer = McpAuthLayer::builder(RES)
        .trusted_issuer(preset(&server).allowed_client_ids([CLIENT]))
        .trusted_issuer(
            mcp_auth::providers::WorkOs::authkit_domain("acme.authkit.app")
                .base_url(server.base_url()),
        )
        .scopes_supported(["mcp-server/mcp.read"])
        .require_scopes(["mcp-server/mcp.read"])
        .build()
        .unwrap();
    let cognito = access_token(&pool_iss(&server));
    assert_accepted(
        &send_cached(&layer, &cognito.sign()).await,
        USER,
        Some(CLIENT),
        SCOPES,
    );
    // The same claims under the AuthKit issuer: no `aud` is refused there, and Cognito's
    // `token_use` rule does not apply.
    let authkit = cognito.claim("iss", json!(server.base_url()));
    let o = send_cached(&layer, &authkit.clone().sign()).await;
    assert_invalid_token(&o, "token has no audience");
    let bound = authkit.claim("aud", json!(RES)).without("token_use");
    assert_accepted(
        &send_cached(&layer, &bound.sign()).await,
        USER,
        Some(CLIENT),
        SCOPES,
    );
}
