//! Claim mapping through the layer (issue 15): the client id, the subject and the scopes
//! where each provider puts them, provider roles mapped to scopes, read once at validation
//! and answered from the cache alike.

mod common;

use common::*;
use mcp_auth::core::claims::{MappingError, RequiredClaims, ScopeSource};
use mcp_auth::{ConfigError, ErrorKind};
use serde_json::json;

/// Sends `t` three times (validation, then the verified-token cache, which admits a token
/// on its second use) and checks every answer agrees; returns the first.
async fn twice(layer: &mcp_auth::McpAuthLayer, t: &str) -> Outcome {
    let first = send(layer.clone(), bearer(t)).await;
    for _ in 0..2 {
        let again = send(layer.clone(), bearer(t)).await;
        assert_eq!(first.status, again.status);
        assert_eq!(
            first.body, again.body,
            "a cache hit answers as the validation did"
        );
    }
    first
}

#[tokio::test]
async fn okta_cid_and_scp_array_with_allowed_client_ids() {
    let layer = builder()
        .client_id_claims(["cid"])
        .allowed_client_ids(["0oa1okta"])
        .build()
        .unwrap();
    // Okta: no `client_id`, the client in `cid`, the scopes in an `scp` array, `uid`.
    let okta = || {
        token()
            .without_claim("client_id")
            .without_claim("scope")
            .claim("cid", json!("0oa1okta"))
            .claim("uid", json!("00u1user"))
            .claim("scp", json!(["mcp:read", "openid"]))
    };
    let o = twice(&layer, &okta().sign()).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["client_id"], "0oa1okta");
    assert_eq!(o.body["scopes"], "mcp:read openid");
    assert_eq!(o.body["sub"], "user-1");

    // Another client of the same authorization server: refused, at validation and after.
    let other = okta().claim("cid", json!("0oa2other")).sign();
    expect_invalid_token(layer.clone(), &other, "token client is not allowed").await;
    expect_invalid_token(layer.clone(), &other, "token client is not allowed").await;
    // `client_id` is not where this layer looks: it neither allows nor satisfies.
    let t = okta()
        .without_claim("cid")
        .claim("client_id", json!("0oa1okta"))
        .sign();
    expect_invalid_token(layer.clone(), &t, "token has no client_id").await;
    let t = okta().claim("cid", json!(42)).sign();
    expect_invalid_token(layer, &t, "token claims are malformed").await;

    // The subject from `uid`.
    let layer = builder()
        .client_id_claims(["cid"])
        .subject_claim("uid")
        .build()
        .unwrap();
    let o = twice(&layer, &okta().sign()).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["sub"], "00u1user");
}

#[tokio::test]
async fn entra_v1_appid() {
    let layer = builder()
        .client_id_claims(["appid", "azp"])
        .allowed_client_ids(["11111111-2222-3333-4444-555555555555"])
        .build()
        .unwrap();
    let v1 = token()
        .without_claim("client_id")
        .claim("appid", json!("11111111-2222-3333-4444-555555555555"))
        .claim("ver", json!("1.0"))
        .sign();
    let o = twice(&layer, &v1).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["client_id"], "11111111-2222-3333-4444-555555555555");
    // v2 carries `azp`: the second name in the list.
    let v2 = token()
        .without_claim("client_id")
        .claim("azp", json!("11111111-2222-3333-4444-555555555555"))
        .sign();
    assert_eq!(twice(&layer, &v2).await.status, 200);
    // Without `cid`/`appid`/`azp`, the default layer reads `client_id` only.
    let o = twice(&builder().build().unwrap(), &v1).await;
    assert_eq!(o.status, 401);
}

#[tokio::test]
async fn required_claims_one_by_one_and_the_shorthand() {
    let no_jti = token().without_claim("jti").sign();
    expect_invalid_token(builder().build().unwrap(), &no_jti, "token has no jti").await;
    let mut r = RequiredClaims::ALL;
    r.jti = false;
    let layer = builder().required_claims(r).build().unwrap();
    assert_eq!(twice(&layer, &no_jti).await.status, 200);
    let no_sub = token().without_claim("sub").sign();
    expect_invalid_token(layer, &no_sub, "token has no subject").await;
    // The shorthand is all or nothing, and the last call wins.
    let layer = builder()
        .required_claims(RequiredClaims::ALL)
        .require_rfc9068_claims(false)
        .build()
        .unwrap();
    assert_eq!(twice(&layer, &no_sub).await.status, 200);
    // Keycloak: `azp` and no `client_id` passes the strict profile once `azp` is the client.
    let keycloak = token()
        .without_claim("client_id")
        .claim("azp", json!("mcp-client"))
        .sign();
    let strict = builder().build().unwrap();
    expect_invalid_token(strict, &keycloak, "token has no client_id").await;
    let layer = builder().client_id_claims(["azp"]).build().unwrap();
    let o = twice(&layer, &keycloak).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["client_id"], "mcp-client");
}

#[test]
fn a_mapping_that_cannot_work_is_refused_at_build() {
    let empty: [&str; 0] = [];
    let e = builder().client_id_claims(empty).build().unwrap_err();
    assert!(matches!(
        e,
        ConfigError::ClaimMapping(MappingError::NoClientIdClaim)
    ));
    let e = builder().subject_claim("aud").build().unwrap_err();
    assert!(matches!(e, ConfigError::ClaimMapping(MappingError::Registered(ref n)) if n == "aud"));
}

