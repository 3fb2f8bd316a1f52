//! Claim mapping: where the client id and the subject are, and the RFC 9068 claims required
//! one by one.

use mcp_auth_core::claims::{
    ClaimMapping, Claims, ClaimsPolicy, MappingError, RequiredClaims, RoleMap, ScopeSource,
};
use mcp_auth_core::resource::ResourceUri;
use serde_json::{Value, json};
use std::sync::Arc;

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://as.example.com";
const RES: &str = "https://mcp.example.com/mcp";

fn policy(mapping: ClaimMapping) -> ClaimsPolicy {
    let mut p = ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS);
    p.mapping = mapping;
    p
}

fn base() -> Value {
    json!({"iss": ISS, "aud": RES, "exp": NOW + 300, "iat": NOW - 10, "jti": "j1",
           "sub": "u1", "scope": "mcp:read"})
}

fn token(extra: Value) -> Value {
    let mut v = base();
    for (k, x) in extra.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    v
}

fn parse(v: &Value, m: &ClaimMapping) -> Result<Claims, &'static str> {
    Claims::from_json_with(serde_json::to_vec(v).unwrap(), m).map_err(|e| e.description())
}

fn check(v: &Value, p: &ClaimsPolicy) -> Result<(), &'static str> {
    let c = parse(v, &p.mapping)?;
    p.check(&c, NOW).map_err(|e| e.description())
}

#[test]
fn the_default_mapping_is_rfc_9068() {
    let m = ClaimMapping::new();
    assert!(m.is_default());
    assert_eq!(m.client_id_claims(), None);
    assert_eq!(m.subject_claim(), "sub");
    let c = parse(&token(json!({"client_id": "c1", "azp": "a1"})), &m).unwrap();
    assert_eq!(c.client(), Some("c1"));
    assert_eq!(c.subject(), Some("u1"));
    let c = parse(&token(json!({"azp": "a1"})), &m).unwrap();
    assert_eq!(c.client(), Some("a1"));
    // The strict profile wants `client_id` itself by default: `azp` is read, not enough.
    let p = policy(m);
    assert_eq!(
        check(&token(json!({"azp": "a1"})), &p),
        Err("token has no client_id")
    );
    assert_eq!(check(&token(json!({"client_id": "c1"})), &p), Ok(()));
    // `cid` means nothing to the default mapping.
    assert_eq!(
        check(&token(json!({"cid": "c1"})), &p),
        Err("token has no client_id")
    );
}

#[test]
fn client_id_from_cid_and_appid() {
    for name in ["cid", "appid"] {
        let m = ClaimMapping::new().with_client_id_claims([name]);
        assert_eq!(m.client_id_claims(), Some(&[name.to_owned()][..]));
        let v = token(json!({name: "app-1", "client_id": "other"}));
        let c = parse(&v, &m).unwrap();
        assert_eq!(c.client(), Some("app-1"), "{name}");
        let mut p = policy(m);
        assert_eq!(check(&token(json!({name: "app-1"})), &p), Ok(()));
        // `client_id` is not among the configured claims: it does not satisfy the requirement.
        assert_eq!(
            check(&token(json!({"client_id": "c1"})), &p),
            Err("token has no client_id")
        );
        p.allowed_client_ids = Some(Arc::from(vec!["app-1".to_owned()]));
        assert_eq!(check(&v, &p), Ok(()));
        p.allowed_client_ids = Some(Arc::from(vec!["other".to_owned()]));
        assert_eq!(check(&v, &p), Err("token client is not allowed"));
    }
}

#[test]
fn the_first_configured_client_claim_present_wins_and_azp_satisfies_the_profile() {
    let m = ClaimMapping::new().with_client_id_claims(["azp", "client_id"]);
    let c = parse(&token(json!({"azp": "a1", "client_id": "c1"})), &m).unwrap();
    assert_eq!(c.client(), Some("a1"));
    let c = parse(&token(json!({"client_id": "c1"})), &m).unwrap();
    assert_eq!(c.client(), Some("c1"));
    // Keycloak, Auth0, Entra v2: `azp` without `client_id` passes the strict profile.
    let p = policy(m);
    assert_eq!(check(&token(json!({"azp": "a1"})), &p), Ok(()));
    assert_eq!(check(&base(), &p), Err("token has no client_id"));
}

#[test]
fn mapped_claims_must_be_strings() {
    let m = ClaimMapping::new()
        .with_client_id_claims(["cid", "appid"])
        .with_subject_claim("oid");
    for bad in [
        json!({"cid": 7}),
        json!({"appid": ["a"]}),
        json!({"oid": {"x": 1}}),
    ] {
        assert_eq!(
            parse(&token(bad.clone()), &m).map(drop),
            Err("token claims are malformed"),
            "{bad}"
        );
    }
    // `null` is an absent claim, as for the typed claims.
    let c = parse(&token(json!({"cid": (), "appid": "a2", "oid": "o1"})), &m).unwrap();
    assert_eq!(c.client(), Some("a2"));
    assert_eq!(c.subject(), Some("o1"));
    // A duplicate of a captured claim is refused like any other.
    let dup = br#"{"iss":"x","cid":"a","cid":"b"}"#.to_vec();
    assert!(Claims::from_json_with(dup, &m).is_err());
}

#[test]
fn subject_from_another_claim() {
    let m = ClaimMapping::new().with_subject_claim("oid");
    assert_eq!(m.subject_claim(), "oid");
    let p = policy(m);
    let v = token(json!({"client_id": "c1", "oid": "o-1"}));
    let c = parse(&v, &p.mapping).unwrap();
    assert_eq!(c.subject(), Some("o-1"));
    assert_eq!(c.sub.as_deref(), Some("u1"));
    assert_eq!(check(&v, &p), Ok(()));
    // `sub` is present but is not the configured subject.
    assert_eq!(
        check(&token(json!({"client_id": "c1"})), &p),
        Err("token has no subject")
    );
}

#[test]
fn required_claims_one_by_one() {
    let full = token(json!({"client_id": "c1"}));
    for (k, why) in [
        ("sub", "token has no subject"),
        ("client_id", "token has no client_id"),
        ("iat", "token has no iat"),
        ("jti", "token has no jti"),
    ] {
        let mut missing = full.clone();
        missing.as_object_mut().unwrap().remove(k);
        let mut p = policy(ClaimMapping::new());
        assert_eq!(check(&full, &p), Ok(()));
        assert_eq!(check(&missing, &p), Err(why), "{k}");
        // Only this claim not required: accepted.
        let mut r = RequiredClaims::ALL;
        match k {
            "sub" => r.sub = false,
            "client_id" => r.client_id = false,
            "iat" => r.iat = false,
            _ => r.jti = false,
        }
        p.required_claims = r;
        assert_eq!(check(&missing, &p), Ok(()), "{k}");
        // Only this claim required: refused.
        let mut only = RequiredClaims::NONE;
        match k {
            "sub" => only.sub = true,
            "client_id" => only.client_id = true,
            "iat" => only.iat = true,
            _ => only.jti = true,
        }
        p.required_claims = only;
        assert_eq!(check(&missing, &p), Err(why), "{k}");
        // The all-or-nothing switch still turns every requirement off.
        p.require_rfc9068_claims = false;
        assert_eq!(check(&missing, &p), Ok(()), "{k}");
    }
    assert_eq!(RequiredClaims::default(), RequiredClaims::ALL);
    assert_eq!(RequiredClaims::all(false), RequiredClaims::NONE);
}

#[test]
fn claims_parsed_without_the_mapping_are_read_again_with_it() {
    // A caller of `ClaimsPolicy::check` with claims from `from_json`: the policy's mapping
    // still decides, never the default one.
    let mut p = policy(ClaimMapping::new().with_client_id_claims(["cid"]));
    p.allowed_client_ids = Some(Arc::from(vec!["good".to_owned()]));
    let v = token(json!({"client_id": "good", "cid": "bad"}));
    let c = Claims::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(c.client(), Some("good"));
    assert_eq!(
        p.check(&c, NOW).map_err(|e| e.description()),
        Err("token client is not allowed")
    );
    // Claims not parsed from a payload: the typed fields only.
    p.require_rfc9068_claims = false;
    let mut c = Claims::default();
    c.iss = Some(ISS.into());
    c.aud = Some(vec![RES.into()]);
    c.exp = Some(NOW + 10);
    c.client_id = Some("good".into());
    assert_eq!(
        p.check(&c, NOW).map_err(|e| e.description()),
        Err("token client is not allowed")
    );
}