fn keycloak_layer() -> mcp_auth::McpAuthLayer {
    builder()
        .client_id_claims(["azp"])
        .scope_sources([
            ScopeSource::claim("scope"),
            ScopeSource::path(["realm_access", "roles"]).roles(),
            ScopeSource::path(["resource_access", "mcp-server", "roles"]).roles(),
        ])
        .map_role("mcp-reader", ["mcp:read"])
        .map_role("mcp-editor", ["mcp:read", "mcp:write"])
        .build()
        .unwrap()
}

/// A Keycloak access token: `azp`, no `client_id`, `scope` without this server's scopes,
/// `realm_access.roles`, `resource_access.<client>.roles`, `typ: Bearer`.
fn keycloak() -> mcp_auth_dev::TokenBuilder {
    token()
        .without_claim("client_id")
        .claim("azp", json!("mcp-client"))
        .claim("typ", json!("Bearer"))
        .claim("scope", json!("openid profile email"))
        .claim(
            "realm_access",
            json!({"roles": ["offline_access", "uma_authorization", "default-roles-acme"]}),
        )
        .claim(
            "resource_access",
            json!({"account": {"roles": ["manage-account", "view-profile"]}}),
        )
}

#[tokio::test]
async fn keycloak_realm_roles_mapped_to_the_required_scope() {
    let layer = keycloak_layer();
    let t = keycloak()
        .claim(
            "realm_access",
            json!({"roles": ["offline_access", "mcp-reader", "default-roles-acme"]}),
        )
        .sign();
    let o = twice(&layer, &t).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["client_id"], "mcp-client");
    assert_eq!(o.body["scopes"], "email mcp:read openid profile");
    // A client role of this server's client, mapped too.
    let t = keycloak()
        .claim(
            "resource_access",
            json!({"mcp-server": {"roles": ["mcp-editor"]}, "account": {"roles": []}}),
        )
        .sign();
    let o = twice(&layer, &t).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["scopes"], "email mcp:read mcp:write openid profile");
    // The same role under another client grants nothing here.
    let t = keycloak()
        .claim(
            "resource_access",
            json!({"other": {"roles": ["mcp-editor"]}}),
        )
        .sign();
    assert_eq!(twice(&layer, &t).await.status, 403);
    // A roles claim of the wrong shape refuses the token.
    let t = keycloak()
        .claim("realm_access", json!(["mcp-reader"]))
        .sign();
    expect_invalid_token(layer, &t, "token scope is malformed").await;
}

#[tokio::test]
async fn only_unmapped_roles_is_403_insufficient_scope() {
    let layer = keycloak_layer();
    let t = keycloak().sign();
    for _ in 0..3 {
        let o = send(layer.clone(), bearer(&t)).await;
        assert_eq!(o.status, 403);
        assert_eq!(o.calls, 0);
        assert_eq!(o.error.unwrap().kind(), ErrorKind::InsufficientScope);
        let c = o.challenge.unwrap();
        assert!(c.contains(r#"error="insufficient_scope""#), "{c}");
        // The required scope with the granted ones (`granted_scopes_in_403`): no role's.
        assert!(
            c.contains(r#"scope="email mcp:read openid profile""#),
            "{c}"
        );
    }
    // A role named as this server's scope is still a role, and unmapped.
    let t = keycloak()
        .claim("realm_access", json!({"roles": ["mcp:read"]}))
        .sign();
    assert_eq!(send(layer.clone(), bearer(&t)).await.status, 403);
    // Without the role sources, the default layer would not read realm roles at all.
    let t = keycloak()
        .claim("realm_access", json!({"roles": ["mcp-reader"]}))
        .claim("client_id", json!("mcp-client"))
        .sign();
    assert_eq!(
        send(builder().build().unwrap(), bearer(&t)).await.status,
        403
    );
}

#[tokio::test]
async fn entra_roles_and_auth0_permissions() {
    // Entra app roles (client credentials: no `scp`), mapped.
    let entra = builder()
        .client_id_claims(["azp", "appid"])
        .scope_sources([
            ScopeSource::claim("scp"),
            ScopeSource::claim("roles").roles(),
        ])
        .map_role("Mcp.Read.All", ["mcp:read"])
        .build()
        .unwrap();
    let t = token()
        .without_claim("client_id")
        .without_claim("scope")
        .claim("azp", json!("app-1"))
        .claim("roles", json!(["Mcp.Read.All"]))
        .sign();
    let o = twice(&entra, &t).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["scopes"], "mcp:read");
    // Auth0 RBAC: `permissions` granted as they are.
    let auth0 = builder()
        .client_id_claims(["azp"])
        .scope_sources([
            ScopeSource::claim("scope"),
            ScopeSource::claim("permissions"),
        ])
        .build()
        .unwrap();
    let t = token()
        .without_claim("client_id")
        .claim("azp", json!("auth0-client"))
        .claim("scope", json!("openid"))
        .claim("permissions", json!(["mcp:read", "mcp:write"]))
        .sign();
    let o = twice(&auth0, &t).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["scopes"], "mcp:read mcp:write openid");
}

#[test]
fn role_mappings_that_cannot_work_are_refused_at_build() {
    let e = builder()
        .scope_sources([ScopeSource::claim("roles").roles()])
        .build()
        .unwrap_err();
    assert!(matches!(
        e,
        ConfigError::ClaimMapping(MappingError::NoRoleMap)
    ));
    let e = builder()
        .map_role("admin", ["mcp:read"])
        .build()
        .unwrap_err();
    assert!(matches!(
        e,
        ConfigError::ClaimMapping(MappingError::UnusedRoleMap)
    ));
    let e = builder()
        .scope_sources([ScopeSource::claim("roles").roles()])
        .map_role("admin", ["not a scope\""])
        .build()
        .unwrap_err();
    assert!(matches!(e, ConfigError::Scope(_)), "{e:?}");
}