#[test]
fn invalid_mappings_are_refused() {
    assert_eq!(ClaimMapping::new().validate(), Ok(()));
    let empty: [&str; 0] = [];
    assert_eq!(
        ClaimMapping::new().with_client_id_claims(empty).validate(),
        Err(MappingError::NoClientIdClaim)
    );
    assert_eq!(
        ClaimMapping::new().with_client_id_claims([""]).validate(),
        Err(MappingError::EmptyName)
    );
    for bad in ["iss", "aud", "scope", "sub"] {
        assert_eq!(
            ClaimMapping::new().with_client_id_claims([bad]).validate(),
            Err(MappingError::Registered(bad.into())),
            "{bad}"
        );
    }
    assert_eq!(
        ClaimMapping::new().with_subject_claim("jti").validate(),
        Err(MappingError::Registered("jti".into()))
    );
    assert_eq!(
        ClaimMapping::new()
            .with_client_id_claims(["cid", "azp", "client_id"])
            .with_subject_claim("uid")
            .validate(),
        Ok(())
    );
}

/// The scopes `v` grants under `m`, through the whole claims check.
fn scopes(v: &Value, m: &ClaimMapping) -> Result<String, &'static str> {
    let mut p = policy(m.clone());
    p.require_rfc9068_claims = false;
    let c = parse(v, m)?;
    let via_claims = c.scopes().map_err(|e| e.description())?;
    let checked = p.check_scopes(&c, NOW).map_err(|e| e.description())?;
    assert_eq!(via_claims, checked);
    Ok(checked.to_scope_string())
}

fn roles() -> RoleMap {
    let mut r = RoleMap::new();
    r.insert("reader", ["mcp:read"]).unwrap();
    r.insert("admin", ["mcp:read", "mcp:write"]).unwrap();
    r.insert("my role", ["mcp:list"]).unwrap();
    r
}

#[test]
fn scope_sources_of_each_shape() {
    let m = ClaimMapping::new().with_scope_sources([
        ScopeSource::claim("permissions"),
        ScopeSource::claim("cognito:groups"),
        ScopeSource::path(["ext", "perms"]),
    ]);
    assert_eq!(m.validate(), Ok(()));
    // An array (Auth0 `permissions`), each element a space-separated list.
    let v = token(json!({"permissions": ["read:a", "write:a x"]}));
    assert_eq!(scopes(&v, &m).unwrap(), "read:a write:a x");
    // A space-separated string.
    let v = token(json!({"cognito:groups": "g1 g2"}));
    assert_eq!(scopes(&v, &m).unwrap(), "g1 g2");
    // A nested path.
    let v = token(json!({"ext": {"perms": ["p1"], "other": 1}}));
    assert_eq!(scopes(&v, &m).unwrap(), "p1");
    // Missing, or null on the way: nothing; and `scope` is no longer read.
    for v in [
        token(json!({})),
        token(json!({"ext": null})),
        token(json!({"ext": {}})),
        token(json!({"ext": {"perms": null}})),
    ] {
        assert_eq!(scopes(&v, &m).unwrap(), "", "{v}");
    }
    // Another type: refused, not guessed at.
    for bad in [
        json!({"permissions": 7}),
        json!({"permissions": ["a", 1]}),
        json!({"permissions": {"a": true}}),
        json!({"permissions": [["a"]]}),
        json!({"ext": "p1"}),
        json!({"ext": {"perms": {"x": "y"}}}),
        json!({"ext": [{"perms": "p1"}]}),
        json!({"permissions": "a \"b"}),
    ] {
        assert_eq!(
            scopes(&token(bad.clone()), &m),
            Err("token scope is malformed"),
            "{bad}"
        );
    }
}

#[test]
fn the_default_sources_are_scope_and_scp() {
    let explicit = ClaimMapping::new()
        .with_scope_sources([ScopeSource::claim("scope"), ScopeSource::claim("scp")]);
    let default = ClaimMapping::new();
    for v in [
        token(json!({"scp": ["x", "y z"]})),
        token(json!({"scope": "b a", "scp": "c"})),
        token(json!({"scope": ()})),
    ] {
        assert_eq!(scopes(&v, &explicit), scopes(&v, &default), "{v}");
    }
    assert_eq!(
        scopes(&token(json!({"scope": "a \"b"})), &explicit),
        Err("token scope is malformed")
    );
}

#[test]
fn roles_are_mapped_and_unmapped_roles_ignored() {
    let m = ClaimMapping::new()
        .with_scope_sources([
            ScopeSource::claim("scope"),
            ScopeSource::claim("roles").roles(),
            ScopeSource::path(["realm_access", "roles"]).roles(),
            ScopeSource::path(["resource_access", "mcp", "roles"]).roles(),
        ])
        .with_role_map(roles());
    assert_eq!(m.validate(), Ok(()));
    assert_eq!(m.role_map().map(RoleMap::len), Some(3));
    // Entra `roles`.
    let v = token(json!({"scope": (), "roles": ["reader", "Task.Write"]}));
    assert_eq!(scopes(&v, &m).unwrap(), "mcp:read");
    // Keycloak realm and client roles, with the token's own scopes.
    let v = token(json!({"scope": "profile",
        "realm_access": {"roles": ["default-roles-acme", "offline_access"]},
        "resource_access": {"mcp": {"roles": ["admin"]}, "account": {"roles": ["reader"]}}}));
    assert_eq!(scopes(&v, &m).unwrap(), "mcp:read mcp:write profile");
    // Only unmapped roles: nothing granted (`offline_access` as a role is not a scope).
    let v = token(json!({"scope": (), "roles": ["offline_access", "mcp:read", "ADMIN"]}));
    assert_eq!(scopes(&v, &m).unwrap(), "");
    // An array element is one role, matched whole; a string is a space-separated list.
    let v = token(json!({"scope": (), "roles": ["my role", "not admin"]}));
    assert_eq!(scopes(&v, &m).unwrap(), "mcp:list");
    let v = token(json!({"scope": (), "roles": "reader not-mapped"}));
    assert_eq!(scopes(&v, &m).unwrap(), "mcp:read");
    // A role value need not be scope syntax; the wrong type is still refused.
    let v = token(json!({"scope": (), "roles": ["a \"b", "reader"]}));
    assert_eq!(scopes(&v, &m).unwrap(), "mcp:read");
    let v = token(json!({"roles": [true]}));
    assert_eq!(scopes(&v, &m), Err("token scope is malformed"));
    // The typed `scope` through the role map too (the gauge's case).
    let mut r = RoleMap::new();
    r.insert("mcp:read", ["mcp:read", "mcp:list"]).unwrap();
    let m = ClaimMapping::new()
        .with_scope_sources([ScopeSource::claim("scope").roles()])
        .with_role_map(r);
    let v = token(json!({"scope": "mcp:read mcp:write"}));
    assert_eq!(scopes(&v, &m).unwrap(), "mcp:list mcp:read");
}

#[test]
fn role_maps_and_scope_sources_that_cannot_work() {
    let mut r = RoleMap::new();
    assert!(r.is_empty());
    assert!(r.insert("x", ["bad scope\""]).is_err());
    assert!(r.is_empty(), "nothing inserted on error");
    r.insert("x", ["a"]).unwrap();
    r.insert("x", ["b"]).unwrap();
    assert_eq!(r.get("x").unwrap().to_scope_string(), "a b");
    let none: [ScopeSource; 0] = [];
    for (m, e) in [
        (
            ClaimMapping::new().with_scope_sources(none),
            MappingError::NoScopeSource,
        ),
        (
            ClaimMapping::new().with_scope_sources([ScopeSource::claim("roles").roles()]),
            MappingError::NoRoleMap,
        ),
        (
            ClaimMapping::new()
                .with_scope_sources([ScopeSource::claim("roles")])
                .with_role_map(roles()),
            MappingError::UnusedRoleMap,
        ),
        (
            ClaimMapping::new().with_scope_sources([ScopeSource::path(["a", ""])]),
            MappingError::EmptyName,
        ),
        (
            ClaimMapping::new().with_scope_sources([ScopeSource::path(Vec::<String>::new())]),
            MappingError::EmptyName,
        ),
        (
            ClaimMapping::new().with_scope_sources([ScopeSource::claim("aud")]),
            MappingError::Registered("aud".into()),
        ),
        (
            ClaimMapping::new().with_scope_sources([ScopeSource::path(["scope", "x"])]),
            MappingError::Registered("scope".into()),
        ),
    ] {
        assert_eq!(m.validate(), Err(e));
    }
    let src = ScopeSource::path(["realm_access", "roles"]).roles();
    assert_eq!(src.segments(), ["realm_access", "roles"]);
    assert!(src.is_roles());
    assert!(!ScopeSource::claim("https://example.com/roles").is_roles());
    assert_eq!(
        ScopeSource::claim("https://example.com/roles").segments(),
        ["https://example.com/roles"]
    );
}
